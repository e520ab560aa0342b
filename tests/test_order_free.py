"""Results are a function of their inputs only: not of which isomorphic twin was asked first, the thread count,
the cache's state, or damage on disk (each test is a regression test of a failure once observed)."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from hwevrsnas.cli import main
from hwevrsnas.errors import DamagedFile, MissingFile, UserError
from hwevrsnas.proxy import determinism
from hwevrsnas.proxy.batch import ProxyBatch, make_proxy_batch, reference_checkpoint
from hwevrsnas.proxy.cache import ScoreCache
from hwevrsnas.proxy.presets import get_preset
from hwevrsnas.proxy.rsnas import ProxyEvaluator
from hwevrsnas.proxy.zerocost import ZeroCostEvaluator
from hwevrsnas.search.config import GAConfig
from hwevrsnas.search.costs import CostModel
from hwevrsnas.search.record import VOLATILE_KEYS, Setting, dumps
from hwevrsnas.search.run import run_search
from hwevrsnas.spaces import nb201

TINY = get_preset("tiny")
# Isomorphic twins: node 2 feeds nothing, so its edges are dead and hold different ops (once scored differently);
# TWIN_A is the class's representative (dead edges 'none').
TWIN_A = "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"
TWIN_B = "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"
TWIN_C = "|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"


@pytest.fixture(scope="module")
def batch(mirror: Path) -> ProxyBatch:
    return make_proxy_batch(TINY, mirror)


def ops(arch: str) -> np.ndarray:
    return np.array(nb201.arch_to_ops(arch), dtype=np.uint8)


# ---- 1. isomorphic twins ------------------------------------------------------------------------------------


def test_the_representative_is_the_leanest_member_of_every_class() -> None:
    every = (np.arange(nb201.N_ARCHS)[:, None] // 5 ** np.arange(6)) % 5
    reps = nb201.representative(every)
    keys = [nb201.canonical_key(row) for row in every]
    rep_keys = [nb201.canonical_key(row) for row in reps]
    assert keys == rep_keys  # a representative belongs to its class
    assert len({tuple(r) for r in reps}) == 6466  # one per class
    by_key: dict[str, tuple] = {}
    for row, key in zip(every, keys):
        by_key[key] = min(by_key.get(key, tuple(row)), tuple(row))
    assert all(tuple(rep) == by_key[key] for rep, key in zip(reps, keys))
    assert nb201.ops_to_arch(nb201.representative(ops(TWIN_B))) == TWIN_A
    assert nb201.canonical_key(ops(TWIN_B)) == nb201.canonical_key(ops(TWIN_C))


def test_twins_get_bit_identical_scores_without_a_cache(batch: ProxyBatch) -> None:
    torch.set_num_threads(2)
    scores = [ProxyEvaluator("nb201", TINY, batch).evaluate(ops(arch)) for arch in (TWIN_B, TWIN_A, TWIN_C)]
    assert scores[0].score == scores[1].score == scores[2].score and scores[0].cka == scores[2].cka
    for metric in ("params", "synflow"):
        raws = [ZeroCostEvaluator("nb201", metric, batch, preset=TINY).raw_result(ops(a)).raw for a in (TWIN_B, TWIN_C)]
        assert raws[0] == raws[1], metric
    # #params of the class is its representative's: the dead convolution of TWIN_C is not counted.
    assert ZeroCostEvaluator("nb201", "params", batch).evaluate(ops(TWIN_C)).raw == pytest.approx(
        float(nb201.params_mb(ops(TWIN_A)))
    )


def _search(nb201_table, batch: ProxyBatch, cache: ScoreCache | None) -> str:
    model = CostModel.nb201(nb201_table, "cifar10", "eyeriss", "latency")
    setting = Setting.from_cost(model, model.resolve_threshold(quantile=0.25), "hw-evrsnas", "tiny", 0)
    evaluator = ProxyEvaluator("nb201", TINY, batch, cache)
    record = run_search(setting, evaluator, model, GAConfig(population=6, generations=3), progress=False)
    return dumps({k: v for k, v in record.items() if k not in VOLATILE_KEYS})


def _twins(nb201_table, arch_ops: np.ndarray) -> list[np.ndarray]:
    members = np.flatnonzero(nb201_table.iso_class == nb201_table.iso_class[nb201_table.indices_of_ops(arch_ops[None])[0]])
    return [nb201_table.ops[m] for m in members]


def test_a_search_is_the_same_with_an_empty_a_warm_and_a_reverse_warmed_cache(nb201, batch, tmp_path: Path) -> None:
    cold = _search(nb201, batch, ScoreCache(tmp_path / "empty"))
    stable = json.loads(cold)
    evaluated = [np.array([int(c) for c in e["ops"]], dtype=np.uint8) for e in stable["evaluated"]]
    # Warm two caches by scoring, for every evaluated architecture, one of its *twins* first, in two orders.
    for name, order in (("warm", evaluated), ("reverse", evaluated[::-1])):
        warmer = ProxyEvaluator("nb201", TINY, batch, ScoreCache(tmp_path / name))
        for arch in order:
            twins = _twins(nb201, arch)
            warmer.evaluate(twins[-1] if name == "warm" else twins[0])
        assert _search(nb201, batch, ScoreCache(tmp_path / name)) == cold, name
    assert _search(nb201, batch, None) == cold


# ---- 2. thread count ----------------------------------------------------------------------------------------


def test_batch_and_scores_do_not_depend_on_the_thread_count(mirror: Path, batch: ProxyBatch) -> None:
    before = torch.get_num_threads()
    try:
        results = []
        for threads in (1, 2):
            torch.set_num_threads(threads)
            built = make_proxy_batch(TINY, mirror)
            results.append((built.checksum, ProxyEvaluator("nb201", TINY, built).evaluate(ops(TWIN_A)).score))
            assert torch.get_num_threads() == threads  # scoring pins threads and restores them
    finally:
        torch.set_num_threads(before)
    assert results[0] == results[1] and results[0][0] == batch.checksum


def test_proxy_command_prints_the_same_score_with_one_and_two_threads(mirror, nb201_h5, tmp_path, capsys) -> None:
    common = ["proxy", "--arch", TWIN_B, "--preset", "tiny", "--sources", str(mirror), "--tables", str(nb201_h5.parent),
              "--batch-dir", str(tmp_path / "proxy"), "--cache", "", "--json"]  # fmt: skip
    printed = []
    for threads in ("1", "2"):
        assert main([*common, "--threads", threads]) == 0
        printed.append(json.loads(capsys.readouterr().out))
    assert printed[0]["score"] == printed[1]["score"] and printed[0]["cka"] == printed[1]["cka"]
    assert printed[0]["representative"] == TWIN_A and printed[0]["provenance"]["platform"].startswith("cpu/")


# ---- 2b. the processor ----------------------------------------------------------------------------------------

# /proc/cpuinfo as three machines print it (first processor); the AMD one is this project's, whose name is masked.
ZEN4 = "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 17\nmodel name\t: AMD EPYC\n\nprocessor\t: 1\n"
SKYLAKE_X = "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 85\nmodel name\t: Intel(R) Xeon(R) Gold 6148\n"
NEOVERSE_N1 = "processor\t: 0\nBogoMIPS\t: 243.75\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU part\t: 0xd0c\n"


def test_two_processors_with_the_same_vector_isa_never_share_a_cached_float32_score(mirror, tmp_path, monkeypatch) -> None:
    # Both report AVX512 to torch, yet their float32 quick tables differ: a shared cache once mixed them.
    assert determinism.cpu_model_from_cpuinfo(ZEN4) == "AuthenticAMD-25-17"
    assert determinism.cpu_model_from_cpuinfo(SKYLAKE_X) == "GenuineIntel-6-85"
    assert determinism.cpu_model_from_cpuinfo(NEOVERSE_N1) == "arm-0x41-0xd0c"
    assert determinism.cpu_model_from_cpuinfo("processor\t: 0\n") is None
    tiny32 = get_preset("tiny", dtype="float32")
    seen = _scored_on_three_processors(tiny32, make_proxy_batch(tiny32, mirror), ScoreCache(tmp_path), monkeypatch)
    isa = {evaluator.identity()["platform"].split("/")[1] for evaluator, _ in seen.values()}
    assert len(isa) == 1 and seen["amd"][0].identity()["platform"] != seen["intel"][0].identity()["platform"]
    assert not seen["intel"][1].cached and seen["amd again"][1].cached and len(ScoreCache(tmp_path)) == 2


def test_every_processor_shares_one_cached_float64_score(batch, tmp_path: Path, monkeypatch) -> None:
    # A float64 score is the same on any machine (tests/test_kernels.py), so heterogeneous nodes share one cache
    # entry; where it was computed stays in the provenance.
    seen = _scored_on_three_processors(TINY, batch, ScoreCache(tmp_path), monkeypatch)
    assert all("platform" not in evaluator.identity() for evaluator, _ in seen.values())
    assert seen["amd"][0].provenance()["platform"] != seen["intel"][0].provenance()["platform"]
    assert not seen["amd"][1].cached and seen["intel"][1].cached and seen["amd again"][1].cached
    assert len(ScoreCache(tmp_path)) == 1 and seen["intel"][1].score == seen["amd"][1].score


def _scored_on_three_processors(preset, batch, cache, monkeypatch) -> dict[str, tuple[ProxyEvaluator, Any]]:
    seen = {}
    for name, cpuinfo in (("amd", ZEN4), ("intel", SKYLAKE_X), ("amd again", ZEN4)):
        monkeypatch.setattr(determinism, "cpu_model", lambda text=cpuinfo: determinism.cpu_model_from_cpuinfo(text))
        evaluator = ProxyEvaluator("nb201", preset, batch, cache)
        seen[name] = (evaluator, evaluator.evaluate(ops(TWIN_A)))
    return seen


# ---- 3. damaged cache entries -------------------------------------------------------------------------------


@pytest.mark.parametrize("damage", ["garbage", "truncated", "tampered", "partial"])
def test_a_damaged_cache_entry_is_recomputed_and_replaced(batch, tmp_path: Path, caplog, damage: str) -> None:
    cache = ScoreCache(tmp_path)
    first = ProxyEvaluator("nb201", TINY, batch, cache)
    original = first.evaluate(ops(TWIN_A))
    path = cache.path(first.key(ops(TWIN_A)))
    text = path.read_text()
    if damage == "garbage":
        path.write_text("{")
    elif damage == "truncated":
        path.write_text(text[: len(text) // 2])
    elif damage == "tampered":
        path.write_text(text.replace(repr(original.score), repr(original.score / 2)))
    else:  # a well-formed entry whose record lacks a field
        from hwevrsnas.integrity import record_checksum

        stored = json.loads(text)
        del stored["record"]["loss"]
        stored["checksum"] = record_checksum(stored)
        path.write_text(json.dumps(stored))
    with caplog.at_level(logging.WARNING):
        again = ProxyEvaluator("nb201", TINY, batch, cache).evaluate(ops(TWIN_B))
    assert str(path) in caplog.text and "recomputing" in caplog.text
    assert not again.cached and again.score == original.score
    assert ScoreCache(tmp_path).get(first.key(ops(TWIN_A)))["score"] == original.score  # replaced, and valid


# ---- 4. damaged derived files and sources -------------------------------------------------------------------


def test_a_flipped_byte_in_a_table_is_reported_with_checksums_and_the_repair(nb201_h5: Path, tmp_path, capsys) -> None:
    from hwevrsnas.tables.store import NB201Table

    damaged = tmp_path / "nb201.h5"
    data = bytearray(nb201_h5.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    with pytest.raises(DamagedFile) as error:
        NB201Table.open(damaged)
    message = str(error.value)
    assert str(damaged) in message and "expected" in message and "got" in message
    assert "hwevrsnas tables build" in message and "--forcerun tables" in message
    assert main(["query", "nb201", "--arch", "0", "--tables", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hwevrsnas: error:") and err.count("\n") == 1 and "Traceback" not in err


def test_a_truncated_batch_checkpoint_or_image_names_the_file_and_the_repair(batch, mirror: Path, tmp_path) -> None:
    batch.save(tmp_path / "batch.pt")
    truncated = tmp_path / "batch.pt"
    truncated.write_bytes(truncated.read_bytes()[:5000])
    with pytest.raises(DamagedFile, match=r"batch\.pt.*--forcerun proxy_batch"):
        ProxyBatch.load(truncated)

    sources = tmp_path / "sources"
    checkpoint = reference_checkpoint(mirror, "resnet20")
    target = sources / checkpoint.relative_to(mirror)
    target.parent.mkdir(parents=True)
    target.write_bytes(checkpoint.read_bytes()[:1000])
    from hwevrsnas.proxy.reference import load_checkpoint

    with pytest.raises(DamagedFile, match=r"resnet20-.*\.th.*hwevrsnas fetch"):
        load_checkpoint(target)

    from hwevrsnas.proxy.data import load_image_folder

    folder = tmp_path / "images" / "train"
    for name in ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"):
        (folder / name).mkdir(parents=True)
        image = next((mirror / "CIFAR-10-images/train" / name).iterdir())
        (folder / name / image.name).write_bytes(image.read_bytes()[:200] if name == "cat" else image.read_bytes())
    with pytest.raises(DamagedFile, match=r"cat/.*unreadable image.*hwevrsnas fetch"):
        load_image_folder(folder)


def test_tables_build_before_fetch_says_to_fetch(tmp_path: Path, capsys) -> None:
    assert main(["tables", "build", "--sources", str(tmp_path / "nothing"), "--out", str(tmp_path / "t")]) == 2
    err = capsys.readouterr().err
    assert "source(s) not found" in err and "hwevrsnas fetch" in err
    assert not (tmp_path / "t").exists() or not any((tmp_path / "t").iterdir())
    with pytest.raises(MissingFile):
        main(["--debug", "tables", "build", "--sources", str(tmp_path / "nothing"), "--out", str(tmp_path / "t")])


def test_an_unexpected_exception_keeps_its_traceback(monkeypatch, tmp_path: Path) -> None:
    import hwevrsnas.cli.tables as tables_cli

    def broken(args):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(tables_cli, "run_info", broken)
    with pytest.raises(ZeroDivisionError):
        main(["tables", "info", "--tables", str(tmp_path)])
    assert not issubclass(ZeroDivisionError, UserError)


# ---- 5. regret of infeasible answers ------------------------------------------------------------------------


def test_an_infeasible_answer_has_no_regret(nb201) -> None:
    from fakes import FakeEvaluator

    from hwevrsnas.analysis.collect import run_row

    model = CostModel.nb201(nb201, "cifar10", "fpga", "latency")
    setting = Setting.from_cost(model, model.resolve_threshold(quantile=0.0), "hw-evrsnas", "fake", 0)
    record = run_search(setting, FakeEvaluator(nb201), model, GAConfig(budget=5), progress=False)
    assert record["feasible"] is False and record["regret"] is None
    assert record["test_accuracy"] > record["optimum_accuracy"]  # what once gave a negative regret
    assert all(entry["regret"] is None for entry in record["anytime"])
    row = run_row(record)
    worst = record["optimum"]["worst_accuracy"]
    assert row["regret_penalised"] == pytest.approx(record["optimum_accuracy"] - worst) and row["regret_penalised"] >= 0


# ---- 8. smaller input checks --------------------------------------------------------------------------------


def test_search_refuses_a_directory_as_its_output_before_searching(nb201_h5: Path, tmp_path: Path, capsys) -> None:
    args = ["search", "--tables", str(nb201_h5.parent), "--device", "fpga", "--quantile", "0.5", "--method", "oracle"]
    assert main([*args, "--out", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err


def test_proxy_refuses_an_index_out_of_range(nb201_h5: Path, capsys) -> None:
    assert main(["proxy", "--arch", "15625", "--tables", str(nb201_h5.parent)]) == 2
    assert "NB201 index 15625 is out of range" in capsys.readouterr().err


def test_results_flag_imputed_costs(nb201) -> None:
    model = CostModel.nb201(nb201, "cifar10", "edgegpu", "latency")
    imputed = np.flatnonzero(nb201.imputed(slice(None), "edgegpu_latency", "cifar10"))
    assert imputed.size and model.any_imputed
    assert bool(model.imputed(nb201.ops[imputed[0]])) and not bool(model.imputed(nb201.ops[0]))
    setting = Setting.from_cost(model, model.resolve_threshold(quantile=0.5), "oracle", None, 0)
    record = run_search(setting, None, model, progress=False)
    assert record["threshold_uses_imputed"] is True
    assert record["cost_imputed"] == bool(nb201.imputed(record["index"], "edgegpu_latency", "cifar10"))
    fpga = CostModel.nb201(nb201, "cifar10", "fpga", "latency")
    assert not fpga.any_imputed


def test_copying_a_table_keeps_it_valid(nb201_h5: Path, tmp_path: Path) -> None:
    from hwevrsnas.tables.store import NB201Table

    shutil.copy(nb201_h5, tmp_path / "nb201.h5")
    assert len(NB201Table.open(tmp_path / "nb201.h5")) == 15625

"""The search: penalty, cost model, GA bookkeeping and determinism, baselines, oracle, result files and the CLI.

The GA runs with a fake evaluator (phi = the table's 12-epoch validation accuracy / 100) on the
real NB201 table; only one test trains real (tiny) proxies, through the CLI.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from fakes import FakeEvaluator
from hwevrsnas.cli import main as cli_main
from hwevrsnas.errors import InputError
from hwevrsnas.proxy.evaluator import canonical_arch
from hwevrsnas.search.baselines import mutate_one_gene, oracle, run_random, run_rea
from hwevrsnas.search.config import GAConfig
from hwevrsnas.search.costs import CostModel
from hwevrsnas.search.ga import run_ga
from hwevrsnas.search.tracker import SearchTracker
from hwevrsnas.search.penalty import feasible, fitness, penalty
from hwevrsnas.search.problem import SearchProblem
from hwevrsnas.search.record import Setting, load_result, timing_path, write_result
from hwevrsnas.search.run import run_search
from hwevrsnas.spaces import fbnet as fbnet_space
from hwevrsnas.spaces import nb201 as nb201_space


@pytest.fixture(scope="module")
def fpga(nb201) -> CostModel:
    return CostModel.nb201(nb201, "cifar10", "fpga", "latency")


@pytest.fixture(scope="module")
def tables_dir(nb201_h5: Path, mirror: Path) -> Path:
    """The session's NB201 table folder, with fbnet.h5 built beside it."""
    from hwevrsnas.tables.fbnet import build_from_sources

    folder = nb201_h5.parent
    if not (folder / "fbnet.h5").is_file():
        build_from_sources(mirror, folder / "fbnet.h5")
    return folder


def _run(fpga: CostModel, nb201, method: str = "hw-evrsnas", seed: int = 0, quantile: float = 0.3, **config):
    threshold = fpga.resolve_threshold(quantile=quantile)
    setting = Setting.from_cost(fpga, threshold, method, "fake", seed)
    return run_search(setting, FakeEvaluator(nb201), fpga, GAConfig(**config), progress=False)


# ---- penalty ---------------------------------------------------------------------------------------------


def test_penalty_forms_and_missing_costs() -> None:
    cost = np.array([5.0, 10.0, 15.0, np.nan])
    np.testing.assert_allclose(penalty(cost, 10.0), [0.0, 0.0, 0.5, np.inf])
    np.testing.assert_allclose(penalty(cost, 10.0, "two_sided"), [0.5, 0.0, 0.5, np.inf])
    np.testing.assert_allclose(penalty(cost, 10.0, "unnormalised"), [0.0, 0.0, 5.0, np.inf])
    np.testing.assert_allclose(fitness(0.8, cost, 10.0, lam=2.0), [0.8, 0.8, -0.2, -np.inf])
    # A missing cost is never feasible nor fit, even with lambda = 0 (0 * inf would be NaN).
    np.testing.assert_array_equal(fitness(0.8, cost, 10.0, lam=0.0), [0.8, 0.8, 0.8, -np.inf])
    assert fitness(float("nan"), 5.0, 10.0) == -np.inf
    np.testing.assert_array_equal(feasible(cost, 10.0), [True, True, False, False])
    with pytest.raises(ValueError, match="one_sided_normalised, two_sided, unnormalised"):
        penalty(cost, 10.0, "quadratic")
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="finite positive"):
            penalty(cost, bad)
    with pytest.raises(ValueError, match="lambda"):
        fitness(0.5, 1.0, 1.0, lam=-1.0)


# ---- cost model ------------------------------------------------------------------------------------------


def test_cost_model_lookups_and_thresholds(nb201, fpga: CostModel, tables_dir: Path) -> None:
    ops = nb201.ops[[0, 1, 2, 11472]]
    np.testing.assert_array_equal(fpga.cost(ops), nb201.cost([0, 1, 2, 11472], "fpga_latency", "cifar10"))
    assert fpga.cost(ops[0]) == pytest.approx(2.5730, abs=1e-4)  # HW-NAS-Bench's arch 0 (DATA.md)
    resolved = fpga.resolve_threshold(quantile=0.25)
    assert resolved.source == "quantile" and resolved.quantile == 0.25
    assert resolved.value == pytest.approx(nb201.thresholds("fpga_latency", [0.25], "cifar10")[0])
    assert fpga.resolve_threshold(3.0).to_json() == {"value": 3.0, "source": "value", "quantile": None}
    assert fpga.min_cost == np.nanmin(nb201.cost_column("fpga_latency", "cifar10"))
    with pytest.raises(ValueError, match="below every architecture's cost.*cheapest"):
        fpga.resolve_threshold(fpga.min_cost * 0.99)
    with pytest.raises(ValueError, match="finite positive"):
        fpga.resolve_threshold(-1.0)
    with pytest.raises(ValueError, match="exactly one"):
        fpga.resolve_threshold(1.0, 0.5)
    with pytest.raises(ValueError, match=r"quantile must lie in \[0, 1\]"):
        fpga.resolve_threshold(quantile=1.5)

    fb = CostModel.open("fbnet", tables_dir, "cifar100", "raspi4", "latency")
    from hwevrsnas.tables.fbnet import FBNetTable

    raw = FBNetTable.open(tables_dir / "fbnet.h5")
    sample = fbnet_space.sample(np.random.default_rng(0), 10_000)
    np.testing.assert_array_equal(fb.cost(sample[:5]), raw.latency("raspi4", sample[:5]))
    assert fb.quantile(0.5) == pytest.approx(float(np.quantile(raw.latency("raspi4", sample), 0.5)))
    table, constant = raw.table("raspi4")
    cheapest = np.nanargmin(table, axis=1)
    assert fb.min_cost == pytest.approx(float(raw.latency("raspi4", cheapest)))
    with pytest.raises(ValueError, match="below every architecture's cost"):
        fb.resolve_threshold(fb.min_cost - 0.01)
    assert fb.source_checksums()  # provenance of the FBNet tables travels into results


@pytest.mark.parametrize(
    ("space", "dataset", "device", "metric", "message"),
    [
        ("nb201", "cifar10", "tpu9", "latency", r"unknown device 'tpu9'.*valid devices: .*fpga"),
        ("nb201", "cifar10", "fpga", "power", r"unknown cost metric 'power'.*valid metrics: latency, energy"),
        ("nb201", "cifar100", "fpga", "latency", r"'fpga_latency' is missing for dataset 'cifar100'.*for cifar10"),
        ("nb201", "ImageNet16-120", "fpga", "latency", r"no hardware cost.*'ImageNet16-120'.*cifar10, cifar100"),
        ("nb201", "svhn", "fpga", "latency", r"unknown dataset 'svhn'.*cifar10, cifar100, ImageNet16-120"),
        ("fbnet", "cifar100", "edgegpu", "latency", r"unknown device 'edgegpu'.*eyeriss, fpga, pixel3, raspi4"),
        ("fbnet", "cifar100", "fpga", "energy", r"unknown cost metric 'energy' for fbnet.*valid metrics: latency"),
        ("fbnet", "cifar10", "fpga", "latency", r"unknown dataset 'cifar10' for fbnet; valid datasets: cifar100"),
    ],
)
def test_cost_model_rejects_bad_values(tables_dir: Path, space, dataset, device, metric, message) -> None:
    with pytest.raises(ValueError, match=message):
        CostModel.open(space, tables_dir, dataset, device, metric)


# ---- bookkeeping -----------------------------------------------------------------------------------------


def test_twins_and_repeats_are_cache_hits(nb201, fpga: CostModel) -> None:
    classes, counts = np.unique(nb201.iso_class, return_counts=True)
    members = np.flatnonzero(nb201.iso_class == classes[np.argmax(counts > 1)])
    first, twin = nb201.ops[members[0]], nb201.ops[members[1]]
    assert canonical_arch("nb201", first) == canonical_arch("nb201", twin)
    evaluator = FakeEvaluator(nb201)
    tracker = SearchTracker("nb201", evaluator.evaluate, fpga, threshold=3.0)
    a = tracker.request(first)
    b = tracker.request(twin)
    again = tracker.request(first)
    assert again is a and b is not a
    assert (tracker.unique_evaluations, tracker.requests, tracker.memo_hits, tracker.cache_hits) == (1, 3, 2, 2)
    assert evaluator.calls == 1 and tracker.proxy_seconds == pytest.approx(0.01)
    # Twins share phi, but each keeps its own tabular cost.
    assert b.phi == a.phi and b.index == members[1]
    assert b.cost == nb201.cost(members[1], "fpga_latency", "cifar10")
    # A score the evaluator serves from its own memo or disk still is a unique evaluation of this run.
    other = SearchTracker("nb201", evaluator.evaluate, fpga, threshold=3.0)
    other.request(first)
    assert (other.unique_evaluations, other.memo_hits, other.evaluator_cache_hits, other.cache_hits) == (1, 0, 1, 1)


def test_mutate_one_gene_changes_exactly_one_gene() -> None:
    rng = np.random.default_rng(0)
    ops = np.zeros(6, dtype=np.uint8)
    for _ in range(200):
        child = mutate_one_gene(ops, rng, 5)
        assert (child != ops).sum() == 1 and child.max() < 5


# ---- the GA ----------------------------------------------------------------------------------------------


def test_ga_is_deterministic_and_seeds_differ(nb201, fpga: CostModel, tmp_path: Path) -> None:
    paths = []
    for run, seed in enumerate((0, 0, 1)):
        record = _run(fpga, nb201, seed=seed, generations=15)
        paths.append(write_result(record, tmp_path / f"run{run}" / "run.json")[0])
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert paths[0].read_bytes() != paths[2].read_bytes()
    first, third = (json.loads(p.read_text()) for p in (paths[0], paths[2]))
    assert first["config_hash"] != third["config_hash"]  # the seed is part of the setting
    assert [e["arch"] for e in first["evaluated"]] != [e["arch"] for e in third["evaluated"]]
    assert "wall_seconds" not in first and "proxy_seconds" not in first
    merged = load_result(paths[0])
    assert merged["wall_seconds"] >= 0 and merged["proxy_seconds"] == pytest.approx(0.01 * merged["unique_evaluations"])
    assert timing_path(paths[0]).name == "run.timing.json"


@pytest.fixture(scope="module")
def ga_record(nb201, fpga: CostModel) -> dict:
    return _run(fpga, nb201, generations=20)


def test_ga_answer_is_the_fittest_feasible_and_its_table_values(nb201, ga_record: dict) -> None:
    record = ga_record
    evaluated = record["evaluated"]
    assert record["status"] == "ok" and record["feasible"] is True
    assert any(e["feasible"] for e in evaluated)
    best = max((e for e in evaluated if e["feasible"]), key=lambda e: (e["fitness"], -e["order"]))
    assert record["arch"] == best["arch"] and record["answer_order"] == best["order"]
    index = record["index"]
    assert nb201.arch_strings[index] == record["arch"]
    assert record["cost"] == float(nb201.cost(index, "fpga_latency", "cifar10")) <= record["threshold"]
    assert record["test_accuracy"] == float(nb201.accuracy(index, "cifar10"))
    assert set(record["test_accuracies"]) == {"cifar10", "cifar100", "ImageNet16-120"}
    optimum = nb201.feasible_optimum("fpga_latency", record["threshold"], "cifar10")
    assert (record["optimum_index"], record["optimum_accuracy"]) == (optimum.index, optimum.accuracy)
    assert record["regret"] == pytest.approx(record["optimum_accuracy"] - record["test_accuracy"])
    assert record["regret"] >= 0


def test_ga_bookkeeping_history_and_provenance(nb201, ga_record: dict) -> None:
    record = ga_record
    evaluated = record["evaluated"]
    counters = record["counters"]
    assert counters["requests"] == counters["unique_evaluations"] + counters["memo_hits"]
    assert counters["stopped_by"] == "generations" and counters["generations_completed"] == 20
    assert len(record["history"]) == 21 and all(row["size"] == 20 for row in record["history"])
    best_per_generation = [row["best_fitness"] for row in record["history"]]
    assert best_per_generation == sorted(best_per_generation)  # one elite: the best never gets worse
    assert record["unique_evaluations"] == len({e["canonical"] for e in evaluated})
    for entry in evaluated[:50]:
        ops = [int(c) for c in entry["ops"]]
        assert nb201.arch_strings[entry["index"]] == entry["arch"] == nb201_space.ops_to_arch(ops)
        assert entry["cost"] == float(nb201.cost(entry["index"], "fpga_latency", "cifar10"))
        assert entry["feasible"] == (entry["cost"] <= record["threshold"])
    assert record["sources"] == nb201.source_checksums()
    assert set(record["versions"]) == {"hwevrsnas", "torch", "numpy", "python"}


def test_a_problem_holds_the_costs_thresholds_penalty_and_the_run_tracker(nb201, fpga: CostModel) -> None:
    config = GAConfig(budget=10, lam=0.5, penalty="two_sided")
    thresholds = [fpga.quantile(0.6), fpga.quantile(0.2)]
    problem = SearchProblem.build(FakeEvaluator(nb201), fpga, thresholds, config)
    assert problem.cost_model is fpga and problem.thresholds == tuple(thresholds)
    # A multi-threshold search's tracker judges by the largest threshold.
    assert problem.threshold == problem.tracker.threshold == max(thresholds)
    tracker = problem.tracker
    assert (problem.lam, problem.form) == (tracker.lam, tracker.form) == (0.5, "two_sided") and tracker.budget == 10
    assert tracker.key == nb201_space.SPACE.canonical_key
    # Without a proxy the table scores, one evaluation per exact architecture; the budget defaults to the GA's largest.
    table = SearchProblem.build(None, fpga, thresholds[:1], GAConfig())
    assert table.tracker.key == nb201_space.SPACE.arch_str and table.tracker.budget == GAConfig().max_requests
    with pytest.raises(InputError, match="at least one threshold"):
        SearchProblem.build(None, fpga, [], config)


def test_ga_respects_the_budget(nb201, fpga: CostModel) -> None:
    evaluator = FakeEvaluator(nb201)
    threshold = fpga.resolve_threshold(quantile=0.5).value
    config = GAConfig(budget=37)
    outcome = run_ga(SearchProblem.build(evaluator, fpga, [threshold], config), config, seed=3, progress=False)
    assert outcome.counters["unique_evaluations"] == 37 == evaluator.calls
    assert outcome.counters["stopped_by"] == "budget"
    assert outcome.history[-1]["unique_evaluations"] == 37
    # A budget below the population stops inside generation 0.
    config = GAConfig(budget=5)
    small = run_ga(SearchProblem.build(FakeEvaluator(nb201), fpga, [threshold], config), config, seed=3, progress=False)
    assert small.counters["unique_evaluations"] == 5 and len(small.history) == 1
    assert small.history[0]["complete"] is False


def test_infeasible_only_run_is_flagged(nb201, fpga: CostModel) -> None:
    threshold = fpga.min_cost  # only the very cheapest architectures are feasible
    setting = Setting.from_cost(fpga, fpga.resolve_threshold(threshold), "hw-evrsnas", "fake", 0)
    record = run_search(setting, FakeEvaluator(nb201), fpga, GAConfig(budget=3), progress=False)
    assert not any(e["feasible"] for e in record["evaluated"])
    assert record["status"] == "infeasible" and record["feasible"] is False
    fittest = max(record["evaluated"], key=lambda e: (e["fitness"], -e["order"]))
    assert record["arch"] == fittest["arch"] and record["cost"] > threshold
    assert record["optimum_accuracy"] is not None  # the optimum itself exists


# ---- baselines -------------------------------------------------------------------------------------------


def test_oracle_matches_brute_force(nb201, fpga: CostModel) -> None:
    accuracy = nb201.accuracy(slice(None), "cifar10")
    for metric, q in (("fpga_latency", 0.1), ("fpga_latency", 0.6), ("edgegpu_energy", 0.3), ("edgetpu_latency", 0.2)):
        device, kind = metric.rsplit("_", 1)
        model = CostModel.nb201(nb201, "cifar10", device, kind)
        threshold = model.quantile(q)
        column = nb201.cost_column(metric, "cifar10")
        best_index, best_accuracy, n = None, -math.inf, 0
        for index in range(len(nb201)):
            if not math.isnan(column[index]) and column[index] <= threshold:
                n += 1
                if accuracy[index] > best_accuracy:
                    best_index, best_accuracy = index, accuracy[index]
        found = oracle(model, threshold).optimum
        assert (found.index, found.accuracy, found.n_feasible) == (best_index, best_accuracy, n)
    # Costs of one dataset, accuracy of another: the same brute force.
    cross = CostModel.nb201(nb201, "ImageNet16-120", "fpga", "latency", cost_dataset="cifar10")
    threshold = cross.quantile(0.4)
    mask = cross.feasible(nb201.ops, threshold)
    expected = int(np.flatnonzero(mask)[np.argmax(nb201.accuracy(slice(None), "ImageNet16-120")[mask])])
    assert oracle(cross, threshold).optimum.index == expected


def test_random_search_and_rea_respect_the_budget(nb201, fpga: CostModel) -> None:
    threshold = fpga.resolve_threshold(quantile=0.4).value
    config = GAConfig(budget=60)
    evaluator = FakeEvaluator(nb201)
    random = run_random(SearchProblem.build(evaluator, fpga, [threshold], config), config, seed=0, progress=False)
    assert random.counters["unique_evaluations"] == 60 == evaluator.calls
    assert random.answer_feasible and random.answer.cost <= threshold
    rea = run_rea(SearchProblem.build(None, fpga, [threshold], config), config, seed=0, progress=False)
    assert rea.counters["unique_evaluations"] == 60 == len(rea.evaluations)  # distinct archs, not classes
    assert rea.answer_feasible
    assert rea.answer.phi == pytest.approx(nb201.accuracy(rea.answer.index, "cifar10", "valid_12ep") / 100)
    assert GAConfig().effective_budget == 20 + 50 * 19
    record = _run(fpga, nb201, method="rea-valid12", quantile=0.4, budget=60)
    assert record["unique_evaluations"] == 60 and record["evaluator"] is None
    assert record["test_accuracy"] == float(nb201.accuracy(record["index"], "cifar10", "test_200ep"))
    assert record["regret"] >= 0


def test_fbnet_search_and_oracle(tables_dir: Path) -> None:
    model = CostModel.open("fbnet", tables_dir, "cifar100", "pixel3", "latency")
    threshold = model.resolve_threshold(quantile=0.3)
    evaluator = FakeEvaluator(space="fbnet")
    setting = Setting.from_cost(model, threshold, "hw-evrsnas", "fake", 0)
    record = run_search(setting, evaluator, model, GAConfig(population=8, generations=5), progress=False)
    ops = np.array(record["ops"], dtype=np.uint8)
    assert record["arch"] == fbnet_space.arch_str(ops) and record["index"] is None
    assert record["cost"] == pytest.approx(float(model.table.latency("pixel3", ops)))
    assert record["test_accuracy"] is None and record["regret"] is None
    assert "FBNet has no accuracy" in record["optimum_reason"]
    assert oracle(model, threshold.value).optimum is None
    assert record["unique_evaluations"] == evaluator.calls


# ---- CLI -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "value", "listing"),
    [
        ("--device", "tpu9", "valid devices: "),
        ("--metric", "power", "valid metrics: latency, energy"),
        ("--method", "darts",
         "valid methods: hw-evrsnas, random, hw-evrsnas-params, hw-evrsnas-mean, hw-evrsnas-ens, rea-valid12, "
         "zc-synflow, zc-naswot"),
        ("--preset", "huge", "valid presets: paper, quick, quick-float32, tiny"),
        ("--penalty", "cubic", "valid forms: one_sided_normalised, two_sided, unnormalised"),
    ],
)
def test_cli_rejects_bad_values(tables_dir: Path, tmp_path: Path, capsys, flag, value, listing) -> None:
    argv = {"--device": "fpga", "--metric": "latency", "--method": "oracle", "--preset": "paper"}
    argv["--penalty"] = "two_sided"
    argv[flag] = value
    args = ["search", "--tables", str(tables_dir), "--quantile", "0.5", "--out", str(tmp_path / "r.json")]
    args += [item for pair in argv.items() for item in pair]
    assert cli_main(args) == 2
    err = capsys.readouterr().err
    assert f"'{value}'" in err and listing in err
    assert not (tmp_path / "r.json").exists()


def test_cli_oracle_end_to_end(nb201, tables_dir: Path, tmp_path: Path, capsys) -> None:
    common = ["search", "--tables", str(tables_dir), "--dataset", "cifar10", "--device", "fpga", "--metric", "latency"]
    out = tmp_path / "oracle.json"
    assert cli_main([*common, "--threshold", "3.0", "--method", "oracle", "--out", str(out)]) == 0
    assert "oracle seed 0" in capsys.readouterr().out
    record = load_result(out)
    optimum = nb201.feasible_optimum("fpga_latency", 3.0, "cifar10")
    assert (record["index"], record["test_accuracy"], record["regret"]) == (optimum.index, optimum.accuracy, 0.0)
    assert record["feasible"] is True and record["setting"]["preset"] is None and "wall_seconds" in record


def test_cli_rea_records_only_the_knobs_it_reads(nb201, tables_dir: Path, tmp_path: Path) -> None:
    common = ["search", "--tables", str(tables_dir), "--dataset", "cifar10", "--device", "fpga", "--metric", "latency"]
    out = tmp_path / "rea.json"
    argv = [*common, "--quantile", "0.5", "--method", "rea-valid12", "--budget", "40", "--seed", "2", "--out", str(out)]
    assert cli_main(argv) == 0
    record = load_result(out)
    assert record["unique_evaluations"] == 40 and record["feasible"] is True
    # REA records the knobs it reads only: selection size, budget and what sets its default budget, the penalty.
    assert record["ga_config"] == {
        "population": 20, "generations": 50, "elites": 1, "budget": 40, "tournament_size": 5, "lam": 1.0,
        "penalty": "one_sided_normalised",
    }  # fmt: skip
    assert record["threshold"] == pytest.approx(nb201.thresholds("fpga_latency", [0.5], "cifar10")[0])
    assert record["setting"]["threshold_source"] == "quantile" and record["setting"]["quantile"] == 0.5
    first = out.read_bytes()
    assert cli_main(argv) == 0 and out.read_bytes() == first
    # Knobs REA does not read change nothing, not even the file's bytes.
    assert cli_main([*argv, "--crossover-p", "0.7", "--mutation-p", "0.3"]) == 0 and out.read_bytes() == first
    assert cli_main([*argv, "--tournament-size", "3", "--elites", "2"]) == 0
    ga_config = load_result(out)["ga_config"]
    assert [ga_config[k] for k in ("tournament_size", "elites")] == [3, 2] and "mutation_p" not in ga_config


def test_cli_oracle_on_fbnet_is_not_applicable(tables_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "fb.json"
    fb = ["search", "--tables", str(tables_dir), "--space", "fbnet", "--dataset", "cifar100", "--device", "fpga"]
    assert cli_main([*fb, "--quantile", "0.5", "--method", "oracle", "--out", str(out)]) == 0
    assert load_result(out)["status"] == "not_applicable"


@pytest.mark.slow
def test_cli_tiny_proxy_search(mirror: Path, tables_dir: Path, tmp_path: Path) -> None:
    argv = [
        "search", "--tables", str(tables_dir), "--sources", str(mirror), "--cache", str(tmp_path / "cache"),
        "--batch-dir", str(tmp_path / "proxy"),
        "--device", "eyeriss", "--metric", "energy", "--quantile", "0.5", "--method", "hw-evrsnas",
        "--preset", "tiny", "--population", "4", "--generations", "2", "--threads", "1", "--accelerator", "cpu",
    ]  # fmt: skip
    assert cli_main([*argv, "--out", str(tmp_path / "a" / "run.json")]) == 0
    record = load_result(tmp_path / "a" / "run.json")
    assert record["setting"]["preset"] == "tiny" and record["evaluator"]["name"] == "rsnas:tiny"
    assert 1 <= record["unique_evaluations"] <= 4 + 2 * 3
    assert record["fresh_evaluations"] == record["unique_evaluations"] and record["proxy_seconds"] > 0
    assert all(0.0 <= e["phi"] <= 1.0 for e in record["evaluated"])
    # The second run reads every score from the disk cache and writes the same file.
    assert cli_main([*argv, "--out", str(tmp_path / "b" / "run.json")]) == 0
    assert (tmp_path / "a" / "run.json").read_bytes() == (tmp_path / "b" / "run.json").read_bytes()
    second = load_result(tmp_path / "b" / "run.json")
    assert second["evaluator_cache_hits"] == second["unique_evaluations"] and second["fresh_evaluations"] == 0


@pytest.mark.parametrize("method", ["hw-evrsnas", "random", "rea-valid12"])
def test_the_anytime_answer_is_the_answer_of_a_run_at_that_budget(nb201, fpga: CostModel, method: str) -> None:
    full = _run(fpga, nb201, method=method, seed=4, budget=100, quantile=0.2)
    anytime = full["anytime"]
    assert [e["evaluations"] for e in anytime] == list(range(1, 101)) and full["unique_evaluations"] == 100
    assert {k: anytime[-1][k] for k in ("index", "feasible", "regret")} == {k: full[k] for k in ("index", "feasible", "regret")}
    for budget in (3, 20, 57, 99):
        alone = _run(fpga, nb201, method=method, seed=4, budget=budget, quantile=0.2)
        entry = anytime[budget - 1]
        assert (entry["index"], entry["feasible"], entry["regret"]) == (alone["index"], alone["feasible"], alone["regret"])
        assert entry["test_accuracy"] == alone["test_accuracy"]
    merged = full["anytime_seconds"]
    assert len(merged) == 100 and merged == sorted(merged)  # proxy seconds accumulate


def test_search_seed_k_reads_proxy_replicate_k_unless_told_otherwise(nb201_h5, nb201, tmp_path, monkeypatch) -> None:
    """The proxy's draw (the preset's seed) follows --seed by default, --proxy-seed replaces it, and the record names
    it so that analysis can group runs by it; a method without a proxy records none."""
    from fakes import ToyProxy
    from hwevrsnas.analysis.collect import collect
    from hwevrsnas.errors import InputError
    from hwevrsnas.proxy.presets import get_preset

    monkeypatch.setattr("hwevrsnas.proxy.make_proxy", lambda name, context: ToyProxy(context.space, context.preset))
    common = ["search", "--tables", str(nb201_h5.parent), "--device", "fpga", "--quantile", "0.5", "--preset", "tiny",
              "--population", "4", "--generations", "2", "--accelerator", "cpu", "--cache", "", "--batch-dir", ""]  # fmt: skip
    runs = {
        "seed3": ["--seed", "3"],
        "seed3-p1": ["--seed", "3", "--proxy-seed", "1"],
        "oracle": ["--seed", "3", "--method", "oracle"],
    }
    for name, extra in runs.items():
        assert cli_main([*common, *extra, "--out", str(tmp_path / f"{name}.json")]) == 0
    records = {name: load_result(tmp_path / f"{name}.json") for name in runs}
    assert records["seed3"]["setting"]["proxy_seed"] == 3 and records["seed3"]["evaluator"]["preset"]["seed"] == 3
    assert records["seed3-p1"]["setting"]["proxy_seed"] == 1 and records["seed3-p1"]["evaluator"]["preset"]["seed"] == 1
    assert records["seed3"]["setting"]["seed"] == records["seed3-p1"]["setting"]["seed"] == 3
    assert records["seed3"]["config_hash"] != records["seed3-p1"]["config_hash"]  # another draw, another run
    assert "proxy_seed" not in records["oracle"]["setting"]
    df = collect([tmp_path / f"{name}.json" for name in runs]).set_index("path")
    assert df.loc[str(tmp_path / "seed3.json"), "proxy_seed"] == 3
    assert df.loc[str(tmp_path / "seed3-p1.json"), "proxy_seed"] == 1
    assert df["proxy_seed"].isna().to_dict() == {str(tmp_path / f"{name}.json"): name == "oracle" for name in runs}
    # A record from before proxy replicates has no proxy seed in its setting: it read its evaluator's preset, whose
    # seed was always 0 then.
    old = json.loads((tmp_path / "seed3.json").read_text())
    del old["setting"]["proxy_seed"]
    old["evaluator"]["preset"]["seed"] = 0
    (tmp_path / "old.json").write_text(json.dumps(old))
    assert collect([tmp_path / "old.json"])["proxy_seed"].tolist() == [0]
    # A setting naming another draw than the evaluator's is refused: the record would misname its scores.
    fpga = CostModel.open("nb201", nb201_h5.parent, "cifar10", "fpga", "latency")
    setting = Setting.from_cost(fpga, fpga.resolve_threshold(quantile=0.5), "hw-evrsnas", "tiny", 0, 1)
    with pytest.raises(InputError, match="proxy seed is 1, the evaluator's preset has seed 0"):
        run_search(setting, ToyProxy("nb201", get_preset("tiny")), fpga, GAConfig(population=4, generations=1))

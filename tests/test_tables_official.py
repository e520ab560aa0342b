"""Tables built from the official files: synthetic NB201 / NATS-Bench / HW-NAS-Bench files in the official layouts."""

from __future__ import annotations

import bz2
import hashlib
import json
import pickle
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from hwevrsnas.spaces.fbnet import sample
from hwevrsnas.tables.fbnet import FBNetTable
from hwevrsnas.tables.metrics import DATASETS, HWNASBENCH_METRICS
from hwevrsnas.tables.official import (
    OfficialFormatError,
    build_official,
    columns_from_official_hwnasbench,
    columns_from_official_nb201,
)
from hwevrsnas.tables.store import NB201Table

ARCHS = [
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
    "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|none~2|",
    # Node 1 feeds nothing in these two, so they differ only in a dead edge: isomorphic twins.
    "|nor_conv_3x3~0|+|skip_connect~0|none~1|+|nor_conv_1x1~0|none~1|nor_conv_3x3~2|",
    "|avg_pool_3x3~0|+|skip_connect~0|none~1|+|nor_conv_1x1~0|none~1|nor_conv_3x3~2|",
    "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
]
N = len(ARCHS)
HW_NAMES = [f"{d}_{m}" for d, m in HWNASBENCH_METRICS]
# The API's (dataset, eval set) pairs behind each table column.
TEST_SET = {"cifar10": ("cifar10", "ori-test"), "cifar100": ("cifar100", "x-test"),
            "ImageNet16-120": ("ImageNet16-120", "x-test")}  # fmt: skip
VALID_SET = {"cifar10": ("cifar10-valid", "x-valid"), "cifar100": ("cifar100", "x-valid"),
             "ImageNet16-120": ("ImageNet16-120", "x-valid")}  # fmt: skip
EVAL_SETS = {"cifar10-valid": ("x-valid", "ori-test"), "cifar10": ("ori-test",),
             "cifar100": ("x-valid", "x-test", "ori-test"), "ImageNet16-120": ("x-valid", "x-test", "ori-test")}  # fmt: skip
CLASSES = {"cifar10-valid": 10, "cifar10": 10, "cifar100": 100, "ImageNet16-120": 120}


# ----------------------------------------------------------------------------------------------- fakes


def _results_count(arch: str, dataset: str, seed: int, epochs: int, accs: dict[str, float]) -> dict:
    """A ResultsCount state dict (nas_201_api.api_utils.ResultsCount.state_dict()) with a final-epoch eval."""
    last = epochs - 1
    eval_acc1es = {f"{name}@{last}": acc for name, acc in accs.items()}
    eval_acc1es.update({f"{name}@0": 1.0 for name in accs})  # an earlier epoch, which must not be read
    return {
        "name": dataset, "net_state_dict": None,
        "train_acc1es": {0: 1.0, last: 99.0}, "train_acc5es": None, "train_losses": {0: 9.0, last: 0.1},
        "train_times": None,
        "arch_config": {"name": "infer.tiny", "channel": 16, "num_cells": 5, "arch_str": arch,
                        "class_num": CLASSES[dataset]},
        "params": 0.5, "flop": 50.0, "seed": seed, "epochs": epochs, "latency": [0.01],
        "eval_names": list(accs), "eval_acc1es": eval_acc1es, "eval_times": {},
        "eval_losses": {key: 1.0 for key in eval_acc1es},
    }  # fmt: skip


def _arch_results(index: int, rng: np.random.Generator, epochs: int, seeds: dict[str, list[int]]) -> dict:
    """An ArchResults state dict: {(dataset, seed): ResultsCount state} plus dataset_seed."""
    all_results = {}
    for dataset, dataset_seeds in seeds.items():
        for seed in dataset_seeds:
            accs = {name: float(rng.uniform(5, 95)) for name in EVAL_SETS[dataset]}
            all_results[(dataset, seed)] = _results_count(ARCHS[index], dataset, seed, epochs, accs)
    return {
        "arch_index": index, "arch_str": ARCHS[index], "all_results": all_results,
        "dataset_seed": {dataset: sorted(s) for dataset, s in seeds.items()}, "clear_net_done": True,
    }  # fmt: skip


def _fake_nb201(version: str = "v1_1", seed: int = 0) -> dict:
    """The dict of NAS-Bench-201-v1_x: 'full' = 200 epochs (1-3 seeds), 'less' = 12 epochs."""
    rng = np.random.default_rng(seed)
    arch2infos = {}
    for index in range(N):
        n_seeds = 1 + index % 3
        full_seeds = {ds: [777, 888, 999][:n_seeds] for ds in EVAL_SETS}
        if version == "v1_1":  # 12 epochs: every dataset once, cifar10-valid twice
            less_seeds = {"cifar10-valid": [111, 777], "cifar10": [111], "cifar100": [111], "ImageNet16-120": [111]}
        else:  # v1_0: the 12-epoch runs cover cifar10-valid only
            less_seeds = {"cifar10-valid": [111]}
        arch2infos[index] = {
            "less": _arch_results(index, rng, 12, less_seeds),
            "full": _arch_results(index, rng, 200, full_seeds),
        }
    return {"meta_archs": list(ARCHS), "arch2infos": arch2infos, "evaluated_indexes": list(range(N))}


def _expected_accuracy(data: dict, index: int, hp: str, dataset: str, setname: str) -> float:
    """Mean over seeds of the final-epoch accuracy, straight from the fake's dict."""
    state = data["arch2infos"][index][{"200": "full", "12": "less"}[hp]]
    seeds = state["dataset_seed"].get(dataset)
    if not seeds:
        return np.nan
    values = []
    for seed in seeds:
        result = state["all_results"][(dataset, seed)]
        values.append(result["eval_acc1es"][f"{setname}@{result['epochs'] - 1}"])
    return float(np.mean(values))


def _to_nats(data: dict) -> dict:
    """NATS-Bench tss keeps the same dict with the schedules named '200' and '12'."""
    arch2infos = {i: {"12": infos["less"], "200": infos["full"]} for i, infos in data["arch2infos"].items()}
    return {"meta_archs": data["meta_archs"], "arch2infos": arch2infos, "evaluated_indexes": data["evaluated_indexes"]}


def _bz2_pickle(obj: object, path: Path) -> Path:
    with bz2.BZ2File(path, "wb") as handle:
        pickle.dump(obj, handle, protocol=4)
    return path


def _write_nb201(data: dict, tmp_path: Path, layout: str) -> Path:
    if layout == "nb201-pth":
        path = tmp_path / "NAS-Bench-201-v1_1-096897.pth"
        torch.save(data, path)
    elif layout == "nats-pbz2":
        path = _bz2_pickle(_to_nats(data), tmp_path / "NATS-tss-v1_0-3ffb9.pickle.pbz2")
    else:  # the NATS-Bench 'simple' archive: meta file plus one file per architecture
        path = tmp_path / "NATS-tss-v1_0-3ffb9-simple"
        path.mkdir()
        nats = _to_nats(data)
        _bz2_pickle({"meta_archs": nats["meta_archs"], "evaluated_indexes": nats["evaluated_indexes"]},
                    path / "meta.pickle.pbz2")  # fmt: skip
        for index, infos in nats["arch2infos"].items():
            _bz2_pickle(infos, path / f"{index:06d}.pickle.pbz2")
    return path


def fbnet_official_cost(op_idx_list: list[int], lookup: dict) -> float:
    """hw_nas_bench_api.fbnet_get_metrics for cifar100, condensed (the oracle the tables must reproduce)."""
    blocks = [(1, 3, 1), (1, 3, 2), (3, 3, 1), (6, 3, 1), (1, 5, 1), (1, 5, 2), (3, 5, 1), (6, 5, 1)]
    layers, channels, strides = [1, 4, 4, 4, 4, 4, 1], [16, 24, 32, 64, 112, 184, 352], [1, 1, 2, 2, 1, 2, 1]
    hw, metric, layer_id = 32, 0.0, 0
    metric += lookup[f"ConvNorm_H{hw}_W{hw}_Cin3_Cout16_kernel3_stride1_group1"]
    for stage, num in enumerate(layers):
        for i in range(num):
            op = op_idx_list[layer_id]
            c_in = (16 if stage == 0 else channels[stage - 1]) if i == 0 else channels[stage]
            stride = strides[stage] if i == 0 else 1
            if op < 8:
                exp, kernel, grp = blocks[op]
                key = f"ConvBlock_H{hw}_W{hw}_Cin{c_in}_Cout{channels[stage]}_exp{exp}_kernel{kernel}_stride{stride}_group{grp}"
            else:
                key = f"Skip_H{hw}_W{hw}_Cin{c_in}_Cout{channels[stage]}_stride{stride}"
            metric += lookup[key]
            hw //= stride
            layer_id += 1
    metric += lookup[f"ConvNorm_H{hw}_W{hw}_Cin352_Cout1504_kernel1_stride1_group1"]
    metric += lookup[f"AvgP_H{hw}_W{hw}_Cin1504_Cout1504_kernel{hw}_stride1"]
    metric += lookup["FC_Cin1504_Cout100"]
    return metric


class _Recorder(dict):
    """A lookup table that invents a value for every key the official formula asks for."""

    def __init__(self, rng: np.random.Generator) -> None:
        super().__init__()
        self.rng = rng

    def __missing__(self, key: str) -> float:
        self[key] = float(self.rng.uniform(0.01, 2.0))
        return self[key]


FBNET_METRICS = ["edgegpu_latency", "edgegpu_energy", "raspi4_latency", "pixel3_latency",
                 "eyeriss_latency", "eyeriss_energy", "fpga_latency", "fpga_energy"]  # fmt: skip


def _fake_hwnasbench(arch_strings: list[str], seed: int = 1) -> dict:
    """HW-NAS-Bench-v1_0.pickle: per-dataset NB201 metric lists + configs, and FBNet lookup dicts."""
    rng = np.random.default_rng(seed)
    nb = {}
    for dataset in DATASETS:
        entry = {name: [float(v) for v in rng.uniform(0.5, 50.0, len(arch_strings))] for name in HW_NAMES}
        entry["edgetpu_latency"][4] = -1.0  # twin of arch 3: imputed
        entry["edgetpu_latency"][5] = -1.0  # no twin: stays missing
        # The API only indexes these containers: a list, an array or an index-keyed dict all serve.
        entry["eyeriss_energy"] = np.asarray(entry["eyeriss_energy"])
        entry["fpga_energy"] = dict(enumerate(entry["fpga_energy"]))
        entry["config"] = [{"name": "infer.tiny", "C": 16, "N": 5, "arch_str": s, "num_classes": 10}
                           for s in arch_strings]  # fmt: skip
        nb[dataset] = entry
    fbnet = {}
    for name in FBNET_METRICS:
        recorder = _Recorder(rng)
        for op in range(9):  # every (block, op) key and the fixed parts
            fbnet_official_cost([op] * 22, recorder)
        # Keys of other settings (ImageNet) share the dict officially; they must be ignored.
        recorder["FC_Cin1984_Cout1000"] = 5.0
        fbnet[name] = dict(recorder)
    return {"nasbench201": nb, "fbnet": fbnet}


@pytest.fixture()
def files(tmp_path: Path) -> tuple[dict, Path, dict, Path]:
    data = _fake_nb201()
    nb_path = _write_nb201(data, tmp_path, "nb201-pth")
    hw = _fake_hwnasbench(ARCHS)
    hw_path = tmp_path / "HW-NAS-Bench-v1_0.pickle"
    hw_path.write_bytes(pickle.dumps(hw))
    return data, nb_path, hw, hw_path


# ----------------------------------------------------------------------------------------------- tests


@pytest.mark.parametrize("layout", ["nb201-pth", "nats-pbz2", "nats-dir"])
def test_accuracies_round_trip(layout: str, tmp_path: Path, files: tuple) -> None:
    data, _, _, hw_path = files
    (tmp_path / "in").mkdir()
    nb_path = _write_nb201(data, tmp_path / "in", layout)
    build_official(tmp_path / "out", nb_path, hw_path, expected_archs=None)
    table = NB201Table.open(tmp_path / "out" / "nb201.h5")
    assert table.arch_strings == ARCHS
    for dataset in DATASETS:
        for kind, hp, sets in [("test_200ep", "200", TEST_SET), ("valid_200ep", "200", VALID_SET),
                               ("test_12ep", "12", TEST_SET), ("valid_12ep", "12", VALID_SET)]:  # fmt: skip
            expected = [_expected_accuracy(data, i, hp, *sets[dataset]) for i in range(N)]
            np.testing.assert_array_equal(table.accuracy(slice(None), dataset, kind), expected)


def test_agrees_with_nas_201_api(files: tuple) -> None:
    api_module = pytest.importorskip("nas_201_api")
    data, nb_path, _, _ = files
    columns = columns_from_official_nb201(nb_path)
    api = api_module.NASBench201API(data, verbose=False)
    for index in range(N):
        for dataset in DATASETS:
            for hp, suffix in (("200", "200ep"), ("12", "12ep")):
                info = api.get_more_info(index, TEST_SET[dataset][0], hp=hp, is_random=False)
                assert columns.accuracy[dataset][f"test_{suffix}"][index] == info["test-accuracy"]
                info = api.get_more_info(index, VALID_SET[dataset][0], hp=hp, is_random=False)
                assert columns.accuracy[dataset][f"valid_{suffix}"][index] == info["valid-accuracy"]


def test_v1_0_has_no_twelve_epoch_test_accuracy(tmp_path: Path) -> None:
    data = _fake_nb201("v1_0")
    columns = columns_from_official_nb201(_write_nb201(data, tmp_path, "nb201-pth"))
    for dataset in DATASETS:
        assert np.isnan(columns.accuracy[dataset]["test_12ep"]).all()
        assert not np.isnan(columns.accuracy[dataset]["test_200ep"]).any()
    expected = [_expected_accuracy(data, i, "12", "cifar10-valid", "x-valid") for i in range(N)]
    np.testing.assert_array_equal(columns.accuracy["cifar10"]["valid_12ep"], expected)
    assert np.isnan(columns.accuracy["cifar100"]["valid_12ep"]).all()
    assert f"cifar100/test_12ep: {N} of {N}" in columns.notes["accuracy_missing"]
    assert "cifar10/valid_12ep" not in columns.notes["accuracy_missing"]


def test_costs_round_trip_with_provenance(tmp_path: Path, files: tuple) -> None:
    _, nb_path, hw, hw_path = files
    out = tmp_path / "out"
    build_official(out, nb_path, hw_path, expected_archs=None)
    table = NB201Table.open(out / "nb201.h5")
    assert table.iso_class[3] == table.iso_class[4] and len(set(table.iso_class)) == N - 1  # one twin pair
    for dataset in DATASETS:
        assert table.metrics(dataset) == HW_NAMES
        for name in HW_NAMES:
            listed = [hw["nasbench201"][dataset][name][i] for i in range(N)]
            column, listed = table.cost_column(name, dataset), np.array(listed)
            imputed = table.imputed(slice(None), name, dataset)
            if name != "edgetpu_latency":
                np.testing.assert_array_equal(column, listed)
                assert not imputed.any()
                continue
            np.testing.assert_array_equal(column[:4], listed[:4])
            assert column[4] == listed[3] and imputed.tolist() == [False] * 4 + [True, False]
            assert np.isnan(column[5])
            attrs = table.metric_attrs[dataset][name]
            assert (attrs["unit"], attrs["kind"], attrs["dataset"]) == ("ms", "measured", dataset)
            assert attrs["source"] == hw_path.name
    assert table.metric_attrs["cifar100"]["fpga_energy"]["kind"] == "simulated"
    assert table.metric_attrs["cifar100"]["fpga_energy"]["unit"] == "mJ"
    for key, path in (("nb201", nb_path), ("hwnasbench", hw_path)):
        assert table.attrs[f"official_{key}_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert table.attrs[f"official_{key}_file"] == path.name
    assert table.attrs["builder"] == "official"
    notes = json.loads(table.attrs["notes"])
    assert "cifar10/edgetpu_latency: 2 missing, 1 imputed" in notes["imputed"]


def test_fbnet_tables_reproduce_the_official_formula(tmp_path: Path, files: tuple) -> None:
    _, nb_path, hw, hw_path = files
    build_official(tmp_path, nb_path, hw_path, expected_archs=None)
    fb = FBNetTable.open(tmp_path / "fbnet.h5")
    assert sorted(fb.devices) == ["edgegpu", "eyeriss", "fpga", "pixel3", "raspi4"]
    archs = sample(np.random.default_rng(3), 200)
    for device in fb.devices:
        official = [fbnet_official_cost(a.tolist(), hw["fbnet"][f"{device}_latency"]) for a in archs]
        np.testing.assert_allclose(fb.latency(device, archs), official, rtol=0, atol=1e-12)
        table, constant = fb.table(device)
        assert (table[:, 0] == 0).all() and not np.isnan(table).any()
        assert constant == fbnet_official_cost([0] * 22, hw["fbnet"][f"{device}_latency"])
    with h5py.File(tmp_path / "fbnet.h5", "r") as h5:
        assert sorted(h5["energy"]) == ["edgegpu", "eyeriss", "fpga"]
        assert h5.attrs["official_hwnasbench_sha256"] == hashlib.sha256(hw_path.read_bytes()).hexdigest()
        for device in h5["energy"]:
            grp = h5["energy"][device]
            assert grp["table"].attrs["unit"] == "mJ" and grp["table"].shape == (22, 9)
            official = [fbnet_official_cost(a.tolist(), hw["fbnet"][f"{device}_energy"]) for a in archs]
            predicted = grp["table"][()][np.arange(22), archs].sum(axis=1) + grp.attrs["constant"]
            np.testing.assert_allclose(predicted, official, rtol=0, atol=1e-12)
    build_official(tmp_path / "again", nb_path, hw_path, expected_archs=None)
    for name in ("nb201.h5", "fbnet.h5"):
        assert (tmp_path / "again" / name).read_bytes() == (tmp_path / name).read_bytes()


def test_hwnasbench_alone_needs_accuracies(tmp_path: Path, files: tuple) -> None:
    _, _, _, hw_path = files
    with pytest.raises(OfficialFormatError, match="accuracies"):
        build_official(tmp_path / "out", None, hw_path, expected_archs=None)
    # Without the NB201 file, the arch order comes from the pickle's configs.
    columns = columns_from_official_hwnasbench(hw_path)
    assert columns.arch_strings == ARCHS and len(columns.costs) == 30 and not columns.accuracy


def test_disagreeing_arch_order_is_an_error_and_writes_nothing(tmp_path: Path, files: tuple) -> None:
    _, nb_path, _, _ = files
    shuffled = tmp_path / "shuffled.pickle"
    shuffled.write_bytes(pickle.dumps(_fake_hwnasbench(ARCHS[::-1])))
    with pytest.raises(OfficialFormatError, match="disagrees with the NB201 file"):
        build_official(tmp_path / "out", nb_path, shuffled, expected_archs=None)
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_size_and_space_guards(tmp_path: Path, files: tuple) -> None:
    _, nb_path, _, hw_path = files
    with pytest.raises(OfficialFormatError, match="expected 15625 architectures"):
        build_official(tmp_path / "out", nb_path, hw_path)
    sss = tmp_path / "NATS-sss-v1_0-50262.pickle.pbz2"
    _bz2_pickle({"meta_archs": ["64:64:64:64:64"], "arch2infos": {}, "evaluated_indexes": []}, sss)
    with pytest.raises(OfficialFormatError, match="size"):
        columns_from_official_nb201(sss)
    bad = tmp_path / "bad.pth"
    torch.save({"meta_archs": ARCHS}, bad)
    with pytest.raises(OfficialFormatError, match="arch2infos"):
        columns_from_official_nb201(bad)


def test_nb201_alone_writes_accuracies_without_costs(tmp_path: Path, files: tuple) -> None:
    data, nb_path, _, _ = files
    with pytest.warns(UserWarning, match="accuracy-only"):
        build_official(tmp_path, nb_path, None, expected_archs=None)
    assert not (tmp_path / "fbnet.h5").exists()
    with h5py.File(tmp_path / "nb201.h5", "r") as h5:
        expected = [_expected_accuracy(data, i, "200", "cifar100", "x-test") for i in range(N)]
        np.testing.assert_array_equal(h5["accuracy/cifar100/test_200ep"][()], expected)
        assert len(h5.get("cost", {})) == 0


def test_accuracy_only_table_opens(tmp_path: Path, files: tuple) -> None:
    _, nb_path, _, _ = files
    with pytest.warns(UserWarning):
        build_official(tmp_path, nb_path, None, expected_archs=None)
    table = NB201Table.open(tmp_path / "nb201.h5")
    assert len(table) == N and table.coverage() == []
    assert not np.isnan(table.accuracy(slice(None), "ImageNet16-120")).any()


def test_with_mirror_sources_keeps_the_other_devices(mirror: Path, tmp_path: Path) -> None:
    """Full-size fakes in the mirror's order: official HW-NAS-Bench columns, HELP and HW-NAS-Bench-360 from the mirror."""
    arch_strings = pd.read_csv(mirror / "nats-bench-landscape/nats_bench.csv")["ArchitectureString"].tolist()
    rng = np.random.default_rng(5)
    acc = rng.uniform(10, 95, len(arch_strings))

    def one_seed(i: int, epochs: int) -> dict:
        # Only the fields the reader needs, to keep 15,625 archs quick to pickle.
        results = {(ds, 777): {"epochs": epochs, "eval_acc1es": {f"{s}@{epochs - 1}": acc[i] for s in EVAL_SETS[ds]}}
                   for ds in EVAL_SETS}  # fmt: skip
        return {"arch_str": arch_strings[i], "all_results": results, "dataset_seed": {ds: [777] for ds in EVAL_SETS}}

    nats = {"meta_archs": arch_strings, "evaluated_indexes": list(range(len(arch_strings))),
            "arch2infos": {i: {"200": one_seed(i, 200)} for i in range(len(arch_strings))}}  # fmt: skip
    nb_path = tmp_path / "NATS-tss-v1_0-3ffb9.pickle"
    nb_path.write_bytes(pickle.dumps(nats))
    hw = _fake_hwnasbench(arch_strings)
    hw_path = tmp_path / "HW-NAS-Bench-v1_0.pickle"
    hw_path.write_bytes(pickle.dumps(hw))
    build_official(tmp_path / "out", nb_path, hw_path, sources=mirror)
    table = NB201Table.open(tmp_path / "out" / "nb201.h5")
    np.testing.assert_array_equal(table.accuracy(slice(None), "cifar100"), acc)
    assert np.isnan(table.accuracy(slice(None), "cifar100", "test_12ep")).all()
    assert len(table.metrics("cifar10")) == 10 + 23 and len(table.metrics("cifar100")) == 10 + 7
    assert len(table.metrics("ImageNet16-120")) == 10
    np.testing.assert_array_equal(table.cost_column("raspi4_latency"), hw["nasbench201"]["cifar10"]["raspi4_latency"])
    assert table.metric_attrs["cifar10"]["raspi4_latency"]["source"] == hw_path.name
    help_gpu = torch.load(mirror / "HELP/data/nasbench201/latency/2080ti_1.pt", weights_only=True)
    np.testing.assert_array_equal(table.cost_column("2080ti_1_latency"), np.asarray(help_gpu, dtype=float))
    assert table.attrs["builder"] == "official+mirror" and table.source_checksums()

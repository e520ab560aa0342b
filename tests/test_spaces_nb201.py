"""The NB201 space: encoding, isomorphism classes, analytic size vs published data, GA operators, network."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from hwevrsnas.spaces import nb201
from hwevrsnas.spaces.nb201_network import NB201Cell, NB201Network
from hwevrsnas.spaces.nb201 import (
    EDGES,
    NONE,
    NUM_OPS,
    OPS,
    SKIP,
    ArchError,
    arch_codes,
    arch_to_ops,
    canonical_key,
    crossover,
    degenerate_mask,
    flops_m,
    is_degenerate,
    iso_class_ids,
    mutate,
    ops_to_arch,
    params_mb,
    parse_arch_strings,
    sample,
)

NATS_CSV = "nats-bench-landscape/nats_bench.csv"
ALLDATA = "HW-NAS-Visualization/intermediateresults/alldata.csv"
NASLIB_JSON = "NASLib/naslib/data/zc_nasbench201.json"
ACC_COLUMNS = {
    "cifar10": "CIFAR10TestAccuracy200Epochs",
    "cifar100": "CIFAR100TestAccuracy200Epochs",
    "ImageNet16-120": "ImageNetTestAccuracy200Epochs",
}
# NASLib encodes an arch as op indices in its own op order and edge order.
NASLIB_TO_NB201_OP = np.array([SKIP, NONE, nb201.CONV3, nb201.CONV1, nb201.AVGPOOL])
NASLIB_EDGE_ORDER = [0, 1, 3, 2, 4, 5]  # NASLib lists (3<-0) before (2<-1)
SETTINGS = {"cifar10": (10, 32), "cifar100": (100, 32), "ImageNet16-120": (120, 16)}
RESNET_CELL = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    # These tensors are tiny: intra-op threads only spin, and stall badly on a busy machine.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def nats(mirror: Path) -> pd.DataFrame:
    return pd.read_csv(mirror / NATS_CSV)


@pytest.fixture(scope="module")
def nats_ops(nats: pd.DataFrame) -> np.ndarray:
    return parse_arch_strings(nats["ArchitectureString"].tolist())


@pytest.fixture(scope="module")
def naslib(mirror: Path) -> dict:
    return json.loads((mirror / NASLIB_JSON).read_text())


def _naslib_rows(naslib: dict, dataset: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    entries = naslib[dataset]
    tuples = np.array([json.loads(key.replace("(", "[").replace(")", "]")) for key in entries])
    ops = NASLIB_TO_NB201_OP[tuples[:, NASLIB_EDGE_ORDER]]
    params = np.array([entry["params"]["score"] for entry in entries.values()])
    flops = np.array([entry["flops"]["score"] for entry in entries.values()])
    return ops, params, flops


# ---------------------------------------------------------------- encoding


def test_round_trip_all_nats_strings(nats: pd.DataFrame, nats_ops: np.ndarray) -> None:
    strings = nats["ArchitectureString"].tolist()
    assert nats_ops.shape == (15625, 6) and nats_ops.dtype == np.uint8
    assert [ops_to_arch(ops) for ops in nats_ops] == strings
    assert all(arch_to_ops(s) == tuple(ops) for s, ops in zip(strings[:500], nats_ops[:500]))
    # The official order is a permutation of the whole space.
    assert np.array_equal(np.sort(arch_codes(nats_ops)), np.arange(15625))
    assert ops_to_arch(nats_ops[11472]) == RESNET_CELL


def test_parse_errors_say_what_was_expected() -> None:
    expected = r"expected \|op~0\|\+\|op~0\|op~1\|\+\|op~0\|op~1\|op~2\| with op in none, skip_connect"
    for bad in (
        "|nor_conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|",
        "|none~0|+|none~0|none~1|+|none~0|none~1|",
        "|none~1|+|none~0|none~1|+|none~0|none~1|none~2|",
        "none,none,none,none,none,none",
    ):
        with pytest.raises(ArchError, match=expected):
            arch_to_ops(bad)
    with pytest.raises(ValueError, match=r"row 1: malformed NB201 arch string"):
        parse_arch_strings([RESNET_CELL, RESNET_CELL[:-1]])
    with pytest.raises(ArchError, match="6 op indices"):
        ops_to_arch([0, 1, 2])
    with pytest.raises(ArchError, match="0..4"):
        ops_to_arch([0, 1, 2, 3, 4, 5])


# ---------------------------------------------------------------- isomorphism


def test_canonical_key_reproduces_nats_unique_strings(nats: pd.DataFrame, nats_ops: np.ndarray) -> None:
    keys = np.array([canonical_key(ops) for ops in nats_ops])
    assert np.array_equal(keys, nats["UniqueString"].to_numpy(dtype=str))


def test_iso_partition_equals_nats_partition(nats: pd.DataFrame, nats_ops: np.ndarray) -> None:
    iso = iso_class_ids(nats_ops)
    codes, uniques = pd.factorize(nats["UniqueString"])
    first_member = np.unique(codes, return_index=True)[1]
    assert len(uniques) == 6466 and iso.dtype == np.int32
    # Both sides name a class by its smallest index, so the partitions agree iff the arrays do.
    np.testing.assert_array_equal(iso, first_member[codes])
    subset = nats_ops[[5, 3, 5, 40]]
    np.testing.assert_array_equal(iso_class_ids(subset), [0, 1, 0, 3])


def test_iso_key_is_nb201s_not_function_equality() -> None:
    # Both cells compute 2x, but NB201 keeps a '#' for every zero term: two classes.
    inlined = arch_to_ops("|skip_connect~0|+|skip_connect~0|skip_connect~1|+|none~0|none~1|skip_connect~2|")
    summed = arch_to_ops("|skip_connect~0|+|none~0|none~1|+|skip_connect~0|skip_connect~1|none~2|")
    assert canonical_key(inlined) == "#+#+0+0"
    assert canonical_key(summed) == "#+0+0"
    # Edges into a node that never reaches the output do not matter.
    a = arch_to_ops("|nor_conv_3x3~0|+|avg_pool_3x3~0|skip_connect~1|+|nor_conv_1x1~0|none~1|none~2|")
    b = arch_to_ops("|avg_pool_3x3~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|nor_conv_1x1~0|none~1|none~2|")
    assert canonical_key(a) == canonical_key(b) == "#+#+(0)@nor_conv_1x1"


def test_twins_do_not_share_accuracy_except_degenerate_ones(nats: pd.DataFrame, nats_ops: np.ndarray) -> None:
    iso = iso_class_ids(nats_ops)
    degenerate = degenerate_mask(nats_ops)
    assert np.bincount(iso)[np.unique(iso)].max() > 1 and (np.bincount(iso) > 1).sum() == 1350
    measured = {"cifar10": (6.85, 1284), "cifar100": (5.62, 1284), "ImageNet16-120": (14.966667, 1282)}
    chance = {"cifar10": 10.0, "cifar100": 1.0, "ImageNet16-120": 100 / 120}
    for dataset, column in ACC_COLUMNS.items():
        acc = nats[column].to_numpy()
        spread = pd.Series(acc).groupby(iso).agg(lambda a: a.max() - a.min())
        # Twins were trained separately: their 200-epoch accuracies differ, by up to several points.
        max_spread, n_differ = measured[dataset]
        assert spread.max() == pytest.approx(max_spread, abs=1e-5)
        assert (spread > 1e-6).sum() == n_differ
        # A degenerate cell learns nothing: every one sits at chance, identically.
        np.testing.assert_allclose(acc[degenerate], chance[dataset], atol=1e-6)


def test_degenerate_cells(nats: pd.DataFrame, nats_ops: np.ndarray) -> None:
    mask = degenerate_mask(nats_ops)
    assert mask.dtype == bool and mask.sum() == 341
    # The output has no path from the input exactly when its key never mentions node 0.
    no_input = ~nats["UniqueString"].str.contains("0").to_numpy()
    np.testing.assert_array_equal(mask, no_input)
    assert np.flatnonzero(mask)[:3].tolist() == [10, 12, 74]
    assert not is_degenerate(nats_ops[0]) and is_degenerate(nats_ops[10])
    assert is_degenerate([NONE] * 6)
    # Only a path through nodes 1 and 2 links input and output here.
    chain = "|skip_connect~0|+|none~0|skip_connect~1|+|none~0|none~1|skip_connect~2|"
    assert not is_degenerate(arch_to_ops(chain))
    assert is_degenerate(arch_to_ops("|skip_connect~0|+|skip_connect~0|skip_connect~1|+|none~0|none~1|none~2|"))


# ---------------------------------------------------------------- params and FLOPs


def test_flops_match_hw_nas_bench(mirror: Path, nats_ops: np.ndarray) -> None:
    frame = pd.read_csv(mirror / ALLDATA)
    index = frame["arch_index"].to_numpy()
    assert len(frame) == 12554 and (frame["dataset"] == "cifar10").all()
    names = frame[[f"arch_{e}" for e in range(6)]].to_numpy(dtype=str)
    np.testing.assert_array_equal(np.asarray(OPS)[nats_ops[index]], names)
    flops = flops_m(nats_ops[index])
    np.testing.assert_allclose(flops, frame["flop"].to_numpy(), rtol=1e-12, atol=1e-12)
    everything = flops_m(nats_ops)
    assert everything.min() == pytest.approx(7.78305) and everything.max() == pytest.approx(220.11969)


@pytest.mark.parametrize("dataset", list(SETTINGS))
def test_params_and_flops_match_naslib(naslib: dict, dataset: str) -> None:
    ops, params, flops = _naslib_rows(naslib, dataset)
    num_classes, resolution = SETTINGS[dataset]
    assert len(ops) >= 724
    np.testing.assert_allclose(params_mb(ops, num_classes), params, rtol=1e-12, atol=1e-12)
    counted = flops_m(ops, num_classes, resolution=resolution, convention="naslib")
    np.testing.assert_allclose(counted, flops, rtol=1e-12, atol=1e-12)
    # NASLib's counter also charges BN, ReLU and pooling: 1.2% to 68% above NB201's count.
    gap = flops / flops_m(ops, num_classes, resolution=resolution) - 1
    assert 0.012 < gap.min() and gap.max() < 0.69


def test_naslib_index_field_is_not_the_nb201_index(
    naslib: dict, nats: pd.DataFrame, nats_ops: np.ndarray
) -> None:
    ops, _, _ = _naslib_rows(naslib, "cifar10")
    position = {code: i for i, code in enumerate(arch_codes(nats_ops))}
    nb201_index = np.array([position[code] for code in arch_codes(ops)])
    idx = np.array([int(entry["idx"]) for entry in naslib["cifar10"].values()])
    # A running number over NASLib's sample (0..724, one missing here), unrelated to the NB201 index.
    assert len(np.unique(idx)) == len(idx) and idx.max() <= len(idx) and (idx != nb201_index).all()
    # The op and edge mapping is right: NASLib's validation accuracy tracks the 200-epoch test accuracy.
    val = np.array([entry["val_accuracy"] for entry in naslib["cifar10"].values()])
    assert np.corrcoef(val, nats[ACC_COLUMNS["cifar10"]].to_numpy()[nb201_index])[0, 1] > 0.98


def test_size_is_known_for_landmark_cells(nats_ops: np.ndarray) -> None:
    assert params_mb(nats_ops).max() == pytest.approx(1.531546)
    # Everything outside the cells (0.073306 M) plus two 3x3 ReLU-Conv-BN per cell (0.24304 M each).
    assert params_mb(arch_to_ops(RESNET_CELL)) == pytest.approx(0.559386, abs=1e-12)
    assert params_mb(nats_ops[:3], 100).shape == (3,)
    with pytest.raises(ValueError, match="multiple of 4"):
        flops_m(nats_ops[:1], resolution=30)


# ---------------------------------------------------------------- GA operators


def test_sample_is_uniform() -> None:
    archs = sample(np.random.default_rng(1), 20000)
    assert archs.shape == (20000, 6) and archs.dtype == np.uint8
    freq = np.stack([(archs == op).mean(axis=0) for op in range(NUM_OPS)])
    np.testing.assert_allclose(freq, 0.2, atol=0.015)


def test_mutation_resamples_among_all_five_ops() -> None:
    rng = np.random.default_rng(2)
    parents = sample(rng, 20000)
    before = parents.copy()
    children = mutate(parents, rng, p=0.1)
    np.testing.assert_array_equal(parents, before)
    changed = children != parents
    # A resample keeps the op 1 time in 5, so the observed change rate is p * 4/5.
    assert changed.mean() == pytest.approx(0.1 * 4 / 5, abs=0.003)
    step = (children.astype(int) - parents.astype(int))[changed] % NUM_OPS
    np.testing.assert_allclose(np.bincount(step, minlength=NUM_OPS)[1:] / changed.sum(), 0.25, atol=0.02)
    assert np.array_equal(mutate(parents, rng, p=0.0), parents)
    assert mutate(parents[0], rng, p=1.0).shape == (6,)


def test_crossover_is_uniform() -> None:
    rng = np.random.default_rng(3)
    a, b = np.zeros((20000, 6), np.uint8), np.full((20000, 6), 4, np.uint8)
    child = crossover(a, b, rng)
    assert set(np.unique(child)) == {0, 4}
    assert (child == 4).mean() == pytest.approx(0.5, abs=0.01)
    assert (crossover(a, b, rng, p=0.2) == 4).mean() == pytest.approx(0.2, abs=0.01)


# ---------------------------------------------------------------- network


def _network_test_archs(nats_ops: np.ndarray) -> np.ndarray:
    degenerate = nats_ops[degenerate_mask(nats_ops)][:20]
    extremes = np.array([[NONE] * 6, [SKIP] * 6, [nb201.CONV3] * 6, [nb201.AVGPOOL] * 6])
    return np.concatenate([sample(np.random.default_rng(4), 200), degenerate, extremes])


@pytest.mark.parametrize(("C", "N"), [(16, 5), (8, 1)])
def test_network_parameter_count_is_analytic(nats_ops: np.ndarray, C: int, N: int) -> None:
    archs = _network_test_archs(nats_ops)
    counted = [sum(p.numel() for p in NB201Network(ops, C=C, N=N).parameters()) for ops in archs]
    np.testing.assert_array_equal(np.array(counted), np.rint(params_mb(archs, 10, C, N) * 1e6))
    net = NB201Network(archs[0], C=C, N=N, num_classes=120)
    assert sum(p.numel() for p in net.parameters()) == round(params_mb(archs[0], 120, C, N) * 1e6)


def test_taps_have_stage_shapes() -> None:
    torch.manual_seed(0)
    net = NB201Network(arch_to_ops(RESNET_CELL), C=8, N=2)
    logits, taps = net.forward_with_taps(torch.randn(3, 3, 32, 32))
    assert logits.shape == (3, 10)
    assert [tuple(t.shape) for t in taps] == [(3, 8, 32, 32), (3, 16, 16, 16), (3, 32, 8, 8)]
    assert (taps[2] >= 0).all()  # after the final ReLU
    small = torch.zeros(1, 3, 16, 16)
    assert torch.equal(net(small), net.forward_with_taps(small)[0])


def _reference_cell(cell: NB201Cell, x: torch.Tensor) -> torch.Tensor:
    # NB201's InferCell literally: every edge computed, 'none' as x * 0.
    nodes = [x]
    for node in (1, 2, 3):
        total = torch.zeros_like(x)
        for edge, (dst, src) in enumerate(EDGES):
            if dst != node:
                continue
            op = int(cell.ops[edge])
            if op == NONE:
                total = total + nodes[src] * 0
            elif op == SKIP:
                total = total + nodes[src]
            else:
                total = total + cell.edges[str(edge)](nodes[src])
        nodes.append(total)
    return nodes[3]


@pytest.mark.parametrize("train", [True, False])
def test_cell_computes_nb201_semantics(nats_ops: np.ndarray, train: bool) -> None:
    torch.manual_seed(1)
    archs = np.concatenate([sample(np.random.default_rng(5), 40), nats_ops[degenerate_mask(nats_ops)][::40]])
    x = torch.randn(4, 6, 8, 8)
    for ops in archs:
        cell = NB201Cell(ops, 6)
        for module in cell.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                torch.nn.init.normal_(module.bias)  # a non-zero shift exposes conv-of-zero branches
        cell.train(train)
        with torch.no_grad():
            torch.testing.assert_close(cell(x), _reference_cell(cell, x), rtol=1e-5, atol=1e-5)


def test_degenerate_network_ignores_its_input_and_trains(nats_ops: np.ndarray) -> None:
    torch.manual_seed(2)
    net = NB201Network(nats_ops[10], C=4, N=1).eval()
    a, b = net(torch.randn(2, 3, 32, 32)), net(torch.randn(2, 3, 32, 32))
    torch.testing.assert_close(a, b)
    # Convs on edges that never reach the output get no gradient, and that is fine for SGD.
    dead_end = arch_to_ops("|nor_conv_3x3~0|+|nor_conv_1x1~0|none~1|+|skip_connect~0|none~1|nor_conv_3x3~2|")
    net = NB201Network(dead_end, C=4, N=1)
    net(torch.randn(2, 3, 32, 32)).sum().backward()
    cell = net.layers[0]
    assert cell.edges["0"][1].weight.grad is None and cell.edges["5"][1].weight.grad is not None

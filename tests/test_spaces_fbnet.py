"""The FBNet space: encoding, layout, GA operators and the torch network."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hwevrsnas.spaces import fbnet
from hwevrsnas.spaces.fbnet_network import FBNetNetwork
from hwevrsnas.spaces.fbnet import (
    LAYOUT,
    NUM_LAYERS,
    OPS,
    TAP_LAYERS,
    ArchError,
    arch_str,
    crossover,
    decode,
    encode,
    mutate,
    parse_arch,
    sample,
    validate,
)


def test_ops_follow_hw_nas_bench_order() -> None:
    assert OPS == ("k3_e1", "k3_e1_g2", "k3_e3", "k3_e6", "k5_e1", "k5_e1_g2", "k5_e3", "k5_e6", "skip")
    assert fbnet.OP_SPECS["k5_e1_g2"] == (5, 1, 2)
    assert fbnet.OP_SPECS["k3_e6"] == (3, 6, 1)


def test_ops_match_help_metainfo(mirror) -> None:
    meta = torch.load(mirror / "HELP/data/fbnet/metainfo.pt", weights_only=True)
    idx = np.array([entry["op_idx_list"] for entry in meta["arch"]])
    names = np.array([entry["arch_str"] for entry in meta["arch"]])
    assert meta["dataset"] == "cifar100" and meta["num_classes"] == 100
    assert np.array_equal(np.asarray(OPS)[idx], names)
    # HW-NAS-Bench allows 'skip' in the reshaping blocks too: HELP's sample uses it in every block.
    assert (idx == fbnet.SKIP).any(axis=0).all()


def test_round_trips() -> None:
    archs = sample(np.random.default_rng(0), 50)
    for ops in archs:
        assert np.array_equal(parse_arch(arch_str(ops)), ops)
        assert np.array_equal(encode(decode(ops)), ops)
    text = ",".join(["skip"] * 11 + ["k5_e1_g2"] * 11)
    assert arch_str(parse_arch(text)) == text
    assert parse_arch(" k3_e1 ," + ",".join(["k3_e6"] * 21)).dtype == np.uint8


def test_parse_errors_name_the_token_and_list_valid_ops() -> None:
    bad = ",".join(["k3_e1"] * 5 + ["k7_e1"] + ["k3_e1"] * 16)
    expected = r"unknown op 'k7_e1' at position 5; valid ops: k3_e1, k3_e1_g2, .*skip"
    with pytest.raises(ArchError, match=expected):
        parse_arch(bad)
    with pytest.raises(ArchError, match="has 22 ops, got 3"):
        parse_arch("k3_e1,k3_e1,skip")
    with pytest.raises(ArchError, match=r"0\.\.8"):
        validate(np.full(NUM_LAYERS, 9))
    with pytest.raises(ArchError, match="shape"):
        validate(np.zeros(21, dtype=int))
    with pytest.raises(ArchError, match="integers"):
        validate(np.zeros(NUM_LAYERS))


def test_layout() -> None:
    assert len(LAYOUT) == NUM_LAYERS == 22
    assert LAYOUT["input_resolution"].tolist() == [32] * 6 + [16] * 4 + [8] * 8 + [4] * 4
    assert LAYOUT["output_resolution"].tolist() == [32] * 5 + [16] * 4 + [8] * 8 + [4] * 5
    assert LAYOUT["in_channels"][0] == 16 and LAYOUT["out_channels"][-1] == 352
    assert np.array_equal(LAYOUT["in_channels"][1:], LAYOUT["out_channels"][:-1])
    assert np.flatnonzero(LAYOUT["stride"] == 2).tolist() == [5, 9, 17]
    assert np.flatnonzero(~LAYOUT["skip_identity"]).tolist() == [1, 5, 9, 13, 17, 21]
    assert LAYOUT["skip_allowed"].all()
    assert TAP_LAYERS == (4, 8, 16)


def test_sample_mutate_crossover() -> None:
    rng = np.random.default_rng(1)
    pop = sample(rng, 200)
    assert pop.shape == (200, 22) and pop.dtype == np.uint8 and pop.max() <= 8
    assert np.array_equal(sample(np.random.default_rng(3), 4), sample(np.random.default_rng(3), 4))
    assert np.array_equal(mutate(pop, rng, p=0.0), pop)
    assert abs((mutate(pop, rng, p=1.0) != pop).mean() - 8 / 9) < 0.02
    rate = (mutate(pop, rng, p=0.1) != pop).mean()
    assert 0.07 < rate < 0.13
    a, b = pop[0], pop[1]
    assert np.array_equal(crossover(a, b, rng, p=0.0), a)
    assert np.array_equal(crossover(a, b, rng, p=1.0), b)
    child = crossover(pop[:100], pop[100:], rng)
    assert ((child == pop[:100]) | (child == pop[100:])).all()
    assert 0.3 < (child == pop[100:])[pop[:100] != pop[100:]].mean() < 0.7


@pytest.mark.parametrize(
    "ops",
    [
        np.zeros(22, dtype=np.uint8),
        np.full(22, fbnet.SKIP, dtype=np.uint8),
        np.tile(np.array([1, 5], dtype=np.uint8), 11),
        np.arange(22, dtype=np.uint8) % 9,
    ],
    ids=["all_k3_e1", "all_skip", "grouped", "mixed"],
)
def test_network_shapes(ops: np.ndarray) -> None:
    torch.manual_seed(0)
    net = FBNetNetwork(ops, num_classes=100)
    logits, taps = net.forward_with_taps(torch.randn(2, 3, 32, 32))
    assert logits.shape == (2, 100)
    assert [tuple(t.shape) for t in taps] == [(2, 24, 32, 32), (2, 32, 16, 16), (2, 112, 8, 8)]
    logits.sum().backward()


def test_network_rejects_batches_of_archs() -> None:
    with pytest.raises(ArchError, match="one architecture"):
        FBNetNetwork(np.zeros((2, 22), dtype=np.uint8))

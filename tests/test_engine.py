"""The stacked engine (proxy.engine): the single path's mathematics, bit for bit on the CPU, whatever the companions."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from hwevrsnas.proxy.batch import ProxyBatch, make_proxy_batch
from hwevrsnas.proxy.determinism import pinned_threads
from hwevrsnas.proxy.engine import train_and_score_many
from hwevrsnas.proxy.presets import get_preset
from hwevrsnas.proxy.rsnas import ProxyEvaluator, build_candidate
from hwevrsnas.proxy.trainer import train_and_score
from hwevrsnas.spaces import get_space

SPACE = get_space("nb201")
# The bit-for-bit claims are about float32 (the CPU float64 scores are the same to rounding whatever the engine).
TINY = get_preset("tiny", steps=3, dtype="float32")
TINY64 = get_preset("tiny", steps=3)
MIXED = [
    "|avg_pool_3x3~0|+|avg_pool_3x3~0|avg_pool_3x3~1|+|avg_pool_3x3~0|avg_pool_3x3~1|avg_pool_3x3~2|",  # pooling only
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",  # all 3x3
    "|nor_conv_1x1~0|+|nor_conv_1x1~0|nor_conv_1x1~1|+|nor_conv_1x1~0|nor_conv_1x1~1|nor_conv_1x1~2|",  # all 1x1
    "|skip_connect~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|",  # skips only
    "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|nor_conv_3x3~1|none~2|",  # a representative
    "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|",  # its twin
    "|none~0|+|none~0|nor_conv_3x3~1|+|nor_conv_1x1~0|none~1|skip_connect~2|",  # a conv reading a zero node
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",  # NB201 arch 0
]


@pytest.fixture(autouse=True)
def one_thread():
    """Scores are defined with one intra-op thread (proxy.determinism); the evaluators pin it themselves."""
    with pinned_threads():
        yield


@pytest.fixture(scope="module")
def batch(mirror: Path) -> ProxyBatch:
    return make_proxy_batch(TINY, mirror).to("cpu", memory_format=torch.channels_last)


@pytest.fixture(scope="module")
def batch64(mirror: Path) -> ProxyBatch:
    return make_proxy_batch(TINY64, mirror).to("cpu", memory_format=torch.channels_last)


def networks(archs: list[str], preset=TINY) -> list[torch.nn.Module]:
    return [build_candidate(SPACE, SPACE.parse_arch(a), preset).to(memory_format=torch.channels_last) for a in archs]


def same(a, b) -> bool:
    return a.score == b.score and a.loss == b.loss and a.cka == b.cka and a.status == b.status


def test_the_stacked_engine_equals_the_single_path_bit_for_bit(batch: ProxyBatch) -> None:
    single = [train_and_score(net, batch, TINY) for net in networks(MIXED)]
    stacked = train_and_score_many(networks(MIXED), batch, TINY)
    assert all(same(a, b) for a, b in zip(single, stacked)), [(a.score, b.score) for a, b in zip(single, stacked)]
    assert len({r.score for r in single}) > 4  # the mix really differs


def test_a_score_does_not_depend_on_the_companions(batch: ProxyBatch) -> None:
    alone = [train_and_score_many(networks([a]), batch, TINY)[0] for a in MIXED[:4]]
    mixed = train_and_score_many(networks(MIXED[:4][::-1] + MIXED[4:]), batch, TINY)[:4][::-1]
    assert all(same(a, b) for a, b in zip(alone, mixed))


def test_the_grouped_variant_is_the_same_mathematics_in_float64(batch64: ProxyBatch) -> None:
    """The GPU variant (every convolution grouped) rounds differently; in float64 it must agree to rounding."""
    single = [train_and_score(net, batch64, TINY64) for net in networks(MIXED, TINY64)]
    grouped = train_and_score_many(networks(MIXED, TINY64), batch64, TINY64, split=False)
    gap = max(abs(a.score - b.score) for a, b in zip(single, grouped))
    assert gap < 1e-9, gap


def test_the_grouped_variant_stays_close_in_float32(batch: ProxyBatch) -> None:
    """In float32 the GPU variant rounds differently and training amplifies that, but only to rounding-noise size."""
    single = [train_and_score(net, batch, TINY) for net in networks(MIXED)]
    grouped = train_and_score_many(networks(MIXED), batch, TINY, split=False)
    assert max(abs(a.score - b.score) for a, b in zip(single, grouped)) < 2e-3
    assert [a.status for a in single] == [b.status for b in grouped]


@pytest.mark.parametrize("split", [True, False])
def test_a_nonfinite_candidate_does_not_touch_the_others(batch: ProxyBatch, split: bool) -> None:
    nets = networks(MIXED[:3])
    with torch.no_grad():
        nets[1].stem[0].weight[0, 0, 0, 0] = math.nan
    results = train_and_score_many(nets, batch, TINY, split=split)
    assert results[1].status == "nonfinite" and results[1].score == 0.0
    clean = train_and_score_many(networks([MIXED[0], MIXED[2]]), batch, TINY, split=split)
    assert same(results[0], clean[0]) and same(results[2], clean[1])


def test_both_engines_share_one_identity_and_scores_on_the_cpu(batch: ProxyBatch) -> None:
    archs = [SPACE.parse_arch(a) for a in MIXED]
    single = ProxyEvaluator("nb201", TINY, batch, engine="single")
    stacked = ProxyEvaluator("nb201", TINY, batch, engine="stacked", stack=3)
    assert single.identity() == stacked.identity() and single.identity()["engine"] == "single"
    assert all(same(a, b) for a, b in zip(single.evaluate_many(archs), stacked.evaluate_many(archs)))
    with pytest.raises(ValueError, match="nb201 only"):
        ProxyEvaluator("fbnet", TINY, batch, engine="stacked")


def aligned_evaluator(batch: ProxyBatch, stack: int) -> ProxyEvaluator:
    """A stacked evaluator that aligns its stacks as it does on a GPU (the CPU's results need no alignment)."""
    evaluator = ProxyEvaluator("nb201", TINY, batch, engine="stacked", stack=stack)
    evaluator.aligned = True
    return evaluator


def test_aligned_stacks_are_the_blocks_of_the_class_list_that_hold_the_request(batch: ProxyBatch) -> None:
    classes = SPACE.classes()
    stacks = aligned_evaluator(batch, 32).aligned_stacks([classes[40], classes[5], classes[33], classes[6465]])
    assert [len(s) for s in stacks] == [32, 32, 6466 - 6464]
    assert (stacks[0] == classes[:32]).all() and (stacks[1] == classes[32:64]).all() and (stacks[2] == classes[6464:]).all()


def test_an_aligned_score_is_the_same_whatever_else_was_asked_for(batch: ProxyBatch) -> None:
    classes = SPACE.classes()
    alone = aligned_evaluator(batch, 4)
    first = alone.evaluate(classes[9])
    assert alone.computed == 1 and len(alone.memo) == 4  # its three companions were trained and kept
    assert same(alone.evaluate(classes[10]), train_and_score_many(networks([SPACE.arch_str(c) for c in classes[8:12]]), batch, TINY)[2])
    crowd = aligned_evaluator(batch, 4)
    together = crowd.evaluate_many([classes[13], classes[9], classes[2]])
    assert same(together[1], first) and crowd.computed == 3


def test_gpu_scores_are_float32_and_their_identity_names_the_stack(batch: ProxyBatch) -> None:
    from hwevrsnas.proxy.determinism import deterministic_backend

    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    try:
        torch.backends.cudnn.allow_tf32 = True
        deterministic_backend("cuda")
        assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved
    evaluator = ProxyEvaluator("nb201", TINY, batch, engine="stacked", stack=7)
    assert "stack" not in evaluator.identity()  # on the CPU the stacked engine's scores are the single path's


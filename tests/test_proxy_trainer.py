"""The RSNAS proxy: presets, the proxy batch, single-batch training, the evaluator and its shared cache."""

from __future__ import annotations

import dataclasses
import multiprocessing
from pathlib import Path

import numpy as np
import pytest
import torch

from hwevrsnas.proxy.batch import ProxyBatch, build_proxy_batch, reference_checkpoint, select_lowest
from hwevrsnas.proxy.cache import ScoreCache, cache_key
from hwevrsnas.proxy.data import load_png_folder
from hwevrsnas.proxy.rsnas import ProxyEvaluator
from hwevrsnas.proxy.presets import PRESETS, get_preset
from hwevrsnas.proxy.reference import load_reference
from hwevrsnas.proxy.result import STATUS_DEGENERATE, STATUS_NONFINITE
from hwevrsnas.proxy.trainer import train_and_score
from hwevrsnas.spaces import nb201
from hwevrsnas.spaces.nb201_network import NB201Network

BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny convolutions on a shared 2-core machine run far faster on one thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def batch(mirror: Path) -> ProxyBatch:
    """A small proxy batch from the 200 lossless training PNGs and the pretrained ResNet-20."""
    folder = mirror / "small-cifar-10/image_data_format_1"
    images, labels = load_png_folder(folder / "train", folder / "trainLabels.csv")
    reference = load_reference(20, reference_checkpoint(mirror, "resnet20"))
    return build_proxy_batch(images, labels, reference, pool_size=64, batch_size=16, seed=0, dtype=torch.float64)


def test_presets() -> None:
    assert PRESETS["paper"].steps == 150 and PRESETS["paper"].lr == 0.1 and PRESETS["paper"].batch_size == 32
    assert (PRESETS["paper"].cka_weight, PRESETS["paper"].ce_weight) == (0.8, 0.2)
    assert dataclasses.replace(PRESETS["paper"], name="copy").digest == PRESETS["paper"].digest  # not a knob
    assert get_preset("paper", steps=10).digest != PRESETS["paper"].digest
    with pytest.raises(KeyError, match="valid presets: paper"):
        get_preset("fast")
    with pytest.raises(KeyError, match="unknown preset knob.*stepz"):
        get_preset("paper", stepz=3)
    with pytest.raises(ValueError, match="taps"):
        get_preset("paper", taps=(3,))


def test_select_lowest_breaks_ties_by_position() -> None:
    losses = np.array([0.0, 0.5, 0.0, 0.1, 0.0, 0.2])
    labels = np.array([0, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(select_lowest(losses, labels, 2, False), [0, 2])
    np.testing.assert_array_equal(select_lowest(losses, labels, 4, False), [0, 2, 3, 4])
    # Balanced: the lowest of each class first, then the lowest remaining.
    np.testing.assert_array_equal(select_lowest(losses, labels, 3, True), [0, 2, 4])
    np.testing.assert_array_equal(select_lowest(losses, labels, 2, True), [0, 4])


def test_proxy_batch_is_deterministic_and_round_trips(batch: ProxyBatch, mirror: Path, tmp_path: Path) -> None:
    assert batch.images.shape == (16, 3, 32, 32) and batch.labels.shape == (16,)
    assert [tuple(g.shape) for g in batch.ref_grams] == [(16, 16)] * 3
    assert max(batch.meta["reference_losses"]) < 1.0  # the 16 easiest of 64 for a 91.8% model
    batch.save(tmp_path / "b.pt")
    again = ProxyBatch.load(tmp_path / "b.pt")
    assert again.checksum == batch.checksum and again.meta == batch.meta
    assert not list(tmp_path.glob("*.tmp"))


def _tiny(**overrides):
    return get_preset("tiny", batch_size=16, pool_size=64, **overrides)


def test_training_is_deterministic_and_learns(batch: ProxyBatch) -> None:
    ops = np.array(nb201.arch_to_ops(BEST))
    results = []
    for steps in (0, 0, 8):
        torch.manual_seed(0)
        results.append(train_and_score(NB201Network(ops, C=8, N=1).double(), batch, _tiny(steps=steps)))
    assert results[0].score == results[1].score and results[0].cka == results[1].cka
    assert 0.0 < results[0].score < 1.0 and results[0].status == "ok"
    assert results[2].loss < results[0].loss  # 8 SGD steps on one batch lower the training loss
    assert results[2].score == pytest.approx(np.mean(results[2].cka))


def test_nonfinite_training_gives_worst_score_not_an_exception(batch: ProxyBatch) -> None:
    torch.manual_seed(0)
    model = NB201Network(nb201.arch_to_ops(BEST), C=8, N=1).double()
    result = train_and_score(model, batch, _tiny(steps=5, lr=1e300))
    assert result.status == STATUS_NONFINITE and result.score == 0.0


def test_loss_score_variant(batch: ProxyBatch) -> None:
    torch.manual_seed(0)
    result = train_and_score(NB201Network(nb201.arch_to_ops(BEST), C=8, N=1).double(), batch, _tiny(score="loss"))
    assert result.score == pytest.approx(np.exp(-result.loss))


def test_evaluator_shares_scores_between_twins_and_processes(batch: ProxyBatch, tmp_path: Path) -> None:
    preset = _tiny()
    cache = ScoreCache(tmp_path / "cache")
    evaluator = ProxyEvaluator("nb201", preset, batch, cache)
    a = np.array(nb201.arch_to_ops("|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|none~1|none~2|"))
    twin = np.array(nb201.arch_to_ops("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|none~1|none~2|"))
    assert nb201.canonical_key(a) == nb201.canonical_key(twin)
    first = evaluator.evaluate(a)
    assert not first.cached and evaluator.evaluate(twin).cached
    assert len(cache) == 1
    fresh = ProxyEvaluator("nb201", preset, batch, cache).evaluate(twin)  # another process, same disk cache
    assert fresh.cached and fresh.score == first.score and fresh.cka == first.cka
    other = ProxyEvaluator("nb201", _tiny(steps=1), batch, cache)
    assert other.key(a) != evaluator.key(a)


def test_degenerate_cells_are_not_trained(batch: ProxyBatch) -> None:
    evaluator = ProxyEvaluator("nb201", _tiny(), batch)
    result = evaluator.evaluate(np.zeros(6, dtype=np.uint8))
    assert result.status == STATUS_DEGENERATE and result.score == 0.0 and result.seconds == 0.0
    assert evaluator.computed == 1


def _writer(args: tuple[str, int]) -> None:
    root, worker = args
    cache = ScoreCache(root)
    for i in range(50):
        cache.put(cache_key(i=i % 20), {"worker": "any", "value": i % 20})


def test_cache_survives_concurrent_writers(tmp_path: Path) -> None:
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        pool.map(_writer, [(str(tmp_path), w) for w in range(4)])
    cache = ScoreCache(tmp_path)
    assert len(cache) == 20
    assert all(cache.get(cache_key(i=i))["value"] == i for i in range(20))
    assert not list(tmp_path.rglob("*.tmp"))

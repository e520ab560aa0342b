"""Zero-cost baselines: raw score functions, their invariances, the evaluator's phi and cache, NASLib golden checks."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from hwevrsnas.proxy.batch import ProxyBatch
from hwevrsnas.proxy.cache import ScoreCache
from hwevrsnas.proxy.presets import Preset
from hwevrsnas.proxy.result import STATUS_NONFINITE, STATUS_OK
from hwevrsnas.proxy import ZERO_COST_METRICS
from hwevrsnas.proxy.evaluator import REFERENCE_SEED, empirical_cdf
from hwevrsnas.proxy.zerocost import (
    SCORE_FUNCTIONS,
    ZeroCostEvaluator,
    flops,
    hooked_flops,
    naswot,
    params,
    synflow,
)
from hwevrsnas.spaces import fbnet, nb201
from hwevrsnas.spaces.fbnet_network import FBNetNetwork
from hwevrsnas.spaces.nb201_network import NB201Network

SMALL = Preset(name="zc-test", C=8, N=1)
NB201_ARCHS = [(3, 3, 3, 3, 3, 3), (2, 3, 1, 4, 3, 2), (1, 0, 3, 2, 4, 3), (4, 1, 1, 4, 1, 4)]
NASLIB_JSON = "NASLib/naslib/data/zc_nasbench201.json"
NASLIB_TO_OURS_OP = np.array([nb201.SKIP, nb201.NONE, nb201.CONV3, nb201.CONV1, nb201.AVGPOOL])
NASLIB_EDGE_ORDER = [0, 1, 3, 2, 4, 5]


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _images(n: int = 8, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 32, 32, generator=generator), torch.randint(0, 10, (n,), generator=generator)


def _small_net(ops, seed: int = 0) -> NB201Network:
    torch.manual_seed(seed)
    return NB201Network(ops, C=SMALL.C, N=SMALL.N)


@pytest.fixture(scope="module")
def batch() -> ProxyBatch:
    images, labels = _images(8)
    return ProxyBatch(images, labels, [])


def test_metric_names() -> None:
    assert ZERO_COST_METRICS == ("synflow", "naswot", "grad_norm", "snip", "params", "flops")
    assert set(SCORE_FUNCTIONS) == set(ZERO_COST_METRICS)


@pytest.mark.parametrize("metric", ZERO_COST_METRICS)
def test_every_metric_is_a_finite_float_on_nb201(metric: str) -> None:
    images, labels = _images()
    for ops in NB201_ARCHS:
        value = SCORE_FUNCTIONS[metric](_small_net(ops), images, labels)
        assert isinstance(value, float) and math.isfinite(value), (metric, ops, value)


def test_every_metric_is_a_finite_float_on_fbnet() -> None:
    images, labels = _images(4)
    ops = fbnet.sample(np.random.default_rng(1), 1)[0]
    torch.manual_seed(0)
    model = FBNetNetwork(ops, num_classes=10)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    for metric in ZERO_COST_METRICS:
        value = SCORE_FUNCTIONS[metric](model, images, labels)
        assert isinstance(value, float) and math.isfinite(value) and value > 0, (metric, value)
    # No metric changes the network: weights, BN running statistics and grads stay as they were.
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.grad is None for p in model.parameters())


def test_params_equal_analytic_count() -> None:
    for ops in NB201_ARCHS:
        assert params(_small_net(ops)) == pytest.approx(float(nb201.params_mb(ops, C=8, N=1)), abs=1e-12)
        assert params(NB201Network(ops)) == pytest.approx(float(nb201.params_mb(ops)), abs=1e-12)


def test_the_evaluator_counts_params_and_flops_without_a_network_to_the_built_networks_bits(batch: ProxyBatch) -> None:
    """A served search's #params come from `NB201Space.static_metric`: equal (==) to the built network's count, over
    isomorphism classes of every shape, and no network is built for them (their build takes no time)."""
    space = nb201.SPACE
    classes = space.classes()
    sample = classes[np.random.default_rng(0).choice(len(classes), 24, replace=False)]
    for preset in (SMALL, Preset()):
        shape = space.network_shape(preset.C, preset.N, 10)
        for metric in ("params", "flops"):
            evaluator = ZeroCostEvaluator("nb201", metric, batch, preset=preset)
            for ops in sample:
                raw = evaluator.raw_result(ops)
                built = SCORE_FUNCTIONS[metric](space.build_network(space.representative(ops), **shape), batch.images)
                assert raw.raw == built and raw.extra["build_seconds"] == 0.0, (metric, ops, raw.raw, built)


def test_flops_analytic_for_nb201_and_hooks_agree_where_every_edge_is_computed() -> None:
    images, _ = _images(2)
    for ops in NB201_ARCHS:
        model = _small_net(ops)
        expected = float(nb201.flops_m(ops, C=8, N=1))
        assert flops(model, images) == pytest.approx(expected, rel=1e-12)
        # Every conv edge of these cells feeds the output, so the hook counter sees all of them.
        assert hooked_flops(model, images) == pytest.approx(expected, rel=1e-12)


def test_synflow_ignores_the_images_and_is_deterministic() -> None:
    model = _small_net(NB201_ARCHS[1])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    first = synflow(model, *_images(8, seed=1))
    assert synflow(model, *_images(3, seed=2)) == first
    assert synflow(model, torch.zeros(1, 3, 32, 32)) == first
    assert synflow(_small_net(NB201_ARCHS[1]), *_images()) == first
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert synflow(_small_net(NB201_ARCHS[1], seed=1), *_images()) != first


def test_naswot_is_invariant_to_batch_order() -> None:
    images, labels = _images(16)
    model = _small_net(NB201_ARCHS[0])
    permutation = torch.randperm(16, generator=torch.Generator().manual_seed(3))
    # BN batch statistics are order-invariant up to float rounding, so a code may flip very rarely.
    assert naswot(model, images[permutation], labels[permutation]) == pytest.approx(naswot(model, images, labels), rel=1e-3)


def test_naswot_of_identical_inputs_is_minus_infinity() -> None:
    images, labels = _images(6)
    same = images[:1].expand(6, -1, -1, -1).contiguous()
    assert naswot(_small_net(NB201_ARCHS[0]), same, labels) == -math.inf
    # A cell whose output ignores its input makes every image look alike too.
    assert naswot(_small_net((0, 0, 0, 0, 0, 0)), images, labels) == -math.inf
    # Distinct images, live cell: K is a positive definite sum of Gram-like matrices.
    assert math.isfinite(naswot(_small_net(NB201_ARCHS[0]), images, labels))


def test_naswot_kernel_definition_on_a_tiny_network() -> None:
    # One ReLU layer, codes worked out by hand: K_ij = units - Hamming(c_i, c_j).
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.ReLU())
    x = torch.tensor([[1.0, -1.0, 2.0], [1.0, 1.0, -2.0], [-1.0, -1.0, -1.0]]).view(3, 3, 1, 1)
    kernel = np.array([[3, 1, 1], [1, 3, 1], [1, 1, 3]], dtype=float)
    assert naswot(model, x, None) == pytest.approx(np.linalg.slogdet(kernel)[1])


def test_empirical_cdf_uses_less_or_equal() -> None:
    reference = np.array([1.0, 2.0, 2.0, 3.0, -np.inf])
    assert empirical_cdf(reference, 2.0) == pytest.approx(0.8)
    assert empirical_cdf(reference, 0.0) == pytest.approx(0.2)
    assert empirical_cdf(reference, 5.0) == 1.0
    assert empirical_cdf(reference, -math.inf) == 0.0


def test_a_zero_cost_proxy_names_its_draw_unless_it_uses_none(batch: ProxyBatch) -> None:
    """A search of proxy seed k accepts a zero-cost evaluator of seed k; #params and FLOPs belong to every draw (their
    network shape comes from a seedless default preset, which must not be read as draw 0)."""
    from hwevrsnas.errors import InputError
    from hwevrsnas.search.run import _check_proxy_seed

    synflow = ZeroCostEvaluator("nb201", "synflow", batch, seed=2, preset=SMALL)
    params = ZeroCostEvaluator("nb201", "params", batch, seed=2)
    assert synflow.proxy_seed == 2 and params.proxy_seed is None and params.preset.seed == 0
    setting = type("S", (), {"proxy_seed": 2})()
    _check_proxy_seed(setting, synflow)
    _check_proxy_seed(setting, params)
    with pytest.raises(InputError, match="proxy seed is 3, the evaluator's preset has seed 2"):
        _check_proxy_seed(type("S", (), {"proxy_seed": 3})(), synflow)


def test_evaluator_scores_caches_and_ranks(batch: ProxyBatch, tmp_path: Path) -> None:
    cache = ScoreCache(tmp_path / "cache")
    evaluator = ZeroCostEvaluator("nb201", "synflow", batch, cache=cache, reference_sample=12, preset=SMALL)
    assert evaluator.name == "zc:synflow" and evaluator.space.name == "nb201"
    results = [evaluator.evaluate(np.array(ops, dtype=np.uint8)) for ops in NB201_ARCHS]
    for result in results:
        assert result.status == STATUS_OK and not result.cached
        assert 0.0 <= result.score <= 1.0
        assert result.cka == [] and math.isnan(result.loss) and result.seconds > 0
        assert result.raw is not None and math.isfinite(result.raw)
    by_raw = sorted(results, key=lambda r: r.raw)
    assert all(a.score <= b.score for a, b in zip(by_raw, by_raw[1:]))
    # The reference sample's best member has phi = 1 (fraction with raw <= its own).
    reference = evaluator.reference()
    assert len(reference) == 12 and evaluator.phi(float(reference[-1])) == 1.0
    best = evaluator.reference_ops()[int(np.argmax([evaluator.raw_result(o).raw for o in evaluator.reference_ops()]))]
    assert evaluator.evaluate(best).score == 1.0

    again = evaluator.evaluate(np.array(NB201_ARCHS[0], dtype=np.uint8))
    assert again.cached and again.score == results[0].score
    assert evaluator.key(np.array(NB201_ARCHS[0])) in cache
    # A new evaluator on the same cache reads results and the reference sample from disk.
    fresh = ZeroCostEvaluator("nb201", "synflow", batch, cache=cache, reference_sample=12, preset=SMALL)
    from_disk = fresh.evaluate(np.array(NB201_ARCHS[1], dtype=np.uint8))
    assert from_disk.cached and from_disk.score == results[1].score and from_disk.raw == results[1].raw
    assert fresh.reference_key() in cache
    np.testing.assert_array_equal(fresh.reference(), reference)
    assert not fresh._raw_memo  # nothing was recomputed


def test_evaluator_reference_sample_is_fixed_and_includes_degenerate_cells(batch: ProxyBatch) -> None:
    evaluator = ZeroCostEvaluator("nb201", "params", batch, reference_sample=200, preset=SMALL)
    ops = evaluator.reference_ops()
    np.testing.assert_array_equal(ops, nb201.sample(np.random.default_rng(REFERENCE_SEED), 200))
    assert nb201.degenerate_mask(ops).any()
    other = ZeroCostEvaluator("nb201", "params", batch, seed=5, reference_sample=200, preset=SMALL)
    np.testing.assert_array_equal(other.reference_ops(), ops)


def test_nonfinite_raw_gets_the_worst_score(batch: ProxyBatch) -> None:
    evaluator = ZeroCostEvaluator("nb201", "naswot", batch, reference_sample=6, preset=SMALL)
    result = evaluator.evaluate(np.zeros(6, dtype=np.uint8))
    assert result.status == STATUS_NONFINITE and result.score == 0.0 and result.raw == -math.inf
    assert result.to_json()["raw"] is None


def test_keys_of_static_metrics_ignore_batch_and_seed(batch: ProxyBatch) -> None:
    images, labels = _images(8, seed=9)
    other_batch = ProxyBatch(images, labels, [])
    ops = np.array(NB201_ARCHS[0], dtype=np.uint8)
    for metric in ("params", "flops"):
        a = ZeroCostEvaluator("nb201", metric, batch, seed=0, preset=SMALL)
        b = ZeroCostEvaluator("nb201", metric, other_batch, seed=7, preset=SMALL)
        assert a.key(ops) == b.key(ops)
        assert a.key(ops) != ZeroCostEvaluator("nb201", metric, batch).key(ops)  # network shape matters
    a = ZeroCostEvaluator("nb201", "synflow", batch, seed=0, preset=SMALL)
    assert a.key(ops) != ZeroCostEvaluator("nb201", "synflow", batch, seed=1, preset=SMALL).key(ops)
    assert a.key(ops) != ZeroCostEvaluator("nb201", "synflow", other_batch, seed=0, preset=SMALL).key(ops)
    # Isomorphic NB201 cells share one key.
    twin_a, twin_b = np.array([0, 0, 0, 3, 0, 0]), np.array([2, 0, 0, 3, 0, 0])
    assert nb201.canonical_key(twin_a) == nb201.canonical_key(twin_b)
    assert a.key(twin_a) == a.key(twin_b)


def test_fbnet_evaluator(batch: ProxyBatch) -> None:
    evaluator = ZeroCostEvaluator("fbnet", "params", batch, reference_sample=5)
    ops = fbnet.sample(np.random.default_rng(7), 1)[0]
    result = evaluator.evaluate(ops)
    assert result.status == STATUS_OK and 0.0 <= result.score <= 1.0 and result.raw > 0


def test_unknown_metric_and_space(batch: ProxyBatch) -> None:
    with pytest.raises(KeyError, match="valid metrics"):
        ZeroCostEvaluator("nb201", "jacov", batch)
    with pytest.raises(KeyError, match="valid spaces"):
        ZeroCostEvaluator("nb301", "params", batch)


@pytest.fixture(scope="module")
def naslib_cifar10(mirror: Path) -> list[tuple[np.ndarray, dict]]:
    entries = json.loads((mirror / NASLIB_JSON).read_text())["cifar10"]
    out = []
    for key, entry in entries.items():
        naslib = np.array(json.loads(key.replace("(", "[").replace(")", "]")))
        out.append((NASLIB_TO_OURS_OP[naslib[NASLIB_EDGE_ORDER]].astype(np.uint8), entry))
    return out


def test_params_equal_naslib_exactly(naslib_cifar10: list[tuple[np.ndarray, dict]]) -> None:
    for ops, entry in naslib_cifar10[:8]:
        assert round(params(NB201Network(ops)), 6) == entry["params"]["score"]


def test_synflow_ranks_like_naslib(naslib_cifar10: list[tuple[np.ndarray, dict]]) -> None:
    ours, theirs = [], []
    ones = torch.ones(1, 3, 32, 32)
    for ops, entry in naslib_cifar10[:30]:
        torch.manual_seed(0)
        ours.append(synflow(NB201Network(ops), ones))
        theirs.append(entry["synflow"]["score"])  # NASLib archives log(synflow)
    assert spearmanr(ours, theirs).statistic >= 0.9
    # Same init distribution, so even the values agree to within init noise.
    assert np.median(np.abs(np.log(ours) - np.array(theirs))) < 0.5


def test_a_float64_evaluator_records_its_dtype_not_its_platform_and_rounds_its_raw_value(batch: ProxyBatch) -> None:
    ops = np.array(NB201_ARCHS[0], dtype=np.uint8)
    single = ZeroCostEvaluator("nb201", "naswot", batch, seed=3, preset=SMALL)
    double = ZeroCostEvaluator("nb201", "naswot", batch, seed=3, preset=SMALL, dtype="float64")
    assert "platform" in single.identity() and "dtype" not in single.identity() and single.provenance() == {}
    assert double.identity()["dtype"] == "float64" and "platform" not in double.identity()
    assert double.provenance()["platform"] == single.identity()["platform"]
    assert single.key(ops) != double.key(ops)
    raw = double.raw_result(ops).raw
    assert raw == float(f"{raw:.10g}") and math.isfinite(raw)
    # The portable draw, not torch's: another evaluator gives the same bits, and float32 another value.
    again = ZeroCostEvaluator("nb201", "naswot", batch, seed=3, preset=SMALL, dtype="float64").raw_result(ops).raw
    assert again == raw and single.raw_result(ops).raw != raw
    # #params and FLOPs do not depend on the dtype: one identity.
    params = [ZeroCostEvaluator("nb201", "params", batch, preset=SMALL, dtype=d) for d in ("float32", "float64")]
    assert params[0].identity() == params[1].identity()

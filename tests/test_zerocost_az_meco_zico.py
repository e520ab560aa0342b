"""Further zero-cost proxies (AZ-NAS members, MeCo, ZiCo): numpy re-computations, invariances, contract, registry."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

from hwevrsnas.proxy import EXTRA_ZERO_COST_METRICS, ProxyContext, get_proxy, make_proxy
from hwevrsnas.proxy.batch import ProxyBatch
from hwevrsnas.proxy.presets import Preset
from hwevrsnas.proxy.result import STATUS_NONFINITE, STATUS_OK
from hwevrsnas.proxy.zerocost import SCORE_FUNCTIONS, ZeroCostEvaluator
from hwevrsnas.proxy.zerocost_az_meco_zico import (
    AZ_BATCH,
    EXTRA_METRICS,
    EXTRA_SCORE_FUNCTIONS,
    ExtraZeroCostEvaluator,
    az_expressivity,
    az_nas_rank_aggregate,
    az_nas_scores,
    az_progressivity,
    az_trainability,
    jacobian_sigma,
    meco,
    min_eig_correlation,
    spectral_entropy,
    trainability_term,
    zico,
)
from hwevrsnas.spaces import get_space
from hwevrsnas.spaces.nb201 import AVGPOOL, CONV1, CONV3, EDGES, NONE, SKIP
from hwevrsnas.spaces.nb201_network import NB201Network

SMALL = Preset(name="zc-extra-test", C=4, N=1)
ARCHS = [(3, 3, 3, 3, 3, 3), (2, 3, 1, 4, 3, 2), (1, 0, 3, 2, 4, 3), (4, 1, 1, 4, 1, 4)]
IDENTITY_CELL = (0, 0, 0, 1, 0, 0)  # only the skip edge 3 <- 0: the cell is the identity


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _images(n: int = 8, seed: int = 0, size: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, size, size, generator=generator), torch.randint(0, 10, (n,), generator=generator)


def _net(ops, seed: int = 0, C: int = SMALL.C, N: int = SMALL.N) -> NB201Network:
    torch.manual_seed(seed)
    return NB201Network(ops, C=C, N=N)


# -- AZ-NAS building blocks against numpy -----------------------------------------------------------


def test_spectral_entropy_equals_numpy() -> None:
    feature = torch.randn(3, 5, 4, 4, generator=torch.Generator().manual_seed(1)) * torch.arange(1, 6).view(1, 5, 1, 1)
    rows = feature.permute(0, 2, 3, 1).reshape(-1, 5).numpy().astype(np.float64)
    rows = rows - rows.mean(axis=0)
    s = np.linalg.eigvalsh(rows.T @ rows / rows.shape[0])
    p = s / s.sum()
    assert spectral_entropy(feature) == pytest.approx(float(-(p * np.log(p + 1e-8)).sum()), rel=1e-6)


def test_spectral_entropy_is_scale_and_shift_invariant_and_log_c_for_isotropic_features() -> None:
    feature = torch.randn(4, 6, 8, 8, generator=torch.Generator().manual_seed(2))
    assert spectral_entropy(7.5 * feature + 3.0) == pytest.approx(spectral_entropy(feature), abs=1e-6)
    # Whitened features: covariance = identity, so p = 1/c and the entropy is log c (up to the 1e-8).
    rows = feature.permute(0, 2, 3, 1).reshape(-1, 6).double()
    rows = rows - rows.mean(0)
    white = rows @ torch.linalg.inv(torch.linalg.cholesky(rows.T @ rows / rows.shape[0])).T
    whitened = white.reshape(4, 8, 8, 6).permute(0, 3, 1, 2)
    assert spectral_entropy(whitened) == pytest.approx(math.log(6), abs=1e-6)
    # One direction only (rank 1): entropy 0.
    rank_one = torch.randn(4, 1, 8, 8).expand(4, 6, 8, 8) * torch.arange(1.0, 7.0).view(1, 6, 1, 1)
    assert spectral_entropy(rank_one) == pytest.approx(0.0, abs=1e-6)


def test_jacobian_sigma_equals_numpy_with_and_without_downsampling() -> None:
    generator = torch.Generator().manual_seed(3)
    g_out = torch.randn(2, 6, 4, 4, generator=generator)
    g_in = torch.randn(2, 3, 4, 4, generator=generator)
    a = g_in.permute(0, 2, 3, 1).reshape(-1, 3).double().numpy()
    b = g_out.permute(0, 2, 3, 1).reshape(-1, 6).double().numpy()
    assert jacobian_sigma(g_in, g_out) == pytest.approx(np.linalg.svd(a.T @ b / 32, compute_uv=False).max(), rel=1e-9)
    # A stride-2 block: g_in (2, 3, 8, 8) is pixel-unshuffled to (2, 12, 4, 4): channel c*4 + i*2 + j holds (c, 2y+i, 2x+j).
    g_in = torch.randn(2, 3, 8, 8, generator=generator)
    unshuffled = np.empty((2, 12, 4, 4))
    for c in range(3):
        for i in range(2):
            for j in range(2):
                unshuffled[:, c * 4 + i * 2 + j] = g_in[:, c, i::2, j::2].numpy()
    a = unshuffled.transpose(0, 2, 3, 1).reshape(-1, 12)
    assert jacobian_sigma(g_in, g_out) == pytest.approx(np.linalg.svd(a.T @ b / 32, compute_uv=False).max(), rel=1e-9)


def test_trainability_term_peaks_at_one() -> None:
    assert trainability_term(1.0) == pytest.approx(0.0, abs=1e-5)
    assert trainability_term(0.5) < 0 and trainability_term(2.0) < 0
    assert trainability_term(2.0) == pytest.approx(2 - 2 - 1 / (2 + 1e-6))


def test_rank_aggregate_is_sum_of_log_normalised_ranks() -> None:
    a = np.array([1.0, 3.0, 2.0, 2.0])
    b = np.array([0.1, np.nan, 0.3, -np.inf])
    n = 4
    expected = np.log(np.array([1, 4, 2.5, 2.5]) / n) + np.log(np.array([3, 1.5, 4, 1.5]) / n)
    assert np.allclose(az_nas_rank_aggregate([a, b]), expected)
    assert np.allclose(az_nas_rank_aggregate({"a": a, "b": b}), expected)
    # Consistently high beats high on one member and low on the other, at the same rank sum.
    assert np.argmax(az_nas_rank_aggregate([np.array([1, 2, 3.0]), np.array([3, 2, 1.0])])) == 1


# -- AZ-NAS on networks -----------------------------------------------------------------------------


def test_az_nas_members_match_a_direct_recomputation() -> None:
    """Rebuild the re-initialised copy, inputs and Rademacher vectors from the same seed and recompute in numpy."""
    images, _ = _images()
    model = _net(ARCHS[1])
    torch.manual_seed(123)
    scores = az_nas_scores(model, images)
    # The generator the metric used: seeded from the global RNG state it found.
    torch.manual_seed(123)
    seed = int(torch.randint(0, 2**62, (1,)).item())
    generator = torch.Generator().manual_seed(seed)
    net = _net(ARCHS[1], seed=99)  # other initial weights: AZ-NAS re-initialises them all
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                fan_in = module.weight[0].numel()
                module.weight.copy_(torch.randn(module.weight.shape, generator=generator) * math.sqrt(2 / fan_in))
                if module.bias is not None:
                    module.bias.zero_()
    net.train()
    x = torch.randn((AZ_BATCH, *images.shape[1:]), generator=generator)

    def entropy(t: torch.Tensor) -> float:
        rows = t.detach().permute(0, 2, 3, 1).reshape(-1, t.shape[1]).double().numpy()
        s = np.linalg.eigvalsh(np.cov(rows.T, bias=True))
        p = s / s.sum()
        return float(-(p * np.log(p + 1e-8)).sum())

    feature = net.stem(x)
    entropies, terms = [entropy(feature)], []
    for layer in net.layers:
        inp = feature.detach().requires_grad_(True)
        out = layer(inp)
        g_out = (torch.randint(0, 2, out.shape, generator=generator) * 2 - 1).float()
        (g_in,) = torch.autograd.grad(out, inp, g_out)
        if g_in.shape != g_out.shape:
            g_in = nn.functional.pixel_unshuffle(g_in, 2)
        a = g_in.permute(0, 2, 3, 1).reshape(-1, g_in.shape[1]).double().numpy()
        b = g_out.permute(0, 2, 3, 1).reshape(-1, g_out.shape[1]).double().numpy()
        sigma = np.linalg.svd(a.T @ b / b.shape[0], compute_uv=False).max()
        terms.append(2 - sigma - 1 / (sigma + 1e-6))
        feature = out.detach()
        entropies.append(entropy(feature))
    assert len(entropies) == 1 + len(net.layers) == 6  # stem, cell, block, cell, block, cell
    assert scores["expressivity"] == pytest.approx(sum(entropies), rel=1e-5)
    assert scores["progressivity"] == pytest.approx(min(np.diff(entropies)), abs=1e-5)
    assert scores["trainability"] == pytest.approx(float(np.mean(terms)), rel=1e-5)


def test_az_nas_depends_on_the_images_shape_only_and_on_the_global_seed() -> None:
    images, labels = _images()
    model = _net(ARCHS[0])
    torch.manual_seed(5)
    first = az_nas_scores(model, images)
    torch.manual_seed(5)
    assert az_nas_scores(model, 3.0 * images + 1.0, labels) == first  # random inputs: image content unused
    other_init = _net(ARCHS[0], seed=7)
    torch.manual_seed(5)
    assert az_nas_scores(other_init, images) == first  # re-initialised: initial weights unused
    torch.manual_seed(6)
    assert az_nas_scores(model, images) != first
    # The global RNG is left as it was: two calls in a row agree.
    assert az_nas_scores(model, images) == az_nas_scores(model, images)


def test_az_member_functions_agree_with_the_joint_computation() -> None:
    images, labels = _images()
    model = _net(ARCHS[2])
    torch.manual_seed(0)
    joint = az_nas_scores(model, images)
    assert az_expressivity(model, images, labels) == pytest.approx(joint["expressivity"], rel=1e-12)
    assert az_progressivity(model, images, labels) == pytest.approx(joint["progressivity"], rel=1e-12)
    assert az_trainability(model, images, labels) == pytest.approx(joint["trainability"], rel=1e-12)


def test_identity_cell_has_minus_inf_trainability_and_zero_progressivity() -> None:
    images, _ = _images()
    scores = az_nas_scores(_net(IDENTITY_CELL), images)
    assert scores["trainability"] == -math.inf
    # Cells that pass their input through unchanged add no entropy; a stage transition does change it.
    assert scores["progressivity"] <= 0.0 and math.isfinite(scores["expressivity"])


def test_az_nas_needs_blocks() -> None:
    with pytest.raises(ValueError, match="stem"):
        az_expressivity(nn.Sequential(nn.Conv2d(3, 4, 3)), torch.randn(2, 3, 8, 8))


# -- MeCo -------------------------------------------------------------------------------------------


def test_min_eig_correlation_equals_numpy() -> None:
    out = torch.randn(1, 6, 5, 5, generator=torch.Generator().manual_seed(4))
    out[0, 2] = 0.0  # a constant channel: its correlations are NaN, set to 0
    rows = out[0].reshape(6, -1).double().numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.nan_to_num(np.corrcoef(rows), nan=0.0)
    assert min_eig_correlation(out) == pytest.approx(np.linalg.eigvalsh(corr).min(), abs=1e-12)
    # Per-row positive scaling and shifts do not change a correlation matrix.
    scaled = out * torch.arange(1.0, 7.0).view(1, 6, 1, 1) + 5.0
    assert min_eig_correlation(scaled) == pytest.approx(min_eig_correlation(out), abs=1e-9)
    # Vectors (pooled features, logits): one observation per row, so the term is 0.
    assert min_eig_correlation(torch.randn(1, 10)) == 0.0


class _Wrap(nn.Module):
    """A module around another (their ReLUConvBN/POOLING/stem wrappers around the same computation)."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.op = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class _Identity(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class _Zero(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


class _SearchCell(nn.Module):
    """The MeCo authors' NB201 cell: one module per edge (Zero/Identity/ReLUConvBN/POOLING), every edge run."""

    def __init__(self, cell: nn.Module) -> None:
        super().__init__()
        options = []
        for edge, op in enumerate(cell.ops):
            if op == NONE:
                options.append(_Zero())
            elif op == SKIP:
                options.append(_Identity())
            else:
                options.append(_Wrap(cell.edges[str(edge)]))
        self.options = nn.ModuleList(options)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for node in (1, 2, 3):
            nodes.append(sum(self.options[e](nodes[src]) for e, (dst, src) in enumerate(EDGES) if dst == node))
        return nodes[3]


class _Reduction(nn.Module):
    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        self.residual = block.downsample
        self.conv_a, self.conv_b = _Wrap(block.conv_a), _Wrap(block.conv_b)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.residual(x) + self.conv_b(self.conv_a(x))


class _Top(nn.Module):
    def __init__(self, model: NB201Network) -> None:
        super().__init__()
        self.lastact, self.global_pooling = model.lastact, model.pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.global_pooling(self.lastact(x)).flatten(1)


class _AuthorsNB201(nn.Module):
    """The module tree of MeCo's NAS201Model, sharing the weights of one of our networks."""

    def __init__(self, model: NB201Network, N: int) -> None:
        super().__init__()
        self.stem = _Wrap(model.stem)
        layers = list(model.layers)
        self.stack_cell1 = nn.Sequential(*[_SearchCell(c) for c in layers[:N]])
        self.reduction1 = _Reduction(layers[N])
        self.stack_cell2 = nn.Sequential(*[_SearchCell(c) for c in layers[N + 1 : 2 * N + 1]])
        self.reduction2 = _Reduction(layers[2 * N + 1])
        self.stack_cell3 = nn.Sequential(*[_SearchCell(c) for c in layers[2 * N + 2 :]])
        self.top = _Top(model)
        self.classifier = model.classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.reduction1(self.stack_cell1(self.stem(x)))
        x = self.stack_cell3(self.reduction2(self.stack_cell2(x)))
        return self.classifier(self.top(x))


def _meco_every_module(net: nn.Module, image: torch.Tensor) -> float:
    """MeCo exactly as the authors' code: a hook on every module, the term of data_output[0], numpy eig."""
    total = []

    def hook(module: nn.Module, inputs: object, output: torch.Tensor) -> None:
        fea = output[0].detach().double().numpy()
        fea = fea.reshape(fea.shape[0], -1)
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = np.corrcoef(fea) if fea.shape[1] > 1 else np.full((fea.shape[0],) * 2, np.nan)
        corr[~np.isfinite(corr)] = 0
        total.append(float(np.min(np.real(np.linalg.eig(corr)[0]))))

    handles = [m.register_forward_hook(hook) for m in net.modules()]
    net.train()
    with torch.no_grad():
        net(image)
    for handle in handles:
        handle.remove()
    return float(np.sum(total))


@pytest.mark.parametrize("ops", [ARCHS[1], ARCHS[2], ARCHS[3], (1, 1, 1, 1, 1, 1), IDENTITY_CELL])
def test_meco_on_nb201_equals_the_authors_module_tree(ops) -> None:
    images, _ = _images(2, size=16)
    model = _net(ops, C=4, N=2)
    expected = _meco_every_module(_AuthorsNB201(model, N=2), images[:1])
    assert meco(model, images) == pytest.approx(expected, rel=1e-7, abs=1e-7)


def test_meco_uses_only_the_first_image_and_is_deterministic() -> None:
    images, labels = _images(4)
    model = _net(ARCHS[1])
    value = meco(model, images, labels)
    other = images.clone()
    other[1:] = torch.randn_like(other[1:])
    assert meco(model, other) == value == meco(model, images[:1])


def test_meco_on_a_generic_network_hooks_every_module() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 5, 3, padding=1), nn.ReLU(), nn.Conv2d(5, 4, 1))
    image = torch.randn(1, 3, 6, 6)
    assert meco(net, image) == pytest.approx(_meco_every_module(net, image), rel=1e-9)


# -- ZiCo -------------------------------------------------------------------------------------------


def test_zico_equals_numpy_formula() -> None:
    images, labels = _images(8)
    model = _net(ARCHS[1])
    value = zico(model, images, labels)
    grads = []
    for half in (slice(0, 4), slice(4, 8)):
        net = _net(ARCHS[1])
        net.train()
        nn.functional.cross_entropy(net(images[half]), labels[half]).backward()
        grads.append([m.weight.grad.double().numpy().ravel() for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))])
    expected = 0.0
    for g1, g2 in zip(*grads):
        # Two batches: mean |g| / std(g) = (|g1| + |g2|) / |g1 - g2|.
        diff = np.abs(g1 - g2)
        keep = diff != 0
        ratio = ((np.abs(g1) + np.abs(g2))[keep] / diff[keep]).sum()
        expected += np.log(ratio) if ratio else 0.0
    assert value == pytest.approx(expected, rel=1e-6)


# -- the contract of zerocost.py --------------------------------------------------------------------


@pytest.mark.parametrize("metric", EXTRA_METRICS)
def test_every_metric_leaves_the_model_unchanged(metric: str) -> None:
    images, labels = _images()
    model = _net(ARCHS[1])
    model.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng_before = torch.get_rng_state()
    value = EXTRA_SCORE_FUNCTIONS[metric](model, images, labels)
    assert isinstance(value, float) and math.isfinite(value)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.grad is None for p in model.parameters())
    assert not model.training and not any(m.training for m in model.modules())
    assert torch.equal(torch.get_rng_state(), rng_before)
    assert EXTRA_SCORE_FUNCTIONS[metric](model, images, labels) == value  # deterministic


# -- evaluator and registry -------------------------------------------------------------------------


def test_registry_names_match_the_module_and_leave_zerocost_untouched() -> None:
    assert EXTRA_ZERO_COST_METRICS == EXTRA_METRICS
    assert not set(EXTRA_METRICS) & set(SCORE_FUNCTIONS)
    for metric in EXTRA_METRICS:
        assert get_proxy(f"zc:{metric}").factory == "hwevrsnas.proxy.zerocost_az_meco_zico:zero_cost_extra"


@pytest.fixture(scope="module")
def batch() -> ProxyBatch:
    images, labels = _images(8, size=32)
    return ProxyBatch(images, labels, [])


def test_make_proxy_builds_the_extra_evaluator(batch: ProxyBatch) -> None:
    context = ProxyContext("nb201", Preset(seed=3), lambda: batch)
    evaluator = make_proxy("zc:meco", context)
    assert isinstance(evaluator, ExtraZeroCostEvaluator) and isinstance(evaluator, ZeroCostEvaluator)
    assert evaluator.name == "zc:meco" and evaluator.seed == 3
    assert (evaluator.preset.C, evaluator.preset.N) == (16, 5)
    identity = evaluator.identity()
    assert identity["metric"] == "meco" and identity["seed"] == 3 and "batch" in identity
    assert identity["definition"].startswith("zerocost_extra/")


def test_evaluator_raw_score_is_the_seeded_representatives(batch: ProxyBatch) -> None:
    evaluator = ExtraZeroCostEvaluator("nb201", "az_trainability", batch, seed=2, preset=SMALL)
    ops = np.array(ARCHS[1], dtype=np.uint8)
    result = evaluator.raw_result(ops)
    assert result.status == STATUS_OK and result.extra["metric"] == "az_trainability"
    torch.manual_seed(2)
    model = NB201Network(evaluator.space.representative(ops), C=SMALL.C, N=SMALL.N)
    assert result.raw == az_trainability(model, batch.images, batch.labels)
    assert evaluator.raw_result(IDENTITY_CELL).status == STATUS_NONFINITE  # -inf trainability
    # Other metric, same class: other identity, so no shared cache key.
    other = ExtraZeroCostEvaluator("nb201", "meco", batch, seed=2, preset=SMALL)
    assert other.key(ops) != evaluator.key(ops)


def test_unknown_extra_metric_is_rejected(batch: ProxyBatch) -> None:
    with pytest.raises(KeyError, match="az_expressivity"):
        ExtraZeroCostEvaluator("nb201", "synflow", batch)


def test_az_nas_aggregate_ranks_the_consistent_architecture_first() -> None:
    # Sanity check of direction on real members: FLOPs and the three scores, all "higher is better".
    members = {"flops": np.array([10.0, 20, 30]), "e": np.array([1.0, 3, 2]), "p": np.array([0.0, 2, 1]), "t": np.array([-1.0, 0, -2])}
    aggregate = az_nas_rank_aggregate(members)
    assert int(np.argmax(aggregate)) == 1
    assert stats.rankdata(aggregate).tolist() == [1.0, 3.0, 2.0]


def test_archs_use_every_op() -> None:
    used = {op for ops in ARCHS for op in ops}
    assert {NONE, SKIP, CONV1, CONV3, AVGPOOL} <= used


@pytest.mark.parametrize("order", [("az_expressivity", "az_trainability", "az_progressivity"),
                                   ("az_progressivity", "az_expressivity", "az_trainability")])  # fmt: skip
def test_shared_pass_values_equal_separate_computations_bit_for_bit(batch: ProxyBatch, order, monkeypatch) -> None:
    """The AZ-NAS members, and grad_norm and snip, are each one pass: whichever member an evaluator asks first, each
    value equals its own function's on a freshly seeded network, and the pass runs once per class."""
    from hwevrsnas.proxy import zerocost, zerocost_az_meco_zico

    calls = []

    def counted(function):
        def run(model, images, labels):
            calls.append(function.__name__)
            return function(model, images, labels)

        run.__qualname__ = f"counted-{function.__name__}-{order[0]}"  # a memo of its own for each parametrisation
        return run

    az_pass, gradient_pass = counted(zerocost_az_meco_zico.az_nas_members), counted(zerocost.loss_gradient_scores)
    monkeypatch.setattr(ExtraZeroCostEvaluator, "shared_passes", dict.fromkeys(ExtraZeroCostEvaluator.shared_passes, az_pass))
    monkeypatch.setattr(ZeroCostEvaluator, "shared_passes", dict.fromkeys(("grad_norm", "snip"), gradient_pass))
    metrics = [*order, *(("snip", "grad_norm") if order[0] == "az_expressivity" else ("grad_norm", "snip"))]
    for ops in ARCHS[:3]:
        ops = np.array(ops, dtype=np.uint8)
        for metric in metrics:
            kind = ExtraZeroCostEvaluator if metric.startswith("az_") else ZeroCostEvaluator
            raw = kind("nb201", metric, batch, seed=1, preset=SMALL).raw_result(ops).raw
            torch.manual_seed(1)
            model = NB201Network(get_space("nb201").representative(ops), C=SMALL.C, N=SMALL.N)
            function = EXTRA_SCORE_FUNCTIONS.get(metric) or SCORE_FUNCTIONS[metric]
            assert raw == function(model, batch.images, batch.labels), metric
    assert calls.count("az_nas_members") == 3 and calls.count("loss_gradient_scores") == 3


def test_float64_az_nas_draws_never_use_torchs_normal_kernel(batch: ProxyBatch, monkeypatch) -> None:
    """torch's CPU normal kernel rounds differently under each vector ISA: in float64 AZ-NAS draws from numpy."""
    from hwevrsnas.proxy import zerocost

    ops = np.array(ARCHS[1], dtype=np.uint8)
    single = ExtraZeroCostEvaluator("nb201", "az_expressivity", batch, seed=2, preset=SMALL).raw_result(ops).raw

    def refuse(*args, **kwargs):
        raise AssertionError("torch.randn in a float64 zero-cost proxy")

    monkeypatch.setattr(torch, "randn", refuse)
    values = []
    for _ in range(2):
        monkeypatch.setattr(zerocost, "_PASS_MEMO", {})  # computed afresh each time
        double = ExtraZeroCostEvaluator("nb201", "az_expressivity", batch, seed=2, preset=SMALL, dtype="float64")
        values.append(double.raw_result(ops).raw)
    assert values[0] == values[1] and math.isfinite(values[0]) and values[0] != single
    assert double.identity()["dtype"] == "float64" and "platform" not in double.identity()

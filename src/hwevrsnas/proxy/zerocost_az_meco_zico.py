"""Further zero-cost proxies: AZ-NAS's expressivity, progressivity and trainability, MeCo and ZiCo.

Same contract as `proxy.zerocost`: each raw score is a function ``(model, images, labels) -> float``,
higher means "predicted better", and the model is left as it was found (weights, BN running
statistics, ``.grad`` and the global torch RNG). Written from the papers' definitions; where a paper
leaves a detail open, the authors' public code decided it (docs/ZEROCOST.md lists every choice).

AZ-NAS (Lee & Ham, CVPR 2024). A copy of the network is re-initialised (Kaiming normal, fan-in, ReLU
gain; BN weight 1, bias 0), put in train mode (BN with batch statistics), and fed a batch of
``AZ_BATCH`` = 64 standard-normal images of the proxy images' shape (random inputs, not the proxy
images: the authors use real images only for their re-implemented baselines). The features are the
stem's output and the output of every block of ``model.layers`` (for NB201: every cell and both
ResNet stage transitions, 3N + 3 features).

- ``az_expressivity``: for each feature F (b, c, h, w), the c x c covariance of its b*h*w
  c-dimensional vectors (centred, divided by b*h*w), its eigenvalues s, p = s / sum(s), and the
  entropy e(F) = -sum p log(p + 1e-8); the score is the sum of e over the features.
- ``az_progressivity``: the smallest increase of that entropy from one feature to the next,
  min_i (e(F_i) - e(F_{i-1})).
- ``az_trainability``: for each block (F_in -> F_out), a Rademacher (+-1) vector g_out of F_out's shape,
  g_in = J^T g_out (the block's vector-Jacobian product); where the resolution halves, g_in is
  pixel-unshuffled to F_out's resolution. M = G_in^T G_out / (b*h*w) over the b*h*w positions and
  sigma its largest singular value; the block scores 2 - sigma - 1/(sigma + 1e-6) (0 at sigma = 1, the
  ideal of an orthogonal Jacobian). A block whose g_in equals g_out exactly (an identity cell) scores
  -inf, as in the authors' code. The score is the mean over blocks.
- The fourth member, complexity, is FLOPs (``zc:flops``). AZ-NAS ranks each of the four over the
  architectures scored and sums log(rank / n): `az_nas_rank_aggregate`.

MeCo (Jiang et al., NeurIPS 2023): one image (the first of the batch), the network in train mode,
a forward hook on every module; for each module output T of that single image, viewed as
(rows = T's first dimension after the batch, columns = the rest), the Pearson correlation matrix of
the rows (NaN/inf entries set to 0) and its smallest eigenvalue; the score is the sum over hooked
module calls. For an `NB201Network` the hooks reproduce the module tree of the NB201 network the
authors scored (their `NAS201Model`): a module call of theirs with no counterpart here is counted
with a weight (the cell conv edges' ReLUConvBN wrapper, POOLING wrappers, the stem wrapper, the
per-stage nn.Sequential of cells), and a skip edge (their `Identity` module) adds the term of the
node it reads.

ZiCo (Li et al., ICLR 2023): the images are split into ``ZICO_SPLITS`` = 2 equal batches; for each
batch the gradient of the mean cross-entropy with respect to every conv/linear weight (train mode).
Per layer, over the weights whose gradient varies between batches: sum of mean|g| / std(g) (std
with ddof 0, across the batches); the score is the sum over layers of the log of that sum (layers
where it is 0 or that get no gradient are skipped).

`ExtraZeroCostEvaluator` is `zerocost.ZeroCostEvaluator` for these metrics (same raw scores of the
seeded class representative, same reference-CDF phi); the registry builds it through
`zero_cost_extra` (`make_proxy("zc:meco", context)`).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from hwevrsnas.errors import InputError, UnknownName
from hwevrsnas.proxy.presets import Preset
from hwevrsnas.proxy.zerocost import ZeroCostEvaluator, _preserved, _weighted_layers
from hwevrsnas.spaces.nb201 import CONV_KERNEL, SKIP
from hwevrsnas.spaces.nb201_network import NB201Cell, NB201Network, ResNetBasicBlock

# AZ-NAS: batch of random inputs (the authors' loader batch size on NB201), entropy and SVD epsilons.
AZ_BATCH = 64
AZ_ENTROPY_EPS = 1e-8
AZ_SIGMA_EPS = 1e-6
AZ_MEMBERS = ("expressivity", "progressivity", "trainability")
# ZiCo: number of batches the images are split into (the authors' `batch_iter`).
ZICO_SPLITS = 2
# Part of every extra metric's score identity: bump it when a definition changes, so cached scores are not reused.
DEFINITION_VERSION = 1

_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.GroupNorm)


# -- shared helpers ---------------------------------------------------------------------------------


def _generator() -> torch.Generator:
    """A CPU generator seeded from the global torch RNG, which is left as it was.

    Under `ZeroCostEvaluator` the global RNG was seeded with the evaluator's seed right before the
    network was built, so the draws are a function of (seed, architecture), and calling a metric
    twice in a row gives the same value.
    """
    with torch.random.fork_rng(devices=[]):
        seed = int(torch.randint(0, 2**62, (1,)).item())
    return torch.Generator().manual_seed(seed)


def _normal(shape: Any, generator: torch.Generator, dtype: torch.dtype) -> torch.Tensor:
    """Standard normal draws: torch's in float32 (as AZ-NAS draws them); in float64 numpy's from a seed the
    generator gives, because torch's CPU normal kernel rounds differently under each vector ISA."""
    if dtype != torch.float64:
        return torch.randn(shape, generator=generator, dtype=torch.float32)
    seed = int(torch.randint(0, 2**62, (1,), generator=generator).item())
    return torch.from_numpy(np.random.default_rng(seed).standard_normal(tuple(shape)))


def _kaiming_normal_fan_in(net: nn.Module, generator: torch.Generator) -> None:
    """AZ-NAS's re-initialisation: conv/linear weights N(0, 2 / fan_in), biases 0, norm layers weight 1, bias 0."""
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                weight = module.weight
                std = math.sqrt(2.0 / weight[0].numel())  # fan_in = in_channels / groups * kernel area
                draw = _normal(weight.shape, generator, weight.dtype) * std
                weight.copy_(draw.to(dtype=weight.dtype, device=weight.device))
                if module.bias is not None:
                    module.bias.zero_()
            elif isinstance(module, _NORMS) and module.affine:
                module.weight.fill_(1.0)
                module.bias.zero_()


def _blocks(model: nn.Module) -> tuple[nn.Module, Sequence[nn.Module]]:
    if not (hasattr(model, "stem") and isinstance(getattr(model, "layers", None), nn.ModuleList)):
        raise InputError(
            f"AZ-NAS needs a network with a `stem` and a `layers` ModuleList of blocks applied in order "
            f"(as NB201Network); got {type(model).__name__}"
        )
    return model.stem, model.layers


def _rows(feature: Tensor) -> Tensor:
    """(b, c, h, w) -> (b*h*w, c) in float64; (b, c) stays (b, c)."""
    if feature.dim() == 4:
        return feature.detach().permute(0, 2, 3, 1).reshape(-1, feature.shape[1]).double()
    return feature.detach().reshape(feature.shape[0], -1).double()


def spectral_entropy(feature: Tensor) -> float:
    """AZ-NAS's per-feature expressivity: entropy of the normalised eigenvalues of the channel covariance."""
    rows = _rows(feature)
    rows = rows - rows.mean(dim=0, keepdim=True)
    sigma = rows.T @ rows / rows.shape[0]
    s = torch.linalg.eigvalsh(sigma)
    p = s / s.sum()
    return float(-(p * torch.log(p + AZ_ENTROPY_EPS)).sum())


def jacobian_sigma(g_in: Tensor, g_out: Tensor) -> float:
    """Largest singular value of AZ-NAS's sampled Jacobian estimate G_in^T G_out / positions."""
    if g_in.dim() == 4 and g_in.shape[-2:] != g_out.shape[-2:]:
        stride = g_in.shape[-1] // g_out.shape[-1]
        if stride * g_out.shape[-1] != g_in.shape[-1] or stride * g_out.shape[-2] != g_in.shape[-2]:
            raise InputError(f"cannot align gradients of shapes {tuple(g_in.shape)} and {tuple(g_out.shape)}")
        g_in = F.pixel_unshuffle(g_in, stride)
    rows_in, rows_out = _rows(g_in), _rows(g_out)
    matrix = rows_in.T @ rows_out / rows_out.shape[0]
    return float(torch.linalg.matrix_norm(matrix, ord=2))


def trainability_term(sigma: float) -> float:
    """2 - sigma - 1 / (sigma + 1e-6): 0 at sigma = 1, negative elsewhere."""
    return 2.0 - sigma - 1.0 / (sigma + AZ_SIGMA_EPS)


def az_nas_scores(
    model: nn.Module,
    images: Tensor,
    labels: Tensor | None = None,
    members: Sequence[str] = AZ_MEMBERS,
    batch_size: int = AZ_BATCH,
) -> dict[str, float]:
    """AZ-NAS's expressivity, progressivity and trainability of one network (a dict; -inf where undefined).

    One re-initialised copy, one batch of `batch_size` random normal inputs of the images' shape;
    the trainability pass is skipped unless asked for. The random draws come from a generator
    seeded from the global torch RNG (see `_generator`), in this order: weights, inputs, then one
    Rademacher vector per block in forward order.
    """
    unknown = sorted(set(members) - set(AZ_MEMBERS))
    if unknown:
        raise UnknownName(f"unknown AZ-NAS member(s) {unknown}; valid: {', '.join(AZ_MEMBERS)}")
    want_train = "trainability" in members
    generator = _generator()
    net = copy.deepcopy(model)
    _kaiming_normal_fan_in(net, generator)
    net.train()
    for parameter in net.parameters():
        parameter.requires_grad_(False)  # only input gradients are needed
    stem, layers = _blocks(net)
    shape = (batch_size, *images.shape[1:])
    x = _normal(shape, generator, images.dtype).to(device=images.device, dtype=images.dtype)

    entropies: list[float] = []
    terms: list[float] = []
    with torch.no_grad():
        feature = stem(x)
    entropies.append(spectral_entropy(feature))
    for layer in layers:
        if want_train:
            block_in = feature.detach().requires_grad_(True)
            with torch.enable_grad():
                block_out = layer(block_in)
            g_out = (torch.randint(0, 2, block_out.shape, generator=generator) * 2 - 1).to(block_out)
            g_in = None
            if block_out.requires_grad:
                (g_in,) = torch.autograd.grad(block_out, block_in, g_out, allow_unused=True)
            if g_in is None:  # the block's output does not depend on its input (a cell without a path)
                g_in = torch.zeros_like(block_in)
            if g_in.shape == g_out.shape and torch.equal(g_in, g_out):
                terms.append(-math.inf)  # an identity block
            else:
                terms.append(trainability_term(jacobian_sigma(g_in.detach(), g_out)))
            feature = block_out.detach()
        else:
            with torch.no_grad():
                feature = layer(feature)
        entropies.append(spectral_entropy(feature))

    e = np.asarray(entropies, dtype=np.float64)
    out = {
        "expressivity": float(np.sum(e)),
        "progressivity": float(np.min(np.diff(e))) if len(e) > 1 else math.nan,
    }
    if want_train:
        out["trainability"] = float(np.mean(terms)) if terms else math.nan
    return {k: (-math.inf if math.isnan(v) else v) for k, v in out.items() if k in members}


def az_expressivity(model: nn.Module, images: Tensor, labels: Tensor | None = None) -> float:
    """AZ-NAS expressivity: sum over stem and block outputs of the channel-covariance eigenvalue entropy."""
    return az_nas_scores(model, images, labels, members=("expressivity",))["expressivity"]


def az_progressivity(model: nn.Module, images: Tensor, labels: Tensor | None = None) -> float:
    """AZ-NAS progressivity: the smallest entropy increase from one block's output to the next."""
    return az_nas_scores(model, images, labels, members=("progressivity",))["progressivity"]


def az_trainability(model: nn.Module, images: Tensor, labels: Tensor | None = None) -> float:
    """AZ-NAS trainability: mean over blocks of 2 - sigma - 1/sigma, sigma the sampled Jacobian's spectral norm."""
    return az_nas_scores(model, images, labels, members=("trainability",))["trainability"]


def az_nas_members(model: nn.Module, images: Tensor, labels: Tensor | None = None) -> dict[str, float]:
    """The three AZ-NAS members from one pass (each equal to its own function's value)."""
    return {f"az_{member}": value for member, value in az_nas_scores(model, images, labels).items()}


def az_nas_rank_aggregate(columns: Sequence[np.ndarray] | dict[str, np.ndarray]) -> np.ndarray:
    """AZ-NAS's non-linear rank aggregation: sum over members of log(rank / n), ranks ascending (ties averaged).

    Every member is "higher is better" (complexity = FLOPs included, as in AZ-NAS). NaN counts as
    -inf (the lowest rank). The result is higher for architectures ranked high by every member.
    """
    arrays = list(columns.values()) if isinstance(columns, dict) else list(columns)
    if not arrays:
        raise InputError("no member scores to aggregate")
    from scipy import stats

    n = len(arrays[0])
    total = np.zeros(n, dtype=np.float64)
    for values in arrays:
        values = np.asarray(values, dtype=np.float64)
        if values.shape != (n,):
            raise InputError(f"member scores must all have shape ({n},), got {values.shape}")
        values = np.where(np.isnan(values), -np.inf, values)
        total += np.log(stats.rankdata(values) / n)
    return total


# -- MeCo -------------------------------------------------------------------------------------------


def min_eig_correlation(output: Tensor) -> float:
    """MeCo's term of one module output of a batch of one: smallest eigenvalue of the row correlation matrix.

    The first sample is viewed as (its first dimension, the rest); rows with no variance give NaN
    correlations, which are set to 0 (as in the authors' code).
    """
    sample = output.detach()[0]
    rows = sample.reshape(sample.shape[0], -1).double() if sample.dim() else sample.reshape(1, 1).double()
    if rows.shape[0] < 2:
        return 0.0  # a 1 x 1 "matrix": nothing to correlate (the authors' eig would fail here)
    if rows.shape[1] < 2:
        return 0.0  # one observation per row: every correlation is NaN, set to 0, so the matrix is 0
    corr = torch.nan_to_num(torch.corrcoef(rows), nan=0.0, posinf=0.0, neginf=0.0)
    return float(torch.linalg.eigvalsh(corr)[0])


def _nb201_meco_weights(model: NB201Network) -> dict[nn.Module, int]:
    """How many hooked module calls of the authors' NAS201Model each module call here stands for."""
    weights: dict[nn.Module, int] = {model.stem: 2}  # their `stem` module and its `net` Sequential
    layers = list(model.layers)
    for index, layer in enumerate(layers):
        if isinstance(layer, NB201Cell):
            last_in_stage = index + 1 == len(layers) or not isinstance(layers[index + 1], NB201Cell)
            weights[layer] = 2 if last_in_stage else 1  # + their per-stage nn.Sequential of cells
            for edge in layer.edges.values():
                # conv: ReLUConvBN + its `op` Sequential; pool: POOLING + its AvgPool2d
                weights[edge] = 2
        elif isinstance(layer, ResNetBasicBlock):
            weights[layer.conv_a] = 2
            weights[layer.conv_b] = 2
    return weights


def meco(model: nn.Module, images: Tensor, labels: Tensor | None = None) -> float:
    """MeCo: sum over hooked module calls of the smallest eigenvalue of the output's channel correlation (one image)."""
    weights = _nb201_meco_weights(model) if isinstance(model, NB201Network) else {}
    total = [0.0]
    cell_inputs: dict[nn.Module, Tensor] = {}
    edge_outputs: dict[nn.Module, Tensor] = {}

    def hook(module: nn.Module, inputs: Any, output: Any) -> None:
        if isinstance(output, Tensor):
            total[0] += weights.get(module, 1) * min_eig_correlation(output)
            if isinstance(model, NB201Network) and module in edge_modules:
                edge_outputs[module] = output.detach()
            if isinstance(module, NB201Cell):
                total[0] += _skip_terms(module, cell_inputs.pop(module), output, edge_outputs)

    def pre_hook(module: nn.Module, inputs: Any) -> None:
        cell_inputs[module] = inputs[0].detach()

    edge_modules = set()
    handles = []
    for module in model.modules():
        handles.append(module.register_forward_hook(hook))
        if isinstance(module, NB201Cell):
            handles.append(module.register_forward_pre_hook(pre_hook))
            edge_modules.update(module.edges.values())
    try:
        with _preserved(model, train=True), torch.no_grad():
            model(images[:1])
    finally:
        for handle in handles:
            handle.remove()
    return float(total[0])


def _skip_terms(cell: NB201Cell, x: Tensor, output: Tensor, edge_outputs: dict[nn.Module, Tensor]) -> float:
    """MeCo terms of a cell's skip edges (their Identity modules): the term of each node a skip edge reads.

    The nodes are rebuilt from the cell's input and its edge modules' outputs in the cell's own order,
    and checked against the cell's output.
    """
    nodes: list[Tensor | None] = [x, None, None, None]
    terms = 0.0
    for dst, src, op, key in cell._plan:  # noqa: SLF001 - the plan NB201Cell.forward follows
        if nodes[src] is None and op not in CONV_KERNEL:
            continue  # reads a zero node: their Identity/POOLING output is zero, a 0 term
        if op == SKIP:
            term = nodes[src]
            terms += min_eig_correlation(term)
        else:
            term = edge_outputs.pop(cell.edges[key])
        nodes[dst] = term if nodes[dst] is None else nodes[dst] + term
    rebuilt = torch.zeros_like(x) if nodes[3] is None else nodes[3]
    if not torch.equal(rebuilt, output.detach()):
        raise RuntimeError("MeCo: the rebuilt NB201 cell output differs from the cell's own output")
    return terms


# -- ZiCo -------------------------------------------------------------------------------------------


def zico(model: nn.Module, images: Tensor, labels: Tensor) -> float:
    """ZiCo: sum over conv/linear layers of log(sum over weights of mean|g| / std(g)), g across ZICO_SPLITS batches."""
    n = images.shape[0]
    if n < ZICO_SPLITS:
        raise InputError(f"ZiCo needs at least {ZICO_SPLITS} images, got {n}")
    bounds = np.linspace(0, n, ZICO_SPLITS + 1).astype(int)
    per_layer: list[list[Tensor]] = []
    with _preserved(model, train=True):
        weights = [layer.weight for layer in _weighted_layers(model)]
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            loss = F.cross_entropy(model(images[lo:hi]), labels[lo:hi])
            grads = torch.autograd.grad(loss, weights, allow_unused=True)
            for position, grad in enumerate(grads):
                if lo == 0:
                    per_layer.append([])
                if grad is not None:
                    per_layer[position].append(grad.detach().reshape(-1).double())
    score = 0.0
    for grads in per_layer:
        if len(grads) != ZICO_SPLITS:
            continue  # no gradient reached this layer (unused module)
        stacked = torch.stack(grads)
        std = stacked.std(dim=0, unbiased=False)
        nonzero = std != 0
        ratio_sum = float((stacked.abs().mean(dim=0)[nonzero] / std[nonzero]).sum())
        if ratio_sum != 0.0:
            score += math.log(ratio_sum)
    return float(score)


EXTRA_SCORE_FUNCTIONS: dict[str, Callable[[nn.Module, Tensor, Tensor], float]] = {
    "az_expressivity": az_expressivity,
    "az_progressivity": az_progressivity,
    "az_trainability": az_trainability,
    "meco": meco,
    "zico": zico,
}
EXTRA_METRICS: tuple[str, ...] = tuple(EXTRA_SCORE_FUNCTIONS)
# The metrics of `proxy.zerocost` AZ-NAS's four-member rank aggregation uses, in its order.
AZ_NAS_PROXIES: tuple[str, ...] = ("zc:flops", "zc:az_expressivity", "zc:az_progressivity", "zc:az_trainability")

class ExtraZeroCostEvaluator(ZeroCostEvaluator):
    """`ZeroCostEvaluator` for the metrics of this module (same seeded representative, same reference-CDF phi)."""

    score_functions = EXTRA_SCORE_FUNCTIONS
    shared_passes = {f"az_{member}": az_nas_members for member in AZ_MEMBERS}
    # The module was once proxy/zerocost_extra.py: the name stays in the identity so that stored scores stay valid.
    definition = f"zerocost_extra/{DEFINITION_VERSION}"


def zero_cost_extra(metric: str, context: Any) -> ExtraZeroCostEvaluator:
    """Registry factory (like `factories.zero_cost`): the benchmark's own network (C=16, N=5), the context's batch and seed."""
    return ExtraZeroCostEvaluator(
        context.space, metric, context.batch, context.cache, seed=context.preset.seed, preset=Preset(),
        device=context.device, dtype=context.preset.dtype,
    )  # fmt: skip

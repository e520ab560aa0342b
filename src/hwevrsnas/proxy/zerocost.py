"""Zero-cost baselines under the same interface as the representation-similarity proxy.

Raw score functions, each ``(model, images, labels) -> float``, written from the papers'
definitions; higher means "predicted better" for every one of them:

- ``synflow`` (Tanaka et al. 2020, as used for NAS by Abdelfattah et al. 2021): on a double-precision
  copy of the network whose every parameter and buffer is replaced by its absolute value, feed one
  all-ones input of the images' shape, take R = sum of the outputs and return
  sum over conv/linear weights of |theta * dR/dtheta|.
  **BN choice**: batch normalisation is bypassed (every BatchNorm module becomes the identity), the
  convention of the zero-cost NAS code (its ``synflow`` measure, as opposed to ``synflow_bn``):
  train-mode BN on a single all-ones input would normalise by statistics of a constant-per-channel
  image and destroy the "synaptic flow" product the score is meant to measure. Without BN the network
  is positively homogeneous in its input, so the score does not depend on the images at all (only on
  their shape). NASLib stores log(synflow); this returns the sum itself (ranks are the same).
- ``naswot`` (Mellor et al. 2021): for the batch, the binary code of every ReLU unit (1 where its
  input is positive); the kernel K = sum over ReLU layers of (N_A - d_H), i.e. c c^T + (1-c)(1-c)^T
  per layer; the score is log|det K| (slogdet). Network in train mode (BN with batch statistics).
  A singular K (e.g. a cell whose output ignores its input) gives -inf. The batch is the one given
  (the evaluator uses its ProxyBatch: 32 images in the `paper` preset, the batch size NASLib's
  archived NAS-Bench-Suite-Zero scores used, as their magnitude confirms: log|K| ~ 32 * log(units)).
  Only ReLUs that run count: NB201 cells here skip edges that cannot reach the cell output (as NB201
  does), while NASLib's graph runs them too, so its values are slightly larger for such cells.
- ``grad_norm`` (Abdelfattah et al. 2021): sum over conv/linear layers of the L2 norm of the gradient
  of the mean cross-entropy with respect to the layer's weight (train mode).
- ``snip`` (Lee et al. 2019, Abdelfattah's form): sum over conv/linear weights of |w * dL/dw| for the
  same loss (train mode).
- ``params``: parameter count in millions (BN affine parameters included), equal to
  ``spaces.nb201.params_mb`` for NB201.
- ``flops``: MFLOPs per image. For NB201 the analytic ``spaces.nb201.flops_m`` (HW-NAS-Bench's
  convention: conv multiply-adds plus the classifier's in*out + out); for any other network the
  same convention counted with forward hooks on Conv2d and Linear modules (one image).

The functions leave the model as they found it: synflow works on a copy, the gradient metrics use
``torch.autograd.grad`` (no ``.grad`` is written), and BN running statistics are restored.

``ZeroCostEvaluator`` wraps one metric as an ``Evaluator`` (see ``evaluator.py``): like every
evaluator it scores an isomorphism class on its representative, so twins share one raw value
(also for ``params``, which for NB201 counts the convolutions on dead edges, so the table's
per-architecture #params and a class's ``params`` score can differ). Its ``score``
(phi, in [0, 1]) is the empirical CDF of the raw score over a fixed reference sample:
phi(a) = (number of reference architectures whose raw score is <= raw(a)) / reference_sample.
Ties therefore count fully (the "<=" convention, not midrank): an architecture tied with the whole
sample gets 1. The reference sample is ``reference_sample`` architectures drawn uniformly from the
space with ``np.random.default_rng(REFERENCE_SEED)`` (degenerate NB201 cells included); a non-finite
reference raw score counts as -inf (below everything). This puts the zero-cost penalty trade-off in
the GA (F = phi - lambda * P) on the same [0, 1] scale as the CKA proxy, and makes phi invariant to
any monotone transform of the raw score (log synflow or not gives the same phi).
A non-finite raw score of the candidate itself gives the worst score 0 with status "nonfinite".
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from hwevrsnas.errors import InputError, UnknownName
from hwevrsnas.proxy.batch import ProxyBatch
from hwevrsnas.proxy.cache import ScoreCache, cache_key
from hwevrsnas.proxy.determinism import pinned_threads, platform
from hwevrsnas.proxy.evaluator import REFERENCE_SEED, REFERENCE_SIZE, Evaluator, empirical_cdf, reference_architectures
from hwevrsnas.proxy.presets import Preset
from hwevrsnas.proxy.result import STATUS_NONFINITE, STATUS_OK, WORST_SCORE, ProxyResult
from hwevrsnas.proxy.rsnas import CIFAR10_CLASSES, portable_init
from hwevrsnas.spaces import Space
from hwevrsnas.spaces.nb201_network import NB201Network

# Metrics that depend on neither the images nor the initialisation seed.
STATIC_METRICS: frozenset[str] = frozenset({"params", "flops"})
PHI_RULE = "phi = fraction of the reference sample with raw <= raw(arch); non-finite reference raws count as -inf"

_WEIGHTED = (nn.Conv2d, nn.Linear)
_BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def _weighted_layers(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, _WEIGHTED)]


@contextlib.contextmanager
def _preserved(model: nn.Module, train: bool) -> Iterator[nn.Module]:
    """Run with the model in train/eval mode; restore its mode and its buffers (BN running stats) after."""
    modes = {m: m.training for m in model.modules()}
    buffers = [(b, b.detach().clone()) for b in model.buffers()]
    model.train(train)
    try:
        yield model
    finally:
        with torch.no_grad():
            for buffer, saved in buffers:
                buffer.copy_(saved)
        for module, mode in modes.items():
            module.training = mode


def _bypass_batchnorm(model: nn.Module) -> None:
    for name, child in list(model.named_children()):
        if isinstance(child, _BATCHNORMS):
            setattr(model, name, nn.Identity())
        else:
            _bypass_batchnorm(child)


def synflow(model: nn.Module, images: Tensor, labels: Tensor | None = None) -> float:
    """SynFlow: sum |theta * d(sum f(1))/d theta| over conv/linear weights, |params|, float64, BN bypassed."""
    net = copy.deepcopy(model).double()
    _bypass_batchnorm(net)
    net.eval()  # nothing depends on the mode once BN is gone; eval keeps any dropout off
    with torch.no_grad():
        for tensor in (*net.parameters(), *net.buffers()):
            if tensor.is_floating_point():
                tensor.abs_()
    ones = torch.ones((1, *images.shape[1:]), dtype=torch.float64, device=images.device)
    layers = _weighted_layers(net)
    weights = [layer.weight for layer in layers]
    total = net(ones).sum()
    grads = torch.autograd.grad(total, weights, allow_unused=True)
    with torch.no_grad():
        score = sum(float((w * g).abs().sum()) for w, g in zip(weights, grads) if g is not None)
    return float(score)


def naswot(model: nn.Module, images: Tensor, labels: Tensor | None = None) -> float:
    """NASWOT: log|det K|, K = sum over ReLU layers of (units - Hamming distance) of the batch's binary codes."""
    n = images.shape[0]
    kernel = torch.zeros((n, n), dtype=torch.float64, device=images.device)

    def hook(module: nn.Module, inputs: Any, output: Tensor) -> None:
        # output > 0 iff input > 0 for a ReLU; reading the output is also right for inplace ReLUs.
        codes = (output.detach().reshape(n, -1) > 0).float()
        units = codes.shape[1]
        ones = codes.sum(dim=1)
        # Integer-valued float32 products are exact below 2**24 units per layer.
        agree = units - ones[:, None] - ones[None, :] + 2.0 * (codes @ codes.T)
        kernel.add_(agree.double())

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.ReLU)]
    try:
        with _preserved(model, train=True), torch.no_grad():
            model(images)
    finally:
        for handle in handles:
            handle.remove()
    sign, logabsdet = torch.linalg.slogdet(kernel.cpu())
    return float(logabsdet) if float(sign) != 0.0 else float("-inf")


def _loss_grads(model: nn.Module, images: Tensor, labels: Tensor) -> tuple[list[Tensor], list[Tensor | None]]:
    with _preserved(model, train=True):
        weights = [layer.weight for layer in _weighted_layers(model)]
        loss = nn.functional.cross_entropy(model(images), labels)
        grads = torch.autograd.grad(loss, weights, allow_unused=True)
    return weights, list(grads)


def loss_gradient_scores(model: nn.Module, images: Tensor, labels: Tensor) -> dict[str, float]:
    """grad_norm and snip from one forward and backward pass (each equal to its own function's value)."""
    weights, grads = _loss_grads(model, images, labels)
    pairs = [(w.detach().double(), g.detach().double()) for w, g in zip(weights, grads) if g is not None]
    return {
        "grad_norm": float(sum(float(g.norm()) for _, g in pairs)),
        "snip": float(sum(float((w * g).abs().sum()) for w, g in pairs)),
    }


def grad_norm(model: nn.Module, images: Tensor, labels: Tensor) -> float:
    """Sum over conv/linear layers of ||dCE/dW||_2 (train mode, mean cross-entropy over the batch)."""
    return loss_gradient_scores(model, images, labels)["grad_norm"]


def snip(model: nn.Module, images: Tensor, labels: Tensor) -> float:
    """SNIP saliency: sum over conv/linear weights of |W * dCE/dW| (train mode)."""
    return loss_gradient_scores(model, images, labels)["snip"]


def params(model: nn.Module, images: Tensor | None = None, labels: Tensor | None = None) -> float:
    """Parameter count in millions (every parameter, BN affine included)."""
    return sum(p.numel() for p in model.parameters()) / 1e6


def _nb201_shape(model: NB201Network) -> tuple[int, int, int]:
    C = model.stem[0].out_channels
    N = model.tap_layers[0] + 1
    return C, N, model.classifier.out_features


def hooked_flops(model: nn.Module, images: Tensor) -> float:
    """MFLOPs of one image: conv multiply-adds (groups respected) plus in*out (+ out with bias) per Linear."""
    total = 0

    def conv_hook(module: nn.Conv2d, inputs: Any, output: Tensor) -> None:
        nonlocal total
        kh, kw = module.kernel_size
        total += output[0].numel() * (module.in_channels // module.groups) * kh * kw

    def linear_hook(module: nn.Linear, inputs: Any, output: Tensor) -> None:
        nonlocal total
        rows = output[0].numel() // module.out_features
        total += rows * (module.in_features * module.out_features + (module.out_features if module.bias is not None else 0))

    handles = []
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            handles.append(module.register_forward_hook(conv_hook))
        elif isinstance(module, nn.Linear):
            handles.append(module.register_forward_hook(linear_hook))
    try:
        with _preserved(model, train=False), torch.no_grad():
            model(torch.zeros((1, *images.shape[1:]), dtype=images.dtype, device=images.device))
    finally:
        for handle in handles:
            handle.remove()
    return total / 1e6


def flops(model: nn.Module, images: Tensor, labels: Tensor | None = None) -> float:
    """MFLOPs per image: analytic `nb201.flops_m` for an NB201 network, forward hooks otherwise."""
    if isinstance(model, NB201Network):
        from hwevrsnas.spaces.nb201 import flops_m

        C, N, num_classes = _nb201_shape(model)
        return float(flops_m(model.ops, num_classes, C=C, N=N, resolution=images.shape[-1]))
    return hooked_flops(model, images)


SCORE_FUNCTIONS: dict[str, Callable[[nn.Module, Tensor, Tensor], float]] = {
    "synflow": synflow,
    "naswot": naswot,
    "grad_norm": grad_norm,
    "snip": snip,
    "params": params,
    "flops": flops,
}
# Metrics that one pass over the network computes together: an evaluator asking for one of them keeps the
# others (per process, keyed by everything their values depend on), so a table of several of them pays the
# pass once. The values equal the single-metric functions' bit for bit (tests/test_zerocost.py).
SHARED_PASSES: dict[str, Callable[[nn.Module, Tensor, Tensor], dict[str, float]]] = {
    "grad_norm": loss_gradient_scores,
    "snip": loss_gradient_scores,
}
_PASS_MEMO: dict[str, tuple[dict[str, float], float, float]] = {}


# The significant digits a float64 raw value is recorded with: ZiCo divides by a difference of two gradients, whose
# float64 rounding reaches about 1e-11 relative, so ten digits make the bytes equal across machines.
RAW_SIGNIFICANT = 10


class ZeroCostEvaluator(Evaluator):
    """One zero-cost metric as an Evaluator: raw score of the seeded class representative, phi = its reference CDF rank.

    ``preset`` only supplies the NB201 network shape (C, N); its default is ``Preset()`` (C=16, N=5).
    """

    kind = "zc"
    # The raw score functions this evaluator computes (a subclass brings its own) and the version of their
    # definitions, part of the identity (None for the six above, whose identity predates versions).
    score_functions: dict[str, Callable[..., float]] = SCORE_FUNCTIONS
    shared_passes: dict[str, Callable[..., dict[str, float]]] = SHARED_PASSES
    definition: str | None = None

    def __init__(
        self,
        space: str | Space,
        metric: str,
        batch: ProxyBatch,
        cache: ScoreCache | None = None,
        seed: int = 0,
        reference_sample: int = REFERENCE_SIZE,
        preset: Preset | None = None,
        device: str = "cpu",
        dtype: str = "float32",
    ) -> None:
        super().__init__(space, cache)
        if metric not in self.score_functions:
            raise UnknownName(f"unknown zero-cost metric {metric!r}; valid metrics: {', '.join(self.score_functions)}")
        if reference_sample < 1:
            raise InputError(f"reference_sample must be positive, got {reference_sample}")
        self.metric = metric
        self.seed = seed
        self.reference_sample = reference_sample
        self.preset = preset if preset is not None else Preset()
        self.device = torch.device(device)
        # In float64 (a float64 preset's proxy) the network starts from the portable draw and the raw value is
        # recorded to RAW_SIGNIFICANT digits, so it is the same on any machine (docs/KERNELS.md); in float32
        # it keeps PyTorch's own initialisation and depends on the platform. A float64 batch holds the same images
        # as the float32 one (its reference selects the same ones), so casting them is exact.
        self.float64 = dtype == "float64"
        self.images = batch.images.to(self.device, torch.float64 if self.float64 else torch.float32)
        self.labels = batch.labels.to(self.device)
        self.batch_checksum = batch.identity_checksum
        self.reference_checksum = batch.reference_checksum
        self._raw_memo: dict[str, ProxyResult] = {}
        self._reference: np.ndarray | None = None
        parts: dict[str, Any] = {"kind": self.kind, "metric": metric, "space": self.space.name}
        self._provenance: dict[str, Any] = {}
        if metric not in STATIC_METRICS:
            parts.update(batch=self.batch_checksum, reference=self.reference_checksum, seed=seed)
            if self.float64:
                parts["dtype"] = "float64"
                self._provenance["platform"] = platform(str(self.device))
            else:
                parts["platform"] = platform(str(self.device))
        parts.update(self.space.network_shape(self.preset.C, self.preset.N, CIFAR10_CLASSES))
        if self.definition is not None:
            parts["definition"] = self.definition
        self._raw_identity = parts
        self._identity = {**parts, "reference_sample": f"{reference_sample}@{REFERENCE_SEED}"}

    @property
    def name(self) -> str:
        """`zc:<metric>`."""
        return f"zc:{self.metric}"

    @property
    def proxy_seed(self) -> int | None:
        """The seed of the network's initialisation and batch; None for #params and FLOPs, which use neither (its
        `preset` gives only the network's shape)."""
        return None if self.metric in STATIC_METRICS else self.seed

    def identity(self) -> dict[str, Any]:
        """Metric, space, network shape, reference sample, and (for image metrics) batch, seed and, in float32,
        platform (in float64: dtype)."""
        return dict(self._identity)

    def provenance(self) -> dict[str, Any]:
        """The platform a float64 value was computed on (recorded, never matched)."""
        return dict(self._provenance)

    def reference_key(self) -> str:
        """Cache key of the reference sample's raw scores."""
        return cache_key(**{**self._identity, "kind": "zc-reference"})

    # -- computing --------------------------------------------------------------------------------

    def reference_ops(self) -> np.ndarray:
        """The fixed reference sample: reference_sample architectures drawn with seed REFERENCE_SEED."""
        return reference_architectures(self.space, self.reference_sample)

    def raw_result(self, ops: np.ndarray) -> ProxyResult:
        """The raw score of an architecture's class (its representative; memoised; score = raw, phi not applied)."""
        canonical = self.space.canonical_key(ops)
        if canonical not in self._raw_memo:
            shared = self.shared_passes.get(self.metric)
            if shared is None:
                raw, seconds, build_seconds = self._measure(ops, self.score_functions[self.metric])
            else:
                pass_key = cache_key(**{k: v for k, v in self._raw_identity.items() if k != "metric"},
                                     shared_pass=shared.__qualname__, arch=canonical)  # fmt: skip
                if pass_key not in _PASS_MEMO:
                    _PASS_MEMO[pass_key] = self._measure(ops, shared)
                values, seconds, build_seconds = _PASS_MEMO[pass_key]
                raw = float(values[self.metric])
            if self.float64 and math.isfinite(raw):
                raw = float(f"{raw:.{RAW_SIGNIFICANT}g}")
            status = STATUS_OK if math.isfinite(raw) else STATUS_NONFINITE
            self._raw_memo[canonical] = ProxyResult(
                raw, float("nan"), [], seconds, status, raw=raw,
                extra={"metric": self.metric, "build_seconds": build_seconds},
            )  # fmt: skip
        return self._raw_memo[canonical]

    def _measure(self, ops: np.ndarray, function: Callable[..., Any]) -> tuple[Any, float, float]:
        """`function` of the class representative's freshly seeded network, its seconds and the build's seconds; a
        static metric the space counts from the ops (`Space.static_metric`) builds no network (build seconds 0)."""
        representative = self.space.representative(ops)
        shape = self.space.network_shape(self.preset.C, self.preset.N, CIFAR10_CLASSES)
        if self.metric in STATIC_METRICS and function is SCORE_FUNCTIONS[self.metric]:
            # A count of the ops equals the built network's to the last bit, and building a full-size network costs
            # a table-served search most of its time.
            start = time.perf_counter()
            counted = self.space.static_metric(self.metric, representative, int(self.images.shape[-1]), **shape)
            if counted is not None:
                return counted, time.perf_counter() - start, 0.0
        with pinned_threads():
            start = time.perf_counter()
            torch.manual_seed(self.seed)
            model = self.space.build_network(representative, **shape)
            if self.float64:
                model = model.double()
                portable_init(model, self.seed)
            model = model.to(self.device)
            built = time.perf_counter()
            value = function(model, self.images, self.labels)
            seconds = time.perf_counter() - built
        return value, seconds, built - start

    def reference(self) -> np.ndarray:
        """Sorted raw scores of the reference sample (computed once, lazily; cached on disk when a cache is given)."""
        if self._reference is None:
            key = self.reference_key()
            stored = self.cache.get(key) if self.cache is not None else None
            raws = None
            if stored is not None:
                values = stored.get("raw") if isinstance(stored, dict) else None
                if isinstance(values, list) and len(values) == self.reference_sample:
                    raws = [-math.inf if r is None else float(r) for r in values]
                else:
                    self.cache.reject(key, "its reference sample is incomplete")
            if raws is None:
                raws = []
                for ops in self.reference_ops():
                    raw = self.raw_result(ops).raw
                    raws.append(raw if raw is not None and math.isfinite(raw) else -math.inf)
                if self.cache is not None:
                    self.cache.put(
                        key,
                        {
                            "raw": [r if math.isfinite(r) else None for r in raws],
                            "metric": self.metric,
                            "space": self.space.name,
                            "reference_sample": self.reference_sample,
                            "reference_seed": REFERENCE_SEED,
                            "phi_rule": PHI_RULE,
                        },
                    )
            self._reference = np.sort(np.asarray(raws, dtype=np.float64))
        return self._reference

    def phi(self, raw: float | None) -> float:
        """The score of a raw value: its empirical CDF over the reference sample (0 if not finite)."""
        if raw is None or not math.isfinite(raw):
            return WORST_SCORE
        return empirical_cdf(self.reference(), raw)

    def compute(self, representative: np.ndarray) -> ProxyResult:
        """The raw score of a class representative and its reference rank."""
        raw = self.raw_result(representative)
        finite = raw.status == STATUS_OK
        return ProxyResult(
            score=self.phi(raw.raw) if finite else WORST_SCORE,
            loss=float("nan"),
            cka=[],
            seconds=raw.seconds,
            status=raw.status,
            raw=raw.raw,
            extra={**raw.extra, "reference_sample": self.reference_sample, "reference_seed": REFERENCE_SEED},
        )

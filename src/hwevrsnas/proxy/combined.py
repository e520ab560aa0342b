"""The rank combination of the representation-similarity proxy with #params (a named, optional variant).

The fidelity study (docs/FIDELITY.md) found that the mean of an architecture's proxy rank and its
#params rank orders NB201 architectures better than either alone (Kendall tau 0.70 for quick +
params against 0.56 and 0.60). A search needs a score per architecture rather than ranks within a
sample, so both ranks are taken against one fixed reference sample, the one the zero-cost
evaluators use (``proxy.evaluator.reference_architectures``: ``REFERENCE_SIZE`` architectures drawn uniformly):

    phi(a) = (CDF_ref[proxy score](a) + CDF_ref[#params](a)) / 2

with CDF_ref(x) = fraction of the reference sample whose value is <= x. phi lies in [0, 1] like the
plain proxy's, so the penalty scale stays comparable. An architecture the proxy cannot score
(degenerate cell, NaN during training) keeps the worst score. The reference sample's proxy scores
go through the same score cache as every other proxy score, so a sweep pays for them once.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from hwevrsnas.errors import InputError
from hwevrsnas.proxy.evaluator import REFERENCE_SEED, REFERENCE_SIZE, Evaluator, empirical_cdf, reference_architectures
from hwevrsnas.proxy.result import STATUS_OK, WORST_SCORE, ProxyResult


class RankMeanEvaluator(Evaluator):
    """phi = mean of the proxy's and #params' empirical CDF ranks over the zero-cost reference sample."""

    kind = "rank-mean"

    def __init__(self, proxy: Evaluator, params: Evaluator) -> None:
        if getattr(params, "metric", None) != "params":
            raise InputError(f"the rank partner must be the params evaluator, got {params.metric!r}")
        if proxy.space.name != params.space.name:
            raise InputError(f"proxy space {proxy.space.name!r} differs from the params evaluator's {params.space.name!r}")
        # No cache of its own: both members cache their scores, and this combination is cheap.
        super().__init__(proxy.space, cache=None)
        self.preset = getattr(proxy, "preset", None)
        self.batch_checksum = getattr(proxy, "batch_checksum", None)
        self.proxy = proxy
        self.params = params
        # The reference sample's proxy scores are part of this method's cost (as if run alone).
        self.setup_evaluations = 0
        self.setup_seconds = 0.0
        self._reference: np.ndarray | None = None

    @property
    def name(self) -> str:
        """`<proxy name>+params`."""
        return f"{self.proxy.name}+params"

    def identity(self) -> dict[str, Any]:
        """Both members' identities."""
        return {"kind": self.kind, "proxy": self.proxy.identity(), "params": self.params.identity()}

    def attach(self, source: Any) -> list[str]:
        """Score tables serve the members (a table of either member's identity is used by it)."""
        mismatches = [self.proxy.attach(source), self.params.attach(source)]
        return [] if not all(mismatches) else min(mismatches, key=len)

    def reference(self) -> np.ndarray:
        """Sorted proxy scores of the reference sample (computed once; each score through the proxy's cache)."""
        if self._reference is None:
            # The params evaluator's own sample (a served one has the default sample its table was ranked against).
            sample = self.params.reference_ops() if hasattr(self.params, "reference_ops") else reference_architectures(self.space)
            results = self.proxy.evaluate_many(sample)
            first = {self.space.canonical_key(ops): result for ops, result in reversed(list(zip(sample, results)))}
            self.setup_evaluations = len(first)
            self.setup_seconds = float(sum(result.seconds for result in first.values()))
            scores = [r.score if r.status == STATUS_OK and math.isfinite(r.score) else -math.inf for r in results]
            self._reference = np.sort(np.asarray(scores, dtype=np.float64))
        return self._reference

    def compute(self, representative: np.ndarray) -> ProxyResult:
        """The proxy's result with phi replaced by the rank mean."""
        result = self.proxy.evaluate(representative)
        params = self.params.evaluate(representative)
        proxy_rank = empirical_cdf(self.reference(), result.score) if result.status == STATUS_OK else None
        score = WORST_SCORE if proxy_rank is None else (proxy_rank + params.score) / 2.0
        extra = {
            **result.extra,
            "proxy_score": result.score,
            "proxy_rank": proxy_rank,
            "params_rank": params.score,
            "reference_sample": getattr(self.params, "reference_sample", REFERENCE_SIZE),
            "reference_seed": REFERENCE_SEED,
        }
        return ProxyResult(
            score=score, loss=result.loss, cka=result.cka, seconds=result.seconds + params.seconds,
            status=result.status, raw=result.score, cached=result.cached, extra=extra,
        )  # fmt: skip

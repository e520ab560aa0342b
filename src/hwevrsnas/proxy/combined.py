"""The rank combination of the representation-similarity proxy with #params (a named, optional variant).

The fidelity study (docs/FIDELITY.md) found that the mean of an architecture's proxy rank and its
#params rank orders NB201 architectures better than either alone (Kendall tau 0.70 for quick +
params against 0.56 and 0.60). A search needs a score per architecture rather than ranks within a
sample, so both ranks are taken against one fixed reference sample, the one the zero-cost
evaluators use (``zerocost.REFERENCE_SEED``, ``reference_sample`` architectures drawn uniformly):

    phi(a) = (CDF_ref[proxy score](a) + CDF_ref[#params](a)) / 2

with CDF_ref(x) = fraction of the reference sample whose value is <= x. phi lies in [0, 1] like the
plain proxy's, so the penalty scale stays comparable. An architecture the proxy cannot score
(degenerate cell, NaN during training) keeps the worst score. The reference sample's proxy scores
go through the same score cache as every other proxy score, so a sweep pays for them once.
"""

from __future__ import annotations

import math

import numpy as np

from hwevrsnas.proxy.evaluator import ProxyEvaluator
from hwevrsnas.proxy.trainer import STATUS_OK, WORST_SCORE, ProxyResult
from hwevrsnas.proxy.zerocost import REFERENCE_SEED, ZeroCostEvaluator, empirical_cdf


class RankMeanEvaluator:
    """phi = mean of the proxy's and #params' empirical CDF ranks over the zero-cost reference sample."""

    def __init__(self, proxy: ProxyEvaluator, params: ZeroCostEvaluator) -> None:
        if params.metric != "params":
            raise ValueError(f"the rank partner must be the params evaluator, got {params.metric!r}")
        if proxy.space != params.space:
            raise ValueError(f"proxy space {proxy.space!r} differs from the params evaluator's {params.space!r}")
        self.name = f"{proxy.name}+params"
        self.space = proxy.space
        self.preset = proxy.preset
        self.batch_checksum = proxy.batch_checksum
        self.proxy = proxy
        self.params = params
        self.reference_sample = params.reference_sample
        self.reference_seconds = 0.0
        self._reference: np.ndarray | None = None

    def reference(self) -> np.ndarray:
        """Sorted proxy scores of the reference sample (computed once; each score through the cache)."""
        if self._reference is None:
            results = [self.proxy.evaluate(ops) for ops in self.params.reference_ops()]
            self.reference_seconds = float(sum(r.seconds for r in results))
            scores = [r.score if r.status == STATUS_OK and math.isfinite(r.score) else -math.inf for r in results]
            self._reference = np.sort(np.asarray(scores, dtype=np.float64))
        return self._reference

    def evaluate(self, ops: np.ndarray) -> ProxyResult:
        """Score one architecture: the proxy's result with phi replaced by the rank mean."""
        result = self.proxy.evaluate(ops)
        params = self.params.evaluate(ops)
        proxy_rank = empirical_cdf(self.reference(), result.score) if result.status == STATUS_OK else None
        score = WORST_SCORE if proxy_rank is None else (proxy_rank + params.score) / 2.0
        extra = {
            **result.extra,
            "proxy_score": result.score,
            "proxy_rank": proxy_rank,
            "params_rank": params.score,
            "reference_sample": self.reference_sample,
            "reference_seed": REFERENCE_SEED,
        }
        return ProxyResult(
            score=score,
            loss=result.loss,
            cka=result.cka,
            seconds=result.seconds + params.seconds,
            status=result.status,
            raw=result.score,
            cached=result.cached,
            extra=extra,
        )

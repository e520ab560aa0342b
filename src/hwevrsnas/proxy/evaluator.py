"""The evaluator base: how any proxy turns architectures into scores, once per isomorphism class.

An evaluator scores the architectures of one space. Its score of an architecture is, by
definition, its score of the class's representative (`Space.representative`), so isomorphic
twins get bit-identical scores whichever of them is asked for, and in whatever order. A request
is answered by, in turn:

1. the in-process memo (keyed by the cache key below);
2. an attached score table whose identity equals the evaluator's (hwevrsnas.scores);
3. the on-disk ScoreCache (damaged entries are logged and ignored);
4. `compute_many` on the representatives still missing, whose results go to the cache.

The cache key is the evaluator's `identity()` (everything a score depends on apart from the
architecture: proxy kind, space, preset digest, batch and reference checksums, seed, engine and
platform) plus the class's canonical key. Subclasses implement `identity` and `compute` (or
`compute_many` when they score several architectures at once). This module does not import torch.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Protocol, Sequence

import numpy as np

from hwevrsnas.proxy.cache import ScoreCache, cache_key, class_keys
from hwevrsnas.proxy.result import WORST_SCORE, ProxyResult, as_cached
from hwevrsnas.spaces import Space, get_space

log = logging.getLogger(__name__)


class ScoreSource(Protocol):
    """A read-only source of precomputed results (a score table), keyed like the cache."""

    identity: dict[str, Any]

    def lookup(self, canonical: str) -> ProxyResult | None:
        """The stored result of a class, or None."""


# The unlabelled reference sample that rank-based scores (zero-cost phi, rank mean, rank ensemble) are taken against:
# `REFERENCE_SIZE` architectures drawn uniformly with this seed, degenerate cells included.
REFERENCE_SEED = 12345
REFERENCE_SIZE = 200


def reference_architectures(space: str | Space, size: int = REFERENCE_SIZE) -> np.ndarray:
    """The fixed reference sample of a space (op tuples, in draw order)."""
    space = get_space(space) if isinstance(space, str) else space
    return space.sample(np.random.default_rng(REFERENCE_SEED), size)


def empirical_cdf(reference: np.ndarray, value: float) -> float:
    """Fraction of `reference` (sorted or not) that is <= value; NaN/-inf references are below everything."""
    ref = np.asarray(reference, dtype=np.float64)
    if not ref.size:
        raise ValueError("empty reference sample")
    if not math.isfinite(value):
        return WORST_SCORE if value != math.inf else 1.0
    ref = np.where(np.isnan(ref), -np.inf, ref)
    return float(np.count_nonzero(ref <= value)) / ref.size


def canonical_arch(space: str | Space, ops: np.ndarray) -> str:
    """The identity of an architecture's class: NB201's isomorphism key, or the architecture itself."""
    return (get_space(space) if isinstance(space, str) else space).canonical_key(ops)


def differing_keys(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """The keys whose values differ between two identities (a key missing from one side counts), sorted."""
    return sorted(k for k in {*a, *b} if a.get(k) != b.get(k))


class Evaluator:
    """Scores architectures through memo, score tables, cache and computation (see the module docstring)."""

    kind = "evaluator"

    def __init__(self, space: str | Space, cache: ScoreCache | None = None) -> None:
        self.space = get_space(space) if isinstance(space, str) else space
        self.cache = cache
        self.memo: dict[str, ProxyResult] = {}
        self.sources: list[ScoreSource] = []
        self.computed = 0

    @property
    def name(self) -> str:
        """A short label of the evaluator (e.g. `rsnas:quick`, `zc:synflow`)."""
        return self.kind

    def identity(self) -> dict[str, Any]:
        """Everything a score depends on apart from the architecture (JSON types only)."""
        raise NotImplementedError

    @property
    def proxy_seed(self) -> int | None:
        """The proxy draw (replicate) the scores come from: its preset's seed; None for scores that depend on no
        draw or on several."""
        return getattr(getattr(self, "preset", None), "seed", None)

    def provenance(self) -> dict[str, Any]:
        """Where and how this process computes what its identity leaves out (recorded, never matched)."""
        return {}

    def compute(self, representative: np.ndarray) -> ProxyResult:
        """Score one class representative from scratch."""
        raise NotImplementedError

    def compute_many(self, representatives: Sequence[np.ndarray]) -> list[ProxyResult]:
        """Score several class representatives from scratch (override to batch them)."""
        return [self.compute(ops) for ops in representatives]

    def key(self, ops: np.ndarray) -> str:
        """The cache key of an architecture's class under this evaluator."""
        return cache_key(**self.identity(), arch=self.space.canonical_key(ops))

    def attach(self, source: ScoreSource) -> list[str]:
        """Use a score table when its identity equals this evaluator's; return the identity keys that differ (none: used)."""
        mine = self.identity()
        differing = differing_keys(source.identity, mine)
        if not differing:
            self.sources.append(source)
        return differing

    def _stored(self, key: str, canonical: str) -> ProxyResult | None:
        for source in self.sources:
            found = source.lookup(canonical)
            if found is not None:
                return found
        if self.cache is None:
            return None
        stored = self.cache.get(key)
        if stored is None:
            return None
        try:
            return ProxyResult.from_json(stored)
        except ValueError as err:
            return self.cache.reject(key, str(err))

    def remember(self, key: str, result: ProxyResult) -> None:
        """Keep a computed result in the memo and the on-disk cache."""
        if self.cache is not None:
            self.cache.put(key, result.to_json())
        self.memo[key] = result

    def evaluate(self, ops: np.ndarray) -> ProxyResult:
        """Score one architecture."""
        return self.evaluate_many([ops])[0]

    def evaluate_many(self, archs: Sequence[np.ndarray] | np.ndarray) -> list[ProxyResult]:
        """Score architectures; each class missing everywhere is computed once, on its representative."""
        results: list[ProxyResult | None] = [None] * len(archs)
        missing: dict[str, tuple[np.ndarray, list[int]]] = {}
        keys = class_keys(self.identity())
        for position, ops in enumerate(archs):
            ops = self.space.single(ops)
            canonical = self.space.canonical_key(ops)
            key = keys(canonical)
            if key in self.memo:
                results[position] = as_cached(self.memo[key])
            elif key in missing:
                missing[key][1].append(position)
            else:
                stored = self._stored(key, canonical)
                if stored is None:
                    missing[key] = (self.space.representative(ops), [position])
                else:
                    self.memo[key] = stored
                    results[position] = stored
        if missing:
            computed = self.compute_many([representative for representative, _ in missing.values()])
            self.computed += len(computed)
            for (key, (_, positions)), result in zip(missing.items(), computed):
                self.remember(key, result)
                results[positions[0]] = result
                for position in positions[1:]:
                    results[position] = as_cached(result)
        return results  # type: ignore[return-value]


__all__ = ["REFERENCE_SEED", "REFERENCE_SIZE", "Evaluator", "differing_keys", "ScoreSource", "canonical_arch", "empirical_cdf", "reference_architectures"]

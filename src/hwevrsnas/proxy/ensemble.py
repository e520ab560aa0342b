"""The rank ensemble of `hw-evrsnas-ens` (a named, optional variant beside the faithful proxy).

An architecture's score is the weighted geometric mean of its members' ranks, each rank taken
against one fixed, unlabelled reference sample (the zero-cost evaluators' sample: `reference_sample`
architectures drawn with ``zerocost.REFERENCE_SEED``):

    phi(a) = exp( sum_i w_i log r_i(a) / sum_i w_i )

r_i is member i's mid-rank among the reference values, interpolated linearly between them and
clamped at the ends (`RankScale`), so it is continuous where the reference's step CDF is not and a
score depends on the architecture alone, never on which others a search has seen. With equal
weights this orders architectures like AZ-NAS's sum of log ranks. phi lies in (0, 1), like the
plain proxy's, so the penalty keeps its scale. An architecture a member cannot score (degenerate
cell, non-finite value) gets the worst score.

The members and weights (`ENSEMBLE_WEIGHTS`) were chosen from the full-space score tables on the
`select` half of the NB201 classes only (`hwevrsnas.analysis.ensemble`, `hwevrsnas evidence select-ensemble`,
docs/FIDELITY.md), and no accuracy enters the score. The representation-similarity proxy is a member
by construction. Torch-free: the members are built by their own factories.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from hwevrsnas.errors import InputError
from hwevrsnas.proxy.evaluator import Evaluator
from hwevrsnas.proxy.result import STATUS_NONFINITE, STATUS_OK, WORST_SCORE, ProxyResult

# Chosen by `hwevrsnas evidence select-ensemble` (docs/FIDELITY.md has its output): proxy name -> weight.
ENSEMBLE_WEIGHTS: dict[str, float] = {"rsnas": 1.0, "zc:flops": 1.0, "zc:meco": 2.0, "zc:naswot": 1.0}
REQUIRED_MEMBER = "rsnas"


@dataclass(frozen=True)
class RankScale:
    """Mid-ranks of a reference sample, interpolated: values -> ranks in (0, 1).

    Non-finite reference values count as below every finite one; a non-finite value gets rank 0.
    """

    xp: np.ndarray
    fp: np.ndarray

    @classmethod
    def of(cls, reference: Sequence[float] | np.ndarray) -> "RankScale":
        values = np.asarray(reference, dtype=np.float64)
        if not values.size:
            raise InputError("the rank ensemble needs a non-empty reference sample")
        finite = np.sort(values[np.isfinite(values)])
        if not finite.size:
            raise InputError("the rank ensemble's reference sample has no finite value")
        below = values.size - finite.size
        positions = (below + np.arange(finite.size) + 0.5) / values.size
        xp, inverse = np.unique(finite, return_inverse=True)
        fp = np.bincount(inverse, weights=positions) / np.bincount(inverse)  # tied values share their mean rank
        return cls(xp, fp)

    def __call__(self, values: Sequence[float] | np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64)
        ranks = np.interp(values, self.xp, self.fp)
        return np.where(np.isfinite(values), ranks, 0.0)


def combine(ranks: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
    """The weighted geometric mean of the members' ranks (0 where any member's rank is 0)."""
    total = float(sum(weights[name] for name in ranks))
    with np.errstate(divide="ignore"):
        logs = sum(weights[name] * np.log(np.asarray(rank, dtype=np.float64)) for name, rank in ranks.items())
    return np.exp(logs / total)


def member_value(name: str, result: ProxyResult) -> float:
    """The value a member is ranked by: a zero-cost proxy's raw value, the rsnas score; -inf when unusable."""
    if result.status != STATUS_OK:
        return -math.inf
    value = result.raw if name.startswith("zc:") else result.score
    return -math.inf if value is None or not math.isfinite(value) else float(value)


class EnsembleEvaluator(Evaluator):
    """phi = weighted geometric mean of member ranks over the reference sample (module docstring)."""

    kind = "rank-ensemble"

    def __init__(self, members: Mapping[str, Evaluator], weights: Mapping[str, float], reference_ops: np.ndarray) -> None:
        if set(members) != set(weights):
            raise InputError(f"ensemble members {sorted(members)} and weights {sorted(weights)} differ")
        if REQUIRED_MEMBER not in members:
            raise InputError(f"the ensemble keeps the representation-similarity proxy {REQUIRED_MEMBER!r} as a member")
        bad = {name: w for name, w in weights.items() if not (math.isfinite(w) and w > 0)}
        if bad:
            raise InputError(f"ensemble weights must be positive, got {bad}")
        first = next(iter(members.values()))
        # No cache of its own: every member caches its scores, and the combination is cheap.
        super().__init__(first.space, cache=None)
        self.preset = getattr(members[REQUIRED_MEMBER], "preset", None)
        self.batch_checksum = getattr(members[REQUIRED_MEMBER], "batch_checksum", None)
        self.members = dict(members)
        self.weights = dict(weights)
        self.reference_ops = reference_ops
        # The reference sample's member scores are part of this method's cost (as if run alone).
        self.setup_evaluations = 0
        self.setup_seconds = 0.0
        self._scales: dict[str, RankScale] | None = None

    @property
    def name(self) -> str:
        return "ens(" + "+".join(self.members) + ")"

    def identity(self) -> dict[str, Any]:
        """Every member's identity and weight."""
        return {
            "kind": self.kind,
            "members": {name: {"weight": self.weights[name], **member.identity()} for name, member in self.members.items()},
            "reference_sample": len(self.reference_ops),
        }

    def attach(self, source: Any) -> list[str]:
        """A score table serves whichever members it has the identity of."""
        mismatches = [member.attach(source) for member in self.members.values()]
        return [] if not all(mismatches) else min(mismatches, key=len)

    def scales(self) -> dict[str, RankScale]:
        """Each member's rank scale over the reference sample (scored once, through the members' tables and caches)."""
        if self._scales is None:
            self._scales, seconds, classes = {}, 0.0, set()
            for name, member in self.members.items():
                results = member.evaluate_many(self.reference_ops)
                self._scales[name] = RankScale.of([member_value(name, result) for result in results])
                first = {self.space.canonical_key(ops): r for ops, r in reversed(list(zip(self.reference_ops, results)))}
                seconds += float(sum(result.seconds for result in first.values()))
                classes |= set(first)
            self.setup_evaluations = len(classes)
            self.setup_seconds = seconds
        return self._scales

    def compute(self, representative: np.ndarray) -> ProxyResult:
        """The members' results combined; `extra` keeps each member's value and rank."""
        scales = self.scales()
        results = {name: member.evaluate(representative) for name, member in self.members.items()}
        values = {name: member_value(name, result) for name, result in results.items()}
        ranks = {name: scales[name](np.array([value])) for name, value in values.items()}
        score = float(combine(ranks, self.weights)[0])
        usable = all(math.isfinite(value) for value in values.values())
        core = results[REQUIRED_MEMBER]
        status = STATUS_OK if usable else next((r.status for r in results.values() if r.status != STATUS_OK), STATUS_NONFINITE)
        extra = {
            "members": {name: {"value": None if not math.isfinite(values[name]) else values[name],
                               "rank": float(ranks[name][0])} for name in results},  # fmt: skip
        }
        return ProxyResult(
            score=score if usable else WORST_SCORE, loss=core.loss, cka=core.cka,
            seconds=float(sum(result.seconds for result in results.values())), status=status,
            raw=score if usable else None, cached=all(result.cached for result in results.values()), extra=extra,
        )  # fmt: skip


__all__ = ["ENSEMBLE_WEIGHTS", "EnsembleEvaluator", "RankScale", "combine", "member_value"]

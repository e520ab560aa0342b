"""The mean of the representation-similarity score over proxy draws (a named, optional variant: `hw-evrsnas-mean`).

One quick score is one draw: a short SGD run from one initialisation on one batch, both drawn by the proxy seed.
Draws of the same class differ (docs/FIDELITY.md's replicate study), so a search on one draw follows its noise as
much as the network. This variant scores a class by the mean of its scores at the proxy seeds `MEAN_DRAW_SEEDS`,
each computed exactly as the faithful score at that seed (its own batch and initialisations), so it reads the
published tables of those seeds and costs as many trainings per class where it computes. The faithful single draw
stays the default method; this is the variant beside it.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from hwevrsnas.errors import InputError
from hwevrsnas.proxy.evaluator import Evaluator
from hwevrsnas.proxy.result import STATUS_OK, WORST_SCORE, ProxyResult

# The published replicate tables' seeds: every class's mean is over the same five draws, whatever the search seed.
MEAN_DRAW_SEEDS: tuple[int, ...] = (0, 1, 2, 3, 4)


class MeanOfDrawsEvaluator(Evaluator):
    """phi = the mean of the members' scores, one member per proxy draw; a class any draw cannot score gets the
    worst score with that draw's status."""

    kind = "mean-of-draws"

    def __init__(self, members: Sequence[Evaluator]) -> None:
        if len(members) < 2:
            raise InputError(f"a mean of draws needs at least two draws, got {len(members)}")
        spaces = {member.space.name for member in members}
        if len(spaces) != 1:
            raise InputError(f"the draws of a mean are of one space, got {', '.join(sorted(spaces))}")
        # No cache of its own: every member caches (or is served) its scores, and the mean is cheap.
        super().__init__(members[0].space, cache=None)
        self.members = list(members)
        # No single preset: the draws are the preset at several seeds (a search's own proxy seed does not pick one).
        self.preset = None
        self.draw_seeds = [member.proxy_seed for member in members]

    @property
    def name(self) -> str:
        """`<member name>-mean<draws>`."""
        return f"{self.members[0].name}-mean{len(self.members)}"

    def identity(self) -> dict[str, Any]:
        """Every draw's identity, in seed order."""
        return {"kind": self.kind, "draws": [member.identity() for member in self.members]}

    def provenance(self) -> dict[str, Any]:
        """The first draw's (the draws of one search run in one process)."""
        return self.members[0].provenance()

    def attach(self, source: Any) -> list[str]:
        """A score table serves the draw whose identity it has (one table per proxy seed)."""
        mismatches = [member.attach(source) for member in self.members]
        return [] if not all(mismatches) else min(mismatches, key=len)

    def compute(self, representative: np.ndarray) -> ProxyResult:
        return self.compute_many([representative])[0]

    def compute_many(self, representatives: Sequence[np.ndarray]) -> list[ProxyResult]:
        """Each draw scores every representative in one call (so a computing draw uses its workers), then the mean."""
        per_draw = [member.evaluate_many(representatives) for member in self.members]
        return [self._mean([draw[i] for draw in per_draw]) for i in range(len(representatives))]

    @staticmethod
    def _mean(draws: list[ProxyResult]) -> ProxyResult:
        seconds = float(sum(draw.seconds for draw in draws))
        cached = all(draw.cached for draw in draws)
        scores = [draw.score for draw in draws]
        extra = {"draw_scores": scores}
        failed = [draw for draw in draws if draw.status != STATUS_OK or not math.isfinite(draw.score)]
        if failed:
            return ProxyResult(WORST_SCORE, float("nan"), [], seconds, failed[0].status, cached=cached, extra=extra)
        losses = [draw.loss for draw in draws]
        loss = float(np.mean(losses)) if all(math.isfinite(x) for x in losses) else float("nan")
        mean = float(np.mean(scores))
        return ProxyResult(mean, loss, [], seconds, STATUS_OK, raw=mean, cached=cached, extra=extra)


__all__ = ["MEAN_DRAW_SEEDS", "MeanOfDrawsEvaluator"]

"""What every search shares: the run's memo, budget, counters and every distinct architecture it evaluated.

A request for an architecture is answered from the run's memo when its *evaluation key* was seen
before in this run (the canonical architecture: for NB201 the isomorphism key, so a twin costs
nothing; for FBNet the op string), else by the scorer (an Evaluator's `evaluate`, or a table
lookup). `unique_evaluations` counts distinct keys evaluated in this run (whether the evaluator
then computed, read a score table or read its cache: the run's cost as if it ran alone),
`memo_hits` the requests answered by the run's memo, `cache_hits` those plus the unique ones the
evaluator served without computing (`result.cached`), and `proxy_seconds` sums `result.seconds`
over the unique ones. Costs are looked up per exact architecture (isomorphic NB201 twins have
their own measured latency), so twins are separate candidates sharing one phi. The answer is the
fittest feasible candidate ever evaluated (ties: earliest), else the fittest one, flagged infeasible.

`prefetch` lets a method hand over every candidate of a generation at once, so an evaluator that
scores several architectures together (or a pool of processes) can; the answers are the same as
one request at a time, because a score depends only on the architecture's class.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from hwevrsnas.errors import InputError
from hwevrsnas.proxy.result import ProxyResult
from hwevrsnas.search.costs import CostModel
from hwevrsnas.search.penalty import DEFAULT_FORM, check_form, feasible_of, fitness_of
from hwevrsnas.spaces import Space, get_space

log = logging.getLogger(__name__)


@dataclass
class Evaluation:
    """One distinct architecture seen by a search, in the order first requested (`order`)."""

    order: int
    generation: int
    ops: np.ndarray
    arch: str
    key: str
    index: int | None
    phi: float
    cost: float
    feasible: bool
    fitness: float
    status: str
    seconds: float = 0.0
    cached: bool = False

    def to_json(self) -> dict[str, Any]:
        """The deterministic part (seconds and cached depend on the run's circumstances and are left out).

        `ops` is one digit per gene (both spaces have fewer than 10 ops), so a record stays on few lines.
        """
        return {
            "order": self.order,
            "generation": self.generation,
            "ops": "".join(map(str, self.ops.tolist())),
            "arch": self.arch,
            "canonical": self.key,
            "index": self.index,
            "phi": self.phi,
            "cost": self.cost,
            "feasible": self.feasible,
            "fitness": self.fitness,
            "status": self.status,
        }


class BudgetExhausted(Exception):
    """A request for a new architecture after the budget of unique evaluations was spent."""


def fitter(a: Evaluation, b: Evaluation) -> bool:
    """Whether a beats b: higher fitness, ties to the earlier evaluated."""
    return a.fitness > b.fitness or (a.fitness == b.fitness and a.order < b.order)


def fittest(candidates: list[Evaluation]) -> Evaluation:
    """The fittest of a non-empty list (ties: earliest evaluated)."""
    best = candidates[0]
    for candidate in candidates[1:]:
        if fitter(candidate, best):
            best = candidate
    return best


class SearchTracker:
    """A run's memo, counters, budget and every distinct architecture it evaluated."""

    def __init__(
        self,
        space: str | Space,
        score: Callable[[np.ndarray], ProxyResult],
        cost_model: CostModel,
        threshold: float,
        lam: float = 1.0,
        form: str = DEFAULT_FORM,
        budget: int | None = None,
        key: Callable[[np.ndarray], str] | None = None,
        score_many: Callable[[Sequence[np.ndarray]], list[ProxyResult]] | None = None,
    ) -> None:
        self.space = get_space(space) if isinstance(space, str) else space
        if cost_model.space != self.space.name:
            raise InputError(f"the cost model is for {cost_model.space!r}, the search for {self.space.name!r}")
        self.score = score
        self.score_many = score_many
        self.cost_model = cost_model
        self.threshold = float(threshold)
        self.lam = float(lam)
        self.form = check_form(form)
        self.budget = budget
        self.key = key or self.space.canonical_key
        self.table = cost_model.table if self.space.has_accuracy else None
        self.pending: dict[str, ProxyResult] = {}
        self.results: dict[str, ProxyResult] = {}
        self.by_arch: dict[str, Evaluation] = {}
        self.evaluations: list[Evaluation] = []
        self.requests = 0
        self.memo_hits = 0
        self.evaluator_cache_hits = 0
        self.proxy_seconds = 0.0
        self.generation = 0
        # How many evaluations `answer` has looked at, and the fittest one and fittest feasible one among them.
        self._incumbents: tuple[int, Evaluation | None, Evaluation | None] = (0, None, None)

    @property
    def unique_evaluations(self) -> int:
        """Distinct evaluation keys scored in this run."""
        return len(self.results)

    @property
    def exhausted(self) -> bool:
        """Whether the budget of unique evaluations is spent."""
        return self.budget is not None and self.unique_evaluations >= self.budget

    @property
    def cache_hits(self) -> int:
        """Requests answered without computing: the run's memo, plus the evaluator's own memo or disk cache."""
        return self.memo_hits + self.evaluator_cache_hits

    def prefetch(self, archs: Sequence[np.ndarray]) -> None:
        """Score, in one call to the scorer, the new keys among `archs` that the remaining budget allows."""
        if self.score_many is None:
            return
        new: dict[str, np.ndarray] = {}
        for ops in archs:
            key = self.key(self.space.validate(ops))
            if key not in self.results and key not in self.pending and key not in new:
                new[key] = ops
        if self.budget is not None:
            new = dict(list(new.items())[: max(0, self.budget - self.unique_evaluations)])
        if new:
            self.pending.update(zip(new, self.score_many(list(new.values()))))

    def request(self, ops: np.ndarray, generation: int | None = None) -> Evaluation:
        """The evaluation of one architecture; raises BudgetExhausted for a new key once the budget is spent."""
        ops = self.space.validate(ops)
        arch = self.space.arch_str(ops)
        generation = self.generation if generation is None else generation
        if arch in self.by_arch:
            self.requests += 1
            self.memo_hits += 1
            return self.by_arch[arch]
        key = self.key(ops)
        if key in self.results:
            self.memo_hits += 1
            result = self.results[key]
        else:
            if self.exhausted:
                raise BudgetExhausted(f"budget of {self.budget} unique evaluations spent")
            result = self.pending.pop(key) if key in self.pending else self.score(ops)
            self.results[key] = result
            self.evaluator_cache_hits += bool(result.cached)
            self.proxy_seconds += float(result.seconds or 0.0)
        self.requests += 1
        phi = float(result.score)
        cost, index = self.cost_model.lookup(ops)
        if self.table is None:
            index = None
        evaluation = Evaluation(
            order=len(self.evaluations),
            generation=generation,
            ops=ops,
            arch=arch,
            key=key,
            index=index,
            phi=phi,
            cost=cost,
            feasible=feasible_of(cost, self.threshold),
            fitness=fitness_of(phi, cost, self.threshold, self.lam, self.form),
            status=str(result.status),
            seconds=float(result.seconds or 0.0),
            cached=bool(result.cached),
        )
        self.by_arch[arch] = evaluation
        self.evaluations.append(evaluation)
        return evaluation

    def answer(self) -> tuple[Evaluation | None, bool]:
        """The fittest feasible evaluation (ties: earliest) and True; else the fittest one and False."""
        # Asked after every generation: the evaluations seen at the last call are not compared again. `fittest`
        # compares in order of evaluation, and so does this, so both pick the same one.
        seen, best, best_feasible = self._incumbents
        for evaluation in self.evaluations[seen:]:
            if best is None or fitter(evaluation, best):
                best = evaluation
            if evaluation.feasible and (best_feasible is None or fitter(evaluation, best_feasible)):
                best_feasible = evaluation
        self._incumbents = (len(self.evaluations), best, best_feasible)
        return (best_feasible, True) if best_feasible is not None else (best, False)

    def generation_summary(self, generation: int, members: list[Evaluation], complete: bool) -> dict[str, Any]:
        """One row of the per-generation history: the population's best and the incumbent answer so far."""
        fit = [m.fitness for m in members if math.isfinite(m.fitness)]
        feasible_members = [m for m in members if m.feasible]
        answer, answer_feasible = self.answer()
        return {
            "generation": generation,
            "size": len(members),
            "complete": complete,
            "best_fitness": max((m.fitness for m in members), default=None),
            "mean_fitness": float(np.mean(fit)) if fit else None,
            "n_feasible": len(feasible_members),
            "best_feasible_phi": max((m.phi for m in feasible_members), default=None),
            "best_feasible_fitness": max((m.fitness for m in feasible_members), default=None),
            "incumbent_order": answer.order if answer is not None else None,
            "incumbent_fitness": answer.fitness if answer is not None else None,
            "incumbent_feasible": answer_feasible,
            "unique_evaluations": self.unique_evaluations,
        }


@dataclass
class SearchOutcome:
    """What any search returns: its answer, everything it evaluated, its history, counters and timings."""

    method: str
    answer: Evaluation | None
    answer_feasible: bool
    evaluations: list[Evaluation]
    history: list[dict[str, Any]]
    counters: dict[str, Any]
    timing: dict[str, Any] = field(default_factory=dict)
    # Set when the method cannot answer at all (e.g. the oracle on a space without accuracy data).
    not_applicable: str | None = None


def finish(
    method: str, tracker: SearchTracker, history: list[dict[str, Any]], stopped_by: str, started: tuple[float, float],
    **counters: Any,
) -> SearchOutcome:
    """Package a tracker into a SearchOutcome; timing holds the run-dependent numbers."""
    answer, answer_feasible = tracker.answer()
    wall, cpu = time.perf_counter() - started[0], time.process_time() - started[1]
    fresh = tracker.unique_evaluations - tracker.evaluator_cache_hits
    log.info(
        "%s: %d unique evaluations (%d requests, %d memo hits), stopped by %s, %.1f s",
        method, tracker.unique_evaluations, tracker.requests, tracker.memo_hits, stopped_by, wall,
    )  # fmt: skip
    return SearchOutcome(
        method=method,
        answer=answer,
        answer_feasible=answer_feasible,
        evaluations=tracker.evaluations,
        history=history,
        counters={
            "unique_evaluations": tracker.unique_evaluations,
            "requests": tracker.requests,
            "memo_hits": tracker.memo_hits,
            "distinct_archs": len(tracker.evaluations),
            "stopped_by": stopped_by,
            **counters,
        },
        timing={
            "wall_seconds": wall,
            "cpu_seconds": cpu,
            "proxy_seconds": tracker.proxy_seconds,
            "cache_hits": tracker.cache_hits,
            "evaluator_cache_hits": tracker.evaluator_cache_hits,
            "fresh_evaluations": fresh,
        },
    )


def bar_disabled(progress: bool | None) -> bool | None:
    """tqdm's `disable` for a progress wish: None (the default) turns the bar off when stderr is not a terminal."""
    return None if progress is None else not progress


__all__ = [
    "BudgetExhausted", "Evaluation", "SearchOutcome", "SearchTracker", "bar_disabled", "finish", "fitter", "fittest",
]  # fmt: skip

"""The generational genetic algorithm of HW-EvRSNAS (METHOD.md section 3), and the bookkeeping every search shares.

GA, per `GAConfig` (defaults = METHOD.md's [choice] values):

- generation 0 is `population` architectures drawn uniformly (`space.sample`); then `generations`
  generations are bred, so a full run sees generations 0..`generations`;
- each bred generation keeps the `elites` fittest of the previous one unchanged (ties: earliest
  evaluated) and fills the rest with children: two parents by tournament (`tournament_size`
  distinct members drawn without replacement, the fittest wins, ties to the earliest evaluated),
  uniform crossover (each gene from the second parent with `crossover_p`), then per-gene
  mutation (`mutation_p`, the op resampled uniformly: the space module's operators);
- fitness F = phi - lam * P(cost) (search.penalty); the search stops after the last generation
  or as soon as `budget` unique proxy evaluations have been made, mid-generation if need be.
- Every random draw comes from one `np.random.default_rng(seed)`, so a run is a pure function of
  (config, seed, the evaluator's scores, the cost table).

Bookkeeping (`SearchTracker`): a request for an architecture is answered from the run's memo when
its *evaluation key* was seen before in this run (the canonical architecture: for NB201 the
isomorphism key, so a twin costs nothing; for FBNet the op string), else by the evaluator.
`unique_evaluations` counts distinct keys evaluated in this run (whether the evaluator then
computed or read its own cache: the run's cost as if it ran alone), `memo_hits` the requests
answered by the run's memo, `cache_hits` those plus the unique ones the evaluator served from
its memo or disk (`result.cached`), and `proxy_seconds` sums `result.seconds` over the unique
ones. Costs are looked up per exact architecture (isomorphic NB201 twins have their own measured
latency), so twins are separate candidates sharing one phi. The answer is the fittest feasible
candidate ever evaluated (ties: earliest), else the fittest one, flagged infeasible.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable

import numpy as np
from tqdm import tqdm

from hwevrsnas.proxy.trainer import ProxyResult
from hwevrsnas.search.costs import CostModel
from hwevrsnas.search.penalty import DEFAULT_FORM, check_form, feasible, fitness
from hwevrsnas.spaces import fbnet as fbnet_space
from hwevrsnas.spaces import nb201 as nb201_space

log = logging.getLogger(__name__)

SPACE_MODULES: dict[str, ModuleType] = {"nb201": nb201_space, "fbnet": fbnet_space}


@dataclass(frozen=True)
class GAConfig:
    """Every knob of a search (GA and baselines); the defaults are METHOD.md section 3's."""

    population: int = 20
    generations: int = 50
    budget: int | None = None
    tournament_size: int = 5
    elites: int = 1
    crossover_p: float = 0.5
    mutation_p: float = 0.1
    lam: float = 1.0
    penalty: str = DEFAULT_FORM

    def __post_init__(self) -> None:
        check_form(self.penalty)
        for key in ("population", "tournament_size"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be >= 1, got {getattr(self, key)}")
        if self.generations < 0:
            raise ValueError(f"generations must be >= 0, got {self.generations}")
        if not 0 <= self.elites < self.population:
            raise ValueError(f"elites must lie in 0..population-1 = {self.population - 1}, got {self.elites}")
        if self.budget is not None and self.budget < 1:
            raise ValueError(f"budget must be >= 1 unique evaluation, got {self.budget}")
        for key in ("crossover_p", "mutation_p"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise ValueError(f"{key} must lie in [0, 1], got {getattr(self, key)}")
        if not (math.isfinite(self.lam) and self.lam >= 0):
            raise ValueError(f"lam must be a finite number >= 0, got {self.lam}")

    @property
    def max_requests(self) -> int:
        """The GA's largest possible number of candidate requests: population + generations * (population - elites)."""
        return self.population + self.generations * (self.population - self.elites)

    @property
    def effective_budget(self) -> int:
        """`budget`, or when unset `max_requests` (what random search and REA get by default)."""
        return self.budget if self.budget is not None else self.max_requests

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict of the knobs."""
        return dataclasses.asdict(self)


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
            "ops": "".join(str(int(o)) for o in self.ops),
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
        space: str,
        score: Callable[[np.ndarray], ProxyResult],
        cost_model: CostModel,
        threshold: float,
        lam: float = 1.0,
        form: str = DEFAULT_FORM,
        budget: int | None = None,
        key: Callable[[np.ndarray], str] | None = None,
    ) -> None:
        if space not in SPACE_MODULES:
            raise ValueError(f"unknown space {space!r}; valid spaces: {', '.join(SPACE_MODULES)}")
        if cost_model.space != space:
            raise ValueError(f"the cost model is for {cost_model.space!r}, the search for {space!r}")
        from hwevrsnas.proxy.evaluator import canonical_arch

        self.space = space
        self.module = SPACE_MODULES[space]
        self.score = score
        self.cost_model = cost_model
        self.threshold = float(threshold)
        self.lam = float(lam)
        self.form = check_form(form)
        self.budget = budget
        self.key = key or (lambda ops: canonical_arch(space, ops))
        self.arch_str = nb201_space.ops_to_arch if space == "nb201" else fbnet_space.arch_str
        self.table = cost_model.table if space == "nb201" else None
        self.results: dict[str, ProxyResult] = {}
        self.by_arch: dict[str, Evaluation] = {}
        self.evaluations: list[Evaluation] = []
        self.requests = 0
        self.memo_hits = 0
        self.evaluator_cache_hits = 0
        self.proxy_seconds = 0.0
        self.generation = 0

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

    def request(self, ops: np.ndarray, generation: int | None = None) -> Evaluation:
        """The evaluation of one architecture; raises BudgetExhausted for a new key once the budget is spent."""
        ops = self.module.validate(ops)
        arch = self.arch_str(ops)
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
            result = self.score(ops)
            self.results[key] = result
            self.evaluator_cache_hits += bool(result.cached)
            self.proxy_seconds += float(result.seconds or 0.0)
        self.requests += 1
        phi = float(result.score)
        cost = float(self.cost_model.cost(ops))
        index = int(self.table.indices_of_ops(ops[None])[0]) if self.table is not None else None
        evaluation = Evaluation(
            order=len(self.evaluations),
            generation=generation,
            ops=ops,
            arch=arch,
            key=key,
            index=index,
            phi=phi,
            cost=cost,
            feasible=bool(feasible(cost, self.threshold)),
            fitness=float(fitness(phi, cost, self.threshold, self.lam, self.form)),
            status=str(result.status),
            seconds=float(result.seconds or 0.0),
            cached=bool(result.cached),
        )
        self.by_arch[arch] = evaluation
        self.evaluations.append(evaluation)
        return evaluation

    def answer(self) -> tuple[Evaluation | None, bool]:
        """The fittest feasible evaluation (ties: earliest) and True; else the fittest one and False."""
        if not self.evaluations:
            return None, False
        feasible_ones = [e for e in self.evaluations if e.feasible]
        if feasible_ones:
            return fittest(feasible_ones), True
        return fittest(self.evaluations), False

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


def tournament(population: list[Evaluation], size: int, rng: np.random.Generator) -> Evaluation:
    """The fittest of `size` distinct members drawn uniformly (all of them when fewer)."""
    picks = rng.choice(len(population), size=min(size, len(population)), replace=False)
    return fittest([population[int(i)] for i in picks])


def elite(population: list[Evaluation], n: int) -> list[Evaluation]:
    """The n fittest members (ties: earliest evaluated), fittest first."""
    return sorted(population, key=lambda e: (-e.fitness, e.order))[:n]


def run_ga(
    evaluator: Any,
    cost_model: CostModel,
    threshold: float,
    config: GAConfig = GAConfig(),
    seed: int = 0,
    progress: bool | None = None,
) -> SearchOutcome:
    """HW-EvRSNAS's GA with `evaluator` (anything with .space and .evaluate(ops) -> ProxyResult)."""
    started = (time.perf_counter(), time.process_time())
    space = evaluator.space
    module = SPACE_MODULES[space]
    tracker = SearchTracker(
        space, evaluator.evaluate, cost_model, threshold, config.lam, config.penalty, config.budget
    )
    rng = np.random.default_rng(seed)
    history: list[dict[str, Any]] = []
    population: list[Evaluation] = []
    bar = tqdm(total=config.generations + 1, desc=f"GA {getattr(evaluator, 'name', '')}", disable=_disable(progress))
    try:
        for ops in module.sample(rng, config.population):
            population.append(tracker.request(ops, 0))
            if tracker.exhausted:
                break
        history.append(tracker.generation_summary(0, population, len(population) == config.population))
        bar.update()
        for generation in range(1, config.generations + 1):
            if tracker.exhausted:
                break
            tracker.generation = generation
            offspring = elite(population, config.elites)
            while len(offspring) < config.population:
                first = tournament(population, config.tournament_size, rng)
                second = tournament(population, config.tournament_size, rng)
                child = module.crossover(first.ops, second.ops, rng, config.crossover_p)
                child = module.mutate(child, rng, config.mutation_p)
                offspring.append(tracker.request(child, generation))
                if tracker.exhausted:
                    break
            population = offspring
            history.append(tracker.generation_summary(generation, population, len(population) == config.population))
            bar.update()
            bar.set_postfix(unique=tracker.unique_evaluations, best=f"{history[-1]['best_fitness']:.4f}")
            log.debug("generation %d: %s", generation, history[-1])
        stopped_by = "budget" if tracker.exhausted else "generations"
    finally:
        bar.close()
    return finish(
        "ga", tracker, history, stopped_by, started,
        generations_completed=sum(bool(row["complete"]) for row in history[1:]), seed=seed,
    )  # fmt: skip


def _disable(progress: bool | None) -> bool | None:
    # tqdm's disable=None turns the bar off when stderr is not a terminal.
    return None if progress is None else not progress


__all__ = [
    "BudgetExhausted",
    "Evaluation",
    "GAConfig",
    "SPACE_MODULES",
    "SearchOutcome",
    "SearchTracker",
    "elite",
    "finish",
    "fittest",
    "run_ga",
    "tournament",
]

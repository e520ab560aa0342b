"""Multi-threshold searches: one run per (space, dataset, device, metric, seed) answers every threshold.

HW-EvRSNAS needs one search per threshold. Its authors' follow-up, MO-HDNAS (Sinha et al., CVPR 2024
Workshops, arXiv 2404.12403), searches once with NSGA-II and reads every threshold's answer off what
it evaluated. The methods here (docs/MULTIOBJECTIVE.md has every choice):

- `run_mo_hdnas`: NSGA-II (pymoo) over the space's integer encoding, minimising
  (-phi, cost / c_max, -chi); chi is the hardware-cost diversity (`cost_diversity`), recomputed over
  the pool NSGA-II ranks at every survival (`CostDiversitySurvival`), because it depends on the
  population a candidate competes in, not on the candidate alone;
- `run_mo_nsga2`: the same without chi (the registry pairs it with the rsnas proxy as `mo-nsga2`
  and with the zc:params proxy as `mo-nsga2-params`);
- `run_mo_random`: `search.baselines.run_random`'s draws (the same sample as `random` at the same
  seed and budget), every threshold answered from it.

c_max is `cost_scale`: the largest cost of the column (NB201), or of the fixed quantile sample
(FBNet). Variation is the space's own (`space.sample`, uniform crossover with `crossover_p`, one
child per pair as in the GA, per-gene resampling with `mutation_p`) wrapped as pymoo operators;
selection is NSGA-II's binary tournament (dominance, then crowding distance); pymoo removes children
identical to a population member or to each other. An architecture without a cost (or with a NaN
phi) violates pymoo's constraint, so it loses to every measurable one.

Every evaluation goes through the `SearchProblem`'s tracker (search.problem: the run's memo,
isomorphism classes, budget and counters), built with the largest threshold; its feasibility and
fitness at that one threshold are not used. The budget is `GAConfig.effective_budget` (as random
search: by default the GA's largest number of requests), and the run stops as soon as it is
spent, mid-generation if need be, or after `generations` bred generations. Determinism: pymoo draws every random number from the
`np.random.Generator` it builds from the seed given to the algorithm, so a run is a pure function of
(config, seed, scores, cost table).

The answer at threshold T (`threshold_answers`) is the evaluated architecture with the highest phi
among those with cost <= T (a missing cost never qualifies; a NaN phi ranks last; ties: earliest
evaluated), the answer rule of the single-objective methods. With none feasible, the cheapest
evaluated architecture is returned, flagged infeasible.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
from pymoo.algorithms.moo.nsga2 import NSGA2, binary_tournament
from pymoo.core.crossover import Crossover
from pymoo.core.mutation import Mutation
from pymoo.core.problem import Problem
from pymoo.core.sampling import Sampling
from pymoo.operators.selection.tournament import TournamentSelection
from pymoo.operators.survival.rank_and_crowding import RankAndCrowding
from tqdm import tqdm

from hwevrsnas.errors import InputError
from hwevrsnas.search.baselines import run_random
from hwevrsnas.search.config import GAConfig
from hwevrsnas.search.costs import CostModel
from hwevrsnas.search.penalty import feasible_of
from hwevrsnas.search.problem import SearchProblem
from hwevrsnas.search.tracker import BudgetExhausted, Evaluation, SearchOutcome, bar_disabled, finish
from hwevrsnas.spaces import Space


def cost_scale(cost_model: CostModel) -> float:
    """c_max: the largest cost of the NB201 column, or of FBNet's fixed quantile sample (costs.py)."""
    return cost_model.quantile(1.0)


def cost_diversity(costs: np.ndarray) -> np.ndarray:
    """chi of each member of a population: the distance from its cost to the nearest other member's cost.

    Members without a cost (NaN) neither have a chi (0) nor count as another member's neighbour; a
    member alone has no neighbour and gets 0. Twins with equal costs get 0 each.
    """
    costs = np.asarray(costs, dtype=np.float64)
    chi = np.zeros(len(costs))
    present = np.flatnonzero(~np.isnan(costs))
    if len(present) < 2:
        return chi
    order = present[np.argsort(costs[present], kind="stable")]
    gaps = np.diff(costs[order])
    chi[order] = np.minimum(np.append(np.inf, gaps), np.append(gaps, np.inf))
    return chi


@dataclass(frozen=True)
class ThresholdAnswer:
    """One threshold's answer: an evaluated architecture (None when nothing was evaluated) and its feasibility."""

    threshold: float
    answer: Evaluation | None
    feasible: bool


def _phi_key(evaluation: Evaluation) -> float:
    return -math.inf if math.isnan(evaluation.phi) else evaluation.phi


def threshold_answers(evaluations: Sequence[Evaluation], thresholds: Sequence[float]) -> list[ThresholdAnswer]:
    """Each threshold's answer among `evaluations` (see the module docstring), in the order of `thresholds`."""
    # Highest phi first, ties to the earliest: a threshold's answer is the first of these that it admits, so that
    # every threshold need not look at every evaluation.
    ranked = sorted(evaluations, key=lambda e: (-_phi_key(e), e.order))
    answers = []
    for threshold in thresholds:
        best = next((e for e in ranked if feasible_of(e.cost, threshold)), None)
        if best is not None:
            answers.append(ThresholdAnswer(threshold, best, True))
            continue
        priced = [e for e in evaluations if not math.isnan(e.cost)]
        cheapest = min(priced, key=lambda e: (e.cost, e.order)) if priced else None
        answers.append(ThresholdAnswer(threshold, cheapest, False))
    return answers


@dataclass
class MultiOutcome:
    """What a multi-threshold search returns: every threshold's answer, everything it evaluated, counters, timings."""

    method: str
    answers: list[ThresholdAnswer]
    evaluations: list[Evaluation]
    history: list[dict[str, Any]]
    counters: dict[str, Any]
    timing: dict[str, Any] = field(default_factory=dict)


class TrackedProblem(Problem):
    """The search problem as a pymoo problem: each row of X an architecture, scored through the run's tracker.

    Objectives (minimised): -phi, cost / c_max, and with `diversity` a third column for -chi, left 0
    here and filled in by CostDiversitySurvival before anything reads it. One constraint, violated
    by an architecture without a cost or with a NaN phi.
    """

    def __init__(self, problem: SearchProblem, diversity: bool) -> None:
        space = problem.tracker.space
        super().__init__(
            n_var=space.num_genes, n_obj=3 if diversity else 2, n_ieq_constr=1, xl=0, xu=space.num_ops - 1, vtype=int
        )
        self.tracker = problem.tracker
        self.scale = cost_scale(problem.cost_model)

    def _evaluate(self, X: np.ndarray, out: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        # pymoo's rows are int64: checked and made op indices at once, not one request at a time.
        archs = list(self.tracker.space.validate(X))
        self.tracker.prefetch(archs)
        evaluations = []
        for ops in archs:
            evaluations.append(self.tracker.request(ops))
            if self.tracker.exhausted and len(evaluations) < len(archs):
                # As the GA: the run ends the moment its budget is spent, even mid-generation.
                raise BudgetExhausted(f"budget of {self.tracker.budget} unique evaluations spent")
        phi = np.array([e.phi for e in evaluations])
        cost = np.array([e.cost for e in evaluations]) / self.scale
        measurable = np.isfinite(phi) & np.isfinite(cost)
        columns = [-phi, cost] + [np.zeros(len(archs))] * (self.n_obj - 2)
        # pymoo ranks constraint violators by their violation alone, so their objective values are never compared.
        out["F"] = np.where(measurable[:, None], np.column_stack(columns), 0.0)
        out["G"] = np.where(measurable, 0.0, 1.0)[:, None]


class CostDiversitySurvival(RankAndCrowding):
    """NSGA-II's rank-and-crowding survival, after setting every member's chi over the pool being ranked.

    pymoo passes only the measurable members here (the rest are ranked by constraint violation), so
    chi is the distance to the nearest other measurable member of parents and offspring together.
    """

    def _do(self, problem: Problem, pop: Any, *args: Any, **kwargs: Any) -> Any:
        F = pop.get("F")
        F[:, 2] = -cost_diversity(F[:, 1])
        pop.set("F", F)
        return super()._do(problem, pop, *args, **kwargs)


class SpaceSampling(Sampling):
    """The space's uniform sampling. Integer rows are int64: pymoo's duplicate check subtracts them."""

    def __init__(self, space: Space) -> None:
        super().__init__()
        self.space = space

    def _do(self, problem: Problem, n_samples: int, *args: Any, random_state: Any = None, **kwargs: Any) -> np.ndarray:
        return self.space.sample(random_state, n_samples).astype(np.int64)


class SpaceCrossover(Crossover):
    """The space's uniform crossover: one child per pair of parents, each gene from the second with probability p."""

    def __init__(self, space: Space, p: float) -> None:
        # pymoo's own crossover probability is 1: every child is crossed, as in the GA; p acts per gene.
        super().__init__(n_parents=2, n_offsprings=1, prob=1.0)
        self.space = space
        self.p = p

    def _do(self, problem: Problem, X: np.ndarray, *args: Any, random_state: Any = None, **kwargs: Any) -> np.ndarray:
        return self.space.crossover(X[0], X[1], random_state, self.p)[None].astype(np.int64)


class SpaceMutation(Mutation):
    """The space's per-gene resampling mutation with probability p, applied to every child."""

    def __init__(self, space: Space, p: float) -> None:
        super().__init__(prob=1.0)
        self.space = space
        self.p = p

    def _do(self, problem: Problem, X: np.ndarray, *args: Any, random_state: Any = None, **kwargs: Any) -> np.ndarray:
        return self.space.mutate(X, random_state, self.p).astype(np.int64)


def _outcome(
    method: str, outcome: SearchOutcome, thresholds: Sequence[float], history: list[dict[str, Any]]
) -> MultiOutcome:
    return MultiOutcome(
        method, threshold_answers(outcome.evaluations, thresholds), outcome.evaluations, history,
        outcome.counters, outcome.timing,
    )  # fmt: skip


def _run_nsga2(
    name: str, problem: SearchProblem, config: GAConfig, seed: int, progress: bool | None, diversity: bool
) -> MultiOutcome:
    if config.population < 2:
        raise InputError(
            f"{name} needs a population of at least 2 (NSGA-II's binary tournament), got {config.population}"
        )
    started = (time.perf_counter(), time.process_time())
    tracker = problem.tracker
    budget = tracker.budget
    space = tracker.space
    algorithm = NSGA2(
        pop_size=config.population,
        sampling=SpaceSampling(space),
        selection=TournamentSelection(func_comp=binary_tournament),
        crossover=SpaceCrossover(space, config.crossover_p),
        mutation=SpaceMutation(space, config.mutation_p),
        survival=CostDiversitySurvival() if diversity else RankAndCrowding(),
        eliminate_duplicates=True,
        seed=seed,
    )
    algorithm.setup(TrackedProblem(problem, diversity), termination=("n_gen", config.generations + 1))
    history: list[dict[str, Any]] = []
    bar = tqdm(total=budget, desc=f"{name} {problem.scorer_name}", disable=bar_disabled(progress))
    try:
        while algorithm.has_next() and not tracker.exhausted:
            tracker.generation = len(history)
            before = (tracker.requests, tracker.unique_evaluations)
            try:
                algorithm.next()
                complete = True
            except BudgetExhausted:
                complete = False
            ranks = algorithm.pop.get("rank") if complete else None
            history.append({
                "generation": tracker.generation,
                "complete": complete,
                "requests": tracker.requests - before[0],
                "unique_evaluations": tracker.unique_evaluations,
                "front_size": int(np.sum(ranks == 0)) if complete else None,
            })  # fmt: skip
            bar.update(tracker.unique_evaluations - before[1])
            if not complete:
                break
    finally:
        bar.close()
    if tracker.exhausted:
        stopped_by = "budget"
    elif len(history) == config.generations + 1:
        stopped_by = "generations"
    else:  # pymoo found no child unlike the population within its attempts
        stopped_by = "no_new_offspring"
    outcome = finish(
        name, tracker, history, stopped_by, started, budget=budget, seed=seed,
        generations_completed=sum(row["complete"] for row in history[1:]),
    )  # fmt: skip
    return _outcome(name, outcome, problem.thresholds, history)


def run_mo_hdnas(
    problem: SearchProblem, config: GAConfig = GAConfig(), seed: int = 0, progress: bool | None = None
) -> MultiOutcome:
    """MO-HDNAS: NSGA-II on (phi, cost, cost diversity); answers every threshold."""
    return _run_nsga2("mo-hdnas", problem, config, seed, progress, diversity=True)


def run_mo_nsga2(
    problem: SearchProblem, config: GAConfig = GAConfig(), seed: int = 0, progress: bool | None = None
) -> MultiOutcome:
    """NSGA-II on (phi, cost), without the diversity objective; answers every threshold."""
    return _run_nsga2("mo-nsga2", problem, config, seed, progress, diversity=False)


def run_mo_random(
    problem: SearchProblem, config: GAConfig = GAConfig(), seed: int = 0, progress: bool | None = None
) -> MultiOutcome:
    """Random search's sample (same draws as `random` at this seed and budget), every threshold answered from it.

    Its history is empty: random search's per-block incumbents are those of one threshold.
    """
    return _outcome("mo-random", run_random(problem, config, seed, progress), problem.thresholds, [])


__all__ = [
    "CostDiversitySurvival", "MultiOutcome", "SpaceCrossover", "SpaceMutation", "SpaceSampling", "ThresholdAnswer",
    "TrackedProblem", "cost_diversity", "cost_scale", "run_mo_hdnas", "run_mo_nsga2", "run_mo_random",
    "threshold_answers",
]  # fmt: skip

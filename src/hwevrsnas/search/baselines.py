"""Baselines under the same penalty and budget of unique evaluations as the GA.

- `run_random`: uniform random sampling with the GA's evaluator; the answer is chosen exactly as
  the GA's (fittest feasible ever evaluated, ties to the earliest). Its records' `generation` is
  the request number // population (draws in blocks of a GA population).
- `run_rea`: regularised (aging) evolution, Real et al. 2019, on the NB201 table's 12-epoch
  validation accuracy of the search's dataset (the scorer of a `SearchProblem` without a proxy,
  search.problem); it reports the 200-epoch test accuracy of its pick: the usual tabular baseline.
  Defaults [choice]: population = GAConfig.population (20), sample size = GAConfig.tournament_size
  (5), drawn with replacement as in Real et al.'s pseudo-code; the child is the parent with exactly
  one gene changed to a different op, chosen uniformly (the NB201 paper's REA mutation); the oldest
  member dies each cycle. Its unique evaluations count distinct architectures, not isomorphism
  classes. Its records' `generation` is the cycle (0 for the initial population).
- `oracle`: the exact feasible optimum by exhaustive search over the 15,625 NB201 architectures;
  FBNet has no accuracy data, so it returns None with the reason (the best proxy score found by
  any method is an aggregation-time statistic).

Budget: the problem's, `GAConfig.budget`, or when unset `GAConfig.max_requests` (970 with the
defaults: the most candidates the GA could ever request). Loops that keep drawing known architectures stop after
`REQUEST_CAP_FACTOR * budget + REQUEST_CAP_EXTRA` requests (a budget above the space's size).
"""

from __future__ import annotations

import collections
import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm import tqdm

from hwevrsnas.errors import InputError
from hwevrsnas.proxy.result import STATUS_OK
from hwevrsnas.search.config import GAConfig
from hwevrsnas.search.costs import CostModel
from hwevrsnas.search.problem import TABLE_ACCURACY_KIND, SearchProblem
from hwevrsnas.search.tracker import Evaluation, SearchOutcome, SearchTracker, bar_disabled, finish, fitter, fittest
from hwevrsnas.spaces import get_space
from hwevrsnas.tables.store import Optimum

log = logging.getLogger(__name__)

REQUEST_CAP_FACTOR = 50
REQUEST_CAP_EXTRA = 10_000


def _request_cap(budget: int) -> int:
    return REQUEST_CAP_FACTOR * budget + REQUEST_CAP_EXTRA


def run_random(
    problem: SearchProblem, config: GAConfig = GAConfig(), seed: int = 0, progress: bool | None = None
) -> SearchOutcome:
    """Uniform random search: draw architectures until the problem's budget of unique evaluations is spent."""
    started = (time.perf_counter(), time.process_time())
    tracker = problem.tracker
    budget = tracker.budget
    space = tracker.space
    rng = np.random.default_rng(seed)
    bar = tqdm(total=budget, desc=f"random {problem.scorer_name}", disable=bar_disabled(progress))
    try:
        while not tracker.exhausted and tracker.requests < _request_cap(budget):
            # Draws come in blocks of one GA population, each scored at once; one draw at a time would draw the same.
            block = [space.sample(rng, 1)[0] for _ in range(config.population)]
            tracker.prefetch(block)
            for ops in block:
                if tracker.exhausted or tracker.requests >= _request_cap(budget):
                    break
                before = tracker.unique_evaluations
                tracker.request(ops, tracker.requests // config.population)
                bar.update(tracker.unique_evaluations - before)
    finally:
        bar.close()
    stopped_by = "budget" if tracker.exhausted else "request_cap"
    history = _unique_history(tracker.evaluations, config.population, tracker)
    return finish("random", tracker, history, stopped_by, started, budget=budget, seed=seed)


def mutate_one_gene(ops: np.ndarray, rng: np.random.Generator, num_ops: int) -> np.ndarray:
    """Real et al.'s mutation: one gene, chosen uniformly, gets a different op chosen uniformly."""
    child = np.array(ops, dtype=np.uint8, copy=True)
    gene = int(rng.integers(len(child)))
    child[gene] = (int(child[gene]) + 1 + int(rng.integers(num_ops - 1))) % num_ops
    return child


def run_rea(
    problem: SearchProblem, config: GAConfig = GAConfig(), seed: int = 0, progress: bool | None = None
) -> SearchOutcome:
    """Regularised evolution on the table's 12-epoch validation accuracy (NB201 only: a problem without a proxy)."""
    if problem.cost_model.space != "nb201":
        raise InputError(f"rea-valid12 needs the NB201 accuracy table; space {problem.cost_model.space!r} has none")
    started = (time.perf_counter(), time.process_time())
    tracker = problem.tracker
    budget = tracker.budget
    space = tracker.space
    rng = np.random.default_rng(seed)
    population: collections.deque[Evaluation] = collections.deque()
    cycles = 0
    bar = tqdm(total=budget, desc="REA valid_12ep", disable=bar_disabled(progress))
    try:
        for ops in space.sample(rng, config.population):
            population.append(tracker.request(ops, 0))
            if tracker.exhausted:
                break
        bar.update(tracker.unique_evaluations)
        while not tracker.exhausted and tracker.requests < _request_cap(budget):
            picks = rng.integers(len(population), size=config.tournament_size)
            parent = fittest([population[i] for i in picks.tolist()])
            before = tracker.unique_evaluations
            cycles += 1
            population.append(tracker.request(mutate_one_gene(parent.ops, rng, space.num_ops), cycles))
            population.popleft()
            bar.update(tracker.unique_evaluations - before)
    finally:
        bar.close()
    stopped_by = "budget" if tracker.exhausted else "request_cap"
    history = _unique_history(tracker.evaluations, config.population, tracker)
    return finish(
        "rea-valid12", tracker, history, stopped_by, started, budget=budget, cycles=cycles, seed=seed,
        sample_size=config.tournament_size, accuracy_kind=TABLE_ACCURACY_KIND,
    )  # fmt: skip


def _unique_history(evaluations: list[Evaluation], block: int, tracker: SearchTracker) -> list[dict[str, Any]]:
    """Incumbent after every `block` distinct architectures (the methods without generations)."""
    rows = []
    best: Evaluation | None = None
    best_feasible: Evaluation | None = None
    for position, evaluation in enumerate(evaluations, start=1):
        if best is None or fitter(evaluation, best):
            best = evaluation
        if evaluation.feasible and (best_feasible is None or fitter(evaluation, best_feasible)):
            best_feasible = evaluation
        if position % block == 0 or position == len(evaluations):
            incumbent = best_feasible or best
            rows.append(
                {
                    "distinct_archs": position,
                    "best_fitness": best.fitness,
                    "best_feasible_phi": best_feasible.phi if best_feasible else None,
                    "best_feasible_fitness": best_feasible.fitness if best_feasible else None,
                    "incumbent_order": incumbent.order,
                    "incumbent_fitness": incumbent.fitness,
                    "incumbent_feasible": best_feasible is not None,
                }
            )
    return rows


@dataclass(frozen=True)
class OracleOutcome:
    """The exact feasible optimum (None when there is none, or no accuracy data: see `reason`)."""

    optimum: Optimum | None
    reason: str | None = None
    seconds: float = 0.0


def oracle(cost_model: CostModel, threshold: float) -> OracleOutcome:
    """Best feasible architecture by 200-epoch test accuracy of the search's dataset, exhaustively (NB201)."""
    start = time.perf_counter()
    if cost_model.space != "nb201":
        return OracleOutcome(
            None, "FBNet has no accuracy data: its reference point is the best feasible proxy score "
            "found by any method, computed at aggregation time",
        )  # fmt: skip
    table = cost_model.table
    if cost_model.cost_dataset == cost_model.dataset:
        optimum = table.feasible_optimum(cost_model.column_name, threshold, cost_model.dataset)
    else:  # costs of one dataset, accuracy of another: the same rule, spelled out
        mask = table.feasible_mask(cost_model.column_name, threshold, cost_model.cost_dataset)
        optimum = None
        if mask.any():
            accuracy = np.where(mask, table.accuracy(slice(None), cost_model.dataset), -np.inf)
            index = int(np.argmax(accuracy))
            optimum = Optimum(index, float(accuracy[index]), float(cost_model.column[index]), int(mask.sum()))
    reason = None if optimum is not None else f"no architecture has {cost_model.column_name} <= {threshold}"
    return OracleOutcome(optimum, reason, time.perf_counter() - start)




def run_oracle(
    problem: SearchProblem, config: GAConfig = GAConfig(), seed: int = 0, progress: bool | None = None
) -> SearchOutcome:
    """The oracle as a search: it evaluates every architecture by its true test accuracy (phi = accuracy / 100)."""
    started = time.perf_counter(), time.process_time()
    cost_model = problem.cost_model
    outcome = oracle(cost_model, problem.threshold)
    table = cost_model.table
    exhaustive = get_space(cost_model.space).has_accuracy
    n = len(table) if exhaustive else 0
    answer = None
    if outcome.optimum is not None:
        best = outcome.optimum
        ops = table.ops[best.index]
        phi = best.accuracy / 100.0
        answer = Evaluation(
            order=0, generation=0, ops=ops, arch=table.arch_strings[best.index], key=get_space("nb201").canonical_key(ops),
            index=best.index, phi=phi, cost=best.cost, feasible=True, fitness=phi, status=STATUS_OK,
        )  # fmt: skip
    timing = {
        "wall_seconds": time.perf_counter() - started[0], "cpu_seconds": time.process_time() - started[1],
        "proxy_seconds": 0.0, "cache_hits": 0, "evaluator_cache_hits": 0, "fresh_evaluations": 0,
    }  # fmt: skip
    return SearchOutcome(
        method="oracle", answer=answer, answer_feasible=answer is not None, evaluations=[], history=[],
        counters={"unique_evaluations": n, "requests": n, "memo_hits": 0, "stopped_by": "exhaustive"},
        timing=timing, not_applicable=None if exhaustive else outcome.reason,
    )  # fmt: skip


__all__ = ["OracleOutcome", "mutate_one_gene", "oracle", "run_oracle", "run_rea", "run_random"]

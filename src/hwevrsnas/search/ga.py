"""The generational genetic algorithm of HW-EvRSNAS (METHOD.md section 3).

Per `GAConfig` (defaults = METHOD.md's [choice] values):

- generation 0 is `population` architectures drawn uniformly (`space.sample`); then `generations`
  generations are bred, so a full run sees generations 0..`generations`;
- each bred generation keeps the `elites` fittest of the previous one unchanged (ties: earliest
  evaluated) and fills the rest with children: two parents by tournament (`tournament_size`
  distinct members drawn without replacement, the fittest wins, ties to the earliest evaluated),
  uniform crossover (each gene from the second parent with `crossover_p`), then per-gene
  mutation (`mutation_p`, the op resampled uniformly: the space's operators);
- fitness F = phi - lam * P(cost) (search.penalty); the search stops after the last generation
  or as soon as `budget` unique proxy evaluations have been made, mid-generation if need be.
  The GA only chooses what to request: costs, penalty, scores and the budget are the
  `SearchProblem`'s (search.problem).
- Every random draw comes from one `np.random.default_rng(seed)`, so a run is a pure function of
  (config, seed, the evaluator's scores, the cost table). A generation's children depend only on
  the previous generation, so they are all drawn before any is scored (search.tracker's prefetch);
  the draws and their order are those of drawing and scoring them one by one.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
from tqdm import tqdm

from hwevrsnas.search.config import GAConfig
from hwevrsnas.search.problem import SearchProblem
from hwevrsnas.search.tracker import Evaluation, SearchOutcome, bar_disabled, finish, fittest

log = logging.getLogger(__name__)


def tournament(population: list[Evaluation], size: int, rng: np.random.Generator) -> Evaluation:
    """The fittest of `size` distinct members drawn uniformly (all of them when fewer)."""
    picks = rng.choice(len(population), size=min(size, len(population)), replace=False)
    return fittest([population[i] for i in picks.tolist()])


def elite(population: list[Evaluation], n: int) -> list[Evaluation]:
    """The n fittest members (ties: earliest evaluated), fittest first."""
    return sorted(population, key=lambda e: (-e.fitness, e.order))[:n]


def run_ga(
    problem: SearchProblem, config: GAConfig = GAConfig(), seed: int = 0, progress: bool | None = None
) -> SearchOutcome:
    """HW-EvRSNAS's GA on `problem` (scored by its evaluator)."""
    started = (time.perf_counter(), time.process_time())
    tracker = problem.tracker
    space = tracker.space
    rng = np.random.default_rng(seed)
    history: list[dict[str, Any]] = []
    population: list[Evaluation] = []
    bar = tqdm(total=config.generations + 1, desc=f"GA {problem.scorer_name}", disable=bar_disabled(progress))
    try:
        initial = space.sample(rng, config.population)
        tracker.prefetch(initial)
        for ops in initial:
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
            children = []
            for _ in range(config.population - len(offspring)):
                first = tournament(population, config.tournament_size, rng)
                second = tournament(population, config.tournament_size, rng)
                child = space.crossover(first.ops, second.ops, rng, config.crossover_p)
                children.append(space.mutate(child, rng, config.mutation_p))
            tracker.prefetch(children)
            for child in children:
                offspring.append(tracker.request(child, generation))
                if tracker.exhausted:
                    break
            population = offspring
            history.append(tracker.generation_summary(generation, population, len(population) == config.population))
            bar.update()
            bar.set_postfix(unique=tracker.unique_evaluations, best=f"{history[-1]['best_fitness']:.4f}")
            log.debug("generation %d: %s", generation, history[-1])
        # Without a budget the tracker's is the GA's largest number of requests, reached at the last request of the
        # last generation at the earliest: the generations stopped the search.
        stopped_by = "budget" if config.budget is not None and tracker.exhausted else "generations"
    finally:
        bar.close()
    return finish(
        "ga", tracker, history, stopped_by, started,
        generations_completed=sum(bool(row["complete"]) for row in history[1:]), seed=seed,
    )  # fmt: skip


__all__ = ["GAConfig", "elite", "run_ga", "tournament"]

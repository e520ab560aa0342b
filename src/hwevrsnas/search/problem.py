"""The search problem, apart from the algorithms that solve it (as pymoo separates a Problem from an Algorithm).

A `SearchProblem` is what one search answers: the costs (a CostModel), the threshold(s), the penalty
(its weight lambda, `lam`, and its form: search.penalty), how an architecture is scored, and the run's
`SearchTracker` (memo, budget of unique evaluations, counters: search.tracker). The runner
(search.run) builds it once per search and hands it to the method's algorithm (search.ga,
search.baselines, search.multiobjective, a plugin's), which decides only which architectures to
request from `problem.tracker` and when to stop.

Scoring: a method with a proxy scores with its Evaluator, one evaluation per isomorphism class
(the space's canonical key). A method without one reads the NB201 table's 12-epoch validation
accuracy of the search's dataset (`TABLE_ACCURACY_KIND`; phi = accuracy / 100, so it lives on the
proxy's [0, 1] scale and the same lambda applies), one evaluation per exact architecture:
isomorphic twins were trained separately.

The budget is `GAConfig.effective_budget` for every method (when `budget` is unset, the GA's largest
number of requests). A multi-threshold search's tracker is built with the largest threshold; its
feasibility and fitness at that one threshold are not used (search.multiobjective answers each
threshold from phi and cost).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from hwevrsnas.errors import InputError
from hwevrsnas.proxy.result import STATUS_OK, ProxyResult
from hwevrsnas.search.config import GAConfig
from hwevrsnas.search.costs import CostModel
from hwevrsnas.search.tracker import SearchTracker
from hwevrsnas.spaces import get_space

TABLE_ACCURACY_KIND = "valid_12ep"


def table_scorer(cost_model: CostModel, kind: str = TABLE_ACCURACY_KIND) -> Callable[[np.ndarray], ProxyResult]:
    """Score an NB201 architecture by the table's accuracy of the cost model's dataset (phi = accuracy / 100)."""
    table = cost_model.table
    dataset = cost_model.dataset

    @functools.cache
    def accuracies() -> np.ndarray:
        # Looked up at the first score (a search that scores nothing may have no accuracy table), then kept.
        return table.accuracy(slice(None), dataset, kind)

    def score(ops: np.ndarray) -> ProxyResult:
        accuracy = float(accuracies()[table.index_of_ops(ops)])
        return ProxyResult(accuracy / 100.0, float("nan"), [], 0.0, STATUS_OK, raw=accuracy)

    return score


@dataclass(frozen=True)
class SearchProblem:
    """One search's costs, thresholds, penalty, scorer (`evaluator`, None for the table) and tracker."""

    cost_model: CostModel
    thresholds: tuple[float, ...]
    lam: float
    form: str
    evaluator: Any
    tracker: SearchTracker

    @classmethod
    def build(
        cls, evaluator: Any, cost_model: CostModel, thresholds: Sequence[float], config: GAConfig
    ) -> "SearchProblem":
        """The problem of a search with `config`'s penalty and budget; `evaluator` None scores by the table."""
        values = tuple(float(t) for t in thresholds)
        if not values:
            raise InputError("a search needs at least one threshold")
        if evaluator is None:
            space = get_space(cost_model.space)
            tracker = SearchTracker(
                space, table_scorer(cost_model), cost_model, max(values), config.lam, config.penalty,
                config.effective_budget, key=space.arch_str,
            )  # fmt: skip
        else:
            tracker = SearchTracker(
                evaluator.space, evaluator.evaluate, cost_model, max(values), config.lam, config.penalty,
                config.effective_budget, score_many=getattr(evaluator, "evaluate_many", None),
            )  # fmt: skip
        return cls(cost_model, values, config.lam, config.penalty, evaluator, tracker)

    @property
    def threshold(self) -> float:
        """The threshold the tracker judges feasibility and fitness by (a multi-threshold search's largest)."""
        return self.tracker.threshold

    @property
    def scorer_name(self) -> str:
        """The evaluator's name, for progress bars ('' when the table scores)."""
        return getattr(self.evaluator, "name", "")


__all__ = ["SearchProblem", "TABLE_ACCURACY_KIND", "table_scorer"]

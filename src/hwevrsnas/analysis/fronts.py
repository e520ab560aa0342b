"""Exact Pareto fronts of (test error, cost) from the NB201 table, and the quality of the front a run found.

Both objectives are minimised, on a normalised scale: error = (100 - test accuracy) / 100 (the
200-epoch test accuracy on the cost model's dataset) and cost / c_max, where c_max is the largest
present cost of that (cost dataset, device, metric) column (search.multiobjective.cost_scale).

- The exact front: the non-dominated architectures among all 15,625 with a present cost (missing
  costs excluded), found with pymoo's NonDominatedSorting; architectures equal in both objectives
  are all kept. `Front` lists them by increasing cost, then by NB201 index.
- A run's front: the same over the distinct NB201 architectures it evaluated, with their true
  accuracies (not the proxy's scores).
- Hypervolume: pymoo's HV with the reference point (1, 1) on the normalised objectives (a point at
  c_max adds nothing); IGD: pymoo's IGD, the mean distance from each exact-front point to the
  nearest point of the run's front, on the same scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np
from pymoo.indicators.hv import HV
from pymoo.indicators.igd import IGD
from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

from hwevrsnas.errors import InputError
from hwevrsnas.search.costs import COST_METRICS, CostModel
from hwevrsnas.search.multiobjective import cost_scale

REFERENCE_POINT = (1.0, 1.0)


def normalised(accuracies: np.ndarray, costs: np.ndarray, scale: float) -> np.ndarray:
    """(n, 2) points: error / 100 and cost / scale, from accuracies in percent."""
    accuracies = np.asarray(accuracies, dtype=np.float64)
    return np.column_stack(((100.0 - accuracies) / 100.0, np.asarray(costs, dtype=np.float64) / scale))


def non_dominated(points: np.ndarray) -> np.ndarray:
    """Positions (ascending) of the rows of `points` that no other row dominates (minimisation)."""
    points = np.asarray(points, dtype=np.float64)
    if len(points) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.sort(np.asarray(NonDominatedSorting().do(points, only_non_dominated_front=True), dtype=np.int64))


def hypervolume(points: np.ndarray) -> float:
    """Hypervolume of normalised points with respect to REFERENCE_POINT (0 for no points)."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(points) == 0:
        return 0.0
    return float(HV(ref_point=np.array(REFERENCE_POINT)).do(points))


def igd(points: np.ndarray, exact: np.ndarray) -> float | None:
    """IGD of normalised points to the exact front's normalised points (None for no points)."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(points) == 0:
        return None
    return float(IGD(np.asarray(exact, dtype=np.float64)).do(points))


@dataclass(frozen=True)
class Front:
    """A Pareto front of NB201 architectures: indices, costs, test accuracies (percent), and the cost scale c_max."""

    indices: np.ndarray
    costs: np.ndarray
    accuracies: np.ndarray
    scale: float

    @property
    def points(self) -> np.ndarray:
        """The normalised (error, cost) points."""
        return normalised(self.accuracies, self.costs, self.scale)

    @property
    def hypervolume(self) -> float:
        """Its hypervolume (module docstring)."""
        return hypervolume(self.points)


def _accuracy_table(cost_model: CostModel) -> Any:
    if cost_model.space != "nb201":
        raise InputError(f"space {cost_model.space!r} has no accuracy table, so no exact front; nb201 has one")
    return cost_model.table


def front_of(cost_model: CostModel, indices: Sequence[int] | np.ndarray) -> Front:
    """The front among the given NB201 architectures (duplicates and architectures without a cost dropped)."""
    table = _accuracy_table(cost_model)
    indices = np.unique(np.asarray(indices, dtype=np.int64))
    indices = indices[~np.isnan(cost_model.column[indices])]
    costs = cost_model.column[indices]
    accuracies = np.asarray(table.accuracy(indices, cost_model.dataset), dtype=np.float64)
    scale = cost_scale(cost_model)
    keep = non_dominated(normalised(accuracies, costs, scale))
    order = keep[np.lexsort((indices[keep], costs[keep]))]
    return Front(indices[order], costs[order], accuracies[order], scale)


def exact_front(cost_model: CostModel) -> Front:
    """The exact front of (test error, cost) over every architecture with a cost."""
    return front_of(cost_model, np.arange(len(_accuracy_table(cost_model))))


def run_quality(cost_model: CostModel, indices: Sequence[int | None], exact: Front | None = None) -> dict[str, Any]:
    """A run's front (from the NB201 indices it evaluated) and its quality against the exact front.

    Keys: `front` (indices), `hypervolume`, `hypervolume_exact`, `hypervolume_ratio`, `igd`.
    """
    exact = exact_front(cost_model) if exact is None else exact
    found = front_of(cost_model, [i for i in indices if i is not None])
    volume, exact_volume = found.hypervolume, exact.hypervolume
    return {
        "front": [int(i) for i in found.indices],
        "hypervolume": volume,
        "hypervolume_exact": exact_volume,
        "hypervolume_ratio": volume / exact_volume if exact_volume > 0 else None,
        "igd": igd(found.points, exact.points),
    }


def front_record(cost_model: CostModel, front: Front | None = None) -> dict[str, Any]:
    """JSON-ready description of the exact front of a cost model (what `hwevrsnas front --json` prints)."""
    front = exact_front(cost_model) if front is None else front
    table = _accuracy_table(cost_model)
    return {
        **cost_model.describe(),
        "cost_scale": front.scale,
        "reference_point": list(REFERENCE_POINT),
        "n_with_cost": int(np.sum(~np.isnan(cost_model.column))),
        "size": len(front.indices),
        "indices": [int(i) for i in front.indices],
        "archs": [table.arch_strings[int(i)] for i in front.indices],
        "costs": [float(c) for c in front.costs],
        "accuracies": [float(a) for a in front.accuracies],
        "hypervolume": front.hypervolume,
    }


def settings_with_costs(table: Any) -> Iterator[tuple[str, str, str]]:
    """Every (dataset, device, metric) of the NB201 table with a searchable cost column and accuracies."""
    for dataset in table.cost_datasets:
        if dataset not in table.datasets:
            continue
        for metric in COST_METRICS:
            for device in table.devices(dataset, metric):
                yield dataset, device, metric


__all__ = [
    "Front", "REFERENCE_POINT", "exact_front", "front_of", "front_record", "hypervolume", "igd", "non_dominated",
    "normalised", "run_quality", "settings_with_costs",
]  # fmt: skip

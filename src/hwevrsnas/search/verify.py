"""Re-check a search result against the tables, independently of the code that produced it.

Checked: the setting is the expected one; the threshold is what its label says (a quantile
recomputed from the cost column); the returned architecture's cost is the tabular cost;
`feasible` is `cost <= T` (a missing cost never is); for spaces with an accuracy table, the test
accuracy, the exact feasible optimum (exhaustive, ties to the lowest index) and the regret
(defined only for a feasible answer). A mismatch raises after logging every failed check.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from hwevrsnas.search.costs import CostModel
from hwevrsnas.search.result import load_result
from hwevrsnas.spaces import get_space

log = logging.getLogger(__name__)


class CheckFailed(RuntimeError):
    """A result disagrees with the tables (a bug in the search code, never a user error)."""


def _close(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=1e-12)


def check_result(
    run_path: str | Path, tables_dir: str | Path, expected: Mapping[str, Any], threshold: tuple[str, float]
) -> dict[str, Any]:
    """Check one result file; return the checks (CheckFailed when one fails).

    `expected` holds the setting's space, dataset, device, metric, method and seed; `threshold` is
    ("quantile" or "value", number) as the run was asked for it.
    """
    record = load_result(run_path)
    setting = record["setting"]
    checks: list[dict[str, Any]] = []

    def check(name: str, want: Any, actual: Any, ok: bool | None = None) -> None:
        same = ok if ok is not None else (want == actual if isinstance(want, (str, bool)) else _close(want, actual))
        checks.append({"check": name, "expected": want, "actual": actual, "ok": bool(same)})

    for key in ("space", "dataset", "device", "metric", "method", "seed"):
        check(f"setting.{key}", expected[key], setting[key], expected[key] == setting[key])
    space = expected["space"]
    model = CostModel.open(
        space, tables_dir, expected["dataset"], expected["device"], expected["metric"], setting.get("cost_dataset") or None
    )
    kind, number = threshold
    expected_t = model.quantile(number) if kind == "quantile" else number
    value = record["threshold"]
    check("threshold", expected_t, value)
    check("threshold_source", kind, setting["threshold_source"])
    if kind == "quantile":
        check("quantile", number, setting["quantile"])

    cost = None
    if record.get("ops") is not None:
        if space == "nb201":
            cost = float(model.column[int(record["index"])])
            check("index", int(model.table.index_of(record["arch"])), record["index"])
        else:
            cost = float(model.cost(np.asarray(record["ops"])))
        check("cost", cost, record["cost"], _close(cost, record["cost"]) or (math.isnan(cost) and record["cost"] is None))
    feasible = cost is not None and not math.isnan(cost) and cost <= value
    check("feasible", feasible, bool(record.get("feasible")))

    regret = None
    if get_space(space).has_accuracy:
        table, column = model.table, model.column
        mask = ~np.isnan(column) & (column <= value)
        optimum_index = optimum_accuracy = None
        if mask.any():
            accuracy = np.where(mask, table.accuracy(np.arange(len(table)), expected["dataset"]), -np.inf)
            optimum_index = int(np.argmax(accuracy))
            optimum_accuracy = float(accuracy[optimum_index])
        check("optimum_accuracy", optimum_accuracy, record.get("optimum_accuracy"))
        check("optimum_index", optimum_index, record.get("optimum_index"), optimum_index == record.get("optimum_index"))
        index = record.get("index")
        test_accuracy = float(table.accuracy(int(index), expected["dataset"])) if index is not None else None
        check("test_accuracy", test_accuracy, record.get("test_accuracy"))
        if optimum_accuracy is not None and test_accuracy is not None and feasible:
            regret = optimum_accuracy - test_accuracy
        check("regret", regret, record.get("regret"))
        if expected["method"] == "oracle" and regret is not None:
            check("oracle_regret_zero", 0.0, regret)

    failed = [c for c in checks if not c["ok"]]
    result = {
        "run": str(run_path),
        "ok": not failed,
        "threshold": value,
        "cost": cost,
        "feasible": feasible,
        "regret": regret,
        "test_accuracy": record.get("test_accuracy"),
        "optimum_accuracy": record.get("optimum_accuracy"),
        "unique_evaluations": record.get("unique_evaluations"),
        "status": record.get("status"),
        "checks": checks,
    }
    for c in failed:
        log.error("check %s failed: expected %r, got %r", c["check"], c["expected"], c["actual"])
    if failed:
        raise CheckFailed(f"{run_path}: {len(failed)} check(s) failed: {', '.join(c['check'] for c in failed)}")
    log.info("%s: %d checks passed", run_path, len(checks))
    return result


__all__ = ["CheckFailed", "check_result"]

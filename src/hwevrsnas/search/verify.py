"""Re-check a search result against the tables, independently of the code that produced it.

Checked: the setting is the expected one; each threshold is what the run was asked for (a quantile
recomputed from the cost column); each answer's cost is the tabular cost; `feasible` is
`cost <= T` (a missing cost never is); for spaces with an accuracy table, the test accuracy, the
exact feasible optimum (exhaustive, ties to the lowest index) and the regret (defined only for a
feasible answer). A single-threshold result has one answer (its top-level fields), a multi-threshold
one an answer per threshold (`answers`). A mismatch raises after logging every failed check.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from hwevrsnas.integrity import sha256_bytes
from hwevrsnas.search.costs import CostModel
from hwevrsnas.search.record import load_result
from hwevrsnas.spaces import get_space

log = logging.getLogger(__name__)


class CheckFailed(RuntimeError):
    """A result disagrees with the tables (a bug in the search code, never a user error)."""


def _close(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=1e-12)


def _check_answer(
    check: Callable[..., None], prefix: str, answer: Mapping[str, Any], model: CostModel, space: str, dataset: str,
    kind: str, number: float, method: str,
) -> dict[str, Any]:
    """The checks of one answer (its threshold, cost, feasibility, accuracy, optimum and regret); its summary."""
    expected_t = model.quantile(number) if kind == "quantile" else number
    value = answer["threshold"]
    check(f"{prefix}threshold", expected_t, value)
    cost = None
    if answer.get("arch") is not None:
        if space == "nb201":
            cost = float(model.column[int(answer["index"])])
            check(f"{prefix}index", int(model.table.index_of(answer["arch"])), answer["index"])
        else:
            cost = float(model.cost(get_space(space).parse_arch(answer["arch"])))
        check(f"{prefix}cost", cost, answer["cost"], _close(cost, answer["cost"]) or (math.isnan(cost) and answer["cost"] is None))
    feasible = cost is not None and not math.isnan(cost) and cost <= value
    check(f"{prefix}feasible", feasible, bool(answer.get("feasible")))
    regret = None
    if get_space(space).has_accuracy:
        table, column = model.table, model.column
        mask = ~np.isnan(column) & (column <= value)
        optimum_index = optimum_accuracy = None
        if mask.any():
            accuracy = np.where(mask, table.accuracy(np.arange(len(table)), dataset), -np.inf)
            optimum_index = int(np.argmax(accuracy))
            optimum_accuracy = float(accuracy[optimum_index])
        check(f"{prefix}optimum_accuracy", optimum_accuracy, answer.get("optimum_accuracy"))
        check(f"{prefix}optimum_index", optimum_index, answer.get("optimum_index"), optimum_index == answer.get("optimum_index"))
        index = answer.get("index")
        test_accuracy = float(table.accuracy(int(index), dataset)) if index is not None else None
        check(f"{prefix}test_accuracy", test_accuracy, answer.get("test_accuracy"))
        if optimum_accuracy is not None and test_accuracy is not None and feasible:
            regret = optimum_accuracy - test_accuracy
        check(f"{prefix}regret", regret, answer.get("regret"))
        if method == "oracle" and regret is not None:
            check(f"{prefix}oracle_regret_zero", 0.0, regret)
    return {
        "threshold": value, "cost": cost, "feasible": feasible, "regret": regret,
        "test_accuracy": answer.get("test_accuracy"), "optimum_accuracy": answer.get("optimum_accuracy"),
        "status": answer.get("status") or ("ok" if feasible else "infeasible"),
    }  # fmt: skip


def check_result(
    run_path: str | Path, tables_dir: str | Path, expected: Mapping[str, Any], thresholds: Sequence[tuple[str, float]]
) -> dict[str, Any]:
    """Check one result file; return the checks (CheckFailed when one fails).

    `expected` holds the setting's space, dataset, device, metric, method and seed (and proxy_seed, when the
    caller knows which replicate the run must have read); `thresholds` are the ("quantile" or "value", number)
    pairs the run was asked for (one for a single-threshold run).
    """
    record = load_result(run_path)
    setting = record["setting"]
    checks: list[dict[str, Any]] = []

    def check(name: str, want: Any, actual: Any, ok: bool | None = None) -> None:
        same = ok if ok is not None else (want == actual if isinstance(want, (str, bool)) else _close(want, actual))
        checks.append({"check": name, "expected": want, "actual": actual, "ok": bool(same)})

    for key in ("space", "dataset", "device", "metric", "method", "seed"):
        check(f"setting.{key}", expected[key], setting[key], expected[key] == setting[key])
    if "proxy_seed" in expected:
        actual = setting.get("proxy_seed")
        check("setting.proxy_seed", expected["proxy_seed"], actual, expected["proxy_seed"] == actual)
    space, dataset = expected["space"], expected["dataset"]
    model = CostModel.open(space, tables_dir, dataset, expected["device"], expected["metric"], setting.get("cost_dataset") or None)
    kinds = {kind for kind, _ in thresholds}
    check("threshold_source", kinds.pop() if len(kinds) == 1 else sorted(kinds), setting["threshold_source"])
    multi = "answers" in record
    answers = record["answers"] if multi else [record]
    check("answers", len(thresholds), len(answers), len(thresholds) == len(answers))
    summaries = []
    for position, ((kind, number), answer) in enumerate(zip(thresholds, answers)):
        prefix = f"answers[{position}]." if multi else ""
        if kind == "quantile":
            check(f"{prefix}quantile", number, answer.get("quantile") if multi else setting["quantile"])
        summaries.append(_check_answer(check, prefix, answer, model, space, dataset, kind, number, expected["method"]))

    failed = [c for c in checks if not c["ok"]]
    result = {
        "run": str(run_path),
        "ok": not failed,
        "unique_evaluations": record.get("unique_evaluations"),
        # The proxy draw the run read (None without a proxy), so that slice summaries can group by it.
        "proxy_seed": setting.get("proxy_seed"),
        "checks": checks,
        # What was checked, byte for byte: the workflow's slice summary refuses a run changed after its check.
        "run_sha256": run_digest(run_path),
        **({"answers": summaries} if multi else summaries[0]),
    }
    for c in failed:
        log.error("check %s failed: expected %r, got %r", c["check"], c["expected"], c["actual"])
    if failed:
        raise CheckFailed(f"{run_path}: {len(failed)} check(s) failed: {', '.join(c['check'] for c in failed)}")
    log.info("%s: %d checks passed", run_path, len(checks))
    return result


def run_digest(run_path: str | Path) -> str:
    """The sha256 of a result file, as its check records it (its timing sidecar, whose seconds differ from run to
    run, is not covered: a check stays the same bytes for the same result)."""
    return sha256_bytes(Path(run_path).read_bytes())


__all__ = ["CheckFailed", "check_result", "run_digest"]

"""Running one search: check its setting against the cost model and the evaluator, build its problem, run
its method on it, time it.

`run_search` runs the method of a `Setting` and returns its JSON-ready record, `run_multi_search` that of
a multi-threshold method's `MultiSetting` (search.record builds both records and writes and reads them).
Each builds the search's `SearchProblem` (search.problem: costs, thresholds, penalty, scorer and the
run's tracker) once and calls the method's runner as `runner(problem, config, seed, progress)`.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any, Callable, Sequence

from hwevrsnas.errors import InputError
from hwevrsnas.search.config import GAConfig
from hwevrsnas.search.costs import CostModel
from hwevrsnas.search.methods import get_method
from hwevrsnas.search.problem import SearchProblem
from hwevrsnas.search.record import MultiSetting, Setting, jsonable, multi_search_record, search_record


def _check_inputs(
    setting: Setting | MultiSetting, cost_model: CostModel, thresholds: Sequence[float], evaluator: Any,
    needs_evaluator: bool,
) -> None:
    """Refuse a cost model of another slice than the setting's, a threshold under its cheapest cost, and a missing
    evaluator or one that scores another space or another draw of the proxy."""
    described = cost_model.describe()
    for key in ("space", "dataset", "device", "metric", "cost_dataset"):
        if described[key] != getattr(setting, key):
            raise InputError(f"the cost model's {key} is {described[key]!r}, the setting's {getattr(setting, key)!r}")
    for threshold in thresholds:
        cost_model.check_threshold(threshold)
    if not needs_evaluator:
        return
    if evaluator is None:
        raise InputError(f"method {setting.method!r} needs an evaluator")
    space = evaluator.space if isinstance(evaluator.space, str) else evaluator.space.name
    if space != setting.space:
        raise InputError(f"the evaluator scores {space!r}, the setting searches {setting.space!r}")
    _check_proxy_seed(setting, evaluator)


def _check_proxy_seed(setting: Setting | MultiSetting, evaluator: Any) -> None:
    """Refuse a setting that names another draw of the proxy than the evaluator's: analysis groups runs by it."""
    seed = getattr(evaluator, "proxy_seed", None)
    if setting.proxy_seed is not None and seed is not None and seed != setting.proxy_seed:
        raise InputError(f"the setting's proxy seed is {setting.proxy_seed}, the evaluator's preset has seed {seed}")


def run_search(
    setting: Setting,
    evaluator: Any,
    cost_model: CostModel,
    config: GAConfig | None = None,
    *,
    progress: bool | None = None,
    run_info: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run the setting's method and return its JSON-ready record (search.record.search_record).

    `evaluator` (an Evaluator) is needed by the methods that use a proxy and ignored by the others.
    `run_info` is merged into the volatile `timing` block.
    """
    config = GAConfig() if config is None else config
    method = get_method(setting.method)
    if method.multi_threshold:
        raise InputError(f"method {setting.method!r} answers every threshold at once: run it with run_multi_search")
    _check_inputs(setting, cost_model, [setting.threshold], evaluator, method.uses_proxy)
    evaluator = evaluator if method.uses_proxy else None
    thresholds = [setting.threshold]
    return _timed_run(method, setting, evaluator, cost_model, thresholds, config, progress, run_info, search_record)


def run_multi_search(
    setting: MultiSetting,
    evaluator: Any,
    cost_model: CostModel,
    config: GAConfig | None = None,
    *,
    progress: bool | None = None,
    run_info: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run a multi-threshold method and return its JSON-ready record (search.record.multi_search_record)."""
    config = GAConfig() if config is None else config
    method = get_method(setting.method)
    _check_inputs(setting, cost_model, setting.thresholds, evaluator, needs_evaluator=True)
    return _timed_run(method, setting, evaluator, cost_model, setting.thresholds, config, progress, run_info,
                      multi_search_record)  # fmt: skip


def _timed_run(
    method: Any, setting: Setting | MultiSetting, evaluator: Any, cost_model: CostModel, thresholds: Sequence[Any],
    config: GAConfig, progress: bool | None, run_info: dict[str, Any] | None,
    make_record: Callable[..., dict[str, Any]],
) -> dict[str, Any]:  # fmt: skip
    """Build the problem, run the method on it and make its record, with the run's wall and CPU seconds."""
    started_utc = datetime.now(timezone.utc).isoformat(timespec="seconds")
    start = (time.perf_counter(), time.process_time())
    problem = SearchProblem.build(evaluator, cost_model, thresholds, config)
    outcome = method.run_function()(problem, config, setting.seed, progress)
    record = make_record(setting, config, cost_model, evaluator, outcome, started_utc, run_info)
    record["wall_seconds"] = time.perf_counter() - start[0]
    record["cpu_seconds"] = time.process_time() - start[1]
    return jsonable(record)


__all__ = ["run_multi_search", "run_search"]

"""One search run -> one JSON-ready record; its deterministic file and its timing sidecar.

`run_search` runs the method of a `Setting` and returns a single dict. Top-level keys read by
people and checks: `threshold` (the resolved value), `index`, `arch`, `cost`, `feasible`,
`test_accuracy` (200-epoch test accuracy on the run's dataset), `optimum_accuracy`, `regret`
(optimum - returned, accuracy points), `unique_evaluations`, `wall_seconds`; the rest: the
setting and GA config with their `config_hash`, the returned arch in detail, its accuracy on all
three NB201 datasets, the optimum, the per-generation `history`, every `evaluated` architecture,
`counters`, the evaluator's identity, `versions` and the tables' `sources` checksums.

Determinism: the same setting, config and seed must give a byte-identical result file, but some
numbers differ from run to run even then: wall/CPU seconds, proxy seconds, and how many scores
the evaluator served from its disk cache (a second run finds the first one's scores there).
`write_result` therefore stores those keys (`VOLATILE_KEYS`) in a sidecar next to the result
(`run.json` -> `run.timing.json`, written first, so a present result always has its sidecar),
and `load_result` merges the two back into the one dict `run_search` returned: `wall_seconds`
and the other volatile keys are top-level keys of the record, but not of the deterministic file.
Everything else is a pure function of (setting, config, seed, the evaluator's scores, tables).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import platform
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hwevrsnas.atomic import write_text
from hwevrsnas.search.costs import CostModel, Threshold

if TYPE_CHECKING:  # the search modules import torch (via the spaces); this module stays light for the CLI
    from hwevrsnas.search.ga import Evaluation, GAConfig

SCHEMA = "hwevrsnas.search-result/1"
ZERO_COST_METHODS = {"zc-synflow": "synflow", "zc-naswot": "naswot", "zc-params": "params"}
# hw-evrsnas-params: the GA on the rank mean of the proxy and #params (proxy.combined), a named variant.
PROXY_METHODS = ("hw-evrsnas", "random", "hw-evrsnas-params")
TABLE_METHODS = ("rea-valid12", "oracle")
METHODS = ("hw-evrsnas", "random", "hw-evrsnas-params", "rea-valid12", *ZERO_COST_METHODS, "oracle")
EVALUATOR_METHODS = (*PROXY_METHODS, *ZERO_COST_METHODS)
VOLATILE_KEYS = (
    "wall_seconds",
    "cpu_seconds",
    "proxy_seconds",
    "cache_hits",
    "evaluator_cache_hits",
    "fresh_evaluations",
    "timing",
)
TIMING_SUFFIX = ".timing.json"


def check_method(method: str) -> str:
    """Return `method` if known, else raise listing the valid ones."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; valid methods: {', '.join(METHODS)}")
    return method


@dataclass(frozen=True)
class Setting:
    """What one run searches for, and with what: the identity of a run (with the GA config)."""

    space: str
    dataset: str
    device: str
    metric: str
    threshold: float
    threshold_source: str
    quantile: float | None
    method: str
    preset: str | None
    seed: int
    cost_dataset: str

    def __post_init__(self) -> None:
        check_method(self.method)

    @classmethod
    def from_cost(
        cls, cost_model: CostModel, threshold: Threshold, method: str, preset: str | None, seed: int
    ) -> "Setting":
        """A setting from a cost model and a resolved threshold."""
        return cls(
            cost_model.space, cost_model.dataset, cost_model.device, cost_model.metric, threshold.value,
            threshold.source, threshold.quantile, method, preset, int(seed), cost_model.cost_dataset,
        )  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return dataclasses.asdict(self)


def config_hash(setting: Setting, config: "GAConfig") -> str:
    """sha256 of the canonical JSON (sorted keys, no spaces) of the setting and the GA config."""
    identity = {"setting": setting.to_json(), "ga_config": config.to_json()}
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def versions() -> dict[str, str]:
    """Versions of the package, torch, numpy and python."""
    import torch

    import hwevrsnas

    return {
        "hwevrsnas": hwevrsnas.__version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def jsonable(value: Any) -> Any:
    """Plain JSON types: numpy scalars and arrays converted, NaN and +-inf as None."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    return value


def _evaluator_info(evaluator: Any) -> dict[str, Any] | None:
    if evaluator is None:
        return None
    info: dict[str, Any] = {"name": getattr(evaluator, "name", type(evaluator).__name__), "space": evaluator.space}
    preset = getattr(evaluator, "preset", None)
    if preset is not None and hasattr(preset, "fields"):
        info["preset"] = preset.fields()
        info["preset_digest"] = preset.digest
    for key in ("batch_checksum", "metric"):
        if isinstance(getattr(evaluator, key, None), (str, int, float)):
            info[key] = getattr(evaluator, key)
    return info


def _nb201_accuracies(table: Any, index: int) -> dict[str, float]:
    return {dataset: float(table.accuracy(index, dataset)) for dataset in table.datasets}


def _run_method(setting: Setting, evaluator: Any, cost_model: CostModel, config: "GAConfig", progress: bool | None):
    from hwevrsnas.search.baselines import oracle, run_random, run_rea
    from hwevrsnas.search.ga import run_ga

    if setting.method in EVALUATOR_METHODS:
        if evaluator is None:
            raise ValueError(f"method {setting.method!r} needs an evaluator")
        if evaluator.space != setting.space:
            raise ValueError(f"the evaluator scores {evaluator.space!r}, the setting searches {setting.space!r}")
        search = run_random if setting.method == "random" else run_ga
        return search(evaluator, cost_model, setting.threshold, config, setting.seed, progress)
    if setting.method == "rea-valid12":
        return run_rea(cost_model, setting.threshold, config, setting.seed, progress)
    return oracle(cost_model, setting.threshold)


def run_search(
    setting: Setting,
    evaluator: Any,
    cost_model: CostModel,
    config: "GAConfig | None" = None,
    *,
    progress: bool | None = None,
    run_info: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run the setting's method and return one JSON-ready record (see the module docstring).

    `evaluator` (Evaluator protocol) is needed by hw-evrsnas, random and the zc-* methods, and
    ignored by rea-valid12 and oracle. `run_info` is merged into the volatile `timing` block.
    """
    from hwevrsnas.proxy.evaluator import canonical_arch
    from hwevrsnas.search.baselines import oracle
    from hwevrsnas.search.ga import Evaluation, GAConfig, SearchOutcome

    config = GAConfig() if config is None else config
    described = cost_model.describe()
    for key in ("space", "dataset", "device", "metric", "cost_dataset"):
        if described[key] != getattr(setting, key):
            raise ValueError(f"the cost model's {key} is {described[key]!r}, the setting's {getattr(setting, key)!r}")
    cost_model.check_threshold(setting.threshold)
    started_utc = datetime.now(timezone.utc).isoformat(timespec="seconds")
    start = (time.perf_counter(), time.process_time())
    outcome = _run_method(setting, evaluator, cost_model, config, progress)
    nb201 = cost_model.table if setting.space == "nb201" else None

    optimum = oracle(cost_model, setting.threshold) if setting.method != "oracle" else outcome
    record: dict[str, Any] = {
        "schema": SCHEMA,
        "setting": setting.to_json(),
        "ga_config": config.to_json(),
        "config_hash": config_hash(setting, config),
        "method": setting.method,
        "threshold": setting.threshold,
        "cost_model": described,
        "evaluator": _evaluator_info(evaluator) if setting.method in EVALUATOR_METHODS else None,
        "optimum": None,
        "optimum_accuracy": None,
        "optimum_index": None,
        "optimum_reason": optimum.reason,
        "reason": None,
        "versions": versions(),
        "sources": cost_model.source_checksums(),
    }
    if optimum.optimum is not None:
        best = optimum.optimum
        record["optimum"] = {
            "index": best.index, "arch": nb201.arch_strings[best.index], "accuracy": best.accuracy,
            "cost": best.cost, "n_feasible": best.n_feasible,
        }  # fmt: skip
        record["optimum_accuracy"] = best.accuracy
        record["optimum_index"] = best.index

    if isinstance(outcome, SearchOutcome):
        record.update(_answer_fields(outcome.answer, outcome.answer_feasible, nb201, setting.dataset))
        if not outcome.answer_feasible:
            record["reason"] = "no evaluated architecture met the threshold: the fittest one is returned"
        record["unique_evaluations"] = outcome.counters["unique_evaluations"]
        record["counters"] = outcome.counters
        record["history"] = outcome.history
        record["evaluated"] = [e.to_json() for e in outcome.evaluations]
        timing = dict(outcome.timing)
        timing["timing"] = {
            "evaluation_seconds": [e.seconds for e in outcome.evaluations],
            "evaluation_cached": [e.cached for e in outcome.evaluations],
        }
    else:  # the oracle
        timing = dict.fromkeys(("proxy_seconds", "cache_hits", "evaluator_cache_hits", "fresh_evaluations"), 0)
        timing["timing"] = {}
        if outcome.optimum is not None:
            best = outcome.optimum
            ops = nb201.ops[best.index]
            answer = Evaluation(
                order=0, generation=0, ops=ops, arch=nb201.arch_strings[best.index],
                key=canonical_arch("nb201", ops), index=best.index, phi=float("nan"), cost=best.cost,
                feasible=True, fitness=float("nan"), status="ok",
            )  # fmt: skip
            record.update(_answer_fields(answer, True, nb201, setting.dataset))
        else:
            record.update(_answer_fields(None, False, nb201, setting.dataset))
            record["status"] = "not_applicable" if setting.space != "nb201" else "infeasible"
            record["reason"] = outcome.reason
        n = len(nb201) if nb201 is not None else 0
        record["unique_evaluations"] = n
        record["counters"] = {"unique_evaluations": n, "requests": n, "memo_hits": 0, "stopped_by": "exhaustive"}
        record["history"] = []
        record["evaluated"] = []
    record["regret"] = (
        record["optimum_accuracy"] - record["test_accuracy"]
        if record["optimum_accuracy"] is not None and record["test_accuracy"] is not None
        else None
    )
    timing["wall_seconds"] = time.perf_counter() - start[0]
    timing["cpu_seconds"] = time.process_time() - start[1]
    timing["timing"].update(started_utc=started_utc, **(run_info or {}))
    record.update(timing)
    return jsonable(record)


def _answer_fields(answer: "Evaluation | None", is_feasible: bool, nb201: Any, dataset: str) -> dict[str, Any]:
    fields: dict[str, Any] = dict.fromkeys(
        ("arch", "index", "ops", "canonical", "cost", "feasible", "phi", "fitness", "test_accuracy",
         "test_accuracies", "valid_12ep_accuracy", "answer_order")
    )  # fmt: skip
    fields["status"] = "ok" if is_feasible else "infeasible"
    if answer is None:
        return fields
    fields.update(
        arch=answer.arch, index=answer.index, ops=[int(o) for o in answer.ops], canonical=answer.key,
        cost=answer.cost, feasible=bool(is_feasible), phi=answer.phi, fitness=answer.fitness, answer_order=answer.order,
    )  # fmt: skip
    if nb201 is not None and answer.index is not None:
        fields["test_accuracies"] = _nb201_accuracies(nb201, answer.index)
        fields["test_accuracy"] = fields["test_accuracies"][dataset]
        fields["valid_12ep_accuracy"] = float(nb201.accuracy(answer.index, dataset, "valid_12ep"))
    return fields


def timing_path(path: Path | str) -> Path:
    """The timing sidecar of a result file: `run.json` -> `run.timing.json` (else `<name>.timing.json`)."""
    path = Path(path)
    stem = path.name[: -len(".json")] if path.name.endswith(".json") else path.name
    return path.with_name(stem + TIMING_SUFFIX)


def dumps(record: dict[str, Any]) -> str:
    """The canonical text of a record: sorted keys, indent 1, trailing newline."""
    return json.dumps(jsonable(record), sort_keys=True, indent=1, allow_nan=False) + "\n"


def write_result(record: dict[str, Any], path: Path | str) -> tuple[Path, Path]:
    """Write the deterministic part to `path` and the VOLATILE_KEYS to its sidecar, both atomically."""
    path = Path(path)
    volatile = {key: record[key] for key in VOLATILE_KEYS if key in record}
    stable = {key: value for key, value in record.items() if key not in VOLATILE_KEYS}
    sidecar = timing_path(path)
    write_text(sidecar, dumps(volatile))
    write_text(path, dumps(stable))
    return path, sidecar


def load_result(path: Path | str) -> dict[str, Any]:
    """A result file with its timing sidecar merged back in (when the sidecar exists)."""
    path = Path(path)
    record = json.loads(path.read_text())
    sidecar = timing_path(path)
    if sidecar.is_file():
        record.update(json.loads(sidecar.read_text()))
    return record


def summary_line(record: dict[str, Any]) -> str:
    """One human line about a run."""
    setting = record["setting"]

    def num(value: Any, fmt: str = ".4g") -> str:
        return "-" if value is None else format(value, fmt)

    column = f"{setting['device']}_{setting['metric']}"
    where = f"{setting['space']} {setting['dataset']} {column}<={num(record['threshold'])}"
    what = f"{setting['method']} seed {setting['seed']}"
    if record.get("arch") is None:
        return f"{where} {what}: no answer ({record.get('reason')})"
    index = f" (index {record['index']})" if record.get("index") is not None else ""
    return (
        f"{where} {what}: {record['arch']}{index} cost {num(record['cost'])} "
        f"{'feasible' if record['feasible'] else 'INFEASIBLE'}, test {num(record['test_accuracy'], '.2f')}, "
        f"optimum {num(record['optimum_accuracy'], '.2f')}, regret {num(record['regret'], '.2f')}, "
        f"{record['unique_evaluations']} unique evaluations, {num(record.get('wall_seconds'), '.1f')} s"
    )


__all__ = [
    "EVALUATOR_METHODS",
    "METHODS",
    "SCHEMA",
    "Setting",
    "VOLATILE_KEYS",
    "ZERO_COST_METHODS",
    "check_method",
    "config_hash",
    "dumps",
    "jsonable",
    "load_result",
    "run_search",
    "summary_line",
    "timing_path",
    "write_result",
]

"""The record of one search run: its identity (`Setting`, `MultiSetting`), its JSON-ready dict, its
deterministic file and its timing sidecar, and one human line about it. search.run runs a search and
builds its record here.

A single-threshold record (`SCHEMA`, `search_record`). Top-level keys read by
people and checks: `threshold` (the resolved value), `index`, `arch`, `cost`, `feasible`,
`test_accuracy` (200-epoch test accuracy on the run's dataset), `optimum_accuracy`, `regret`
(optimum - returned, accuracy points; null unless the answer is feasible: an infeasible answer
has no regret), `unique_evaluations`, `wall_seconds`; the rest: the setting and the GA knobs the
method reads, with their `config_hash`, the returned arch in detail (`cost_imputed`: its cost was
filled in from an isomorphic twin; `threshold_uses_imputed`: the quantile was taken over a column
holding such values), its accuracy on all three NB201 datasets, the optimum, the per-generation
`history`, the `anytime` trajectory (one entry per unique evaluation: `evaluations`, `seconds`,
and the answer at that point: `index`, `feasible`, `test_accuracy`, `phi`, `regret`), every `evaluated` architecture, `counters`,
the optimum with the accuracy of the worst feasible architecture (`optimum.worst_accuracy`: what an
infeasible answer's regret is taken to be in the "penalised" columns of the tables),
`setup_evaluations` (proxy evaluations a method spends before searching, e.g. a reference sample),
the evaluator's identity, `versions` and the tables' `sources` checksums.

Anytime entry k is the answer right after the k-th unique evaluation (the last entry: at the end
of the run), so it equals the answer of the same run with `budget` = k, as long as the budget is
the only stop (tests/test_search.py checks it).

Determinism: the same setting, config and seed must give a byte-identical result file, but some
numbers differ from run to run even then: wall/CPU seconds, proxy seconds (also those of the
anytime trajectory), and how many scores the evaluator served from its disk cache. `write_result`
therefore stores those keys (`VOLATILE_KEYS`) in a sidecar next to the result (`run.json` ->
`run.timing.json`, written first, so a present result always has its sidecar), and `load_result`
merges the two back into the one dict the run returned.

A multi-threshold method (search.multiobjective) answers several thresholds in one run: its
`MultiSetting` lists them, and `multi_search_record` builds one record (`MULTI_SCHEMA`) with an
`answers` entry per threshold and the quality of the front it found; the same sidecar rule applies.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import platform
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from hwevrsnas.atomic import write_text
from hwevrsnas.errors import DamagedFile, InputError
from hwevrsnas.search.config import GAConfig
from hwevrsnas.search.costs import CostModel, Threshold
from hwevrsnas.search.methods import get_method
from hwevrsnas.search.tracker import Evaluation, SearchOutcome, fitter
from hwevrsnas.spaces import get_space

if TYPE_CHECKING:
    from hwevrsnas.search.multiobjective import MultiOutcome

SCHEMA = "hwevrsnas.search-result/2"
MULTI_SCHEMA = "hwevrsnas.multi-search-result/1"
VOLATILE_KEYS = (
    "wall_seconds",
    "cpu_seconds",
    "proxy_seconds",
    "setup_seconds",
    "cache_hits",
    "evaluator_cache_hits",
    "fresh_evaluations",
    "anytime_seconds",
    "timing",
)
TIMING_SUFFIX = ".timing.json"


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
    # The proxy's replicate (the preset's seed), None without a proxy (see _setting_json).
    proxy_seed: int | None = None

    def __post_init__(self) -> None:
        get_method(self.method)

    @classmethod
    def from_cost(
        cls, cost_model: CostModel, threshold: Threshold, method: str, preset: str | None, seed: int,
        proxy_seed: int | None = None,
    ) -> "Setting":
        """A setting from a cost model and a resolved threshold (preset and proxy seed are kept only for proxy
        methods)."""
        preset, proxy_seed = _proxy_fields(method, preset, proxy_seed)
        return cls(
            cost_model.space, cost_model.dataset, cost_model.device, cost_model.metric, threshold.value,
            threshold.source, threshold.quantile, method, preset, int(seed), cost_model.cost_dataset, proxy_seed,
        )  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return _setting_json(dataclasses.asdict(self))


def _proxy_fields(method: str, preset: str | None, proxy_seed: int | None) -> tuple[str | None, int | None]:
    if not get_method(method).uses_proxy:
        return None, None
    return preset, None if proxy_seed is None else int(proxy_seed)


def _setting_json(setting: dict[str, Any]) -> dict[str, Any]:
    # Left out when None, so that the record and config hash of a run without a proxy are what they were before
    # proxy replicates existed.
    if setting["proxy_seed"] is None:
        del setting["proxy_seed"]
    return setting


@dataclass(frozen=True)
class MultiSetting:
    """The identity of a multi-threshold run: a Setting with every threshold it answers (in the order given)."""

    space: str
    dataset: str
    device: str
    metric: str
    thresholds: tuple[float, ...]
    threshold_source: str
    quantiles: tuple[float, ...] | None
    method: str
    preset: str | None
    seed: int
    cost_dataset: str
    proxy_seed: int | None = None

    def __post_init__(self) -> None:
        if not get_method(self.method).multi_threshold:
            raise InputError(f"method {self.method!r} answers one threshold per run; give it one threshold")
        if not self.thresholds:
            raise InputError(f"method {self.method!r} needs at least one threshold")
        given = self.quantiles if self.quantiles is not None else self.thresholds
        if len(set(given)) != len(given):
            raise InputError(f"a threshold is given twice: {list(given)}")
        if self.quantiles is not None and len(self.quantiles) != len(self.thresholds):
            raise InputError(f"{len(self.quantiles)} quantiles for {len(self.thresholds)} thresholds")

    @classmethod
    def from_cost(
        cls, cost_model: CostModel, thresholds: Sequence[Threshold], method: str, preset: str | None, seed: int,
        proxy_seed: int | None = None,
    ) -> "MultiSetting":
        """A setting from a cost model and resolved thresholds, all values or all quantiles."""
        sources = sorted({t.source for t in thresholds})
        if len(sources) > 1:
            raise InputError("give every threshold as a value or every one as a quantile, not a mix")
        preset, proxy_seed = _proxy_fields(method, preset, proxy_seed)
        quantiles = tuple(float(t.quantile) for t in thresholds) if sources == ["quantile"] else None
        return cls(
            cost_model.space, cost_model.dataset, cost_model.device, cost_model.metric,
            tuple(t.value for t in thresholds), sources[0] if sources else "value", quantiles, method, preset,
            int(seed), cost_model.cost_dataset, proxy_seed,
        )  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return jsonable(_setting_json(dataclasses.asdict(self)))


def config_hash(setting: "Setting | MultiSetting", config: GAConfig) -> str:
    """sha256 of the canonical JSON (sorted keys, no spaces) of the setting and the GA knobs its method reads."""
    identity = {"setting": setting.to_json(), "ga_config": config.to_json(get_method(setting.method).knobs)}
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def versions() -> dict[str, str]:
    """Versions of the package, torch, numpy and python (read from the installed metadata: torch is not imported)."""
    return dict(_versions())


@functools.cache
def _versions() -> dict[str, str]:
    # Once per process: reading the installed metadata is slow next to a served search, and a process runs many.
    import hwevrsnas

    return {
        "hwevrsnas": hwevrsnas.__version__,
        "torch": metadata.version("torch"),
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


# The types `jsonable` keeps as they are, and with floats (kept when finite) the plain ones: a record is mostly these.
_KEPT = frozenset({str, int, bool, type(None)})
_PLAIN = _KEPT | {float}


def jsonable(value: Any) -> Any:
    """Plain JSON types: numpy scalars and arrays converted, NaN and +-inf as None."""
    # Plain values are kept inline rather than each passed to a call of this function.
    if isinstance(value, dict):
        return {
            str(k): v if type(v) in _KEPT or (type(v) is float and math.isfinite(v)) else jsonable(v)
            for k, v in value.items()
        }  # fmt: skip
    if isinstance(value, (list, tuple)):
        return [v if type(v) in _KEPT or (type(v) is float and math.isfinite(v)) else jsonable(v) for v in value]
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
    space = evaluator.space if isinstance(evaluator.space, str) else evaluator.space.name
    info: dict[str, Any] = {"name": getattr(evaluator, "name", type(evaluator).__name__), "space": space}
    preset = getattr(evaluator, "preset", None)
    if preset is not None and hasattr(preset, "fields"):
        info["preset"] = preset.fields()
        info["preset_digest"] = preset.digest
    for key in ("batch_checksum", "metric"):
        if isinstance(getattr(evaluator, key, None), (str, int, float)):
            info[key] = getattr(evaluator, key)
    if hasattr(evaluator, "identity"):
        info["identity"] = evaluator.identity()
    return info


def _provenance(evaluator: Any) -> dict[str, Any]:
    """Where the scores were computed, for the timing sidecar: a float64 score is the same anywhere, so the
    deterministic record must not name the machine."""
    provenance = getattr(evaluator, "provenance", None)
    return {"provenance": provenance()} if provenance else {}


def search_record(
    setting: Setting, config: GAConfig, cost_model: CostModel, evaluator: Any, outcome: SearchOutcome,
    started_utc: str, run_info: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The record of a single-threshold run (see the module docstring), but for the run's own wall and CPU
    seconds, which the runner adds when it is done. `evaluator` is None for a method without a proxy;
    `run_info` is merged into the volatile `timing` block."""
    from hwevrsnas.search.baselines import oracle

    method = get_method(setting.method)
    nb201 = cost_model.table if get_space(setting.space).has_accuracy else None
    optimum = oracle(cost_model, setting.threshold)
    record: dict[str, Any] = {
        "schema": SCHEMA,
        "setting": setting.to_json(),
        "ga_config": config.to_json(method.knobs),
        "config_hash": config_hash(setting, config),
        "method": setting.method,
        "threshold": setting.threshold,
        "threshold_uses_imputed": setting.threshold_source == "quantile" and cost_model.any_imputed,
        "cost_model": cost_model.describe(),
        "evaluator": _evaluator_info(evaluator),
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
        feasible_accuracy = nb201.accuracy(slice(None), setting.dataset)[cost_model.feasible(nb201.ops, setting.threshold)]
        record["optimum"] = {
            "index": best.index, "arch": nb201.arch_strings[best.index], "accuracy": best.accuracy,
            "cost": best.cost, "n_feasible": best.n_feasible, "worst_accuracy": float(feasible_accuracy.min()),
        }  # fmt: skip
        record["optimum_accuracy"] = best.accuracy
        record["optimum_index"] = best.index

    record.update(_answer_fields(outcome.answer, outcome.answer_feasible, nb201, setting.dataset, cost_model))
    if outcome.not_applicable:
        record["status"] = "not_applicable"
        record["reason"] = outcome.not_applicable
    elif not outcome.answer_feasible:
        record["reason"] = "no evaluated architecture met the threshold: the fittest one is returned"
    record["unique_evaluations"] = outcome.counters["unique_evaluations"]
    record["setup_evaluations"] = int(getattr(evaluator, "setup_evaluations", 0))
    record["counters"] = outcome.counters
    record["history"] = outcome.history
    record["evaluated"] = [e.to_json() for e in outcome.evaluations]
    record["regret"] = _regret(record["optimum_accuracy"], record["test_accuracy"], record["feasible"])
    anytime, anytime_seconds = _anytime(outcome.evaluations, nb201, setting.dataset, record["optimum_accuracy"])
    if anytime:
        anytime[-1].update({key: record[key] for key in ("index", "feasible", "test_accuracy", "phi", "regret")})
    record["anytime"] = anytime

    timing = dict(outcome.timing)
    timing["anytime_seconds"] = anytime_seconds
    timing["setup_seconds"] = float(getattr(evaluator, "setup_seconds", 0.0))
    timing["timing"] = {
        "evaluation_seconds": [e.seconds for e in outcome.evaluations],
        "evaluation_cached": [e.cached for e in outcome.evaluations],
    }
    timing["timing"].update(started_utc=started_utc, **_provenance(evaluator), **(run_info or {}))
    record.update(timing)
    return record


def multi_search_record(
    setting: MultiSetting, config: GAConfig, cost_model: CostModel, evaluator: Any, outcome: MultiOutcome,
    started_utc: str, run_info: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The record of a multi-threshold run (`MULTI_SCHEMA`; docs/MULTIOBJECTIVE.md), but for the run's own wall
    and CPU seconds, which the runner adds when it is done.

    Besides the setting and provenance of `search_record`'s records: `answers` (one per threshold, in the
    setting's order: `threshold`, `quantile`, `index`, `arch`, `cost`, `feasible`, `phi`, `order`,
    `test_accuracy`, `optimum_index`, `optimum_accuracy`, `regret`), the found `front` (NB201
    indices) with `hypervolume`, `hypervolume_exact`, `hypervolume_ratio` and `igd`
    (analysis.fronts; None without an accuracy table), and `cost_scale` (c_max). Its `evaluated`
    entries carry no `feasible` or `fitness`: those belong to one threshold.
    """
    from hwevrsnas.analysis.fronts import run_quality
    from hwevrsnas.search.baselines import oracle
    from hwevrsnas.search.multiobjective import cost_scale

    method = get_method(setting.method)
    nb201 = cost_model.table if get_space(setting.space).has_accuracy else None
    answers = []
    quantiles = setting.quantiles or (None,) * len(setting.thresholds)
    for quantile, found in zip(quantiles, outcome.answers):
        best = oracle(cost_model, found.threshold).optimum
        answer = found.answer
        entry: dict[str, Any] = {
            "threshold": found.threshold, "quantile": quantile, "feasible": found.feasible,
            "optimum_index": None, "optimum_accuracy": None,
            **dict.fromkeys(("index", "arch", "cost", "phi", "order", "test_accuracy")),
        }  # fmt: skip
        if best is not None:
            entry.update(optimum_index=best.index, optimum_accuracy=best.accuracy)
        if answer is not None:
            entry.update(index=answer.index, arch=answer.arch, cost=answer.cost, phi=answer.phi, order=answer.order)
            if nb201 is not None:
                entry["test_accuracy"] = float(nb201.accuracy(answer.index, setting.dataset))
        entry["regret"] = _regret(entry["optimum_accuracy"], entry["test_accuracy"], found.feasible)
        answers.append(entry)
    quality = dict.fromkeys(("front", "hypervolume", "hypervolume_exact", "hypervolume_ratio", "igd"))
    if nb201 is not None:
        quality = run_quality(cost_model, [e.index for e in outcome.evaluations])

    record: dict[str, Any] = {
        "schema": MULTI_SCHEMA,
        "setting": setting.to_json(),
        "ga_config": config.to_json(method.knobs),
        "config_hash": config_hash(setting, config),
        "method": setting.method,
        "thresholds": list(setting.thresholds),
        "quantiles": None if setting.quantiles is None else list(setting.quantiles),
        "threshold_uses_imputed": setting.threshold_source == "quantile" and cost_model.any_imputed,
        "cost_model": cost_model.describe(),
        "cost_scale": cost_scale(cost_model),
        "evaluator": _evaluator_info(evaluator),
        "answers": answers,
        **quality,
        "unique_evaluations": outcome.counters["unique_evaluations"],
        "setup_evaluations": int(getattr(evaluator, "setup_evaluations", 0)),
        "counters": outcome.counters,
        "history": outcome.history,
        "evaluated": [_without_fitness(e.to_json()) for e in outcome.evaluations],
        "versions": versions(),
        "sources": cost_model.source_checksums(),
    }
    timing = dict(outcome.timing)
    timing["setup_seconds"] = float(getattr(evaluator, "setup_seconds", 0.0))
    timing["timing"] = {
        "evaluation_seconds": [e.seconds for e in outcome.evaluations],
        "evaluation_cached": [e.cached for e in outcome.evaluations],
        "started_utc": started_utc,
        **_provenance(evaluator),
        **(run_info or {}),
    }
    record.update(timing)
    return record


def _without_fitness(entry: dict[str, Any]) -> dict[str, Any]:
    del entry["feasible"], entry["fitness"]
    return entry


def multi_summary_line(record: dict[str, Any]) -> str:
    """One human line about a multi-threshold run."""
    setting = record["setting"]
    answers = record["answers"]
    regrets = [a["regret"] for a in answers if a["regret"] is not None]
    where = f"{setting['space']} {setting['dataset']} {setting['device']}_{setting['metric']}"
    mean_regret = f"{sum(regrets) / len(regrets):.2f}" if regrets else "-"
    ratio = "-" if record.get("hypervolume_ratio") is None else f"{record['hypervolume_ratio']:.4f}"
    seconds = record.get("wall_seconds")
    return (
        f"{where} {setting['method']} seed {setting['seed']}: {len(answers)} thresholds, "
        f"{sum(bool(a['feasible']) for a in answers)} answered feasibly, mean regret {mean_regret}, "
        f"hypervolume ratio {ratio}, {record['unique_evaluations']} unique evaluations, "
        f"{'-' if seconds is None else format(seconds, '.1f')} s"
    )


def _regret(optimum: float | None, accuracy: float | None, feasible: bool | None) -> float | None:
    """Optimum minus the answer's accuracy, defined for a feasible answer only."""
    if optimum is None or accuracy is None or not feasible:
        return None
    return optimum - accuracy


def _anytime(
    evaluations: list[Evaluation], nb201: Any, dataset: str, optimum: float | None
) -> tuple[list[dict[str, Any]], list[float]]:
    """The answer after each unique evaluation (see the module docstring), and the summed proxy seconds so far."""
    entries: list[dict[str, Any]] = []
    seconds: list[float] = []
    seen: set[str] = set()
    best: Evaluation | None = None
    best_feasible: Evaluation | None = None
    answered: Evaluation | None = None
    accuracy: float | None = None
    total = 0.0
    for evaluation in evaluations:
        if best is None or fitter(evaluation, best):
            best = evaluation
        if evaluation.feasible and (best_feasible is None or fitter(evaluation, best_feasible)):
            best_feasible = evaluation
        if evaluation.key in seen:
            continue
        seen.add(evaluation.key)
        total += evaluation.seconds
        answer = best_feasible or best
        if answer is not answered:  # the answer changes a few times in a run: its accuracy is looked up then
            answered = answer
            known = nb201 is not None and answer.index is not None
            accuracy = float(nb201.accuracy(answer.index, dataset)) if known else None
        entries.append({"evaluations": len(seen), "index": answer.index, "feasible": best_feasible is not None,
                        "test_accuracy": accuracy, "phi": answer.phi,
                        "regret": _regret(optimum, accuracy, best_feasible is not None)})  # fmt: skip
        seconds.append(total)
    return entries, seconds


def _answer_fields(
    answer: Evaluation | None, is_feasible: bool, nb201: Any, dataset: str, cost_model: CostModel
) -> dict[str, Any]:
    fields: dict[str, Any] = dict.fromkeys(
        ("arch", "index", "ops", "canonical", "cost", "cost_imputed", "feasible", "phi", "fitness", "test_accuracy",
         "test_accuracies", "valid_12ep_accuracy", "answer_order")
    )  # fmt: skip
    fields["status"] = "ok" if is_feasible else "infeasible"
    if answer is None:
        return fields
    fields.update(
        arch=answer.arch, index=answer.index, ops=[int(o) for o in answer.ops], canonical=answer.key,
        cost=answer.cost, cost_imputed=bool(cost_model.imputed(answer.ops)), feasible=bool(is_feasible),
        phi=answer.phi, fitness=answer.fitness, answer_order=answer.order,
    )  # fmt: skip
    if nb201 is not None and answer.index is not None:
        fields["test_accuracies"] = {ds: float(nb201.accuracy(answer.index, ds)) for ds in nb201.datasets}
        fields["test_accuracy"] = fields["test_accuracies"][dataset]
        fields["valid_12ep_accuracy"] = float(nb201.accuracy(answer.index, dataset, "valid_12ep"))
    return fields


def timing_path(path: Path | str) -> Path:
    """The timing sidecar of a result file: `run.json` -> `run.timing.json` (else `<name>.timing.json`)."""
    path = Path(path)
    stem = path.name[: -len(".json")] if path.name.endswith(".json") else path.name
    return path.with_name(stem + TIMING_SUFFIX)


def dumps(record: dict[str, Any]) -> str:
    """The canonical text of a record: sorted keys, indent 1, trailing newline.

    The text of `json.dumps(jsonable(record), sort_keys=True, indent=1, allow_nan=False)`. json writes an indented
    text with its pure-Python encoder; here each dict or list of plain values (a list of numbers, an evaluated
    architecture), and each list of such dicts, is written by json's C encoder, its item separator carrying the
    newline and indentation, and converted by `jsonable` only where it holds something else."""
    out: list[str] = []
    _write_indented(record, 0, out)
    out.append("\n")
    return "".join(out)


_STR_KEYS = frozenset({str})
_SCALAR = json.JSONEncoder(allow_nan=False)


@functools.cache
def _flat_encoder(level: int) -> json.JSONEncoder:
    """Writes a dict or list of plain values at indentation `level` as json's indented encoder does, but for the
    newlines after its opening and before its closing bracket."""
    return json.JSONEncoder(sort_keys=True, allow_nan=False, separators=(",\n" + " " * (level + 1), ": "))


def _plain(container: dict[str, Any] | list[Any]) -> bool:
    """Whether a (non-empty) dict or list holds only plain values (and str keys): json writes it as `jsonable` would
    leave it, unless a float is not finite, which the encoders here refuse (allow_nan=False) rather than write."""
    if type(container) is dict:
        return set(map(type, container)) == _STR_KEYS and set(map(type, container.values())) <= _PLAIN
    return type(container) is list and set(map(type, container)) <= _PLAIN


def _write_flat(value: dict[str, Any] | list[Any], level: int) -> str:
    text = _flat_encoder(level).encode(value)
    return f"{text[0]}\n{' ' * (level + 1)}{text[1:-1]}\n{' ' * level}{text[-1]}"


def _write_flat_dicts(value: list[dict[str, Any]], level: int) -> str:
    """A list of non-empty dicts of plain values, in one encoding at the dicts' members' indentation."""
    # A raw newline is only ever in a separator (a string's own is escaped), and only a separator between two of
    # the dicts is followed by "{" (inside a dict, a key follows).
    separator, outer, inner = ",\n" + " " * (level + 2), "\n" + " " * (level + 1), "\n" + " " * (level + 2)
    text = _flat_encoder(level + 1).encode(value)[2:-2].replace("}" + separator + "{", f"{outer}}},{outer}{{{inner}")
    return f"[{outer}{{{inner}{text}{outer}}}\n{' ' * level}]"


def _write_indented(value: Any, level: int, out: list[str]) -> None:
    """Append the indented text of `jsonable(value)`, its containers at indentation `level`."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if not isinstance(value, (dict, list, tuple)):
        out.append(_SCALAR.encode(jsonable(value)))
        return
    if not value:
        out.append("{}" if isinstance(value, dict) else "[]")
        return
    flat = _plain(value)
    if flat or (type(value) is list and all(type(item) is dict and item and _plain(item) for item in value)):
        write = _write_flat if flat else _write_flat_dicts
        try:
            out.append(write(value, level))
        except ValueError:  # a NaN or an infinity: null once converted
            out.append(write(jsonable(value), level))
        return
    inner = "\n" + " " * (level + 1)
    if isinstance(value, dict):
        members = {str(k): v for k, v in value.items()}
        out.append("{")
        for position, key in enumerate(sorted(members)):
            out.append(("," if position else "") + inner + _SCALAR.encode(key) + ": ")
            _write_indented(members[key], level + 1, out)
        out.append("\n" + " " * level + "}")
    else:
        out.append("[")
        for position, item in enumerate(value):
            out.append(("," if position else "") + inner)
            _write_indented(item, level + 1, out)
        out.append("\n" + " " * level + "]")


def write_result(record: dict[str, Any], path: Path | str) -> tuple[Path, Path]:
    """Write the deterministic part to `path` and the VOLATILE_KEYS to its sidecar, both atomically."""
    path = Path(path)
    volatile = {key: record[key] for key in VOLATILE_KEYS if key in record}
    stable = {key: value for key, value in record.items() if key not in VOLATILE_KEYS}
    sidecar = timing_path(path)
    write_text(sidecar, dumps(volatile))
    write_text(path, dumps(stable))
    return path, sidecar


def rerun_hint(run: Path | str) -> str:
    """How to rebuild a damaged result file (or its sidecar)."""
    return (f"repair: `snakemake --forcerun {run}` reruns its search in the workflow (searches are deterministic: "
            f"the same result), or rerun the `hwevrsnas search` that wrote {run}")  # fmt: skip


def _read_record(file: Path, run: Path) -> dict[str, Any]:
    """One JSON object of a result (`run`) or of its sidecar; DamagedFile naming the file and the repair otherwise."""
    repair = rerun_hint(run)
    try:
        record = json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DamagedFile(file, f"damaged, not valid JSON ({err})", repair) from None
    if not isinstance(record, dict):
        raise DamagedFile(file, f"damaged, its top level is a {type(record).__name__}, not an object", repair)
    if file == run and record.get("schema") not in (SCHEMA, MULTI_SCHEMA):
        raise DamagedFile(file, f"not a search result: schema {record.get('schema')!r}, expected {SCHEMA!r} or "
                          f"{MULTI_SCHEMA!r}", repair)  # fmt: skip
    return record


def load_result(path: Path | str) -> dict[str, Any]:
    """A result file with its timing sidecar merged back in (when the sidecar exists); DamagedFile naming the file
    and the command that rebuilds it when either is not a result's JSON object."""
    path = Path(path)
    record = _read_record(path, path)
    sidecar = timing_path(path)
    if sidecar.is_file():
        record.update(_read_record(sidecar, path))
    seconds = record.get("anytime_seconds")
    if isinstance(seconds, list) and len(seconds) == len(record.get("anytime") or []):
        for entry, value in zip(record["anytime"], seconds):
            entry["seconds"] = value
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
    "MULTI_SCHEMA",
    "MultiSetting",
    "SCHEMA",
    "Setting",
    "VOLATILE_KEYS",
    "config_hash",
    "dumps",
    "jsonable",
    "load_result",
    "multi_search_record",
    "multi_summary_line",
    "rerun_hint",
    "search_record",
    "summary_line",
    "timing_path",
    "write_result",
]

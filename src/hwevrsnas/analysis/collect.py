"""Search run files -> one tidy DataFrame, one row per answer (one per single-threshold run).

Each row carries the run's setting (space, dataset, cost_dataset, device, metric, threshold,
threshold_source, quantile, method, preset, seed, proxy_seed), its answer (index, arch, cost, feasible,
status, test_accuracy, optimum_accuracy, regret: null for an infeasible answer, unique_evaluations),
`regret_penalised` (an infeasible answer counted at the regret of the worst feasible architecture),
the volatile numbers of its
timing sidecar (cache hits, wall/CPU/proxy seconds; NaN when the sidecar is absent), its
`config_hash`, and the file it came from (`path`).

FBNet has no accuracy table, so its runs have no test accuracy or regret; their quality is the
proxy score `phi` of the answer. `evaluator` names the scorer (e.g. `rsnas:tiny`; None for the
table methods), `best_feasible_phi` is the best phi of a feasible architecture the run evaluated,
`phi_reference` the best of those over every run of the same setting scored by the same evaluator
in the collection (the reference point the search module defers to aggregation time), and
`phi_gap` = `phi_reference` - `phi` (0 = the run found the best feasible score anyone found).

`proxy_seconds` is the compute time of the run's unique proxy scores, whether this run computed
them or read them from the evaluator's disk cache (their seconds are stored with them);
`cached_proxy_seconds` is the part served from that cache, and `cold_seconds` = `wall_seconds` +
`cached_proxy_seconds` estimates the wall time of the same search with an empty cache: the
search's own cost, comparable across runs however warm the cache was.

Multi-threshold runs (schema `hwevrsnas.multi-search-result/1`: mo-hdnas, mo-nsga2, mo-nsga2-params,
mo-random; docs/MULTIOBJECTIVE.md) answer every threshold of a (space, dataset, device, metric,
seed) in one run. Such a run becomes one row per entry of its `answers`, with the same columns as a
single run: the setting from the run's setting plus the answer's threshold and quantile, the
answer's fields, and the run's `unique_evaluations` and seconds, shared by all its rows. Three
columns keep runs and answers apart: `run_id` (the run's file: rows with the same run_id are one
search), `thresholds_per_run` (1 for a single-threshold run, the number of answers for a multi
run) and `multi_threshold`. Tables that count searches or sum their cost count each run_id once
(result_tables.py). `hypervolume`, `hypervolume_ratio`, `igd` and `front_size` are the multi run's front
quality (NaN for single runs). A multi answer's `regret_penalised`: its regret when feasible; when infeasible,
the optimum minus the worst feasible architecture's accuracy at its threshold, taken from the
answer's `worst_accuracy` if the record has one, else computed from the NB201 table when
`collect_records` is given one (`nb201`), else NaN. Its `best_feasible_phi` is the best phi among
the evaluated architectures with cost <= the answer's threshold.

`proxy_seed` is the proxy's replicate a run read (the seed of its preset: its proxy batch and initialisations),
null for a run without a proxy. A record written before replicates existed lacks it in its setting; it then comes
from the preset its evaluator recorded, else it is 0, the only seed a preset had then.

`label` names what the tables compare: the method, with `:<preset>` for the methods that use a
proxy preset (`hw-evrsnas:paper`, `random:tiny`), and `@<ga_hash>` (the first 8 hex digits of the
sha256 of the run's GA config) when the collection holds runs of that method and preset under
more than one GA config (an ablation), so such runs are never pooled. Rows are sorted by setting,
label, seed, proxy seed and path, whatever the order of the files given, so the tables built from them are
reproducible.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from hwevrsnas.errors import DamagedFile
from hwevrsnas.search.record import MULTI_SCHEMA, SCHEMA, TIMING_SUFFIX, load_result, rerun_hint

SETTING_KEYS = ("space", "dataset", "cost_dataset", "device", "metric", "threshold")
SETTING_FIELDS = (*SETTING_KEYS[:-1], "threshold_source", "quantile", "method", "preset", "seed")
ANSWER_FIELDS = (
    "index", "arch", "cost", "feasible", "status", "test_accuracy", "optimum_accuracy", "regret", "unique_evaluations",
    "phi",
)  # fmt: skip
# An infeasible answer has no regret; `regret_penalised` gives it the regret of the worst feasible
# architecture instead, so methods with different feasibility rates can be compared on one number.
DERIVED_FIELDS = ("regret_penalised",)
# Front quality of a multi-threshold run (NaN for single runs), shared by its rows.
FRONT_FIELDS = ("hypervolume", "hypervolume_ratio", "igd", "front_size")
# Which rows are one search: the run file, how many thresholds it answered, and its kind.
RUN_FIELDS = ("run_id", "thresholds_per_run", "multi_threshold")
VOLATILE_FIELDS = (
    "cache_hits", "evaluator_cache_hits", "fresh_evaluations", "wall_seconds", "cpu_seconds", "proxy_seconds",
    "cached_proxy_seconds", "cold_seconds",
)  # fmt: skip
COLUMNS = (
    *SETTING_KEYS, "threshold_source", "quantile", "method", "preset", "label", "seed", "proxy_seed", *ANSWER_FIELDS,
    *DERIVED_FIELDS, *FRONT_FIELDS,
    "evaluator", "best_feasible_phi", "phi_reference", "phi_gap", *VOLATILE_FIELDS, "config_hash", "ga_hash",
    *RUN_FIELDS, "path",
)  # fmt: skip
FLOAT_FIELDS = (
    "threshold", "quantile", "cost", "test_accuracy", "optimum_accuracy", "regret", "regret_penalised", "phi",
    *FRONT_FIELDS, "best_feasible_phi",
    "phi_reference", "phi_gap", *VOLATILE_FIELDS,
)  # fmt: skip


def _number(value: Any) -> float:
    """A JSON number (or null) as a float; NaN for null."""
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected a number, got {value!r}")
    return float(value)


def ga_hash(ga_config: dict[str, Any] | None) -> str:
    """First 8 hex digits of the sha256 of a GA config's canonical JSON."""
    text = json.dumps(ga_config or {}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def proxy_seed_of(record: dict[str, Any]) -> int | None:
    """The proxy replicate of a run record (module docstring); None for a run without a proxy."""
    setting = record["setting"]
    if setting.get("preset") is None:
        return None
    if setting.get("proxy_seed") is not None:
        return int(setting["proxy_seed"])
    return int(((record.get("evaluator") or {}).get("preset") or {}).get("seed", 0))


def _run_fields(record: dict[str, Any], path: Path | str) -> dict[str, Any]:
    """The fields a run's rows share: volatile seconds and counters, cold seconds, evaluator, hashes, run id."""
    row: dict[str, Any] = {key: record.get(key) for key in VOLATILE_FIELDS[:6]}
    timing = record.get("timing") or {}
    seconds, cached = timing.get("evaluation_seconds") or [], timing.get("evaluation_cached") or []
    keys = [e.get("canonical") for e in record.get("evaluated") or []]
    keys = keys if len(keys) == len(seconds) else list(range(len(seconds)))
    first = {key: i for i, key in reversed(list(enumerate(keys)))}  # isomorphic twins share one score
    row["cached_proxy_seconds"] = float(sum(seconds[i] or 0.0 for i in first.values() if cached[i]))
    wall = record.get("wall_seconds")
    row["cold_seconds"] = None if wall is None else float(wall) + row["cached_proxy_seconds"]
    evaluator = record.get("evaluator") or {}
    row["evaluator"] = evaluator.get("name")
    row["unique_evaluations"] = int(record["unique_evaluations"])
    row["config_hash"] = str(record["config_hash"])
    row["ga_hash"] = ga_hash(record.get("ga_config"))
    row["proxy_seed"] = proxy_seed_of(record)
    row["phi_reference"] = row["phi_gap"] = None  # set across the collection
    row["run_id"] = row["path"] = str(path)
    return row


def _finish(row: dict[str, Any]) -> dict[str, Any]:
    """Types and the label of a row."""
    for key in FLOAT_FIELDS:
        row[key] = _number(row.get(key))
    row["index"] = None if row["index"] is None else int(row["index"])
    row["feasible"] = None if row["feasible"] is None else bool(row["feasible"])
    row["label"] = row["method"] if row["preset"] is None else f"{row['method']}:{row['preset']}"
    return row


def run_row(record: dict[str, Any], path: Path | str = "") -> dict[str, Any]:
    """The row of one loaded single-threshold run record; raises KeyError/TypeError/ValueError if malformed."""
    if record.get("schema") != SCHEMA:
        raise ValueError(f"schema is {record.get('schema')!r}, expected {SCHEMA!r}")
    setting = record["setting"]
    row: dict[str, Any] = {key: setting[key] for key in SETTING_FIELDS}
    row["threshold"] = _number(record["threshold"])
    if row["threshold"] != _number(setting["threshold"]):
        raise ValueError(f"threshold {record['threshold']} differs from the setting's {setting['threshold']}")
    if record["method"] != setting["method"]:
        raise ValueError(f"method {record['method']!r} differs from the setting's {setting['method']!r}")
    row["seed"] = int(setting["seed"])
    row["quantile"] = _number(setting["quantile"])
    for key in ANSWER_FIELDS:
        row[key] = record[key]
    optimum = record.get("optimum") or {}
    worst = optimum.get("worst_accuracy")
    row["regret_penalised"] = (
        record["regret"] if record["feasible"] or worst is None or record["optimum_accuracy"] is None
        else record["optimum_accuracy"] - worst
    )  # fmt: skip
    row.update(_run_fields(record, path))
    feasible_phi = [e["phi"] for e in record.get("evaluated") or [] if e.get("feasible") and e.get("phi") is not None]
    row["best_feasible_phi"] = max(feasible_phi, default=None)
    row.update(dict.fromkeys(FRONT_FIELDS), thresholds_per_run=1, multi_threshold=False)
    return _finish(row)


class WorstAccuracy:
    """The worst 200-epoch test accuracy among the NB201 architectures with cost <= a threshold (the accuracy an
    infeasible answer is counted at in `regret_penalised`), as `run_search` records it in `optimum.worst_accuracy`.

    `nb201` is an NB201Table, or a tables folder holding nb201.h5 (opened on first use), or None (then None).
    """

    def __init__(self, nb201: Any = None) -> None:
        self._nb201 = nb201

    def _table(self) -> Any:
        if isinstance(self._nb201, (str, Path)):
            from hwevrsnas.tables.store import NB201Table

            self._nb201 = NB201Table.open(Path(self._nb201) / "nb201.h5")
        return self._nb201

    def __call__(self, dataset: str, cost_dataset: str, device: str, metric: str, threshold: float) -> float | None:
        table = self._table() if self._nb201 is not None else None
        if table is None:
            return None
        mask = table.feasible_mask(f"{device}_{metric}", threshold, cost_dataset)
        if not mask.any():
            return None
        return float(table.accuracy(slice(None), dataset)[mask].min())


def multi_rows(record: dict[str, Any], path: Path | str = "", worst: WorstAccuracy | None = None) -> list[dict[str, Any]]:
    """The rows of one loaded multi-threshold run record, one per answer, in the setting's threshold order; raises
    KeyError/TypeError/ValueError if malformed. `worst` fills `regret_penalised` of infeasible answers (module doc)."""
    if record.get("schema") != MULTI_SCHEMA:
        raise ValueError(f"schema is {record.get('schema')!r}, expected {MULTI_SCHEMA!r}")
    setting = record["setting"]
    if record["method"] != setting["method"]:
        raise ValueError(f"method {record['method']!r} differs from the setting's {setting['method']!r}")
    answers = record["answers"]
    thresholds = [_number(t) for t in setting["thresholds"]]
    if [_number(a["threshold"]) for a in answers] != thresholds:
        raise ValueError(f"the answers' thresholds differ from the setting's {setting['thresholds']}")
    quantiles = setting.get("quantiles") or [None] * len(answers)
    if [_number(a["quantile"]) for a in answers] != [_number(q) for q in quantiles]:
        raise ValueError(f"the answers' quantiles differ from the setting's {setting.get('quantiles')}")
    shared = _run_fields(record, path)
    shared.update({key: record.get(key) for key in FRONT_FIELDS})
    shared["front_size"] = None if record.get("front") is None else len(record["front"])
    shared.update(thresholds_per_run=len(answers), multi_threshold=True)
    evaluated = [e for e in record.get("evaluated") or [] if e.get("phi") is not None and e.get("cost") is not None]
    rows = []
    for answer in answers:
        row: dict[str, Any] = {key: setting[key] for key in SETTING_FIELDS if key != "quantile"}
        row["seed"] = int(setting["seed"])
        row["threshold"], row["quantile"] = _number(answer["threshold"]), _number(answer["quantile"])
        for key in ANSWER_FIELDS:
            if key not in ("status", "unique_evaluations"):
                row[key] = answer[key]
        row["status"] = "ok" if answer["feasible"] else "infeasible"
        penalised = answer["regret"]
        if not answer["feasible"] and answer["optimum_accuracy"] is not None:
            low = answer.get("worst_accuracy")
            if low is None and worst is not None and setting["space"] == "nb201":
                low = worst(setting["dataset"], setting["cost_dataset"], setting["device"], setting["metric"],
                            row["threshold"])  # fmt: skip
            penalised = None if low is None else answer["optimum_accuracy"] - low
        row["regret_penalised"] = penalised
        row["best_feasible_phi"] = max((e["phi"] for e in evaluated if e["cost"] <= row["threshold"]), default=None)
        row.update(shared)
        rows.append(_finish(row))
    return rows


def run_rows(record: dict[str, Any], path: Path | str = "", worst: WorstAccuracy | None = None) -> list[dict[str, Any]]:
    """The rows of one loaded run record of either schema: one for a single run, one per answer for a multi run."""
    if record.get("schema") == MULTI_SCHEMA:
        return multi_rows(record, path, worst)
    return [run_row(record, path)]


# A record's fields with one entry per evaluation: read into its rows, not kept for the histories and plots.
PER_EVALUATION_FIELDS = ("evaluated", "timing")


def _sort(df: pd.DataFrame) -> pd.DataFrame:
    """Rows in a canonical order (setting, label, seed, proxy seed, path), NaN and None last."""
    keys = [*SETTING_KEYS, "label", "seed", "proxy_seed", "path"]
    return df.sort_values(keys, kind="stable", na_position="last").reset_index(drop=True)


def collect_records(
    run_files: Sequence[Path | str], nb201: Any = None
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """`collect`, plus the loaded records aligned with the rows (for histories and plots; a multi run's record
    once per row), without their per-evaluation fields (PER_EVALUATION_FIELDS: the rows are made from them, and
    they are most of a record's memory). `nb201`: an NB201Table or a tables folder, used only for the penalised
    regret of infeasible multi-threshold answers (module docstring)."""
    paths = [Path(p) for p in run_files]
    if not paths:
        raise ValueError("no run files to collect")
    worst = WorstAccuracy(nb201)
    rows, records = [], {}
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"run file {path} not found")
        if path.name.endswith(TIMING_SUFFIX):
            raise ValueError(f"{path} is a timing sidecar; pass the run file it belongs to")
        record = load_result(path)
        try:
            rows += run_rows(record, path, worst)
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            detail = f"missing key {err.args[0]!r}" if isinstance(err, KeyError) else str(err)
            raise DamagedFile(path, f"malformed run file: {detail}", rerun_hint(path)) from err
        records[str(path)] = {key: value for key, value in record.items() if key not in PER_EVALUATION_FIELDS}
    df = pd.DataFrame(rows, columns=list(COLUMNS))
    for key in FLOAT_FIELDS:
        df[key] = df[key].astype(float)
    df["seed"] = df["seed"].astype(int)
    df["proxy_seed"] = df["proxy_seed"].astype("Int64")
    df["unique_evaluations"] = df["unique_evaluations"].astype(int)
    df["thresholds_per_run"] = df["thresholds_per_run"].astype(int)
    df["multi_threshold"] = df["multi_threshold"].astype(bool)
    df["index"] = df["index"].astype("Int64")
    # The proxy-score reference (FBNet has no accuracy): the best feasible phi any run of the
    # same setting scored with the same evaluator found; the gap is reference - the answer's phi.
    scored = df["evaluator"].notna()
    reference = df[scored].groupby([*SETTING_KEYS, "evaluator"])["best_feasible_phi"].transform("max")
    df.loc[scored, "phi_reference"] = reference
    df["phi_gap"] = df["phi_reference"] - df["phi"]
    # Ablations: a (method, preset) with several GA configs gets the config's hash in its label.
    ablated = df.groupby(["method", df["preset"].fillna("")])["ga_hash"].transform("nunique") > 1
    df.loc[ablated, "label"] = df.loc[ablated, "label"] + "@" + df.loc[ablated, "ga_hash"]
    key = [*SETTING_KEYS, "label", "seed", "proxy_seed"]
    duplicated = df.duplicated(key, keep=False)
    if duplicated.any():
        dupes = df[duplicated]
        same = dupes[dupes.groupby(key, dropna=False, sort=False).ngroup() == 0]
        raise ValueError(f"duplicate runs of one setting, method, seed and proxy seed: {', '.join(same['path'])}")
    df = _sort(df)
    return df, [records[path] for path in df["path"]]


def collect(run_files: Sequence[Path | str], nb201: Any = None) -> pd.DataFrame:
    """One row per single-threshold run file and one per answer of a multi-threshold run file (timing sidecar
    merged), in canonical order; ValueError naming a malformed file."""
    return collect_records(run_files, nb201)[0]


def find_run_files(folder: Path | str) -> list[Path]:
    """Every run file (`*.json`, not the `*.timing.json` sidecars) under `folder`, sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"runs folder {folder} not found")
    return sorted(p for p in folder.rglob("*.json") if not p.name.endswith(TIMING_SUFFIX))




def at_budgets(df: pd.DataFrame, records: Sequence[dict[str, Any]], budgets: Sequence[int]) -> pd.DataFrame:
    """One row per (run, budget): the run's answer after `budget` unique evaluations, read from its anytime trajectory.

    A run that stopped earlier (the GA's own stop, or a smaller budget) keeps its final answer at larger
    budgets; a method without a trajectory (the oracle, and the multi-threshold methods, whose records hold no
    `anytime`) has its final answer at every budget, with its own `unique_evaluations`. `seconds` is the
    summed proxy seconds at that point (its cost as if run alone), `unique_evaluations` the evaluations spent,
    `trajectory` whether the answer was read from a trajectory.
    """
    rows = []
    for (_, row), record in zip(df.iterrows(), records):
        anytime = record.get("anytime") or []
        for budget in sorted(set(int(b) for b in budgets)):
            out = row.to_dict()
            out["budget"] = budget
            out["trajectory"] = bool(anytime)
            if anytime:
                entry = anytime[min(budget, len(anytime)) - 1]
                out.update(index=entry["index"], feasible=entry["feasible"], test_accuracy=_number(entry["test_accuracy"]),
                           regret=_number(entry["regret"]), phi=_number(entry["phi"]),
                           unique_evaluations=min(budget, len(anytime)), seconds=_number(entry.get("seconds")))  # fmt: skip
                worst = (record.get("optimum") or {}).get("worst_accuracy")
                out["regret_penalised"] = (
                    out["regret"] if out["feasible"] or worst is None else row["optimum_accuracy"] - worst
                )
            else:
                out["seconds"] = row["proxy_seconds"]
            rows.append(out)
    return pd.DataFrame(rows)


__all__ = [
    "COLUMNS", "PER_EVALUATION_FIELDS", "SETTING_KEYS", "WorstAccuracy", "at_budgets", "collect", "collect_records", "find_run_files", "ga_hash",
    "multi_rows", "proxy_seed_of", "run_row", "run_rows",
]  # fmt: skip

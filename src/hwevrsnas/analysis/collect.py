"""Search run files -> one tidy DataFrame, one row per run.

Each row carries the run's setting (space, dataset, cost_dataset, device, metric, threshold,
threshold_source, quantile, method, preset, seed), its answer (index, arch, cost, feasible,
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

`label` names what the tables compare: the method, with `:<preset>` for the methods that use a
proxy preset (`hw-evrsnas:paper`, `random:tiny`), and `@<ga_hash>` (the first 8 hex digits of the
sha256 of the run's GA config) when the collection holds runs of that method and preset under
more than one GA config (an ablation), so such runs are never pooled. Rows are sorted by setting,
label, seed and path, whatever the order of the files given, so the tables built from them are
reproducible.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from hwevrsnas.search.result import SCHEMA, TIMING_SUFFIX, load_result

SETTING_KEYS = ("space", "dataset", "cost_dataset", "device", "metric", "threshold")
SETTING_FIELDS = (*SETTING_KEYS[:-1], "threshold_source", "quantile", "method", "preset", "seed")
ANSWER_FIELDS = (
    "index", "arch", "cost", "feasible", "status", "test_accuracy", "optimum_accuracy", "regret", "unique_evaluations",
    "phi",
)  # fmt: skip
# An infeasible answer has no regret; `regret_penalised` gives it the regret of the worst feasible
# architecture instead, so methods with different feasibility rates can be compared on one number.
DERIVED_FIELDS = ("regret_penalised",)
VOLATILE_FIELDS = (
    "cache_hits", "evaluator_cache_hits", "fresh_evaluations", "wall_seconds", "cpu_seconds", "proxy_seconds",
    "cached_proxy_seconds", "cold_seconds",
)  # fmt: skip
COLUMNS = (
    *SETTING_KEYS, "threshold_source", "quantile", "method", "preset", "label", "seed", *ANSWER_FIELDS,
    *DERIVED_FIELDS,
    "evaluator", "best_feasible_phi", "phi_reference", "phi_gap", *VOLATILE_FIELDS, "config_hash", "ga_hash", "path",
)  # fmt: skip
FLOAT_FIELDS = (
    "threshold", "quantile", "cost", "test_accuracy", "optimum_accuracy", "regret", "regret_penalised", "phi",
    "best_feasible_phi",
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


def run_row(record: dict[str, Any], path: Path | str = "") -> dict[str, Any]:
    """One row of the collection from one loaded run record; raises KeyError/TypeError/ValueError if malformed."""
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
    for key in VOLATILE_FIELDS[:6]:
        row[key] = record.get(key)
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
    feasible_phi = [e["phi"] for e in record.get("evaluated") or [] if e.get("feasible") and e.get("phi") is not None]
    row["best_feasible_phi"] = max(feasible_phi, default=None)
    row["phi_reference"] = row["phi_gap"] = None  # set across the collection
    for key in FLOAT_FIELDS:
        row[key] = _number(row[key])
    row["index"] = None if row["index"] is None else int(row["index"])
    row["feasible"] = None if row["feasible"] is None else bool(row["feasible"])
    row["unique_evaluations"] = int(row["unique_evaluations"])
    row["config_hash"] = str(record["config_hash"])
    row["ga_hash"] = ga_hash(record.get("ga_config"))
    row["label"] = row["method"] if row["preset"] is None else f"{row['method']}:{row['preset']}"
    row["path"] = str(path)
    return row


def _sort(df: pd.DataFrame) -> pd.DataFrame:
    """Rows in a canonical order (setting, label, seed, path), NaN and None last."""
    keys = [*SETTING_KEYS, "label", "seed", "path"]
    return df.sort_values(keys, kind="stable", na_position="last").reset_index(drop=True)


def collect_records(run_files: Sequence[Path | str]) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """`collect`, plus the loaded records aligned with the rows (for histories and plots)."""
    paths = [Path(p) for p in run_files]
    if not paths:
        raise ValueError("no run files to collect")
    rows, records = [], []
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"run file {path} not found")
        if path.name.endswith(TIMING_SUFFIX):
            raise ValueError(f"{path} is a timing sidecar; pass the run file it belongs to")
        try:
            record = load_result(path)
            if not isinstance(record, dict):
                raise TypeError(f"top level is a {type(record).__name__}, not an object")
            rows.append(run_row(record, path))
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError, AttributeError) as err:
            detail = f"missing key {err.args[0]!r}" if isinstance(err, KeyError) else str(err)
            raise ValueError(f"malformed run file {path}: {detail}") from err
        records.append(record)
    df = pd.DataFrame(rows, columns=list(COLUMNS))
    for key in FLOAT_FIELDS:
        df[key] = df[key].astype(float)
    df["seed"] = df["seed"].astype(int)
    df["unique_evaluations"] = df["unique_evaluations"].astype(int)
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
    key = [*SETTING_KEYS, "label", "seed"]
    duplicated = df.duplicated(key, keep=False)
    if duplicated.any():
        first = df.loc[duplicated, key].iloc[0]
        same = df[duplicated & (df[key] == first).all(axis=1)]
        raise ValueError(f"duplicate runs of one setting, method and seed: {', '.join(same['path'])}")
    df = _sort(df)
    position = {path: i for i, path in enumerate(map(str, paths))}
    return df, [records[position[path]] for path in df["path"]]


def collect(run_files: Sequence[Path | str]) -> pd.DataFrame:
    """One row per run file (timing sidecar merged), in canonical order; ValueError naming a malformed file."""
    return collect_records(run_files)[0]


def find_run_files(folder: Path | str) -> list[Path]:
    """Every run file (`*.json`, not the `*.timing.json` sidecars) under `folder`, sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"runs folder {folder} not found")
    return sorted(p for p in folder.rglob("*.json") if not p.name.endswith(TIMING_SUFFIX))


__all__ = ["COLUMNS", "SETTING_KEYS", "collect", "collect_records", "find_run_files", "ga_hash", "run_row"]

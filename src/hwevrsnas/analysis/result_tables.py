"""The result tables: per-setting method summary, search cost (energy, CO2, published costs), the cost of
covering every threshold of a slice ("nine constraints"), front quality of multi-threshold runs, Markdown.

Every table is a DataFrame written as `<stem>.csv` (full precision) and `<stem>.md` (rounded, with
the table's notes below it) by `write_table`, atomically. Notes travel in `df.attrs["notes"]`. The
cost table's Markdown has three sections (`cost_sections`, `write_sections`): evaluations and
seconds, energy and CO2, ratios to published costs; its CSV is the full table.

Rows of the collection are answers (collect.py): a multi-threshold run has one per threshold, all
with the same `run_id`. Whatever counts searches or sums their cost (the n_runs, evaluations and
seconds of the devices, cost and nine-constraints tables) counts each run once (`runs_of`).

Intervals resample independent units (statistics.py): a row of one setting (the main table) resamples its
seeds; a row pooled over settings (the anytime table) resamples slices, then thresholds within them.

In Markdown, counts (columns `n`, `n_*`, `*_runs`, `searches`, `thresholds`, `budget`, ...) are
written as integers, missing values as "-", and no number in exponent notation above 1e4.
"""

from __future__ import annotations

import io
import math
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from hwevrsnas.analysis import DEFAULT_ENERGY
from hwevrsnas.analysis.collect import SETTING_KEYS
from hwevrsnas.analysis.statistics import bootstrap_ci, cluster_bootstrap_ci, unit_counts
from hwevrsnas.atomic import write_text
from hwevrsnas.search.methods import METHODS

CROSS_HARDWARE = "cross-hardware comparison (different machines)"
# METHOD.md section 5: published search seconds (RMI-NAS and the NB201 baselines on one GPU;
# HW-EvRSNAS as quoted by MO-HDNAS: 20.9 GPU-hours for nine constraints, about 2.3 GPU-hours each).
# MO-HDNAS: 0.65 GPU-hours for nine constraints (its Table 1 as quoted second-hand), 260 s per constraint.
PUBLISHED_SECONDS = {
    "RMI-NAS": 1258.0,
    "REINFORCE": 27871.0,
    "HW-EvRSNAS": 8280.0,
    "MO-HDNAS": 260.0,
}
PUBLISHED_NOTES = {
    "RMI-NAS": "RMI-NAS, NB201 unconstrained, random-forest sampler, one GPU",
    "REINFORCE": "REINFORCE on NB201 (NB201 paper's baseline)",
    "HW-EvRSNAS": "HW-EvRSNAS as quoted by MO-HDNAS: about 2.3 GPU-hours (8,280 s) per constraint",
    "MO-HDNAS": "MO-HDNAS, one run for nine CIFAR-100 FPGA constraints in 0.65 GPU-hours (2,340 s), i.e. 260 s per "
    "constraint, as quoted second-hand from its Table 1",
}
PUBLISHED_SOURCES = {"MO-HDNAS": "MO-HDNAS paper, Table 1, quoted second-hand (docs/MULTIOBJECTIVE.md)"}
# The published figures of the nine-constraints comparison (MO-HDNAS paper, Table 1, as quoted second-hand):
# nine CIFAR-100 FPGA constraints, GPU-hours of the whole covering.
NINE_CONSTRAINTS_PUBLISHED = (
    ("MO-HDNAS (published)", 1, 9, 0.65),
    ("HW-EvRSNAS (published)", 9, 9, 20.87),
)
NINE_CONSTRAINTS_SOURCE = (
    "MO-HDNAS paper (Sinha et al., CVPRW 2024), Table 1, as quoted second-hand: nine CIFAR-100 FPGA constraints, "
    "GPU-hours"
)
MAIN_FLOATFMT = {"threshold": ".4g", "quantile": "g", "optimum": ".2f", "unique evals": ".1f"}
COST_FLOATFMT = {"*": ".5g", "energy_kwh": ".3g", "co2_g": ".3g", "energy_kwh_total": ".3g", "co2_g_total": ".3g",
                 "thresholds_per_run": ".3g"}  # fmt: skip
DEVICE_FLOATFMT = {
    "*": ".3g", "feasible_rate": ".0%", "regret_mean": ".2f", "regret_worst": ".2f", "regret_penalised_mean": ".2f",
}  # fmt: skip
NINE_FLOATFMT = {
    "*": ".3g", "feasible_rate": ".0%", "regret_mean": ".2f", "regret_penalised_mean": ".2f", "gpu_hours": ".2f",
    "hw_evrsnas_seconds_over_this": ".3g",
}  # fmt: skip
FRONTS_FLOATFMT = {"*": ".4f", "front_size_mean": ".1f", "unique_evaluations_mean": ".1f"}
MAIN_METRICS = ("test_accuracy", "regret", "regret_penalised", "cost", "phi", "phi_gap")
MAIN_SETTING = (*SETTING_KEYS, "threshold_source", "quantile")


def runs_of(df: pd.DataFrame) -> pd.DataFrame:
    """One row per run (search): the first row of each `run_id` (a multi-threshold run's rows share its cost)."""
    return df.drop_duplicates("run_id", keep="first")


def _ratio_column(name: str) -> str:
    return f"{name.lower().replace('-', '_')}_{PUBLISHED_SECONDS[name]:.0f}s_over_this"


def _energy(energy: Mapping[str, float] | None) -> dict[str, float]:
    values = dict(DEFAULT_ENERGY)
    for key, value in (energy or {}).items():
        if key not in DEFAULT_ENERGY:
            raise KeyError(f"unknown energy setting {key!r}; valid: {', '.join(DEFAULT_ENERGY)}")
        if value is None:
            continue
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
            raise ValueError(f"energy setting {key} must be a non-negative number, got {value!r}")
        values[key] = float(value)
    return values


def main_table(df: pd.DataFrame, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> pd.DataFrame:
    """Per (setting, method): n seeds, mean/std/bootstrap CI of test accuracy, regret and cost, feasibility rate."""
    rows = []
    keys = [*MAIN_SETTING, "label"]
    df = df[df["status"] != "not_applicable"]  # e.g. the oracle on FBNet: no accuracy table, no answer
    for values, part in df.groupby(keys, sort=True, dropna=False):
        row: dict[str, Any] = dict(zip([*MAIN_SETTING, "method"], values))
        row["n"] = len(part)
        for metric in MAIN_METRICS:
            x = part[metric].to_numpy(dtype=float)
            present = x[~np.isnan(x)]
            constant = present.size > 0 and bool(np.all(present == present[0]))
            row[f"{metric}_mean"] = float(present[0] if constant else present.mean()) if present.size else math.nan
            row[f"{metric}_std"] = (0.0 if constant else float(present.std(ddof=1))) if present.size > 1 else math.nan
            row[f"{metric}_lo"], row[f"{metric}_hi"] = bootstrap_ci(present, n_boot, seed, level)
        feasible = part["feasible"].map(lambda v: v is True).to_numpy(dtype=float)  # None (no answer) = infeasible
        row["feasible_rate"] = float(feasible.mean())
        row["feasible_lo"], row["feasible_hi"] = bootstrap_ci(feasible, n_boot, seed, level)
        optimum = part["optimum_accuracy"].dropna().unique()
        row["optimum_accuracy"] = float(optimum[0]) if len(optimum) else math.nan
        row["unique_evaluations_mean"] = float(part["unique_evaluations"].mean())
        rows.append(row)
    stats_columns = [f"{m}_{s}" for m in MAIN_METRICS for s in ("mean", "std", "lo", "hi")]
    columns = [*MAIN_SETTING, "method", "n", *stats_columns, "feasible_rate", "feasible_lo", "feasible_hi",
               "optimum_accuracy", "unique_evaluations_mean"]  # fmt: skip
    out = pd.DataFrame(rows, columns=columns)
    out.attrs["notes"] = [
        "Unit: one setting (space, dataset, cost dataset, device, metric, threshold) per row; n = its seeds, "
        "independent searches. mean ± sample std (ddof 1) over them [percentile-bootstrap "
        f"{level:.0%} interval of the mean, resampling the row's n seeds, {n_boot} resamples, seed {seed}]. No row "
        "pools settings, so nothing here resamples thresholds or slices.",
        "test accuracy: 200-epoch NB201 test accuracy (%) of the returned architecture; regret: the exact "
        "feasible optimum's accuracy minus it (points), over feasible answers only (penalised: an infeasible "
        "answer counted at the worst feasible architecture's regret); cost: the returned architecture's tabular cost "
        "(latency ms, energy mJ); feasible: share of seeds whose answer meets the threshold.",
        "method: the method, with :preset for proxy methods and @<ga-config hash> for GA-config ablations. "
        "Multi-threshold methods (mo-*) answer every threshold of the slice in one run per seed: their row at a "
        "threshold is that answer, and their unique evals are the whole run's, shared by all its thresholds (the "
        "nine-constraints table compares the cost of covering every threshold).",
        "FBNet has no accuracy table: its runs are judged by phi, the proxy score of the answer, and phi gap = the "
        "best feasible phi found by any run of the setting with the same evaluator, minus the answer's phi "
        "(0 = as good as the best found). Runs with status not_applicable (the oracle on FBNet) are left out.",
    ]
    return out


def _cell(mean: float, std: float, lo: float, hi: float, fmt: str) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "-"
    text = format(mean, fmt)
    if not math.isnan(std):
        text += f" ± {format(std, fmt)}"
    if not math.isnan(lo) and lo != hi:
        text += f" [{format(lo, fmt)}, {format(hi, fmt)}]"
    return text


def main_display(table: pd.DataFrame) -> pd.DataFrame:
    """The main table with one formatted 'mean ± std [lo, hi]' cell per metric, for Markdown."""
    formats = {"test_accuracy": (".2f", "test acc (%)"), "regret": (".2f", "regret"), "cost": (".3f", "cost")}
    out = table[["space", "dataset", "device", "metric", "threshold", "quantile", "method", "n"]].copy()
    for metric, (fmt, header) in formats.items():
        out[header] = [
            _cell(r[f"{metric}_mean"], r[f"{metric}_std"], r[f"{metric}_lo"], r[f"{metric}_hi"], fmt)
            for _, r in table.iterrows()
        ]
    out["feasible"] = [
        f"{r['feasible_rate']:.0%}"
        + ("" if r["feasible_lo"] == r["feasible_hi"] else f" [{r['feasible_lo']:.0%}, {r['feasible_hi']:.0%}]")
        for _, r in table.iterrows()
    ]
    if (table["space"] == "fbnet").any():
        for metric, fmt in (("phi", ".4f"), ("phi_gap", ".4f")):
            out[metric.replace("_", " ")] = [
                _cell(r[f"{metric}_mean"], r[f"{metric}_std"], r[f"{metric}_lo"], r[f"{metric}_hi"], fmt)
                for _, r in table.iterrows()
            ]
    out["optimum"] = table["optimum_accuracy"]
    out["unique evals"] = table["unique_evaluations_mean"]
    out.attrs["notes"] = table.attrs.get("notes", [])
    return out


def device_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per (space, dataset, device, metric) and method, over thresholds and seeds: feasibility, regret and evaluations
    of a search; nothing that depends on the machine, so that a published table is reproduced byte for byte."""
    keys = ["space", "dataset", "cost_dataset", "device", "metric"]
    df = df[df["status"] != "not_applicable"]
    rows = []
    for (*where, label), part in df.groupby([*keys, "label"], sort=True, dropna=False):
        regret = part["regret"].astype(float)  # NaN for infeasible answers: left out of mean and worst
        runs = runs_of(part)
        rows.append(
            {**dict(zip(keys, where)), "method": label, "n_runs": len(runs), "n_answers": len(part),
             "feasible_rate": float(part["feasible"].fillna(False).astype(bool).mean()),
             "regret_mean": float(regret.mean()), "regret_worst": float(regret.max()),
             "regret_penalised_mean": float(part["regret_penalised"].astype(float).mean()),
             "unique_evaluations_mean": float(runs["unique_evaluations"].mean())}
        )  # fmt: skip
    out = pd.DataFrame(rows)
    out.attrs["notes"] = [
        "Unit: the slice (space, dataset, cost dataset, device, metric): one row per slice and method, over every "
        "threshold and seed of the slice (n_answers of them); means, no interval. regret: the feasible optimum's "
        "test accuracy minus the "
        "returned architecture's, in points, over the feasible answers only (an infeasible answer has no regret; "
        "NaN where no optimum is known, e.g. FBNet); regret_penalised: the same over all answers, an infeasible "
        "one counted at the regret of the worst feasible architecture; feasible_rate: share of answers that meet "
        "the threshold. No timings: every value here is the same on any machine (seconds are in the cost table).",
        "n_runs: searches; n_answers: thresholds answered (a multi-threshold run answers all thresholds of its "
        "slice in one search, a single-threshold run one). unique evaluations are means per search.",
    ]
    return out


def cost_table(df: pd.DataFrame, energy: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Per method: mean unique evaluations and seconds per search, energy (kWh) and CO2 (g), published-cost ratios.

    Each run counts once (a multi-threshold run's rows are one search); `thresholds_per_run` is the mean number
    of thresholds a search answered and `cold_seconds_per_threshold` its cold seconds divided by them (total cold
    seconds / total answers), the cost of one constraint, which the published-cost ratios use.
    """
    power = _energy(energy)
    rows = []
    df = df[df["status"] != "not_applicable"]
    for label, part in df.groupby("label", sort=True):
        runs = runs_of(part)
        row: dict[str, Any] = {"method": label, "source": "measured (this machine)", "n_runs": len(runs)}
        row["thresholds_per_run"] = float(runs["thresholds_per_run"].mean())
        for column in ("unique_evaluations", "wall_seconds", "cpu_seconds", "proxy_seconds", "cold_seconds"):
            row[f"{column}_mean"] = float(runs[column].mean())
        row["cold_seconds_total"] = float(runs["cold_seconds"].sum())
        row["cold_seconds_per_threshold"] = row["cold_seconds_total"] / len(part) if len(part) else math.nan
        seconds = row["cold_seconds_mean"]
        row["energy_kwh"] = seconds * power["power_watts"] / 3.6e6
        row["co2_g"] = row["energy_kwh"] * power["grid_gco2_per_kwh"]
        row["energy_kwh_total"] = row["cold_seconds_total"] * power["power_watts"] / 3.6e6
        row["co2_g_total"] = row["energy_kwh_total"] * power["grid_gco2_per_kwh"]
        table_method = not any(METHODS[m].uses_proxy for m in part["method"].unique() if m in METHODS)
        per_threshold = row["cold_seconds_per_threshold"]
        for name, published in PUBLISHED_SECONDS.items():
            row[_ratio_column(name)] = math.nan if table_method or not per_threshold > 0 else published / per_threshold
        rows.append(row)
    for name, published in PUBLISHED_SECONDS.items():
        rows.append(
            {"method": f"{name} (published)",
             "source": f"{PUBLISHED_SOURCES.get(name, 'METHOD.md section 5')}; {CROSS_HARDWARE}",
             "wall_seconds_mean": published, "cold_seconds_mean": published, "cold_seconds_per_threshold": published}
        )  # fmt: skip
    out = pd.DataFrame(rows)
    measured = out["source"].str.startswith("measured")
    out["power_watts"] = np.where(measured, power["power_watts"], np.nan)
    out["grid_gco2_per_kwh"] = np.where(measured, power["grid_gco2_per_kwh"], np.nan)
    ratio_names = ", ".join(f"`{_ratio_column(n)}`" for n in PUBLISHED_SECONDS)
    out.attrs["notes"] = [
        "Per search (one run, one seed: one constraint for single-threshold methods, every threshold of its slice for "
        "multi-threshold ones), means over the runs of each method; n_runs: searches; thresholds_per_run: thresholds "
        "a search answered. unique evaluations: distinct proxy (or table) evaluations; wall/CPU seconds: measured by "
        "the run; proxy seconds: compute time of its unique proxy scores (also when read from the score cache); cold "
        "seconds = wall seconds + proxy seconds of the scores served from the cache, the search's wall time with an "
        "empty cache; cold seconds per threshold: their total over the total thresholds answered.",
        f"energy kWh = cold seconds × {power['power_watts']:g} W / 3.6e6, where {power['power_watts']:g} W is "
        "the assumed average power draw of the machine running the search (not measured); CO2 g = kWh × "
        f"{power['grid_gco2_per_kwh']:g} gCO2/kWh (default 475: IEA 2019 world-average grid carbon intensity).",
        f"{ratio_names}: published search seconds per constraint divided by this method's cold seconds per threshold "
        f"(> 1: faster than published). This is a {CROSS_HARDWARE}: the published numbers are GPU searches on "
        "other hardware, "
        + "; ".join(f"{n} {PUBLISHED_SECONDS[n]:,.0f} s ({PUBLISHED_NOTES[n]})" for n in PUBLISHED_SECONDS) + ".",
        f"Table methods ({', '.join(m for m, spec in METHODS.items() if not spec.uses_proxy)}) only look costs "
        "and accuracies up in the NB201 table: "
        "no ratio is given for them.",
    ]  # fmt: skip
    return out


COST_SECTIONS = (
    ("Evaluations and seconds per search",
     ("method", "n_runs", "thresholds_per_run", "unique_evaluations_mean", "wall_seconds_mean", "cpu_seconds_mean",
      "proxy_seconds_mean", "cold_seconds_mean", "cold_seconds_per_threshold", "cold_seconds_total"), (0,)),
    ("Energy and CO2 (estimated from cold seconds)",
     ("method", "cold_seconds_mean", "energy_kwh", "co2_g", "cold_seconds_total", "energy_kwh_total", "co2_g_total",
      "power_watts", "grid_gco2_per_kwh"), (1,)),
    (f"Ratios to published search costs: a {CROSS_HARDWARE}",
     ("method", "source", "cold_seconds_per_threshold", *(_ratio_column(n) for n in PUBLISHED_SECONDS)), (2, 3)),
)  # fmt: skip


def cost_sections(cost: pd.DataFrame) -> list[tuple[str, pd.DataFrame, list[str]]]:
    """The cost table split into what a reader compares: (heading, columns of the table, notes) for evaluations and
    seconds, energy and CO2, and ratios to published costs (with the published rows). The first two hold the measured
    rows only."""
    notes = list(cost.attrs.get("notes") or [])
    measured = cost[cost["source"].str.startswith("measured")]
    sections = []
    for heading, columns, note_positions in COST_SECTIONS:
        if not set(columns) <= set(cost.columns):
            continue
        shown = (cost if heading.startswith("Ratios") else measured)[list(columns)].reset_index(drop=True)
        sections.append((heading, shown, [notes[i] for i in note_positions if i < len(notes)]))
    return sections


def nine_constraints_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per method: what it took to answer every threshold of a slice, per (space, dataset, cost dataset, device,
    metric, seed), averaged over the slices and seeds where it answered every threshold of the slice.

    The thresholds of a slice are all those any method answered there. Per (method, slice, seed): `searches` (its
    distinct runs: 1 for a multi-threshold run, one per threshold for single-threshold runs), `unique_evaluations`
    and `cold_seconds` (summed over those runs), and its answers' regret, penalised regret and feasibility. The
    table: n (complete slice-seeds), n_incomplete (slice-seeds where it missed a threshold, left out), thresholds,
    the means of searches, evaluations and cold seconds per slice-seed, evaluations per threshold, mean regret over
    all answers (feasible only) and penalised regret, feasible rate, and `hw_evrsnas_seconds_over_this`: the cold
    seconds of `hw-evrsnas` with the same preset over this method's, on the slice-seeds both completed. Below: the
    published figures, labelled as a cross-hardware comparison.
    """
    slice_keys = ["space", "dataset", "cost_dataset", "device", "metric"]
    df = df[df["status"] != "not_applicable"]
    thresholds = df.groupby(slice_keys, dropna=False)["threshold"].apply(lambda t: frozenset(t.tolist()))
    groups: dict[str, dict[tuple, dict[str, Any]]] = {}
    incomplete: dict[str, int] = {}
    presets: dict[str, Any] = {}
    for (*where, seed, label), part in df.groupby([*slice_keys, "seed", "label"], sort=True, dropna=False):
        presets[label] = part["preset"].iloc[0]
        if frozenset(part["threshold"].tolist()) != thresholds.loc[tuple(where)]:
            incomplete[label] = incomplete.get(label, 0) + 1
            continue
        runs = runs_of(part)
        groups.setdefault(label, {})[(*where, seed)] = {
            "thresholds": len(part), "searches": len(runs), "unique_evaluations": int(runs["unique_evaluations"].sum()),
            "cold_seconds": float(runs["cold_seconds"].sum()), "regret": part["regret"].to_numpy(float),
            "regret_penalised": part["regret_penalised"].to_numpy(float),
            "feasible": part["feasible"].map(lambda v: v is True).to_numpy(float),
        }  # fmt: skip
    rows = []
    for label in sorted(set(groups) | set(incomplete)):
        per = groups.get(label, {})
        complete = list(per.values())
        row: dict[str, Any] = {"method": label, "source": "measured (this machine)", "n": len(complete),
                               "n_incomplete": incomplete.get(label, 0)}  # fmt: skip
        for key in ("thresholds", "searches", "unique_evaluations", "cold_seconds"):
            row[f"{key}_mean"] = float(np.mean([g[key] for g in complete])) if complete else math.nan
        row["evaluations_per_threshold"] = (
            sum(g["unique_evaluations"] for g in complete) / sum(g["thresholds"] for g in complete) if complete else math.nan
        )  # fmt: skip
        for key in ("regret", "regret_penalised", "feasible"):
            values = np.concatenate([g[key] for g in complete]) if complete else np.zeros(0)
            values = values[~np.isnan(values)]
            row[f"{key}_mean" if key != "feasible" else "feasible_rate"] = float(values.mean()) if values.size else math.nan
        preset = presets.get(label)
        reference = f"hw-evrsnas:{preset}" if isinstance(preset, str) else None
        common = sorted(set(per) & set(groups.get(reference, {}))) if reference else []
        mine = sum(per[k]["cold_seconds"] for k in common)
        theirs = sum(groups[reference][k]["cold_seconds"] for k in common) if common else math.nan
        row["hw_evrsnas_seconds_over_this"] = theirs / mine if common and mine > 0 else math.nan
        row["gpu_hours"] = math.nan
        rows.append(row)
    published_mo, published_hw = NINE_CONSTRAINTS_PUBLISHED
    for name, searches, count, hours in NINE_CONSTRAINTS_PUBLISHED:
        rows.append(
            {"method": name, "source": f"{NINE_CONSTRAINTS_SOURCE}; {CROSS_HARDWARE}", "thresholds_mean": float(count),
             "searches_mean": float(searches), "cold_seconds_mean": hours * 3600.0, "gpu_hours": hours,
             "hw_evrsnas_seconds_over_this": published_hw[3] / hours}
        )  # fmt: skip
    columns = ["method", "source", "n", "n_incomplete", "thresholds_mean", "searches_mean", "unique_evaluations_mean",
               "evaluations_per_threshold", "cold_seconds_mean", "regret_mean", "regret_penalised_mean",
               "feasible_rate", "hw_evrsnas_seconds_over_this", "gpu_hours"]  # fmt: skip
    out = pd.DataFrame(rows, columns=columns)
    for column in ("n", "n_incomplete"):
        out[column] = out[column].astype("Int64")
    out.attrs["notes"] = [
        "Covering every threshold of a slice (space, dataset, cost dataset, device, metric) for one seed: its thresholds "
        "are all those any method answered there. n: slice-seeds where the method answered every one (only these "
        "enter the means); n_incomplete: slice-seeds where it missed some. thresholds, searches, unique evaluations "
        "and cold seconds: per slice-seed, summed over the method's runs there (a multi-threshold run is one search "
        "for all thresholds, its evaluations and seconds counted once; a single-threshold method needs one search "
        "per threshold), then averaged over slice-seeds.",
        "regret: mean over all answers of the complete slice-seeds, feasible answers only; penalised: an infeasible "
        "answer counted at the worst feasible architecture's regret; feasible_rate: share of answers that meet "
        "their threshold.",
        "hw_evrsnas_seconds_over_this: summed cold seconds of hw-evrsnas with the same preset over this method's, on "
        "the slice-seeds both completed (> 1: this method is cheaper at covering them).",
        f"Published rows: {NINE_CONSTRAINTS_SOURCE}: MO-HDNAS {published_mo[3]} GPU-hours in one search against "
        f"HW-EvRSNAS {published_hw[3]} GPU-hours in nine ({published_hw[3] / published_mo[3]:.1f} times as much); "
        f"cold seconds = GPU-hours × 3600. A {CROSS_HARDWARE}: GPU searches on CIFAR-100 FPGA constraints, not this "
        "machine or these settings.",
    ]
    return out


def fronts_table(df: pd.DataFrame, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> pd.DataFrame:
    """Per multi-threshold method, over its runs (settings and seeds): hypervolume ratio and IGD to the exact front,
    mean with a percentile-bootstrap interval, and the mean hypervolume, front size and unique evaluations.

    Empty (no rows) without multi-threshold runs; runs without a front quality (FBNet) are left out.
    """
    runs = runs_of(df[df["multi_threshold"]])
    runs = runs[runs["hypervolume_ratio"].notna()]
    rows = []
    for label, part in runs.groupby("label", sort=True):
        row: dict[str, Any] = {"method": label, "n_runs": len(part),
                               "n_settings": len(part.drop_duplicates(["space", "dataset", "cost_dataset", "device",
                                                                       "metric"]))}  # fmt: skip
        for metric in ("hypervolume_ratio", "igd"):
            values = part[metric].to_numpy(float)
            values = values[~np.isnan(values)]
            row[f"{metric}_mean"] = float(values.mean()) if values.size else math.nan
            row[f"{metric}_lo"], row[f"{metric}_hi"] = bootstrap_ci(values, n_boot, seed, level)
        for metric in ("hypervolume", "front_size", "unique_evaluations"):
            row[f"{metric}_mean"] = float(part[metric].astype(float).mean())
        rows.append(row)
    columns = ["method", "n_runs", "n_settings", "hypervolume_ratio_mean", "hypervolume_ratio_lo",
               "hypervolume_ratio_hi", "igd_mean", "igd_lo", "igd_hi", "hypervolume_mean", "front_size_mean",
               "unique_evaluations_mean"]  # fmt: skip
    out = pd.DataFrame(rows, columns=columns)
    out.attrs["notes"] = [
        "Per multi-threshold method, over its runs (every setting and seed): the front of the architectures a run "
        "evaluated, measured with their true 200-epoch test accuracies, against the exact Pareto front of (test "
        "error, cost) over every NB201 architecture with a cost (analysis/fronts.py; docs/MULTIOBJECTIVE.md).",
        "hypervolume: on error / 100 and cost / the largest cost of the column, reference point (1, 1); ratio: the "
        "run's over the exact front's (1 = the whole front found). IGD: mean distance from each exact-front point to "
        f"the nearest point of the run's front (0 = the whole front). [lo, hi]: percentile-bootstrap {level:.0%} "
        f"interval of the mean over runs ({n_boot} resamples, seed {seed}). front size: architectures on the run's "
        "front.",
    ]
    return out


ANYTIME_FLOATFMT = {"*": ".3g", "feasible_rate": ".0%", "regret_mean": ".2f", "regret_lo": ".2f", "regret_hi": ".2f",
                    "regret_penalised_mean": ".2f", "regret_penalised_lo": ".2f", "regret_penalised_hi": ".2f"}  # fmt: skip
REACH_TARGETS = (2.0, 1.0, 0.5)


def anytime_table(df: pd.DataFrame, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Per method and budget, over every setting and seed: the unit and its counts, feasibility, regret (feasible
    answers) and penalised regret with cluster-bootstrap 95 % intervals, the proxy seconds spent, and whether every
    run of the method had a trajectory (`trajectory`; False: the final answers, repeated at every budget)."""
    rows = []
    df = df[df["status"] != "not_applicable"]
    for (label, budget), part in df.groupby(["label", "budget"], sort=True):
        row: dict[str, Any] = {"method": label, "budget": int(budget), **unit_counts(part), "n_answers": len(part)}
        row["feasible_rate"] = float(part["feasible"].map(lambda v: v is True).mean())
        for metric in ("regret", "regret_penalised"):
            values = part[metric].to_numpy(dtype=float)
            values = values[~np.isnan(values)]
            row[f"{metric}_mean"] = float(values.mean()) if values.size else math.nan
            row[f"{metric}_lo"], row[f"{metric}_hi"] = cluster_bootstrap_ci(part, metric, n_boot, seed)
        row["seconds_mean"] = float(part["seconds"].astype(float).mean())
        row["trajectory"] = bool(part["trajectory"].all()) if "trajectory" in part else True
        rows.append(row)
    out = pd.DataFrame(rows)
    out.attrs["notes"] = [
        "Unit: the setting (space, dataset, cost dataset, device, metric, threshold); n: settings the method "
        "answered, in n_slices slices (a setting without its threshold); n_answers: their answers (settings × "
        "seeds). Means are over the answers.",
        "One row per method and budget (unique evaluations), over every setting and seed: the answer each run had "
        "after that many unique evaluations (its anytime trajectory; a run that stopped earlier keeps its answer). "
        "Runs without a trajectory (the oracle; multi-threshold runs, whose records hold none) count with their "
        "final answer at every budget, whatever they spent.",
        "regret: over feasible answers only; penalised: an infeasible answer counted at the worst feasible "
        "architecture's regret; [lo, hi]: cluster-bootstrap 95 % interval of the mean over answers ("
        f"{n_boot} resamples, seed {seed}): the n_slices slices resampled with replacement, then the thresholds "
        "within each drawn slice, every seed of a drawn setting kept, so the seeds and nested thresholds of one "
        "slice do not count as independent; seconds: summed proxy seconds of the evaluations so far (cost as if run "
        "alone).",
    ]
    return out


def reach_table(anytime: pd.DataFrame, targets: Sequence[float] = REACH_TARGETS) -> pd.DataFrame:
    """Per method and target: the smallest budget whose mean penalised regret is at most the target, and its seconds."""
    rows = []
    for label, part in anytime.groupby("method", sort=True):
        part = part.sort_values("budget")
        for target in targets:
            reached = part[part["regret_penalised_mean"] <= target]
            first = reached.iloc[0] if len(reached) else None
            rows.append({"method": label, "target_regret": target,
                         "budget": None if first is None else int(first["budget"]),
                         "seconds_mean": None if first is None else float(first["seconds_mean"])})  # fmt: skip
    out = pd.DataFrame(rows)
    out.attrs["notes"] = [
        "budget: the fewest unique evaluations (among the budgets reported) at which the method's mean penalised "
        "regret is at most the target; '-': not reached. seconds: the mean proxy seconds spent to get there.",
    ]
    return out


COUNT_COLUMNS = re.compile(r"^(n|n_.*|.*_runs|searches|thresholds|budget|seed|index|optimum_index|n pairs)$")


def is_count(column: Any) -> bool:
    """Whether a column holds counts (written as integers in Markdown): `n`, `n_*`, `*_runs`, `budget`, ..."""
    return bool(COUNT_COLUMNS.match(str(column)))


def _format(value: Any, fmt: str, count: bool = False) -> str:
    if value is None or value is pd.NA or value is pd.NaT:
        return "-"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isnan(value):
            return "-"
        if count and value.is_integer():
            return str(int(value))
        text = format(value, fmt)
        if "e+" in text and math.isfinite(value):  # no exponent for large numbers: 27871, not 2.79e+04
            text = format(value, ".0f")
        return text
    return str(value).replace("|", "\\|")


def markdown(
    df: pd.DataFrame, floatfmt: str | Mapping[str, str] = ".4g", counts: Sequence[str] | None = None
) -> str:
    """A GitHub pipe table of `df`: floats with `floatfmt` (one format, or per column with "*" the default), missing
    values '-', counts (`counts`, default: the columns `is_count` names) as integers, no exponent above 1e4."""
    if isinstance(floatfmt, Mapping):
        formats = {c: floatfmt.get(c, floatfmt.get("*", ".4g")) for c in df.columns}
    else:
        formats = dict.fromkeys(df.columns, floatfmt)
    count_columns = set(counts) if counts is not None else {c for c in df.columns if is_count(c)}
    numeric = [pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c]) for c in df.columns]
    lines = [
        "| " + " | ".join(str(c) for c in df.columns) + " |",
        "|" + "|".join("---:" if n else "---" for n in numeric) + "|",
    ]
    for row in df.itertuples(index=False):
        cells = (_format(v, formats[c], c in count_columns) for v, c in zip(row, df.columns))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_sections(
    df: pd.DataFrame,
    out_stem: Path | str,
    sections: Sequence[tuple[str, pd.DataFrame, Sequence[str]]],
    floatfmt: str | Mapping[str, str] = ".4g",
    title: str | None = None,
) -> list[Path]:
    """Write `<stem>.csv` (df, full precision) and `<stem>.md` with one `## heading`, table and notes per section."""
    stem = Path(out_stem)
    csv_path, md_path = stem.with_name(stem.name + ".csv"), stem.with_name(stem.name + ".md")
    write_text(csv_path, df.to_csv(index=False, lineterminator="\n"))
    parts = [f"# {title}\n"] if title else []
    for heading, shown, notes in sections:
        text = f"## {heading}\n\n" + markdown(shown, floatfmt)
        if notes:
            text += "\n" + "\n".join(f"- {note}" for note in notes) + "\n"
        parts.append(text)
    write_text(md_path, "\n".join(parts))
    return [csv_path, md_path]


def write_table(
    df: pd.DataFrame,
    out_stem: Path | str,
    floatfmt: str | Mapping[str, str] = ".4g",
    display: pd.DataFrame | None = None,
    notes: Sequence[str] | None = None,
    title: str | None = None,
) -> list[Path]:
    """Write `<stem>.csv` (df, full precision) and `<stem>.md` (display or df, notes below), atomically."""
    stem = Path(out_stem)
    csv_path, md_path = stem.with_name(stem.name + ".csv"), stem.with_name(stem.name + ".md")
    write_text(csv_path, df.to_csv(index=False, lineterminator="\n"))
    shown = df if display is None else display
    notes = list(notes if notes is not None else shown.attrs.get("notes") or df.attrs.get("notes") or [])
    text = (f"# {title}\n\n" if title else "") + markdown(shown, floatfmt)
    if notes:
        text += "\n" + "\n".join(f"- {note}" for note in notes) + "\n"
    write_text(md_path, text)
    return [csv_path, md_path]


def read_markdown_table(path: Path | str) -> pd.DataFrame:
    """The first pipe table of a Markdown file (as `markdown` writes it) as a DataFrame ('-' cells missing)."""
    lines = [line for line in Path(path).read_text().splitlines() if line.startswith("|")]
    rows = [lines[0]] + [line for line in lines[2:]]
    text = "\n".join(line.strip().strip("|") for line in rows)
    frame = pd.read_csv(io.StringIO(text), sep="|", skipinitialspace=True, na_values=["-"])
    frame.columns = [c.strip() for c in frame.columns]
    return frame.apply(lambda column: column.str.strip() if pd.api.types.is_string_dtype(column) else column)


__all__ = [
    "CROSS_HARDWARE", "DEFAULT_ENERGY", "PUBLISHED_SECONDS", "anytime_table", "cost_sections",
    "cost_table", "device_table", "fronts_table", "is_count", "main_display", "main_table", "markdown",
    "nine_constraints_table", "reach_table", "read_markdown_table", "runs_of", "write_sections", "write_table",
]  # fmt: skip

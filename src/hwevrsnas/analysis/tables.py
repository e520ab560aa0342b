"""The result tables: per-setting method summary, search cost (energy, CO2, published costs), Markdown.

Every table is a DataFrame written as `<stem>.csv` (full precision) and `<stem>.md` (rounded, with
the table's notes below it) by `write_table`, atomically. Notes travel in `df.attrs["notes"]`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from hwevrsnas.analysis import DEFAULT_ENERGY
from hwevrsnas.analysis.collect import SETTING_KEYS
from hwevrsnas.analysis.statistics import bootstrap_ci
from hwevrsnas.atomic import write_text
from hwevrsnas.search.methods import METHODS

CROSS_HARDWARE = "cross-hardware comparison (different machines)"
# METHOD.md section 5: published search seconds (RMI-NAS and the NB201 baselines on one GPU;
# HW-EvRSNAS as quoted by MO-HDNAS: 20.9 GPU-hours for nine constraints, about 2.3 GPU-hours each).
PUBLISHED_SECONDS = {
    "RMI-NAS": 1258.0,
    "REINFORCE": 27871.0,
    "HW-EvRSNAS": 8280.0,
}
PUBLISHED_NOTES = {
    "RMI-NAS": "RMI-NAS, NB201 unconstrained, random-forest sampler, one GPU",
    "REINFORCE": "REINFORCE on NB201 (NB201 paper's baseline)",
    "HW-EvRSNAS": "HW-EvRSNAS as quoted by MO-HDNAS: about 2.3 GPU-hours (8,280 s) per constraint",
}
MAIN_FLOATFMT = {"threshold": ".4g", "quantile": "g", "optimum": ".2f", "unique evals": ".1f"}
COST_FLOATFMT = {"*": ".5g", "energy_kwh": ".3g", "co2_g": ".3g", "energy_kwh_total": ".3g", "co2_g_total": ".3g"}
DEVICE_FLOATFMT = {
    "*": ".3g", "feasible_rate": ".0%", "regret_mean": ".2f", "regret_worst": ".2f", "regret_penalised_mean": ".2f",
}  # fmt: skip
MAIN_METRICS = ("test_accuracy", "regret", "regret_penalised", "cost", "phi", "phi_gap")
MAIN_SETTING = (*SETTING_KEYS, "threshold_source", "quantile")


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
        "n = seeds; mean ± sample std (ddof 1) [percentile-bootstrap "
        f"{level:.0%} interval of the mean, {n_boot} resamples, seed {seed}].",
        "test accuracy: 200-epoch NB201 test accuracy (%) of the returned architecture; regret: the exact "
        "feasible optimum's accuracy minus it (points), over feasible answers only (penalised: an infeasible "
        "answer counted at the worst feasible architecture's regret); cost: the returned architecture's tabular cost "
        "(latency ms, energy mJ); feasible: share of seeds whose answer meets the threshold.",
        "method: the method, with :preset for proxy methods and @<ga-config hash> for GA-config ablations.",
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


def benchmark_summary(df: pd.DataFrame, benchmarks: pd.DataFrame | None) -> pd.DataFrame:
    """Per label: matched benchmark files, summed seconds and CPU seconds, max RSS (MB); empty without benchmarks."""
    columns = ["method", "benchmark_runs", "benchmark_s_total", "benchmark_cpu_s_total", "benchmark_max_rss_mb"]
    if benchmarks is None or benchmarks.empty:
        return pd.DataFrame(columns=columns)
    merged = df[["path", "label"]].merge(benchmarks, on="path", how="inner")
    grouped = merged.groupby("label", sort=True)
    out = pd.DataFrame(
        {
            "benchmark_runs": grouped.size(),
            "benchmark_s_total": grouped["s"].sum(),
            "benchmark_cpu_s_total": grouped["cpu_time"].sum(min_count=1),
            "benchmark_max_rss_mb": grouped["max_rss"].max(),
        }
    )
    return out.rename_axis("method").reset_index()[columns]


def device_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per (space, dataset, device, metric) and method, over thresholds and seeds: feasibility, regret, cost of a search."""
    keys = ["space", "dataset", "cost_dataset", "device", "metric"]
    df = df[df["status"] != "not_applicable"]
    rows = []
    for (*where, label), part in df.groupby([*keys, "label"], sort=True, dropna=False):
        regret = part["regret"].astype(float)  # NaN for infeasible answers: left out of mean and worst
        rows.append(
            {**dict(zip(keys, where)), "method": label, "n_runs": len(part),
             "feasible_rate": float(part["feasible"].fillna(False).astype(bool).mean()),
             "regret_mean": float(regret.mean()), "regret_worst": float(regret.max()),
             "regret_penalised_mean": float(part["regret_penalised"].astype(float).mean()),
             "unique_evaluations_mean": float(part["unique_evaluations"].mean()),
             "wall_seconds_mean": float(part["wall_seconds"].mean()),
             "cold_seconds_mean": float(part["cold_seconds"].mean())}
        )  # fmt: skip
    out = pd.DataFrame(rows)
    out.attrs["notes"] = [
        "Over every threshold and seed of the slice. regret: the feasible optimum's test accuracy minus the "
        "returned architecture's, in points, over the feasible answers only (an infeasible answer has no regret; "
        "NaN where no optimum is known, e.g. FBNet); regret_penalised: the same over all answers, an infeasible "
        "one counted at the regret of the worst feasible architecture; feasible_rate: share of searches whose "
        "answer meets the threshold; cold seconds: the search's wall time with an empty score cache (see the cost "
        "table).",
    ]
    return out


def cost_table(
    df: pd.DataFrame, energy: Mapping[str, float] | None = None, benchmarks: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Per method: mean unique evaluations and seconds per search, energy (kWh) and CO2 (g), published-cost ratios."""
    power = _energy(energy)
    rows = []
    df = df[df["status"] != "not_applicable"]
    for label, part in df.groupby("label", sort=True):
        row: dict[str, Any] = {"method": label, "source": "measured (this machine)", "n_runs": len(part)}
        for column in ("unique_evaluations", "wall_seconds", "cpu_seconds", "proxy_seconds", "cold_seconds"):
            row[f"{column}_mean"] = float(part[column].mean())
        seconds = row["cold_seconds_mean"]
        row["energy_kwh"] = seconds * power["power_watts"] / 3.6e6
        row["co2_g"] = row["energy_kwh"] * power["grid_gco2_per_kwh"]
        row["cold_seconds_total"] = float(part["cold_seconds"].sum())
        row["energy_kwh_total"] = row["cold_seconds_total"] * power["power_watts"] / 3.6e6
        row["co2_g_total"] = row["energy_kwh_total"] * power["grid_gco2_per_kwh"]
        table_method = not any(METHODS[m].uses_proxy for m in part["method"].unique() if m in METHODS)
        for name, published in PUBLISHED_SECONDS.items():
            row[_ratio_column(name)] = math.nan if table_method or not seconds > 0 else published / seconds
        rows.append(row)
    for name, published in PUBLISHED_SECONDS.items():
        rows.append(
            {"method": f"{name} (published)", "source": f"METHOD.md section 5; {CROSS_HARDWARE}",
             "wall_seconds_mean": published, "cold_seconds_mean": published}
        )  # fmt: skip
    out = pd.DataFrame(rows)
    bench = benchmark_summary(df, benchmarks)
    if not bench.empty:
        out = out.merge(bench, on="method", how="left")
    measured = out["source"].str.startswith("measured")
    out["power_watts"] = np.where(measured, power["power_watts"], np.nan)
    out["grid_gco2_per_kwh"] = np.where(measured, power["grid_gco2_per_kwh"], np.nan)
    ratio_names = ", ".join(f"`{_ratio_column(n)}`" for n in PUBLISHED_SECONDS)
    out.attrs["notes"] = [
        "Per search (one constraint, one seed), means over the runs of each method. unique evaluations: "
        "distinct proxy (or table) evaluations; wall/CPU seconds: measured by the run; proxy seconds: compute "
        "time of its unique proxy scores (also when read from the score cache); cold seconds = wall seconds + "
        "proxy seconds of the scores served from the cache, the search's wall time with an empty cache.",
        f"energy kWh = cold seconds × {power['power_watts']:g} W / 3.6e6, where {power['power_watts']:g} W is "
        "the assumed average power draw of the machine running the search (not measured); CO2 g = kWh × "
        f"{power['grid_gco2_per_kwh']:g} gCO2/kWh (default 475: IEA 2019 world-average grid carbon intensity).",
        f"{ratio_names}: published search seconds divided by this method's mean cold seconds "
        f"(> 1: faster than published). This is a {CROSS_HARDWARE}: the published numbers are GPU searches on "
        "other hardware, "
        + "; ".join(f"{n} {PUBLISHED_SECONDS[n]:,.0f} s ({PUBLISHED_NOTES[n]})" for n in PUBLISHED_SECONDS) + ".",
        f"Table methods ({', '.join(m for m, spec in METHODS.items() if not spec.uses_proxy)}) only look costs "
        "and accuracies up in the NB201 table: "
        "no ratio is given for them.",
    ]  # fmt: skip
    if not bench.empty:
        out.attrs["notes"].append(
            "benchmark_*: Snakemake benchmark files matched to runs (benchmarks/search/<run file's relative "
            "path, .tsv>): summed `s` and `cpu_time` seconds over the matched runs, max `max_rss` (MB)."
        )
    return out


def _format(value: Any, fmt: str) -> str:
    if value is None:
        return "-"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return "-" if math.isnan(value) else format(float(value), fmt)
    return str(value).replace("|", "\\|")


def markdown(df: pd.DataFrame, floatfmt: str | Mapping[str, str] = ".4g") -> str:
    """A GitHub pipe table of `df`: floats with `floatfmt` (one format, or per column with "*" the default), NaN '-'."""
    if isinstance(floatfmt, Mapping):
        formats = {c: floatfmt.get(c, floatfmt.get("*", ".4g")) for c in df.columns}
    else:
        formats = dict.fromkeys(df.columns, floatfmt)
    numeric = [pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c]) for c in df.columns]
    lines = [
        "| " + " | ".join(str(c) for c in df.columns) + " |",
        "|" + "|".join("---:" if n else "---" for n in numeric) + "|",
    ]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(_format(v, formats[c]) for v, c in zip(row, df.columns)) + " |")
    return "\n".join(lines) + "\n"


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


__all__ = [
    "CROSS_HARDWARE", "DEFAULT_ENERGY", "PUBLISHED_SECONDS", "benchmark_summary", "cost_table", "main_display",
    "main_table", "markdown", "write_table",
]  # fmt: skip

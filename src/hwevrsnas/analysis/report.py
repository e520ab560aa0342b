"""`hwevrsnas aggregate`: run files -> result tables (CSV + Markdown) and figures (PNG + PDF).

Written (and returned) by `aggregate`:
- `<out>/main.{csv,md}`: per (setting, method): seeds, test accuracy, regret, cost, feasibility;
- `<out>/cost.{csv,md}`: per method: evaluations, seconds, energy, CO2, published-cost ratios;
- `<out>/comparisons.{csv,md}`: paired Wilcoxon tests of regret between every two methods, Holm-corrected;
- `<out>/fidelity.{csv,md}`: the proxy fidelity study's summary, only when the study folder has
  `summary.csv` (copied) or `scores.csv` (summarised as `hwevrsnas study summarise` does);
- `<plots>/device_<space>_<dataset>_<device>_<metric>.{png,pdf}` for each NB201 setting
  (suffix `_cost-<cost dataset>` when its costs come from another dataset);
- `<plots>/history.{png,pdf}`; `<plots>/fidelity.{png,pdf}` when the study has `scores.csv`.

Snakemake benchmark files (TSV with columns s, max_rss, cpu_time, ...) are matched to runs by
path: a run file `<anything>/<rel>.json` matches the benchmark `<benchmarks>/search/<rel>.tsv`
(or `<benchmarks>/<rel>.tsv` when `<benchmarks>` has no `search/` folder), the longest such
`<rel>` winning; e.g. `results/runs/nb201/fpga/seed0.json` matches
`benchmarks/search/results/runs/nb201/fpga/seed0.tsv` or `benchmarks/search/nb201/fpga/seed0.tsv`.
A benchmark file matching several runs is ambiguous and ignored, with a warning.
Outputs depend only on the inputs (not on the order of the run files): the same files and
arguments give byte-identical tables and figures.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

from hwevrsnas.analysis import FIDELITY_PLOT, HISTORY_PLOT, device_plot_stem
from hwevrsnas.analysis.collect import collect_records, find_run_files
from hwevrsnas.analysis.statistics import ZERO_METHOD, paired_comparisons
from hwevrsnas.analysis.tables import (
    COST_FLOATFMT, DEFAULT_ENERGY, DEVICE_FLOATFMT, MAIN_FLOATFMT, cost_table, device_table, main_display, main_table,
    markdown, write_table,
)  # fmt: skip
from hwevrsnas.atomic import write_text

log = logging.getLogger(__name__)

COMPARISON_FLOATFMT = {"*": ".4g", **dict.fromkeys(("mean_a", "mean_b", "mean_diff", "diff_lo", "diff_hi"), ".3f")}


def read_benchmarks(benchmarks_dir: Path | str, run_paths: Sequence[str]) -> pd.DataFrame:
    """Per matched run path: summed `s` and `cpu_time` seconds and max `max_rss` of its Snakemake benchmark TSV."""
    root = Path(benchmarks_dir)
    root = root / "search" if (root / "search").is_dir() else root
    columns = ["path", "benchmark_file", "s", "cpu_time", "max_rss"]
    if not root.is_dir():
        return pd.DataFrame(columns=columns)
    available = {p.relative_to(root).with_suffix("").as_posix(): p for p in sorted(root.rglob("*.tsv"))}
    matches: dict[Path, list[str]] = {}
    for run_path in run_paths:
        parts = Path(run_path).with_suffix("").parts
        for k in range(len(parts)):
            candidate = "/".join(parts[k:])
            if candidate in available:
                matches.setdefault(available[candidate], []).append(run_path)
                break
    rows = []
    for tsv, runs in sorted(matches.items()):
        if len(runs) > 1:
            log.warning("benchmark file %s matches %d runs (%s); ignored", tsv, len(runs), ", ".join(runs))
            continue
        try:
            table = pd.read_csv(tsv, sep="\t")
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
            raise ValueError(f"malformed benchmark file {tsv}: {err}") from err
        if "s" not in table.columns:
            raise ValueError(f"malformed benchmark file {tsv}: no 's' column (columns: {', '.join(table.columns)})")
        number = {c: pd.to_numeric(table[c], errors="coerce") if c in table else pd.Series(dtype=float)
                  for c in ("s", "cpu_time", "max_rss")}  # fmt: skip
        rows.append(
            {"path": runs[0], "benchmark_file": str(tsv), "s": float(number["s"].sum()),
             "cpu_time": float(number["cpu_time"].sum(min_count=1)), "max_rss": float(number["max_rss"].max())}
        )  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def _fidelity(study_dir: Path, out_dir: Path, plots_dir: Path) -> list[Path]:
    from hwevrsnas.analysis.plots import plot_fidelity
    from hwevrsnas.proxy import study

    written: list[Path] = []
    scores_path, summary_path = study_dir / "scores.csv", study_dir / "summary.csv"
    if summary_path.is_file():
        summary = pd.read_csv(summary_path)
    elif scores_path.is_file():
        scores = pd.read_csv(scores_path)
        seconds_path = study_dir / "seconds.csv"
        seconds = pd.read_csv(seconds_path) if seconds_path.is_file() else pd.DataFrame(index=scores.index)
        summary, scores = study.summarise_scores(scores, seconds, seed=0)
    else:
        log.info("no summary.csv or scores.csv in %s: fidelity table skipped", study_dir)
        return written
    try:
        table_md = study.markdown_table(summary)
    except KeyError:  # a summary of another shape: a plain table
        table_md = markdown(summary)
    text = "# Proxy fidelity\n\n" + table_md + (
        f"\n- From `{study_dir.as_posix()}`: rank correlation of each proxy with 200-epoch CIFAR-10 accuracy "
        "[percentile-bootstrap 95% interval]; top half: the better half of the sample by true accuracy.\n"
    )
    csv_path, md_path = out_dir / "fidelity.csv", out_dir / "fidelity.md"
    write_text(csv_path, summary.to_csv(index=False, lineterminator="\n"))
    write_text(md_path, text)
    written += [csv_path, md_path]
    if scores_path.is_file():
        written += plot_fidelity(scores_path, plots_dir / FIDELITY_PLOT)
    return written


def _device_plots(df: pd.DataFrame, tables_dir: Path, plots_dir: Path) -> list[Path]:
    from hwevrsnas.analysis.plots import plot_device

    nb201 = df[df["space"] == "nb201"]
    if nb201.empty:
        return []
    from hwevrsnas.tables.store import NB201Table

    table = NB201Table.open(tables_dir / "nb201.h5")
    written: list[Path] = []
    for (space, dataset, cost_dataset, device, metric), part in nb201.groupby(
        ["space", "dataset", "cost_dataset", "device", "metric"], sort=True
    ):
        name = device_plot_stem(space, dataset, device, metric, cost_dataset)
        thresholds = sorted(part["threshold"].unique())
        stem = plots_dir / name
        written += plot_device(table, dataset, device, metric, thresholds, part, stem, cost_dataset=cost_dataset)
    return written


def aggregate(
    run_files: Sequence[Path | str],
    tables_dir: Path | str,
    out_dir: Path | str,
    plots_dir: Path | str,
    energy: Mapping[str, float] | None = None,
    study_dir: Path | str | None = None,
    benchmarks_dir: Path | str | None = None,
) -> list[Path]:
    """Write the tables (main, cost, comparisons, fidelity) and figures of a set of run files; return their paths."""
    from hwevrsnas.analysis.plots import plot_history

    out_dir, plots_dir, tables_dir = Path(out_dir), Path(plots_dir), Path(tables_dir)
    df, records = collect_records(run_files)
    written: list[Path] = []

    main = main_table(df)
    title = "Results per setting and method"
    written += write_table(main, out_dir / "main", MAIN_FLOATFMT, display=main_display(main), title=title)

    devices = device_table(df)
    written += write_table(devices, out_dir / "devices", DEVICE_FLOATFMT, title="Results per device and method")

    benchmarks = read_benchmarks(benchmarks_dir, list(df["path"])) if benchmarks_dir is not None else None
    cost = cost_table(df, energy, benchmarks)
    written += write_table(cost, out_dir / "cost", COST_FLOATFMT, title="Search cost")

    comparisons = paired_comparisons(df, "regret")
    comparisons.attrs["notes"] = [
        "Pairs: the two methods' runs of the same (space, dataset, cost dataset, device, metric, threshold, seed), "
        "pooled over every setting both methods ran; diff = method_a - method_b (regret: negative = a better), "
        "[percentile-bootstrap 95% interval of the mean difference, 2000 resamples, seed 0].",
        f"p_value: two-sided Wilcoxon signed-rank test, zero_method={ZERO_METHOD!r} (ties kept, their ranks split "
        "between both signs: conservative when methods return equally good architectures); all-zero "
        "differences give p = 1. p_holm: Holm step-down correction over all comparisons of this table.",
    ]
    title = "Paired comparisons (regret)"
    written += write_table(comparisons, out_dir / "comparisons", COMPARISON_FLOATFMT, title=title)

    if study_dir is not None and Path(study_dir).is_dir():
        written += _fidelity(Path(study_dir), out_dir, plots_dir)

    written += _device_plots(df, tables_dir, plots_dir)
    written += plot_history(records, plots_dir / HISTORY_PLOT, labels=list(df["label"]))
    return written


__all__ = ["aggregate", "read_benchmarks"]

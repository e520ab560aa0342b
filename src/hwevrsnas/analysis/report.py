"""`hwevrsnas aggregate`: run files -> result tables (CSV + Markdown) and figures (PNG + PDF).

Written (and returned) by `aggregate`:
- `<out>/main.{csv,md}`: per (setting, method): seeds, test accuracy, regret, cost, feasibility;
- `<out>/devices.{csv,md}`: per (space, dataset, device, metric) and method: feasibility, regret, cost;
- `<out>/cost.{csv,md}`: per method: evaluations, seconds, energy, CO2, published-cost ratios (the CSV is one
  table; the Markdown has three sections: evaluations and seconds, energy and CO2, ratios to published costs);
- `<out>/comparisons.{csv,md}`: paired Wilcoxon tests of regret between every two methods over settings (seeds
  averaged first), cluster-bootstrap intervals, Holm-corrected;
- `<out>/replicates.{csv,md}`: the same comparisons within each proxy replicate, and on how many replicates each
  holds, at the methods' own stops (and at each budget, among the methods with a trajectory, with `budgets`);
- `<out>/fidelity.{csv,md}`: the proxy fidelity study's summary, only when the study folder has
  `summary.csv` (copied) or `scores.csv` (summarised as `hwevrsnas fidelity sample summarise` does);
- only when multi-threshold runs are among the run files: `<out>/nine_constraints.{csv,md}` (per method: the
  searches, evaluations and cold seconds to answer every threshold of a slice, mean regret, feasibility, beside
  the published MO-HDNAS vs HW-EvRSNAS GPU-hours) and `<out>/fronts.{csv,md}` (per multi-threshold method:
  hypervolume ratio and IGD to the exact front);
- `<plots>/device_<space>_<dataset>_<device>_<metric>.{png,pdf}` for each NB201 setting
  (suffix `_cost-<cost dataset>` when its costs come from another dataset; `analysis.device_plot_stem`);
- `<plots>/front_<space>_<dataset>_<device>_<metric>.{png,pdf}` for each NB201 setting with multi-threshold runs
  (same suffix; `analysis.front_plot_stem`): the exact front, each multi method's found front, the thresholds;
- `<plots>/history.{png,pdf}` (regret vs unique evaluations per device); `<plots>/fidelity.{png,pdf}` when the
  study has `scores.csv`;
- with `budgets`: `<out>/anytime.{csv,md}` (regret at each budget, per method), `<out>/reach.{csv,md}` (the
  budget and seconds to reach a regret) and `<plots>/anytime.{png,pdf}`.

Outputs depend only on the inputs (not on the order of the run files): the same files and
arguments give byte-identical tables and figures.
"""

from __future__ import annotations

import concurrent.futures
import logging
import multiprocessing
import sys
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import pandas as pd

from hwevrsnas.analysis import (
    ANYTIME_PLOT, ANYTIME_TABLE, FIDELITY_PLOT, FRONTS_TABLE, HISTORY_PLOT, NINE_CONSTRAINTS_TABLE, REACH_TABLE,
    REPLICATES_TABLE,
    device_plot_stem, front_plot_stem,
)  # fmt: skip
from hwevrsnas.analysis.collect import at_budgets, collect_records
from hwevrsnas.analysis.statistics import paired_comparisons, replicate_verdicts
from hwevrsnas.analysis.result_tables import (
    ANYTIME_FLOATFMT, COST_FLOATFMT, DEVICE_FLOATFMT, FRONTS_FLOATFMT, MAIN_FLOATFMT, NINE_FLOATFMT,
    anytime_table, cost_sections, cost_table, device_table, fronts_table, main_display, main_table, markdown,
    nine_constraints_table, reach_table, write_sections, write_table,
)  # fmt: skip
from hwevrsnas.atomic import write_text

log = logging.getLogger(__name__)

# The tables written only when multi-threshold runs are present (the workflow declares the same names).
SLICE_KEYS = ["space", "dataset", "cost_dataset", "device", "metric"]
COMPARISON_FLOATFMT = {
    "*": ".4g", **dict.fromkeys(("mean_a", "mean_b", "mean_diff", "diff_lo", "diff_hi", "diff_min", "diff_max"), ".3f"),
}


def _fidelity(study_dir: Path, out_dir: Path, plots_dir: Path) -> list[Path]:
    from hwevrsnas.analysis.plots import plot_fidelity
    from hwevrsnas.analysis.fidelity import sample as study

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


def _device_plots(df: pd.DataFrame, table: Any, plots_dir: Path) -> list[Path]:
    from hwevrsnas.analysis.plots import plot_device, style_of

    styles = style_of(df["label"])  # one style per method across every figure
    nb201 = df[df["space"] == "nb201"]
    written: list[Path] = []
    for (space, dataset, cost_dataset, device, metric), part in nb201.groupby(SLICE_KEYS, sort=True):
        name = device_plot_stem(space, dataset, device, metric, cost_dataset)
        thresholds = sorted(part["threshold"].unique())
        stem = plots_dir / name
        written += plot_device(table, dataset, device, metric, thresholds, part, stem, cost_dataset=cost_dataset,
                               styles=styles)  # fmt: skip
    return written


def _front_plots(df: pd.DataFrame, records: Sequence[dict[str, Any]], table: Any, plots_dir: Path) -> list[Path]:
    """One front plot per NB201 slice with multi-threshold runs (`front_plot_stem`)."""
    from hwevrsnas.analysis.plots import plot_front, style_of, threshold_quantiles

    styles = style_of(df["label"])
    written: list[Path] = []
    nb201 = df[df["space"] == "nb201"]
    record_of = {path: record for path, record in zip(df["path"], records)}
    for (space, dataset, cost_dataset, device, metric), part in nb201.groupby(SLICE_KEYS, sort=True):
        multi = part[part["multi_threshold"]].drop_duplicates("run_id")
        if multi.empty:
            continue
        runs: dict[str, list[dict[str, Any]]] = {}
        for label, run_id in zip(multi["label"], multi["run_id"]):
            runs.setdefault(label, []).append(record_of[run_id])
        stem = plots_dir / front_plot_stem(space, dataset, device, metric, cost_dataset)
        thresholds = sorted(part["threshold"].unique())
        written += plot_front(table, dataset, device, metric, runs, stem, cost_dataset=cost_dataset,
                              thresholds=thresholds, quantiles=threshold_quantiles(part), styles=styles)  # fmt: skip
    return written


def _run_figures(df: pd.DataFrame, records: Sequence[dict[str, Any]], tables_dir: Path, plots_dir: Path) -> list[Path]:
    """The figures drawn from the runs themselves: per-slice device and front plots, the history plot."""
    from hwevrsnas.analysis.plots import plot_history

    written: list[Path] = []
    if (df["space"] == "nb201").any():
        from hwevrsnas.tables.store import NB201Table

        table = NB201Table.open(tables_dir / "nb201.h5")
        written += _device_plots(df, table, plots_dir)
        written += _front_plots(df, records, table, plots_dir)
    written += plot_history(records, plots_dir / HISTORY_PLOT, labels=list(df["label"]))
    return written


# The figure worker's inputs, set by its initializer: a forked process inherits them with its memory, where
# passing them with the task would pickle every record to the worker.
_FIGURE_INPUTS: tuple[Any, ...] = ()


def _keep_figure_inputs(*inputs: Any) -> None:
    global _FIGURE_INPUTS
    _FIGURE_INPUTS = inputs


def _forked_run_figures() -> list[Path]:
    return _run_figures(*_FIGURE_INPUTS)


def _start_run_figures(df: pd.DataFrame, records: Sequence[dict[str, Any]], tables_dir: Path, plots_dir: Path,
                       workers: int) -> Callable[[], list[Path]]:  # fmt: skip
    """Draw the run figures beside the tables in a forked process when `workers` > 1 on Linux (elsewhere forking a
    process that has loaded native libraries is not safe); call the result for their paths."""
    if workers < 2 or not sys.platform.startswith("linux"):
        return lambda: _run_figures(df, records, tables_dir, plots_dir)
    pool = concurrent.futures.ProcessPoolExecutor(
        1, mp_context=multiprocessing.get_context("fork"), initializer=_keep_figure_inputs,
        initargs=(df, records, tables_dir, plots_dir),
    )  # fmt: skip
    future = pool.submit(_forked_run_figures)
    pool.shutdown(wait=False)  # the submitted task still runs; the worker exits after it
    return future.result


def aggregate(
    run_files: Sequence[Path | str],
    tables_dir: Path | str,
    out_dir: Path | str,
    plots_dir: Path | str,
    energy: Mapping[str, float] | None = None,
    study_dir: Path | str | None = None,
    budgets: Sequence[int] = (),
    workers: int = 1,
) -> list[Path]:
    """Write the tables (main, cost, comparisons, fidelity; anytime and reach with `budgets`) and figures of a set of
    run files; return their paths. With `workers` > 1, the run figures are drawn in a second process meanwhile (the
    same bytes)."""
    from hwevrsnas.analysis.plots import plot_anytime

    out_dir, plots_dir, tables_dir = Path(out_dir), Path(plots_dir), Path(tables_dir)
    df, records = collect_records(run_files, nb201=tables_dir)  # the table only for infeasible multi answers
    run_figures = _start_run_figures(df, records, tables_dir, plots_dir, workers)
    written: list[Path] = []

    main = main_table(df)
    title = "Results per setting and method"
    written += write_table(main, out_dir / "main", MAIN_FLOATFMT, display=main_display(main), title=title)

    devices = device_table(df)
    written += write_table(devices, out_dir / "devices", DEVICE_FLOATFMT, title="Results per device and method")

    cost = cost_table(df, energy)
    written += write_sections(cost, out_dir / "cost", cost_sections(cost), COST_FLOATFMT, title="Search cost")

    if df["multi_threshold"].any():
        nine = nine_constraints_table(df)
        title = "Nine constraints: the cost of answering every threshold of a slice"
        written += write_table(nine, out_dir / NINE_CONSTRAINTS_TABLE, NINE_FLOATFMT, title=title)
        fronts = fronts_table(df)
        title = "Front quality of the multi-threshold methods"
        written += write_table(fronts, out_dir / FRONTS_TABLE, FRONTS_FLOATFMT, title=title)

    comparisons = paired_comparisons(df, "regret")
    title = "Paired comparisons (regret)"
    written += write_table(comparisons, out_dir / "comparisons", COMPARISON_FLOATFMT, title=title)

    at_budget = at_budgets(df, records, budgets) if budgets else None
    verdicts = [replicate_verdicts(df, "regret")]
    if at_budget is not None:
        with_trajectory = at_budget.groupby("label")["trajectory"].all()
        labels = list(with_trajectory[with_trajectory].index)
        for budget, part in at_budget.groupby("budget", sort=True):
            verdicts.append(replicate_verdicts(part, "regret", at=str(int(budget)), labels=labels))
    replicates = pd.concat(verdicts, ignore_index=True)
    replicates.attrs["notes"] = verdicts[0].attrs["notes"]
    title = "Comparisons within each proxy replicate (regret)"
    written += write_table(replicates, out_dir / REPLICATES_TABLE, COMPARISON_FLOATFMT, title=title)

    if study_dir is not None and Path(study_dir).is_dir():
        written += _fidelity(Path(study_dir), out_dir, plots_dir)

    if at_budget is not None:
        anytime = anytime_table(at_budget)
        display = anytime.drop(columns="trajectory")  # the notes name the methods without one
        written += write_table(anytime, out_dir / ANYTIME_TABLE, ANYTIME_FLOATFMT, display=display,
                               title="Regret vs search budget")  # fmt: skip
        reach = reach_table(anytime)
        written += write_table(reach, out_dir / REACH_TABLE, {"*": ".3g"}, title="Budget to reach a regret")
        written += plot_anytime(anytime, plots_dir / ANYTIME_PLOT)

    return written + run_figures()


__all__ = ["FRONTS_TABLE", "NINE_CONSTRAINTS_TABLE", "aggregate"]

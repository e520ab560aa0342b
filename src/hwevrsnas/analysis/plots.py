"""Figures: accuracy vs cost per device (feasible front, each method's picks), exact and found Pareto fronts of
multi-threshold runs, search histories (regret vs unique evaluations), anytime regret, proxy fidelity.

Every figure is written as `<stem>.png` and `<stem>.pdf`, atomically, through matplotlib's Agg
canvas (`matplotlib.figure.Figure`, no pyplot global state, no display needed). The files carry no
timestamp or software stamp (PNG metadata `Software` removed, PDF `CreationDate` removed), so the
same data and matplotlib version give byte-identical files.
"""

from __future__ import annotations

import io
import math
import textwrap
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from hwevrsnas.atomic import write_bytes

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p")
# The jump of the markers when the colours wrap round: "h" and "p" (the 11th and 12th) read as "o" and "s".
MARKER_JUMP = 5
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f")
STYLE = {"font.size": 8, "axes.titlesize": 8, "legend.fontsize": 7, "figure.dpi": 100, "savefig.dpi": 150}
SETTING_FIELDS = ("space", "dataset", "cost_dataset", "device", "metric", "threshold")


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def save_figure(fig: Any, out_stem: Path | str) -> list[Path]:
    """Write the figure as `<stem>.png` and `<stem>.pdf` without timestamps, atomically; return the paths."""
    import matplotlib

    stem = Path(out_stem)
    paths = []
    for fmt, metadata in (("png", {"Software": None}), ("pdf", {"CreationDate": None})):
        buffer = io.BytesIO()
        with matplotlib.rc_context({"svg.hashsalt": "hwevrsnas", **STYLE}):
            fig.savefig(buffer, format=fmt, metadata=metadata)
        path = stem.with_name(f"{stem.name}.{fmt}")
        write_bytes(path, buffer.getvalue())
        paths.append(path)
    return paths


def style_of(labels: Sequence[str]) -> dict[str, tuple[str, str]]:
    """(color, marker) of each label, assigned in sorted order so a label keeps its style across figures.

    Once the colours repeat, the markers jump ahead, so a repeated colour never comes with a look-alike marker."""
    ordered = sorted(set(labels))
    return {label: (COLORS[i % len(COLORS)], MARKERS[(i + MARKER_JUMP * (i // len(COLORS))) % len(MARKERS)])
            for i, label in enumerate(ordered)}  # fmt: skip


def pareto_front(cost: np.ndarray, accuracy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Upper-left frontier: the (cost, accuracy) points where the best accuracy at cost <= c rises (NaN dropped)."""
    cost, accuracy = np.asarray(cost, float), np.asarray(accuracy, float)
    keep = ~(np.isnan(cost) | np.isnan(accuracy))
    cost, accuracy = cost[keep], accuracy[keep]
    order = np.lexsort((-accuracy, cost))
    cost, accuracy = cost[order], accuracy[order]
    best = np.maximum.accumulate(accuracy)
    rises = np.r_[True, best[1:] > best[:-1]]
    return cost[rises], best[rises]


def _threshold_labels(thresholds: Sequence[float], quantiles: Mapping[float, float | None] | None) -> list[str]:
    """`T<k> q<quantile>` (or `T<k> <value>` without a quantile) for thresholds sorted by value, k from 1."""
    labels = []
    for k, threshold in enumerate(thresholds, start=1):
        quantile = (quantiles or {}).get(threshold)
        named = f"q{quantile:g}" if quantile is not None and not math.isnan(quantile) else f"{threshold:.4g}"
        labels.append(f"T{k} {named}")
    return labels


def _draw_thresholds(ax: Any, thresholds: Sequence[float], quantiles: Mapping[float, float | None] | None) -> None:
    """Dashed vertical lines at the thresholds, each labelled at the bottom with `T<k> q<quantile>`."""
    for i, (threshold, text) in enumerate(zip(thresholds, _threshold_labels(thresholds, quantiles))):
        ax.axvline(threshold, color="#555555", linestyle="--", linewidth=0.7, zorder=2,
                   label="threshold T<k> (quantile)" if i == 0 else None)  # fmt: skip
        ax.text(threshold, 0.01, text, transform=ax.get_xaxis_transform(), rotation=90, ha="right", va="bottom",
                fontsize=5.5, color="#333333", zorder=5,
                bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.8})  # fmt: skip


def threshold_quantiles(picks_df: pd.DataFrame) -> dict[float, float | None]:
    """threshold -> its quantile, from the rows of a collection (None where the threshold was given as a value)."""
    if not len(picks_df) or "quantile" not in picks_df:
        return {}
    pairs = picks_df[["threshold", "quantile"]].drop_duplicates("threshold")
    return {float(t): (None if pd.isna(q) else float(q)) for t, q in zip(pairs["threshold"], pairs["quantile"])}


def plot_device(
    table: Any,
    dataset: str,
    device: str,
    metric: str,
    thresholds: Sequence[float],
    picks_df: pd.DataFrame,
    out_stem: Path | str,
    cost_dataset: str | None = None,
    quantiles: Mapping[float, float | None] | None = None,
    styles: Mapping[str, tuple[str, str]] | None = None,
) -> list[Path]:
    """Accuracy vs cost of all NB201 archs, the feasible front, threshold lines and each method's picks (PNG + PDF).

    Thresholds are numbered T1, T2, ... by increasing cost and labelled with their quantile (`quantiles`, by
    default read from `picks_df`). Each method has its own colour and hollow marker, drawn at a size that shrinks
    from method to method, so picks of several methods on the same architecture show as concentric outlines;
    each distinct pick is annotated with the numbers of the thresholds it answered (e.g. "2,3"), in the method's
    colour, offset in a direction of its own. `styles` (label -> (colour, marker), default `style_of` the picks'
    labels) keeps a method's style the same across figures.
    """
    import matplotlib

    cost = np.asarray(table.cost_column(f"{device}_{metric}", cost_dataset or dataset), float)
    accuracy = np.asarray(table.accuracy(slice(None), dataset), float)
    unit = table.metric_attrs[cost_dataset or dataset][f"{device}_{metric}"].get("unit", "")
    present = ~np.isnan(cost)
    thresholds = sorted(set(float(t) for t in thresholds))
    quantiles = threshold_quantiles(picks_df) if quantiles is None else {float(k): v for k, v in quantiles.items()}
    number = {threshold: k for k, threshold in enumerate(thresholds, start=1)}
    with matplotlib.rc_context(STYLE):
        fig = _figure(6.4, 4.6)
        ax = fig.add_subplot()
        ax.scatter(cost[present], accuracy[present], s=1.5, c="#b0b0b0", linewidths=0, rasterized=True,
                   label=f"all {int(present.sum()):,} archs", zorder=1)  # fmt: skip
        front_cost, front_acc = pareto_front(cost, accuracy)
        x = np.r_[front_cost, np.nanmax(cost)]
        y = np.r_[front_acc, front_acc[-1]]
        ax.plot(x, y, drawstyle="steps-post", color="black", linewidth=1.0, label="feasible front", zorder=2)
        _draw_thresholds(ax, thresholds, quantiles)
        labels = sorted(set(picks_df["label"])) if len(picks_df) else []
        palette = style_of(labels) if styles is None else styles
        directions = len(labels) or 1
        for k, label in enumerate(labels):
            color, marker = palette[label]
            part = picks_df[(picks_df["label"] == label) & picks_df["cost"].notna() & picks_df["test_accuracy"].notna()]
            size = max(48.0 - 9.0 * k, 10.0)
            ax.scatter(part["cost"], part["test_accuracy"], s=size, marker=marker, facecolors="none", edgecolors=color,
                       linewidths=1.0, alpha=0.85, label=label, zorder=3 + k / 100)  # fmt: skip
            if len(thresholds) < 2:
                continue
            angle = 2 * math.pi * k / directions + math.pi / 4
            offset = (7 * math.cos(angle), 7 * math.sin(angle))
            picks = part.groupby(["index", "cost", "test_accuracy"], sort=True)["threshold"]
            for (_, pick_cost, pick_accuracy), answered in picks:
                text = ",".join(str(n) for n in sorted({number[float(t)] for t in answered if float(t) in number}))
                ax.annotate(text, (pick_cost, pick_accuracy), xytext=offset, textcoords="offset points", fontsize=4.5,
                            color=color, ha="center", va="center", zorder=4)  # fmt: skip
        low = float(np.percentile(accuracy[present], 5))
        ax.set_ylim(low, float(np.nanmax(accuracy)) + 0.8)
        ax.set_xlabel(f"{device} {metric} ({unit}, {cost_dataset or dataset} costs)")
        ax.set_ylabel(f"200-epoch test accuracy, {dataset} (%)")
        ax.set_title(f"NB201 {dataset}: {device} {metric}, each method's answers\n"
                     "(numbers: the thresholds T<k> a pick answers; y axis from the 5th percentile)")  # fmt: skip
        ax.grid(True, linewidth=0.3, alpha=0.5)
        ax.legend(loc="lower right", markerscale=1.0, frameon=True)
        return save_figure(fig, out_stem)


def representative_run(records: Sequence[Mapping[str, Any]]) -> tuple[Mapping[str, Any], int]:
    """The run whose hypervolume ratio is the (lower) median of the given runs' (ties: the lowest seed), and how many
    runs had a ratio; runs without one are skipped. ValueError when none has one."""
    rated = [r for r in records if r.get("hypervolume_ratio") is not None]
    if not rated:
        raise ValueError("no run with a hypervolume ratio")
    ordered = sorted(rated, key=lambda r: (float(r["hypervolume_ratio"]), int(r["setting"]["seed"])))
    return ordered[(len(ordered) - 1) // 2], len(ordered)


def plot_front(
    table: Any,
    dataset: str,
    device: str,
    metric: str,
    runs: Mapping[str, Sequence[Mapping[str, Any]]],
    out_stem: Path | str,
    cost_dataset: str | None = None,
    thresholds: Sequence[float] | None = None,
    quantiles: Mapping[float, float | None] | None = None,
    styles: Mapping[str, tuple[str, str]] | None = None,
) -> list[Path]:
    """One NB201 slice: all architectures, the exact Pareto front of (test accuracy, cost) (analysis.fronts), each
    multi-threshold method's found front and the thresholds labelled with their quantile (PNG + PDF).

    `runs` maps a method label to its multi-threshold run records on this slice (one per seed). A method's front is
    that of one run, not pooled over seeds: the run with the median hypervolume ratio (`representative_run`); the
    legend names its seed, its ratio and the number of seeds. Thresholds default to the union of the runs'.
    `styles` as in `plot_device`.
    """
    import matplotlib

    from hwevrsnas.analysis.fronts import exact_front
    from hwevrsnas.search.costs import CostModel

    model = CostModel.nb201(table, dataset, device, metric, cost_dataset)
    exact = exact_front(model)
    cost = np.asarray(model.column, float)
    accuracy = np.asarray(table.accuracy(slice(None), dataset), float)
    present = ~np.isnan(cost)
    if thresholds is None:
        thresholds = sorted({float(a["threshold"]) for rs in runs.values() for r in rs for a in r["answers"]})
    if quantiles is None:
        quantiles = {float(a["threshold"]): a.get("quantile") for rs in runs.values() for r in rs for a in r["answers"]}
    thresholds = sorted(set(float(t) for t in thresholds))
    styles = style_of(list(runs)) if styles is None else styles
    with matplotlib.rc_context(STYLE):
        fig = _figure(6.4, 4.6)
        ax = fig.add_subplot()
        ax.scatter(cost[present], accuracy[present], s=1.5, c="#c8c8c8", linewidths=0, rasterized=True,
                   label=f"all {int(present.sum()):,} archs", zorder=1)  # fmt: skip
        ax.plot(np.r_[exact.costs, np.nanmax(cost)], np.r_[exact.accuracies, exact.accuracies[-1]],
                drawstyle="steps-post", color="black", linewidth=1.1, zorder=2,
                label=f"exact front ({len(exact.indices)} archs)")  # fmt: skip
        _draw_thresholds(ax, thresholds, quantiles)
        for k, label in enumerate(sorted(runs)):
            try:
                record, n = representative_run(runs[label])
            except ValueError:
                continue
            indices = np.asarray(record.get("front") or [], dtype=np.int64)
            if indices.size == 0:
                continue
            order = np.lexsort((indices, cost[indices]))
            front_cost, front_acc = cost[indices][order], accuracy[indices][order]
            color, marker = styles[label]
            ratio = float(record["hypervolume_ratio"])
            ax.plot(np.r_[front_cost, np.nanmax(cost)], np.r_[front_acc, front_acc[-1]], drawstyle="steps-post",
                    color=color, linewidth=0.9, alpha=0.9, zorder=3)  # fmt: skip
            ax.scatter(front_cost, front_acc, s=max(30.0 - 6.0 * k, 8.0), marker=marker, facecolors="none",
                       edgecolors=color, linewidths=0.9, alpha=0.9, zorder=4,
                       label=f"{label}: seed {record['setting']['seed']} (median HV ratio {ratio:.3f} of {n} "
                             f"seed{'s' if n != 1 else ''}; {record['unique_evaluations']} evals)")  # fmt: skip
        low = float(np.percentile(accuracy[present], 5))
        ax.set_ylim(low, float(np.nanmax(accuracy)) + 0.8)
        ax.set_xlabel(f"{device} {metric} ({model.unit}, {model.cost_dataset} costs)")
        ax.set_ylabel(f"200-epoch test accuracy, {dataset} (%)")
        ax.set_title(f"NB201 {dataset}: {device} {metric}, exact Pareto front and each method's found front\n"
                     "(one run per method, its median-hypervolume seed; y axis from the 5th percentile)")  # fmt: skip
        ax.grid(True, linewidth=0.3, alpha=0.5)
        ax.legend(loc="lower right", frameon=True)
        return save_figure(fig, out_stem)


def anytime_curve(record: Mapping[str, Any]) -> np.ndarray:
    """Penalised regret after each unique evaluation (an infeasible answer at the worst feasible regret); for a space
    without accuracies, minus phi. Empty for a method without a trajectory (the oracle)."""
    anytime = record.get("anytime") or []
    optimum, worst = record.get("optimum_accuracy"), (record.get("optimum") or {}).get("worst_accuracy")
    values = []
    for entry in anytime:
        if optimum is None:
            values.append(-entry["phi"] if entry.get("phi") is not None else math.nan)
        elif entry["regret"] is not None:
            values.append(entry["regret"])
        else:
            values.append(optimum - worst if worst is not None else math.nan)
    return np.array(values, dtype=float)


def _record_label(record: Mapping[str, Any]) -> str:
    setting = record["setting"]
    return setting["method"] if setting.get("preset") is None else f"{setting['method']}:{setting['preset']}"


def plot_history(
    run_records: Sequence[Mapping[str, Any]], out_stem: Path | str, labels: Sequence[str] | None = None
) -> list[Path]:
    """Penalised regret vs unique evaluations, per method: one panel per (space, dataset, device, metric), mean over
    the runs of every threshold and seed (their number in the legend); a run that stopped keeps its last value."""
    import matplotlib

    labels = list(labels) if labels is not None else [_record_label(r) for r in run_records]
    curves: dict[tuple, dict[str, list[np.ndarray]]] = {}
    for record, label in zip(run_records, labels):
        curve = anytime_curve(record)
        if curve.size == 0:
            continue
        setting = record["setting"]
        key = tuple(setting[k] for k in SETTING_FIELDS[:-1])
        curves.setdefault(key, {}).setdefault(label, []).append(curve)
    styles = style_of(labels)  # every label, so a method has the colour it has in the other figures
    without = sorted(set(labels) - {label for per in curves.values() for label in per})
    n = max(len(curves), 1)
    ncols = min(3, n)
    nrows = math.ceil(n / ncols)
    with matplotlib.rc_context(STYLE):
        fig = _figure(3.6 * ncols, 2.8 * nrows)
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
        if not curves:
            axes[0].text(0.5, 0.5, "no anytime trajectory in these runs", ha="center", va="center")
            axes[0].set_axis_off()
        for ax, key in zip(axes, sorted(curves)):
            space, dataset, cost_dataset, device, metric = key
            for label in sorted(curves[key]):
                runs = curves[key][label]
                length = max(len(c) for c in runs)
                padded = np.vstack([np.pad(c, (0, length - len(c)), mode="edge") for c in runs])
                with np.errstate(all="ignore"):
                    mean = np.nanmean(padded, axis=0)
                color, _ = styles[label]
                ax.plot(np.arange(1, length + 1), mean, color=color, linewidth=1, label=f"{label} (n={len(runs)})")
            has_accuracy = any(r.get("optimum_accuracy") is not None for r in run_records
                               if tuple(r["setting"][k] for k in SETTING_FIELDS[:-1]) == key)  # fmt: skip
            ax.set_title(f"{space} {dataset} {device} {metric}")
            ax.set_xscale("log")
            ax.set_xlabel("unique evaluations")
            ax.set_ylabel("regret, infeasible at worst (points)" if has_accuracy else "minus phi of the answer")
            ax.grid(True, linewidth=0.3, alpha=0.5)
            ax.legend(loc="upper right")
        for ax in axes[len(curves):]:
            ax.set_axis_off()
        if without:
            fig.suptitle(f"not shown (no anytime trajectory): {', '.join(without)}", fontsize=6.5)
        return save_figure(fig, out_stem)


# The anytime figure's panels, one idea each: which proxy a method searches with decides its panel.
ANYTIME_PANELS = (
    ("the faithful score", ("rsnas",)),
    ("variants of the score", ("rsnas+params", "ens", "rsnas-mean")),
    ("other proxies, baselines", None),
)
ANYTIME_REFERENCE = "hw-evrsnas"
# Paper widths in inches: a two-column figure (panels side by side) and a one-column one (panels stacked).
TWO_COLUMNS, ONE_COLUMN = 7.0, 3.4


def anytime_panels(methods: Sequence[str]) -> list[tuple[str, list[str]]]:
    """(title, method labels) of each non-empty panel; a label is `method[:preset]`, an unregistered method goes to
    the last panel, and the faithful hw-evrsnas is repeated in the variants' panel as their reference."""
    from hwevrsnas.search.methods import METHODS

    def proxy_of(label: str) -> str | None:
        name = label.split(":")[0]
        return METHODS[name].proxy if name in METHODS else None

    known = {proxy for _, group in ANYTIME_PANELS for proxy in group or ()}
    panels = []
    for title, proxies in ANYTIME_PANELS:
        members = [m for m in methods if (proxy_of(m) in proxies if proxies else proxy_of(m) not in known)]
        if members and proxies and "rsnas" not in proxies:
            members = [m for m in methods if m.split(":")[0] == ANYTIME_REFERENCE] + members
        if members:
            panels.append((title, members))
    return panels


def plot_anytime(
    anytime: pd.DataFrame, out_stem: Path | str, floors: Mapping[str, tuple[str, float]] | None = None
) -> list[Path]:
    """Mean penalised regret at each budget per method, with its 95 % interval (the anytime table), in small
    multiples (ANYTIME_PANELS), twice: `<stem>` two columns wide, `<stem>-column` one column wide.

    A method without a trajectory (`trajectory` False: the oracle, multi-threshold runs) has one answer whatever the
    budget: a dashed level without markers or band. `floors` (method label -> (its proxy, regret)): the proxy-oracle
    regret of the method's proxy, what a perfect search on it would reach, one grey dotted level per proxy of a
    panel's methods with a trajectory. The panels share a y axis spanning the methods with a trajectory; a level
    above it is named in its panel instead of stretching the axis."""
    stem = Path(out_stem)
    floors = dict(floors or {})
    paths = _anytime_figure(anytime, stem, TWO_COLUMNS, side_by_side=True, floors=floors)
    column = stem.with_name(f"{stem.name}-column")
    return paths + _anytime_figure(anytime, column, ONE_COLUMN, side_by_side=False, floors=floors)


def _anytime_figure(
    anytime: pd.DataFrame, out_stem: Path, width: float, side_by_side: bool, floors: Mapping[str, tuple[str, float]]
) -> list[Path]:
    import matplotlib

    styles = style_of(list(anytime["method"]))
    traced = anytime["trajectory"] if "trajectory" in anytime else pd.Series(True, index=anytime.index)
    panels = anytime_panels(sorted(set(anytime["method"])))
    top = float(anytime.loc[traced, "regret_penalised_hi"].max()) if traced.any() else None
    counts = set(anytime["n"].astype(int))
    with matplotlib.rc_context(STYLE):
        rows, cols = (1, len(panels)) if side_by_side else (len(panels), 1)
        fig = _figure(width, 3.6 if side_by_side else 3.0 * len(panels))
        axes = fig.subplots(rows, cols, sharey=True, squeeze=False).ravel()
        for ax, (title, members) in zip(axes, panels):
            off_scale = []
            panel_floors = set()
            for label in members:
                part = anytime[anytime["method"] == label].sort_values("budget")
                color, marker = styles[label]
                name = label if len(counts) == 1 else f"{label} (n={int(part['n'].iloc[0])})"
                if traced[part.index].all():
                    ax.plot(part["budget"], part["regret_penalised_mean"], color=color, marker=marker, markersize=3.5,
                            linewidth=1, label=name)  # fmt: skip
                    ax.fill_between(part["budget"], part["regret_penalised_lo"], part["regret_penalised_hi"],
                                    color=color, alpha=0.15, linewidth=0)  # fmt: skip
                    if label in floors:
                        panel_floors.add(floors[label])
                    continue
                level = float(part["regret_penalised_mean"].iloc[-1])
                if top is not None and level > top:
                    off_scale.append(f"{label} {level:.2f}")
                    continue
                ax.plot(part["budget"], part["regret_penalised_mean"], color=color, linestyle="--", linewidth=1,
                        label=f"{name} (final answer, no trajectory)")  # fmt: skip
            for proxy, floor in sorted(panel_floors):
                ax.axhline(floor, color="0.35", linestyle=":", linewidth=1, label=f"perfect search on {proxy}: {floor:.2f}")
            if top is not None:
                ax.set_ylim(bottom=min(0.0, float(anytime["regret_penalised_lo"].min())), top=top * 1.05)
            if off_scale:
                ax.text(0.98, 0.97, "above the axis:\n" + "\n".join(off_scale), transform=ax.transAxes, ha="right",
                        va="top", fontsize=5.5)  # fmt: skip
            ax.set_xscale("log")
            ax.set_xlabel("unique evaluations (budget)")
            ax.set_title(title)
            ax.grid(True, linewidth=0.3, alpha=0.5)
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), fontsize=5.5, frameon=False, ncol=1)
        axes[0].set_ylabel("regret, infeasible at worst (points)")
        dotted = "; dotted: a perfect search on a proxy (its proxy-oracle regret)" if floors else ""
        if len(counts) == 1:
            fig.suptitle(f"mean regret, n = {counts.pop()} settings per point; band: 95 % interval{dotted}", fontsize=7)
        return save_figure(fig, out_stem)


def describe_proxy(column: str) -> str:
    """What a fidelity study's score column is, in words (for the axis label): `params`, `flops`, `<preset>:cka`,
    `<preset>:neg_loss`, `zc:<name>`, `<proxy>+params` (rank mean); other names are returned as they are."""
    if column.endswith("+params"):
        return f"mean of the ranks of {column[: -len('+params')]} and #params (rank)"
    prefix, _, name = column.rpartition(":")
    if column == "params" or name == "params":
        return "#params (millions)"
    if name == "flops":
        return "FLOPs (millions)"
    if prefix == "zc":
        return f"zero-cost proxy {name} (score)"
    if name == "cka":
        return f"linear CKA to the reference after {prefix!r} training"
    if name == "neg_loss":
        return f"minus the training loss after {prefix!r} training"
    return column


def plot_fidelity(
    scores_csv: Path | str, out_stem: Path | str, truth: str = "200-epoch CIFAR-10 test accuracy (%)"
) -> list[Path]:
    """Proxy score vs true accuracy: one panel (with Kendall tau) per proxy column of a study's scores.csv.

    The x axis names the score: its column and what it is (`describe_proxy`); a positive score spanning more than
    three decades is drawn on a log axis (said in the label). Columns with fewer than two scored architectures
    are left out (named in the figure's title), and the grid has exactly as many panels as proxies drawn.
    """
    import matplotlib
    from scipy import stats

    scores = pd.read_csv(scores_csv)
    if "accuracy" not in scores.columns:
        raise ValueError(f"{scores_csv} has no 'accuracy' column; expected a fidelity study's scores.csv")
    candidates = [c for c in scores.columns if c not in ("index", "accuracy")]
    columns = [c for c in candidates if len(scores[[c, "accuracy"]].dropna()) >= 2]
    skipped = [c for c in candidates if c not in columns]
    n = max(len(columns), 1)
    ncols = min(4, n)
    nrows = math.ceil(n / ncols)
    with matplotlib.rc_context(STYLE):
        fig = _figure(2.7 * ncols, 2.5 * nrows)
        if not columns:
            ax = fig.add_subplot()
            ax.text(0.5, 0.5, "no proxy column with two or more scored architectures", ha="center", va="center")
            ax.set_axis_off()
        for i, column in enumerate(columns):
            ax = fig.add_subplot(nrows, ncols, i + 1)
            valid = scores[[column, "accuracy"]].dropna()
            x = valid[column].to_numpy(float)
            ax.scatter(x, valid["accuracy"], s=5, c="#1f77b4", linewidths=0)
            tau = stats.kendalltau(x, valid["accuracy"]).statistic
            logged = bool(np.all(x > 0) and x.max() / x.min() > 1e3)
            if logged:
                ax.set_xscale("log")
            ax.set_title(f"Kendall tau {tau:.3f} (n={len(valid)})")
            label = f"{column}: {describe_proxy(column)}{', log axis' if logged else ''}"
            ax.set_xlabel(textwrap.fill(label, 38), fontsize=6.5)
            ax.set_ylabel(truth, fontsize=6.5)
            ax.grid(True, linewidth=0.3, alpha=0.5)
        if skipped:
            fig.suptitle(f"left out (fewer than two scored architectures): {', '.join(skipped)}", fontsize=6.5)
        return save_figure(fig, out_stem)


def replot_anytime(table: Path | str, out_stem: Path | str, oracle_gap: Path | str | None = None) -> list[Path]:
    """The anytime figure redrawn from the anytime table's Markdown, without the run files that made it; with the
    oracle-gap page (`hwevrsnas evidence oracle-gap`), each method's proxy-oracle floor: the answer-weighted mean of
    its proxy-oracle regret over the page's datasets.

    The table does not print which methods had a trajectory: the ones without are the oracle and the
    multi-threshold methods (search.methods), whose records hold none."""
    from hwevrsnas.analysis.result_tables import read_markdown_table
    from hwevrsnas.search.methods import METHODS

    frame = read_markdown_table(table)
    base = frame["method"].str.split(":").str[0]
    frame["trajectory"] = [name != "oracle" and not METHODS[name].multi_threshold for name in base]
    floors: dict[str, tuple[str, float]] = {}
    if oracle_gap is not None:
        gaps = read_markdown_table(oracle_gap)
        for (method, proxy), part in gaps.groupby(["method", "proxy"]):
            answers = part["answers"].astype(float)
            floor = float((part["proxy-oracle regret"].astype(float) * answers).sum() / answers.sum())
            floors.update({label: (proxy, round(floor, 6)) for label, name in zip(frame["method"], base) if name == method})
    return plot_anytime(frame, out_stem, floors)


__all__ = [
    "anytime_curve", "describe_proxy", "pareto_front", "plot_anytime", "replot_anytime", "plot_device", "plot_fidelity", "plot_front",
    "plot_history", "representative_run", "save_figure", "style_of", "threshold_quantiles",
]  # fmt: skip

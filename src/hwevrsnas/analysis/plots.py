"""Figures: accuracy vs cost per device (feasible front, each method's picks), search histories, proxy fidelity.

Every figure is written as `<stem>.png` and `<stem>.pdf`, atomically, through matplotlib's Agg
canvas (`matplotlib.figure.Figure`, no pyplot global state, no display needed). The files carry no
timestamp or software stamp (PNG metadata `Software` removed, PDF `CreationDate` removed), so the
same data and matplotlib version give byte-identical files.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from hwevrsnas.atomic import write_bytes

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p")
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
    """(color, marker) of each label, assigned in sorted order so a label keeps its style across figures."""
    ordered = sorted(set(labels))
    return {label: (COLORS[i % len(COLORS)], MARKERS[i % len(MARKERS)]) for i, label in enumerate(ordered)}


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


def plot_device(
    table: Any,
    dataset: str,
    device: str,
    metric: str,
    thresholds: Sequence[float],
    picks_df: pd.DataFrame,
    out_stem: Path | str,
    cost_dataset: str | None = None,
) -> list[Path]:
    """Accuracy vs cost of all NB201 archs, the feasible front, threshold lines and each method's picks (PNG + PDF)."""
    import matplotlib

    cost = np.asarray(table.cost_column(f"{device}_{metric}", cost_dataset or dataset), float)
    accuracy = np.asarray(table.accuracy(slice(None), dataset), float)
    unit = table.metric_attrs[cost_dataset or dataset][f"{device}_{metric}"].get("unit", "")
    present = ~np.isnan(cost)
    with matplotlib.rc_context(STYLE):
        fig = _figure(6.4, 4.4)
        ax = fig.add_subplot()
        ax.scatter(cost[present], accuracy[present], s=1.5, c="#b0b0b0", linewidths=0, rasterized=True,
                   label=f"all {int(present.sum()):,} archs", zorder=1)  # fmt: skip
        front_cost, front_acc = pareto_front(cost, accuracy)
        x = np.r_[front_cost, np.nanmax(cost)]
        y = np.r_[front_acc, front_acc[-1]]
        ax.plot(x, y, drawstyle="steps-post", color="black", linewidth=1.0, label="feasible front", zorder=2)
        for i, threshold in enumerate(sorted(set(float(t) for t in thresholds))):
            ax.axvline(threshold, color="#555555", linestyle="--", linewidth=0.8, zorder=2,
                       label="threshold" if i == 0 else None)  # fmt: skip
        styles = style_of(picks_df["label"]) if len(picks_df) else {}
        for label, (color, marker) in styles.items():
            part = picks_df[picks_df["label"] == label]
            ax.scatter(part["cost"], part["test_accuracy"], s=28, marker=marker, facecolors="none",
                       edgecolors=color, linewidths=1.1, label=label, zorder=3)  # fmt: skip
        low = float(np.percentile(accuracy[present], 5))
        ax.set_ylim(low, float(np.nanmax(accuracy)) + 0.5)
        ax.set_xlabel(f"{device} {metric} ({unit}, {cost_dataset or dataset} costs)")
        ax.set_ylabel(f"200-epoch test accuracy, {dataset} (%)")
        ax.set_title(f"NB201 {dataset}: {device} {metric} (y axis from the 5th percentile)")
        ax.grid(True, linewidth=0.3, alpha=0.5)
        ax.legend(loc="lower right", markerscale=1.0, frameon=True)
        return save_figure(fig, out_stem)


def _history_curve(record: Mapping[str, Any]) -> np.ndarray:
    values = [row.get("best_fitness") if row.get("best_fitness") is not None else row.get("incumbent_fitness")
              for row in record.get("history") or []]  # fmt: skip
    return np.array([math.nan if v is None else float(v) for v in values], dtype=float)


def _record_label(record: Mapping[str, Any]) -> str:
    setting = record["setting"]
    return setting["method"] if setting.get("preset") is None else f"{setting['method']}:{setting['preset']}"


def plot_history(
    run_records: Sequence[Mapping[str, Any]], out_stem: Path | str, labels: Sequence[str] | None = None
) -> list[Path]:
    """Best fitness per generation (GA; others: per `population` new archs), mean over seeds; a panel per setting."""
    import matplotlib

    labels = list(labels) if labels is not None else [_record_label(r) for r in run_records]
    curves: dict[tuple, dict[str, list[np.ndarray]]] = {}
    for record, label in zip(run_records, labels):
        curve = _history_curve(record)
        if curve.size == 0:
            continue
        setting = record["setting"]
        key = tuple(setting[k] for k in SETTING_FIELDS[:-1]) + (float(record["threshold"]),)
        curves.setdefault(key, {}).setdefault(label, []).append(curve)
    styles = style_of([label for per in curves.values() for label in per])
    n = max(len(curves), 1)
    ncols = min(3, n)
    nrows = math.ceil(n / ncols)
    with matplotlib.rc_context(STYLE):
        fig = _figure(3.6 * ncols, 2.8 * nrows)
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
        if not curves:
            axes[0].text(0.5, 0.5, "no search history in these runs", ha="center", va="center")
            axes[0].set_axis_off()
        for ax, key in zip(axes, sorted(curves)):
            for label in sorted(curves[key]):
                runs = curves[key][label]
                length = max(len(c) for c in runs)
                # A run that stopped early keeps its last value.
                padded = np.vstack([np.pad(c, (0, length - len(c)), mode="edge") for c in runs])
                with np.errstate(all="ignore"):
                    mean = np.nanmean(padded, axis=0) if not np.isnan(padded).all() else padded[0]
                color, marker = styles[label]
                ax.plot(np.arange(length), mean, color=color, marker=marker, markersize=3, linewidth=1,
                        label=f"{label} (n={len(runs)})")  # fmt: skip
            space, dataset, _cost_dataset, device, metric, threshold = key
            ax.set_title(f"{space} {dataset} {device} {metric} <= {threshold:.4g}")
            ax.set_xlabel("generation (or block of population-size new archs)")
            ax.set_ylabel("best fitness (mean over seeds)")
            ax.grid(True, linewidth=0.3, alpha=0.5)
            ax.legend(loc="lower right")
        for ax in axes[len(curves):]:
            ax.set_axis_off()
        return save_figure(fig, out_stem)


def plot_fidelity(scores_csv: Path | str, out_stem: Path | str) -> list[Path]:
    """Proxy score vs 200-epoch accuracy: a small panel (with Kendall tau) per proxy column of a study's scores.csv."""
    import matplotlib
    from scipy import stats

    scores = pd.read_csv(scores_csv)
    if "accuracy" not in scores.columns:
        raise ValueError(f"{scores_csv} has no 'accuracy' column; expected a fidelity study's scores.csv")
    columns = [c for c in scores.columns if c not in ("index", "accuracy")]
    n = max(len(columns), 1)
    ncols = min(4, n)
    nrows = math.ceil(n / ncols)
    with matplotlib.rc_context(STYLE):
        fig = _figure(2.6 * ncols, 2.3 * nrows)
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
        for ax, column in zip(axes, columns):
            valid = scores[[column, "accuracy"]].dropna()
            ax.scatter(valid[column], valid["accuracy"], s=5, c="#1f77b4", linewidths=0)
            tau = stats.kendalltau(valid[column], valid["accuracy"]).statistic if len(valid) > 1 else math.nan
            ax.set_title(f"{column}\nKendall tau {tau:.3f} (n={len(valid)})")
            ax.set_xlabel("proxy score")
            ax.set_ylabel("200-epoch accuracy (%)")
            ax.grid(True, linewidth=0.3, alpha=0.5)
        for ax in axes[len(columns):]:
            ax.set_axis_off()
        return save_figure(fig, out_stem)


__all__ = ["pareto_front", "plot_device", "plot_fidelity", "plot_history", "save_figure", "style_of"]

"""The fidelity study: how well each proxy setting ranks NB201 architectures by 200-epoch CIFAR-10 accuracy.

A fixed, seeded sample of unique architectures (one per isomorphism class, degenerate cells
excluded because every proxy scores them trivially) is stratified by accuracy: the classes are
split into `n` equal-count accuracy strata and one class is drawn from each. Each proxy setting
scores every sampled architecture; the table reports Kendall tau and Spearman rho against the
truth with percentile-bootstrap 95% intervals, over the whole sample and over its top half by
true accuracy (where a search actually has to discriminate), plus mean seconds per architecture.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from hwevrsnas.tables.store import NB201Table

N_BOOT = 1000


def stratified_sample(table: NB201Table, n: int, seed: int, exclude: Sequence[int] = ()) -> np.ndarray:
    """Indices of n unique, non-degenerate NB201 architectures, one per accuracy stratum of the iso classes."""
    representatives = np.unique(table.iso_class[~table.degenerate])
    representatives = np.setdiff1d(representatives, table.iso_class[np.asarray(exclude, dtype=int)])
    if n > len(representatives):
        raise ValueError(f"asked for {n} architectures but only {len(representatives)} classes are eligible")
    accuracy = table.accuracy(representatives)
    ordered = representatives[np.argsort(accuracy, kind="stable")]
    rng = np.random.default_rng(seed)
    strata = np.array_split(ordered, n)
    return np.sort(np.array([rng.choice(stratum) for stratum in strata]))


def _spearman_rows(scores: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Spearman rho of each row pair (vectorised over bootstrap resamples)."""
    rs = stats.rankdata(scores, axis=-1)
    rt = stats.rankdata(truth, axis=-1)
    rs = rs - rs.mean(axis=-1, keepdims=True)
    rt = rt - rt.mean(axis=-1, keepdims=True)
    denominator = np.sqrt((rs * rs).sum(-1) * (rt * rt).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return (rs * rt).sum(-1) / denominator


def rank_correlations(scores: np.ndarray, truth: np.ndarray, seed: int = 0, n_boot: int = N_BOOT) -> dict[str, float]:
    """Kendall tau and Spearman rho with percentile-bootstrap 95% intervals."""
    scores, truth = np.asarray(scores, float), np.asarray(truth, float)
    rng = np.random.default_rng(seed)
    resamples = rng.integers(0, len(scores), size=(n_boot, len(scores)))
    rho_boot = _spearman_rows(scores[resamples], truth[resamples])
    tau_boot = np.array([stats.kendalltau(scores[r], truth[r]).statistic for r in resamples])
    out = {
        "kendall_tau": float(stats.kendalltau(scores, truth).statistic),
        "spearman_rho": float(stats.spearmanr(scores, truth).statistic),
    }
    for name, boot in (("kendall_tau", tau_boot), ("spearman_rho", rho_boot)):
        low, high = np.nanpercentile(boot, [2.5, 97.5])
        out[f"{name}_lo"], out[f"{name}_hi"] = float(low), float(high)
    return out


def summarise(scores: pd.DataFrame, truth: pd.Series, seconds: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """One row per proxy column of `scores`: correlations over all and over the top half, mean seconds."""
    top = truth >= truth.median()
    rows = []
    for column in scores.columns:
        row: dict[str, Any] = {"proxy": column, "n": int(scores[column].notna().sum())}
        valid = scores[column].notna()
        for label, mask in (("all", valid), ("top_half", valid & top)):
            corr = rank_correlations(scores.loc[mask, column].to_numpy(), truth[mask].to_numpy(), seed)
            row.update({f"{label}_{k}": v for k, v in corr.items()})
        row["mean_seconds"] = float(seconds[column].mean()) if column in seconds else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def markdown_table(summary: pd.DataFrame) -> str:
    """The study's table in Markdown: tau and rho with 95% intervals, all archs and the top half."""

    def cell(row: pd.Series, label: str, name: str) -> str:
        return f"{row[f'{label}_{name}']:.3f} [{row[f'{label}_{name}_lo']:.2f}, {row[f'{label}_{name}_hi']:.2f}]"

    lines = [
        "| proxy | n | Kendall tau (all) | Spearman rho (all) | Kendall tau (top half) | Spearman rho (top half) | s/arch |",
        "|---|---:|---|---|---|---|---:|",
    ]
    for _, row in summary.iterrows():
        lines.append(
            f"| {row['proxy']} | {row['n']} | {cell(row, 'all', 'kendall_tau')} | {cell(row, 'all', 'spearman_rho')} "
            f"| {cell(row, 'top_half', 'kendall_tau')} | {cell(row, 'top_half', 'spearman_rho')} "
            f"| {'-' if pd.isna(row['mean_seconds']) else format(row['mean_seconds'], '.3g')} |"
        )
    return "\n".join(lines) + "\n"


_WORKER: dict[str, Any] = {}


def _init_worker(factory: Callable[[], Any]) -> None:
    _WORKER["evaluator"] = factory()


def _evaluate(ops: np.ndarray) -> dict[str, Any]:
    result = _WORKER["evaluator"].evaluate(ops)
    return {**dataclasses.asdict(result), "cached": result.cached}


def score_all(
    factory: Callable[[], Any],
    ops: np.ndarray,
    workers: int = 1,
    progress: bool = True,
    on_result: Callable[[int, dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Evaluate every row of `ops` with evaluators built by `factory` (picklable), in `workers` processes."""
    from tqdm import tqdm

    results = []
    if workers <= 1:
        _init_worker(factory)
        stream = map(_evaluate, ops)
    else:
        pool = multiprocessing.get_context("spawn").Pool(workers, initializer=_init_worker, initargs=(factory,))
        stream = pool.imap(_evaluate, list(ops))
    for position, result in enumerate(tqdm(stream, total=len(ops), disable=not progress, desc="proxy")):
        results.append(result)
        if on_result is not None:
            on_result(position, result)
    if workers > 1:
        pool.close()
        pool.join()
    return results


def write_outputs(out_dir: Path, scores: pd.DataFrame, summary: pd.DataFrame) -> None:
    """Write per-architecture scores (CSV) and the summary (CSV and Markdown), atomically."""
    from hwevrsnas.atomic import write_text

    out_dir = Path(out_dir)
    write_text(out_dir / "scores.csv", scores.to_csv(index=False))
    write_text(out_dir / "summary.csv", summary.to_csv(index=False))
    write_text(out_dir / "summary.md", markdown_table(summary))


def parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    """'name=base:key=value,key=value' -> (name, {'base': ..., knobs}); values parsed as JSON where possible."""
    import json

    name, _, spec = text.partition("=")
    base, _, knobs = spec.partition(":")
    overrides: dict[str, Any] = {}
    for item in filter(None, knobs.split(",")):
        key, _, value = item.partition("=")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    return name, {"base": base or name, **overrides}


def run_study(
    table: NB201Table,
    indices: np.ndarray,
    variants: dict[str, dict[str, Any]],
    sources: Path,
    batch_dir: Path,
    cache_dir: Path | None,
    device: str = "cpu",
    workers: int = 1,
    out_dir: Path | None = None,
    zero_cost: Sequence[str] = (),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score the sampled architectures under every variant; return per-arch readouts and their seconds.

    With `out_dir`, scores.csv and seconds.csv are rewritten after each variant and the variant in
    progress streams its rows to partial.csv, so an interrupted study keeps what it finished.
    """
    import functools

    from hwevrsnas.proxy.batch import batch_path, load_or_build_batch
    from hwevrsnas.proxy.presets import get_preset
    from hwevrsnas.proxy.rsnas import evaluator_from_files
    from hwevrsnas.proxy.zerocost import ZeroCostEvaluator

    scores = pd.DataFrame({"index": indices, "accuracy": table.accuracy(indices)})
    scores["params"] = table.model_size(indices)
    seconds = pd.DataFrame(index=scores.index)
    for name, spec in variants.items():
        knobs = {k: v for k, v in spec.items() if k != "base"}
        preset = get_preset(spec["base"], name=name, **knobs)
        load_or_build_batch(preset, sources, batch_dir)
        factory = functools.partial(
            evaluator_from_files, "nb201", preset, batch_path(preset, batch_dir), cache_dir, device
        )
        partial = open(Path(out_dir) / "partial.csv", "w") if out_dir else None
        if partial:
            partial.write("variant,index,score,loss,seconds,status\n")

        def stream(position: int, r: dict[str, Any], name: str = name, partial: Any = partial) -> None:
            if partial:
                partial.write(f"{name},{indices[position]},{r['score']},{r['loss']},{r['seconds']},{r['status']}\n")
                partial.flush()

        results = score_all(factory, table.ops[indices], workers=workers, on_result=stream)
        if partial:
            partial.close()
        scores[f"{name}:cka"] = [r["score"] if r["status"] == "ok" else np.nan for r in results]
        scores[f"{name}:neg_loss"] = [-r["loss"] if r["status"] == "ok" else np.nan for r in results]
        seconds[f"{name}:cka"] = seconds[f"{name}:neg_loss"] = [r["seconds"] for r in results]
        _save(out_dir, scores, seconds)
    if zero_cost:
        batch = load_or_build_batch(get_preset("paper"), sources, batch_dir)
    for metric in zero_cost:
        evaluator = ZeroCostEvaluator("nb201", metric, batch, None, preset=get_preset("paper"), device=device)
        # Raw scores: a rank correlation needs no normalisation against a reference sample.
        results = [evaluator.raw_result(ops) for ops in table.ops[indices]]
        scores[f"zc:{metric}"] = [r.raw if r.status == "ok" else np.nan for r in results]
        seconds[f"zc:{metric}"] = [r.seconds for r in results]
        _save(out_dir, scores, seconds)
    return scores, seconds


def _save(out_dir: Path | None, scores: pd.DataFrame, seconds: pd.DataFrame) -> None:
    from hwevrsnas.atomic import write_text

    if out_dir:
        write_text(Path(out_dir) / "scores.csv", scores.to_csv(index=False))
        write_text(Path(out_dir) / "seconds.csv", seconds.to_csv(index=False))


def add_rank_combinations(scores: pd.DataFrame, with_column: str = "params") -> pd.DataFrame:
    """Add '<proxy>+params' columns: the mean of each proxy's rank and the rank of #params.

    Both ranks are taken over the same rows, those where the proxy has a value (a proxy scored on a
    subset of the sample is combined within that subset, never against ranks over the whole sample).
    Combinations already in the table (a scores.csv written by `write_outputs`) are recomputed, not combined again.
    """
    out = scores.copy()
    for column in [c for c in scores.columns if ":" in c and not c.endswith(f"+{with_column}")]:
        present = out[column].notna() & out[with_column].notna()
        combined = pd.Series(np.nan, index=out.index)
        combined[present] = (out.loc[present, column].rank() + out.loc[present, with_column].rank()) / 2
        out[f"{column}+{with_column}"] = combined
    return out


def summarise_scores(
    scores: pd.DataFrame, seconds: pd.DataFrame, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The study's summary of a scores table (rank combinations added first), and that extended table."""
    scores = add_rank_combinations(scores)
    return summarise(scores[proxy_columns(scores)], scores["accuracy"], seconds, seed=seed), scores


def proxy_columns(scores: pd.DataFrame) -> list[str]:
    """The columns of a scores table that are proxies (everything but index and truth)."""
    return [c for c in scores.columns if c not in ("index", "accuracy")]


DEFAULT_VARIANTS = (
    "paper=paper",
    "s40=paper:steps=40",
    "s10=paper:steps=10",
    "s10-balanced=paper:steps=10,class_balanced=true",
    "s10-cka-only=paper:steps=10,ce_weight=0.0",
    "s0=paper:steps=0",
)

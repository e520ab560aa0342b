"""Choosing the rank ensemble of `hw-evrsnas-ens` on one half of the NB201 classes, judging it on the other.

The non-degenerate isomorphism classes are split once, by a permutation drawn with `SPLIT_SEED`,
into a `select` half (the first n // 2 of the permutation) and a `report` half. Selection sees the
select half only:

1. every subset of the candidate proxies that contains the representation-similarity proxy, with
   equal weights, is scored by Kendall tau against the classes' mean CIFAR-10 accuracy; the best
   subset wins (ties: fewer members, then the candidates' order);
2. its weights are refined by one pass of coordinate ascent over `WEIGHT_GRID` (members in
   candidate order; a weight changes only if tau strictly improves).

The chosen ensemble is then reported on the report half (and on CIFAR-100 and ImageNet16-120 as
transfer). Scores are computed exactly as `proxy.ensemble.EnsembleEvaluator` computes them: each
member's value ranked against the fixed reference sample (`proxy.evaluator.reference_architectures`),
combined by the weighted geometric mean, so the published table equals what a search sees.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from hwevrsnas.proxy.ensemble import REQUIRED_MEMBER, RankScale, combine
from hwevrsnas.proxy.evaluator import reference_architectures
from hwevrsnas.scores import ScoreTable
from hwevrsnas.spaces import get_space, nb201

SPLIT_SEED = 20240101
HALVES = ("select", "report")
WEIGHT_GRID = (0.5, 1.0, 2.0)


def split_halves(degenerate: np.ndarray, seed: int = SPLIT_SEED) -> np.ndarray:
    """`select`, `report` or '' (degenerate) for every class of the class list."""
    keep = np.flatnonzero(~np.asarray(degenerate, dtype=bool))
    order = np.random.default_rng(seed).permutation(len(keep))
    half = np.full(len(degenerate), "", dtype=object)
    half[keep[order[: len(keep) // 2]]] = HALVES[0]
    half[keep[order[len(keep) // 2 :]]] = HALVES[1]
    return half


def member_values(tables: Sequence[ScoreTable], n_classes: int) -> pd.DataFrame:
    """Every proxy of complete score tables as a column by registry name, aligned with the class list: the value the
    ensemble ranks (`proxy.ensemble.member_value`: zero-cost raw value, rsnas score; NaN where unusable)."""
    columns: dict[str, np.ndarray] = {}
    for table in tables:
        for name, proxy in table.proxies.items():
            values = np.full(n_classes, np.nan)
            source = proxy.raw if name.startswith("zc:") else proxy.score
            usable = (proxy.status == "ok") & np.isfinite(source)
            values[table.positions[usable]] = source[usable]
            columns[name] = values
    return pd.DataFrame(columns)


def reference_rows() -> np.ndarray:
    """The class-list positions of the reference sample's architectures (in draw order, repeats kept)."""
    space = get_space("nb201")
    position = {space.canonical_key(ops): row for row, ops in enumerate(nb201.class_representatives())}
    return np.array([position[space.canonical_key(ops)] for ops in reference_architectures(space)])


def ensemble_scores(values: pd.DataFrame, weights: Mapping[str, float], rows: np.ndarray | None = None) -> np.ndarray:
    """The ensemble score of every class, as the evaluator computes it."""
    rows = reference_rows() if rows is None else rows
    ranks = {}
    for name in weights:
        column = values[name].to_numpy()
        ranks[name] = RankScale.of(np.where(np.isnan(column[rows]), -np.inf, column[rows]))(column)
    return combine(ranks, weights)


def tau(scores: np.ndarray, truth: np.ndarray) -> float:
    """Kendall tau-b over the classes where the score is known."""
    known = ~np.isnan(scores)
    return float(stats.kendalltau(scores[known], truth[known]).statistic)


@dataclass
class Selection:
    """The chosen weights and every candidate's select-half tau (one row per subset and weight step)."""

    weights: dict[str, float]
    trials: pd.DataFrame


def select_ensemble(values: pd.DataFrame, truth: np.ndarray, select: np.ndarray, candidates: Sequence[str]) -> Selection:
    """Members and weights chosen on the `select` classes only (module docstring)."""
    if REQUIRED_MEMBER not in candidates:
        raise ValueError(f"the candidates must include {REQUIRED_MEMBER!r}")
    others = [name for name in candidates if name != REQUIRED_MEMBER]
    rows = reference_rows()
    trials: list[dict[str, Any]] = []

    def score(weights: dict[str, float], step: str) -> float:
        value = tau(ensemble_scores(values, weights, rows)[select], truth[select])
        trials.append({"step": step, "members": "+".join(weights), "weights": _weights_label(weights), "select_tau": value})
        return value

    best: tuple[float, int, dict[str, float]] | None = None
    for k in range(len(others) + 1):
        for subset in itertools.combinations(others, k):
            weights = {name: 1.0 for name in (REQUIRED_MEMBER, *subset)}
            value = score(weights, "subset")
            if best is None or value > best[0]:  # strict: ties keep the earlier, smaller subset
                best = (value, k, weights)
    assert best is not None
    best_tau, _, weights = best
    for name in weights:
        for weight in WEIGHT_GRID:
            if weight == weights[name]:
                continue
            trial = {**weights, name: weight}
            value = score(trial, "weight")
            if value > best_tau:
                best_tau, weights = value, trial
    return Selection(weights, pd.DataFrame(trials))


def _weights_label(weights: Mapping[str, float]) -> str:
    return ", ".join(f"{name} {weight:g}" for name, weight in weights.items())


def half_table(
    columns: Mapping[str, np.ndarray], classes: pd.DataFrame, half: np.ndarray, table: Any = None
) -> pd.DataFrame:
    """Kendall tau and Spearman rho of each score on each half and dataset (`DATASETS` of analysis.fidelity).

    With the NB201 `table`, also CIFAR-10 tau counted per architecture, as published whole-space figures count: each
    class of the half expanded to its member architectures, each with its own accuracy and its class's score.
    """
    from hwevrsnas.analysis.fidelity.full import DATASETS

    if table is not None:
        position = {int(c): p for p, c in enumerate(classes["iso_class"])}
        class_of = np.array([position[int(c)] for c in table.iso_class])
        accuracy = table.accuracy(slice(None), "cifar10")
    rows = []
    for name, scores in columns.items():
        for which in HALVES:
            mask = half == which
            known = mask & ~np.isnan(scores)
            row: dict[str, Any] = {"score": name, "half": which, "n": int(np.count_nonzero(known))}
            for dataset in DATASETS:
                truth = classes[dataset].to_numpy()
                row[f"tau {dataset}"] = float(stats.kendalltau(scores[known], truth[known]).statistic)
                row[f"rho {dataset}"] = float(stats.spearmanr(scores[known], truth[known]).statistic)
            if table is not None:
                members = known[class_of]
                row["architectures"] = int(members.sum())
                row["tau cifar10 architectures"] = float(stats.kendalltau(scores[class_of][members], accuracy[members]).statistic)
            rows.append(row)
    return pd.DataFrame(rows)


def selection_markdown(selection: Selection, halves: pd.DataFrame, candidates: Sequence[str], counts: Mapping[str, int],
                       command: str) -> str:
    """The selection's page: the command, the split, the chosen weights, the best subsets and both halves' figures."""
    trials = selection.trials
    subsets = trials[trials["step"] == "subset"].sort_values("select_tau", ascending=False, kind="stable")
    lines = [
        f"    {command}",
        "",
        f"Split: the {counts['select']} select and {counts['report']} report classes of a permutation of the "
        f"non-degenerate NB201 classes drawn with seed {SPLIT_SEED}. Candidates: {', '.join(candidates)}. "
        f"{len(subsets)} subsets with equal weights, then one pass of weights in {list(WEIGHT_GRID)}; "
        "truth: mean CIFAR-10 test accuracy (200 epochs) of each class's members.",
        "",
        "**Chosen** (select half only): " + ", ".join(f"`{n}` x {w:g}" for n, w in selection.weights.items()),
        "",
        "Best five subsets on the select half:",
        "",
        "| members | select tau |",
        "|---|---:|",
        *[f"| {row.members} | {row.select_tau:.4f} |" for row in subsets.head(5).itertuples()],
        "",
        "Each score on both halves (the report half was not seen by the selection). Per class: the class's mean "
        "accuracy; per architecture: every member of the half's classes with its own accuracy and its class's score, "
        "as whole-space figures in the literature count (AZ-NAS: tau 0.741, rho 0.913 over all 15,625):",
        "",
        "| score | half | n | tau C10 | rho C10 | tau C100 | rho C100 | tau IN16 | rho IN16 | tau C10, per architecture (n) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in halves.to_dict("records"):
        cells = [r["score"], r["half"], str(r["n"])]
        cells += [f"{r[f'{m} {d}']:.3f}" for d in ("cifar10", "cifar100", "ImageNet16-120") for m in ("tau", "rho")]
        cells.append(f"{r['tau cifar10 architectures']:.3f} ({r['architectures']:,})")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def published_ensemble_rows(chosen: np.ndarray, classes: pd.DataFrame, half: np.ndarray) -> list[list[Any]]:
    """The published ensemble CSV's rows (index, arch, score, half) of every non-degenerate class."""
    space = get_space("nb201")
    reps = nb201.class_representatives()
    return [[int(classes["index"].iloc[row]), space.arch_str(reps[row]), repr(float(chosen[row])), half[row]]
            for row in np.flatnonzero(half != "")]  # fmt: skip


__all__ = [
    "HALVES", "SPLIT_SEED", "WEIGHT_GRID", "Selection", "ensemble_scores", "half_table", "member_values",
    "published_ensemble_rows", "reference_rows", "select_ensemble", "selection_markdown", "split_halves", "tau",
]  # fmt: skip

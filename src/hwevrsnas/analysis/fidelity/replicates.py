"""Fidelity over proxy replicates: how much of a proxy's ranking is the draw, and what averaging the draws buys.

Inputs: complete score tables of one representation-similarity preset at distinct proxy seeds (each seed draws the
proxy batch and every initialisation: `hwevrsnas scores build --proxy-seed J`), and the NB201 table. Classes,
truth (the mean 200-epoch CIFAR-10 accuracy of a class's members) and the proxy-oracle regret are those of
`hwevrsnas.analysis.fidelity`; the 5 degenerate classes are left out.

Reported:

- per replicate: Kendall tau and Spearman rho with the truth, precision at 1 %, the mean proxy-oracle regret over
  the HW-NAS-Bench CIFAR-10 slices and nine quantiles, and the same for `mean of draws` (each class scored by its
  mean over the replicates: the averaged-draws variant);
- across replicates: tau and rho mean and range; each class's score standard deviation over the draws (median and
  largest) beside the spread of the per-class means (their standard deviation over classes); Kendall tau and the
  top-1 % overlap between every two replicates (the share of one's top 1 % classes in the other's).
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from hwevrsnas.analysis.fidelity.full import class_frame, hwnasbench_slices, proxy_oracle_regret
from hwevrsnas.errors import InputError
from hwevrsnas.reproduction import preset_of
from hwevrsnas.scores import ScoreTable

MEAN_OF_DRAWS = "mean of draws"
TOP_SHARE = 0.01


def replicate_columns(tables: Sequence[ScoreTable], n_classes: int) -> pd.DataFrame:
    """The representation-similarity score of each table as column `p<seed>`, aligned with the class list.

    Refused unless every table is complete, holds one rsnas column, and all share one preset at distinct seeds."""
    columns: dict[str, np.ndarray] = {}
    presets = set()
    for table in tables:
        if not table.complete:
            raise InputError(f"{table.path} holds {table.rows} classes, not every class: replicates need whole tables")
        rsnas = [c for c in table.proxies.values() if c.identity.get("kind") == "rsnas"]
        if len(rsnas) != 1:
            raise InputError(f"{table.path}: expected one representation-similarity column, found {len(rsnas)}")
        identity = rsnas[0].identity
        presets.add(preset_of(identity).name)  # the digest names the seed too: compare the named preset
        name = f"p{int(identity.get('seed', 0))}"
        if name in columns:
            raise InputError(f"{table.path}: proxy seed {name[1:]} given twice; replicates need distinct proxy seeds")
        values = np.full(n_classes, np.nan)
        ok = rsnas[0].status == "ok"
        values[table.positions[ok]] = rsnas[0].score[ok]
        columns[name] = values
    if len(presets) > 1:
        raise InputError(f"the tables hold {len(presets)} presets ({', '.join(sorted(presets))}); "
                         "replicates are one preset at several proxy seeds")  # fmt: skip
    if len(columns) < 2:
        raise InputError("replicate fidelity needs at least two tables of distinct proxy seeds")
    return pd.DataFrame(dict(sorted(columns.items(), key=lambda item: int(item[0][1:]))))


def _top(values: np.ndarray, share: float) -> set[int]:
    k = math.ceil(share * len(values))
    return set(np.argsort(-values, kind="stable")[:k].tolist())


def replicate_fidelity(tables: Sequence[ScoreTable], nb201_table: Any) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, float]]:
    """(per-replicate rows, replicate pairs, summary) of module docstring."""
    classes = class_frame(nb201_table)
    draws = replicate_columns(tables, len(classes))
    draws[MEAN_OF_DRAWS] = draws.mean(axis=1, skipna=False)
    live = ~classes["degenerate"].to_numpy()
    truth = classes["cifar10"].to_numpy()[live]
    oracle = proxy_oracle_regret(draws, classes, nb201_table, hwnasbench_slices())
    regret = oracle.groupby("proxy")["regret"].mean()
    rows = []
    for name in draws.columns:
        values = draws[name].to_numpy()[live]
        rows.append({
            "replicate": name, "n": int(len(values)),
            "kendall_tau": float(stats.kendalltau(values, truth).statistic),
            "spearman_rho": float(stats.spearmanr(values, truth).statistic),
            "precision_1%": len(_top(values, TOP_SHARE) & _top(truth, TOP_SHARE)) / math.ceil(TOP_SHARE * len(values)),
            "proxy_oracle_regret": float(regret[name]),
        })  # fmt: skip
    per_replicate = pd.DataFrame(rows)
    seeds = [c for c in draws.columns if c != MEAN_OF_DRAWS]
    pairs = []
    for a, b in itertools.combinations(seeds, 2):
        x, y = draws[a].to_numpy()[live], draws[b].to_numpy()[live]
        top_x = _top(x, TOP_SHARE)
        pairs.append({"a": a, "b": b, "kendall_tau": float(stats.kendalltau(x, y).statistic),
                      "top1%_overlap": len(top_x & _top(y, TOP_SHARE)) / len(top_x)})  # fmt: skip
    pairs_frame = pd.DataFrame(pairs)
    single = per_replicate[per_replicate["replicate"] != MEAN_OF_DRAWS]
    per_class = draws[seeds].to_numpy()[live]
    spread = per_class.std(axis=1, ddof=1)
    summary = {
        "replicates": float(len(seeds)),
        "tau_mean": float(single["kendall_tau"].mean()), "tau_min": float(single["kendall_tau"].min()),
        "tau_max": float(single["kendall_tau"].max()),
        "rho_mean": float(single["spearman_rho"].mean()), "rho_min": float(single["spearman_rho"].min()),
        "rho_max": float(single["spearman_rho"].max()),
        "class_sd_median": float(np.median(spread)), "class_sd_max": float(spread.max()),
        "between_class_sd": float(draws[MEAN_OF_DRAWS].to_numpy()[live].std(ddof=1)),
        "pair_tau_mean": float(pairs_frame["kendall_tau"].mean()), "pair_tau_min": float(pairs_frame["kendall_tau"].min()),
        "top1%_overlap_mean": float(pairs_frame["top1%_overlap"].mean()),
        "top1%_overlap_min": float(pairs_frame["top1%_overlap"].min()),
    }  # fmt: skip
    return per_replicate, pairs_frame, summary


def replicates_markdown(per_replicate: pd.DataFrame, pairs: pd.DataFrame, summary: dict[str, float]) -> str:
    """The Markdown of a replicate study (docs/FIDELITY.md's replicate section)."""
    lines = [
        f"Over {int(summary['replicates'])} proxy replicates (each a whole-space table; unit: the class, "
        f"n = {int(per_replicate['n'].iloc[0])} non-degenerate classes per replicate).",
        "",
        "| replicate | Kendall tau | Spearman rho | precision 1 % | proxy-oracle regret |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in per_replicate.to_dict("records"):
        lines.append(f"| {row['replicate']} | {row['kendall_tau']:.3f} | {row['spearman_rho']:.3f} "
                     f"| {row['precision_1%']:.2f} | {row['proxy_oracle_regret']:.2f} |")  # fmt: skip
    lines += [
        "",
        f"- Across replicates: Kendall tau {summary['tau_mean']:.3f} (range {summary['tau_min']:.3f}-{summary['tau_max']:.3f}), "
        f"Spearman rho {summary['rho_mean']:.3f} ({summary['rho_min']:.3f}-{summary['rho_max']:.3f}).",
        f"- A class's score moves between draws by a standard deviation of {summary['class_sd_median']:.4f} (median; "
        f"largest {summary['class_sd_max']:.4f}), against {summary['between_class_sd']:.4f} between the classes' means.",
        f"- Between two replicates: Kendall tau {summary['pair_tau_mean']:.3f} (lowest {summary['pair_tau_min']:.3f}); "
        f"their top 1 % share {summary['top1%_overlap_mean']:.0%} of classes (lowest {summary['top1%_overlap_min']:.0%}).",
    ]
    return "\n".join(lines) + "\n"


__all__ = ["MEAN_OF_DRAWS", "replicate_columns", "replicate_fidelity", "replicates_markdown"]

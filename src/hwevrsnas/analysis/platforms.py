"""The same score on two machines: a score table built here against a published export built elsewhere.

A score is bit-reproducible on one platform only (proxy.determinism): another CPU runs other kernels
(vector width, blocking), the 10-step training amplifies their rounding differences, and every score
records its platform so that tables of two platforms are never mixed. This measures how far apart two
platforms' scores of every class are, and whether the fidelity conclusion (Kendall tau against the
classes' CIFAR-10 accuracy) moves with them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from hwevrsnas.errors import InputError
from hwevrsnas.scores import ScoreTable


def platform_comparison(table: ScoreTable, export: pd.DataFrame, platform_of_export: str, classes: pd.DataFrame,
                        export_name: str) -> pd.DataFrame:
    """One row per figure: platforms, classes, equal scores, score and loss differences, and the taus."""
    column = table.proxies["rsnas"]
    here = pd.DataFrame({"index": np.asarray(table.index), "score": column.score, "loss": column.loss})
    there = export[["index", "score", "loss"]]
    both = here.merge(there, on="index", suffixes=("_here", "_there"), validate="one_to_one")
    if len(both) != len(here) or len(both) != len(there):
        raise InputError(f"{table.path} and {export_name} do not hold the same classes ({len(here)}, {len(there)})")
    truth = classes.set_index("index")
    live = both[~truth.loc[both["index"], "degenerate"].to_numpy()]
    accuracy = truth.loc[live["index"], "cifar10"].to_numpy()
    difference = (live["score_here"] - live["score_there"]).abs()
    rows = [
        ("platform here", column.identity.get("platform")),
        ("platform of the CSV", platform_of_export),
        ("non-degenerate classes", len(live)),
        ("scores equal bit for bit", int((live["score_here"] == live["score_there"]).sum())),
        ("largest score difference", float(difference.max())),
        ("median score difference", float(difference.median())),
        ("largest loss difference", float((live["loss_here"] - live["loss_there"]).abs().max())),
        ("Kendall tau, here vs the CSV", float(stats.kendalltau(live["score_here"], live["score_there"]).statistic)),
        ("Spearman rho, here vs the CSV", float(stats.spearmanr(live["score_here"], live["score_there"]).statistic)),
        ("Kendall tau vs CIFAR-10 accuracy, here", float(stats.kendalltau(live["score_here"], accuracy).statistic)),
        ("Kendall tau vs CIFAR-10 accuracy, the CSV", float(stats.kendalltau(live["score_there"], accuracy).statistic)),
    ]
    return pd.DataFrame(rows, columns=["figure", "value"]).astype({"value": object})


__all__ = ["platform_comparison"]

"""hw-evrsnas-ens against AZ-NAS on the same classes, counted the same way (docs/FIDELITY.md).

AZ-NAS (Lee & Ham, CVPR 2024) is this project's implementation (proxy.zerocost_az_meco_zico): its three members from
score tables holding every class and FLOPs, rank-aggregated over all non-degenerate classes
(analysis.fidelity.az_nas_column). The ensemble's score is its published CSV, with the select / report halves
it was chosen and judged on. Both are reported on both halves, per class and per architecture
(analysis.ensemble.half_table), beside AZ-NAS's published whole-space figure.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from hwevrsnas.analysis.ensemble import half_table
from hwevrsnas.analysis.fidelity.full import AZ_NAS_MEMBERS, az_nas_column, proxy_scores
from hwevrsnas.analysis.result_tables import markdown
from hwevrsnas.errors import InputError
from hwevrsnas.scores import ScoreTable
from hwevrsnas.spaces import nb201 as nb201_space

PUBLISHED = "AZ-NAS's paper: Kendall tau 0.741, Spearman rho 0.913 on CIFAR-10 over all 15,625 architectures"
SHOWN = ["score", "half", "n", "tau cifar10", "rho cifar10", "tau cifar100", "tau ImageNet16-120",
         "tau cifar10, per architecture (n)"]  # fmt: skip


def az_nas_as_published(scores: pd.DataFrame, classes: pd.DataFrame, nb201: Any) -> tuple[float, float, int]:
    """AZ-NAS counted as its paper counts it: every architecture of the space (degenerate cells included) with its own
    FLOPs and its class's member values, rank-aggregated over all of them, against its own CIFAR-10 accuracy: (Kendall
    tau, Spearman rho, architectures). A member without a value (a degenerate cell's undefined expressivity) ranks
    lowest, as AZ-NAS's -inf does."""
    from hwevrsnas.proxy.zerocost_az_meco_zico import az_nas_rank_aggregate

    position = {int(c): p for p, c in enumerate(classes["iso_class"])}
    class_of = np.array([position[int(c)] for c in nb201.iso_class])
    members = [nb201_space.flops_m(nb201.ops), *(scores[m].to_numpy(dtype=float)[class_of] for m in AZ_NAS_MEMBERS)]
    aggregate = az_nas_rank_aggregate(members)
    accuracy = nb201.accuracy(slice(None), "cifar10")
    return (float(stats.kendalltau(aggregate, accuracy).statistic), float(stats.spearmanr(aggregate, accuracy).statistic),
            len(accuracy))  # fmt: skip


def az_nas_comparison(
    tables: Sequence[ScoreTable], ensemble: pd.DataFrame, classes: pd.DataFrame, nb201: Any, command: str
) -> str:
    """The comparison page: the command, both scores and AZ-NAS's members on both halves, and notes."""
    scores = proxy_scores(tables, len(classes))
    missing = [m for m in AZ_NAS_MEMBERS if m not in scores]
    if missing:
        raise InputError(f"{' '.join(str(t.path) for t in tables)}: no column {', '.join(missing)}; build them with "
                         "hwevrsnas scores build --proxy zc:az_expressivity --proxy zc:az_progressivity "
                         "--proxy zc:az_trainability")  # fmt: skip
    ens = ensemble.set_index("index").reindex(classes["index"])
    half = ens["half"].fillna("degenerate").to_numpy()
    columns = {"hw-evrsnas-ens": ens["score"].to_numpy(dtype=float), "AZ-NAS (this implementation)": az_nas_column(scores, classes)}
    for member in AZ_NAS_MEMBERS:
        columns[member] = scores[member].to_numpy(dtype=float)
    halves = half_table(columns, classes, half, nb201)
    halves["tau cifar10, per architecture (n)"] = [
        f"{tau:.3f} ({n:,})" for tau, n in zip(halves.pop("tau cifar10 architectures"), halves.pop("architectures"))
    ]
    platforms = sorted({str(p.identity["platform"]) for t in tables for p in t.proxies.values() if p.identity.get("platform")})
    tau, rho, n = az_nas_as_published(scores, classes, nb201)
    notes = [
        "Per class: the class's mean accuracy, the 5 degenerate classes left out; per architecture: every member of "
        "the half's classes with its own accuracy and its class's score.",
        f"Published: {PUBLISHED}. Counted that way here (every one of the {n:,} architectures with its own FLOPs "
        "and its class's member values, degenerate cells included and ranked lowest where a member is undefined, "
        f"ranked over all of them): Kendall tau {tau:.3f}, Spearman rho {rho:.3f}.",
        "AZ-NAS is ranked over all 6,461 classes, then split; a member's tau is its raw value's. "
        f"Platforms: the table's {', '.join(platforms)}; the ensemble CSV's as in docs/scores/README.md.",
    ]
    return f"    {command}\n\n" + markdown(halves[SHOWN], ".3f") + "\n" + "\n".join(f"- {note}" for note in notes) + "\n"


__all__ = ["PUBLISHED", "az_nas_comparison"]

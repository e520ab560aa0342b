"""Each search method's regret beside the proxy-oracle regret of its proxy (docs/SEARCH.md).

The proxy-oracle regret of a setting is the regret of the feasible architecture with the best proxy
score (analysis.fidelity.proxy_oracle_regret): what a perfect search with that proxy would return. A
method's regret minus it is what its search adds. Proxies as the methods rank with them: the rsnas score;
a zero-cost proxy's raw value (the methods use its rank over a 200-architecture reference, which ties at
the top); #params; the rank mean of rsnas and #params over all classes (the method's is over the reference);
the ensemble's own score. CIFAR-10 settings are judged on CIFAR-10 accuracy, CIFAR-100 ones on CIFAR-100.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from hwevrsnas.analysis.collect import collect, find_run_files
from hwevrsnas.analysis.ensemble import ensemble_scores, member_values
from hwevrsnas.analysis.fidelity import class_frame, hwnasbench_slices, oracle_gap_table, proxy_oracle_regret, proxy_scores
from hwevrsnas.analysis.fidelity import with_rank_means
from hwevrsnas.proxy.ensemble import ENSEMBLE_WEIGHTS
from hwevrsnas.scores import ScoreTable
from hwevrsnas.search.methods import METHODS


def method_oracle_gaps(runs_dir: Path | str, tables: Sequence[ScoreTable], nb201: Any, tables_dir: Path | str) -> pd.DataFrame:
    """One row per dataset, method and proxy: answers, regret, proxy-oracle regret, the search's share."""
    classes = class_frame(nb201)
    scores = proxy_scores(tables, len(classes))
    rsnas = next(label for label in scores.columns if label.startswith("rsnas:"))
    scores["params"] = classes["params"]
    scores[f"{rsnas}+params"] = with_rank_means(scores[[rsnas, "params"]])[f"{rsnas}+params"]
    scores["ens"] = ensemble_scores(member_values(tables, len(classes)), ENSEMBLE_WEIGHTS)
    column = {"rsnas": rsnas, "rsnas+params": f"{rsnas}+params", "ens": "ens", "zc:params": "params"}
    proxy_of = {name: column.get(m.proxy, m.proxy) for name, m in METHODS.items() if m.proxy is not None}
    proxy_of = {name: proxy for name, proxy in proxy_of.items() if proxy in scores.columns}

    runs = collect(find_run_files(runs_dir), nb201=Path(tables_dir))
    runs = runs[(runs["space"] == "nb201") & runs["quantile"].notna()]
    parts = []
    for dataset, part in runs.groupby("dataset"):
        slices = sorted(set(zip(part["device"], part["metric"])))
        if dataset == "cifar10":
            slices = [s for s in slices if s in hwnasbench_slices()]
        quantiles = sorted({round(float(q), 6) for q in part["quantile"]})
        oracle = proxy_oracle_regret(scores, classes, nb201, slices, quantiles, dataset=dataset)
        gap = oracle_gap_table(part, oracle, proxy_of)
        gap.insert(0, "dataset", dataset)
        parts.append(gap)
    return pd.concat(parts, ignore_index=True)


def oracle_gap_markdown(gaps: pd.DataFrame, command: str) -> str:
    """The page: the command, then one table row per dataset, method and proxy."""
    lines = [f"    {command}", "", "| dataset | method | proxy | answers | regret | proxy-oracle regret | search's share | "
             "answers at least as good as the proxy-oracle |", "|---|---|---|---:|---:|---:|---:|---:|"]  # fmt: skip
    for row in gaps.itertuples(index=False):
        lines.append(f"| {row.dataset} | {row.method} | {row.proxy} | {row.answers} | {row.regret:.2f} | "
                     f"{row.proxy_oracle_regret:.2f} | {row.search_share:+.2f} | {row.at_least_oracle:.0%} |")  # fmt: skip
    return "\n".join(lines) + "\n"


__all__ = ["method_oracle_gaps", "oracle_gap_markdown"]

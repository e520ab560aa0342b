"""Each search method's regret beside the proxy-oracle regret of its proxy (docs/SEARCH.md).

The proxy-oracle regret of a setting is the regret of the feasible architecture with the best proxy
score (analysis.fidelity.proxy_oracle_regret): what a perfect search with that proxy would return. A
method's regret minus it is what its search adds, judged on the proxy draw the run read (its proxy seed's
table). Proxies as the methods rank with them: the rsnas score; a zero-cost proxy's raw value (the methods use
its rank over a 200-architecture reference, which ties at the top); #params; the rank mean of rsnas and
#params over all classes (the method's is over the reference); the ensemble's own score; the mean of the
replicates' rsnas scores. CIFAR-10 settings are judged on CIFAR-10 accuracy, CIFAR-100 ones on CIFAR-100.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from hwevrsnas.analysis.collect import collect, find_run_files
from hwevrsnas.analysis.ensemble import ensemble_scores, member_values
from hwevrsnas.analysis.fidelity.full import class_frame, hwnasbench_slices, oracle_gap_table, proxy_oracle_regret, proxy_scores
from hwevrsnas.analysis.fidelity.full import with_rank_means
from hwevrsnas.errors import InputError
from hwevrsnas.proxy.ensemble import ENSEMBLE_WEIGHTS
from hwevrsnas.scores import ScoreTable
from hwevrsnas.search.methods import METHODS


def _replicate_of(table: ScoreTable) -> int | None:
    """The proxy seed a table's proxies were drawn with, or None for a table every replicate shares (one without a
    seeded proxy, such as #params and FLOPs)."""
    seeds = {proxy.identity.get("seed") for proxy in table.proxies.values()} - {None}
    if len(seeds) > 1:
        raise InputError(f"{table.path}: its proxies were drawn with several proxy seeds ({sorted(seeds)}); give one "
                         "table per replicate")  # fmt: skip
    return seeds.pop() if seeds else None


def _method_scores(tables: Sequence[ScoreTable], classes: pd.DataFrame, draws: pd.DataFrame) -> pd.DataFrame:
    """The scores the methods rank with, as class columns: each proxy of the tables, #params, the rank mean of rsnas
    and #params, the ensemble where its members are present, and the mean over every replicate's draw."""
    scores = proxy_scores(tables, len(classes))
    scores["params"] = classes["params"]
    rsnas = next((label for label in scores.columns if label.startswith("rsnas:")), None)
    if rsnas is not None:
        scores[f"{rsnas}+params"] = with_rank_means(scores[[rsnas, "params"]])[f"{rsnas}+params"]
    members = member_values(tables, len(classes))
    if set(ENSEMBLE_WEIGHTS) <= set(members.columns):
        scores["ens"] = ensemble_scores(members, ENSEMBLE_WEIGHTS)
    if draws.shape[1] > 1:
        scores["rsnas-mean"] = draws.mean(axis=1, skipna=False)
    return scores


def method_oracle_gaps(runs_dir: Path | str, tables: Sequence[ScoreTable], nb201: Any, tables_dir: Path | str) -> pd.DataFrame:
    """One row per dataset, method, proxy and replicate: answers, regret, proxy-oracle regret, the search's share.

    A run is judged against the proxy-oracle of the draw it read: the tables of its proxy seed and those every
    replicate shares. `replicate` is that seed (null for the runs of a method without a seeded proxy)."""
    classes = class_frame(nb201)
    by_seed: dict[int | None, list[ScoreTable]] = {}
    for table in tables:
        by_seed.setdefault(_replicate_of(table), []).append(table)
    shared = by_seed.pop(None, [])
    draws = pd.DataFrame({seed: proxy_scores(by_seed[seed], len(classes)).filter(like="rsnas:").iloc[:, 0]
                          for seed in sorted(by_seed) if any("rsnas" in t.proxies for t in by_seed[seed])})  # fmt: skip

    runs = collect(find_run_files(runs_dir), nb201=Path(tables_dir))
    runs = runs[(runs["space"] == "nb201") & runs["quantile"].notna()]
    parts = []
    for replicate in [*sorted(by_seed), None]:
        scores = _method_scores([*by_seed.get(replicate, []), *shared], classes, draws)
        rsnas = next((label for label in scores.columns if label.startswith("rsnas:")), None)
        column = {"rsnas": rsnas, "rsnas+params": f"{rsnas}+params", "zc:params": "params"}
        proxy_of = {name: column.get(m.proxy, m.proxy) for name, m in METHODS.items() if m.proxy is not None}
        proxy_of = {name: proxy for name, proxy in proxy_of.items() if proxy in scores.columns}
        mine = runs["proxy_seed"].isna() if replicate is None else runs["proxy_seed"] == replicate
        for dataset, part in runs[mine.fillna(False).astype(bool)].groupby("dataset"):
            slices = sorted(set(zip(part["device"], part["metric"])))
            if dataset == "cifar10":
                slices = [s for s in slices if s in hwnasbench_slices()]
            quantiles = sorted({round(float(q), 6) for q in part["quantile"]})
            oracle = proxy_oracle_regret(scores, classes, nb201, slices, quantiles, dataset=dataset)
            gap = oracle_gap_table(part, oracle, proxy_of)
            gap.insert(0, "dataset", dataset)
            gap.insert(1, "replicate", replicate)
            parts.append(gap)
    return pd.concat(parts, ignore_index=True)


def pooled_oracle_gaps(gaps: pd.DataFrame) -> pd.DataFrame:
    """One row per dataset, method and proxy over its replicates: answer-weighted means, the replicates, and the
    smallest and largest replicate's search's share."""
    rows = []
    for (dataset, method, proxy), part in gaps.groupby(["dataset", "method", "proxy"], sort=True):
        weights = part["answers"].to_numpy(float)
        mean = {column: float(np.average(part[column], weights=weights))
                for column in ("regret", "proxy_oracle_regret", "search_share", "at_least_oracle")}  # fmt: skip
        rows.append({"dataset": dataset, "method": method, "proxy": proxy, "replicates": int(part["replicate"].notna().sum()),
                     "answers": int(weights.sum()), **mean, "share_min": float(part["search_share"].min()),
                     "share_max": float(part["search_share"].max())})  # fmt: skip
    return pd.DataFrame(rows)


def oracle_gap_markdown(gaps: pd.DataFrame, command: str) -> str:
    """The page: the command, then one row per dataset, method and proxy, pooled over the replicates."""
    lines = [f"    {command}", "", "| dataset | method | proxy | replicates | answers | regret | proxy-oracle regret | "
             "search's share | search's share, per replicate | answers at least as good as the proxy-oracle |",
             "|---|---|---|---:|---:|---:|---:|---:|---|---:|"]  # fmt: skip
    for row in pooled_oracle_gaps(gaps).itertuples(index=False):
        spread = f"{row.share_min:+.2f} to {row.share_max:+.2f}" if row.replicates > 1 else "-"
        lines.append(f"| {row.dataset} | {row.method} | {row.proxy} | {row.replicates or '-'} | {row.answers} | "
                     f"{row.regret:.2f} | {row.proxy_oracle_regret:.2f} | {row.search_share:+.2f} | {spread} | "
                     f"{row.at_least_oracle:.0%} |")  # fmt: skip
    lines += ["", "A run is judged against the proxy-oracle of the draw it read (its proxy seed's table); the pooled "
              "columns weight each replicate by its answers. `-` replicates: runs that name no proxy seed."]
    return "\n".join(lines) + "\n"


__all__ = ["method_oracle_gaps", "oracle_gap_markdown", "pooled_oracle_gaps"]

"""Full-space fidelity: how every scored proxy ranks all NB201 isomorphism classes, and what a search can get from it.

Inputs: score tables (hwevrsnas.scores) holding every class, and the NB201 table. Classes are the
6,466 isomorphism classes; the 5 degenerate ones (output independent of the input) are left out,
as every proxy scores them trivially. A class's true accuracy is the mean 200-epoch test accuracy
of its member architectures (NB201 trained isomorphic twins separately; their mean is the best
estimate of the network's accuracy). Proxies: every proxy of the tables (representation
similarity: its score; zero-cost: its raw value, since their score is a rank over a 200-sample
reference and ties), #params and FLOPs of the class representative (C=16, N=5, NB201's counts),
and `<proxy>+params` for each trained proxy, the mean of its and #params' ranks over the same classes;
`az-nas` when the tables hold AZ-NAS's three members: its rank aggregate with FLOPs over the classes.

Reported per proxy and dataset (CIFAR-10; CIFAR-100 and ImageNet16-120 as transfer: the proxies
are computed on CIFAR-10 images against a CIFAR-10 reference):

- Kendall tau and Spearman rho over all classes, the top half and the top 10 % by true accuracy
  (percentile-bootstrap 95 % intervals over all classes);
- precision at 1 % and 5 %: the share of the proxy's top k % classes that are in the true top k %
  (ties broken by class order: the representatives' lexicographic order);
- the mean true accuracy of the proxy's top 10 classes;
- the proxy-oracle regret: for each device, metric and threshold, the regret of the feasible
  architecture of best proxy score (ties: lowest NB201 index) against the exact feasible optimum,
  both per architecture. A search that found the proxy's best feasible architecture would have it,
  so it is the error of the proxy alone, apart from the search's.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from hwevrsnas.scores import ScoreTable
from hwevrsnas.spaces import nb201

DATASETS = ("cifar10", "cifar100", "ImageNet16-120")
SUBSETS = ("all", "top half", "top 10%")
PRECISION_AT = (0.01, 0.05)
TOP_K = 10
QUANTILES = tuple(round(0.1 * i, 1) for i in range(1, 10))
# AZ-NAS (Lee & Ham, CVPR 2024): its rank aggregate of FLOPs and its three zero-cost members, when a table has them.
AZ_NAS = "az-nas"
AZ_NAS_MEMBERS = ("zc:az_expressivity", "zc:az_progressivity", "zc:az_trainability")


def class_frame(table: Any) -> pd.DataFrame:
    """One row per isomorphism class (representatives in lexicographic order): NB201 index of the representative,
    degenerate flag, and the mean accuracy of the class's members on each dataset."""
    reps = nb201.class_representatives()
    index = table.indices_of_ops(reps)
    members = table.iso_class  # the class id of every architecture: its first member's index
    frame = pd.DataFrame({"index": index, "iso_class": members[index], "degenerate": nb201.degenerate_mask(reps)})
    for dataset in DATASETS:
        by_class = pd.Series(table.accuracy(slice(None), dataset)).groupby(members).mean()
        frame[dataset] = by_class.reindex(frame["iso_class"]).to_numpy()
    frame["params"] = nb201.params_mb(reps)
    frame["flops"] = nb201.flops_m(reps)
    return frame


def proxy_scores(tables: Sequence[ScoreTable], n_classes: int) -> pd.DataFrame:
    """Every proxy of the score tables as a column aligned with the class list (zero-cost: raw values)."""
    columns: dict[str, np.ndarray] = {}
    for table in tables:
        for name, proxy in table.proxies.items():
            values = np.full(n_classes, np.nan)
            ok = proxy.status == "ok"
            source = proxy.raw if proxy.identity.get("kind") == "zc" else proxy.score
            values[table.positions[ok]] = source[ok]
            columns[proxy.label] = values
    return pd.DataFrame(columns)


def with_rank_means(scores: pd.DataFrame, partner: str = "params") -> pd.DataFrame:
    """Add `<proxy>+<partner>`: the mean of both average ranks, over the classes where both are known."""
    out = scores.copy()
    for column in [c for c in scores.columns if c != partner]:
        both = out[column].notna() & out[partner].notna()
        combined = pd.Series(np.nan, index=out.index)
        combined[both] = (out.loc[both, column].rank() + out.loc[both, partner].rank()) / 2
        out[f"{column}+{partner}"] = combined
    return out


def az_nas_column(scores: pd.DataFrame, classes: pd.DataFrame) -> np.ndarray:
    """AZ-NAS's rank aggregate of FLOPs and its three members, ranked over the non-degenerate classes (NaN for the
    others), as AZ-NAS ranks the architectures it is given."""
    from hwevrsnas.proxy.zerocost_az_meco_zico import az_nas_rank_aggregate

    live = ~classes["degenerate"].to_numpy()
    out = np.full(len(classes), np.nan)
    out[live] = az_nas_rank_aggregate([classes["flops"].to_numpy()[live], *(scores[m].to_numpy()[live] for m in AZ_NAS_MEMBERS)])
    return out


def _top(values: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k largest values, ties broken by position (a stable sort)."""
    return np.argsort(-values, kind="stable")[:k]


def _bootstrap(x: np.ndarray, y: np.ndarray, n_boot: int, seed: int) -> tuple[float, float, float, float]:
    rng = np.random.default_rng(seed)
    taus, rhos = [], []
    for _ in range(n_boot):
        sample = rng.integers(0, len(x), len(x))
        taus.append(stats.kendalltau(x[sample], y[sample]).statistic)
        rhos.append(stats.spearmanr(x[sample], y[sample]).statistic)
    return (*np.nanpercentile(taus, [2.5, 97.5]), *np.nanpercentile(rhos, [2.5, 97.5]))  # type: ignore[return-value]


def fidelity_table(scores: pd.DataFrame, classes: pd.DataFrame, n_boot: int = 200, seed: int = 0) -> pd.DataFrame:
    """One row per (proxy, dataset, subset): n, tau, rho (intervals on `all`), precision at 1 % and 5 %, top-10 accuracy."""
    keep = ~classes["degenerate"].to_numpy()
    rows = []
    for dataset in DATASETS:
        truth_all = classes[dataset].to_numpy()[keep]
        order = np.argsort(-truth_all, kind="stable")
        subsets = {"all": np.arange(len(truth_all)), "top half": order[: len(order) // 2],
                   "top 10%": order[: len(order) // 10]}  # fmt: skip
        for proxy in scores.columns:
            values_all = scores[proxy].to_numpy()[keep]
            for subset, rows_of in subsets.items():
                values, truth = values_all[rows_of], truth_all[rows_of]
                known = ~np.isnan(values)
                values, truth = values[known], truth[known]
                row: dict[str, Any] = {"proxy": proxy, "dataset": dataset, "subset": subset, "n": len(values)}
                row["kendall_tau"] = float(stats.kendalltau(values, truth).statistic)
                row["spearman_rho"] = float(stats.spearmanr(values, truth).statistic)
                if subset == "all" and n_boot:
                    row["tau_lo"], row["tau_hi"], row["rho_lo"], row["rho_hi"] = _bootstrap(values, truth, n_boot, seed)
                if subset == "all":
                    for fraction in PRECISION_AT:
                        k = math.ceil(fraction * len(values))
                        hits = np.intersect1d(_top(values, k), _top(truth, k)).size
                        row[f"precision_{fraction:.0%}"] = hits / k
                    row["top10_accuracy"] = float(truth[_top(values, TOP_K)].mean())
                    row["best_accuracy"] = float(truth.max())
                rows.append(row)
    return pd.DataFrame(rows)


def proxy_oracle_regret(
    scores: pd.DataFrame, classes: pd.DataFrame, table: Any, slices: Sequence[tuple[str, str]],
    quantiles: Sequence[float] = QUANTILES, dataset: str = "cifar10",
) -> pd.DataFrame:
    """Per (proxy, device, metric, quantile): the regret of the proxy's best feasible architecture (see the module)."""
    position = {int(i): p for p, i in enumerate(classes["iso_class"])}
    class_of = np.array([position[int(c)] for c in table.iso_class])
    accuracy = table.accuracy(slice(None), dataset)
    degenerate = classes["degenerate"].to_numpy()[class_of]
    rows = []
    for device, metric in slices:
        column = table.cost_column(f"{device}_{metric}", dataset)
        present = column[~np.isnan(column)]
        for q in quantiles:
            threshold = float(np.quantile(present, q))
            feasible = ~np.isnan(column) & (column <= threshold)
            optimum = float(accuracy[feasible].max())
            for proxy in scores.columns:
                arch_score = scores[proxy].to_numpy()[class_of]
                candidates = feasible & ~np.isnan(arch_score) & ~degenerate
                if not candidates.any():
                    continue
                best = np.where(candidates, arch_score, -np.inf)
                pick = int(np.flatnonzero(best == best.max())[0])
                rows.append({"proxy": proxy, "device": device, "metric": metric, "quantile": q,
                             "threshold": threshold, "index": pick, "regret": optimum - float(accuracy[pick])})  # fmt: skip
    return pd.DataFrame(rows)


def oracle_gap_table(runs: pd.DataFrame, oracle: pd.DataFrame, proxy_of: dict[str, str]) -> pd.DataFrame:
    """Each search method's regret beside the proxy-oracle regret of the proxy it searches with, on the same settings.

    `runs`: rows of `analysis.collect` (one per answer); `oracle`: `proxy_oracle_regret` rows; `proxy_of`: method ->
    oracle proxy column. A run row is matched on (device, metric, quantile). Per method: settings matched, the mean
    regret of its feasible answers, the proxy-oracle's mean regret on the same rows, their difference (the search's
    share of the regret), and the share of answers at least as accurate as the proxy-oracle's pick.
    """
    keyed = oracle.assign(quantile=oracle["quantile"].round(6)).set_index(["proxy", "device", "metric", "quantile"])["regret"]
    rows = []
    for method, part in runs.groupby("method", sort=True):
        proxy = proxy_of.get(method)
        if proxy is None:
            continue
        keys = [(proxy, d, m, round(float(q), 6)) for d, m, q in zip(part["device"], part["metric"], part["quantile"])]
        reference = np.array([keyed.get(k, np.nan) for k in keys], dtype=float)
        regret = part["regret"].to_numpy(dtype=float)
        both = ~np.isnan(reference) & ~np.isnan(regret)
        if not both.any():
            continue
        rows.append({
            "method": method, "proxy": proxy, "answers": int(both.sum()), "regret": float(regret[both].mean()),
            "proxy_oracle_regret": float(reference[both].mean()),
            "search_share": float((regret[both] - reference[both]).mean()),
            "at_least_oracle": float((regret[both] <= reference[both] + 1e-9).mean()),
        })  # fmt: skip
    return pd.DataFrame(rows)


def hwnasbench_slices() -> list[tuple[str, str]]:
    """The (device, metric) pairs of HW-NAS-Bench's NB201 CIFAR-10 costs: six latencies and three energies."""
    from hwevrsnas.search.costs import COST_METRICS
    from hwevrsnas.tables.metrics import HWNASBENCH_METRICS

    return [(device, metric) for device, metric in HWNASBENCH_METRICS if metric in COST_METRICS]


def summary_markdown(fidelity: pd.DataFrame, oracle: pd.DataFrame) -> str:
    """The Markdown tables of docs/FIDELITY.md: CIFAR-10 fidelity, transfer, and proxy-oracle regret per device."""
    c10 = fidelity[fidelity["dataset"] == "cifar10"]
    every = c10[c10["subset"] == "all"].set_index("proxy")
    half = c10[c10["subset"] == "top half"].set_index("proxy")
    tenth = c10[c10["subset"] == "top 10%"].set_index("proxy")
    order = every.sort_values("kendall_tau", ascending=False).index
    lines = [
        "| proxy | Kendall tau | Spearman rho | tau, top half | tau, top 10 % | precision 1 % | precision 5 % "
        "| top-10 accuracy |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for proxy in order:
        row = every.loc[proxy]
        lines.append(
            f"| {proxy} | {row['kendall_tau']:.3f} [{row['tau_lo']:.3f}, {row['tau_hi']:.3f}] "
            f"| {row['spearman_rho']:.3f} [{row['rho_lo']:.3f}, {row['rho_hi']:.3f}] | {half.loc[proxy, 'kendall_tau']:.3f} "
            f"| {tenth.loc[proxy, 'kendall_tau']:.3f} | {row['precision_1%']:.2f} | {row['precision_5%']:.2f} "
            f"| {row['top10_accuracy']:.2f} |"
        )
    lines.append(f"\nBest class accuracy: {every['best_accuracy'].iloc[0]:.2f} % (n = {int(every['n'].iloc[0])} classes).\n")
    transfer = fidelity[fidelity["subset"] == "all"].pivot(index="proxy", columns="dataset", values="kendall_tau")
    lines += ["| proxy | tau CIFAR-10 | tau CIFAR-100 (transfer) | tau ImageNet16-120 (transfer) |", "|---|---:|---:|---:|"]
    for proxy in order:
        row = transfer.loc[proxy]
        lines.append(f"| {proxy} | {row['cifar10']:.3f} | {row['cifar100']:.3f} | {row['ImageNet16-120']:.3f} |")
    mean = oracle.pivot_table(index="proxy", columns=["device", "metric"], values="regret", aggfunc="mean")
    columns = list(mean.columns)
    lines += [
        "",
        "| proxy | " + " | ".join(f"{d} {m}" for d, m in columns) + " | mean |",
        "|---|" + "---:|" * (len(columns) + 1),
    ]
    for proxy in mean.mean(axis=1).sort_values().index:
        cells = " | ".join(f"{mean.loc[proxy, c]:.2f}" for c in columns)
        lines.append(f"| {proxy} | {cells} | {mean.loc[proxy].mean():.2f} |")
    return "\n".join(lines) + "\n"


def full_space_fidelity(
    tables: Sequence[ScoreTable], nb201_table: Any, n_boot: int = 200, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The fidelity and proxy-oracle tables of score tables that hold every class."""
    for table in tables:
        if not table.complete:
            raise ValueError(f"{table.path} holds {table.rows} classes, not all; full-space fidelity needs every class")
    classes = class_frame(nb201_table)
    scores = proxy_scores(tables, len(classes))
    # The tables' own #params and FLOPs columns rank classes as the analytic counts do; keep one of each.
    scores = scores.drop(columns=[c for c in ("zc:params", "zc:flops") if c in scores.columns])
    trained = [c for c in scores.columns if not c.startswith("zc:")]
    scores["params"] = classes["params"]
    scores = pd.concat([scores, with_rank_means(scores[[*trained, "params"]]).drop(columns=[*trained, "params"])], axis=1)
    scores["flops"] = classes["flops"]
    if all(member in scores for member in AZ_NAS_MEMBERS):
        scores[AZ_NAS] = az_nas_column(scores, classes)
    fidelity = fidelity_table(scores, classes, n_boot, seed)
    oracle = proxy_oracle_regret(scores, classes, nb201_table, hwnasbench_slices())
    return fidelity, oracle


__all__ = [
    "AZ_NAS", "DATASETS", "az_nas_column", "QUANTILES", "class_frame", "fidelity_table", "full_space_fidelity", "hwnasbench_slices", "oracle_gap_table",
    "proxy_oracle_regret", "proxy_scores", "summary_markdown", "with_rank_means",
]  # fmt: skip

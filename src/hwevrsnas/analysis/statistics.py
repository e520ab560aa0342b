"""Statistics on independent units: bootstrap intervals and paired Wilcoxon comparisons between search methods.

Units. An answer is one (setting, seed), a setting is (space, dataset, cost_dataset, device, metric,
threshold) and a slice is a setting without its threshold. The seeds of a setting are independent
searches; the settings of a slice are not independent of each other: their thresholds are nested cuts
of one cost column, and a multi-threshold run answers all of them in one search. Hence:

- `bootstrap_ci` resamples values that are independent, such as the seeds of one setting.
- `cluster_bootstrap_ci` is for a mean pooled over settings: it resamples slices, then the thresholds
  within each drawn slice, and keeps every seed of a drawn setting.
- `paired_comparisons` pairs two methods' answers by setting and seed (PAIR_KEYS; a seed's runs over
  several proxy seeds, crossed, averaged first), averages each setting's differences over its seeds and
  tests over settings, so n counts settings, never answers.
  A multi-threshold method's answer at a threshold pairs with the other method's answer there. The
  difference is method A minus method B (for regret, negative means A is better).
- `replicate_verdicts` asks the same of each proxy replicate apart (the draw of the proxy a run read): a
  conclusion that holds on one draw may vanish on another of the same quality, so a finding names the
  replicates it holds on.

Test: the Wilcoxon signed-rank test (`scipy.stats.wilcoxon`, two-sided) with
`zero_method="zsplit"`: a zero difference (both methods returned architectures of equal
accuracy, often the same one) is kept and its rank split evenly between the positive and the
negative sums. It therefore counts as evidence of no difference, so the test stays conservative
when methods often tie, where "wilcox" would drop the ties and test only the pairs that differ.
All-zero differences give p = 1 (scipy's statistic is undefined there); no usable pair gives p = NaN.
p-values are Holm-corrected (statsmodels) over every comparison of the table (the family).
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

from hwevrsnas.analysis.collect import SETTING_KEYS

ZERO_METHOD = "zsplit"
PAIR_KEYS = (*SETTING_KEYS, "seed")
SLICE_KEYS = SETTING_KEYS[:-1]
SETTING_UNIT = "setting"
# Accuracy points carry float noise (~1e-13), and a mean over seeds adds more: differences are rounded
# to this many decimals before a sign or a tie is decided.
TIE_DECIMALS = 9


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")


def _percentile_interval(replicates: np.ndarray, level: float) -> tuple[float, float]:
    alpha = (1 - level) / 2
    lo, hi = np.quantile(replicates, [alpha, 1 - alpha])
    return float(lo), float(hi)


def bootstrap_ci(
    values: Sequence[float] | np.ndarray, n_boot: int = 2000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile-bootstrap interval of the mean of independent values (NaNs dropped; (nan, nan) when empty)."""
    x = np.asarray(values, dtype=float).ravel()
    x = x[~np.isnan(x)]
    _check_level(level)
    if x.size == 0:
        return math.nan, math.nan
    if x.size == 1 or np.all(x == x[0]):
        return float(x[0]), float(x[0])
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(n_boot, x.size))].mean(axis=1)
    return _percentile_interval(means, level)


def unit_counts(df: pd.DataFrame) -> dict[str, Any]:
    """The unit ("setting") of a summary pooled over the rows of df, n (its settings) and n_slices."""
    return {
        "unit": SETTING_UNIT,
        "n": len(df.drop_duplicates(list(SETTING_KEYS))),
        "n_slices": len(df.drop_duplicates(list(SLICE_KEYS))),
    }


def _setting_totals(df: pd.DataFrame, column: str) -> pd.DataFrame:
    """Per setting with a value: the sum and count of `column` over its rows, and the setting's slice number."""
    present = df[df[column].notna()]
    totals = present.groupby(list(SETTING_KEYS), sort=True, dropna=False)[column].agg(["sum", "count"]).reset_index()
    totals["slice"] = totals.groupby(list(SLICE_KEYS), sort=True, dropna=False).ngroup()
    return totals


def _cluster_weights(slice_of: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot, settings) multiplicities of a two-level resample: slices with replacement, then the settings
    (thresholds) of each drawn slice with replacement."""
    n_slices = int(slice_of.max()) + 1
    slice_draws = rng.multinomial(n_slices, np.full(n_slices, 1 / n_slices), size=n_boot)
    weights = np.zeros((n_boot, slice_of.size))
    for s in range(n_slices):
        members = np.flatnonzero(slice_of == s)
        # A slice drawn k times contributes k independent draws of its T thresholds; only the total count of each
        # threshold matters to a mean, and that total is one multinomial of k * T draws, for all replicates at once.
        weights[:, members] = rng.multinomial(slice_draws[:, s] * members.size, np.full(members.size, 1 / members.size))
    return weights


def cluster_bootstrap_ci(
    df: pd.DataFrame, column: str, n_boot: int = 2000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile interval of the mean of `column` over the rows of df (NaNs dropped), resampling slices, then
    thresholds within each drawn slice; every row of a drawn setting is kept. (nan, nan) when nothing is left."""
    _check_level(level)
    totals = _setting_totals(df, column)
    if totals.empty:
        return math.nan, math.nan
    per_setting = totals["sum"].to_numpy() / totals["count"].to_numpy()
    if np.all(per_setting == per_setting[0]):  # the ratio of weighted sums would add rounding noise to a constant
        return float(per_setting[0]), float(per_setting[0])
    weights = _cluster_weights(totals["slice"].to_numpy(), n_boot, np.random.default_rng(seed))
    means = (weights @ totals["sum"].to_numpy(float)) / (weights @ totals["count"].to_numpy(float))
    return _percentile_interval(means, level)


def _signed_rank_statistic(ranks: np.ndarray):
    """Vectorised zsplit signed-rank sum R+ of sign-flipped copies of d (the ranks of |d| do not change under flips)."""

    def statistic(d: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.sum(ranks * ((d > 0) + 0.5 * (d == 0)), axis=axis)

    return statistic


def wilcoxon_p(differences: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """(min(R+, R-), two-sided p) of the Wilcoxon signed-rank test with zsplit; p = 1 if all zero, NaN if empty.

    Differences are rounded to TIE_DECIMALS first, so float noise neither breaks a zero nor a tie. Like
    scipy's method="auto": exact distribution without zeros or ties (n <= 50), else the exact sign-flip
    permutation distribution for n <= 13, else the normal approximation with continuity correction; the
    permutation case is computed vectorised here (scipy's own loop takes seconds), giving the same p-value.
    """
    d = np.asarray(differences, dtype=float).ravel()
    d = np.round(d[~np.isnan(d)], TIE_DECIMALS)
    if d.size == 0:
        return math.nan, math.nan
    if np.all(d == 0):
        return 0.0, 1.0
    ranks = stats.rankdata(np.abs(d))
    has_ties_or_zeros = bool(np.any(d == 0) or len(np.unique(np.abs(d))) < d.size)
    if has_ties_or_zeros and d.size <= 13:
        statistic = _signed_rank_statistic(ranks)
        r_plus = float(statistic(d))
        result = stats.permutation_test(
            (d,), statistic, permutation_type="samples", vectorized=True, n_resamples=np.inf, alternative="two-sided"
        )
        return min(r_plus, float(ranks.sum()) - r_plus), float(result.pvalue)
    result = stats.wilcoxon(d, zero_method=ZERO_METHOD, alternative="two-sided")
    return float(result.statistic), float(result.pvalue)


def paired_frame(df: pd.DataFrame, a: str, b: str, metric: str = "regret") -> pd.DataFrame:
    """The answers of labels a and b paired by setting and seed: PAIR_KEYS, `a`, `b` (metric values), `diff` = a - b.

    A seed's answer is the mean over its proxy seeds: a crossed grid (`proxy.pairing: crossed`) has a run per proxy
    seed of each (setting, seed) of a proxy method, and one of a method without a proxy."""
    keys = list(PAIR_KEYS)

    def answers(label: str, column: str) -> pd.DataFrame:
        runs = df.loc[df["label"] == label, [*keys, metric]]
        return runs.groupby(keys, sort=False, dropna=False)[metric].mean().rename(column).reset_index()

    pairs = answers(a, "a").merge(answers(b, "b"), on=keys, how="inner", validate="one_to_one")
    pairs = pairs.dropna(subset=["a", "b"])
    pairs["diff"] = pairs["a"] - pairs["b"]
    return pairs.reset_index(drop=True)


def setting_means(pairs: pd.DataFrame) -> pd.DataFrame:
    """One row per setting of a paired frame: SETTING_KEYS and the means of `a`, `b` and `diff` over its seeds."""
    return pairs.groupby(list(SETTING_KEYS), sort=True, dropna=False)[["a", "b", "diff"]].mean().reset_index()


def _comparison_row(settings: pd.DataFrame, n_boot: int, seed: int, level: float) -> dict[str, Any]:
    """The comparison's numbers over the settings of `setting_means`: each setting counts once."""
    d = settings["diff"].to_numpy()
    signs = np.round(d, TIE_DECIMALS)
    statistic, p = wilcoxon_p(d)
    lo, hi = cluster_bootstrap_ci(settings, "diff", n_boot=n_boot, seed=seed, level=level)
    return {
        **unit_counts(settings),
        "mean_a": float(settings["a"].mean()), "mean_b": float(settings["b"].mean()),
        "mean_diff": float(d.mean()), "diff_lo": lo, "diff_hi": hi,
        "n_a_lower": int((signs < 0).sum()), "n_b_lower": int((signs > 0).sum()), "n_ties": int((signs == 0).sum()),
        "statistic": statistic, "p_value": p,
    }  # fmt: skip


def comparison_notes(n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> list[str]:
    """The notes written under a comparisons table: its unit, its n, the interval and the test."""
    return [
        "Unit: the setting (space, dataset, cost dataset, device, metric, threshold). The two methods' answers are "
        "paired by setting and seed; a setting's a, b and diff are their means over the seeds both methods answered "
        "there, so each setting counts once: n = settings paired (not answers), in n_slices slices (a setting "
        "without its threshold). diff = method_a - method_b (regret: negative = a better); mean_a, mean_b, "
        "mean_diff: means over the n settings; n_a_lower, n_b_lower, n_ties: settings where a's mean is lower, b's "
        "is lower, or both are equal. A multi-threshold method's answer at a threshold pairs with the other "
        "method's answer at that threshold and seed.",
        f"[diff_lo, diff_hi]: cluster-bootstrap {level:.0%} interval of mean_diff ({n_boot} resamples, seed {seed}): "
        "the n_slices slices resampled with replacement, then the thresholds within each drawn slice.",
        f"p_value: two-sided Wilcoxon signed-rank test over the n settings' differences, zero_method={ZERO_METHOD!r} "
        "(ties kept, their ranks split between both signs: conservative when methods return equally good "
        "architectures); all-zero differences give p = 1. p_holm: Holm step-down correction (statsmodels "
        "multipletests) over all comparisons of this table.",
        "The test treats settings as independent. The nested thresholds of one slice are not (they cut one cost "
        "column, and a multi-threshold run answers all of them in one search), so p-values remain optimistic; the "
        "interval, which resamples whole slices, does not assume it.",
    ]


def paired_comparisons(
    df: pd.DataFrame,
    metric: str = "regret",
    by: Sequence[str] = (),
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> pd.DataFrame:
    """Per pair of methods (labels; per `by` group), over the settings both answered: unit, n settings, n slices,
    means, mean a - b with its cluster-bootstrap interval, Wilcoxon p over settings, Holm p. Notes in attrs."""
    if metric not in df.columns:
        raise KeyError(f"metric {metric!r} is not a column of the runs; valid: {', '.join(map(str, df.columns))}")
    rows = []
    groups = df.groupby(list(by), sort=True, dropna=False) if by else [((), df)]
    for group, part in groups:
        group = group if isinstance(group, tuple) else (group,)
        labels = sorted(part["label"].unique())
        for a, b in itertools.combinations(labels, 2):
            pairs = paired_frame(part, a, b, metric)
            if pairs.empty:
                continue
            head = {**dict(zip(by, group)), "metric": metric, "method_a": a, "method_b": b}
            rows.append({**head, **_comparison_row(setting_means(pairs), n_boot, seed, level)})
    columns = [*by, "metric", "method_a", "method_b", "unit", "n", "n_slices", "mean_a", "mean_b", "mean_diff",
               "diff_lo", "diff_hi", "n_a_lower", "n_b_lower", "n_ties", "statistic", "p_value"]  # fmt: skip
    out = pd.DataFrame(rows, columns=columns)
    out["p_holm"] = multipletests(out["p_value"].to_numpy(float), method="holm")[1]
    out.attrs["notes"] = comparison_notes(n_boot, seed, level)
    return out


def replicate_pairs(df: pd.DataFrame, a: str, b: str, metric: str = "regret") -> pd.DataFrame:
    """The answers of labels a and b paired by setting, seed and proxy replicate: PAIR_KEYS, `replicate`, `a`, `b`,
    `diff`. A run without a proxy seed (rea-valid12, the oracle) pairs with the other method's run of its setting
    and seed, in that run's replicate; two methods without one have no replicate (empty frame)."""
    keys = [*PAIR_KEYS, "proxy_seed"]

    def answers(label: str, column: str) -> pd.DataFrame:
        runs = df.loc[df["label"] == label, [*keys, metric]]
        return runs.groupby(keys, sort=False, dropna=False)[metric].mean().rename(column).reset_index()

    left, right = answers(a, "a"), answers(b, "b")
    left_has, right_has = left["proxy_seed"].notna().any(), right["proxy_seed"].notna().any()
    if left_has and right_has:
        pairs = left.merge(right, on=keys, how="inner", validate="one_to_one")
    elif left_has or right_has:
        with_seed, without = (left, right) if left_has else (right, left)
        pairs = with_seed.merge(without.drop(columns="proxy_seed"), on=list(PAIR_KEYS), how="inner")
    else:
        return pd.DataFrame(columns=[*PAIR_KEYS, "replicate", "a", "b", "diff"])
    pairs = pairs.dropna(subset=["a", "b", "proxy_seed"]).rename(columns={"proxy_seed": "replicate"})
    pairs["replicate"] = pairs["replicate"].astype(int)
    pairs["diff"] = pairs["a"] - pairs["b"]
    return pairs.reset_index(drop=True)


def replicate_verdicts(
    df: pd.DataFrame,
    metric: str = "regret",
    at: str = "stop",
    labels: Sequence[str] | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> pd.DataFrame:
    """Per pair of labels (those given, else all), each proxy replicate's comparison over settings as
    `paired_comparisons` makes it, summarised: how many replicates, the settings each rests on, the mean of the
    replicates' mean differences, their range, on how many replicates a is lower or b is lower (the replicate's
    cluster-bootstrap interval excludes 0) and each replicate's mean difference. `at` labels the rows (the
    methods' own stop, or a budget)."""
    rows = []
    names = sorted(df["label"].unique()) if labels is None else sorted(labels)
    for a, b in itertools.combinations(names, 2):
        pairs = replicate_pairs(df, a, b, metric)
        if pairs.empty:
            continue
        per_replicate = []
        for replicate, part in pairs.groupby("replicate", sort=True):
            settings = setting_means(part)
            lo, hi = cluster_bootstrap_ci(settings, "diff", n_boot=n_boot, seed=seed, level=level)
            per_replicate.append({"replicate": int(replicate), "n": len(settings),
                                  "mean_diff": float(settings["diff"].mean()), "lo": lo, "hi": hi})  # fmt: skip
        diffs = np.array([r["mean_diff"] for r in per_replicate])
        rows.append({
            "at": at, "metric": metric, "method_a": a, "method_b": b, "unit": SETTING_UNIT,
            "replicates": len(per_replicate), "n_min": min(r["n"] for r in per_replicate),
            "mean_diff": float(diffs.mean()), "diff_min": float(diffs.min()), "diff_max": float(diffs.max()),
            "a_lower_on": sum(r["hi"] < 0 for r in per_replicate), "b_lower_on": sum(r["lo"] > 0 for r in per_replicate),
            "per_replicate": " ".join(f"{r['replicate']}:{r['mean_diff']:+.3f}" for r in per_replicate),
        })  # fmt: skip
    columns = ["at", "metric", "method_a", "method_b", "unit", "replicates", "n_min", "mean_diff", "diff_min",
               "diff_max", "a_lower_on", "b_lower_on", "per_replicate"]  # fmt: skip
    out = pd.DataFrame(rows, columns=columns)
    out.attrs["notes"] = replicate_notes(n_boot, seed, level)
    return out


def replicate_notes(n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> list[str]:
    """The notes written under a replicate-verdict table."""
    return [
        "A replicate is one draw of the proxy (its proxy seed: the batch and the initialisations); every run of a "
        "row's replicate read that draw. Within a replicate the unit is the setting, as in the comparisons table: "
        "the two methods' answers are paired by setting and seed and averaged over seeds; n_min: the fewest "
        "settings a replicate's comparison rests on. A pair of methods that read no proxy has no row.",
        "diff = method_a - method_b (regret: negative = a better); mean_diff: the mean over replicates of each "
        "replicate's mean difference over its settings; [diff_min, diff_max]: their range; per_replicate: each "
        "replicate's mean difference (replicate:diff).",
        f"a_lower_on / b_lower_on: the replicates whose cluster-bootstrap {level:.0%} interval of the mean difference "
        f"({n_boot} resamples, seed {seed}; slices, then thresholds within them) lies below / above 0. A finding "
        "holds on the replicates it counts; the others leave it open or reverse it.",
        "at: `stop` compares each method's final answer (its own stop); a number compares the answers after that "
        "many unique evaluations, among the methods with an anytime trajectory.",
    ]


__all__ = [
    "PAIR_KEYS", "SETTING_UNIT", "SLICE_KEYS", "ZERO_METHOD", "bootstrap_ci", "cluster_bootstrap_ci",
    "comparison_notes", "paired_comparisons", "paired_frame", "replicate_notes", "replicate_pairs",
    "replicate_verdicts", "setting_means", "unit_counts", "wilcoxon_p",
]  # fmt: skip

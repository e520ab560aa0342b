"""Bootstrap intervals, Holm correction and paired Wilcoxon comparisons between search methods.

Paired comparisons: two methods are compared on the runs they share, a pair being the two runs
with the same (space, dataset, cost_dataset, device, metric, threshold, seed); every setting the
two methods share contributes its seeds, so one comparison pools all settings (pass `by` to
split, e.g. by device). The difference is method A minus method B (for regret, negative means A
is better).

Test: the Wilcoxon signed-rank test (`scipy.stats.wilcoxon`, two-sided) with
`zero_method="zsplit"`: a zero difference (both methods returned architectures of equal
accuracy, often the same one) is kept and its rank split evenly between the positive and the
negative sums. It therefore counts as evidence of no difference, so the test stays conservative
when methods often tie, where "wilcox" would drop the ties and test only the pairs that differ.
All-zero differences give p = 1 (scipy's statistic is undefined there); fewer than one usable
pair gives p = NaN. p-values are Holm-corrected over every comparison of the table (the family).
"""

from __future__ import annotations

import itertools
import math
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from hwevrsnas.analysis.collect import SETTING_KEYS

ZERO_METHOD = "zsplit"
PAIR_KEYS = (*SETTING_KEYS, "seed")


def bootstrap_ci(
    values: Sequence[float] | np.ndarray, n_boot: int = 2000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile-bootstrap interval of the mean (NaNs dropped; (nan, nan) when empty), vectorised."""
    x = np.asarray(values, dtype=float).ravel()
    x = x[~np.isnan(x)]
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    if x.size == 0:
        return math.nan, math.nan
    if x.size == 1 or np.all(x == x[0]):
        return float(x[0]), float(x[0])
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(n_boot, x.size))].mean(axis=1)
    alpha = (1 - level) / 2
    lo, hi = np.quantile(means, [alpha, 1 - alpha])
    return float(lo), float(hi)


def holm(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values (NaNs stay NaN and are not counted in the family), vectorised."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    m = valid.size
    if m == 0:
        return out
    order = valid[np.argsort(p[valid], kind="stable")]
    scaled = (m - np.arange(m)) * p[order]
    out[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return out


def _signed_rank_statistic(ranks: np.ndarray):
    """Vectorised zsplit signed-rank sum R+ of sign-flipped copies of d (the ranks of |d| do not change under flips)."""

    def statistic(d: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.sum(ranks * ((d > 0) + 0.5 * (d == 0)), axis=axis)

    return statistic


def wilcoxon_p(differences: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """(min(R+, R-), two-sided p) of the Wilcoxon signed-rank test with zsplit; p = 1 if all zero, NaN if empty.

    Differences are rounded to 1e-9 first, so float noise (accuracy points carry ~1e-13) neither
    breaks a zero nor a tie. Like scipy's method="auto": exact distribution without zeros or ties
    (n <= 50), else the exact sign-flip permutation distribution for n <= 13, else the normal
    approximation with continuity correction; the permutation case is computed vectorised here
    (scipy's own loop takes seconds), giving the same p-value.
    """
    d = np.asarray(differences, dtype=float).ravel()
    d = np.round(d[~np.isnan(d)], 9)
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
    """The runs of labels a and b paired by setting and seed: PAIR_KEYS, `a`, `b` (metric values), `diff` = a - b."""
    keys = list(PAIR_KEYS)
    left = df.loc[df["label"] == a, [*keys, metric]].rename(columns={metric: "a"})
    right = df.loc[df["label"] == b, [*keys, metric]].rename(columns={metric: "b"})
    pairs = left.merge(right, on=keys, how="inner", validate="one_to_one")
    pairs = pairs.dropna(subset=["a", "b"])
    pairs["diff"] = pairs["a"] - pairs["b"]
    return pairs.reset_index(drop=True)


def paired_comparisons(
    df: pd.DataFrame,
    metric: str = "regret",
    by: Sequence[str] = (),
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> pd.DataFrame:
    """Per pair of methods (labels; per `by` group): n pairs, means, mean a - b with CI, Wilcoxon p, Holm p."""
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
            d = pairs["diff"].to_numpy()
            statistic, p = wilcoxon_p(d)
            lo, hi = bootstrap_ci(d, n_boot=n_boot, seed=seed, level=level)
            rows.append(
                {
                    **dict(zip(by, group)),
                    "metric": metric, "method_a": a, "method_b": b, "n_pairs": len(pairs),
                    "n_settings": len(pairs.drop_duplicates(list(SETTING_KEYS))),
                    "mean_a": float(pairs["a"].mean()), "mean_b": float(pairs["b"].mean()),
                    "mean_diff": float(d.mean()), "diff_lo": lo, "diff_hi": hi,
                    "n_a_lower": int((d < 0).sum()), "n_b_lower": int((d > 0).sum()), "n_ties": int((d == 0).sum()),
                    "statistic": statistic, "p_value": p,
                }
            )  # fmt: skip
    columns = [*by, "metric", "method_a", "method_b", "n_pairs", "n_settings", "mean_a", "mean_b", "mean_diff",
               "diff_lo", "diff_hi", "n_a_lower", "n_b_lower", "n_ties", "statistic", "p_value"]  # fmt: skip
    out = pd.DataFrame(rows, columns=columns)
    out["p_holm"] = holm(out["p_value"].to_numpy())
    return out


__all__ = ["PAIR_KEYS", "ZERO_METHOD", "bootstrap_ci", "holm", "paired_comparisons", "paired_frame", "wilcoxon_p"]

"""Statistics on independent units: comparisons over settings (seeds averaged first), the cluster bootstrap over
slices and thresholds, the Holm correction, and the unit and n columns of the tables that use them.

The frames are synthetic: two slices (fpga latency, eyeriss energy) x three thresholds x five seeds, with values
chosen so that every expected number can be computed independently here.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from hwevrsnas.analysis.statistics import (
    _cluster_weights, bootstrap_ci, cluster_bootstrap_ci, comparison_notes, paired_comparisons,
)  # fmt: skip
from hwevrsnas.analysis.result_tables import anytime_table

SLICES = (("fpga", "latency"), ("eyeriss", "energy"))
THRESHOLDS = (1.0, 2.0, 3.0)
SEEDS = (0, 1, 2, 3, 4)
# Seed offsets that cancel in a setting's mean, so a setting's mean is exactly its base value.
SEED_OFFSETS = np.array([-0.02, -0.01, 0.0, 0.01, 0.02])


def answers(label: str, value: Callable[[int, int, int], float], slices=SLICES, thresholds=THRESHOLDS) -> pd.DataFrame:
    """One row per (slice, threshold, seed) of method `label`, regret = value(slice, threshold, seed) (positions)."""
    rows = [
        {"space": "nb201", "dataset": "cifar10", "cost_dataset": "cifar10", "device": device, "metric": metric,
         "threshold": threshold, "seed": seed, "label": label, "regret": value(s, t, k)}
        for s, (device, metric) in enumerate(slices) for t, threshold in enumerate(thresholds)
        for k, seed in enumerate(SEEDS)
    ]  # fmt: skip
    return pd.DataFrame(rows)


def by_setting(values: np.ndarray) -> np.ndarray:
    """(slices, thresholds, seeds) values -> the six setting means, slice-major (the order of the settings)."""
    return values.mean(axis=2).ravel()


# ---- comparisons over settings -------------------------------------------------------------------------------


def test_a_comparison_averages_the_seeds_of_a_setting_and_tests_over_settings() -> None:
    rng = np.random.default_rng(7)
    good = rng.normal(1.0, 0.4, size=(2, 3, 5))
    bad = good + 0.5 + rng.normal(0.0, 0.4, size=(2, 3, 5))
    df = pd.concat([answers("bad", lambda s, t, k: bad[s, t, k]), answers("good", lambda s, t, k: good[s, t, k])])

    row = paired_comparisons(df, "regret").iloc[0]

    diff = by_setting(bad) - by_setting(good)
    reference = stats.wilcoxon(diff, zero_method="zsplit", alternative="two-sided")
    assert (row["method_a"], row["method_b"], row["unit"]) == ("bad", "good", "setting")
    assert (row["n"], row["n_slices"]) == (6, 2)  # six settings paired, not 30 answers
    assert row["mean_a"] == pytest.approx(by_setting(bad).mean())
    assert row["mean_b"] == pytest.approx(by_setting(good).mean())
    assert row["mean_diff"] == pytest.approx(diff.mean())
    assert (row["n_a_lower"], row["n_b_lower"], row["n_ties"]) == ((diff < 0).sum(), (diff > 0).sum(), 0)
    assert row["statistic"] == reference.statistic and row["p_value"] == pytest.approx(reference.pvalue, rel=1e-12)
    assert row["diff_lo"] <= row["mean_diff"] <= row["diff_hi"]
    # The interval resamples the six setting differences, one row each, by slice and threshold.
    settings = answers("diff", lambda s, t, k: diff[3 * s + t])
    expected = cluster_bootstrap_ci(settings[settings["seed"] == 0], "regret")
    assert (row["diff_lo"], row["diff_hi"]) == pytest.approx(expected, rel=1e-12)


def test_seeds_missing_from_one_method_are_left_out_of_that_settings_mean() -> None:
    a = answers("a", lambda s, t, k: float(k))
    b = answers("b", lambda s, t, k: 0.0)
    a = a[~((a["device"] == "fpga") & (a["threshold"] == 1.0) & (a["seed"] == 4))]  # one seed not answered
    row = paired_comparisons(pd.concat([a, b])).iloc[0]
    # The setting without seed 4 averages seeds 0-3 (1.5), the other five average seeds 0-4 (2.0).
    assert (row["n"], row["n_slices"]) == (6, 2)
    assert row["mean_diff"] == pytest.approx((1.5 + 5 * 2.0) / 6)


def test_holm_over_the_comparisons_of_a_table_matches_a_hand_computation() -> None:
    # Setting means: a = base, b = base + d_b, c = base + d_c, seeds offset symmetrically around them.
    base = np.array([1.0, 2.0, 1.5, 0.5, 3.0, 2.5])
    d_b = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    d_c = np.array([-0.05, 0.15, 0.25, 0.35, 0.45, -0.55])
    frames = [answers(label, lambda s, t, k, m=means: m[3 * s + t] + SEED_OFFSETS[k])
              for label, means in (("a", base), ("b", base + d_b), ("c", base + d_c))]  # fmt: skip
    table = paired_comparisons(pd.concat(frames)).set_index(["method_a", "method_b"])
    # a - b: all six negative, R+ = 0: exact two-sided p = 2 / 2^6.
    # a - c: positive at |d| ranks 1 and 6, R+ = 7; subsets of {1..6} with sum <= 7: 18, p = 2 * 18 / 64.
    # b - c: [0.15, 0.05 x4, 1.15], all positive (ties: exact sign flips), p = 2 / 64.
    p = {("a", "b"): 2 / 64, ("a", "c"): 36 / 64, ("b", "c"): 2 / 64}
    for pair, expected in p.items():
        assert table.loc[pair, "p_value"] == pytest.approx(expected, rel=1e-12)
    # Holm: sorted 2/64, 2/64, 36/64 times 3, 2, 1, then a running maximum: 6/64, max(6/64, 4/64), 36/64.
    holm = {("a", "b"): 6 / 64, ("b", "c"): 6 / 64, ("a", "c"): 36 / 64}
    for pair, expected in holm.items():
        assert table.loc[pair, "p_holm"] == pytest.approx(expected, rel=1e-12)
    assert (table["n"] == 6).all() and (table["unit"] == "setting").all()


def test_equal_methods_tie_at_every_setting() -> None:
    a = answers("a", lambda s, t, k: 0.1 * (t + 1) + SEED_OFFSETS[k])
    table = paired_comparisons(pd.concat([a, a.assign(label="a-copy")]))
    assert table[["n", "n_ties", "p_value", "p_holm"]].values.tolist() == [[6, 6, 1.0, 1.0]]
    alone = paired_comparisons(a)  # one method: nothing to compare, the columns all the same
    assert alone.empty and list(alone.columns) == list(table.columns)


def test_the_notes_state_the_unit_the_n_and_the_interval() -> None:
    notes = " ".join(paired_comparisons(answers("a", lambda s, t, k: 0.0)).attrs["notes"])
    assert notes == " ".join(comparison_notes())
    assert "Unit: the setting" in notes and "n = settings paired (not answers)" in notes
    assert "cluster-bootstrap 95% interval" in notes and "2000 resamples, seed 0" in notes and "Holm" in notes


# ---- cluster bootstrap ---------------------------------------------------------------------------------------


def test_the_cluster_bootstrap_is_reproducible_for_a_seed() -> None:
    rng = np.random.default_rng(1)
    values = rng.normal(size=(2, 3, 5))
    df = answers("a", lambda s, t, k: values[s, t, k])
    lo, hi = cluster_bootstrap_ci(df, "regret", seed=3)
    assert cluster_bootstrap_ci(df, "regret", seed=3) == (lo, hi)
    assert cluster_bootstrap_ci(df, "regret", seed=4) != (lo, hi)
    assert lo <= df["regret"].mean() <= hi


def test_variation_between_slices_gives_an_interval_as_wide_as_their_spread() -> None:
    df = answers("a", lambda s, t, k: float(s))  # slice 0 is all 0, slice 1 all 1
    # Two slices drawn with replacement: both 0 (1/4), one each (1/2), both 1 (1/4); 2.5 % and 97.5 % fall on 0, 1.
    assert cluster_bootstrap_ci(df, "regret") == (0.0, 1.0)
    # Resampling the 30 answers as if independent would claim far more precision.
    lo, hi = bootstrap_ci(df["regret"])
    assert 0.2 < lo and hi < 0.8


def test_identical_slices_give_a_zero_width_interval_whatever_the_seeds() -> None:
    df = answers("a", lambda s, t, k: float(k))  # every setting's seeds are 0..4: every setting mean is 2
    assert cluster_bootstrap_ci(df, "regret") == (2.0, 2.0)
    lo, hi = bootstrap_ci(df["regret"])  # an answer-level bootstrap would resample the seeds
    assert hi - lo > 0.5


def test_thresholds_are_resampled_within_their_slice() -> None:
    one_slice = answers("a", lambda s, t, k: float(t), slices=SLICES[:1])  # variation between thresholds only
    lo, hi = cluster_bootstrap_ci(one_slice, "regret")
    assert lo < 1.0 < hi and 0.0 <= lo and hi <= 2.0
    # Slices with one and with three thresholds: a drawn slice brings as many threshold draws as it has thresholds.
    rng = np.random.default_rng(0)
    slice_of = np.array([0, 1, 1, 1])
    weights = _cluster_weights(slice_of, 500, rng)
    assert weights.shape == (500, 4) and (weights.sum(axis=1) >= 2).all()
    first, second = weights[:, 0], weights[:, 1:].sum(axis=1)
    assert ((second % 3) == 0).all() and ((first + second / 3) == 2).all()  # two slice draws per replicate
    assert {0.0, 1.0, 2.0} == set(first)


def test_the_interval_is_of_the_mean_over_answers_and_skips_missing_values() -> None:
    df = answers("a", lambda s, t, k: float(s) if k else math.nan)  # seed 0 has no regret (infeasible)
    assert df["regret"].mean() == 0.5
    assert cluster_bootstrap_ci(df, "regret") == (0.0, 1.0)
    assert all(math.isnan(v) for v in cluster_bootstrap_ci(df.assign(regret=math.nan), "regret"))
    with pytest.raises(ValueError, match="level"):
        cluster_bootstrap_ci(df, "regret", level=1.0)


# ---- the anytime table ----------------------------------------------------------------------------------------


def _at_budget(df: pd.DataFrame, budget: int) -> pd.DataFrame:
    return df.assign(budget=budget, status="ok", feasible=True, regret_penalised=df["regret"], seconds=1.0,
                     trajectory=True)  # fmt: skip


def test_the_anytime_table_counts_settings_and_resamples_slices() -> None:
    df = _at_budget(answers("a", lambda s, t, k: float(s) + SEED_OFFSETS[k]), 10)
    row = anytime_table(df).iloc[0]
    assert (row["unit"], row["n"], row["n_slices"], row["n_answers"]) == ("setting", 6, 2, 30)
    assert row["regret_mean"] == pytest.approx(0.5)
    assert (row["regret_lo"], row["regret_hi"]) == cluster_bootstrap_ci(df, "regret")
    assert row["regret_lo"] == pytest.approx(0.0, abs=0.02) and row["regret_hi"] == pytest.approx(1.0, abs=0.02)
    notes = " ".join(anytime_table(df).attrs["notes"])
    assert "Unit: the setting" in notes and "cluster-bootstrap 95 % interval" in notes


def test_a_seeds_runs_over_crossed_proxy_seeds_are_averaged_before_pairing() -> None:
    from hwevrsnas.analysis.statistics import paired_frame

    base = answers("oracle", lambda s, t, k: 0.0)
    crossed = pd.concat([answers("hw-evrsnas", lambda s, t, k, j=j: 1.0 + j).assign(proxy_seed=j) for j in range(3)])
    pairs = paired_frame(pd.concat([base, crossed]), "hw-evrsnas", "oracle")
    assert len(pairs) == len(base) and (pairs["diff"] == 2.0).all()


# ---- verdicts within each proxy replicate ------------------------------------------------------------------------


def matched(label: str, value: Callable[[int, int, int], float]) -> pd.DataFrame:
    """A proxy method of a matched grid: search seed k read proxy replicate k."""
    frame = answers(label, value)
    return frame.assign(proxy_seed=frame["seed"])


def test_replicate_verdicts_count_the_draws_a_difference_holds_on() -> None:
    from hwevrsnas.analysis.statistics import replicate_verdicts

    rng = np.random.default_rng(3)
    noise = rng.normal(0, 0.05, size=(2, 3, 5))
    # GA beats random by 1 point on draws 0-2, loses by 1 on draw 3, ties on draw 4: a one-draw headline either way.
    effect = np.array([-1.0, -1.0, -1.0, 1.0, 0.0])
    ga = matched("ga:quick", lambda s, t, k: 2.0 + effect[k] + noise[s, t, k])
    rand = matched("random:quick", lambda s, t, k: 2.0)
    rea = answers("rea-valid12", lambda s, t, k: 0.5).assign(proxy_seed=pd.NA)
    oracle = answers("oracle", lambda s, t, k: 0.0).assign(proxy_seed=pd.NA)
    out = replicate_verdicts(pd.concat([ga, rand, rea, oracle], ignore_index=True), n_boot=500)

    assert ("oracle", "rea-valid12") not in set(zip(out["method_a"], out["method_b"]))  # neither read a proxy
    row = out[(out["method_a"] == "ga:quick") & (out["method_b"] == "random:quick")].iloc[0]
    per_draw = (effect[None, None, :] + noise).mean(axis=(0, 1))  # six settings, one seed each per draw
    assert row["replicates"] == 5 and row["n_min"] == 6 and row["unit"] == "setting"
    assert row["mean_diff"] == pytest.approx(per_draw.mean(), abs=1e-12)
    assert row["diff_min"] == pytest.approx(per_draw.min(), abs=1e-12)
    assert row["diff_max"] == pytest.approx(per_draw.max(), abs=1e-12)
    assert (row["a_lower_on"], row["b_lower_on"]) == (3, 1)
    assert row["per_replicate"] == " ".join(f"{j}:{d:+.3f}" for j, d in enumerate(per_draw))

    # A method without a proxy pairs with the proxy method's run of its setting and seed, in that run's draw.
    row = out[(out["method_a"] == "ga:quick") & (out["method_b"] == "rea-valid12")].iloc[0]
    assert row["replicates"] == 5 and row["a_lower_on"] == 0 and row["b_lower_on"] == 5
    assert row["at"] == "stop" and any("replicate" in note for note in out.attrs["notes"])


def test_crossed_replicates_pair_the_runs_of_one_draw() -> None:
    from hwevrsnas.analysis.statistics import replicate_pairs

    a = pd.concat([answers("a", lambda s, t, k, j=j: 1.0 + j).assign(proxy_seed=j) for j in range(3)])
    b = pd.concat([answers("b", lambda s, t, k, j=j: 1.0 - j).assign(proxy_seed=j) for j in range(3)])
    pairs = replicate_pairs(pd.concat([a, b], ignore_index=True), "a", "b")
    assert len(pairs) == 3 * len(answers("a", lambda s, t, k: 0.0))
    assert (pairs["diff"] == 2.0 * pairs["replicate"]).all()

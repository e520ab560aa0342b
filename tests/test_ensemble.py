"""The rank ensemble of hw-evrsnas-ens: rank scale, combination, evaluator = offline table computation, selection."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hwevrsnas.analysis.ensemble import (
    HALVES, ensemble_scores, reference_rows, select_ensemble, split_halves, tau,
)  # fmt: skip
from hwevrsnas.errors import InputError
from hwevrsnas.proxy import get_proxy
from hwevrsnas.proxy.ensemble import ENSEMBLE_WEIGHTS, EnsembleEvaluator, RankScale, combine
from hwevrsnas.proxy.evaluator import REFERENCE_SIZE, Evaluator, reference_architectures
from hwevrsnas.proxy.result import STATUS_DEGENERATE, STATUS_OK, ProxyResult
from hwevrsnas.search.methods import get_method
from hwevrsnas.spaces import get_space, nb201


def test_rank_scale_mid_ranks_ties_and_clamping():
    scale = RankScale.of([3.0, 1.0, 2.0, 2.0, -math.inf])
    # sorted finite 1, 2, 2, 3 after one -inf: mid-ranks (1.5, 2.5, 3.5, 4.5) / 5, the two 2s share 3.0 / 5
    assert scale.xp.tolist() == [1.0, 2.0, 3.0]
    assert scale.fp.tolist() == pytest.approx([0.3, 0.6, 0.9])
    assert scale([1.5, 2.5]).tolist() == pytest.approx([0.45, 0.75])  # linear between reference values
    assert scale([0.0, 10.0]).tolist() == pytest.approx([0.3, 0.9])  # clamped at the ends
    assert scale([math.nan, -math.inf]).tolist() == [0.0, 0.0]
    with pytest.raises(InputError, match="no finite value"):
        RankScale.of([math.nan, -math.inf])


def test_combine_is_the_weighted_geometric_mean():
    ranks = {"a": np.array([0.25, 0.5, 0.0]), "b": np.array([1.0, 0.5, 0.9])}
    out = combine(ranks, {"a": 1.0, "b": 3.0})
    assert out[0] == pytest.approx(0.25 ** 0.25)
    assert out[1] == pytest.approx(0.5)
    assert out[2] == 0.0  # a member's zero rank gives the worst score


class Formula(Evaluator):
    """A member whose value is a fixed function of the class representative; degenerate cells are unusable."""

    def __init__(self, name: str, phase: float) -> None:
        super().__init__("nb201")
        self._name, self.phase = name, phase

    @property
    def name(self) -> str:
        return self._name

    def identity(self) -> dict:
        return {"kind": "formula", "name": self._name, "phase": self.phase}

    @staticmethod
    def value(ops: np.ndarray, phase: float) -> np.ndarray:
        ops = np.atleast_2d(ops).astype(float)
        return np.cos(phase + ops @ np.arange(1.0, 7.0)) + 0.1 * ops.sum(axis=1)

    def compute(self, representative: np.ndarray) -> ProxyResult:
        if nb201.degenerate_mask(representative[None])[0]:
            return ProxyResult(0.0, math.nan, [], 0.0, STATUS_DEGENERATE)
        value = float(self.value(representative, self.phase)[0])
        return ProxyResult(0.5, 0.0, [], 0.01, STATUS_OK, raw=value) if self._name.startswith("zc:") else \
            ProxyResult(value, 0.0, [value], 0.01)  # fmt: skip


WEIGHTS = {"rsnas": 1.0, "zc:fake": 2.0}


def fake_ensemble() -> EnsembleEvaluator:
    members = {"rsnas": Formula("rsnas", 0.3), "zc:fake": Formula("zc:fake", 1.7)}
    return EnsembleEvaluator(members, WEIGHTS, reference_architectures("nb201"))


def class_values() -> pd.DataFrame:
    """The members' values over the whole class list, computed without the evaluator (NaN: degenerate)."""
    reps = nb201.class_representatives()
    degenerate = nb201.degenerate_mask(reps)
    return pd.DataFrame({
        "rsnas": np.where(degenerate, np.nan, Formula.value(reps, 0.3)),
        "zc:fake": np.where(degenerate, np.nan, Formula.value(reps, 1.7)),
    })  # fmt: skip


def test_evaluator_equals_the_offline_table_computation_in_any_order():
    reps = nb201.class_representatives()
    offline = ensemble_scores(class_values(), WEIGHTS)
    rows = np.random.default_rng(0).choice(len(reps), 300, replace=False)
    rows = np.concatenate([rows, np.flatnonzero(nb201.degenerate_mask(reps))])
    forward, backward = fake_ensemble(), fake_ensemble()
    scores = [forward.evaluate(reps[row]).score for row in rows]
    reversed_scores = [backward.evaluate(reps[row]).score for row in rows[::-1]][::-1]
    assert scores == reversed_scores
    assert np.array_equal(np.array(scores), offline[rows])  # bit-identical, not approximately
    assert all(0.0 <= s < 1.0 for s in scores)
    degenerate = nb201.degenerate_mask(reps[rows])
    assert np.all(np.array(scores)[degenerate] == 0.0) and np.all(np.array(scores)[~degenerate] > 0.0)


def test_twins_share_the_score_and_setup_counts_the_reference_classes():
    space = get_space("nb201")
    ensemble = fake_ensemble()
    a = np.array(nb201.arch_to_ops("|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|none~1|none~2|"))
    twin = np.array(nb201.arch_to_ops("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|none~1|none~2|"))
    assert space.canonical_key(a) == space.canonical_key(twin)
    assert ensemble.evaluate(a).score == ensemble.evaluate(twin).score
    reference_classes = {space.canonical_key(ops) for ops in reference_architectures(space)}
    assert ensemble.setup_evaluations == len(reference_classes) and len(reference_architectures(space)) == REFERENCE_SIZE


def test_evaluator_rejects_an_ensemble_without_the_rsnas_member_or_with_bad_weights():
    reference = reference_architectures("nb201")
    with pytest.raises(InputError, match="representation-similarity"):
        EnsembleEvaluator({"zc:fake": Formula("zc:fake", 0.0)}, {"zc:fake": 1.0}, reference)
    with pytest.raises(InputError, match="positive"):
        EnsembleEvaluator({"rsnas": Formula("rsnas", 0.0)}, {"rsnas": 0.0}, reference)


def test_registered_method_and_proxy_use_the_weights_of_one_source():
    assert get_method("hw-evrsnas-ens").proxy == "ens"
    assert get_proxy("ens").scored == tuple(ENSEMBLE_WEIGHTS)
    assert "rsnas" in ENSEMBLE_WEIGHTS


def test_split_halves_is_seeded_disjoint_and_leaves_degenerate_classes_out():
    degenerate = nb201.degenerate_mask(nb201.class_representatives())
    half = split_halves(degenerate)
    assert np.array_equal(half, split_halves(degenerate))
    assert set(half[degenerate]) == {""} and set(half[~degenerate]) == set(HALVES)
    kept = int((~degenerate).sum())
    assert (half == "select").sum() == kept // 2 and (half == "report").sum() == kept - kept // 2
    assert not np.array_equal(half, split_halves(degenerate, seed=1))


def test_selection_sees_the_select_half_only():
    values = class_values()
    n = len(values)
    rng = np.random.default_rng(3)
    signal = rng.normal(size=n)
    values["rsnas"] = signal + rng.normal(scale=2.0, size=n)
    values["zc:good"] = signal + rng.normal(scale=0.5, size=n)
    values["zc:noise"] = rng.normal(size=n)
    half = split_halves(nb201.degenerate_mask(nb201.class_representatives()))
    select = half == "select"
    truth = signal.copy()
    chosen = select_ensemble(values, truth, select, ["rsnas", "zc:good", "zc:noise"])
    assert set(chosen.weights) == {"rsnas", "zc:good"}
    assert chosen.weights["zc:good"] >= chosen.weights["rsnas"]
    best = chosen.trials["select_tau"].max()
    assert tau(ensemble_scores(values, chosen.weights)[select], truth[select]) == pytest.approx(best)
    scrambled = truth.copy()
    scrambled[half == "report"] = rng.permutation(scrambled[half == "report"])
    again = select_ensemble(values, scrambled, select, ["rsnas", "zc:good", "zc:noise"])
    assert again.weights == chosen.weights
    pd.testing.assert_frame_equal(again.trials, chosen.trials)


def test_reference_rows_point_at_the_reference_architectures():
    space = get_space("nb201")
    reps = nb201.class_representatives()
    rows = reference_rows()
    reference = reference_architectures(space)
    assert len(rows) == len(reference)
    assert [space.canonical_key(reps[r]) for r in rows] == [space.canonical_key(ops) for ops in reference]


# ---- the published scores (docs/scores) -------------------------------------------------------------------------
DOCS_SCORES = Path(__file__).resolve().parents[1] / "docs" / "scores"


def published_member_values() -> pd.DataFrame:
    """The members' values over the class list, read back from the exported score tables in docs/scores."""
    space = get_space("nb201")
    position = {space.canonical_key(ops): row for row, ops in enumerate(nb201.class_representatives())}
    values = pd.DataFrame(index=range(len(position)))
    quick = pd.read_csv(DOCS_SCORES / "nb201-quick.csv")
    rows = [position[space.canonical_key(nb201.arch_to_ops(a))] for a in quick["arch"]]
    # A degenerate or non-finite training leaves no loss: the ensemble cannot rank it (member_value: -inf).
    values.loc[rows, "rsnas"] = np.where(quick["loss"].notna(), quick["score"], np.nan)
    for path in sorted(DOCS_SCORES.glob("nb201-zerocost*.csv")):
        zerocost = pd.read_csv(path)
        rows = [position[space.canonical_key(nb201.arch_to_ops(a))] for a in zerocost["arch"]]
        for metric in zerocost.columns[3:]:
            values.loc[rows, f"zc:{metric}"] = zerocost[metric].to_numpy()
    return values


def test_the_published_ensemble_scores_follow_from_the_published_member_scores():
    values = published_member_values()
    published = pd.read_csv(DOCS_SCORES / "nb201-ens.csv")
    assert list(published.columns) == ["index", "arch", "score", "half"]
    space = get_space("nb201")
    reps = nb201.class_representatives()
    position = {space.canonical_key(ops): row for row, ops in enumerate(reps)}
    rows = np.array([position[space.canonical_key(nb201.arch_to_ops(a))] for a in published["arch"]])
    degenerate = nb201.degenerate_mask(reps)
    assert len(rows) == len(set(rows)) == int((~degenerate).sum())  # every non-degenerate class once
    # To the last bits only on the CPU that wrote the file: numpy's vectorised log and exp round by the CPU's ISA.
    np.testing.assert_allclose(published["score"].to_numpy(), ensemble_scores(values, ENSEMBLE_WEIGHTS)[rows], rtol=1e-13, atol=0)
    np.testing.assert_array_equal(published["half"].to_numpy(dtype=object), split_halves(degenerate)[rows])


def test_the_selection_on_the_published_scores_chooses_the_registered_weights(nb201_h5):
    from hwevrsnas.analysis.fidelity.full import class_frame
    from hwevrsnas.tables.store import NB201Table

    values = published_member_values()
    classes = class_frame(NB201Table.open(nb201_h5))
    half = split_halves(classes["degenerate"].to_numpy())
    candidates = ["rsnas", *sorted(c for c in values.columns if c != "rsnas")]
    chosen = select_ensemble(values, classes["cifar10"].to_numpy(), half == "select", candidates)
    assert chosen.weights == ENSEMBLE_WEIGHTS

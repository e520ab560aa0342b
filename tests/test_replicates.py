"""Fidelity over proxy replicates (hwevrsnas.analysis.fidelity.replicates), against direct computations on synthetic tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from fakes import complete_table
from hwevrsnas.analysis.fidelity.full import class_frame
from hwevrsnas.analysis.fidelity.replicates import MEAN_OF_DRAWS, replicate_fidelity, replicates_markdown
from hwevrsnas.errors import InputError
from hwevrsnas.proxy.presets import get_preset
from hwevrsnas.scores import ScoreTable
from hwevrsnas.spaces import nb201 as nb201_module


def _identity(preset: str, seed: int) -> dict:
    return {"kind": "rsnas", "preset": get_preset(preset, seed=seed).digest, "seed": seed}


def _tables(tmp_path: Path, draws: dict[int, np.ndarray], preset: str = "tiny") -> list[ScoreTable]:
    paths = [complete_table(_identity(preset, seed), f"rsnas:{seed}", tmp_path / f"p{seed}.h5", values=values)
             for seed, values in draws.items()]  # fmt: skip
    return [ScoreTable.open(path) for path in paths]


def test_replicates_against_direct_computation(tmp_path: Path, nb201) -> None:
    classes = class_frame(nb201)
    live = ~classes["degenerate"].to_numpy()
    truth = classes["cifar10"].to_numpy()
    rng = np.random.default_rng(0)
    signal = truth / 100.0
    draws = {seed: signal + rng.normal(0.0, 0.05, len(truth)) for seed in (0, 1, 2)}
    per, pairs, summary = replicate_fidelity(_tables(tmp_path, draws), nb201)
    assert list(per["replicate"]) == ["p0", "p1", "p2", MEAN_OF_DRAWS] and (per["n"] == live.sum()).all()
    for seed, values in draws.items():
        row = per.set_index("replicate").loc[f"p{seed}"]
        assert row["kendall_tau"] == pytest.approx(stats.kendalltau(values[live], truth[live]).statistic, abs=1e-12)
    mean = np.mean([draws[s] for s in (0, 1, 2)], axis=0)
    averaged = per.set_index("replicate").loc[MEAN_OF_DRAWS]
    assert averaged["kendall_tau"] == pytest.approx(stats.kendalltau(mean[live], truth[live]).statistic, abs=1e-12)
    assert averaged["kendall_tau"] > per["kendall_tau"][:3].max()  # averaging independent noise helps
    spread = np.std([draws[s][live] for s in (0, 1, 2)], axis=0, ddof=1)
    assert summary["class_sd_median"] == pytest.approx(np.median(spread)) and summary["replicates"] == 3
    assert len(pairs) == 3 and set(zip(pairs["a"], pairs["b"])) == {("p0", "p1"), ("p0", "p2"), ("p1", "p2")}
    assert pairs["kendall_tau"].iloc[0] == pytest.approx(stats.kendalltau(draws[0][live], draws[1][live]).statistic)
    assert "Over 3 proxy replicates" in replicates_markdown(per, pairs, summary)


@pytest.mark.filterwarnings("ignore::scipy.stats.ConstantInputWarning")  # the mean of a draw and its negation
def test_identical_and_reversed_replicates(tmp_path: Path, nb201) -> None:
    values = np.linspace(0.0, 1.0, len(nb201_module.class_representatives()))
    per, pairs, summary = replicate_fidelity(_tables(tmp_path, {0: values, 3: values.copy()}), nb201)
    assert summary["class_sd_max"] == 0.0 and pairs["kendall_tau"].iloc[0] == pytest.approx(1.0)
    assert pairs["top1%_overlap"].iloc[0] == 1.0
    assert per["proxy_oracle_regret"].nunique() == 1  # the mean of two equal draws is the draw
    per, pairs, summary = replicate_fidelity(_tables(tmp_path / "r", {0: values, 1: -values}), nb201)
    assert pairs["kendall_tau"].iloc[0] == pytest.approx(-1.0) and pairs["top1%_overlap"].iloc[0] == 0.0


@pytest.mark.parametrize(
    "draws,preset2,message",
    [((0,), None, "at least two tables"), ((0, 0), None, "proxy seed 0 given twice"), ((0, 1), "quick", "2 presets")],
    ids=["one", "same-seed", "two-presets"],
)
def test_replicates_are_refused_unless_one_preset_at_distinct_seeds(tmp_path, nb201, draws, preset2, message) -> None:
    tables = []
    for i, seed in enumerate(draws):
        preset = preset2 if (preset2 and i == 1) else "tiny"
        path = complete_table(_identity(preset, seed), "rsnas", tmp_path / f"t{i}.h5")
        tables.append(ScoreTable.open(path))
    with pytest.raises(InputError, match=message):
        replicate_fidelity(tables, nb201)

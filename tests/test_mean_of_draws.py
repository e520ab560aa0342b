"""The averaged-draws variant (proxy.mean_of_draws, method hw-evrsnas-mean): the mean of the proxy over its draws,
served from one table per proxy seed, checked against the tables themselves."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from fakes import ToyProxy, complete_table
from hwevrsnas.cli import main as cli_main
from hwevrsnas.errors import InputError
from hwevrsnas.proxy.mean_of_draws import MEAN_DRAW_SEEDS, MeanOfDrawsEvaluator
from hwevrsnas.proxy.presets import get_preset
from hwevrsnas.proxy.result import ProxyResult
from hwevrsnas.search.record import load_result
from hwevrsnas.spaces import nb201 as nb201_space


class _Shifted(ToyProxy):
    """A toy draw: the toy score shifted by its seed, failing on one op pattern for seed 1."""

    def compute(self, representative: np.ndarray) -> ProxyResult:
        base = super().compute(representative)
        if self.preset.seed == 1 and representative[0] == 4:
            return ProxyResult(0.0, math.nan, [], 0.25, "nonfinite")
        return ProxyResult(base.score + 0.01 * self.preset.seed, base.loss, [], 0.5, raw=base.score)


def test_the_mean_of_draws_is_the_mean_and_a_failed_draw_fails_the_class() -> None:
    draws = [_Shifted("nb201", get_preset("tiny", seed=seed)) for seed in (0, 1, 2)]
    mean = MeanOfDrawsEvaluator(draws)
    ok, failed = np.array([1, 2, 3, 1, 0, 2], np.uint8), np.array([4, 2, 3, 1, 0, 2], np.uint8)
    results = mean.evaluate_many([ok, failed])
    expected = np.mean([draw.compute(nb201_space.representative(ok)).score for draw in draws])
    assert results[0].score == pytest.approx(expected, abs=1e-15) and results[0].status == "ok"
    assert results[0].seconds == 1.5 and results[0].extra["draw_scores"] == [d.evaluate(ok).score for d in draws]
    assert (results[1].score, results[1].status) == (0.0, "nonfinite")
    assert mean.identity()["draws"] == [draw.identity() for draw in draws] and mean.preset is None
    assert mean.draw_seeds == [0, 1, 2] and mean.name == "toy-mean3"
    with pytest.raises(InputError, match="at least two draws"):
        MeanOfDrawsEvaluator(draws[:1])


def test_hw_evrsnas_mean_is_served_by_the_tables_of_its_draws(nb201_h5: Path, nb201, tmp_path: Path) -> None:
    reps = nb201_space.class_representatives()
    rng = np.random.default_rng(1)
    values = {seed: rng.random(len(reps)) for seed in MEAN_DRAW_SEEDS}
    paths = []
    for seed in MEAN_DRAW_SEEDS:
        identity = {"kind": "rsnas", "preset": get_preset("tiny", seed=seed).digest, "seed": seed}
        paths.append(str(complete_table(identity, f"rsnas:tiny:p{seed}", tmp_path / f"p{seed}.h5", values=values[seed])))
    out = tmp_path / "mean.json"
    args = ["search", "--tables", str(nb201_h5.parent), "--device", "fpga", "--quantile", "0.5", "--preset", "tiny",
            "--method", "hw-evrsnas-mean", "--seed", "2", "--population", "6", "--generations", "3", "--cache", "",
            "--batch-dir", "", "--scores", *paths, "--out", str(out)]  # fmt: skip
    assert cli_main(args) == 0
    record = load_result(out)
    row = {nb201_space.canonical_key(rep): r for r, rep in enumerate(reps)}  # the fake tables' row order
    assert len(record["evaluated"]) >= 6
    for entry in record["evaluated"]:
        r = row[nb201_space.canonical_key(nb201.ops[entry["index"]])]
        # the tables' random values: a draw computed rather than served could not give them
        assert entry["phi"] == pytest.approx(np.mean([values[s][r] for s in MEAN_DRAW_SEEDS]), abs=1e-9)
    assert [draw["seed"] for draw in record["evaluator"]["identity"]["draws"]] == list(MEAN_DRAW_SEEDS)

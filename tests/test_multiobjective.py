"""Multi-threshold searches (mo-hdnas and its baselines), exact Pareto fronts and their quality, and the
`search --quantiles` and `front` commands.

Searches run with the fake evaluator (phi = the 12-epoch validation accuracy / 100) on the real NB201
table, with budgets of a few dozen evaluations; every expected value is re-derived here from the
table or by hand, not read back from the code under test.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from pymoo.core.population import Population
from pymoo.core.problem import Problem

from fakes import FakeEvaluator
from hwevrsnas.analysis.fronts import exact_front, front_of, hypervolume, igd, normalised, run_quality
from hwevrsnas.cli import main as cli_main
from hwevrsnas.errors import InputError
from hwevrsnas.search.config import GAConfig
from hwevrsnas.search.costs import CostModel
from hwevrsnas.search.methods import METHODS, get_method
from hwevrsnas.search.multiobjective import CostDiversitySurvival, ThresholdAnswer, cost_diversity, threshold_answers
from hwevrsnas.search.record import MULTI_SCHEMA, MultiSetting, Setting, load_result, write_result
from hwevrsnas.search.run import run_multi_search, run_search
from hwevrsnas.search.tracker import Evaluation

QUANTILES = (0.1, 0.3, 0.5, 0.7, 0.9)
MULTI_METHODS = {"mo-hdnas", "mo-nsga2", "mo-nsga2-params", "mo-random"}


@pytest.fixture(scope="module")
def fpga(nb201) -> CostModel:
    return CostModel.nb201(nb201, "cifar10", "fpga", "latency")


def _multi(cost_model: CostModel, nb201, method: str = "mo-hdnas", seed: int = 0, quantiles=QUANTILES, **config):
    thresholds = [cost_model.resolve_threshold(quantile=q) for q in quantiles]
    setting = MultiSetting.from_cost(cost_model, thresholds, method, "fake", seed)
    return run_multi_search(setting, FakeEvaluator(nb201), cost_model, GAConfig(**config), progress=False)


def _brute_force_front(points: np.ndarray) -> list[int]:
    """Rows no other row dominates (<= in both, < in one), by checking every pair."""
    return [
        i for i, p in enumerate(points)
        if not np.any(np.all(points <= p, axis=1) & np.any(points < p, axis=1))
    ]  # fmt: skip


# ---- the pieces ------------------------------------------------------------------------------------------


def test_cost_diversity_is_the_distance_to_the_nearest_other_cost() -> None:
    np.testing.assert_allclose(cost_diversity([0.5, 0.1, 0.2, 0.9]), [0.3, 0.1, 0.1, 0.4])
    # Equal costs are 0 apart; a member without a cost has no chi and is nobody's neighbour.
    np.testing.assert_allclose(cost_diversity([0.3, np.nan, 0.3, 0.8]), [0.0, 0.0, 0.0, 0.5])
    np.testing.assert_allclose(cost_diversity([0.3, np.nan]), [0.0, 0.0])


def test_survival_sets_chi_over_the_pool_it_ranks() -> None:
    F = np.array([[-0.5, 0.5, 0.0], [-0.4, 0.1, 0.0], [-0.3, 0.2, 0.0], [-0.2, 0.9, 0.0]])
    pool = Population.new("X", np.zeros((4, 1)), "F", F)
    survivors = CostDiversitySurvival().do(Problem(n_var=1, n_obj=3), pool, n_survive=3)
    np.testing.assert_allclose(pool.get("F")[:, 2], [-0.3, -0.1, -0.1, -0.4])
    assert len(survivors) == 3


def _evaluation(order: int, phi: float, cost: float) -> Evaluation:
    return Evaluation(order, 0, np.zeros(6, np.uint8), f"a{order}", f"k{order}", None, phi, cost, False, 0.0, "ok")


def test_threshold_answers_follow_the_single_objective_rule() -> None:
    evaluations = [
        _evaluation(0, 0.5, 2.0), _evaluation(1, 0.7, 3.0), _evaluation(2, 0.7, 2.5), _evaluation(3, math.nan, 1.0),
        _evaluation(4, 0.9, math.nan),
    ]  # fmt: skip
    answers = threshold_answers(evaluations, [2.6, 3.0, 1.5, 0.5])
    # 2.6: the highest phi with cost <= 2.6; 3.0: a tie at 0.7 goes to the earliest; 1.5: a NaN phi is still
    # feasible when nothing else is; 0.5: nothing is feasible, the cheapest is returned. A missing cost never counts.
    assert [(a.answer.order, a.feasible) for a in answers] == [(2, True), (1, True), (3, True), (3, False)]
    assert threshold_answers([], [1.0]) == [ThresholdAnswer(1.0, None, False)]


def test_hypervolume_and_igd_by_hand() -> None:
    front = np.array([[0.2, 0.6], [0.5, 0.3]])
    # The union of [0.2, 1] x [0.6, 1] and [0.5, 1] x [0.3, 1]: 0.8 * 0.4 + 0.5 * 0.3.
    assert hypervolume(front) == pytest.approx(0.47)
    # A dominated point and a point on the reference point's edge add nothing.
    assert hypervolume(np.vstack([front, [[0.4, 0.7], [1.0, 0.1]]])) == pytest.approx(0.47)
    assert hypervolume(np.zeros((0, 2))) == 0.0
    # Exact front (0, 1) and (1, 0), found (0, 0.5): distances 0.5 and sqrt(1 + 0.25), averaged.
    assert igd(np.array([[0.0, 0.5]]), np.array([[0.0, 1.0], [1.0, 0.0]])) == pytest.approx((0.5 + math.sqrt(1.25)) / 2)
    assert igd(np.zeros((0, 2)), front) is None


# ---- exact fronts ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("device", ["fpga", "edgetpu"])  # edgetpu: 3,029 architectures without a latency
def test_front_of_a_subset_equals_a_brute_force_filter(nb201, device: str) -> None:
    model = CostModel.nb201(nb201, "cifar10", device, "latency")
    column = model.column
    subset = np.random.default_rng(7).choice(len(nb201), 600, replace=False)
    priced = subset[~np.isnan(column[subset])]
    assert len(priced) < len(subset) or device == "fpga"
    points = normalised(nb201.accuracy(priced, "cifar10"), column[priced], float(np.nanmax(column)))
    expected = sorted(int(i) for i in priced[_brute_force_front(points)])
    front = front_of(model, subset)
    assert sorted(front.indices.tolist()) == expected
    assert front.scale == float(np.nanmax(column))
    assert np.all(np.diff(front.costs) >= 0) and np.all(np.diff(front.accuracies) >= 0)


def test_exact_front_dominates_every_architecture(nb201, fpga) -> None:
    front = exact_front(fpga)
    column = fpga.column
    accuracy = nb201.accuracy(slice(None), "cifar10")
    points = front.points
    assert _brute_force_front(points) == list(range(len(points)))
    # Every architecture is weakly dominated by a front member (checked on a sample: all of them is 15,625 x front).
    for index in np.random.default_rng(3).choice(len(nb201), 2000, replace=False):
        p = normalised([accuracy[index]], [column[index]], front.scale)[0]
        assert np.any(np.all(points <= p, axis=1)), index
    # Its ends: the most accurate architecture and the cheapest (the most accurate among the cheapest).
    assert front.accuracies[-1] == accuracy.max()
    cheapest = np.flatnonzero(column == np.nanmin(column))
    assert front.costs[0] == np.nanmin(column) and front.accuracies[0] == accuracy[cheapest].max()
    assert front.hypervolume == pytest.approx(hypervolume(points))


def test_quality_of_the_whole_table_is_exact_and_of_one_point_by_hand(nb201, fpga) -> None:
    exact = exact_front(fpga)
    whole = run_quality(fpga, list(range(len(nb201))))
    assert whole["front"] == exact.indices.tolist() and whole["hypervolume_ratio"] == 1.0 and whole["igd"] == 0.0
    index = int(exact.indices[0])
    one = run_quality(fpga, [None, index, index])
    error, cost = (100 - float(nb201.accuracy(index, "cifar10"))) / 100, float(fpga.column[index]) / exact.scale
    assert one["front"] == [index] and one["hypervolume"] == pytest.approx((1 - error) * (1 - cost))
    assert one["hypervolume_exact"] == pytest.approx(exact.hypervolume)
    assert one["igd"] == pytest.approx(np.mean(np.hypot(exact.points[:, 0] - error, exact.points[:, 1] - cost)))


# ---- runs ------------------------------------------------------------------------------------------------


def test_answers_and_front_rederived_from_the_evaluated_list(nb201, fpga) -> None:
    record = _multi(fpga, nb201, budget=120, population=12)
    evaluated = record["evaluated"]
    column = fpga.column
    assert all(e["cost"] == column[e["index"]] for e in evaluated)
    assert [a["quantile"] for a in record["answers"]] == list(QUANTILES)
    for answer in record["answers"]:
        threshold = answer["threshold"]
        assert threshold == pytest.approx(nb201.thresholds("fpga_latency", [answer["quantile"]], "cifar10")[0])
        best = max((e for e in evaluated if e["cost"] <= threshold), key=lambda e: (e["phi"], -e["order"]))
        assert (answer["index"], answer["order"], answer["feasible"]) == (best["index"], best["order"], True)
        optimum = nb201.feasible_optimum("fpga_latency", threshold, "cifar10")
        accuracy = float(nb201.accuracy(best["index"], "cifar10"))
        assert (answer["optimum_index"], answer["optimum_accuracy"]) == (optimum.index, optimum.accuracy)
        assert answer["test_accuracy"] == accuracy and answer["regret"] == pytest.approx(optimum.accuracy - accuracy)
    indices = np.unique([e["index"] for e in evaluated])
    points = normalised(nb201.accuracy(indices, "cifar10"), column[indices], float(np.nanmax(column)))
    assert sorted(record["front"]) == sorted(int(i) for i in indices[_brute_force_front(points)])
    assert record["hypervolume_exact"] == pytest.approx(exact_front(fpga).hypervolume)
    assert 0 < record["hypervolume"] <= record["hypervolume_exact"]
    assert record["hypervolume_ratio"] == pytest.approx(record["hypervolume"] / record["hypervolume_exact"])


def test_same_seed_same_bytes(nb201, fpga, tmp_path) -> None:
    paths = []
    for name, noise in (("a", 1), ("b", 2)):
        np.random.seed(noise)  # the global generator must play no part
        record = _multi(fpga, nb201, seed=3, budget=80, population=10)
        paths.append(write_result(record, tmp_path / f"{name}.json")[0])
    assert paths[0].read_bytes() == paths[1].read_bytes()
    archs = [e["arch"] for e in load_result(paths[0])["evaluated"]]
    assert archs != [e["arch"] for e in _multi(fpga, nb201, seed=4, budget=80, population=10)["evaluated"]]
    # The diversity objective changes what NSGA-II explores.
    assert archs != [e["arch"] for e in _multi(fpga, nb201, "mo-nsga2", seed=3, budget=80, population=10)["evaluated"]]


@pytest.mark.parametrize("method", ["mo-hdnas", "mo-nsga2", "mo-random"])
def test_budget_is_respected(nb201, fpga, method: str) -> None:
    record = _multi(fpga, nb201, method, seed=1, budget=37, population=10)
    assert record["unique_evaluations"] == 37 and record["counters"]["stopped_by"] == "budget"
    assert len({e["canonical"] for e in record["evaluated"]}) == 37
    assert all("fitness" not in e and "feasible" not in e for e in record["evaluated"])


def test_nsga2_stops_after_its_generations(nb201, fpga) -> None:
    record = _multi(fpga, nb201, population=8, generations=3)
    assert record["counters"]["stopped_by"] == "generations" and record["counters"]["requests"] <= 8 * 4
    assert [row["generation"] for row in record["history"]] == [0, 1, 2, 3]
    assert all(row["complete"] and row["front_size"] >= 1 for row in record["history"])


def test_mo_random_answers_like_random_at_every_threshold(nb201, fpga) -> None:
    record = _multi(fpga, nb201, "mo-random", seed=5, quantiles=(0.3, 0.7), budget=60)
    for answer, quantile in zip(record["answers"], (0.3, 0.7)):
        setting = Setting.from_cost(fpga, fpga.resolve_threshold(quantile=quantile), "random", "fake", 5)
        single = run_search(setting, FakeEvaluator(nb201), fpga, GAConfig(budget=60), progress=False)
        assert [e["arch"] for e in single["evaluated"]] == [e["arch"] for e in record["evaluated"]]
        assert (answer["index"], answer["regret"]) == (single["index"], single["regret"])


def test_registry_and_settings_keep_the_two_kinds_apart(nb201, fpga) -> None:
    assert {name for name, method in METHODS.items() if method.multi_threshold} == MULTI_METHODS
    params = get_method("mo-nsga2-params")
    assert params.proxy == "zc:params" and params.runner == get_method("mo-nsga2").runner
    threshold = fpga.resolve_threshold(quantile=0.5)
    with pytest.raises(InputError, match="method 'random' answers one threshold per run"):
        MultiSetting.from_cost(fpga, [threshold], "random", "fake", 0)
    with pytest.raises(InputError, match="'mo-hdnas' answers every threshold at once"):
        run_search(Setting.from_cost(fpga, threshold, "mo-hdnas", "fake", 0), FakeEvaluator(nb201), fpga)
    with pytest.raises(InputError, match="given twice"):
        MultiSetting.from_cost(fpga, [threshold, threshold], "mo-hdnas", "fake", 0)
    with pytest.raises(InputError, match="population of at least 2"):
        _multi(fpga, nb201, population=1, elites=0)


# ---- the command line ------------------------------------------------------------------------------------


@pytest.fixture
def fake_proxy(nb201, monkeypatch):
    """`hwevrsnas search` with the fake evaluator in place of the method's proxy."""
    import hwevrsnas.cli.search as search_cli

    monkeypatch.setattr(search_cli, "build_evaluator", lambda args, method, preset, accelerator: FakeEvaluator(nb201))


def test_cli_writes_the_documented_record(nb201, nb201_h5, fpga, fake_proxy, tmp_path, capsys) -> None:
    out = tmp_path / "run.json"
    argv = [
        "search", "--tables", str(nb201_h5.parent), "--device", "fpga", "--metric", "latency", "--method", "mo-hdnas",
        "--quantiles", "0.1,0.5,0.9", "--budget", "50", "--population", "10", "--seed", "2", "--accelerator", "cpu",
        "--out", str(out),
    ]  # fmt: skip
    assert cli_main(argv) == 0
    assert "mo-hdnas seed 2: 3 thresholds, 3 answered feasibly" in capsys.readouterr().out
    stable = json.loads(out.read_text())
    for key in ("setting", "config_hash", "evaluator", "versions", "sources", "answers", "front", "hypervolume",
                "hypervolume_exact", "hypervolume_ratio", "igd", "unique_evaluations", "evaluated", "history"):
        assert key in stable, key
    assert "wall_seconds" not in stable
    record = load_result(out)
    assert record["schema"] == MULTI_SCHEMA and record["wall_seconds"] > 0 and record["unique_evaluations"] == 50
    assert record["setting"]["quantiles"] == [0.1, 0.5, 0.9] and record["setting"]["threshold_source"] == "quantile"
    assert record["ga_config"] == {"population": 10, "generations": 50, "elites": 1, "budget": 50, "crossover_p": 0.5,
                                   "mutation_p": 0.1}  # fmt: skip
    assert record["evaluator"]["identity"] == {"kind": "fake", "space": "nb201"}
    documented = {"threshold", "quantile", "index", "arch", "cost", "feasible", "test_accuracy", "optimum_accuracy",
                  "regret"}  # fmt: skip
    assert all(documented <= set(answer) for answer in record["answers"])
    assert [a["quantile"] for a in record["answers"]] == [0.1, 0.5, 0.9]
    # Knobs the method does not read change nothing, not even the file's bytes.
    first = out.read_bytes()
    assert cli_main([*argv, "--lam", "3", "--tournament-size", "2", "--penalty", "two_sided"]) == 0
    assert out.read_bytes() == first
    # Repeated --threshold gives the same thresholds as values.
    values = [str(a["threshold"]) for a in record["answers"]]
    limits = [item for value in values for item in ("--threshold", value)]
    by_value = tmp_path / "values.json"
    at = argv.index("--quantiles")
    assert cli_main([*argv[:at], *argv[at + 2 : -1], str(by_value), *limits]) == 0
    again = load_result(by_value)
    assert again["setting"]["threshold_source"] == "value" and again["setting"]["quantiles"] is None
    assert [a["index"] for a in again["answers"]] == [a["index"] for a in record["answers"]]


@pytest.mark.parametrize(
    ("method", "limits", "message"),
    [
        ("random", ["--quantiles", "0.2,0.8"], "method 'random' answers one threshold per run, got 2 thresholds"),
        ("hw-evrsnas", ["--threshold", "2", "--threshold", "3"], "method 'hw-evrsnas' answers one threshold per run"),
        ("mo-hdnas", ["--quantiles", "0.5,0.5"], "a threshold is given twice"),
        ("mo-hdnas", ["--quantiles", "0.5,1.5"], "quantile must lie in [0, 1]"),
    ],
)
def test_cli_refuses_bad_threshold_lists(nb201_h5, fake_proxy, tmp_path, capsys, method, limits, message) -> None:
    out = tmp_path / "r.json"
    argv = ["search", "--tables", str(nb201_h5.parent), "--device", "fpga", "--method", method, *limits]
    argv += ["--out", str(out)]
    assert cli_main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and not out.exists()
    if "one threshold per run" in message:
        assert "mo-hdnas" in err  # the error names the methods that take several


def test_cli_front(nb201, nb201_h5, fpga, capsys) -> None:
    tables = str(nb201_h5.parent)
    assert cli_main(["front", "--tables", tables, "--device", "fpga", "--metric", "latency", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    exact = exact_front(fpga)
    assert record["indices"] == exact.indices.tolist() and record["hypervolume"] == pytest.approx(exact.hypervolume)
    assert record["accuracies"] == [float(nb201.accuracy(i, "cifar10")) for i in record["indices"]]
    assert record["costs"] == [float(fpga.column[i]) for i in record["indices"]]
    assert record["archs"] == [nb201.arch_strings[i] for i in record["indices"]]
    assert record["n_with_cost"] == len(nb201) and record["reference_point"] == [1.0, 1.0]
    assert cli_main(["front", "--tables", tables, "--space", "fbnet", "--device", "fpga"]) == 2
    assert "no accuracy table" in capsys.readouterr().err

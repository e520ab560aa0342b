"""Analysis: collecting run files, statistics (bootstrap, Wilcoxon, comparisons over settings), tables, figures,
`aggregate` (tests/test_statistics.py: the cluster bootstrap and Holm on synthetic frames).

The run files are real: written by `run_search` + `write_result` on the real NB201 table (oracle,
rea-valid12 with a small budget, and the GA with a fake evaluator whose phi is the 12-epoch
validation accuracy, so no proxy is trained).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from fakes import FakeEvaluator
from hwevrsnas.analysis.collect import collect, find_run_files
from hwevrsnas.analysis.report import aggregate
from hwevrsnas.cli import aggregate as aggregate_cli
from hwevrsnas.analysis.statistics import bootstrap_ci, paired_comparisons, wilcoxon_p
from hwevrsnas.analysis.result_tables import PUBLISHED_SECONDS, cost_table, device_table, main_table, markdown, write_table
from hwevrsnas.search.record import load_result, timing_path

DEVICES = ("fpga", "eyeriss")
SEEDS = (0, 1, 2)
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def runs(nb201, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """18 run files, 2 devices x 3 methods x 3 seeds at the median latency: runs/<device>/<method>/seed<k>.json."""
    from hwevrsnas.search.costs import CostModel
    from hwevrsnas.search.config import GAConfig
    from hwevrsnas.search.record import Setting, write_result
    from hwevrsnas.search.run import run_search

    root = tmp_path_factory.mktemp("analysis") / "runs"
    for device in DEVICES:
        cost_model = CostModel.nb201(nb201, "cifar10", device, "latency")
        threshold = cost_model.resolve_threshold(quantile=0.5)
        for method, preset, config in (
            ("oracle", None, GAConfig()),
            ("rea-valid12", None, GAConfig(budget=60)),
            ("hw-evrsnas", "fake", GAConfig(population=6, generations=3)),
        ):
            for seed in SEEDS:
                setting = Setting.from_cost(cost_model, threshold, method, preset, seed)
                evaluator = FakeEvaluator(nb201) if preset else None
                record = run_search(setting, evaluator, cost_model, config, progress=False)
                write_result(record, root / device / method / f"seed{seed}.json")
    return root


@pytest.fixture(scope="module")
def run_files(runs: Path) -> list[Path]:
    return find_run_files(runs)


@pytest.fixture(scope="module")
def df(run_files: list[Path]) -> pd.DataFrame:
    return collect(run_files)


# ---- collect ---------------------------------------------------------------------------------------------


def test_collect_one_row_per_file_with_the_files_values(run_files: list[Path], df: pd.DataFrame) -> None:
    assert len(run_files) == len(df) == len(DEVICES) * 3 * len(SEEDS)
    assert not any(p.name.endswith(".timing.json") for p in run_files)
    for row in df.itertuples():
        record = load_result(row.path)
        setting = record["setting"]
        fields = ("space", "dataset", "device", "metric", "method", "seed")
        assert tuple(getattr(row, f) for f in fields) == tuple(setting[f] for f in fields)
        assert (row.threshold, row.quantile, row.threshold_source) == (record["threshold"], 0.5, "quantile")
        fields = ("index", "arch", "cost", "feasible", "phi", "unique_evaluations", "config_hash", "cache_hits")
        assert tuple(getattr(row, f) if not pd.isna(getattr(row, f)) else None for f in fields) == tuple(
            record[f] for f in fields
        )
        assert (row.test_accuracy, row.optimum_accuracy, row.regret) == (
            record["test_accuracy"], record["optimum_accuracy"], record["regret"]
        )  # fmt: skip
        assert (row.wall_seconds, row.cpu_seconds, row.proxy_seconds) == (
            record["wall_seconds"], record["cpu_seconds"], record["proxy_seconds"]
        )  # fmt: skip
        assert row.label == ("hw-evrsnas:fake" if row.method == "hw-evrsnas" else row.method)
        assert pd.isna(row.preset) == (row.method != "hw-evrsnas")
    # Canonical order, whatever the order of the files.
    shuffled = collect(list(reversed(run_files)))
    pd.testing.assert_frame_equal(shuffled, df)


def test_collect_names_a_malformed_file(run_files: list[Path], tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ValueError, match="broken.json"):
        collect([run_files[0], broken])
    record = json.loads(run_files[0].read_text())
    del record["regret"]
    missing = tmp_path / "missing.json"
    missing.write_text(json.dumps(record))
    with pytest.raises(ValueError, match=r"missing\.json.*'regret'"):
        collect([missing])
    with pytest.raises(ValueError, match="timing sidecar"):
        collect([timing_path(run_files[0])])
    with pytest.raises(ValueError, match="duplicate runs"):
        copy = tmp_path / "copy.json"
        copy.write_text(run_files[0].read_text())
        collect([run_files[0], copy])


# ---- statistics ------------------------------------------------------------------------------------------


def test_bootstrap_ci_contains_the_mean_and_is_reproducible() -> None:
    values = np.random.default_rng(3).normal(5.0, 2.0, size=40)
    lo, hi = bootstrap_ci(values)
    assert lo < values.mean() < hi and hi - lo < 2.0
    assert bootstrap_ci(values) == (lo, hi) and bootstrap_ci(values, seed=1) != (lo, hi)
    assert bootstrap_ci([2.0, 2.0, 2.0]) == (2.0, 2.0)
    assert all(math.isnan(v) for v in bootstrap_ci([np.nan]))


def test_wilcoxon_matches_scipy_and_handles_all_zero() -> None:
    assert wilcoxon_p(np.zeros(5)) == (0.0, 1.0)
    assert math.isnan(wilcoxon_p([])[1])
    rng = np.random.default_rng(0)
    for n in (3, 8, 12, 20):  # with zeros and ties: exact permutation (n <= 13) or normal approximation
        d = rng.integers(-2, 3, n) * 0.25
        if not d.any():
            continue
        reference = stats.wilcoxon(d, zero_method="zsplit")
        assert wilcoxon_p(d) == pytest.approx((reference.statistic, reference.pvalue), rel=1e-12)
    d = np.array([1, -2, 3, 4, -5, 6, 7, 8]) * 0.1  # no ties or zeros: exact distribution
    assert wilcoxon_p(d)[1] == pytest.approx(stats.wilcoxon(d, zero_method="zsplit").pvalue)


def test_paired_comparisons_average_the_seeds_and_test_over_settings(df: pd.DataFrame) -> None:
    table = paired_comparisons(df, "regret")
    assert list(zip(table["method_a"], table["method_b"])) == [
        ("hw-evrsnas:fake", "oracle"), ("hw-evrsnas:fake", "rea-valid12"), ("oracle", "rea-valid12"),
    ]  # fmt: skip
    row = table.set_index(["method_a", "method_b"]).loc[("hw-evrsnas:fake", "oracle")]
    ga = df[df["method"] == "hw-evrsnas"].groupby("device")["regret"].mean()
    oracle = df[df["method"] == "oracle"].groupby("device")["regret"].mean()
    diff = (ga - oracle.loc[ga.index]).to_numpy()  # one difference per setting (here: per device), seeds averaged
    assert (row["unit"], row["n"], row["n_slices"]) == ("setting", len(DEVICES), len(DEVICES))
    assert row["mean_diff"] == pytest.approx(diff.mean()) and (oracle == 0).all()
    assert row["diff_lo"] <= row["mean_diff"] <= row["diff_hi"]
    counts = (row["n_a_lower"], row["n_b_lower"], row["n_ties"])
    assert counts == ((diff < 0).sum(), (diff > 0).sum(), (diff == 0).sum())
    assert row["p_value"] == pytest.approx(wilcoxon_p(diff)[1])
    p = table["p_value"].to_numpy()
    order = np.argsort(p, kind="stable")
    expected = np.minimum(1.0, np.maximum.accumulate(p[order] * np.arange(len(p), 0, -1)))  # Holm by hand
    np.testing.assert_allclose(table["p_holm"].to_numpy()[order], expected)
    # Identical methods: every setting's difference is zero, p = 1.
    twin = df[df["method"] == "oracle"].assign(label="oracle-copy")
    same = paired_comparisons(pd.concat([df[df["method"] == "oracle"], twin]))
    assert same[["n", "n_ties", "p_value", "p_holm"]].values.tolist() == [[2, 2, 1.0, 1.0]]


# ---- tables ----------------------------------------------------------------------------------------------


def test_main_table_values(df: pd.DataFrame) -> None:
    table = main_table(df)
    assert len(table) == len(DEVICES) * 3 and set(table["n"]) == {len(SEEDS)}
    for row in table.itertuples():
        runs = df[(df["device"] == row.device) & (df["label"] == row.method)]
        assert row.regret_mean == pytest.approx(runs["regret"].mean())
        assert row.test_accuracy_mean == pytest.approx(runs["test_accuracy"].mean())
        assert row.cost_std == pytest.approx(runs["cost"].std(ddof=1))
        assert row.regret_lo <= row.regret_mean + 1e-12 and row.regret_mean <= row.regret_hi + 1e-12
        assert row.feasible_rate == runs["feasible"].mean() == 1.0
    oracle = table[table["method"] == "oracle"]
    assert (oracle["regret_mean"] == 0).all() and (oracle["test_accuracy_mean"] == oracle["optimum_accuracy"]).all()
    # One infeasible seed out of three: rate 2/3.
    modified = df.copy()
    modified.loc[modified.index[(modified["method"] == "rea-valid12") & (modified["seed"] == 1)], "feasible"] = False
    rates = main_table(modified).set_index(["device", "method"])["feasible_rate"]
    assert rates.loc[("fpga", "rea-valid12")] == pytest.approx(2 / 3)


def test_device_table_values(df: pd.DataFrame) -> None:
    table = device_table(df).set_index(["device", "method"])
    assert len(table) == len(DEVICES) * 3 and set(table["n_runs"]) == {len(SEEDS)}
    for (device, label), row in table.iterrows():
        runs = df[(df["device"] == device) & (df["label"] == label)]
        assert row["regret_mean"] == pytest.approx(runs["regret"].mean())
        assert row["regret_worst"] == runs["regret"].max() >= row["regret_mean"]
        assert row["unique_evaluations_mean"] == pytest.approx(runs["unique_evaluations"].mean())
    assert (table.xs("oracle", level="method")["regret_worst"] == 0).all()
    modified = df.copy()
    modified.loc[modified.index[(modified["method"] == "rea-valid12") & (modified["seed"] == 1)], "feasible"] = False
    rates = device_table(modified).set_index(["device", "method"])["feasible_rate"]
    assert rates.loc[("fpga", "rea-valid12")] == pytest.approx(2 / 3) and rates.loc[("fpga", "oracle")] == 1.0


def test_cost_table_energy_and_published_ratios(df: pd.DataFrame) -> None:
    table = cost_table(df, {"power_watts": 100.0, "grid_gco2_per_kwh": 500.0}).set_index("method")
    ga = table.loc["hw-evrsnas:fake"]
    runs = df[df["method"] == "hw-evrsnas"]
    assert ga["n_runs"] == 6 and ga["unique_evaluations_mean"] == runs["unique_evaluations"].mean()
    assert ga["cold_seconds_mean"] == pytest.approx(runs["wall_seconds"].mean())  # no disk cache here
    assert ga["energy_kwh"] == pytest.approx(ga["cold_seconds_mean"] * 100.0 / 3.6e6)
    assert ga["co2_g"] == pytest.approx(ga["energy_kwh"] * 500.0)
    assert ga["rmi_nas_1258s_over_this"] == pytest.approx(1258.0 / ga["cold_seconds_mean"])
    assert math.isnan(table.loc["oracle", "hw_evrsnas_8280s_over_this"])
    assert table.loc["HW-EvRSNAS (published)", "wall_seconds_mean"] == PUBLISHED_SECONDS["HW-EvRSNAS"] == 8280.0
    notes = " ".join(cost_table(df).attrs["notes"])
    assert "65 W" in notes and "475" in notes and "cross-hardware comparison (different machines)" in notes
    with pytest.raises(KeyError, match="power_watt"):
        cost_table(df, {"power_watt": 1.0})


def test_markdown_and_write_table(tmp_path: Path) -> None:
    frame = pd.DataFrame({"name": ["a|b", "c"], "x": [1.23456, np.nan], "n": [1, 2]})
    text = markdown(frame, {"x": ".2f"})
    assert text.splitlines()[:2] == ["| name | x | n |", "|---|---:|---:|"]
    assert "| a\\|b | 1.23 | 1 |" in text and "| c | - | 2 |" in text
    paths = write_table(frame, tmp_path / "t", notes=["a note"])
    assert [p.name for p in paths] == ["t.csv", "t.md"] and "- a note" in paths[1].read_text()
    pd.testing.assert_frame_equal(pd.read_csv(paths[0]), frame)


# ---- aggregate -------------------------------------------------------------------------------------------


def _study(folder: Path) -> Path:
    """A small fidelity study folder: 30 rows of the real study's scores, one proxy variant."""
    folder.mkdir(parents=True)
    source = REPO / "docs" / "fidelity" / "scores.csv"
    if source.is_file():
        scores = pd.read_csv(source).iloc[:30][["index", "accuracy", "params", "s10:cka"]]
    else:
        rng = np.random.default_rng(0)
        accuracy = rng.uniform(80, 94, 30)
        scores = pd.DataFrame(
            {"index": np.arange(30), "accuracy": accuracy, "params": accuracy / 90 + rng.normal(0, 0.1, 30),
             "s10:cka": accuracy / 100 + rng.normal(0, 0.05, 30)}
        )  # fmt: skip
    scores.to_csv(folder / "scores.csv", index=False)
    return folder


def test_aggregate_writes_every_file_and_is_reproducible(
    runs: Path, run_files: list[Path], nb201_h5: Path, tmp_path: Path
) -> None:
    study = _study(tmp_path / "study")
    out, plots = tmp_path / "tables", tmp_path / "plots"
    written = aggregate(run_files, nb201_h5.parent, out, plots, study_dir=study)
    expected = {out / f"{name}.{ext}" for name in ("main", "devices", "cost", "comparisons", "replicates", "fidelity") for ext in ("csv", "md")}
    stems = ["history", "fidelity", *(f"device_nb201_cifar10_{d}_latency" for d in DEVICES)]
    expected |= {plots / f"{stem}.{ext}" for stem in stems for ext in ("png", "pdf")}
    assert set(written) == expected and len(written) == len(expected)
    for path in expected:
        assert path.is_file() and path.stat().st_size > 0
    for path in plots.glob("*.png"):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000
    for path in plots.glob("*.pdf"):
        assert path.read_bytes()[:5] == b"%PDF-"
    main = pd.read_csv(out / "main.csv")
    assert len(main) == len(DEVICES) * 3 and "hw-evrsnas:fake" in (out / "main.md").read_text()
    comparisons = pd.read_csv(out / "comparisons.csv")
    assert (comparisons["unit"] == "setting").all() and (comparisons["n"] == len(DEVICES)).all()
    assert "n = settings paired (not answers)" in (out / "comparisons.md").read_text()
    fidelity = pd.read_csv(out / "fidelity.csv")
    assert {"params", "s10:cka", "s10:cka+params"} <= set(fidelity["proxy"]) and (fidelity["n"] == 30).all()
    cost = pd.read_csv(out / "cost.csv").set_index("method")
    assert cost.loc["hw-evrsnas:fake", "n_runs"] == len(DEVICES) * len(SEEDS)
    before = {path: path.read_bytes() for path in expected}

    # Again, through the command line, into the same folders: byte-identical tables (and figures).
    parser = argparse.ArgumentParser()
    aggregate_cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args([
        "aggregate", "--runs-dir", str(runs), "--tables", str(nb201_h5.parent), "--out", str(out),
        "--plots", str(plots), "--study", str(study),
    ])  # fmt: skip
    assert args.func(args) == 0
    for path, data in before.items():
        assert path.read_bytes() == data, f"{path.name} changed on a second aggregate"


def test_budgets_expand_runs_and_the_anytime_table_counts_them(run_files: list[Path]) -> None:
    from hwevrsnas.analysis.collect import at_budgets, collect_records
    from hwevrsnas.analysis.result_tables import anytime_table, reach_table

    df, records = collect_records(run_files)
    rows = at_budgets(df, records, [5, 20, 60])
    assert len(rows) == 3 * len(df)
    ga = rows[(rows["method"] == "hw-evrsnas") & (rows["budget"] == 5)]
    for (_, row), record in zip(ga.iterrows(), [r for r in records if r["method"] == "hw-evrsnas"]):
        assert row["index"] == record["anytime"][4]["index"] and row["unique_evaluations"] == 5
    # The oracle has no trajectory: its answer at every budget is its final one.
    oracle = rows[rows["method"] == "oracle"]
    assert (oracle["regret"] == 0).all()
    table = anytime_table(rows, n_boot=200)
    at20 = table[(table["method"] == "rea-valid12") & (table["budget"] == 20)].iloc[0]
    expected = rows[(rows["method"] == "rea-valid12") & (rows["budget"] == 20)]
    assert at20["n_answers"] == len(expected) == 6
    assert (at20["unit"], at20["n"], at20["n_slices"]) == ("setting", len(DEVICES), len(DEVICES))
    assert at20["regret_penalised_mean"] == pytest.approx(expected["regret_penalised"].mean())
    assert at20["regret_penalised_lo"] <= at20["regret_penalised_mean"] <= at20["regret_penalised_hi"]
    reach = reach_table(table, targets=(100.0, -1.0)).set_index(["method", "target_regret"])
    assert reach.loc[("oracle", 100.0), "budget"] == 5 and pd.isna(reach.loc[("oracle", -1.0), "budget"])
    traced = table.groupby("method")["trajectory"].first()
    assert not traced["oracle"] and traced["rea-valid12"] and traced.drop("oracle").all()


def test_the_anytime_plot_draws_answers_without_a_trajectory_as_levels_and_names_those_above_the_axis(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hwevrsnas.analysis import plots

    budgets = [25, 100, 400]
    frame = pd.DataFrame(
        [{"method": "ga", "budget": b, "n": 9, "regret_penalised_mean": m, "regret_penalised_lo": m - 0.5,
          "regret_penalised_hi": m + 0.5, "trajectory": True} for b, m in zip(budgets, [4.0, 2.0, 1.5])]
        + [{"method": "multi", "budget": b, "n": 9, "regret_penalised_mean": 1.7, "regret_penalised_lo": 1.5,
            "regret_penalised_hi": 1.9, "trajectory": False} for b in budgets]
        + [{"method": "far", "budget": b, "n": 9, "regret_penalised_mean": 8.5, "regret_penalised_lo": 6.4,
            "regret_penalised_hi": 11.0, "trajectory": False} for b in budgets]
    )  # fmt: skip
    figures = []
    monkeypatch.setattr(plots, "save_figure", lambda fig, stem: figures.append(fig) or [])
    plots.plot_anytime(frame, tmp_path / "anytime")
    (ax,) = figures[0].axes
    lines = {line.get_label().split(" ")[0]: line for line in ax.get_lines()}
    assert set(lines) == {"ga", "multi"}
    assert lines["ga"].get_marker() != "None" and lines["multi"].get_linestyle() == "--"
    assert lines["multi"].get_marker() == "None" and "no trajectory" in lines["multi"].get_label()
    assert ax.get_ylim()[1] == pytest.approx(4.5 * 1.05) and any("far 8.50" in t.get_text() for t in ax.texts)


def test_the_anytime_figure_has_one_panel_per_kind_of_proxy_at_two_widths(tmp_path: Path, monkeypatch) -> None:
    from hwevrsnas.analysis import plots

    methods = ["hw-evrsnas:quick", "random:quick", "hw-evrsnas-ens:quick", "zc-params:quick", "oracle"]
    assert plots.anytime_panels(methods) == [
        ("the faithful score", ["hw-evrsnas:quick", "random:quick"]),
        ("variants of the score", ["hw-evrsnas:quick", "hw-evrsnas-ens:quick"]),
        ("other proxies, baselines", ["zc-params:quick", "oracle"]),
    ]
    frame = pd.DataFrame([{"method": m, "budget": b, "n": 9, "regret_penalised_mean": 1.0, "regret_penalised_lo": 0.5,
                           "regret_penalised_hi": 1.5, "trajectory": m != "oracle"} for m in methods for b in (25, 100)])  # fmt: skip
    saved = {}
    monkeypatch.setattr(plots, "save_figure", lambda fig, stem: saved.setdefault(Path(stem).name, fig) and [])
    plots.plot_anytime(frame, tmp_path / "anytime")
    assert set(saved) == {"anytime", "anytime-column"}
    wide, narrow = saved["anytime"], saved["anytime-column"]
    assert len(wide.axes) == len(narrow.axes) == 3
    assert wide.get_size_inches()[0] == plots.TWO_COLUMNS and narrow.get_size_inches()[0] == plots.ONE_COLUMN
    assert [len(ax.get_lines()) for ax in wide.axes] == [2, 2, 2]


# ---- multi-threshold runs --------------------------------------------------------------------------------

MULTI_QUANTILES = (0.3, 0.5, 0.7)
MULTI_SEEDS = (0, 1)


@pytest.fixture(scope="module")
def mixed(nb201, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One slice (fpga latency) at three quantiles, two seeds: mo-hdnas and mo-random (one run per seed for all three
    thresholds) beside hw-evrsnas, random and the oracle (one run per threshold): mixed/<method>/<q>/seed<k>.json."""
    from hwevrsnas.search.config import GAConfig
    from hwevrsnas.search.costs import CostModel
    from hwevrsnas.search.record import MultiSetting, Setting, write_result
    from hwevrsnas.search.run import run_multi_search, run_search

    root = tmp_path_factory.mktemp("mixed") / "runs"
    model = CostModel.nb201(nb201, "cifar10", "fpga", "latency")
    thresholds = [model.resolve_threshold(quantile=q) for q in MULTI_QUANTILES]
    for seed in MULTI_SEEDS:
        for method, config in (("mo-hdnas", GAConfig(budget=30, population=8)), ("mo-random", GAConfig(budget=30))):
            setting = MultiSetting.from_cost(model, thresholds, method, "fake", seed)
            record = run_multi_search(setting, FakeEvaluator(nb201), model, config, progress=False)
            write_result(record, root / method / "all" / f"seed{seed}.json")
        for threshold in thresholds:
            for method, config in (("hw-evrsnas", GAConfig(population=6, generations=3)),
                                   ("random", GAConfig(budget=30)), ("oracle", GAConfig())):  # fmt: skip
                setting = Setting.from_cost(model, threshold, method, "fake", seed)
                evaluator = FakeEvaluator(nb201) if method != "oracle" else None
                record = run_search(setting, evaluator, model, config, progress=False)
                write_result(record, root / method / f"q{threshold.quantile}" / f"seed{seed}.json")
    return root


@pytest.fixture(scope="module")
def mixed_files(mixed: Path) -> list[Path]:
    return find_run_files(mixed)


@pytest.fixture(scope="module")
def mixed_df(mixed_files: list[Path]) -> pd.DataFrame:
    return collect(mixed_files)


def _multi_records(files: list[Path], method: str | None = None) -> dict[str, dict]:
    """path -> loaded record of the multi-threshold runs (of one method)."""
    records = {str(p): load_result(p) for p in files}
    return {path: r for path, r in records.items() if "answers" in r and method in (None, r["method"])}


def test_a_multi_run_is_one_row_per_answer_rederived_from_its_record(mixed_files: list[Path]) -> None:
    from hwevrsnas.analysis.collect import PER_EVALUATION_FIELDS, collect_records

    df, records = collect_records(mixed_files)
    multi = _multi_records(mixed_files)
    assert len(multi) == 2 * len(MULTI_SEEDS)
    assert len(df) == len(MULTI_SEEDS) * (2 * 3 + 3 * 3) and df["multi_threshold"].sum() == 2 * 3 * len(MULTI_SEEDS)
    for path, record in multi.items():
        rows = df[df["run_id"] == path].sort_values("threshold")
        setting = record["setting"]
        assert len(rows) == len(record["answers"]) == 3
        # The record travels with its rows: one object for all of them.
        assert len({id(records[i]) for i in rows.index}) == 1
        assert records[rows.index[0]] == {k: v for k, v in record.items() if k not in PER_EVALUATION_FIELDS}
        for row, answer in zip(rows.itertuples(), sorted(record["answers"], key=lambda a: a["threshold"])):
            for field in ("space", "dataset", "cost_dataset", "device", "metric", "threshold_source", "method", "seed"):
                assert getattr(row, field) == setting[field], field
            assert (row.threshold, row.quantile) == (answer["threshold"], answer["quantile"])
            for field in ("index", "arch", "cost", "feasible", "phi", "test_accuracy", "optimum_accuracy", "regret"):
                assert getattr(row, field) == answer[field], field
            assert row.regret_penalised == answer["regret"] and answer["feasible"]
            assert row.status == "ok" and row.label == f"{record['method']}:fake" and row.preset == "fake"
            assert (row.unique_evaluations, row.wall_seconds, row.cold_seconds) == (
                record["unique_evaluations"], record["wall_seconds"], record["wall_seconds"]
            )  # fmt: skip
            assert (row.thresholds_per_run, row.path) == (3, path)
            assert (row.hypervolume_ratio, row.igd, row.front_size) == (
                record["hypervolume_ratio"], record["igd"], len(record["front"])
            )  # fmt: skip
            feasible_phi = [e["phi"] for e in record["evaluated"] if e["cost"] <= answer["threshold"]]
            assert row.best_feasible_phi == max(feasible_phi)
    single = df[~df["multi_threshold"]]
    assert (single["thresholds_per_run"] == 1).all() and single["hypervolume_ratio"].isna().all()
    assert single["run_id"].is_unique


def test_an_infeasible_multi_answer_is_penalised_from_the_table(
    nb201, nb201_h5: Path, mixed_files: list[Path], tmp_path: Path
) -> None:
    from hwevrsnas.search.record import write_result

    path, record = next(iter(_multi_records(mixed_files, "mo-hdnas").items()))
    answer = record["answers"][0]
    answer.update(feasible=False, regret=None)
    broken = write_result(record, tmp_path / "infeasible.json")[0]
    # The worst feasible accuracy at that threshold, as a single run at the same threshold records it.
    single = next(load_result(p) for p in mixed_files
                  if "answers" not in (r := load_result(p)) and r["threshold"] == answer["threshold"])  # fmt: skip
    expected = answer["optimum_accuracy"] - single["optimum"]["worst_accuracy"]
    for nb201_arg in (nb201, nb201_h5.parent):
        row = collect([broken], nb201=nb201_arg).iloc[0]
        assert (row["feasible"], row["status"]) == (False, "infeasible") and math.isnan(row["regret"])
        assert row["regret_penalised"] == pytest.approx(expected) and expected > 0
    assert math.isnan(collect([broken]).iloc[0]["regret_penalised"])  # no table, nothing to take it from


def test_multi_answers_pair_with_single_runs_and_keep_their_answer_at_every_budget(
    mixed_files: list[Path], mixed_df: pd.DataFrame
) -> None:
    from hwevrsnas.analysis.collect import at_budgets, collect_records

    # mo-random draws what random draws at the same seed and budget: every pair ties.
    table = paired_comparisons(mixed_df, "regret").set_index(["method_a", "method_b"])
    same = table.loc[("mo-random:fake", "random:fake")]
    assert (same["n"], same["n_slices"], same["n_ties"], same["p_value"]) == (3, 1, 3, 1.0)
    # The multi run's answer at each threshold pairs with the single runs there: one setting per threshold.
    row = table.loc[("hw-evrsnas:fake", "mo-hdnas:fake")]
    ga = mixed_df[mixed_df["method"] == "hw-evrsnas"].groupby("threshold")["regret"].mean()
    mo = mixed_df[mixed_df["method"] == "mo-hdnas"].groupby("threshold")["regret"].mean()
    assert (row["n"], row["n_slices"]) == (len(MULTI_QUANTILES), 1)
    assert row["mean_diff"] == pytest.approx((ga - mo.loc[ga.index]).mean())
    df, records = collect_records(mixed_files)
    rows = at_budgets(df, records, [5, 30])
    multi = rows[rows["multi_threshold"]]
    for budget in (5, 30):
        at = multi[multi["budget"] == budget].set_index(["run_id", "threshold"])
        final = df[df["multi_threshold"]].set_index(["run_id", "threshold"]).loc[at.index]
        assert (at["index"] == final["index"]).all() and (at["regret"] == final["regret"]).all()


def test_cost_and_device_tables_count_a_multi_run_once(mixed_files: list[Path], mixed_df: pd.DataFrame) -> None:
    multi = _multi_records(mixed_files, "mo-hdnas")
    cost = cost_table(mixed_df).set_index("method")
    mo = cost.loc["mo-hdnas:fake"]
    walls = [r["wall_seconds"] for r in multi.values()]
    assert (mo["n_runs"], mo["thresholds_per_run"]) == (len(MULTI_SEEDS), 3)
    assert mo["unique_evaluations_mean"] == np.mean([r["unique_evaluations"] for r in multi.values()])
    assert mo["cold_seconds_mean"] == pytest.approx(np.mean(walls))
    assert mo["cold_seconds_total"] == pytest.approx(sum(walls))
    assert mo["cold_seconds_per_threshold"] == pytest.approx(sum(walls) / (3 * len(MULTI_SEEDS)))
    assert mo["mo_hdnas_260s_over_this"] == pytest.approx(260.0 / mo["cold_seconds_per_threshold"])
    ga = cost.loc["hw-evrsnas:fake"]
    assert (ga["n_runs"], ga["thresholds_per_run"]) == (3 * len(MULTI_SEEDS), 1)
    assert ga["cold_seconds_per_threshold"] == pytest.approx(ga["cold_seconds_mean"])
    devices = device_table(mixed_df).set_index("method")
    assert (devices.loc["mo-hdnas:fake", "n_runs"], devices.loc["mo-hdnas:fake", "n_answers"]) == (2, 6)
    assert (devices.loc["random:fake", "n_runs"], devices.loc["random:fake", "n_answers"]) == (6, 6)
    assert not any("seconds" in column for column in devices.columns)  # machine-dependent: the cost table's


def test_nine_constraints_totals_are_the_sums_of_the_runs(mixed_files: list[Path], mixed_df: pd.DataFrame) -> None:
    from hwevrsnas.analysis.result_tables import CROSS_HARDWARE, nine_constraints_table

    table = nine_constraints_table(mixed_df).set_index("method")
    records = [load_result(p) for p in mixed_files]
    for method in ("mo-hdnas", "mo-random", "hw-evrsnas", "random", "oracle"):
        label = method if method == "oracle" else f"{method}:fake"
        mine = [r for r in records if r["method"] == method]
        searches, evaluations, seconds, regrets = [], [], [], []
        for seed in MULTI_SEEDS:
            runs = [r for r in mine if r["setting"]["seed"] == seed]
            searches.append(len(runs))
            evaluations.append(sum(r["unique_evaluations"] for r in runs))
            seconds.append(sum(r["wall_seconds"] for r in runs))  # no score cache: cold = wall
            regrets += [a["regret"] for r in runs for a in r.get("answers") or [r]]
        row = table.loc[label]
        assert (row["n"], row["n_incomplete"], row["thresholds_mean"]) == (len(MULTI_SEEDS), 0, 3)
        assert row["searches_mean"] == np.mean(searches) == (1 if method.startswith("mo-") else 3)
        assert row["unique_evaluations_mean"] == pytest.approx(np.mean(evaluations))
        assert row["evaluations_per_threshold"] == pytest.approx(sum(evaluations) / (3 * len(MULTI_SEEDS)))
        assert row["cold_seconds_mean"] == pytest.approx(np.mean(seconds))
        assert row["regret_mean"] == pytest.approx(np.mean(regrets)) and row["feasible_rate"] == 1.0
        ga_seconds = sum(r["wall_seconds"] for r in records if r["method"] == "hw-evrsnas")
        expected = math.nan if method == "oracle" else ga_seconds / sum(seconds)
        assert row["hw_evrsnas_seconds_over_this"] == pytest.approx(expected, nan_ok=True)
    published = table.loc["MO-HDNAS (published)"]
    assert (published["gpu_hours"], published["searches_mean"], published["thresholds_mean"]) == (0.65, 1, 9)
    assert published["cold_seconds_mean"] == pytest.approx(0.65 * 3600)
    assert published["hw_evrsnas_seconds_over_this"] == pytest.approx(20.87 / 0.65)
    assert table.loc["HW-EvRSNAS (published)", "gpu_hours"] == 20.87
    assert CROSS_HARDWARE in published["source"] and "second-hand" in published["source"]
    # A method that missed a threshold of the slice is counted apart, not averaged in.
    partial = mixed_df[~((mixed_df["method"] == "random") & (mixed_df["seed"] == 1) & (mixed_df["quantile"] == 0.7))]
    row = nine_constraints_table(partial).set_index("method").loc["random:fake"]
    assert (row["n"], row["n_incomplete"]) == (1, 1)


def test_fronts_table_summarises_the_multi_runs(mixed_files: list[Path], mixed_df: pd.DataFrame) -> None:
    from hwevrsnas.analysis.result_tables import fronts_table

    table = fronts_table(mixed_df, n_boot=500).set_index("method")
    assert list(table.index) == ["mo-hdnas:fake", "mo-random:fake"]
    for label, row in table.iterrows():
        runs = _multi_records(mixed_files, label.split(":")[0]).values()
        ratios = [r["hypervolume_ratio"] for r in runs]
        assert (row["n_runs"], row["n_settings"]) == (len(MULTI_SEEDS), 1)
        assert row["hypervolume_ratio_mean"] == pytest.approx(np.mean(ratios))
        assert row["hypervolume_ratio_lo"] <= row["hypervolume_ratio_mean"] <= row["hypervolume_ratio_hi"]
        assert row["igd_mean"] == pytest.approx(np.mean([r["igd"] for r in runs]))
        assert row["front_size_mean"] == np.mean([len(r["front"]) for r in runs])
    assert fronts_table(mixed_df[~mixed_df["multi_threshold"]]).empty


def test_aggregate_writes_the_multi_tables_and_front_plot_reproducibly(
    mixed_files: list[Path], nb201_h5: Path, tmp_path: Path
) -> None:
    from hwevrsnas.analysis import front_plot_stem

    out, plots = tmp_path / "tables", tmp_path / "plots"
    written = aggregate(list(reversed(mixed_files)), nb201_h5.parent, out, plots)
    names = {p.name for p in written}
    stem = front_plot_stem("nb201", "cifar10", "fpga", "latency", "cifar10")
    assert stem == "front_nb201_cifar10_fpga_latency"
    assert {"nine_constraints.csv", "nine_constraints.md", "fronts.csv", "fronts.md", f"{stem}.png", f"{stem}.pdf",
            "device_nb201_cifar10_fpga_latency.png"} <= names  # fmt: skip
    nine = pd.read_csv(out / "nine_constraints.csv").set_index("method")
    assert nine.loc["mo-hdnas:fake", "searches_mean"] == 1 and nine.loc["hw-evrsnas:fake", "searches_mean"] == 3
    text = (out / "nine_constraints.md").read_text()
    assert "| MO-HDNAS (published) |" in text and "| 0.65 |" in text and "| 20.87 |" in text
    main = pd.read_csv(out / "main.csv")
    assert set(main["method"]) == {"hw-evrsnas:fake", "mo-hdnas:fake", "mo-random:fake", "oracle", "random:fake"}
    assert set(main.loc[main["method"] == "mo-hdnas:fake", "quantile"]) == set(MULTI_QUANTILES)
    cost_md = (out / "cost.md").read_text()
    assert [line for line in cost_md.splitlines() if line.startswith("## ")] == [
        "## Evaluations and seconds per search", "## Energy and CO2 (estimated from cold seconds)",
        "## Ratios to published search costs: a cross-hardware comparison (different machines)",
    ]  # fmt: skip
    before = {path: path.read_bytes() for path in written}
    for path in written:
        path.unlink()
    again = aggregate(mixed_files, nb201_h5.parent, out, plots, workers=2)  # the run figures in a forked process
    assert again == written
    for path, data in before.items():
        assert path.read_bytes() == data, f"{path.name} changed on a second aggregate, in two processes"


def test_markdown_writes_counts_as_integers_and_missing_values_as_dashes() -> None:
    frame = pd.DataFrame({
        "method": ["a", "b"], "n_runs": [3.0, np.nan], "n": pd.array([2, None], dtype="Int64"),
        "budget": [25.0, 400.0], "seconds": [27871.3, 0.5], "rate": [0.5, np.nan],
    })  # fmt: skip
    lines = markdown(frame, {"*": ".3g"}).splitlines()
    assert lines[2] == "| a | 3 | 2 | 25 | 27871 | 0.5 |"
    assert lines[3] == "| b | - | - | 400 | 0.5 | - |"


def _captured(monkeypatch) -> list:
    """Replace plots.save_figure with one that records the figure too."""
    from hwevrsnas.analysis import plots

    figures, save = [], plots.save_figure
    monkeypatch.setattr(plots, "save_figure", lambda fig, stem: figures.append(fig) or save(fig, stem))
    return figures


def test_device_plot_labels_thresholds_with_quantiles_and_picks_with_thresholds(
    nb201, mixed_df: pd.DataFrame, tmp_path: Path, monkeypatch
) -> None:
    from hwevrsnas.analysis.plots import plot_device

    figures = _captured(monkeypatch)
    thresholds = sorted(mixed_df["threshold"].unique())
    paths = plot_device(nb201, "cifar10", "fpga", "latency", thresholds, mixed_df, tmp_path / "d")
    texts = [t.get_text() for t in figures[0].axes[0].texts]
    assert [t for t in texts if t.startswith("T")] == [f"T{k} q{q:g}" for k, q in enumerate(MULTI_QUANTILES, 1)]
    # Every distinct (method, pick) is annotated with the numbers of the thresholds it answered.
    picks = mixed_df.groupby(["label", "index"])["threshold"].apply(
        lambda t: ",".join(str(thresholds.index(v) + 1) for v in sorted(set(t)))
    )  # fmt: skip
    assert sorted(t for t in texts if not t.startswith("T")) == sorted(picks)
    first = [p.read_bytes() for p in paths]
    plot_device(nb201, "cifar10", "fpga", "latency", thresholds, mixed_df, tmp_path / "d")
    assert [p.read_bytes() for p in paths] == first


def test_front_plot_draws_the_exact_front_and_the_median_run(
    nb201, mixed_files: list[Path], tmp_path: Path, monkeypatch
) -> None:
    from hwevrsnas.analysis.fronts import exact_front
    from hwevrsnas.analysis.plots import plot_front, representative_run
    from hwevrsnas.search.costs import CostModel

    runs = {f"{m}:fake": list(_multi_records(mixed_files, m).values()) for m in ("mo-hdnas", "mo-random")}
    chosen, n = representative_run(runs["mo-hdnas:fake"])
    ratios = sorted(r["hypervolume_ratio"] for r in runs["mo-hdnas:fake"])
    assert n == 2 and chosen["hypervolume_ratio"] == ratios[0]  # the lower median of two
    figures = _captured(monkeypatch)
    paths = plot_front(nb201, "cifar10", "fpga", "latency", runs, tmp_path / "f")
    assert [p.suffix for p in paths] == [".png", ".pdf"]
    ax = figures[0].axes[0]
    exact = exact_front(CostModel.nb201(nb201, "cifar10", "fpga", "latency"))
    line = next(l for l in ax.lines if l.get_label().startswith("exact front"))
    np.testing.assert_array_equal(line.get_ydata()[:-1], exact.accuracies)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(t.startswith(f"mo-hdnas:fake: seed {chosen['setting']['seed']} (median HV ratio") for t in legend)
    assert sorted(t.get_text() for t in ax.texts) == [f"T{k} q{q:g}" for k, q in enumerate(MULTI_QUANTILES, 1)]
    first = [p.read_bytes() for p in paths]
    plot_front(nb201, "cifar10", "fpga", "latency", runs, tmp_path / "f")
    assert [p.read_bytes() for p in paths] == first


def test_fidelity_plot_names_each_score_and_has_no_empty_panel(tmp_path: Path, monkeypatch) -> None:
    from hwevrsnas.analysis.plots import plot_fidelity

    rng = np.random.default_rng(1)
    accuracy = rng.uniform(80, 94, 20)
    scores = pd.DataFrame({"index": range(20), "accuracy": accuracy, "params": accuracy / 90,
                           "quick:cka": accuracy / 100, "zc:synflow": 10.0 ** rng.uniform(10, 40, 20),
                           "s10:cka+params": rng.uniform(0, 20, 20), "empty": np.nan})  # fmt: skip
    scores.to_csv(tmp_path / "scores.csv", index=False)
    figures = _captured(monkeypatch)
    paths = plot_fidelity(tmp_path / "scores.csv", tmp_path / "fid")
    axes = figures[0].axes
    assert len(axes) == 4  # one per drawn proxy: the empty column is left out, no blank axes
    labels = [ax.get_xlabel().replace("\n", " ") for ax in axes]
    assert labels[0] == "params: #params (millions)"
    assert labels[1] == "quick:cka: linear CKA to the reference after 'quick' training"
    assert labels[2].startswith("zc:synflow: zero-cost proxy synflow") and labels[2].endswith("log axis")
    assert "mean of the ranks of s10:cka and #params" in labels[3]
    assert "empty" in figures[0].get_suptitle()
    first = [p.read_bytes() for p in paths]
    plot_fidelity(tmp_path / "scores.csv", tmp_path / "fid")
    assert [p.read_bytes() for p in paths] == first


def test_labels_sharing_a_colour_get_markers_that_do_not_look_alike() -> None:
    from hwevrsnas.analysis.plots import COLORS, style_of

    labels = [f"method-{i:02d}" for i in range(2 * len(COLORS))]
    styles = style_of(labels)
    assert len(set(styles.values())) == len(labels)
    look_alike = {"o": "o", "h": "o", "s": "s", "p": "s"}
    for first, second in zip(labels[: len(COLORS)], labels[len(COLORS):]):
        (colour, marker), (colour2, marker2) = styles[first], styles[second]
        assert colour == colour2 and look_alike.get(marker, marker) != look_alike.get(marker2, marker2)


def test_the_anytime_figure_draws_each_proxys_perfect_search_once_per_panel(tmp_path: Path, monkeypatch) -> None:
    """replot_anytime reads the oracle-gap page and draws, per panel, one dotted level per proxy that a method with a
    trajectory searches on: the answer-weighted mean of its proxy-oracle regret over the datasets."""
    from hwevrsnas.analysis import plots
    from hwevrsnas.analysis.result_tables import markdown

    methods = ["hw-evrsnas:quick", "random:quick", "zc-params:quick", "oracle"]
    anytime = pd.DataFrame([{"method": m, "budget": b, "n": 9, "regret_penalised_mean": 1.0, "regret_penalised_lo": 0.5,
                             "regret_penalised_hi": 3.5} for m in methods for b in (25, 100)])  # fmt: skip
    (tmp_path / "anytime.md").write_text(markdown(anytime, ".4g"))
    gaps = pd.DataFrame({"dataset": ["cifar10", "cifar100", "cifar10", "cifar10"],
                         "method": ["hw-evrsnas", "hw-evrsnas", "random", "zc-params"],
                         "proxy": ["rsnas:quick", "rsnas:quick", "rsnas:quick", "params"], "answers": [30, 10, 40, 40],
                         "proxy-oracle regret": [1.0, 3.0, 1.5, 2.0]})  # fmt: skip
    (tmp_path / "gap.md").write_text("    cmd\n\n" + markdown(gaps, ".4g"))
    saved = {}
    monkeypatch.setattr(plots, "save_figure", lambda fig, stem: saved.setdefault(Path(stem).name, fig) and [])
    plots.replot_anytime(tmp_path / "anytime.md", tmp_path / "anytime", tmp_path / "gap.md")
    dotted = [[line.get_label() for line in ax.get_lines() if line.get_linestyle() == ":"] for ax in saved["anytime"].axes]
    # hw-evrsnas: (30 * 1.0 + 10 * 3.0) / 40 = 1.5 = random's; one level for the proxy they share.
    assert dotted == [["perfect search on rsnas:quick: 1.50"], ["perfect search on params: 2.00"]]

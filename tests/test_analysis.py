"""Analysis: collecting run files, statistics (bootstrap, Holm, Wilcoxon), tables, figures, `aggregate`.

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
from hwevrsnas.analysis.statistics import bootstrap_ci, holm, paired_comparisons, wilcoxon_p
from hwevrsnas.analysis.tables import PUBLISHED_SECONDS, cost_table, device_table, main_table, markdown, write_table
from hwevrsnas.search.result import load_result, timing_path

DEVICES = ("fpga", "eyeriss")
SEEDS = (0, 1, 2)
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def runs(nb201, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """18 run files, 2 devices x 3 methods x 3 seeds at the median latency: runs/<device>/<method>/seed<k>.json."""
    from hwevrsnas.search.costs import CostModel
    from hwevrsnas.search.config import GAConfig
    from hwevrsnas.search.result import Setting, run_search, write_result

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


def test_holm_on_a_known_example() -> None:
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    np.testing.assert_allclose(holm([0.5, np.nan, 0.01]), [0.5, np.nan, 0.02])
    assert holm([]).size == 0 and holm([0.9, 0.8]).max() <= 1.0


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


def test_paired_comparisons_pair_runs_by_setting_and_seed(df: pd.DataFrame) -> None:
    table = paired_comparisons(df, "regret")
    assert list(zip(table["method_a"], table["method_b"])) == [
        ("hw-evrsnas:fake", "oracle"), ("hw-evrsnas:fake", "rea-valid12"), ("oracle", "rea-valid12"),
    ]  # fmt: skip
    row = table.set_index(["method_a", "method_b"]).loc[("hw-evrsnas:fake", "oracle")]
    ga = df[df["method"] == "hw-evrsnas"].set_index(["device", "seed"])["regret"]
    oracle = df[df["method"] == "oracle"].set_index(["device", "seed"])["regret"]
    diff = (ga - oracle.loc[ga.index]).to_numpy()
    assert row["n_pairs"] == len(DEVICES) * len(SEEDS) and row["n_settings"] == len(DEVICES)
    assert row["mean_diff"] == pytest.approx(diff.mean()) and (oracle == 0).all()
    assert row["diff_lo"] <= row["mean_diff"] <= row["diff_hi"]
    counts = (row["n_a_lower"], row["n_b_lower"], row["n_ties"])
    assert counts == ((diff < 0).sum(), (diff > 0).sum(), (diff == 0).sum())
    assert row["p_value"] == pytest.approx(wilcoxon_p(diff)[1])
    np.testing.assert_allclose(table["p_holm"], holm(table["p_value"]))
    # Identical methods: every difference is zero, p = 1.
    twin = df[df["method"] == "oracle"].assign(label="oracle-copy")
    same = paired_comparisons(pd.concat([df[df["method"] == "oracle"], twin]))
    assert same[["n_pairs", "n_ties", "p_value", "p_holm"]].values.tolist() == [[6, 6, 1.0, 1.0]]


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


def _benchmarks(folder: Path, runs: Path) -> None:
    """Snakemake benchmark TSVs for the hw-evrsnas runs of fpga: benchmarks/search/<path under runs>.tsv."""
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    for seed in SEEDS:
        tsv = folder / "search" / "fpga" / "hw-evrsnas" / f"seed{seed}.tsv"
        tsv.parent.mkdir(parents=True, exist_ok=True)
        tsv.write_text(header + f"{10.5 + seed}\t0:00:10\t512.0\t900\t400\t450\t1.0\t2.0\t95.0\t{9.0 + seed}\n")


def test_aggregate_writes_every_file_and_is_reproducible(
    runs: Path, run_files: list[Path], nb201_h5: Path, tmp_path: Path
) -> None:
    study = _study(tmp_path / "study")
    _benchmarks(tmp_path / "benchmarks", runs)
    out, plots = tmp_path / "tables", tmp_path / "plots"
    written = aggregate(run_files, nb201_h5.parent, out, plots, study_dir=study, benchmarks_dir=tmp_path / "benchmarks")
    expected = {out / f"{name}.{ext}" for name in ("main", "devices", "cost", "comparisons", "fidelity") for ext in ("csv", "md")}
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
    fidelity = pd.read_csv(out / "fidelity.csv")
    assert {"params", "s10:cka", "s10:cka+params"} <= set(fidelity["proxy"]) and (fidelity["n"] == 30).all()
    cost = pd.read_csv(out / "cost.csv").set_index("method")
    assert cost.loc["hw-evrsnas:fake", "benchmark_runs"] == 3
    assert cost.loc["hw-evrsnas:fake", "benchmark_s_total"] == pytest.approx(10.5 + 11.5 + 12.5)
    assert cost.loc["hw-evrsnas:fake", "benchmark_cpu_s_total"] == pytest.approx(9.0 + 10.0 + 11.0)
    assert math.isnan(cost.loc["oracle", "benchmark_runs"])
    before = {path: path.read_bytes() for path in expected}

    # Again, through the command line, into the same folders: byte-identical tables (and figures).
    parser = argparse.ArgumentParser()
    aggregate_cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args([
        "aggregate", "--runs-dir", str(runs), "--tables", str(nb201_h5.parent), "--out", str(out),
        "--plots", str(plots), "--study", str(study), "--benchmarks", str(tmp_path / "benchmarks"),
    ])  # fmt: skip
    assert args.func(args) == 0
    for path, data in before.items():
        assert path.read_bytes() == data, f"{path.name} changed on a second aggregate"

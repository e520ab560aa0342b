"""Full-space fidelity (analysis.fidelity): class truths, rank statistics, precision and proxy-oracle regret,
each against an independent computation."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from hwevrsnas.analysis.fidelity.full import (
    AZ_NAS_MEMBERS, az_nas_column, class_frame, fidelity_table, proxy_oracle_regret, summary_markdown, with_rank_means,
)  # fmt: skip
from hwevrsnas.cli import main
from hwevrsnas.spaces import nb201 as nb201_space


@pytest.fixture(scope="module")
def classes(nb201) -> pd.DataFrame:
    return class_frame(nb201)


def test_a_class_is_its_representative_and_the_mean_of_its_members(nb201, classes: pd.DataFrame) -> None:
    assert len(classes) == 6466 and int(classes["degenerate"].sum()) == 5
    twins = classes[classes["iso_class"].map(pd.Series(nb201.iso_class).value_counts()) > 3].iloc[0]
    members = np.flatnonzero(nb201.iso_class == twins["iso_class"])
    assert twins["cifar100"] == pytest.approx(nb201.accuracy(members, "cifar100").mean())
    rep = nb201.ops[int(twins["index"])]
    assert (nb201_space.representative(rep) == rep).all() and twins["params"] == pytest.approx(float(nb201_space.params_mb(rep)))


def test_rank_statistics_precision_and_top_k_against_a_hand_count() -> None:
    truth = np.arange(200, dtype=float)  # class i has accuracy i
    proxy = truth.copy()
    proxy[[199, 198]] = [0.5, 1.5]  # the two best classes ranked near the bottom
    classes = pd.DataFrame({"degenerate": False, "cifar10": truth, "cifar100": truth, "ImageNet16-120": truth})
    table = fidelity_table(pd.DataFrame({"p": proxy}), classes, n_boot=0).set_index(["dataset", "subset"])
    row = table.loc[("cifar10", "all")]
    assert row["kendall_tau"] == pytest.approx(stats.kendalltau(proxy, truth).statistic)
    # Top 1 % = 2 classes: the proxy's top 2 are classes 197 and 196, neither in the true top 2.
    assert row["precision_1%"] == 0.0 and row["precision_5%"] == pytest.approx(8 / 10)
    assert row["top10_accuracy"] == pytest.approx(np.mean(np.arange(187, 198)[::-1][:10]))
    assert table.loc[("cifar10", "top 10%"), "n"] == 20


def test_rank_means_rank_both_members_over_the_same_classes() -> None:
    scores = pd.DataFrame({"p": [3.0, np.nan, 1.0, 2.0], "params": [1.0, 2.0, 3.0, 4.0]})
    out = with_rank_means(scores)
    # Over the three classes where p is known, params ranks 1, 2, 3 (not 1, 3, 4 over all four).
    assert out["p+params"].tolist()[0] == (3 + 1) / 2 and math.isnan(out["p+params"][1])
    assert out["p+params"].tolist()[2:] == [(1 + 2) / 2, (2 + 3) / 2]


def test_proxy_oracle_regret_by_brute_force(nb201, classes: pd.DataFrame) -> None:
    rng = np.random.default_rng(0)
    scores = pd.DataFrame({"random": rng.random(len(classes)), "params": classes["params"]})
    oracle = proxy_oracle_regret(scores, classes, nb201, [("fpga", "latency")], quantiles=(0.3,))
    column = nb201.cost_column("fpga_latency", "cifar10")
    threshold = float(np.quantile(column[~np.isnan(column)], 0.3))
    accuracy = nb201.accuracy(slice(None), "cifar10")
    position = {int(c): p for p, c in enumerate(classes["iso_class"])}
    for proxy in scores.columns:
        best, best_index = -math.inf, None
        for index in range(len(nb201)):
            if not column[index] <= threshold or nb201.degenerate[index]:
                continue
            score = scores[proxy].iloc[position[int(nb201.iso_class[index])]]
            if score > best:  # strict: ties go to the lowest index
                best, best_index = score, index
        optimum = accuracy[column <= threshold].max()
        row = oracle[oracle["proxy"] == proxy].iloc[0]
        assert row["index"] == best_index and row["regret"] == pytest.approx(optimum - accuracy[best_index])


def test_the_summary_lists_every_proxy(nb201, classes: pd.DataFrame) -> None:
    scores = with_rank_means(pd.DataFrame({"flops": classes["flops"], "params": classes["params"]}))
    fidelity = fidelity_table(scores, classes, n_boot=20)
    oracle = proxy_oracle_regret(scores, classes, nb201, [("fpga", "latency")], quantiles=(0.5,))
    text = summary_markdown(fidelity, oracle)
    for proxy in ("flops", "params", "flops+params"):
        assert f"| {proxy} |" in text
    assert "fpga latency" in text


def test_oracle_gap_joins_each_method_with_its_proxy_on_the_same_settings() -> None:
    from hwevrsnas.analysis.fidelity.full import oracle_gap_table

    oracle = pd.DataFrame({
        "proxy": ["p", "p", "q"], "device": ["fpga", "fpga", "fpga"], "metric": ["latency"] * 3,
        "quantile": [0.1, 0.30000000000000004, 0.1], "threshold": [1.0, 2.0, 1.0], "index": [0, 1, 2],
        "regret": [1.0, 0.5, 3.0],
    })  # fmt: skip
    runs = pd.DataFrame({
        "method": ["a", "a", "a", "b", "c"], "device": ["fpga"] * 5, "metric": ["latency"] * 5,
        "quantile": [0.1, 0.3, 0.3, 0.1, 0.1], "regret": [2.0, 0.5, np.nan, 3.0, 9.0],
    })  # fmt: skip
    gap = oracle_gap_table(runs, oracle, {"a": "p", "b": "q"}).set_index("method")
    assert set(gap.index) == {"a", "b"}  # c has no proxy
    assert gap.loc["a", "answers"] == 2  # the infeasible answer (regret NaN) is left out
    assert gap.loc["a", "regret"] == pytest.approx(1.25) and gap.loc["a", "proxy_oracle_regret"] == pytest.approx(0.75)
    assert gap.loc["a", "search_share"] == pytest.approx(0.5) and gap.loc["a", "at_least_oracle"] == pytest.approx(0.5)
    assert gap.loc["b", "at_least_oracle"] == 1.0


def test_oracle_gaps_pool_the_replicates_by_their_answers() -> None:
    from hwevrsnas.analysis.oracle_gap import oracle_gap_markdown, pooled_oracle_gaps

    gaps = pd.DataFrame({
        "dataset": ["cifar10"] * 3, "replicate": [0, 1, None], "method": ["ga", "ga", "zc"], "proxy": ["r", "r", "params"],
        "answers": [10, 30, 5], "regret": [2.0, 1.0, 4.0], "proxy_oracle_regret": [1.0, 1.0, 3.0],
        "search_share": [1.0, 0.0, 1.0], "at_least_oracle": [0.2, 0.6, 0.0],
    })  # fmt: skip
    pooled = pooled_oracle_gaps(gaps).set_index("method")
    assert pooled.loc["ga", "replicates"] == 2 and pooled.loc["ga", "answers"] == 40
    assert pooled.loc["ga", "regret"] == pytest.approx((10 * 2.0 + 30 * 1.0) / 40)
    assert pooled.loc["ga", "search_share"] == pytest.approx(0.25) and pooled.loc["ga", "at_least_oracle"] == pytest.approx(0.5)
    assert (pooled.loc["ga", "share_min"], pooled.loc["ga", "share_max"]) == (0.0, 1.0)
    assert pooled.loc["zc", "replicates"] == 0
    text = oracle_gap_markdown(gaps, "cmd")
    assert "| cifar10 | ga | r | 2 | 40 | 1.25 | 1.00 | +0.25 | +0.00 to +1.00 | 50% |" in text
    assert "| cifar10 | zc | params | - | 5 | 4.00 | 3.00 | +1.00 | - | 0% |" in text


def test_az_nas_column_ranks_flops_and_its_members_over_the_non_degenerate_classes(classes: pd.DataFrame) -> None:
    rng = np.random.default_rng(0)
    scores = pd.DataFrame({m: rng.normal(size=len(classes)) for m in AZ_NAS_MEMBERS})
    scores.iloc[3, 2] = np.nan  # a non-finite member (e.g. an identity cell's trainability) ranks lowest
    column = az_nas_column(scores, classes)
    live = ~classes["degenerate"].to_numpy()
    assert np.isnan(column[~live]).all() and not np.isnan(column[live]).any()
    n = int(live.sum())
    members = [classes["flops"].to_numpy()[live]] + [scores[m].to_numpy()[live] for m in AZ_NAS_MEMBERS]
    members[3] = np.where(np.isnan(members[3]), -np.inf, members[3])
    expected = sum(np.log(stats.rankdata(values) / n) for values in members)
    assert np.array_equal(column[live], expected)


def test_the_paper_sample_nests_and_leaves_degenerate_classes_out(classes: pd.DataFrame) -> None:
    """`hwevrsnas fidelity paper-sample` grows its sample across sessions: a larger --n keeps every class of a smaller one."""
    from hwevrsnas.analysis.fidelity.paper_sample import sample_rows

    small, large = sample_rows(classes, 40, seed=0), sample_rows(classes, 300, seed=0)
    assert (large[:40] == small).all() and len(set(large)) == 300
    assert not classes["degenerate"].to_numpy()[large].any()
    assert not (sample_rows(classes, 40, seed=1) == small).all()


def test_the_published_paper_sample_gives_its_published_fidelity(classes: pd.DataFrame) -> None:
    """docs/FIDELITY.md's `paper`-preset row is the Kendall tau of the published scores, recomputed here."""
    docs = Path(__file__).resolve().parents[1] / "docs"
    sample = pd.read_csv(docs / "scores" / "nb201-paper-sample.csv")
    published = pd.read_csv(docs / "fidelity_paper_sample" / "fidelity.csv").set_index(["proxy", "dataset", "subset"])
    accuracy = classes.set_index("index").loc[sample["index"], "cifar10"].to_numpy()
    assert len(sample) == published.loc[("rsnas:paper", "cifar10", "all"), "n"] == 360
    for proxy, values in (("rsnas:paper", sample["score"]), ("rsnas:paper, -loss", -sample["loss"])):
        tau = stats.kendalltau(values, accuracy).statistic
        assert tau == pytest.approx(published.loc[(proxy, "cifar10", "all"), "kendall_tau"], abs=1e-6)


def test_the_fidelity_command_reads_a_published_export_beside_a_table(nb201_h5, classes: pd.DataFrame, tmp_path) -> None:
    """`hwevrsnas fidelity` takes an export (.csv) as it takes a table; its zero-cost rows are those of the raw values
    the export holds, here MeCo's tau recomputed directly, and the platform it names labels nothing but the input."""
    export = Path(__file__).resolve().parents[1] / "docs" / "scores" / "nb201-zerocost.csv"
    out = tmp_path / "fidelity"
    assert main(["fidelity", "full", "--scores", str(export), "--platform-of-csv", "cpu/AVX2/torch-2.13.0+cpu",
                 "--tables", str(nb201_h5.parent), "--out", str(out), "--boot", "10"]) == 0  # fmt: skip
    fidelity = pd.read_csv(out / "fidelity.csv").set_index(["proxy", "dataset", "subset"])
    values = pd.read_csv(export).set_index("index").loc[classes["index"], "meco"].to_numpy()
    live = ~classes["degenerate"].to_numpy() & np.isfinite(values)
    tau = stats.kendalltau(values[live], classes["cifar10"].to_numpy()[live]).statistic
    assert fidelity.loc[("zc:meco", "cifar10", "all"), "kendall_tau"] == pytest.approx(tau, abs=1e-12)
    assert {"zc:synflow", "zc:naswot", "params", "flops"} <= set(fidelity.index.get_level_values("proxy"))


def test_the_sample_study_summary_recomputes_rank_means_instead_of_combining_them_again(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A scores.csv the study wrote back holds `X+params` columns; summarising it again must give the same table, and
    `--out` writes the summary elsewhere, leaving the study's files as they were."""
    rng = np.random.default_rng(3)
    accuracy = rng.normal(90, 3, 40)
    scores = pd.DataFrame({"index": np.arange(40), "accuracy": accuracy, "params": accuracy + rng.normal(0, 2, 40),
                           "quick:cka": accuracy + rng.normal(0, 4, 40)})  # fmt: skip
    study = tmp_path / "study"
    study.mkdir()
    scores.to_csv(study / "scores.csv", index=False)
    assert main(["fidelity", "sample", "summarise", "--study", str(study)]) == 0
    written = pd.read_csv(study / "scores.csv")
    assert list(written.columns) == ["index", "accuracy", "params", "quick:cka", "quick:cka+params"]
    expected = (written["quick:cka"].rank() + written["params"].rank()) / 2
    assert np.allclose(written["quick:cka+params"], expected)
    first = (study / "summary.md").read_text()
    before = {path.name: path.read_bytes() for path in study.iterdir()}
    out = tmp_path / "summary"
    assert main(["fidelity", "sample", "summarise", "--scores", str(study / "scores.csv"), "--out", str(out)]) == 0
    assert {path.name: path.read_bytes() for path in study.iterdir()} == before
    command, table = (out / "summary.md").read_text().split("\n\n", 1)
    assert table == first and "+params+params" not in table
    assert command == f"    hwevrsnas fidelity sample summarise --scores {study / 'scores.csv'} --seed 0 --out {out}"
    # A missing input is named, with what writes it, before anything is read or written.
    for argv, named in ((["--study", str(tmp_path / "none")], f"--study: {tmp_path / 'none' / 'scores.csv'} not found"),
                        (["--study", str(study), "--seconds", str(tmp_path / "t.csv")], f"--seconds: {tmp_path / 't.csv'} not found")):  # fmt: skip
        assert main(["fidelity", "sample", "summarise", *argv]) == 2
        assert named in capsys.readouterr().err
    assert {path.name: path.read_bytes() for path in study.iterdir()} == before

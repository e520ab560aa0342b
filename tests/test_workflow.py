"""The Snakemake workflow: grid logic (hwevrsnas.workflow), lint, dry runs, config errors, and the
tiny `.test` config end to end (in a temporary working directory, twice, and once more from scratch).

Configs get their defaults from Snakemake's own schema validation, as the Snakefile's do; without
Snakemake the module is skipped.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hwevrsnas import workflow as pipeline
from hwevrsnas.cli import search as search_cli
from hwevrsnas.search.config import DEFAULTS
from hwevrsnas.search.methods import get_method
from hwevrsnas.workflow import steps

snakemake_utils = pytest.importorskip("snakemake.utils")

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "Snakefile"
SCHEMA = REPO / "config" / "schema.yaml"
DEFAULT_CONFIG = REPO / "config" / "config.yaml"
PAPER_CONFIG = REPO / "config" / "presets" / "paper.yaml"
TEST_CONFIG = REPO / ".test" / "config" / "config.yaml"
SNAKEMAKE = Path(sys.executable).with_name("snakemake")


def with_defaults(config: dict) -> dict:
    """A config with the schema's defaults filled in by Snakemake's validation, as the Snakefile sees it."""
    snakemake_utils.validate(config, str(SCHEMA))
    return config


def load(path: Path) -> dict:
    """A config file with the schema's defaults filled in."""
    return with_defaults(yaml.safe_load(path.read_text()))


def snakemake(*args: str | Path, workdir: Path, env: dict | None = None, timeout: int = 600):
    """Run snakemake on the repository's Snakefile in `workdir`; return the completed process."""
    if not SNAKEMAKE.exists():
        pytest.skip(f"snakemake not installed next to {sys.executable}")
    command = [str(SNAKEMAKE), "--snakefile", str(SNAKEFILE), "--directory", str(workdir), *map(str, args)]
    return subprocess.run(
        command, cwd=workdir, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout
    )


def output(proc: subprocess.CompletedProcess) -> str:
    return proc.stdout + proc.stderr


def job_total(text: str) -> int:
    match = re.search(r"^total\s+(\d+)\s*$", text, re.M)
    assert match, f"no job stats in:\n{text[-3000:]}"
    return int(match.group(1))


def expected_jobs(config: dict) -> int:
    """Grid product plus fixed jobs, computed from the config here (independently of hwevrsnas.workflow)."""
    leaves, slices, proxy, nb201_proxy = set(), set(), False, False
    crossed = config["proxy"].get("pairing") == "crossed"
    proxy_seeds = (config["proxy"].get("seeds") or config["seeds"]) if crossed else config["seeds"]
    for entry in config["grid"]:
        th = entry.get("thresholds") or {}
        labels = {("q", float(q)) for q in th.get("quantiles", [])} | {("v", float(v)) for v in th.get("values", [])}
        methods = entry.get("methods") or config["methods"]
        proxy |= bool(set(methods) - {"rea-valid12", "oracle"})
        nb201_proxy |= entry["space"] == "nb201" and bool(set(methods) - {"rea-valid12", "oracle"})
        for device in entry["devices"]:
            slices.add((entry["space"], entry["dataset"], device, entry["metric"]))
            for method in methods:
                for label in [("all",)] if method.startswith("mo-") else labels:  # one run for every threshold
                    for seed in config["seeds"]:
                        for j in proxy_seeds if crossed and method not in ("rea-valid12", "oracle") else [None]:
                            leaves.add((entry["space"], entry["dataset"], device, entry["metric"], label, method, seed, j))
    # all fetch tables aggregate, and a proxy batch per proxy seed (matched: search seed k reads proxy seed k)
    fixed = 4 + len(proxy_seeds) * int(proxy) + int(bool(config.get("fidelity_study", {}).get("enabled")))
    scores = config.get("scores", {})
    if scores.get("table") and nb201_proxy:  # a served table per proxy seed: its fidelity only
        fixed += len(proxy_seeds)
    elif scores.get("enabled") and nb201_proxy:  # per proxy seed: its shards, their merge and the table's fidelity
        fixed += (scores.get("shards", 8) + 2) * len(proxy_seeds)
    return len(leaves) + 2 * len(slices) + fixed  # a search (and its check) per leaf, thresholds + slice per slice


# ---- unit tests of hwevrsnas.workflow ------------------------------------------------------------------------
@pytest.mark.parametrize("kind,number,label", [("quantile", 0.25, "q0.25"), ("value", 2.5, "v2.5"),
                                               ("value", 2, "v2.0"), ("value", 1e-05, "v1e-05"),
                                               ("quantile", 0.1, "q0.1"), ("value", 3.7249612345678, "v3.7249612345678")])  # fmt: skip
def test_threshold_label_round_trip(kind, number, label):
    assert pipeline.threshold_label(kind, number) == label
    assert pipeline.parse_threshold_label(label) == (kind, float(number))
    assert re.fullmatch(pipeline.WILDCARD_CONSTRAINTS["threshold"], label)
    flag = "--quantile" if kind == "quantile" else "--threshold"
    assert pipeline.threshold_cli_args(label) == [flag, repr(float(number))]


@pytest.mark.parametrize("label", ["x0.5", "q", "qabc", "0.5", "q-1"])
def test_bad_threshold_labels(label):
    with pytest.raises(ValueError, match="threshold label"):
        pipeline.parse_threshold_label(label)


@pytest.mark.parametrize(
    "leaf",
    [
        pipeline.Leaf("nb201", "cifar10", "fpga", "latency", "q0.25", "hw-evrsnas", 0),
        pipeline.Leaf("nb201", "ImageNet16-120", "titan_rtx_32", "latency", "v1e-05", "rea-valid12", 12),
        pipeline.Leaf("nb201", "cifar100", "pi5_torchmobile", "energy", "v2.0", "zc-synflow", 2),
        pipeline.Leaf("fbnet", "cifar100", "raspi4", "latency", "q0.9", "zc-params", 1),
    ],
)
def test_leaf_path_round_trip(leaf):
    for template in (pipeline.RUN, pipeline.TIMING, pipeline.CHECK, pipeline.SEARCH_LOG, pipeline.CHECK_LOG):
        path = leaf.path(template)
        assert pipeline.Leaf.from_path(path, template) == leaf
    assert pipeline.Leaf.from_path(leaf.path(pipeline.RUN)).slice_name == f"{leaf.space}_{leaf.dataset}_{leaf.device}_{leaf.metric}"
    # the timing sidecar is not a run file
    with pytest.raises(ValueError):
        pipeline.Leaf.from_path(leaf.path(pipeline.TIMING), pipeline.RUN)


def test_grid_expansion_counts():
    config = load(DEFAULT_CONFIG)
    leaves = pipeline.expand_grid(config)
    entry = config["grid"][0]
    single = [m for m in config["methods"] if not m.startswith("mo-")]
    assert len(leaves) == len(entry["devices"]) * (3 * len(single) + 1) * len(config["seeds"]) == 48
    assert {leaf.threshold for leaf in leaves if leaf.method == "mo-hdnas"} == {"all"}
    assert len(set(leaves)) == len(leaves)
    assert len(pipeline.slices(config)) == 3
    assert len(pipeline.run_targets(config)) == len(pipeline.check_targets(config)) == 48
    paper = load(PAPER_CONFIG)
    assert all(len(s.thresholds) == 9 for s in pipeline.slices(paper).values())
    assert {leaf.seed for leaf in pipeline.expand_grid(paper)} == {0, 1, 2}
    assert not any(leaf.space == "fbnet" and leaf.method in ("oracle", "rea-valid12") for leaf in pipeline.expand_grid(paper))
    assert len(pipeline.expand_grid(load(TEST_CONFIG))) == 3


def test_duplicate_entries_merge_thresholds():
    config = load(DEFAULT_CONFIG)
    config["methods"] = [m for m in config["methods"] if not m.startswith("mo-")]  # they take no mixed thresholds
    extra = copy.deepcopy(config["grid"][0])
    extra["devices"] = ["fpga"]
    extra["thresholds"] = {"quantiles": [0.5, 0.9], "values": [3.0]}
    config["grid"].append(extra)
    pipeline.check_config(config)
    fpga = pipeline.slices(config)["nb201_cifar10_fpga_latency"]
    assert fpga.thresholds == ("q0.25", "q0.5", "q0.75", "q0.9", "v3.0")
    assert len(pipeline.expand_grid(config)) == 45 + 2 * len(config["methods"])  # q0.5 is not repeated


def test_search_args():
    config = load(TEST_CONFIG)
    wildcards = pipeline.Leaf("nb201", "cifar10", "fpga", "latency", "q0.5", "random", 0).wildcards()
    args = pipeline.search_args(config, wildcards)
    assert args[args.index("--quantile") + 1] == "0.5"
    assert args[args.index("--budget") + 1] == "6"  # search.overrides.random
    assert args[args.index("--population") + 1] == "4" and args[args.index("--preset") + 1] == "tiny"
    assert args[args.index("--seed") + 1] == args[args.index("--proxy-seed") + 1] == "0"
    assert "--mutation-p" not in args and "--tournament-size" not in args  # random search does not read them
    ga = pipeline.search_args(config, {**wildcards, "method": "hw-evrsnas", "threshold": "v3.5"})
    assert "--budget" not in ga and ga[ga.index("--threshold") + 1] == "3.5"
    assert "--cost-dataset" not in ga and ga[ga.index("--tournament-size") + 1] == "5"
    oracle = pipeline.search_args(config, {**wildcards, "method": "oracle"})
    assert not {a for a in oracle if a.startswith("--")} & {knob.flag for knob in search_cli.KNOBS.values()}
    assert "--preset" not in oracle and "--batch-dir" not in oracle and "--proxy-seed" not in oracle
    config["grid"][0]["cost_dataset"] = "cifar10"
    config["grid"][0]["dataset"] = "cifar100"
    other = pipeline.search_args(config, {**wildcards, "dataset": "cifar100"})
    assert other[other.index("--cost-dataset") + 1] == "cifar10"
    # every flag the workflow passes exists in the search CLI
    sub = argparse.ArgumentParser().add_subparsers()
    search_cli.add_parser(sub)
    parser = sub.choices["search"]
    flags = {option for action in parser._actions for option in action.option_strings}
    assert {a for a in args + ga if a.startswith("--")} <= flags
    assert pipeline.search_inputs(config, wildcards).keys() == {"table", "batch", "sources"}
    assert pipeline.search_inputs(config, {**wildcards, "method": "oracle"}).keys() == {"table"}


def test_ga_knobs_reach_the_search_cli():
    config = load(TEST_CONFIG)
    config["search"].update(mutation_p=0.3, crossover_p=0.7, elites=2, tournament_size=3)
    pipeline.check_config(config)
    args = pipeline.search_args(config, pipeline.Leaf("nb201", "cifar10", "fpga", "latency", "q0.5", "hw-evrsnas", 0).wildcards())
    assert [args[args.index(flag) + 1] for flag in ("--mutation-p", "--crossover-p", "--elites", "--tournament-size")] == [
        "0.3", "0.7", "2", "3"
    ]
    config["search"]["elites"] = 4
    with pytest.raises(pipeline.ConfigError, match=r"search\.elites"):
        pipeline.check_config(config)


def test_integral_float_knobs_become_integers_and_fractional_ones_are_rejected():
    config = load(TEST_CONFIG)
    config["search"]["population"] = 4.0
    config["search"]["overrides"]["random"]["budget"] = 6.0
    pipeline.check_config(config)
    args = pipeline.search_args(config, pipeline.Leaf("nb201", "cifar10", "fpga", "latency", "q0.5", "random", 0).wildcards())
    assert args[args.index("--population") + 1] == "4" and args[args.index("--budget") + 1] == "6"
    config["search"]["population"] = 4.5
    with pytest.raises(pipeline.ConfigError, match=r"search\.population.*integer.*4\.5"):
        pipeline.check_config(config)


def test_a_knob_reruns_only_the_leaves_that_read_it():
    config = load(TEST_CONFIG)
    changed = copy.deepcopy(config)
    changed["search"]["mutation_p"] = 0.3
    for method, reruns in (("hw-evrsnas", True), ("random", False), ("rea-valid12", False), ("oracle", False)):
        wildcards = pipeline.Leaf("nb201", "cifar10", "fpga", "latency", "q0.5", method, 0).wildcards()
        assert (pipeline.search_args(config, wildcards) != pipeline.search_args(changed, wildcards)) == reruns, method


def _walk(schema: dict, where: str):
    for name, sub in (schema.get("properties") or {}).items():
        yield f"{where}.{name}", sub
        yield from _walk(sub, f"{where}.{name}")
        if isinstance(sub.get("items"), dict):
            yield from _walk(sub["items"], f"{where}.{name}[]")
    for name, sub in (schema.get("$defs") or {}).items():
        yield from _walk(sub, f"$defs.{name}")


def test_schema_documents_every_key():
    schema = yaml.safe_load(SCHEMA.read_text())
    assert schema["$schema"].endswith("2020-12/schema")
    for key, sub in _walk(schema, ""):
        assert "description" in sub and "default" in sub, key
        if sub.get("type") == "object" or "properties" in sub:
            assert sub.get("additionalProperties") is not True, key
    defaults = with_defaults({})
    pipeline.check_config(defaults)
    assert defaults["proxy"]["preset"] == "paper"
    assert defaults["mirror"] is None and defaults["grid"][0]["thresholds"]["quantiles"][0] == 0.1


def test_schema_defaults_are_the_search_config_defaults():
    schema = yaml.safe_load(SCHEMA.read_text())
    search = schema["properties"]["search"]["properties"]
    assert {name: search[name]["default"] for name in DEFAULTS} == DEFAULTS
    assert set(schema["$defs"]["ga_overrides"]["properties"]) == set(DEFAULTS)


@pytest.mark.parametrize(
    "change,message",
    [
        ({"seedz": [0]}, r"seedz"),
        ({"search": {"populaton": 3}}, r"populaton"),
        ({"proxy": {"pairing": "crossed", "seeds": [0, -1]}}, r"-1"),
        ({"proxy": {"pairing": "shuffled"}}, r"shuffled"),
        ({"grid": [{"devices": ["fpga"], "thresholds": {"values": [-1.0]}}]}, r"-1\.0"),
        ({"grid": [{"devices": ["fpga"], "thresholds": {"quantiles": [1.5]}}]}, r"1\.5"),
    ],
)
def test_schema_names_the_key(change, message):
    with pytest.raises(Exception, match=message):
        with_defaults(change)


@pytest.mark.parametrize(
    "change,message",
    [
        ({"grid": [{"devices": ["fpga", "toaster"]}]}, r"grid\[0\]\.devices\[1\].*'toaster'"),
        ({"grid": [{"devices": ["pi5_litert"]}]}, r"grid\[0\]\.devices\[0\].*no latency costs for 'cifar10'"),
        ({"grid": [{"space": "fbnet", "dataset": "cifar100", "devices": ["fpga"]}]}, r"grid\[0\]\.methods.*oracle"),
        ({"methods": ["hw-evrsnas", "evrsnas"]}, r"methods\[1\].*'evrsnas'"),
        ({"proxy": {"preset": "fast"}}, r"proxy\.preset.*'fast'"),
        ({"seeds": [0, 1], "proxy": {"seeds": [0, 2]}}, r"proxy\.seeds: \[0, 2\] .*proxy\.pairing: crossed"),
        ({"search": {"elites": 20}}, r"search\.elites"),
    ],
)
def test_check_config_names_the_key(change, message):
    with pytest.raises(pipeline.ConfigError, match=message):
        pipeline.check_config(with_defaults(change))


def test_thresholds_are_checked_against_existing_tables(nb201_h5):
    config = with_defaults({"grid": [{"devices": ["fpga"], "thresholds": {"quantiles": [0.5], "values": [0.0001, 3.0]}}]})
    errors = pipeline.threshold_errors(config, nb201_h5.parent)
    assert len(errors) == 1 and "grid[0].thresholds.values[0]" in errors[0] and "below every architecture" in errors[0]


def test_plot_and_table_names():
    config = load(PAPER_CONFIG)
    plots = pipeline.aggregate_plots(config)
    assert "results/plots/device_nb201_cifar10_titan_rtx_32_latency.pdf" in plots
    assert not any("fbnet" in p for p in plots)
    assert "results/plots/fidelity.png" in plots and "results/tables/fidelity.md" in pipeline.aggregate_tables(config)
    config["grid"] = [{**config["grid"][0], "dataset": "cifar100", "cost_dataset": "cifar10", "devices": ["fpga"]}]
    assert "results/plots/device_nb201_cifar100_fpga_latency_cost-cifar10.png" in pipeline.aggregate_plots(config)
    assert pipeline.energy_settings({"energy": {"enabled": False}}) is None


def test_a_slice_summary_refuses_a_run_changed_after_its_check(tmp_path):
    from hwevrsnas.errors import DamagedFile
    from hwevrsnas.search.verify import run_digest

    run = tmp_path / "runs/seed0.json"
    run.parent.mkdir()
    run.write_text('{"schema": "run"}\n')
    (tmp_path / "runs/seed0.timing.json").write_text('{"wall_seconds": 1.5}\n')
    answer = {"threshold": 2.5, "feasible": True, "cost": 2.0, "test_accuracy": 91.0, "optimum_accuracy": 92.0,
              "regret": 1.0, "status": "ok"}  # fmt: skip
    check = {"leaf": {"method": "random", "seed": "0", "threshold": "q0.5"}, "proxy_seed": 0, "unique_evaluations": 7,
             "run_sha256": run_digest(run), **answer}  # fmt: skip
    check_file = tmp_path / "seed0.check.json"
    check_file.write_text(json.dumps(check))
    out = tmp_path / "slice.tsv"
    steps.summarise_slice([check_file], [run], out, ["q0.5"])
    header, row = out.read_text().splitlines()
    assert dict(zip(header.split("\t"), row.split("\t"))) == {
        "threshold_label": "q0.5", "threshold": "2.5", "method": "random", "seed": "0", "proxy_seed": "0",
        "feasible": "True", "cost": "2.0", "test_accuracy": "91.0", "optimum_accuracy": "92.0", "regret": "1.0",
        "unique_evaluations": "7", "status": "ok",
    }  # fmt: skip
    written = out.read_bytes()
    repair = f"`snakemake --forcerun {run}`"
    good = run.read_bytes()
    run.write_bytes(good.replace(b"}", b", }"))
    with pytest.raises(DamagedFile, match=f"^{re.escape(str(run))}: changed after its check") as caught:
        steps.summarise_slice([check_file], [run], out, ["q0.5"])
    assert repair in str(caught.value) and out.read_bytes() == written
    run.write_bytes(good)
    # The timing sidecar's seconds differ from run to run: not covered, so that a check is the same bytes each time.
    (tmp_path / "runs/seed0.timing.json").write_text('{"wall_seconds": 2.5}\n')
    assert steps.summarise_slice([check_file], [run], out, ["q0.5"]) and out.read_bytes() == written
    check_file.write_text(json.dumps({key: value for key, value in check.items() if key != "run_sha256"}))
    with pytest.raises(DamagedFile, match=f"^{re.escape(str(check_file))}: records no digest") as caught:
        steps.summarise_slice([check_file], [run], out, ["q0.5"])
    assert "1 of the slice's 1 checks" in str(caught.value) and "`rm -r results/checks results/slices`, then `snakemake`" in str(caught.value)
    assert out.read_bytes() == written


@pytest.mark.slow
def test_the_fidelity_study_step_runs_through_the_command_line(tiny_run, monkeypatch):
    workdir, env, _ = tiny_run
    monkeypatch.chdir(workdir)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    study = {"n": 3, "seed": 0, "variants": ["tiny=tiny"]}
    steps.run_fidelity_study(study, "cpu", "study", workers=1)
    summary = (workdir / "study" / "summary.csv").read_text().splitlines()
    assert summary[0].startswith("proxy,n,") and any(line.startswith("tiny:cka,3,") for line in summary)


# ---- Snakemake: lint, dry runs, config errors -----------------------------------------------------------------
@pytest.mark.slow
def test_lint_is_clean(tmp_path):
    proc = snakemake("--lint", "--configfile", DEFAULT_CONFIG, workdir=tmp_path)
    text = output(proc)
    assert proc.returncode == 0, text
    assert "Lints for" not in text, text


@pytest.mark.slow
def test_dry_run_plans_the_grid(tmp_path):
    proc = snakemake("-n", "--cores", "2", "--configfile", DEFAULT_CONFIG, workdir=tmp_path)
    assert proc.returncode == 0, output(proc)
    config = load(DEFAULT_CONFIG)
    assert job_total(output(proc)) == expected_jobs(config)


def test_dry_run_of_evidence_plans_every_page_of_docs(tmp_path):
    # The pages that read committed exports find them where `make evidence` runs: the repository's docs/scores.
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "scores").symlink_to(REPO / "docs" / "scores")
    for scores, seconds in pipeline.SAMPLE_STUDY_FILES.values():  # the sample study's inputs, not its summaries
        for name in (scores, seconds):
            (tmp_path / pipeline.SAMPLE_STUDY_DIR / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / pipeline.SAMPLE_STUDY_DIR / name).symlink_to(REPO / pipeline.SAMPLE_STUDY_DIR / name)
    evidence = REPO / "config" / "presets" / "evidence.yaml"
    proc = snakemake("-n", "--cores", "2", f"--configfile={evidence}", "evidence", workdir=tmp_path)
    assert proc.returncode == 0, output(proc)
    planned = dict(re.findall(r"^(evidence\w*)\s+(\d+)$", output(proc), re.M))
    assert planned == {
        "evidence": "1", "evidence_anytime": "1", "evidence_az_nas": "1", "evidence_ensemble": "1",
        "evidence_default_job": "1", "evidence_fidelity_full": "1", "evidence_oracle_gap": "1", "evidence_paper_preset": "1", "evidence_paper_sample": "1", "evidence_replicates": "1", "evidence_reproduction": "1", "evidence_sample_study": "4", "evidence_table": "8",
    }  # fmt: skip
    assert "docs/evidence/oracle_gap.md" in output(proc) and "docs/ensemble/az_nas.md" in output(proc)
    assert "docs/default/devices.md" in output(proc)


@pytest.mark.slow
@pytest.mark.parametrize("profile", ["local", "slurm", "cluster-generic"])
def test_dry_run_with_profile(tmp_path, profile):
    if profile != "local":
        pytest.importorskip(f"snakemake_executor_plugin_{profile.replace('-', '_')}")
    proc = snakemake("-n", "--profile", REPO / "profiles" / profile, "--configfile", DEFAULT_CONFIG, workdir=tmp_path)
    assert proc.returncode == 0, output(proc)
    assert job_total(output(proc)) == expected_jobs(load(DEFAULT_CONFIG))


@pytest.mark.slow
@pytest.mark.parametrize(
    "config,needles",
    [
        ({"grid": [{"devices": ["fpga", "toaster"]}]}, ["toaster", "grid[0].devices[1]"]),
        ({"grid": [{"devices": ["fpga"], "thresholds": {"values": [-2.5]}}]}, ["-2.5", "['values']"]),
        ({"seedz": [0, 1]}, ["seedz"]),
    ],
    ids=["unknown-device", "negative-threshold", "misspelt-key"],
)
def test_invalid_config_fails_before_any_job(tmp_path, config, needles):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = snakemake("-n", "--cores", "1", "--configfile", path, workdir=tmp_path)
    text = output(proc)
    assert proc.returncode != 0
    for needle in needles:
        assert needle in text, text
    assert "Job stats" not in text and "rule fetch" not in text
    assert not (tmp_path / "resources").exists() and not (tmp_path / "results").exists()


@pytest.mark.slow
def test_a_device_without_costs_for_the_dataset_fails_the_dry_run(tmp_path):
    config = yaml.safe_load(TEST_CONFIG.read_text())
    config["grid"][0]["dataset"] = "cifar100"  # fpga's latency exists for cifar10 only
    path = tmp_path / "cifar100.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = snakemake("-n", "--cores", "1", "--configfile", path, workdir=tmp_path)
    text = output(proc)
    assert proc.returncode != 0 and "Job stats" not in text, text
    message = "device 'fpga' has no latency costs for 'cifar100'; they exist for cifar10"
    assert f"config key grid[0].devices[0]: {message}" in text


@pytest.mark.slow
def test_a_named_score_table_is_served_and_none_is_built(tmp_path):
    from hwevrsnas.proxy.presets import get_preset

    from fakes import complete_table

    table = complete_table({"kind": "rsnas", "preset": get_preset("tiny").digest}, "rsnas:tiny", tmp_path / "served.h5")
    config = yaml.safe_load(TEST_CONFIG.read_text())
    config["scores"] = {**config.get("scores", {}), "enabled": False, "table": str(table)}
    path = tmp_path / "served.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = snakemake("-n", "-p", "--cores", "1", "--configfile", path, workdir=tmp_path)
    text = output(proc)
    assert proc.returncode == 0, text
    assert "rule score_shard" not in text and "rule scores:" not in text and "rule fidelity_full" in text
    assert f"--scores {table}" in text
    config["proxy"]["preset"] = "quick"  # the table holds tiny scores: refused in the dry run, naming the key
    path.write_text(yaml.safe_dump(config))
    proc = snakemake("-n", "--cores", "1", "--configfile", path, workdir=tmp_path)
    assert proc.returncode != 0 and "config key scores.table:" in output(proc) and "Job stats" not in output(proc)


@pytest.mark.slow
def test_an_unknown_key_is_named_with_the_nearest_valid_keys_and_its_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("populaton: 20\n")
    proc = snakemake("-n", "--cores", "1", "--configfile", path, workdir=tmp_path)
    text = output(proc)
    assert proc.returncode != 0
    assert f"unknown config key 'populaton' in {path}; nearest valid keys: search.population" in text
    assert len(text.splitlines()) <= 4 and "Failed validating" not in text, text  # not the schema and the config


# ---- the tiny config end to end -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_run(mirror, tmp_path_factory):
    """The `.test` config run from scratch in a temporary working directory; (workdir, env, process)."""
    workdir = tmp_path_factory.mktemp("workflow")
    env = {"HWEVRSNAS_MIRROR": str(mirror)}
    proc = snakemake("--cores", "2", "--configfile", TEST_CONFIG, workdir=workdir, env=env)
    assert proc.returncode == 0, output(proc)[-6000:]
    return workdir, env, proc


@pytest.mark.slow
def test_tiny_run_outputs(tiny_run):
    import pandas as pd

    workdir, _, _ = tiny_run
    config = load(TEST_CONFIG)
    leaves = pipeline.expand_grid(config)
    for leaf in leaves:
        record = json.loads((workdir / leaf.path(pipeline.RUN)).read_text())
        assert record["setting"]["method"] == leaf.method and record["setting"]["quantile"] == 0.5
        assert (workdir / leaf.path(pipeline.TIMING)).is_file()
        # Each leaf's log is its own (the warm worker that ran it resets logging per leaf): its search's summary line.
        search_log = (workdir / leaf.path(pipeline.SEARCH_LOG)).read_text()
        settings = re.findall(r"^INFO search Setting\(.*method='([a-z0-9-]+)'", search_log, re.M)
        assert settings == [leaf.method] and re.search(r"unique evaluations, [0-9.]+ s$", search_log, re.M), search_log
        assert re.search(r": \d+ checks passed$", (workdir / leaf.path(pipeline.CHECK_LOG)).read_text(), re.M)
        check = json.loads((workdir / leaf.path(pipeline.CHECK)).read_text())
        assert check["ok"] and check["threshold"] == record["threshold"]
        assert check["run_sha256"] == hashlib.sha256((workdir / leaf.path(pipeline.RUN)).read_bytes()).hexdigest()
    main = pd.read_csv(workdir / "results/tables/main.csv")
    n_settings = len(pipeline.slices(config)) * len(config["seeds"])  # one threshold per slice
    assert len(main) == n_settings * len(config["methods"])
    assert sorted(m.split(":")[0] for m in main["method"]) == sorted(config["methods"])
    assert (main.loc[main["method"] == "oracle", "regret_mean"] == 0).all()
    for path in pipeline.aggregate_tables(config) + pipeline.aggregate_plots(config) + pipeline.slice_targets(config):
        assert (workdir / path).stat().st_size > 0, path
    thresholds = json.loads((workdir / pipeline.threshold_targets(config)[0]).read_text())
    assert [t["label"] for t in thresholds["thresholds"]] == ["q0.5"]
    summary = (workdir / pipeline.slice_targets(config)[0]).read_text().splitlines()
    assert len(summary) == 1 + len(leaves)
    rows = [dict(zip(summary[0].split("\t"), line.split("\t"))) for line in summary[1:]]
    # The draw each run read: search seed k's proxy replicate k, none for the oracle.
    assert {(r["method"], r["seed"], r["proxy_seed"]) for r in rows} == {
        (m, str(k), "" if m == "oracle" else str(k)) for m in config["methods"] for k in config["seeds"]
    }
    for rule in ("fetch", "tables", "aggregate"):
        assert list((workdir / "logs").rglob(f"{rule}.log")), rule


@pytest.mark.slow
def test_tiny_rerun_does_nothing_and_new_thresholds_add_only_leaves(tiny_run, tmp_path):
    workdir, env, _ = tiny_run
    proc = snakemake("--cores", "2", "--configfile", TEST_CONFIG, workdir=workdir, env=env)
    assert proc.returncode == 0 and "Nothing to be done" in output(proc), output(proc)
    # a new threshold: only its leaves (a search and its check per method) and the per-slice/aggregate jobs
    config = yaml.safe_load(TEST_CONFIG.read_text())
    config["grid"][0]["thresholds"]["quantiles"] = [0.5, 0.25]
    path = tmp_path / "more.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = snakemake("-n", "--cores", "2", "--configfile", path, workdir=workdir, env=env)
    text = output(proc)
    assert proc.returncode == 0, text
    n_methods = len(config["methods"])
    assert job_total(text) == n_methods + 4, text  # + thresholds, slice, aggregate, all
    assert "/q0.5/" not in "".join(line for line in text.splitlines() if line.strip().startswith("output:"))


@pytest.mark.slow
def test_tiny_results_are_byte_identical_from_scratch_with_other_threads_and_order(tiny_run, tmp_path):
    workdir, env, _ = tiny_run
    config = load(TEST_CONFIG)
    leaves = pipeline.expand_grid(config)
    # A leaf's run and its check (which records the run's digest, not the timing sidecar's seconds), every slice.
    first = {path: (workdir / path).read_bytes() for leaf in leaves for path in (leaf.path(pipeline.RUN), leaf.path(pipeline.CHECK))}
    tables = {path: (workdir / path).read_bytes() for path in pipeline.aggregate_tables(config) if path.endswith("main.csv")}
    tables.update({path: (workdir / path).read_bytes() for path in pipeline.slice_targets(config)})
    shutil.rmtree(workdir / "results")
    shutil.rmtree(workdir / pipeline.CACHE_DIR, ignore_errors=True)
    # The leaves one by one in reverse order (each warms the cache for the next), two scoring processes each.
    for leaf in reversed(leaves):
        proc = snakemake("--cores", "2", "--set-threads", "search=2", f"--configfile={TEST_CONFIG}", leaf.path(pipeline.RUN),
                         workdir=workdir, env=env)  # fmt: skip
        assert proc.returncode == 0, output(proc)[-6000:]
    proc = snakemake("--cores", "2", "--configfile", TEST_CONFIG, workdir=workdir, env=env)
    assert proc.returncode == 0, output(proc)[-6000:]
    assert "rule fetch" not in output(proc) and "rule tables" not in output(proc)  # only results were redone
    for path, data in first.items():
        assert (workdir / path).read_bytes() == data, path
    for path, data in tables.items():
        assert (workdir / path).read_bytes() == data, path


@pytest.mark.slow
def test_tiny_results_are_byte_identical_under_a_lower_kernel_set(tiny_run, tmp_path):
    # The tiny preset is float64: a machine with other kernels (here: the next lower vector ISA forced, in every
    # job) computes the same results, bit for bit, from the sources up; only the timing sidecars differ.
    from hwevrsnas.proxy.determinism import kernel_environment

    workdir, env, _ = tiny_run
    _, lower = kernel_environment("lower")
    proc = snakemake("--cores", "2", "--configfile", TEST_CONFIG, workdir=tmp_path, env={**env, **lower})
    assert proc.returncode == 0, output(proc)[-6000:]
    config = load(TEST_CONFIG)
    for leaf in pipeline.expand_grid(config):
        assert (tmp_path / leaf.path(pipeline.RUN)).read_bytes() == (workdir / leaf.path(pipeline.RUN)).read_bytes(), leaf
        if get_method(leaf.method).uses_proxy:  # and the kernels really differed
            isa = [json.loads((where / leaf.path(pipeline.TIMING)).read_text())["timing"]["provenance"]["platform"].split("/")[1]
                   for where in (workdir, tmp_path)]  # fmt: skip
            assert isa[0] != isa[1], isa
    for path in pipeline.aggregate_tables(config):
        if path.endswith("main.csv"):
            assert (tmp_path / path).read_bytes() == (workdir / path).read_bytes(), path


@pytest.mark.slow
def test_a_threshold_below_every_cost_stops_the_run_before_any_job(tiny_run, tmp_path):
    workdir, env, _ = tiny_run
    config = yaml.safe_load(TEST_CONFIG.read_text())
    config["grid"][0]["thresholds"]["values"] = [0.0001]
    path = tmp_path / "low.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = snakemake("-n", "--cores", "2", "--configfile", path, workdir=workdir, env=env)
    text = output(proc)
    assert proc.returncode != 0 and "grid[0].thresholds.values[0]" in text and "below every architecture" in text
    assert "Job stats" not in text
    # Without tables yet, the thresholds rule checks it right after the tables, before any search.
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    proc = snakemake("--cores", "2", "--configfile", path, workdir=fresh, env=env)
    text = output(proc)
    assert proc.returncode != 0 and "below every architecture" in (fresh / "logs/thresholds/nb201_cifar10_fpga_latency.log").read_text()
    assert not (fresh / "results/runs").exists()


@pytest.mark.slow
def test_a_score_table_is_built_in_shards_and_read_by_the_proxy_leaves(tmp_path):
    config = yaml.safe_load(TEST_CONFIG.read_text())
    config["scores"] = {"enabled": True, "shards": 3, "batch_size": 8}
    config["methods"] = ["hw-evrsnas", "hw-evrsnas-params", "oracle"]
    path = tmp_path / "scores.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = snakemake("-n", "--cores", "2", "--configfile", path, workdir=tmp_path)
    assert proc.returncode == 0, output(proc)
    assert job_total(output(proc)) == expected_jobs(with_defaults(config))
    config = with_defaults(config)
    assert pipeline.score_proxies(config) == ["rsnas", "zc:params"]  # hw-evrsnas-params needs both of its members
    leaf = pipeline.Leaf("nb201", "cifar10", "fpga", "latency", "q0.5", "hw-evrsnas", 0).wildcards()
    args = pipeline.search_args(config, leaf)
    assert args[args.index("--scores") + 1] == "resources/scores/nb201-tiny-p0.h5"
    assert pipeline.search_inputs(config, leaf)["scores"] == ["resources/scores/nb201-tiny-p0.h5"]
    assert "--scores" not in pipeline.search_args(config, {**leaf, "method": "oracle"})
    build = pipeline.score_build_args(config, 0, 2, 3)
    assert build[build.index("--shard") + 1] == "2/3" and build.count("--proxy") == 2
    assert build[build.index("--proxy-seed") + 1] == "0"
    assert pipeline.full_fidelity_targets(config) == [f"results/fidelity_full/tiny-p0/{name}" for name in
                                               ("fidelity.csv", "fidelity.md", "proxy_oracle.csv")]  # fmt: skip
    assert pipeline.full_fidelity_targets({**config, "methods": ["oracle"]}) == []


def crossed_config(seeds: list[int], proxy_seeds: list[int] | None) -> dict:
    """The `.test` config (raw: no defaults) with `proxy.pairing: crossed`."""
    config = yaml.safe_load(TEST_CONFIG.read_text())
    config["seeds"] = seeds
    config["proxy"] = {**config["proxy"], "pairing": "crossed", "seeds": proxy_seeds}
    return config


def test_crossed_pairing_runs_every_proxy_leaf_for_every_proxy_seed():
    config = with_defaults(crossed_config([0, 1], [0, 1, 2]))
    pipeline.check_config(config)
    leaves = pipeline.expand_grid(config)
    for method in ("hw-evrsnas", "random"):
        pairs = sorted((leaf.seed, leaf.proxy_seed) for leaf in leaves if leaf.method == method)
        assert pairs == [(k, j) for k in (0, 1) for j in (0, 1, 2)]
    assert sorted((leaf.seed, leaf.proxy_seed) for leaf in leaves if leaf.method == "oracle") == [(0, None), (1, None)]
    crossed = pipeline.Leaf("nb201", "cifar10", "fpga", "latency", "q0.5", "hw-evrsnas", 1, 2)
    assert crossed in leaves and crossed.path() == "results/runs/nb201/cifar10/fpga_latency/q0.5/hw-evrsnas/seed1-p2.json"
    for template in (pipeline.RUN, pipeline.TIMING, pipeline.CHECK, pipeline.SEARCH_LOG, pipeline.CHECK_LOG):
        assert pipeline.Leaf.from_path(crossed.path(template), template) == crossed
    matched = pipeline.Leaf("nb201", "cifar10", "fpga", "latency", "q0.5", "hw-evrsnas", 1)
    assert pipeline.Leaf.from_path(matched.path()) == matched and "crossed" not in matched.wildcards()
    args = pipeline.search_args(config, crossed.wildcards())
    assert (args[args.index("--seed") + 1], args[args.index("--proxy-seed") + 1]) == ("1", "2")
    assert pipeline.search_inputs(config, crossed.wildcards())["batch"] == [pipeline.batch_file(config, 2)]
    assert "--seed=1 --proxy-seed=2 " in pipeline.check_args(config, crossed.wildcards())
    assert "--proxy-seed" not in pipeline.check_args(config, matched.wildcards())
    assert pipeline.proxy_seeds(config) == [0, 1, 2]
    # proxy.seeds null: the search seeds; matched proxy seeds equal to the search seeds are accepted.
    assert {leaf.proxy_seed for leaf in pipeline.expand_grid(with_defaults(crossed_config([3, 4], None)))} == {3, 4, None}
    pipeline.check_config(with_defaults({"seeds": [0, 1], "proxy": {"seeds": [1, 0]}}))


def test_a_multi_threshold_method_gets_every_threshold_of_its_slice():
    config = load(DEFAULT_CONFIG)
    leaf = pipeline.Leaf("nb201", "cifar10", "fpga", "latency", "all", "mo-hdnas", 0).wildcards()
    args = pipeline.search_args(config, leaf)
    assert args[args.index("--quantiles") + 1] == "0.25,0.5,0.75" and "--quantile" not in args
    check = pipeline.check_args(config, leaf)
    assert "--quantiles 0.25,0.5,0.75" in check and "--label all" in check
    config["grid"][0]["thresholds"]["values"] = [3.0]
    with pytest.raises(pipeline.ConfigError, match="mo-hdnas answer every threshold"):
        pipeline.check_config(config)


@pytest.mark.slow
def test_seeds_can_be_given_on_the_command_line(tmp_path):
    proc = snakemake("-n", "--cores", "1", "--configfile", TEST_CONFIG, "--config", "seeds=[0,1]", workdir=tmp_path)
    assert proc.returncode == 0, output(proc)
    config = load(TEST_CONFIG)
    config["seeds"] = [0, 1]
    assert job_total(output(proc)) == expected_jobs(config)


@pytest.mark.slow
@pytest.mark.parametrize(
    "flags",
    [
        "results/runs/nb201/cifar10/fpga_latency/q0.5/hw-evrsnas/seed0.json",
        "results/slices/nb201_cifar10_fpga_latency.tsv",
        "--forcerun aggregate",
        "--until search",
    ],
)
def test_make_passes_targets_and_options_through(tmp_path, flags):
    """`make dryrun SNAKEFLAGS=...` as the README shows it (with --directory, so the repository stays clean)."""
    if shutil.which("make") is None or not (REPO / ".venv" / ".installed").is_file():
        pytest.skip("make or the project's .venv is missing")
    command = ["make", "-s", "-C", str(REPO), "-o", ".venv/.installed", "dryrun", f"CONFIG={TEST_CONFIG}",
               f"SNAKEFLAGS=--directory {tmp_path} {flags}"]  # fmt: skip
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, output(proc)
    assert "Job stats" in output(proc)


@pytest.mark.slow
def test_check_result_catches_a_tampered_result(tiny_run, tmp_path):
    import shlex

    from hwevrsnas.cli import main as cli

    workdir, _, _ = tiny_run
    leaf = pipeline.Leaf("nb201", "cifar10", "fpga", "latency", "q0.5", "hw-evrsnas", 0)
    record = json.loads((workdir / leaf.path(pipeline.RUN)).read_text())
    tables = ["--tables", str(workdir / pipeline.TABLES_DIR)]

    def check(run: Path, which: pipeline.Leaf, out: Path) -> int:
        args = shlex.split(pipeline.check_args(load(TEST_CONFIG), which.wildcards()))
        return cli(["check", str(run), *args, *tables, "--out", str(out)])

    good = tmp_path / "good.json"
    good.write_text(json.dumps(record))
    assert check(good, leaf, tmp_path / "good.check.json") == 0
    written = json.loads((tmp_path / "good.check.json").read_text())
    assert written["ok"] and written["leaf"] == leaf.wildcards()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**record, "regret": record["regret"] + 1.0, "feasible": not record["feasible"]}))
    with pytest.raises(RuntimeError, match="feasible.*regret|regret.*feasible"):
        check(bad, leaf, tmp_path / "bad.check.json")
    assert not (tmp_path / "bad.check.json").exists()
    wrong_leaf = pipeline.Leaf("nb201", "cifar10", "fpga", "latency", "q0.25", "hw-evrsnas", 0)
    with pytest.raises(RuntimeError, match="threshold"):
        check(good, wrong_leaf, tmp_path / "wrong.check.json")


@pytest.mark.slow
def test_a_damaged_run_file_is_named_and_never_costs_the_tables(tiny_run):
    workdir, env, _ = tiny_run
    config = load(TEST_CONFIG)
    leaf = pipeline.Leaf("nb201", "cifar10", "fpga", "latency", "q0.5", "hw-evrsnas", 0)
    run = workdir / leaf.path(pipeline.RUN)
    good = run.read_bytes()
    done = {path: (workdir / path).read_bytes() for path in pipeline.aggregate_tables(config) + pipeline.aggregate_plots(config)}
    repair = f"`snakemake --forcerun {leaf.path(pipeline.RUN)}`"
    # Damaged in place (same mtime, as a disk or a copy damages it): only the forced aggregate runs, fails naming the
    # file, and leaves the tables and plots as they were.
    stat = run.stat()
    run.write_text('{"garbage": tru\n')
    os.utime(run, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    proc = snakemake("--cores", "2", "--configfile", TEST_CONFIG, "--forcerun", "aggregate", workdir=workdir, env=env)
    text = output(proc)
    assert proc.returncode != 0 and f"error: {leaf.path(pipeline.RUN)}: damaged, not valid JSON" in text and repair in text
    assert "Traceback" not in text + (workdir / "logs/aggregate.log").read_text()
    for path, data in done.items():
        assert (workdir / path).read_bytes() == data, path
    # Damaged anew (newer than its slice's summary): the summary, which reads the runs, refuses it by name in its
    # log, since its bytes are not those its check passed; nothing downstream runs.
    run.write_text('{"garbage": tru\n')
    proc = snakemake("--cores", "2", "--configfile", TEST_CONFIG, workdir=workdir, env=env)
    log = (workdir / pipeline.SLICE_LOG.format(**leaf.wildcards())).read_text()
    assert proc.returncode != 0 and f"error: {leaf.path(pipeline.RUN)}: changed after its check" in log and repair in log
    assert "Traceback" not in log
    for path, data in done.items():
        assert (workdir / path).read_bytes() == data, path
    # The repair the messages name rebuilds the file byte for byte.
    proc = snakemake("--cores", "2", "--configfile", TEST_CONFIG, "--forcerun", leaf.path(pipeline.RUN), workdir=workdir,
                     env=env)  # fmt: skip
    assert proc.returncode == 0, output(proc)[-6000:]
    assert run.read_bytes() == good


@pytest.mark.slow
def test_a_damaged_table_is_named_and_forcerun_repairs_it(tiny_run):
    """Runs last on the shared working directory: it damages the table, then repairs it."""
    workdir, env, _ = tiny_run
    leaves = pipeline.expand_grid(load(TEST_CONFIG))
    first = {leaf: (workdir / leaf.path(pipeline.RUN)).read_bytes() for leaf in leaves}
    table = workdir / pipeline.TABLE_FILES["nb201"]
    data = bytearray(table.read_bytes())
    data[len(data) // 2] ^= 0xFF
    table.write_bytes(bytes(data))
    proc = snakemake("--cores", "2", "--configfile", TEST_CONFIG, "--forcerun", "aggregate", workdir=workdir, env=env)
    text = output(proc) + (workdir / "logs/aggregate.log").read_text()
    assert proc.returncode != 0 and f"{pipeline.TABLE_FILES['nb201']}: content checksum mismatch" in text
    assert "snakemake --forcerun tables" in text
    proc = snakemake("--cores", "2", "--configfile", TEST_CONFIG, "--forcerun", "tables", workdir=workdir, env=env)
    assert proc.returncode == 0, output(proc)[-6000:]
    for leaf in leaves:
        assert (workdir / leaf.path(pipeline.RUN)).read_bytes() == first[leaf], leaf


def planned(config: dict, path: Path) -> tuple[str, dict]:
    """The dry run's printout (commands included) of `config` written to `path`, checked to plan every expected job;
    and the config with its defaults."""
    path.write_text(yaml.safe_dump(config))
    proc = snakemake("-n", "-p", "--cores", "2", "--configfile", path, workdir=path.parent)
    text = output(proc)
    assert proc.returncode == 0, text
    assert job_total(text) == expected_jobs(with_defaults(copy.deepcopy(config)))
    return text, with_defaults(config)


def planned_search_commands(text: str, config: dict) -> dict[str, str]:
    """Per run file the dry run plans: the arguments its search leaf runs with (the search rule's `params.args`,
    which a dry run does not print for a `run:` rule)."""
    runs = re.findall(r"^\s+output: (results/runs/\S+\.json), ", text, re.M)
    assert runs, text[-3000:]
    return {run: pipeline.search_command_args(config, pipeline.Leaf.from_path(run).wildcards()) + " " for run in runs}


@pytest.mark.slow
def test_each_seed_reads_its_own_proxy_replicate_in_the_dry_run(tmp_path):
    """Search seed k's proxy leaves read proxy seed k: a batch per seed, and with scores.enabled a table per seed."""
    from hwevrsnas.proxy.presets import PRESETS

    config = yaml.safe_load(TEST_CONFIG.read_text())
    config["seeds"] = [0, 1]
    config["scores"] = {**config["scores"], "enabled": True, "shards": 2}
    text, config = planned(config, tmp_path / "replicates.yaml")
    batches = {seed: pipeline.batch_file(config, seed) for seed in (0, 1)}
    assert batches[0] != batches[1] and batches[0].endswith(PRESETS["tiny"].batch_file_name)  # seed 0: as before
    assert sorted(re.findall(r"^\s+output: (resources/proxy/\S+\.pt)$", text, re.M)) == sorted(batches.values())
    commands = planned_search_commands(text, config)
    folder = "results/runs/nb201/cifar10/fpga_latency/q0.5"
    for seed in (0, 1):
        for method in ("hw-evrsnas", "random"):
            command = commands[f"{folder}/{method}/seed{seed}.json"]
            assert f"--method {method} --seed {seed} " in command and f"--proxy-seed {seed} " in command
            assert f"--scores resources/scores/nb201-tiny-p{seed}.h5 " in command
        assert f"scores build --space nb201 --preset tiny --proxy-seed {seed} --shard 1/2" in text
        assert f"--out results/fidelity_full/tiny-p{seed}" in text
        leaf = pipeline.Leaf("nb201", "cifar10", "fpga", "latency", "q0.5", "hw-evrsnas", seed).wildcards()
        assert pipeline.search_inputs(config, leaf)["batch"] == [batches[seed]]
    oracle = commands[f"{folder}/oracle/seed1.json"]
    assert "--method oracle --seed 1 " in oracle and "--proxy-seed" not in oracle and "--scores" not in oracle


@pytest.mark.slow
def test_crossed_pairing_in_the_dry_run(tmp_path):
    """Crossed: every proxy leaf for every (search seed k, proxy seed j), a batch per proxy seed; matched: as before."""
    text, config = planned(crossed_config([0, 1], [0, 1, 2]), tmp_path / "crossed.yaml")
    runs = re.findall(r"^\s+output: (results/runs/\S+\.json), ", text, re.M)
    folder = "results/runs/nb201/cifar10/fpga_latency/q0.5"
    expected = [f"{folder}/{m}/seed{k}-p{j}.json" for m in ("hw-evrsnas", "random") for k in (0, 1) for j in (0, 1, 2)]
    assert sorted(runs) == sorted([*expected, f"{folder}/oracle/seed0.json", f"{folder}/oracle/seed1.json"])
    batches = sorted(pipeline.batch_file(config, j) for j in (0, 1, 2))
    assert sorted(re.findall(r"^\s+output: (resources/proxy/\S+\.pt)$", text, re.M)) == batches
    searches = planned_search_commands(text, config)
    for method in ("hw-evrsnas", "random"):
        for k in (0, 1):
            for j in (0, 1, 2):
                assert f"--method {method} --seed {k} --preset tiny --proxy-seed {j} " in searches[f"{folder}/{method}/seed{k}-p{j}.json"]
    assert ["--proxy-seed" in searches[f"{folder}/oracle/seed{k}.json"] for k in (0, 1)] == [False, False]
    checks = [pipeline.check_args(config, pipeline.Leaf.from_path(run).wildcards()) for run in runs]
    assert len([c for c in checks if re.search(r"--seed=\d --proxy-seed=\d ", c)]) == 12
    # The matched default of the same seeds: one leaf per search seed, named and run as before crossing existed.
    config = yaml.safe_load(TEST_CONFIG.read_text())
    config["seeds"] = [0, 1]
    text, matched = planned(config, tmp_path / "matched.yaml")
    runs = re.findall(r"^\s+output: (results/runs/\S+\.json), ", text, re.M)
    assert sorted(runs) == sorted(f"{folder}/{m}/seed{k}.json" for m in ("hw-evrsnas", "random", "oracle") for k in (0, 1))
    searches = planned_search_commands(text, matched)
    for k in (0, 1):
        assert f"--method hw-evrsnas --seed {k} --preset tiny --proxy-seed {k} " in searches[f"{folder}/hw-evrsnas/seed{k}.json"]
    assert not any("--proxy-seed=" in pipeline.check_args(matched, pipeline.Leaf.from_path(run).wildcards()) for run in runs)


def test_a_served_table_names_each_replicates_table_or_serves_one_replicate(tmp_path):
    from hwevrsnas.proxy.presets import get_preset

    from fakes import complete_table

    for seed in (0, 1):
        preset = get_preset("tiny", seed=seed)
        complete_table({"kind": "rsnas", "preset": preset.digest, "seed": seed}, "rsnas:tiny", tmp_path / f"t-p{seed}.h5")
    config = load(TEST_CONFIG)
    config["seeds"] = [0, 1]
    config["scores"]["table"] = str(tmp_path / "t-p{proxy_seed}.h5")
    pipeline.check_config(config)
    leaf = pipeline.Leaf("nb201", "cifar10", "fpga", "latency", "q0.5", "hw-evrsnas", 1).wildcards()
    assert pipeline.search_inputs(config, leaf)["scores"] == [str(tmp_path / "t-p1.h5")]
    args = pipeline.search_args(config, leaf)
    assert args[args.index("--scores") + 1] == str(tmp_path / "t-p1.h5")
    # One table for two replicates: refused, naming the key.
    config["scores"]["table"] = str(tmp_path / "t-p0.h5")
    with pytest.raises(pipeline.ConfigError, match=r"config key scores\.table: .*t-p0\.h5 is one table, but the leaves reading "
                                            r"it use proxy seeds 0, 1 .*put \{proxy_seed\} in the path"):  # fmt: skip
        pipeline.check_config(config)
    # Serving one replicate: its seed's table only.
    config["seeds"] = [1]
    with pytest.raises(pipeline.ConfigError, match=r"config key scores\.table: .*t-p0\.h5 holds no representation-similarity "
                                            r"scores of preset 'tiny' at proxy seed 1"):  # fmt: skip
        pipeline.check_config(config)
    config["scores"]["table"] = str(tmp_path / "t-p1.h5")
    pipeline.check_config(config)


def test_a_served_table_serves_only_the_proxies_it_holds(tmp_path):
    from hwevrsnas.proxy.presets import get_preset

    from fakes import complete_table

    rsnas = complete_table({"kind": "rsnas", "preset": get_preset("tiny").digest}, "rsnas:tiny", tmp_path / "rsnas.h5")
    config = load(TEST_CONFIG)
    config["methods"] = ["hw-evrsnas", "hw-evrsnas-params", "zc-params", "oracle"]
    config["scores"]["table"] = str(rsnas)
    pipeline.check_config(config)
    ga, combined, params = (pipeline.Leaf("nb201", "cifar10", "fpga", "latency", "q0.5", m, 0).wildcards()
                            for m in ("hw-evrsnas", "hw-evrsnas-params", "zc-params"))  # fmt: skip
    assert pipeline.search_inputs(config, ga)["scores"] == [str(rsnas)] and "--scores" in pipeline.search_args(config, ga)
    # A combination reads the member the table holds (its #params are counted by the leaf).
    assert pipeline.search_inputs(config, combined)["scores"] == [str(rsnas)]
    assert "--scores" in pipeline.search_args(config, combined)
    assert "scores" not in pipeline.search_inputs(config, params) and "--scores" not in pipeline.search_args(config, params)
    # A table holding none of the grid's proxies serves nothing: refused, naming what it holds and what is needed.
    other = complete_table({"kind": "zc", "metric": "synflow"}, "zc:synflow", tmp_path / "synflow.h5", name="zc:synflow")
    config["scores"]["table"] = str(other)
    with pytest.raises(pipeline.ConfigError, match=r"config key scores\.table: .*synflow\.h5 holds none of the proxies of this "
                                            r"grid's NB201 methods \(it holds zc:synflow; they use rsnas, rsnas\+params, zc:params\)"):  # fmt: skip
        pipeline.check_config(config)


def test_a_relative_served_table_is_found_in_the_working_directory_then_the_workflow_directory(tmp_path, monkeypatch):
    config = {"scores": {"table": "docs/scores/nb201-quick-seed{proxy_seed}.h5"}}
    monkeypatch.chdir(tmp_path)
    assert pipeline.locate_served_table(copy.deepcopy(config), REPO)["scores"]["table"] == str(REPO / "docs/scores/nb201-quick-seed{proxy_seed}.h5")
    (tmp_path / "docs" / "scores").mkdir(parents=True)  # a working directory with its own tables wins
    assert pipeline.locate_served_table(copy.deepcopy(config), REPO)["scores"]["table"] == "docs/scores/nb201-quick-seed{proxy_seed}.h5"


@pytest.mark.slow
def test_the_default_job_reproduces_the_readme_table_byte_for_byte(mirror, tmp_path):
    """`make run` on a fresh clone: the published table serves the proxy leaves, so results/tables/devices.md is the
    README's generated region, whatever the machine (the fidelity study still scores live)."""
    readme = (REPO / "README.md").read_text()
    region = re.search(r"<!-- generated from docs/default/devices\.md -->\n(.*?)<!-- end generated -->", readme, re.S)
    assert region, "README.md has no generated region of docs/default/devices.md"
    proc = snakemake("--cores", "2", "--configfile", DEFAULT_CONFIG, workdir=tmp_path, env={"HWEVRSNAS_MIRROR": str(mirror)},
                     timeout=1200)  # fmt: skip
    assert proc.returncode == 0, output(proc)[-3000:]
    assert (tmp_path / "results/tables/devices.md").read_text() == region.group(1)
    assert (tmp_path / "results/tables/devices.md").read_text() == (REPO / "docs/default/devices.md").read_text()


def test_a_mean_of_draws_leaf_reads_every_draws_table_and_batch(tmp_path):
    from hwevrsnas.proxy.mean_of_draws import MEAN_DRAW_SEEDS
    from hwevrsnas.proxy.presets import get_preset

    from fakes import complete_table

    for seed in MEAN_DRAW_SEEDS:
        identity = {"kind": "rsnas", "preset": get_preset("tiny", seed=seed).digest, "seed": seed}
        complete_table(identity, "rsnas:tiny", tmp_path / f"t-p{seed}.h5")
    config = load(TEST_CONFIG)
    config["methods"] = ["hw-evrsnas", "hw-evrsnas-mean"]
    config["seeds"] = [1]
    config["scores"]["table"] = str(tmp_path / "t-p{proxy_seed}.h5")
    pipeline.check_config(config)
    leaf = pipeline.Leaf("nb201", "cifar10", "fpga", "latency", "q0.5", "hw-evrsnas-mean", 1).wildcards()
    tables = [str(tmp_path / f"t-p{seed}.h5") for seed in MEAN_DRAW_SEEDS]
    assert pipeline.search_inputs(config, leaf)["scores"] == tables
    assert pipeline.search_inputs(config, leaf)["batch"] == [pipeline.batch_file(config, seed) for seed in MEAN_DRAW_SEEDS]
    args = pipeline.search_args(config, leaf)
    assert args[args.index("--scores") + 1 : args.index("--scores") + 6] == tables
    assert pipeline.proxy_seeds(config) == list(MEAN_DRAW_SEEDS) and pipeline.score_table_seeds(config) == list(MEAN_DRAW_SEEDS)
    (tmp_path / "t-p3.h5").unlink()  # one draw's table missing: the dry run names it
    with pytest.raises(pipeline.ConfigError, match=r"config key scores\.table: .*t-p3\.h5"):
        pipeline.check_config(config)

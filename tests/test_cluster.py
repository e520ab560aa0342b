"""hwevrsnas.cluster: the profile check and the submission count (no SLURM needed; `make test-slurm`
runs both against a real cluster)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from hwevrsnas import cluster

REPO = Path(__file__).resolve().parents[1]
SLURM_PROFILE = REPO / "profiles" / "slurm"
TINY = REPO / ".test" / "config" / "config.yaml"
SNAKEMAKE = Path(sys.executable).with_name("snakemake")

PLAN = """\
[Tue Dec  1 03:25:01 2026]
rule tables:
    output: resources/tables/nb201.h5
[Tue Dec  1 03:25:01 2026]
localrule fetch:
    output: resources/sources/VERIFIED.tsv
[Tue Dec  1 03:25:01 2026] Group job leaf (jobs in lexicogr. order):

    [Tue Dec  1 03:25:01 2026]
    rule search:
        jobid: 9

    [Tue Dec  1 03:25:01 2026]
    rule search:
        jobid: 6
[Tue Dec  1 03:25:01 2026]
rule all:
    jobid: 0
"""


def test_submissions_count_group_jobs_and_jobs_outside_groups():
    assert cluster.submissions(PLAN, {"all", "fetch"}) == {"tables": 1, "group leaf": 1}


def test_local_rules_of_the_snakefile():
    local = cluster.local_rules(REPO / "Snakefile")
    assert {"all", "fetch"} <= local and not {"search", "tables", "aggregate"} & local


@pytest.mark.parametrize("profile,expected", [(None, 6), (SLURM_PROFILE, 4)], ids=["no-groups", "slurm-profile"])
def test_tiny_dry_run_submissions(tmp_path, profile, expected):
    """The numbers docs/CLUSTER.md and the README state for the tiny config."""
    if not SNAKEMAKE.exists():
        pytest.skip(f"snakemake not installed next to {sys.executable}")
    options = ["--profile", str(profile)] if profile else []
    command = [str(SNAKEMAKE), "-n", *options, "--snakefile", str(REPO / "Snakefile"), "--configfile", str(TINY)]
    proc = subprocess.run([*command, "--directory", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sum(cluster.submissions(proc.stdout, cluster.local_rules(REPO / "Snakefile")).values()) == expected


def test_profile_placeholders_come_from_the_environment(monkeypatch):
    monkeypatch.delenv("HWEVRSNAS_SLURM_ACCOUNT", raising=False)
    monkeypatch.delenv("HWEVRSNAS_SLURM_PARTITION", raising=False)
    settings = cluster.snakemake_settings(["--profile", str(SLURM_PROFILE)])
    assert cluster.placeholders(settings) == ["default-resources slurm_account", "default-resources slurm_partition"]
    monkeypatch.setenv("HWEVRSNAS_SLURM_ACCOUNT", "")
    monkeypatch.setenv("HWEVRSNAS_SLURM_PARTITION", "gpu")
    settings = cluster.snakemake_settings(["--profile", str(SLURM_PROFILE)])
    assert cluster.placeholders(settings) == []
    # the profile's other defaults survive, which --default-resources on the command line would drop
    assert cluster._int(cluster._mapping(settings.default_resources)["runtime"]) == 30


def test_threads_keys_of_the_workflow():
    keys = cluster.threads_keys(REPO / "Snakefile")
    assert keys["search"] == "search" and "tables" not in keys


def test_requests_of_the_slurm_profile():
    config = cluster.workflow_config([TINY], REPO)
    keys = cluster.threads_keys(REPO / "Snakefile")
    settings = cluster.snakemake_settings(["--profile", str(SLURM_PROFILE), "--cores", "2"])
    requests = {r.name: r for r in cluster.requests(settings, config, keys)}
    # two searches of 8000 MB side by side
    assert (requests["group leaf"].cpus, requests["group leaf"].mem_mb) == (2, 16000)
    assert "fidelity_study" not in requests  # the tiny config does not run the study
    wide = cluster.snakemake_settings(["--profile", str(SLURM_PROFILE), "--cores", "64"])
    assert {r.name: r.cpus for r in cluster.requests(wide, config, keys)}["group leaf"] == 24  # the group's 24 leaves
    paper = cluster.workflow_config([REPO / "config" / "presets" / "paper.yaml"], REPO)
    by_rule = {r.name: r.cpus for r in cluster.requests(wide, paper, keys)}
    assert by_rule["score_shard"] == paper["threads"]["scores"]  # read through the rule's `threads:`


@pytest.mark.parametrize(
    "command,accounting,min_job_age,problem",
    [
        ("squeue", "accounting_storage/none", "300", None),
        ("sacct", "accounting_storage/none", "300", "sacct fails"),
        ("squeue", "accounting_storage/none", "60", "MinJobAge is 60 s"),
        ("sacct", "accounting_storage/slurmdbd", "60", None),
        ("squeue", "accounting_storage/slurmdbd", "60", None),
    ],
)
def test_status_problem(command, accounting, min_job_age, problem):
    settings = SimpleNamespace(slurm_status_command=command, slurm_init_seconds_before_status_checks=None)
    found = cluster.status_problem(settings, {"AccountingStorageType": accounting, "MinJobAge": min_job_age})
    assert (found is None) if problem is None else (problem in found)


def test_check_without_slurm_commands_reports_the_placeholders(monkeypatch, capsys):
    monkeypatch.delenv("HWEVRSNAS_SLURM_ACCOUNT", raising=False)
    monkeypatch.setenv("HWEVRSNAS_SLURM_PARTITION", "gpu")
    monkeypatch.setattr(cluster.shutil, "which", lambda name: None)
    assert cluster.check(["--profile", str(SLURM_PROFILE), "--configfile", str(TINY)]) == 1
    out = capsys.readouterr().out
    assert "only the profile's placeholders were checked" in out and "slurm_account is still the placeholder" in out


@pytest.mark.parametrize("profile", [None, SLURM_PROFILE], ids=["local", "slurm-profile"])
def test_every_run_uses_the_greedy_scheduler(profile):
    """profiles/default is Snakemake's workflow profile: read with or without --profile, it sets the scheduler whose
    cost per job does not grow with the grid (docs/bench/scheduler.md)."""
    options = ["--profile", str(profile)] if profile else []
    assert cluster.snakemake_settings(["--snakefile", str(REPO / "Snakefile"), *options]).scheduler == "greedy"
    opted_out = ["--snakefile", str(REPO / "Snakefile"), "--workflow-profile", "none"]
    assert cluster.snakemake_settings(opted_out).scheduler == "ilp"

"""Errors a user makes are refused before any work, in one line that names the path, key or flag and the repair;
none loses finished work or prints a traceback (issue #26). The workflow's own cases (a damaged run file under
`--forcerun aggregate`, a device without costs for the dataset, an unknown config key) are in test_workflow.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from fakes import FakeEvaluator
from hwevrsnas import workflow as pipeline
from hwevrsnas.cli import main as cli_main
from hwevrsnas.errors import MissingFile
from hwevrsnas.workflow import steps
from test_workflow import with_defaults


def search_argv(tables: Path, out: Path, *extra: str, method: str = "hw-evrsnas") -> list[str]:
    return [
        "search", "--tables", str(tables), "--device", "fpga", "--quantile", "0.5", "--method", method,
        "--preset", "tiny", "--population", "4", "--generations", "2", "--accelerator", "cpu", "--out", str(out),
        *extra,
    ]  # fmt: skip


@pytest.fixture
def fake_proxy(nb201, monkeypatch):
    """`hwevrsnas search` builds a fake evaluator (instant scores) where it would build the method's proxy."""
    monkeypatch.setattr("hwevrsnas.proxy.make_proxy", lambda name, context: FakeEvaluator(nb201))


@pytest.fixture
def no_search(monkeypatch):
    """Fail the test if a search starts."""

    def refuse(*args, **kwargs):
        raise AssertionError("the search ran")

    monkeypatch.setattr("hwevrsnas.search.run.run_search", refuse)
    monkeypatch.setattr("hwevrsnas.search.run.run_multi_search", refuse)


@pytest.fixture
def locked(tmp_path: Path):
    """A folder in which no file can be created: read-only, and immutable where the tests run as root (root ignores
    permission bits)."""
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    immutable = os.geteuid() == 0 and subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0
    try:
        try:
            tempfile.TemporaryFile(dir=folder).close()
        except OSError:
            yield folder
        else:
            pytest.skip("cannot make a folder unwritable here (root without chattr)")
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        folder.chmod(0o755)


# ---- 1: outputs and the cache are checked before the search --------------------------------------------------------
def test_an_unwritable_out_folder_is_refused_before_the_search(nb201_h5, locked, no_search, capsys) -> None:
    out = locked / "o.json"
    assert cli_main(search_argv(nb201_h5.parent, out, method="oracle")) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"hwevrsnas: error: --out: cannot write in {locked} (")
    assert "give --out another folder" in err and "Traceback" not in err and not out.exists()


def test_an_unwritable_cache_is_refused_before_the_search(nb201_h5, tmp_path, locked, fake_proxy, no_search, capsys):
    argv = search_argv(nb201_h5.parent, tmp_path / "run.json", "--batch-dir", "", "--cache", str(locked))
    assert cli_main(argv) == 2
    err = capsys.readouterr().err
    assert f"--cache: cannot write in {locked} (" in err and "--cache '' for none" in err and "Traceback" not in err
    # A cache folder still to be made is checked where it would be made, and not made by the check.
    argv = search_argv(nb201_h5.parent, tmp_path / "run.json", "--batch-dir", "", "--cache", str(locked / "a" / "b"))
    assert cli_main(argv) == 2 and f"cannot write in {locked} (" in capsys.readouterr().err


# ---- 2: a damaged run file is named with its repair ----------------------------------------------------------------
@pytest.fixture
def damaged_run(tmp_path: Path) -> Path:
    run = tmp_path / "results" / "seed0.json"
    run.parent.mkdir()
    run.write_text('{"garbage": tru\n')
    return run


def check_argv(run: Path, tables: Path, out: Path) -> list[str]:
    return [
        "check", str(run), "--tables", str(tables), "--space", "nb201", "--dataset", "cifar10", "--device", "fpga",
        "--metric", "latency", "--method", "oracle", "--seed", "0", "--quantile", "0.5", "--out", str(out),
    ]  # fmt: skip


def test_check_names_a_damaged_run_file_and_its_repair(nb201_h5, damaged_run, tmp_path, capsys) -> None:
    assert cli_main(check_argv(damaged_run, nb201_h5.parent, tmp_path / "check.json")) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"hwevrsnas: error: {damaged_run}: damaged, not valid JSON (Expecting value: line 1")
    assert f"`snakemake --forcerun {damaged_run}`" in err and "Traceback" not in err
    assert not (tmp_path / "check.json").exists()
    # Valid JSON that is not a result.
    damaged_run.write_text('{"garbage": true}\n')
    assert cli_main(check_argv(damaged_run, nb201_h5.parent, tmp_path / "check.json")) == 2
    assert f"{damaged_run}: not a search result: schema None" in capsys.readouterr().err


def test_a_damaged_timing_sidecar_is_named(nb201_h5, tmp_path, capsys) -> None:
    run = tmp_path / "run.json"
    assert cli_main(search_argv(nb201_h5.parent, run, method="oracle")) == 0
    sidecar = tmp_path / "run.timing.json"
    sidecar.write_text("[1, 2")
    capsys.readouterr()
    assert cli_main(check_argv(run, nb201_h5.parent, tmp_path / "check.json")) == 2
    err = capsys.readouterr().err
    assert f"error: {sidecar}: damaged, not valid JSON" in err and f"snakemake --forcerun {run}`" in err


def test_aggregate_names_a_damaged_run_file_and_writes_nothing(nb201_h5, damaged_run, tmp_path, capsys) -> None:
    argv = ["aggregate", "--runs", str(damaged_run), "--tables", str(nb201_h5.parent), "--out", str(tmp_path / "t"),
            "--plots", str(tmp_path / "p")]  # fmt: skip
    assert cli_main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"hwevrsnas: error: {damaged_run}: damaged") and "Traceback" not in err
    assert not (tmp_path / "t").exists() and not (tmp_path / "p").exists()


def test_a_workflow_step_reports_a_user_error_in_one_line(tmp_path) -> None:
    log = tmp_path / "step.log"
    with pytest.raises(SystemExit) as stop:
        with steps.script_logging(log):
            raise MissingFile("resources/x not found; run `make x`")
    assert stop.value.code == "error: resources/x not found; run `make x`"
    text = log.read_text()
    assert "ERROR" in text and "error: resources/x not found" in text and "Traceback" not in text
    with pytest.raises(KeyError):  # anything else is a bug: its traceback is kept
        with steps.script_logging(log):
            raise KeyError("bug")
    assert "Traceback" in log.read_text()


# ---- 3: a mirror that is set but missing ---------------------------------------------------------------------------
@pytest.fixture
def no_download(monkeypatch):
    def refuse(url, dest, expected):
        raise AssertionError(f"downloaded {url}")

    monkeypatch.setattr("hwevrsnas.tables.sources._atomic_download", refuse)


def test_a_misspelt_mirror_variable_is_named(tmp_path, monkeypatch, no_download) -> None:
    missing = tmp_path / "shared" / "dta"
    monkeypatch.setenv("HWEVRSNAS_MIRROR", str(missing))
    with pytest.raises(MissingFile, match=rf"^mirror {missing} \(set by \$HWEVRSNAS_MIRROR\) does not exist"):
        steps.fetch_sources(tmp_path / "sources", tmp_path / "sources" / "VERIFIED.tsv")
    assert not (tmp_path / "sources").exists()


def test_a_misspelt_config_mirror_is_named(tmp_path, monkeypatch, no_download, capsys) -> None:
    monkeypatch.delenv("HWEVRSNAS_MIRROR", raising=False)
    missing = tmp_path / "mirorr"
    with pytest.raises(MissingFile, match=rf"^mirror {missing} \(set by the config key `mirror`\)"):
        steps.fetch_sources(tmp_path / "sources", tmp_path / "sources" / "VERIFIED.tsv", str(missing))
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"mirror": str(missing)}))
    assert cli_main(["fetch", "--config", str(config), "--dest", str(tmp_path / "sources")]) == 2
    err = capsys.readouterr().err
    origin = f"the key `mirror` of {config}"
    assert err == (f"hwevrsnas: error: mirror {missing} (set by {origin}) does not exist or is not a folder; "
                   f"correct {origin}, or unset it to download the sources from upstream\n")
    assert cli_main(["fetch", "--mirror", str(missing), "--dest", str(tmp_path / "sources")]) == 2
    assert f"mirror {missing} (set by --mirror)" in capsys.readouterr().err


# ---- 4: a device without costs for the dataset ---------------------------------------------------------------------
def test_a_device_without_costs_for_the_dataset_is_rejected(nb201) -> None:
    config = {"grid": [{"dataset": "cifar100", "devices": ["fpga"], "thresholds": {"quantiles": [0.5]}}]}
    with pytest.raises(pipeline.ConfigError) as err:
        pipeline.check_config(with_defaults(config))
    message = "device 'fpga' has no latency costs for 'cifar100'; they exist for cifar10 (set `dataset` or"
    assert f"config key grid[0].devices[0]: {message} `cost_dataset` of grid[0])" in str(err.value)
    # The datasets named are those of the table's cost columns.
    assert [ds for ds in nb201.cost_datasets if "fpga_latency" in nb201.metrics(ds)] == ["cifar10"]
    pipeline.check_config(with_defaults({"grid": [{"dataset": "cifar100", "cost_dataset": "cifar10", "devices": ["fpga"]}]}))


# ---- 5: a score table that matches no proxy of the search ----------------------------------------------------------
def test_a_score_table_of_another_identity_is_refused_unless_computing_is_asked(nb201_h5, tmp_path, fake_proxy, capsys):
    from hwevrsnas.proxy.result import ProxyResult
    from hwevrsnas.scores import ProxyColumns, ScoreTable
    from hwevrsnas.spaces import get_space

    space = get_space("nb201")
    reps = space.classes()[:3]
    identity = {"kind": "rsnas", "space": "nb201", "preset": "another"}
    columns = ProxyColumns.from_results("rsnas", identity, "synthetic", "rsnas:another",
                                        [ProxyResult(0.5, 0.5, [0.5], 0.1) for _ in reps])  # fmt: skip
    table = ScoreTable(space, np.arange(len(reps)), np.asarray(reps), {"rsnas": columns}).write(tmp_path / "other.h5")
    base = ("--cache", "", "--batch-dir", "", "--scores", str(table))
    assert cli_main(search_argv(nb201_h5.parent, tmp_path / "run.json", *base)) == 2
    err = capsys.readouterr().err
    assert err == (f"hwevrsnas: error: --scores {table}: no proxy in it has this search's identity (the closest "
                   "differs in kind, preset), so every score would be computed; give a table built for this search's "
                   "space, preset and proxy seed, or add --compute-scores to compute them\n")
    assert not (tmp_path / "run.json").exists()
    assert cli_main(search_argv(nb201_h5.parent, tmp_path / "run.json", *base, "--compute-scores")) == 0
    assert (tmp_path / "run.json").is_file()


# ---- 6: seeds, threads and the tournament size ---------------------------------------------------------------------
@pytest.mark.parametrize("flag,value,minimum", [("--seed", "-1", 0), ("--threads", "0", 1), ("--threads", "-1", 1)])
def test_out_of_range_seed_and_threads_are_refused(nb201_h5, tmp_path, no_search, capsys, flag, value, minimum):
    with pytest.raises(SystemExit) as stop:
        cli_main(search_argv(nb201_h5.parent, tmp_path / "run.json", flag, value, method="oracle"))
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.endswith(f"error: argument {flag}: must be an integer >= {minimum}, got {value}\n")
    assert "Traceback" not in err


def test_a_tournament_above_the_population_is_warned_about(nb201_h5, tmp_path, fake_proxy, caplog) -> None:
    argv = search_argv(nb201_h5.parent, tmp_path / "run.json", "--cache", "", "--batch-dir", "")
    assert cli_main([*argv, "--tournament-size", "4"]) == 0 and "tournament" not in caplog.text
    assert cli_main([*argv, "--tournament-size", "9"]) == 0
    assert "--tournament-size 9 is above --population 4: the GA draws distinct members" in caplog.text
    caplog.clear()  # REA samples with replacement: a sample larger than its population is meaningful
    assert cli_main([*search_argv(nb201_h5.parent, tmp_path / "rea.json", method="rea-valid12"),
                     "--tournament-size", "9"]) == 0  # fmt: skip
    assert "tournament" not in caplog.text


# ---- 7: an unknown config key --------------------------------------------------------------------------------------
def test_an_unknown_config_key_is_named_with_the_nearest_valid_keys_and_its_file(tmp_path) -> None:
    from snakemake.exceptions import WorkflowError

    def message(config_file: Path, *others: Path) -> str | None:
        with pytest.raises(WorkflowError) as err:
            with_defaults(yaml.safe_load(config_file.read_text()))
        return pipeline.unknown_key_message(err.value, [*others, config_file])

    top, nested, other = tmp_path / "top.yaml", tmp_path / "nested.yaml", tmp_path / "other.yaml"
    top.write_text("populaton: 20\n")
    nested.write_text("search:\n  generatons: 2\n")
    other.write_text("seeds: [0]\n")
    assert message(top, other) == f"unknown config key 'populaton' in {top}; nearest valid keys: search.population"
    assert message(nested) == (
        f"unknown config key 'search.generatons' in {nested}; nearest valid keys: search.generations"
    )
    # A key in no file came from --config; with nothing close, the valid keys of its level are listed.
    with pytest.raises(WorkflowError) as err:
        with_defaults({"zzz": 1})
    assert pipeline.unknown_key_message(err.value, [other]) == (
        "unknown config key 'zzz' in --config; valid keys here: mirror, plugins, grid, methods, seeds, proxy, search, "
        "scores, threads, fidelity_study, energy"
    )
    other.write_text("seeds: [-1]\n")  # any other schema error keeps Snakemake's own message
    assert message(other) is None


# ---- 8: a closed pipe ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("command", [["query", "nb201", "--arch", "6111"], ["front", "--device", "fpga"]])
def test_output_into_a_closed_pipe_ends_quietly(nb201_h5, command) -> None:
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the command writes (`| head -1` after its line)
    try:
        argv = [sys.executable, "-m", "hwevrsnas.cli", *command, "--json", "--tables", str(nb201_h5.parent)]
        proc = subprocess.run(argv, stdout=write, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write)
    assert (proc.returncode, proc.stderr) == (141, "")


def test_output_into_an_open_pipe_is_whole(nb201_h5) -> None:
    proc = subprocess.run([sys.executable, "-m", "hwevrsnas.cli", "query", "nb201", "--arch", "6111", "--json",
                           "--tables", str(nb201_h5.parent)], capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0 and json.loads(proc.stdout)["index"] == 6111

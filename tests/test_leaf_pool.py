"""The warm worker processes that run the workflow's search and check leaves (hwevrsnas.workflow.leaf_pool)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from hwevrsnas.workflow import leaf_pool

# What Snakemake's `workflow` says in the main process of a local run with jobs in threads, and in a job's own process.
LOCAL_THREADS = SimpleNamespace(is_main_process=True, local_exec=True, use_threads=True, cores=2)
OWN_PROCESS = SimpleNamespace(is_main_process=False, local_exec=True, use_threads=False, cores=1)


def search_argv(tables: Path, seed: int, out: Path) -> list[str]:
    return [
        "-v", "search", "--space", "nb201", "--dataset", "cifar10", "--device", "fpga", "--metric", "latency",
        "--quantile", "0.5", "--method", "rea-valid12", "--seed", str(seed), "--population", "4", "--budget", "12",
        "--tables", str(tables), "--no-progress", "--out", str(out),
    ]  # fmt: skip


def logged_methods_and_seeds(log: Path) -> list[tuple[str, str]]:
    return re.findall(r"^INFO search Setting\(.*method='([a-z0-9-]+)'.*seed=(\d+)", log.read_text(), re.M)


def test_pooled_leaves_write_the_bytes_of_their_own_processes_and_their_own_logs(nb201_h5: Path, tmp_path: Path):
    tables = nb201_h5.parent
    for seed in (0, 1):
        argv = search_argv(tables, seed, tmp_path / f"process-{seed}.json")
        subprocess.run([sys.executable, "-m", "hwevrsnas.cli", *argv], check=True, capture_output=True)
    # Two leaves after each other in the same warm pool, then one in this process.
    for seed, workflow, name in ((0, LOCAL_THREADS, "pool"), (1, LOCAL_THREADS, "pool"), (1, OWN_PROCESS, "here")):
        log = tmp_path / f"{name}-{seed}.log"
        leaf_pool.run_leaf(workflow, search_argv(tables, seed, tmp_path / f"{name}-{seed}.json"), log)
        # The log holds this leaf's logging only, not a previous leaf's (each command sets logging up anew).
        assert logged_methods_and_seeds(log) == [("rea-valid12", str(seed))]
        expected = (tmp_path / f"process-{seed}.json").read_bytes()
        assert (tmp_path / f"{name}-{seed}.json").read_bytes() == expected
    assert leaf_pool._POOL is not None


def test_a_failed_leaf_raises_naming_its_log_which_holds_the_error(tmp_path: Path):
    log = tmp_path / "logs" / "leaf.log"
    with pytest.raises(leaf_pool.LeafFailed, match=rf"exit status 2; its log: {re.escape(str(log))}"):
        leaf_pool.run_leaf(LOCAL_THREADS, search_argv(tmp_path / "no-tables", 0, tmp_path / "run.json"), log)
    assert "hwevrsnas: error:" in log.read_text()
    assert not (tmp_path / "run.json").exists()


def test_an_unexpected_exception_keeps_its_traceback_in_the_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import hwevrsnas.cli

    def broken(argv):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(hwevrsnas.cli, "main", broken)
    log = tmp_path / "leaf.log"
    with pytest.raises(leaf_pool.LeafFailed, match="ZeroDivisionError: a bug"):
        leaf_pool.run_leaf(OWN_PROCESS, ["search"], log)
    assert "Traceback (most recent call last)" in log.read_text() and "ZeroDivisionError: a bug" in log.read_text()

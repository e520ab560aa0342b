"""The commands of a search leaf (its search, then its check), run by a warm worker process of the workflow instead
of a new process.

A served leaf (its proxy read from a score table, or a method without a proxy) does a fraction of a second of work,
less than a fresh `hwevrsnas` process needs to start and open its tables (docs/bench/leaves.md). So in a local run,
the workflow process hands each leaf's command lines to a pool of worker processes that live as long as it does and
keep what they opened (tables are memoised by file identity). Each leaf is still its own Snakemake job with its own
outputs and logs, and the worker runs what the shell command ran, `hwevrsnas.cli.main` with the same arguments, so
its files are the same bytes.

The pool serves the main Snakemake process of a local run whose jobs run in threads (`--force-use-threads`, which
the profiles set); there, several leaf threads wait on it at once while the workers compute, one leaf each, on
their own cores. Anywhere else (a job spawned as its own process, a job of a cluster submission) the leaf already
has a process to itself and runs in it.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import multiprocessing
import os
import shlex
import threading
import traceback
from pathlib import Path
from typing import Any, Sequence

_LOCK = threading.Lock()
_POOL: concurrent.futures.ProcessPoolExecutor | None = None


class LeafFailed(RuntimeError):
    """A leaf's command failed; its log says why."""


def run_leaf(workflow: Any, argv: Sequence[str], log: str | Path) -> None:
    """Run `hwevrsnas <argv>` for a rule's `run:` block, its output in `log`; LeafFailed if it fails.

    `workflow` is Snakemake's: its execution mode says whether the pool serves this job (see the module docstring).
    """
    argv, log = [str(a) for a in argv], str(log)
    if workflow.is_main_process and workflow.local_exec and workflow.use_threads:
        failure = _submit(argv, log, workflow.cores)
    else:
        failure = run_command(argv, log, os.getcwd())
    if failure is not None:
        raise LeafFailed(f"`hwevrsnas {' '.join(argv)}` failed: {failure}; its log: {log}")


def run_search_and_check(
    workflow: Any, search_args: str, check_args: str, threads: int, run: str, check: str, search_log: str, check_log: str
) -> None:
    """The search rule's two commands, `hwevrsnas -v search SEARCH_ARGS --threads N --no-progress --out RUN` and then
    `hwevrsnas -v check RUN CHECK_ARGS --out CHECK`, each with its own log (the ARGS quoted for a shell, as
    `search_command_args` and `check_args` give them); the check does not run if the search failed."""
    search = ["-v", "search", *shlex.split(search_args), "--threads", str(threads), "--no-progress", "--out", run]
    run_leaf(workflow, search, search_log)
    run_leaf(workflow, ["-v", "check", run, *shlex.split(check_args), "--out", check], check_log)


def _submit(argv: list[str], log: str, workers: int) -> str | None:
    global _POOL
    with _LOCK:
        if _POOL is None:
            # spawn, not fork: the workflow process has threads, and a forked child inherits their held locks.
            context = multiprocessing.get_context("spawn")
            _POOL = concurrent.futures.ProcessPoolExecutor(max(1, int(workers)), mp_context=context)
        pool = _POOL
    try:
        return pool.submit(run_command, argv, log, os.getcwd()).result()
    except concurrent.futures.process.BrokenProcessPool:
        with _LOCK:
            if _POOL is pool:
                _POOL = None  # the next leaf starts a fresh pool rather than failing on this broken one
        return "its worker process died (killed for memory, or a crash in native code); rerun the job"


def run_command(argv: list[str], log: str, cwd: str) -> str | None:
    """Run one command with stdout, stderr and logging in `log`: None if it exited 0, else what went wrong.

    The root logger is emptied before and after, so that the command's own logging set-up (`logging.basicConfig`
    in `hwevrsnas.cli.main`) applies to this command's log and not to the one a previous command opened.
    """
    from hwevrsnas.cli import main

    if os.getcwd() != cwd:
        os.chdir(cwd)
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    with open(log, "w") as stream, contextlib.redirect_stdout(stream), contextlib.redirect_stderr(stream):
        saved = root.handlers[:]
        root.handlers.clear()
        try:
            status = main(argv)
        except (Exception, SystemExit) as error:  # the traceback goes to the leaf's log, the job fails
            traceback.print_exc(file=stream)
            return f"{type(error).__name__}: {error}"
        finally:
            for handler in root.handlers:
                handler.flush()
            root.handlers[:] = saved
    return None if status == 0 else f"exit status {status}"


__all__ = ["LeafFailed", "run_command", "run_leaf", "run_search_and_check"]

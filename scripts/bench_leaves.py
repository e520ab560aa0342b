"""Benchmark served search leaves: the workflow's way (Snakemake handing each leaf to warm worker processes,
hwevrsnas.workflow.leaf_pool) against one `hwevrsnas` process per search and per check (how the shell rules ran
them before), side by side in one run, on the same leaves, with the results compared byte for byte.

The leaves are the workflow's own: the evidence preset's grid (config/presets/evidence.yaml) with its proxy leaves
served by the published float64 quick tables, one per proxy replicate (`scores.table`, made absolute so that the
processes find them too), the first N of them in grid order, NB201 only. Each leaf is a search and the check of
its result, with the arguments the workflow gives them (hwevrsnas.workflow).

- `processes`: every search, then its check, as its own `hwevrsnas` process, W at a time, with no scheduler at
  all: a lower bound on the time of the shell rules, whose Snakemake added its own cost per job on top;
- `workflow`: `snakemake --cores W` asked for those leaves' run and check files, in a fresh working directory whose
  resources/ (tables, sources, proxy batches) are linked to the repository's: the whole run, DAG included.

    python scripts/bench_leaves.py --leaves 1000 --workers 2 --out docs/bench/leaves.md
"""

from __future__ import annotations

import argparse
import concurrent.futures
import filecmp
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
LINKED = ("resources/tables", "resources/sources", "resources/proxy")


def bench_config() -> dict:
    """The evidence preset, its score tables named by absolute paths."""
    from snakemake.utils import validate

    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    config.update(yaml.safe_load((REPO / "config/presets/evidence.yaml").read_text()))
    config["scores"] = {**config["scores"], "table": str(REPO / config["scores"]["table"])}
    validate(config, str(REPO / "config/schema.yaml"))
    return config


def served_leaves(config: dict, n: int) -> list:
    """The first n NB201 leaves of the grid that are lookups: served by the table, or without a proxy."""
    from hwevrsnas import workflow as W
    from hwevrsnas.search.methods import get_method

    leaves = []
    for leaf in W.expand_grid(config):
        if leaf.space == "nb201" and (W.uses_score_table(config, leaf) or not get_method(leaf.method).uses_proxy):
            leaves.append(leaf)
        if len(leaves) == n:
            break
    return leaves


def commands(config: dict, leaf) -> tuple[list[str], list[str]]:
    """A leaf's search and check command lines, as the rules build them."""
    from hwevrsnas import workflow as W

    wildcards = leaf.wildcards()
    run, check = leaf.path(W.RUN), leaf.path(W.CHECK)
    search = ["search", *W.search_args(config, wildcards), "--threads", "1", "--no-progress", "--out", run]
    return search, ["check", run, *shlex.split(W.check_args(config, wildcards)), "--out", check]


def workdir(root: Path, name: str) -> Path:
    """A fresh working directory whose resources/ are the repository's (nothing is rebuilt)."""
    path = root / name
    for linked in LINKED:
        (path / linked).parent.mkdir(parents=True, exist_ok=True)
        (path / linked).symlink_to(REPO / linked)
    return path


def thresholds(config_file: Path, cwd: Path, targets: list[str]) -> None:
    """The slices' threshold files, which both ways read (the workflow's `thresholds` rule; untimed)."""
    snakemake = str(Path(sys.executable).parent / "snakemake")
    command = [snakemake, *targets, "--snakefile", str(REPO / "Snakefile"), "--cores", "1", "--configfile",
               str(config_file), "--quiet", "all"]  # fmt: skip
    subprocess.run(command, cwd=cwd, check=True, capture_output=True)


def run_processes(pairs: list[tuple[list[str], list[str]]], cwd: Path, workers: int) -> float:
    """Wall seconds of every search and then its check as their own `hwevrsnas` processes, `workers` at a time."""
    program = [sys.executable, "-m", "hwevrsnas.cli"]

    def one(pair: tuple[list[str], list[str]]) -> None:
        for argv in pair:
            Path(cwd, argv[-1]).parent.mkdir(parents=True, exist_ok=True)
            subprocess.run([*program, *argv], cwd=cwd, check=True, capture_output=True)

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, pairs))
    return time.perf_counter() - start


def run_workflow(config_file: Path, cwd: Path, targets: list[str], workers: int) -> float:
    """Wall seconds of `snakemake --cores W` asked for the targets (the repository's workflow profile applies)."""
    snakemake = str(Path(sys.executable).parent / "snakemake")
    command = [snakemake, *targets, "--snakefile", str(REPO / "Snakefile"), "--cores", str(workers), "--configfile",
               str(config_file), "--quiet", "all"]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leaves", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", help="also write the Markdown table (with the command) to this file")
    args = parser.parse_args()

    from hwevrsnas import workflow as W

    config = bench_config()
    leaves = served_leaves(config, args.leaves)
    pairs = [commands(config, leaf) for leaf in leaves]
    outputs = [path for leaf in leaves for path in (leaf.path(W.RUN), leaf.path(W.CHECK))]
    slice_thresholds = sorted({W.THRESHOLDS.format(**leaf.wildcards()) for leaf in leaves})
    methods = sorted({leaf.method for leaf in leaves})
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config_file = root / "config.yaml"
        config_file.write_text(yaml.safe_dump(config))
        processes, workflow = workdir(root, "processes"), workdir(root, "workflow")
        for cwd in (processes, workflow):
            thresholds(config_file, cwd, slice_thresholds)
        seconds = {
            "processes": run_processes(pairs, processes, args.workers),
            "workflow": run_workflow(config_file, workflow, outputs, args.workers),
        }
        match, mismatch, errors = filecmp.cmpfiles(processes, workflow, outputs, shallow=False)
    identical = not mismatch and not errors
    per_leaf = {way: s / len(leaves) for way, s in seconds.items()}
    lines = [
        f"    python scripts/bench_leaves.py --leaves {args.leaves} --workers {args.workers} --out docs/bench/leaves.md",
        "",
        f"{len(leaves)} served leaves of the evidence grid ({', '.join(methods)}), each a search and the check of "
        f"its result; {args.workers} cores; wall seconds.",
        "",
        "| way | wall (s) | s per leaf (search + check) | ratio to one process each |",
        "|---|---:|---:|---:|",
        f"| one `hwevrsnas` process per search and per check, no scheduler | {seconds['processes']:.1f} "
        f"| {per_leaf['processes']:.3f} | 1.00 |",
        f"| the workflow: `snakemake --cores {args.workers}`, warm worker processes | {seconds['workflow']:.1f} "
        f"| {per_leaf['workflow']:.3f} | {seconds['workflow'] / seconds['processes']:.2f} |",
        "",
        f"Run and check files byte-identical between the two ways: {identical} ({len(match)} of {len(outputs)}).",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    if not identical:
        raise SystemExit(f"{len(mismatch) + len(errors)} files differ between the two ways: {(mismatch + errors)[:5]}")


if __name__ == "__main__":
    os.chdir(REPO)
    main()

"""Benchmark served search leaves: one process per leaf (how the workflow runs them) against the same leaves run
in-process, several per process (how a job per slice, or a `run:` rule, would run them), side by side in one run.

The leaves are the workflow's own: the evidence preset's grid (config/presets/evidence.yaml) with its proxy leaves
served by the published float64 quick table of proxy seed 0 (`--proxy-seed 0` for every seed), the first N of them
in grid order, each with the exact `hwevrsnas search` arguments the workflow gives it (hwevrsnas.workflow). Both
ways run W processes at a time; every run file is then compared byte for byte (timing sidecars aside).

    python scripts/bench_leaves.py --leaves 1000 --workers 2 --out docs/bench/leaves.md
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import filecmp
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TABLE = REPO / "docs/scores/nb201-quick-seed0.h5"


def grid_leaves(n: int) -> list[list[str]]:
    """The `hwevrsnas search` argv (without --out) of the first n served leaves of the evidence grid."""
    import yaml
    from snakemake.utils import validate

    from hwevrsnas import workflow as W
    from hwevrsnas.search.methods import get_method

    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    config.update(yaml.safe_load((REPO / "config/presets/evidence.yaml").read_text()))
    config["scores"] = {**config["scores"], "enabled": False, "table": str(TABLE)}
    config["proxy"] = {**config["proxy"], "pairing": "crossed", "seeds": [0]}  # every seed reads proxy seed 0
    validate(config, str(REPO / "config/schema.yaml"))
    leaves = []
    for leaf in W.expand_grid(config):
        served = W.uses_score_table(config, leaf) or not get_method(leaf.method).uses_proxy
        if leaf.space != "nb201" or not served:
            continue  # only lookups: the served leaves and the leaves without a proxy
        args = W.search_args(config, leaf.wildcards())
        leaves.append(["search", *args, "--threads", "1", "--no-progress"])
        if len(leaves) == n:
            break
    return leaves


def run_processes(leaves: list[list[str]], out: Path, workers: int) -> float:
    """Wall seconds of every leaf as its own `hwevrsnas search` process, `workers` at a time."""
    command = [sys.executable, "-m", "hwevrsnas.cli"]

    def one(i: int) -> None:
        subprocess.run([*command, *leaves[i], "--out", str(out / f"{i}.json")], check=True, capture_output=True)

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, range(len(leaves))))
    return time.perf_counter() - start


def run_in_process(leaves: list[list[str]], out: Path, workers: int) -> float:
    """Wall seconds of the leaves split into `workers` processes, each running its share through the CLI in-process."""
    shares = [list(range(w, len(leaves), workers)) for w in range(workers)]
    start = time.perf_counter()
    procs = []
    for share in shares:
        jobs = json.dumps([[*leaves[i], "--out", str(out / f"{i}.json")] for i in share])
        procs.append(subprocess.Popen([sys.executable, __file__, "--run-share"], stdin=subprocess.PIPE, text=True))
        procs[-1].stdin.write(jobs)
        procs[-1].stdin.close()
    for proc in procs:
        if proc.wait() != 0:
            raise SystemExit("an in-process share failed")
    return time.perf_counter() - start


def run_share() -> None:
    """The in-process worker: every argv read from stdin, through hwevrsnas.cli.main, in this one process."""
    from hwevrsnas.cli import main

    for argv in json.loads(sys.stdin.read()):
        with contextlib.redirect_stdout(io.StringIO()):
            if main(argv) != 0:
                raise SystemExit(f"leaf failed: {argv}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leaves", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", help="also write the Markdown table (with the command) to this file")
    parser.add_argument("--run-share", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_share:
        run_share()
        return
    os.chdir(REPO)  # the leaves' arguments name resources/ relative to the repository, as the workflow's do
    leaves = grid_leaves(args.leaves)
    methods = sorted({argv[argv.index("--method") + 1] for argv in leaves})
    with tempfile.TemporaryDirectory() as tmp:
        processes, in_process = Path(tmp, "processes"), Path(tmp, "in-process")
        processes.mkdir()
        in_process.mkdir()
        first = run_processes(leaves, processes, args.workers)
        second = run_in_process(leaves, in_process, args.workers)
        names = [f"{i}.json" for i in range(len(leaves))]
        match, mismatch, errors = filecmp.cmpfiles(processes, in_process, names, shallow=False)
    identical = not mismatch and not errors
    lines = [
        f"    python scripts/bench_leaves.py --leaves {args.leaves} --workers {args.workers} --out docs/bench/leaves.md",
        "",
        f"{len(leaves)} served leaves of the evidence grid ({', '.join(methods)}), {args.workers} at a time; "
        "wall seconds; run files compared byte for byte.",
        "",
        "| way | wall (s) | s per leaf | ratio to one process per leaf |",
        "|---|---:|---:|---:|",
        f"| one process per leaf (today) | {first:.1f} | {first / len(leaves):.3f} | 1.00 |",
        f"| in-process, {args.workers} processes | {second:.1f} | {second / len(leaves):.3f} | {second / first:.2f} |",
        "",
        f"Run files byte-identical: {identical} ({len(match)} of {len(leaves)}).",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    if not identical:
        raise SystemExit(f"{len(mismatch) + len(errors)} run files differ between the two ways")


if __name__ == "__main__":
    main()

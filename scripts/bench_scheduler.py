"""Benchmark Snakemake's own cost per job on a workflow shaped like the evidence grid: N leaves, each a search that
reads shared inputs (the table, the score table) and the check of its result, every job a `run:` block in a thread
of the Snakemake process (`--force-use-threads`, as profiles/default runs the leaves) with a `log:`, side by side
in one run for each way of scheduling them.

The evidence grid has thousands of leaves, whose own work is well under a second each, so what Snakemake spends
between jobs decides its wall time. It holds several scheduling rounds per finished job, and every round looks up
the size of every input file of every ready job it weighs: in the two-job shape, a check's inputs are its own
result files, so each check waiting to run adds to every round.

- `two jobs per leaf` (a search job, then a check job, as the workflow ran them before rules/search.smk held both):
  with the ILP scheduler (Snakemake's default); the greedy one, where searches, with their larger inputs, go first
  and the checks wait; the greedy one with `priority: 1` on the check, so that a check runs once its search has
  finished ("checks first"); and that, weighing 50 ready jobs drawn at random per round instead of every ready
  job (`--scheduler-subsample 50`);
- `one job per leaf` (the search and its check in one job), greedy with `--scheduler-subsample 50`: the workflow's
  way (rules/search.smk, profiles/default).

    python scripts/bench_scheduler.py --leaves 1500 --ways 'two jobs per leaf, greedy' \
        'two jobs per leaf, greedy, checks first' 'two jobs per leaf, greedy, checks first, subsample 50' \
        'one job per leaf, greedy, subsample 50' --out docs/bench/scheduler.md
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEADER = """
from pathlib import Path

rule all:
    input: expand("checks/{{i}}.txt", i=range({leaves}))
"""

TWO_JOBS = """
rule search:
    input: table="shared/table.bin", scores="shared/scores.bin", thresholds="shared/thresholds.txt"
    output: "runs/{i}.txt"
    log: "logs/search/{i}.log"
    run:
        Path(output[0]).write_text(wildcards.i)
        Path(log[0]).write_text("")

rule check:
    input: run="runs/{i}.txt", table="shared/table.bin"
    output: "checks/{i}.txt"
    log: "logs/check/{i}.log"
    priority: PRIORITY
    run:
        Path(output[0]).write_text(Path(input.run).read_text())
        Path(log[0]).write_text("")
"""

ONE_JOB = """
rule search:
    input: table="shared/table.bin", scores="shared/scores.bin", thresholds="shared/thresholds.txt"
    output: run="runs/{i}.txt", check="checks/{i}.txt"
    log: search="logs/search/{i}.log", check="logs/check/{i}.log"
    run:
        Path(output.run).write_text(wildcards.i)
        Path(log.search).write_text("")
        Path(output.check).write_text(Path(output.run).read_text())
        Path(log.check).write_text("")
"""

SUBSAMPLE = ["--scheduler-subsample", "50"]
CHECKS_FIRST = TWO_JOBS.replace("PRIORITY", "1")
WAYS = {  # name: (rules, scheduler options)
    "two jobs per leaf, ilp": (TWO_JOBS.replace("PRIORITY", "0"), ["--scheduler", "ilp"]),
    "two jobs per leaf, greedy": (TWO_JOBS.replace("PRIORITY", "0"), ["--scheduler", "greedy"]),
    "two jobs per leaf, greedy, checks first": (CHECKS_FIRST, ["--scheduler", "greedy"]),
    "two jobs per leaf, greedy, checks first, subsample 50": (CHECKS_FIRST, ["--scheduler", "greedy", *SUBSAMPLE]),
    "one job per leaf, greedy, subsample 50": (ONE_JOB, ["--scheduler", "greedy", *SUBSAMPLE]),
}


def run_once(snakemake: str, leaves: int, way: str, cores: int) -> tuple[float, int]:
    """Wall seconds of one fresh run of the N-leaf workflow (the default workflow profile ignored), and its jobs."""
    rules, options = WAYS[way]
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "Snakefile").write_text(HEADER.format(leaves=leaves) + rules)
        Path(tmp, "shared").mkdir()
        for name, size in (("table.bin", 4 << 20), ("scores.bin", 1 << 20), ("thresholds.txt", 200)):
            Path(tmp, "shared", name).write_bytes(b"0" * size)
        command = [snakemake, "--cores", str(cores), "--quiet", "all", "--force-use-threads",
                   "--workflow-profile", "none", *options]  # fmt: skip
        start = time.perf_counter()
        subprocess.run(command, cwd=tmp, check=True, capture_output=True)
        seconds = time.perf_counter() - start
        if len(list(Path(tmp, "checks").iterdir())) != leaves:
            raise RuntimeError(f"{way}: not every check was written")
        return seconds, leaves * (1 if rules is ONE_JOB else 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leaves", type=int, nargs="+", default=[300, 1500])
    parser.add_argument("--ways", nargs="+", choices=list(WAYS), default=list(WAYS))
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--out", help="also write the Markdown table (with the command) to this file")
    args = parser.parse_args()
    snakemake = shutil.which("snakemake", path=str(Path(sys.executable).parent)) or "snakemake"
    version = subprocess.run([snakemake, "--version"], capture_output=True, text=True, check=True).stdout.strip()

    rows = []
    for leaves in args.leaves:
        for way in args.ways:
            seconds, jobs = run_once(snakemake, leaves, way, args.cores)
            rows.append((leaves, jobs, way, seconds))
            print(f"{leaves} leaves, {way}: {seconds:.1f} s", flush=True)

    baseline = {leaves: seconds for leaves, _, way, seconds in rows if way == args.ways[0]}
    lines = [
        "    " + shlex.join(["python", "scripts/bench_scheduler.py", *sys.argv[1:]]),
        "",
        f"Snakemake {version}, {args.cores} cores; N leaves, each a search (shared inputs) and the check of its"
        " result, every job a `run:` block in a thread with a `log:`; wall seconds of a fresh run.",
        "",
        f"| leaves | jobs | way | wall (s) | ms per leaf | ratio to {args.ways[0]} |",
        "|---:|---:|---|---:|---:|---:|",
    ]
    for leaves, jobs, way, seconds in rows:
        lines.append(f"| {leaves} | {jobs} | {way} | {seconds:.1f} | {1000 * seconds / leaves:.0f} "
                     f"| {seconds / baseline[leaves]:.2f} |")  # fmt: skip
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()

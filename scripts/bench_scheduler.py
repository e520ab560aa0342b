"""Benchmark Snakemake's own cost per job: a workflow of N trivial leaves (each with `log:` and `benchmark:`, as
the search leaves have) run with the ILP and the greedy scheduler, side by side in one run.

The evidence grid has about ten thousand leaf jobs (a search and its check per grid point), whose own work is
well under a second each, so what Snakemake spends between jobs decides its wall time.

    python scripts/bench_scheduler.py --jobs 300 1000 --out docs/bench/scheduler.md
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SNAKEFILE = """
rule all:
    input: expand("out/{{i}}.txt", i=range({jobs}))

rule leaf:
    output: "out/{{i}}.txt"
    log: "logs/{{i}}.log"
    benchmark: "bench/{{i}}.tsv"
    shell: "echo {{wildcards.i}} > {{output}} 2> {{log}}"
"""


def run_once(snakemake: str, jobs: int, scheduler: str, cores: int) -> float:
    """Wall seconds of one fresh run of the N-leaf workflow (the default workflow profile ignored)."""
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "Snakefile").write_text(SNAKEFILE.format(jobs=jobs))
        command = [snakemake, "--cores", str(cores), "--quiet", "all", "--scheduler", scheduler,
                   "--workflow-profile", "none"]  # fmt: skip
        start = time.perf_counter()
        subprocess.run(command, cwd=tmp, check=True, capture_output=True)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, nargs="+", default=[300, 1000])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--out", help="also write the Markdown table (with the command) to this file")
    args = parser.parse_args()
    snakemake = shutil.which("snakemake", path=str(Path(sys.executable).parent)) or "snakemake"
    version = subprocess.run([snakemake, "--version"], capture_output=True, text=True, check=True).stdout.strip()

    rows = []
    for jobs in args.jobs:
        seconds = {scheduler: run_once(snakemake, jobs, scheduler, args.cores) for scheduler in ("ilp", "greedy")}
        rows.append((jobs, seconds["ilp"], seconds["greedy"]))
        print(f"{jobs} jobs: ilp {seconds['ilp']:.1f} s, greedy {seconds['greedy']:.1f} s", flush=True)

    command = "python scripts/bench_scheduler.py --jobs " + " ".join(map(str, args.jobs))
    lines = [
        f"    {command} --out docs/bench/scheduler.md",
        "",
        f"Snakemake {version}, {args.cores} cores; N trivial leaves with `log:` and `benchmark:`;"
        " wall seconds of a fresh run.",
        "",
        "| leaf jobs | ilp (s) | greedy (s) | ilp ms per job | greedy ms per job | ilp / greedy |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for jobs, ilp, greedy in rows:
        lines.append(f"| {jobs} | {ilp:.1f} | {greedy:.1f} | {1000 * ilp / jobs:.0f} | {1000 * greedy / jobs:.0f} "
                     f"| {ilp / greedy:.2f} |")  # fmt: skip
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()

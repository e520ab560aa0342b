"""Benchmark the memory of a score-table build: the peak RSS of `hwevrsnas scores build` and its workers, per worker count.

Each worker count builds the same shard of the classes into a scratch table with no score cache (every class
trained), while a sampler sums the resident memory of the command's whole process tree every 20 ms. The sum counts
pages the processes share (torch's libraries) once per process, so it bounds the machine's use from above; the
largest single process is reported beside it. Baseline in the same run: one bare `import torch` process.

    python scripts/bench_table_memory.py --preset quick --shard 1/400 --workers 1 2 4 --out docs/bench/table-memory.md
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from hwevrsnas.proxy.determinism import platform, usable_cores

MB = 1024 * 1024


def peak_rss(argv: list[str]) -> dict[str, float]:
    """Run argv; its wall seconds, the peak of its process tree's summed RSS and of its largest process (MB)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    root = psutil.Process(proc.pid)
    peaks = {"tree": 0.0, "largest": 0.0}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            try:
                rss = [p.memory_info().rss for p in (root, *root.children(recursive=True))]
            except psutil.Error:  # a worker ended between listing and reading it
                continue
            peaks["tree"] = max(peaks["tree"], sum(rss) / MB)
            peaks["largest"] = max(peaks["largest"], max(rss) / MB)
            done.wait(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    _, stderr = proc.communicate()
    done.set()
    sampler.join()
    if proc.returncode:
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}:\n{stderr[-3000:]}")
    return {"wall_s": time.perf_counter() - start, "tree_mb": peaks["tree"], "largest_mb": peaks["largest"]}


def main() -> None:
    """Build the shard once per worker count; print and optionally write the Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--shard", default="1/400", help="the classes built, as `scores build --shard` takes it")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--out", help="also write the Markdown table (with the command that made it) to this file")
    args = parser.parse_args()

    python = [sys.executable, "-m", "hwevrsnas.cli"]
    rows = [("one bare `import torch` process (baseline)", peak_rss([sys.executable, "-c", "import torch"]))]
    with tempfile.TemporaryDirectory() as scratch:
        for workers in args.workers:
            table = str(Path(scratch) / f"w{workers}.h5")
            argv = [*python, "scores", "build", "--preset", args.preset, "--shard", args.shard, "--workers",
                    str(workers), "--cache", "", "--no-progress", "--out", table]  # fmt: skip
            rows.append((f"`scores build --workers {workers}`", peak_rss(argv)))
    lines = [
        f"Peak resident memory of a `{args.preset}` table build of shard {args.shard}, no score cache; "
        f"platform `{platform('cpu')}`, {usable_cores()} usable cores (`scores build` lowers --workers to them).",
        "",
        "| run | wall (s) | peak RSS, process tree summed (MB) | peak RSS, largest process (MB) |",
        "|---|---:|---:|---:|",
        *(f"| {name} | {r['wall_s']:.1f} | {r['tree_mb']:.0f} | {r['largest_mb']:.0f} |" for name, r in rows),
    ]
    markdown = "\n".join(lines) + "\n"
    print(markdown)
    if args.out:
        command = shlex.join(["python", f"scripts/{Path(__file__).name}", *sys.argv[1:]])
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(f"    {command}\n\n{markdown}")


if __name__ == "__main__":
    main()

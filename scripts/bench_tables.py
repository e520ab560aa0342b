"""Benchmark the tables: build time, open + first query time (imports included) and peak RSS of a fresh process,
`hwevrsnas query` as a fresh process against a bare `import numpy, h5py`, 10**6 lookups.

    python scripts/bench_tables.py --sources resources/sources --out docs/bench/tables.md
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

OPEN_AND_QUERY = """
import json, sys, time
t0 = time.perf_counter()
from hwevrsnas.tables.store import NB201Table
table = NB201Table.open(sys.argv[1])
acc = float(table.accuracy(6111)); cost = float(table.cost(6111, "fpga_latency"))
elapsed = time.perf_counter() - t0
# VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so it would report the parent's peak.
hwm_kb = int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0])
print(json.dumps({"open_and_first_query_s": elapsed, "peak_rss_mb": hwm_kb / 1024}))
"""


def main() -> None:
    """Run the table benchmarks and print one JSON object (and a Markdown table)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sources", required=True, help="fetched sources (or a mirror)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", help="also write the Markdown table (with the command that made it) to this file")
    args = parser.parse_args()

    from hwevrsnas.tables import fbnet, nb201
    from hwevrsnas.tables.store import NB201Table

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "nb201.h5"
        start = time.perf_counter()
        nb201.build_from_mirror(Path(args.sources), path)
        out["nb201_build_s"] = time.perf_counter() - start
        start = time.perf_counter()
        fbnet.build_from_sources(Path(args.sources), Path(tmp) / "fbnet.h5")
        out["fbnet_build_s"] = time.perf_counter() - start
        runs = [
            json.loads(subprocess.run([sys.executable, "-c", OPEN_AND_QUERY, str(path)], capture_output=True,
                                      text=True, check=True).stdout)
            for _ in range(args.repeat)
        ]  # fmt: skip
        out["open_and_first_query_s"] = float(np.median([r["open_and_first_query_s"] for r in runs]))
        out["peak_rss_mb"] = float(np.max([r["peak_rss_mb"] for r in runs]))
        query = [str(Path(sys.executable).with_name("hwevrsnas")), "query", "nb201", "--arch", "0", "--json", "--tables", tmp]
        out["cli_query_fresh_process_s"] = wall(query, args.repeat)
        out["import_numpy_h5py_fresh_process_s"] = wall([sys.executable, "-c", "import numpy, h5py"], args.repeat)
        out["cli_query_over_imports"] = out["cli_query_fresh_process_s"] / out["import_numpy_h5py_fresh_process_s"]
        table = NB201Table.open(path)
        index = np.random.default_rng(0).integers(0, len(table), 10**6)
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            table.cost(index, "fpga_latency")
            times.append(time.perf_counter() - start)
        out["nb201_1e6_cost_lookups_s"] = float(np.median(times))
        fb = fbnet.FBNetTable.open(Path(tmp) / "fbnet.h5")
        ops = np.random.default_rng(0).integers(0, 9, (10**6, 22))
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            fb.latency("fpga", ops)
            times.append(time.perf_counter() - start)
        out["fbnet_1e6_latency_lookups_s"] = float(np.median(times))
    print(json.dumps(out, indent=1))
    markdown = "\n".join(["| figure | value |", "|---|---|", *(f"| {key} | {value:.4g} |" for key, value in out.items())]) + "\n"
    print("\n" + markdown)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(f"    python scripts/bench_tables.py --sources {args.sources} --repeat {args.repeat}\n\n{markdown}")


def wall(command: list[str], repeat: int) -> float:
    """Median wall seconds of a fresh process running the command."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


if __name__ == "__main__":
    main()

"""HW-EvRSNAS at the faithful `paper` preset on one device's thresholds, beside the `quick` preset.

No `paper` score table exists (it needs a GPU), so these searches compute their scores on the CPU;
one score cache is shared by the thresholds, so the whole set costs the classes the searches visit
together, not a search's classes once per threshold. The `quick` searches of the same settings run
beside them (served by a complete `quick` table when --scores gives one), so the two presets are
compared on the same device, thresholds and seed. Searches already in --runs are read, not rerun
(so the searches can also be run beforehand, several at a time, with the same arguments).

    python scripts/paper_preset_searches.py --device edgegpu --metric latency --seed 0 --threads 1 \\
        --runs resources/paper_runs --scores resources/scores/nb201-quick.h5 --out docs/evidence/paper_preset.md
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

QUANTILES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="edgegpu")
    parser.add_argument("--metric", default="latency")
    parser.add_argument("--dataset", default="cifar10")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quantiles", type=float, nargs="+", default=list(QUANTILES), help="threshold quantiles")
    parser.add_argument("--threads", type=int, default=1, help="processes that score a generation's new classes")
    parser.add_argument("--runs", type=Path, required=True, help="folder of the result files (and the paper score cache)")
    parser.add_argument("--scores", nargs="*", default=[], help="score tables for the quick searches")
    parser.add_argument("--out", type=Path, required=True, help="the Markdown table (with this command)")
    return parser.parse_args(argv)


def result_path(args: argparse.Namespace, preset: str, quantile: float) -> Path:
    return args.runs / f"{args.dataset}_{args.device}_{args.metric}_seed{args.seed}" / preset / f"q{quantile}.json"


def search(args: argparse.Namespace, preset: str, quantile: float) -> dict:
    """The result of one search, run through the CLI unless its file exists."""
    out = result_path(args, preset, quantile)
    if not out.is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable, "-c", "import sys; from hwevrsnas.cli import main; sys.exit(main(sys.argv[1:]))",
            "search", "--space", "nb201", "--dataset", args.dataset,
            "--device", args.device, "--metric", args.metric, "--quantile", str(quantile), "--method", "hw-evrsnas",
            "--preset", preset, "--seed", str(args.seed), "--threads", str(args.threads), "--accelerator", "cpu",
            "--cache", str(args.runs / "cache"), "--out", str(out), "--no-progress",
        ]  # fmt: skip
        if preset != "paper" and args.scores:
            command += ["--scores", *args.scores]
        subprocess.run(command, check=True)
    return json.loads(out.read_text())


def timing(args: argparse.Namespace, preset: str, quantile: float) -> dict:
    return json.loads(result_path(args, preset, quantile).with_suffix(".timing.json").read_text())


def fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.runs.mkdir(parents=True, exist_ok=True)
    rows, summary, wall = [], {"paper": [], "quick": []}, 0.0
    for quantile in args.quantiles:
        paper, quick = search(args, "paper", quantile), search(args, "quick", quantile)
        paper_timing = timing(args, "paper", quantile)
        wall += paper_timing["wall_seconds"] / 3600
        rows.append(
            f"| {quantile} | {paper['threshold']:.3f} | {paper['optimum_accuracy']:.2f} | "
            f"{fmt(paper['test_accuracy'])} | {fmt(paper['regret'])} | {fmt(quick['test_accuracy'])} | "
            f"{fmt(quick['regret'])} | {'yes' if paper['index'] == quick['index'] else 'no'} | "
            f"{paper['unique_evaluations']} | {paper_timing['fresh_evaluations']} | "
            f"{paper_timing['wall_seconds'] / 60:.1f} |"
        )
        summary["paper"].append(paper)
        summary["quick"].append(quick)
    identity = summary["paper"][0]["evaluator"]["identity"]
    mean = {p: float(np.mean([r["regret"] for r in recs if r["feasible"]])) for p, recs in summary.items()}
    feasible = {p: sum(r["feasible"] for r in recs) for p, recs in summary.items()}
    distinct = len({e["canonical"] for r in summary["paper"] for e in r["evaluated"]})
    n = len(args.quantiles)
    command = (f"python scripts/paper_preset_searches.py --device {args.device} --metric {args.metric} "
               f"--seed {args.seed} --quantiles {' '.join(map(str, args.quantiles))} --threads {args.threads} "
               f"--runs {args.runs} "
               + (f"--scores {' '.join(args.scores)} " if args.scores else "") + f"--out {args.out}")  # fmt: skip
    lines = [
        f"    {command}",
        "",
        f"NB201 / {args.dataset} / {args.device} {args.metric}, seed {args.seed}, hw-evrsnas; `paper` scores computed on "
        f"`{identity['platform']}` (one thread per process), one score cache shared by the {n} searches. "
        "Regret in accuracy points against the feasible optimum.",
        "",
        "| quantile | threshold | optimum | paper: accuracy | paper: regret | quick: accuracy | quick: regret | "
        "same answer | paper: unique evaluations | paper: classes trained | paper: wall minutes |",
        "|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|",
        *rows,
        "",
        "| figure | paper | quick |",
        "|---|---:|---:|",
        f"| feasible answers | {feasible['paper']} of {n} | {feasible['quick']} of {n} |",
        f"| mean regret (feasible answers) | {mean['paper']:.2f} | {mean['quick']:.2f} |",
        f"| classes scored by the {n} searches together | {distinct} | - |",
        f"| wall time of the {n} searches, summed (hours) | {wall:.2f} | - |",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

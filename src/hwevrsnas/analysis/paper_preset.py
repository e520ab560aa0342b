"""HW-EvRSNAS at the faithful `paper` preset on one device's thresholds, beside the `quick` preset.

No `paper` score table exists (it needs a GPU), so these searches compute their scores on the CPU;
one score cache is shared by the thresholds, so the whole set costs the classes the searches visit
together, not a search's classes once per threshold. The `quick` searches of the same settings run
beside them (served by a complete `quick` table when score tables are given), so the two presets are
compared on the same device, thresholds and seed. Searches whose result file exists are read, not rerun
(so the searches can also be run beforehand, several at a time, with the same arguments).
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

QUANTILES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
PRESETS = ("paper", "quick")


@dataclass
class PaperPresetSearches:
    """One device's searches at both presets: where their results live and how to run the missing ones."""

    runs: Path
    device: str = "edgegpu"
    metric: str = "latency"
    dataset: str = "cifar10"
    seed: int = 0
    quantiles: list[float] = field(default_factory=lambda: list(QUANTILES))
    threads: int = 1
    scores: list[str] = field(default_factory=list)

    def result_path(self, preset: str, quantile: float) -> Path:
        return self.runs / f"{self.dataset}_{self.device}_{self.metric}_seed{self.seed}" / preset / f"q{quantile}.json"

    def result(self, preset: str, quantile: float) -> dict[str, Any]:
        """The result of one search, run through the CLI unless its file exists."""
        out = self.result_path(preset, quantile)
        if not out.is_file():
            out.parent.mkdir(parents=True, exist_ok=True)
            command = [
                sys.executable, "-m", "hwevrsnas.cli",
                "search", "--space", "nb201", "--dataset", self.dataset, "--device", self.device, "--metric", self.metric,
                "--quantile", str(quantile), "--method", "hw-evrsnas", "--preset", preset, "--seed", str(self.seed),
                "--threads", str(self.threads), "--accelerator", "cpu", "--cache", str(self.runs / "cache"),
                "--out", str(out), "--no-progress",
            ]  # fmt: skip
            if preset != "paper" and self.scores:
                command += ["--scores", *self.scores]
            subprocess.run(command, check=True)
        return json.loads(out.read_text())

    def timing(self, preset: str, quantile: float) -> dict[str, Any]:
        return json.loads(self.result_path(preset, quantile).with_suffix(".timing.json").read_text())


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def paper_preset_markdown(searches: PaperPresetSearches, command: str) -> str:
    """The page: the command, one row per threshold (both presets' answers), and the totals."""
    searches.runs.mkdir(parents=True, exist_ok=True)
    rows, summary, wall = [], {preset: [] for preset in PRESETS}, 0.0
    for quantile in searches.quantiles:
        paper, quick = searches.result("paper", quantile), searches.result("quick", quantile)
        paper_timing = searches.timing("paper", quantile)
        wall += paper_timing["wall_seconds"] / 3600
        rows.append(
            f"| {quantile} | {paper['threshold']:.3f} | {paper['optimum_accuracy']:.2f} | "
            f"{_fmt(paper['test_accuracy'])} | {_fmt(paper['regret'])} | {_fmt(quick['test_accuracy'])} | "
            f"{_fmt(quick['regret'])} | {'yes' if paper['index'] == quick['index'] else 'no'} | "
            f"{paper['unique_evaluations']} | {paper_timing['fresh_evaluations']} | "
            f"{paper_timing['wall_seconds'] / 60:.1f} |"
        )
        summary["paper"].append(paper)
        summary["quick"].append(quick)
    identity = summary["paper"][0]["evaluator"]["identity"]
    mean = {p: float(np.mean([r["regret"] for r in recs if r["feasible"]])) for p, recs in summary.items()}
    feasible = {p: sum(r["feasible"] for r in recs) for p, recs in summary.items()}
    distinct = len({e["canonical"] for r in summary["paper"] for e in r["evaluated"]})
    n = len(searches.quantiles)
    lines = [
        f"    {command}",
        "",
        f"NB201 / {searches.dataset} / {searches.device} {searches.metric}, seed {searches.seed}, hw-evrsnas; `paper` "
        f"scores computed on `{identity['platform']}` (one thread per process), one score cache shared by the {n} "
        "searches. Regret in accuracy points against the feasible optimum.",
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
    return "\n".join(lines) + "\n"


__all__ = ["QUANTILES", "PaperPresetSearches", "paper_preset_markdown"]

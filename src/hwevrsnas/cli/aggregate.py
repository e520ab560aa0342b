"""`hwevrsnas aggregate`: result tables (CSV + Markdown) and figures from search run files.

Run files of both kinds are accepted: single-threshold results (`hwevrsnas.search-result/2`) and
multi-threshold ones (`hwevrsnas.multi-search-result/1`: one row per answered threshold; with them,
the nine-constraints and fronts tables and one front plot per NB201 slice). See analysis/report.py.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hwevrsnas.analysis import DEFAULT_ENERGY
from hwevrsnas.paths import TABLES_DIR


def add_parser(sub: Any) -> None:
    """Register the subcommand."""
    p = sub.add_parser("aggregate", help="result tables and figures from search run files (single- and multi-threshold)")
    runs = p.add_mutually_exclusive_group(required=True)
    runs.add_argument("--runs", nargs="+", metavar="FILE", help="run files (not their .timing.json sidecars)")
    runs.add_argument("--runs-dir", metavar="DIR", help="every *.json run file under DIR (sidecars skipped)")
    p.add_argument("--tables", default=TABLES_DIR, help="tables directory (default: %(default)s)")
    p.add_argument("--out", default="results/tables", help="table folder (default: %(default)s)")
    p.add_argument("--plots", default="results/plots", help="figure folder (default: %(default)s)")
    p.add_argument("--study", help="fidelity study folder with summary.csv or scores.csv (optional)")
    p.add_argument("--power-watts", type=float, default=DEFAULT_ENERGY["power_watts"],
                   help="assumed power draw of the search machine, W (default: %(default)s)")  # fmt: skip
    p.add_argument("--grid-gco2-per-kwh", type=float, default=DEFAULT_ENERGY["grid_gco2_per_kwh"],
                   help="grid carbon intensity, gCO2/kWh (default: %(default)s, IEA 2019 world average)")  # fmt: skip
    p.add_argument("--budgets", help="comma-separated budgets (unique evaluations): adds the anytime and reach tables")
    p.add_argument("--workers", type=int, default=2,
                   help="processes: with 2, the run figures are drawn beside the tables (default: %(default)s)")  # fmt: skip
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Collect the run files, write the tables and figures, print what was written."""
    from hwevrsnas.analysis.collect import find_run_files
    from hwevrsnas.analysis.report import aggregate
    from hwevrsnas.errors import MissingFile

    run_files = [Path(p) for p in args.runs] if args.runs else find_run_files(args.runs_dir)
    if not run_files:
        raise MissingFile(f"no run files (*.json) under {args.runs_dir}")
    energy = {"power_watts": args.power_watts, "grid_gco2_per_kwh": args.grid_gco2_per_kwh}
    written = aggregate(
        run_files, Path(args.tables), Path(args.out), Path(args.plots), energy=energy,
        study_dir=Path(args.study) if args.study else None,
        budgets=[int(b) for b in args.budgets.split(",")] if args.budgets else (), workers=args.workers,
    )  # fmt: skip
    print(f"aggregated {len(run_files)} runs -> {len(written)} files:")
    for path in written:
        print(f"  {path}")
    return 0

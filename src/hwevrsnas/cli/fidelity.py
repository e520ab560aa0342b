"""`hwevrsnas fidelity`: full-space fidelity of every proxy in some score tables (hwevrsnas.analysis.fidelity)."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any

from hwevrsnas.paths import TABLES_DIR


def add_parser(sub: Any) -> None:
    """Register the subcommand."""
    p = sub.add_parser("fidelity", help="rank correlation, precision and proxy-oracle regret over all NB201 classes")
    p.add_argument("--scores", nargs="+", required=True, metavar="TABLE",
                   help="score tables holding every class (.h5), or their exports (.csv: `hwevrsnas scores export`)")
    p.add_argument("--platform-of-csv", default=None,
                   help="the platform an export's scores were computed on (an export keeps none; it labels them)")
    p.add_argument("--tables", default=TABLES_DIR, help="tables directory (default: %(default)s)")
    p.add_argument("--out", required=True, help="folder for fidelity.{csv,md} and proxy_oracle.csv")
    p.add_argument("--boot", type=int, default=200, help="bootstrap resamples of the intervals (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default: %(default)s)")
    p.add_argument("--replicates", action="store_true",
                   help="the tables are one rsnas preset at distinct proxy seeds: write replicates.{md,csv} and "
                        "replicate_pairs.csv (fidelity per draw, across draws, and of their mean) instead")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the tables."""
    from hwevrsnas.analysis.fidelity import class_frame, full_space_fidelity, summary_markdown
    from hwevrsnas.analysis.published import open_tables
    from hwevrsnas.atomic import write_text
    from hwevrsnas.tables.store import NB201Table

    nb201 = NB201Table.open(Path(args.tables) / "nb201.h5")
    tables = open_tables(args.scores, class_frame(nb201), platform=args.platform_of_csv)
    if args.replicates:
        return run_replicates(args, tables)
    fidelity, oracle = full_space_fidelity(tables, nb201, args.boot, args.seed)
    out = Path(args.out)
    write_text(out / "fidelity.csv", fidelity.to_csv(index=False, lineterminator="\n"))
    write_text(out / "proxy_oracle.csv", oracle.to_csv(index=False, lineterminator="\n"))
    markdown = summary_markdown(fidelity, oracle)
    write_text(out / "fidelity.md", markdown)
    print(markdown)
    return 0


def run_replicates(args: argparse.Namespace, tables: list[Any]) -> int:
    """Write the replicate study (hwevrsnas.analysis.replicates)."""
    from hwevrsnas.analysis.replicates import replicate_fidelity, replicates_markdown
    from hwevrsnas.atomic import write_text
    from hwevrsnas.tables.store import NB201Table

    per_replicate, pairs, summary = replicate_fidelity(tables, NB201Table.open(Path(args.tables) / "nb201.h5"))
    out = Path(args.out)
    write_text(out / "replicates.csv", per_replicate.to_csv(index=False, lineterminator="\n"))
    write_text(out / "replicate_pairs.csv", pairs.to_csv(index=False, lineterminator="\n"))
    command = ["hwevrsnas", "fidelity", "--replicates", "--scores", *args.scores, "--tables", args.tables, "--out", args.out]
    markdown = f"    {shlex.join(command)}\n\n" + replicates_markdown(per_replicate, pairs, summary)
    write_text(out / "replicates.md", markdown)
    print(markdown)
    return 0

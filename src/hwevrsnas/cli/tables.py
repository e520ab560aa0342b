"""`hwevrsnas tables build | info`: the exact HDF5 tables and their coverage."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from hwevrsnas.paths import SOURCES_DIR, TABLES_DIR


def add_parser(sub: Any) -> None:
    """Register the subcommand."""
    tables = sub.add_parser("tables", help="build or summarise the HDF5 tables")
    tsub = tables.add_subparsers(dest="tables_command", required=True)
    build = tsub.add_parser("build", help="build nb201.h5 and fbnet.h5")
    build.add_argument("--sources", default=SOURCES_DIR, help="fetched sources (default: %(default)s)")
    build.add_argument("--out", default=TABLES_DIR, help="output directory (default: %(default)s)")
    build.add_argument("--official-nb201", help="official NAS-Bench-201 / NATS-Bench topology file instead")
    build.add_argument("--official-hwnasbench", help="official HW-NAS-Bench pickle instead")
    build.set_defaults(func=run_build)
    info = tsub.add_parser("info", help="coverage of every metric: present, imputed, missing")
    info.add_argument("--tables", default=TABLES_DIR, help="tables directory (default: %(default)s)")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(func=run_info)


def run_build(args: argparse.Namespace) -> int:
    """Build nb201.h5 and fbnet.h5 from fetched sources (or official files when given)."""
    from hwevrsnas.tables import fbnet, nb201

    out = Path(args.out)
    start = time.perf_counter()
    if args.official_nb201 or args.official_hwnasbench:
        from hwevrsnas.tables import official

        sources = Path(args.sources) if Path(args.sources).is_dir() else None
        official.build_official(
            out, nb201_path=args.official_nb201, hwnasbench_path=args.official_hwnasbench, sources=sources
        )
        if not args.official_hwnasbench and sources is not None:
            fbnet.build_from_sources(sources, out / "fbnet.h5")
    else:
        nb201.build_from_mirror(Path(args.sources), out / "nb201.h5")
        fbnet.build_from_sources(Path(args.sources), out / "fbnet.h5")
    print(f"tables written to {out} in {time.perf_counter() - start:.1f} s")
    return 0


def run_info(args: argparse.Namespace) -> int:
    """Summarise the coverage of every cost metric in the NB201 table, and the FBNet tables."""
    from hwevrsnas.tables.fbnet import FBNetTable
    from hwevrsnas.tables.store import NB201Table

    table = NB201Table.open(Path(args.tables) / "nb201.h5")
    rows = table.coverage()
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print(f"NB201 table {table.path}: {len(table)} archs, {len(set(table.iso_class))} isomorphism classes")
    print(f"{'dataset':<10} {'metric':<28} {'unit':<9} {'kind':<9} {'measured':>8} {'imputed':>7} {'missing':>7}")
    for row in rows:
        print(
            f"{row['dataset']:<10} {row['metric']:<28} {row['unit']:<9} {row['kind']:<9} "
            f"{row['measured']:>8} {row['imputed']:>7} {row['missing']:>7}"
        )
    fb_path = Path(args.tables) / "fbnet.h5"
    if fb_path.is_file():
        fb = FBNetTable.open(fb_path)
        print(f"FBNet tables {fb_path}: devices {', '.join(fb.devices)} (22 layers x 9 ops + constant)")
    return 0

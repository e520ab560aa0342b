"""`hwevrsnas scores build | lanes | merge | info | export | verify`: score tables of every isomorphism class (hwevrsnas.scores)."""

from __future__ import annotations

import argparse
import csv
import json
import logging
import shlex
import sys
from pathlib import Path
from typing import Any

from hwevrsnas.cli.search import at_least
from hwevrsnas.paths import BATCH_DIR, CACHE_DIR, SOURCES_DIR, TABLES_DIR

log = logging.getLogger(__name__)


def add_parser(sub: Any) -> None:
    """Register the subcommand."""
    scores = sub.add_parser("scores", help="score tables: every isomorphism class scored once")
    ssub = scores.add_subparsers(dest="scores_command", required=True)
    build = ssub.add_parser("build", help="score every class (or a shard, or some architectures) and write a table")
    build.add_argument("--space", default="nb201", help="search space (default: %(default)s)")
    build.add_argument("--preset", default="quick", help="fidelity preset of the rsnas proxy (default: %(default)s)")
    build.add_argument("--proxy-seed", type=at_least(0), default=0, metavar="J",
                       help="the proxy's replicate: the preset with seed J draws the batch and the initialisations of "
                            "every proxy that uses them (default: %(default)s)")
    build.add_argument("--proxy", action="append", help="registered proxy to score (repeatable; default: rsnas)")
    build.add_argument("--zero-cost", nargs="+", metavar="METRIC", default=[],
                       help="add the zero-cost proxies zc:METRIC (synflow naswot grad_norm snip params flops)")
    build.add_argument("--shard", help="score only shard I/N of the classes (merge the N shards with `scores merge`)")
    build.add_argument("--archs", help="score only these architectures' classes: NB201 indices or arch strings, comma-"
                                       "separated, or a file with one architecture per line (FBNet: a file)")  # fmt: skip
    build.add_argument("--device", default="cpu", help="torch device: cpu, cuda (default: %(default)s)")
    build.add_argument("--engine", default="auto", help="rsnas training engine: auto, single, stacked (default: %(default)s)")
    build.add_argument("--batch-size", type=int, default=32, help="networks per stacked training step (default: %(default)s)")
    build.add_argument("--workers", type=int, default=1, help="scoring processes, one thread each (default: %(default)s)")
    build.add_argument("--sources", default=SOURCES_DIR, help="fetched sources (default: %(default)s)")
    build.add_argument("--tables", default=TABLES_DIR, help="tables directory (default: %(default)s)")
    build.add_argument("--batch-dir", default=BATCH_DIR, help="proxy batch folder (default: %(default)s)")
    build.add_argument("--cache", default=CACHE_DIR, help="score cache, so an interrupted build resumes; '' for none "
                                                          "(default: %(default)s)")  # fmt: skip
    build.add_argument("--out", required=True, help="the table to write (.h5)")
    build.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None, help="progress bar")
    build.set_defaults(func=run_build)
    lanes = ssub.add_parser("lanes", help="build the whole NB201 table on one machine in parallel lanes under a deadline, "
                                          "resumable (hwevrsnas.lanes)")  # fmt: skip
    lanes.add_argument("--preset", default="paper", help="fidelity preset of the rsnas proxy (default: %(default)s)")
    lanes.add_argument("--proxy-seed", type=int, default=0, metavar="J",
                       help="the proxy's replicate (scores build --proxy-seed; default: %(default)s)")
    lanes.add_argument("--device", default="cuda", help="torch device (default: %(default)s)")
    lanes.add_argument("--stack", type=int, default=32, help="classes per stacked training step (default: %(default)s)")
    lanes.add_argument("--stacks-per-job", type=int, default=2, help="stacks per job (default: %(default)s)")
    lanes.add_argument("--lanes", type=int, default=8, help="processes sharing the device (default: %(default)s)")
    lanes.add_argument("--deadline", type=float, default=520.0,
                       help="seconds after which unfinished jobs are dropped (default: %(default)s)")
    lanes.add_argument("--limit", type=int, default=None, help="only the first N jobs of the shuffled order (tests)")
    lanes.add_argument("--tables", default=TABLES_DIR, help="tables directory (default: %(default)s)")
    lanes.add_argument("--batch-dir", default=BATCH_DIR, help="proxy batch folder (default: %(default)s)")
    lanes.add_argument("--sources", default=SOURCES_DIR,
                       help="fetched sources, to build the proxy batch when --batch-dir lacks it (default: %(default)s)")
    lanes.add_argument("--resume", nargs="*", default=[], metavar="TAR",
                       help="jobs.tar of earlier runs with the same preset, stack and jobs: their jobs are kept, not run")
    lanes.add_argument("--out", required=True, help="folder of the table (or jobs.tar), probe.json and build.log")
    lanes.set_defaults(func=run_lanes)
    merge = ssub.add_parser("merge", help="merge the shards of one build into one table")
    merge.add_argument("shards", nargs="+", help="shard tables (every I of one N)")
    merge.add_argument("--out", required=True, help="the merged table")
    merge.set_defaults(func=run_merge)
    info = ssub.add_parser("info", help="what a table holds and how it was computed")
    info.add_argument("table")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(func=run_info)
    export = ssub.add_parser("export", help="a table as CSV (index, arch, iso_class, then the scores)")
    export.add_argument("table")
    export.add_argument("--out", required=True, help="CSV file, or - for standard output")
    export.set_defaults(func=run_export)
    verify = ssub.add_parser("verify", help="recompute a random sample of a table's classes here and compare "
                                            "(exit 1 beyond the preset's tolerance)")  # fmt: skip
    verify.add_argument("table")
    verify.add_argument("--sample", type=int, default=16, help="classes to recompute (default: %(default)s)")
    verify.add_argument("--seed", type=int, default=0, help="seed of the sample (default: %(default)s)")
    verify.add_argument("--kernels", default="default", choices=("default", "lower"),
                        help="this machine's default kernels, or the next lower vector ISA forced (default: %(default)s)")
    verify.add_argument("--proxy", help="the proxy column to check (default: the representation-similarity one)")
    verify.add_argument("--tolerance", type=float, help="largest difference allowed (default: 1e-9 for a float64 "
                                                        "preset, 0 for a float32 one)")  # fmt: skip
    verify.add_argument("--workers", type=int, default=1, help="scoring processes (default: %(default)s)")
    verify.add_argument("--sources", default=SOURCES_DIR, help="fetched sources (default: %(default)s)")
    verify.add_argument("--tables", default=TABLES_DIR, help="tables directory (default: %(default)s)")
    verify.add_argument("--batch-dir", default=BATCH_DIR, help="proxy batch folder (default: %(default)s)")
    verify.add_argument("--json", help="also write the comparison as JSON to this file")
    verify.set_defaults(func=run_verify)


def _arch_list(text: str) -> list[str]:
    """A file with one architecture per line, or a comma-separated list (NB201 strings hold no commas)."""
    try:
        is_file = Path(text).is_file()
    except OSError:  # a list too long to be a file name
        is_file = False
    if is_file:
        return [line.strip() for line in Path(text).read_text().splitlines() if line.strip()]
    return [part.strip() for part in text.split(",") if part.strip()]


def select_classes(space: Any, archs: str | None, shard: str | None, tables: str) -> tuple[Any, Any]:
    """The class positions and representatives to score: all, a shard, or the classes of some architectures."""
    import numpy as np

    from hwevrsnas.cli.proxy import parse_arch
    from hwevrsnas.errors import InputError
    from hwevrsnas.scores import shard_rows

    classes = space.classes()
    if archs is None and classes is None:
        raise InputError(f"the {space.name} space is too large to score whole; give --archs")
    if archs is None:
        rows = shard_rows(len(classes), shard) if shard else range(len(classes))
        return np.arange(len(classes))[rows.start : rows.stop], classes[rows.start : rows.stop]
    if shard:
        raise InputError("give --shard or --archs, not both")
    chosen: dict[str, Any] = {}
    for text in _arch_list(archs):
        ops = space.representative(parse_arch(space, text, tables))
        chosen.setdefault(space.canonical_key(ops), ops)
    rows = {key: -1 if classes is None else space.class_position(ops) for key, ops in chosen.items()}
    keys = sorted(chosen, key=rows.__getitem__)
    return np.array([rows[key] for key in keys]), np.array([chosen[key] for key in keys], dtype=np.uint8)


def run_build(args: argparse.Namespace) -> int:
    """Score the chosen classes with every proxy asked for and write the table."""
    import functools

    import numpy as np
    from tqdm import tqdm

    from hwevrsnas.proxy import ProxyContext, get_proxy
    from hwevrsnas.proxy.batch import load_or_build_batch
    from hwevrsnas.proxy.cache import ScoreCache
    from hwevrsnas.proxy.determinism import usable_cores
    from hwevrsnas.proxy.presets import get_preset
    from hwevrsnas.scores import ProxyColumns, ScoreTable
    from hwevrsnas.spaces import get_space

    space = get_space(args.space)
    preset = get_preset(args.preset, seed=args.proxy_seed)
    names = (args.proxy or ([] if args.zero_cost else ["rsnas"])) + [f"zc:{metric}" for metric in args.zero_cost]
    specs = [get_proxy(name) for name in names]
    positions, representatives = select_classes(space, args.archs, args.shard, args.tables)
    loader = functools.partial(load_or_build_batch, preset, Path(args.sources), Path(args.batch_dir))
    cache = ScoreCache(args.cache) if args.cache else None
    # A CPU worker trains on one pinned thread: one beyond the cores adds its memory (torch, network, batch) and no
    # speed, and scores do not depend on the number of workers.
    workers = min(args.workers, usable_cores()) if args.device == "cpu" else args.workers
    if workers < args.workers:
        log.warning("--workers %d lowered to %d, the cores this process may run on", args.workers, workers)
    context = ProxyContext(space.name, preset, loader, cache, args.device, workers, args.engine, args.batch_size)
    proxies = {}
    for spec in specs:
        evaluator = spec.make(context)
        chunk = max(1, args.batch_size * workers * 4)
        results = []
        bar = tqdm(total=len(representatives), desc=f"{spec.name} {preset.name}", disable=_bar(args.progress))
        for start in range(0, len(representatives), chunk):
            part = evaluator.evaluate_many(representatives[start : start + chunk])
            results += part
            bar.update(len(part))
            # The workflow's rules run without a bar (--no-progress): their logs get the progress instead.
            log.info("%s: %d of %d classes scored", spec.name, len(results), len(representatives))
        bar.close()
        proxies[spec.name] = ProxyColumns.from_results(
            spec.name, evaluator.identity(), spec.description, evaluator.name, results, evaluator.provenance()
        )
        log.info("%s: %d classes scored, %d computed", spec.name, len(results), evaluator.computed)
    index = iso_class = None
    if space.name == "nb201":
        from hwevrsnas.tables.store import NB201Table

        table = NB201Table.open(Path(args.tables) / "nb201.h5")
        index = table.indices_of_ops(representatives)
        iso_class = table.iso_class[index]
    shard = args.shard or ("archs" if args.archs else "all")
    command = shlex.join(["hwevrsnas", *sys.argv[1:]]) if sys.argv and sys.argv[0].endswith("hwevrsnas") else ""
    out = ScoreTable(space, np.asarray(positions), np.asarray(representatives), proxies, shard, command, None, index, iso_class)
    out.write(args.out)
    print(f"{out.rows} classes x {len(proxies)} proxies -> {args.out}")
    return 0


def _bar(progress: bool | None) -> bool | None:
    return None if progress is None else not progress


def run_lanes(args: argparse.Namespace) -> int:
    """Build the whole table in lanes until the deadline; what is unfinished is left for --resume."""
    from hwevrsnas.lanes import build

    build(
        args.out, preset=args.preset, device=args.device, stack=args.stack, stacks_per_job=args.stacks_per_job,
        lanes=args.lanes, deadline=args.deadline, proxy_seed=args.proxy_seed, limit=args.limit, tables=args.tables, batch_dir=args.batch_dir,
        sources=args.sources, resume=args.resume,
    )  # fmt: skip
    return 0


def run_merge(args: argparse.Namespace) -> int:
    """Merge shards into one table."""
    from hwevrsnas.scores import ScoreTable, merge

    merged = merge([ScoreTable.open(path) for path in args.shards], command=shlex.join(["hwevrsnas", "scores", "merge", *args.shards]))
    merged.write(args.out)
    print(f"{len(args.shards)} shards, {merged.rows} classes -> {args.out}")
    return 0


def run_info(args: argparse.Namespace) -> int:
    """Print what the table holds."""
    from hwevrsnas.scores import ScoreTable, info

    record = info(ScoreTable.open(args.table))
    if args.json:
        print(json.dumps(record, indent=1))
        return 0
    print(f"{record['path']}: {record['space']}, {record['rows']} classes ({'complete' if record['complete'] else record['shard']})")
    for proxy in record["proxies"]:
        print(f"  {proxy['name']}: engine {proxy['engine']}, {proxy['platform']}, "
              f"{proxy['seconds_per_arch']:.3g} s per class, statuses {proxy['statuses']}")  # fmt: skip
    return 0


def run_export(args: argparse.Namespace) -> int:
    """Write the table as CSV."""
    from hwevrsnas.atomic import write_text
    from hwevrsnas.scores import ScoreTable, export_rows

    header, rows = export_rows(ScoreTable.open(args.table))
    if args.out == "-":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        return 0
    import io

    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    write_text(args.out, text.getvalue())
    return 0


def run_verify(args: argparse.Namespace) -> int:
    """Recompute a sample of the table's classes and report the differences; 1 when beyond the tolerance."""
    from hwevrsnas.reproduction import report_lines, verify, write_json

    result = verify(
        args.table, args.sample, args.seed, args.kernels, args.proxy, args.workers, args.tolerance,
        sources=args.sources, tables=args.tables, batch_dir=args.batch_dir,
    )  # fmt: skip
    print("\n".join(report_lines(result)))
    if args.json:
        write_json(result, args.json)
    return 0 if result.passed else 1

"""`hwevrsnas proxy`: score one architecture with a registered proxy (default: the representation-similarity proxy)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from hwevrsnas.cli.search import at_least
from hwevrsnas.paths import BATCH_DIR, CACHE_DIR, SOURCES_DIR, TABLES_DIR


def add_parser(sub: Any) -> None:
    """Register the subcommand."""
    p = sub.add_parser("proxy", help="score one architecture with a proxy")
    p.add_argument("--space", default="nb201", help="search space (default: %(default)s)")
    p.add_argument("--arch", required=True, help="NB201 index or arch string; FBNet: 22 comma-separated ops")
    p.add_argument("--proxy", default="rsnas", help="registered proxy, e.g. rsnas, zc:synflow (default: %(default)s)")
    p.add_argument("--preset", default="quick", help="fidelity preset (default: %(default)s)")
    p.add_argument("--proxy-seed", type=at_least(0), default=0, metavar="J",
                   help="the proxy's replicate: the preset with seed J draws the batch and the initialisations "
                        "(default: %(default)s)")
    p.add_argument("--sources", default=SOURCES_DIR, help="fetched sources (default: %(default)s)")
    p.add_argument("--tables", default=TABLES_DIR, help="tables directory, for NB201 indices (default: %(default)s)")
    p.add_argument("--batch-dir", default=BATCH_DIR, help="where proxy batches are kept, '' for none (default: %(default)s)")
    p.add_argument("--cache", default=CACHE_DIR, help="score cache directory, '' for none (default: %(default)s)")
    p.add_argument("--device", default="cpu", help="torch device: cpu, cuda (default: %(default)s)")
    p.add_argument("--threads", type=int, default=0,
                   help="torch threads outside scoring; a score is always computed with one intra-op thread, "
                   "so it does not depend on this (default: torch's choice)")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def parse_arch(space: Any, text: str, tables: str) -> Any:
    """Op indices from the command line: an NB201 index (looked up in the table) or the space's text form."""
    if space.name == "nb201" and text.strip().lstrip("-").isdigit():
        from hwevrsnas.cli.query import resolve_nb201
        from hwevrsnas.tables.store import NB201Table

        table = NB201Table.open(Path(tables) / "nb201.h5")
        return table.ops[resolve_nb201(table, text)]
    return space.parse_arch(text.strip())


def run(args: argparse.Namespace) -> int:
    """Score and print."""
    import functools

    import torch

    from hwevrsnas.proxy import ProxyContext, get_proxy
    from hwevrsnas.proxy.batch import load_or_build_batch
    from hwevrsnas.proxy.cache import ScoreCache
    from hwevrsnas.proxy.presets import get_preset
    from hwevrsnas.spaces import get_space

    if args.threads:
        torch.set_num_threads(args.threads)
    space = get_space(args.space)
    spec = get_proxy(args.proxy)
    preset = get_preset(args.preset, seed=args.proxy_seed)
    ops = parse_arch(space, args.arch, args.tables)
    loader = functools.partial(load_or_build_batch, preset, Path(args.sources), Path(args.batch_dir) if args.batch_dir else None)
    context = ProxyContext(space.name, preset, loader, ScoreCache(args.cache) if args.cache else None, args.device)
    evaluator = spec.make(context)
    result = evaluator.evaluate(ops)
    record = {
        "space": space.name, "arch": args.arch, "proxy": spec.name, "preset": preset.name,
        "representative": space.arch_str(space.representative(ops)), **result.to_json(), "cached": result.cached,
        "identity": evaluator.identity(),
        "provenance": evaluator.provenance(),
    }  # fmt: skip
    if args.json:
        print(json.dumps(record, indent=1))
    else:
        print(f"score {record['score']} loss {record['loss']} cka {record['cka']} ({record['seconds']:.2f} s)")
    return 0

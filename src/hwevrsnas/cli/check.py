"""`hwevrsnas check`: re-check a search result against the tables, independently of the search code (search.verify)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from hwevrsnas.paths import TABLES_DIR


def add_parser(sub: Any) -> None:
    """Register the subcommand."""
    p = sub.add_parser("check", help="re-check a result file against the tables; write the checks as JSON")
    p.add_argument("run", help="the result file (its .timing.json sidecar beside it)")
    p.add_argument("--tables", default=TABLES_DIR, help="tables directory (default: %(default)s)")
    for key in ("space", "dataset", "device", "metric", "method"):
        p.add_argument(f"--{key}", required=True, help=f"the expected {key}")
    p.add_argument("--seed", type=int, required=True, help="the expected seed")
    p.add_argument("--proxy-seed", type=int, help="the expected proxy seed (default: not checked)")
    limit = p.add_mutually_exclusive_group(required=True)
    limit.add_argument("--threshold", type=float, action="append", help="an absolute threshold the run was given")
    limit.add_argument("--quantile", type=float, help="the quantile the run was given")
    limit.add_argument("--quantiles", help="the quantiles a multi-threshold run was given, comma-separated")
    p.add_argument("--label", help="a name of the threshold recorded with the checks (default: q<quantile> or v<value>)")
    p.add_argument("--out", required=True, help="the checks (JSON); not written when a check fails")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Check, and write the checks; a failed check raises (a bug, not a user error: it keeps its traceback)."""
    from hwevrsnas.atomic import write_text
    from hwevrsnas.search.verify import check_result

    expected = {key: getattr(args, key) for key in ("space", "dataset", "device", "metric", "method", "seed")}
    if args.proxy_seed is not None:
        expected["proxy_seed"] = args.proxy_seed
    if args.quantiles:
        thresholds = [("quantile", float(q)) for q in args.quantiles.split(",")]
    elif args.quantile is not None:
        thresholds = [("quantile", args.quantile)]
    else:
        thresholds = [("value", value) for value in args.threshold]
    result = check_result(args.run, args.tables, expected, thresholds)
    label = args.label or ",".join(f"{kind[0]}{number!r}" for kind, number in thresholds)
    result["leaf"] = {**{key: str(value) for key, value in expected.items()}, "threshold": label}
    write_text(args.out, json.dumps(result, indent=1, sort_keys=True, allow_nan=False) + "\n")
    print(f"{args.run}: {len(result['checks'])} checks passed")
    return 0

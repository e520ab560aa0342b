"""`hwevrsnas front`: the exact Pareto front of (test error, cost) of one NB201 setting, or of every one with costs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from hwevrsnas.paths import TABLES_DIR


def add_parser(sub: Any) -> None:
    """Register the subcommand."""
    p = sub.add_parser("front", help="the exact Pareto front of (test error, cost) and its hypervolume")
    p.add_argument("--space", default="nb201", help="search space with an accuracy table: nb201 (default: %(default)s)")
    p.add_argument("--dataset", default="cifar10", help="accuracy dataset: cifar10, cifar100, ImageNet16-120")
    p.add_argument("--cost-dataset", help="dataset whose hardware costs to use (default: --dataset)")
    p.add_argument("--device", help="target hardware, e.g. fpga, eyeriss, pixel3 (required unless --all)")
    p.add_argument("--metric", default="latency", help="cost metric: latency or energy (default: %(default)s)")
    p.add_argument("--all", action="store_true",
                   help="every (dataset, device, metric) with costs, one summary each (ignores the three flags)")
    p.add_argument("--tables", default=TABLES_DIR, help="tables directory (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print JSON (with --all: a list)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Compute the front(s) and print them."""
    from hwevrsnas.analysis.fronts import front_record, settings_with_costs
    from hwevrsnas.errors import InputError
    from hwevrsnas.search.costs import NB201_FILE, CostModel
    from hwevrsnas.spaces import get_space
    from hwevrsnas.tables.store import NB201Table

    if not get_space(args.space).has_accuracy:
        raise InputError(f"space {args.space!r} has no accuracy table, so no exact front; nb201 has one")
    if args.all:
        table = NB201Table.open(Path(args.tables) / NB201_FILE)
        records = [front_record(CostModel.nb201(table, *setting)) for setting in settings_with_costs(table)]
        print(json.dumps(records, indent=1) if args.json else "\n".join(_summary(record) for record in records))
        return 0
    if args.device is None:
        raise InputError("give --device (e.g. fpga), or --all for every device")
    model = CostModel.open(args.space, args.tables, args.dataset, args.device, args.metric, args.cost_dataset)
    record = front_record(model)
    if args.json:
        print(json.dumps(record, indent=1))
        return 0
    print(_summary(record))
    print(f"{'index':>6} {'cost':>10} {'accuracy':>9}  arch")
    for index, cost, accuracy, arch in zip(record["indices"], record["costs"], record["accuracies"], record["archs"]):
        print(f"{index:>6} {cost:>10.4g} {accuracy:>9.2f}  {arch}")
    return 0


def _summary(record: dict[str, Any]) -> str:
    return (
        f"{record['space']} {record['dataset']} {record['column']} ({record['cost_dataset']} costs, {record['unit']}): "
        f"{record['size']} of {record['n_with_cost']} architectures on the exact front, "
        f"hypervolume {record['hypervolume']:.4f} (error/100, cost/{record['cost_scale']:.4g}; reference 1, 1)"
    )

"""`hwevrsnas query nb201 | fbnet`: one architecture's accuracy and costs (NB201) or latencies (FBNet)."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from hwevrsnas.paths import TABLES_DIR


def add_parser(sub: Any) -> None:
    """Register the subcommand."""
    p = sub.add_parser("query", help="look up one architecture")
    p.add_argument("space", choices=["nb201", "fbnet"])
    p.add_argument("--arch", required=True, help="NB201 index or arch string; FBNet: 22 comma-separated ops")
    p.add_argument("--dataset", help="NB201 dataset: cifar10 (default), cifar100, ImageNet16-120; FBNet: cifar100 only")
    p.add_argument("--tables", default=TABLES_DIR, help="tables directory (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--compact", action="store_true", help="JSON on one line")
    p.set_defaults(func=run)


def _number(value: float) -> float | None:
    return None if math.isnan(value) else value


def nb201_record(table: Any, arch: str, dataset: str) -> dict[str, object]:
    """One NB201 architecture as the query command prints it."""
    from hwevrsnas.errors import UnknownName

    if dataset not in table.datasets:
        raise UnknownName(f"unknown dataset {dataset!r} for nb201; valid datasets: {', '.join(table.datasets)}")
    index = resolve_nb201(table, arch)
    record: dict[str, object] = {
        "index": index,
        "arch": table.arch_strings[index],
        "dataset": dataset,
        "test_accuracy": float(table.accuracy(index, dataset)),
        "iso_class": int(table.iso_class[index]),
    }
    for kind in ("valid_12ep", "test_12ep"):
        record[f"{kind}_accuracy"] = float(table.accuracy(index, dataset, kind))
    imputed = []
    if dataset in table.cost_datasets:
        for metric in table.metrics(dataset):
            record[metric] = _number(float(table.cost(index, metric, dataset)))
            if table.imputed(index, metric, dataset):
                imputed.append(metric)
    record["imputed"] = imputed
    return record


def resolve_nb201(table: Any, arch: str) -> int:
    """The NB201 index of an index or arch string given on the command line; InputError saying what is wrong."""
    from hwevrsnas.errors import InputError
    from hwevrsnas.spaces.nb201 import arch_to_ops

    text = arch.strip()
    if text.lstrip("-").isdigit():
        index = int(text)
        if not 0 <= index < len(table):
            raise InputError(f"NB201 index {index} is out of range: indices run from 0 to {len(table) - 1}")
        return index
    return int(table.indices_of_ops([arch_to_ops(text)])[0])


def run(args: argparse.Namespace) -> int:
    """Print the record."""
    if args.space == "nb201":
        from hwevrsnas.tables.store import NB201Table

        table = NB201Table.open(Path(args.tables) / "nb201.h5")
        record = nb201_record(table, args.arch, args.dataset or "cifar10")
    else:
        from hwevrsnas.errors import UnknownName
        from hwevrsnas.spaces.fbnet import parse_arch
        from hwevrsnas.tables.fbnet import DATASET, FBNetTable

        if args.dataset not in (None, DATASET):
            raise UnknownName(f"unknown dataset {args.dataset!r} for fbnet: its latency tables are for {DATASET} only")
        table = FBNetTable.open(Path(args.tables) / "fbnet.h5")
        ops = parse_arch(args.arch)
        record = {"arch": args.arch, "ops": [int(o) for o in ops], "dataset": DATASET}
        for device in table.devices:
            record[f"{device}_latency"] = float(table.latency(device, ops))
    if args.json:
        print(json.dumps(record, indent=None if args.compact else 1))
    else:
        for key, value in record.items():
            print(f"{key}: {value}")
    return 0

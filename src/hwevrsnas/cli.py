"""Command line: `hwevrsnas fetch | tables build | tables info | query nb201 | query fbnet`."""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from pathlib import Path
from typing import Sequence

DEFAULT_SOURCES = Path("resources/sources")
DEFAULT_TABLES = Path("resources/tables")


def _jsonable(value: object) -> object:
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _config_mirror(config: str | None) -> Path | None:
    """The `mirror` key of a YAML config file, if the file and key exist."""
    if not config or not Path(config).is_file():
        return None
    import yaml

    value = (yaml.safe_load(Path(config).read_text()) or {}).get("mirror")
    return Path(value) if value else None


def cmd_fetch(args: argparse.Namespace) -> int:
    """Materialise every pinned source under --dest, checking sha256."""
    from hwevrsnas.tables.sources import default_mirror, fetch

    mirror = Path(args.mirror) if args.mirror else default_mirror() or _config_mirror(args.config)
    start = time.perf_counter()
    paths = fetch(Path(args.dest), mirror, args.only or None)
    print(f"{len(paths)} sources verified under {args.dest} in {time.perf_counter() - start:.1f} s")
    return 0


def cmd_tables_build(args: argparse.Namespace) -> int:
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


def cmd_tables_info(args: argparse.Namespace) -> int:
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


def nb201_record(table: object, arch: str, dataset: str) -> dict[str, object]:
    """One NB201 architecture as the query CLI prints it."""
    index = table.index_of(arch)
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
            record[metric] = _jsonable(float(table.cost(index, metric, dataset)))
            if table.imputed(index, metric, dataset):
                imputed.append(metric)
    record["imputed"] = imputed
    return record


def cmd_query(args: argparse.Namespace) -> int:
    """Print one architecture's accuracy and costs (NB201) or latencies (FBNet)."""
    if args.space == "nb201":
        from hwevrsnas.tables.store import NB201Table

        table = NB201Table.open(Path(args.tables) / "nb201.h5")
        record = nb201_record(table, args.arch, args.dataset)
    else:
        from hwevrsnas.spaces import fbnet as fbspace
        from hwevrsnas.tables.fbnet import FBNetTable

        table = FBNetTable.open(Path(args.tables) / "fbnet.h5")
        ops = fbspace.parse_arch(args.arch)
        record = {"arch": args.arch, "ops": [int(o) for o in ops], "dataset": "cifar100"}
        for device in table.devices:
            record[f"{device}_latency"] = float(table.latency(device, ops))
    if args.json:
        print(json.dumps(record, indent=None if args.compact else 1))
    else:
        for key, value in record.items():
            print(f"{key}: {value}")
    return 0


def cmd_proxy(args: argparse.Namespace) -> int:
    """Score one architecture with the representation-similarity proxy and print the result."""
    import torch

    from hwevrsnas.proxy.cache import ScoreCache
    from hwevrsnas.proxy.evaluator import ProxyEvaluator, load_or_build_batch
    from hwevrsnas.proxy.presets import get_preset

    if args.threads:
        torch.set_num_threads(args.threads)
    preset = get_preset(args.preset)
    if args.space == "nb201":
        from hwevrsnas.spaces import nb201 as space

        if args.arch.strip().isdigit():
            from hwevrsnas.tables.store import NB201Table

            ops = NB201Table.open(Path(args.tables) / "nb201.h5").ops[int(args.arch)]
        else:
            ops = space.validate(space.arch_to_ops(args.arch))
    else:
        from hwevrsnas.spaces import fbnet as space

        ops = space.parse_arch(args.arch)
    batch = load_or_build_batch(preset, Path(args.sources), Path(args.batch_dir))
    cache = ScoreCache(args.cache) if args.cache else None
    result = ProxyEvaluator(args.space, preset, batch, cache, device=args.device).evaluate(ops)
    record = {"space": args.space, "arch": args.arch, "preset": preset.name, **result.to_json(), "cached": result.cached}
    if args.json:
        print(json.dumps(record, indent=1))
    else:
        print(f"score {record['score']} loss {record['loss']} cka {record['cka']} ({record['seconds']:.2f} s)")
    return 0


def cmd_study_run(args: argparse.Namespace) -> int:
    """Score a stratified NB201 sample under each proxy variant; write per-arch scores and the summary."""
    import numpy as np
    import pandas as pd

    from hwevrsnas.proxy import study
    from hwevrsnas.tables.store import NB201Table

    table = NB201Table.open(Path(args.tables) / "nb201.h5")
    exclude = pd.read_csv(args.exclude_sample)["index"].to_numpy() if args.exclude_sample else np.array([], int)
    indices = study.stratified_sample(table, args.n, args.seed, exclude)
    chosen = args.variant if args.variant is not None else study.DEFAULT_VARIANTS
    variants = dict(study.parse_variant(v) for v in chosen if v != "none")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    study.run_study(
        table, indices, variants, Path(args.sources), Path(args.batch_dir), args.cache or None,
        device=args.device, workers=args.workers, threads=args.threads, out_dir=out, zero_cost=args.zero_cost,
    )  # fmt: skip
    print(f"scored {len(indices)} archs x {len(variants)} variants -> {out}")
    return 0


def cmd_study_summarise(args: argparse.Namespace) -> int:
    """Correlation table (tau, rho, bootstrap 95% intervals; all and top half) from study score files."""
    import pandas as pd

    from hwevrsnas.proxy import study

    scores = pd.read_csv(Path(args.study) / "scores.csv")
    seconds_path = Path(args.study) / "seconds.csv"
    seconds = pd.read_csv(seconds_path) if seconds_path.is_file() else pd.DataFrame(index=scores.index)
    scores = study.add_rank_combinations(scores)
    columns = study.proxy_columns(scores)
    summary = study.summarise(scores[columns], scores["accuracy"], seconds, seed=args.seed)
    study.write_outputs(Path(args.study), scores, summary)
    print(study.markdown_table(summary))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `hwevrsnas` command."""
    parser = argparse.ArgumentParser(prog="hwevrsnas", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True)

    fetch = sub.add_parser("fetch", help="materialise the pinned sources (mirror first, else upstream)")
    fetch.add_argument("--mirror", help="mirror directory (default: $HWEVRSNAS_MIRROR, else the config's `mirror`)")
    fetch.add_argument("--config", default="config/config.yaml", help="config with a `mirror` key (default: %(default)s)")
    fetch.add_argument("--dest", default=str(DEFAULT_SOURCES), help="where sources go (default: %(default)s)")
    fetch.add_argument("--only", nargs="*", help="mirror paths of the sources to fetch (default: all)")
    fetch.set_defaults(func=cmd_fetch)

    tables = sub.add_parser("tables", help="build or summarise the HDF5 tables")
    tsub = tables.add_subparsers(dest="tables_command", required=True)
    build = tsub.add_parser("build", help="build nb201.h5 and fbnet.h5")
    build.add_argument("--sources", default=str(DEFAULT_SOURCES), help="fetched sources (default: %(default)s)")
    build.add_argument("--out", default=str(DEFAULT_TABLES), help="output directory (default: %(default)s)")
    build.add_argument("--official-nb201", help="official NAS-Bench-201 / NATS-Bench topology file instead")
    build.add_argument("--official-hwnasbench", help="official HW-NAS-Bench pickle instead")
    build.set_defaults(func=cmd_tables_build)
    info = tsub.add_parser("info", help="coverage of every metric: present, imputed, missing")
    info.add_argument("--tables", default=str(DEFAULT_TABLES), help="tables directory (default: %(default)s)")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(func=cmd_tables_info)

    query = sub.add_parser("query", help="look up one architecture")
    query.add_argument("space", choices=["nb201", "fbnet"])
    query.add_argument("--arch", required=True, help="NB201 index or arch string; FBNet: 22 comma-separated ops")
    query.add_argument("--dataset", default="cifar10", help="NB201 dataset (default: %(default)s)")
    query.add_argument("--tables", default=str(DEFAULT_TABLES), help="tables directory (default: %(default)s)")
    query.add_argument("--json", action="store_true", help="print one JSON object")
    query.add_argument("--compact", action="store_true", help="JSON on one line")
    query.set_defaults(func=cmd_query)

    from hwevrsnas.search.cli import add_search_parser

    add_search_parser(sub)

    from hwevrsnas.analysis.report import add_aggregate_parser

    add_aggregate_parser(sub)

    proxy = sub.add_parser("proxy", help="score one architecture with the representation-similarity proxy")
    proxy.add_argument("--space", choices=["nb201", "fbnet"], default="nb201")
    proxy.add_argument("--arch", required=True, help="NB201 index or arch string; FBNet: 22 comma-separated ops")
    proxy.add_argument("--preset", default="quick", help="fidelity preset (default: %(default)s)")
    proxy.add_argument("--sources", default=str(DEFAULT_SOURCES), help="fetched sources (default: %(default)s)")
    proxy.add_argument("--tables", default=str(DEFAULT_TABLES), help="tables directory (default: %(default)s)")
    proxy.add_argument("--batch-dir", default="resources/proxy", help="where proxy batches are kept (default: %(default)s)")
    proxy.add_argument("--cache", default="resources/cache", help="score cache directory; '' disables (default: %(default)s)")
    proxy.add_argument("--device", default="cpu", help="torch device (default: %(default)s)")
    proxy.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    proxy.add_argument("--json", action="store_true", help="print JSON")
    proxy.set_defaults(func=cmd_proxy)

    study_parser = sub.add_parser("study", help="the proxy fidelity study on NB201")
    ssub = study_parser.add_subparsers(dest="study_command", required=True)
    run = ssub.add_parser("run", help="score a stratified sample under each proxy variant")
    run.add_argument("--n", type=int, default=200, help="unique architectures (default: %(default)s)")
    run.add_argument("--seed", type=int, default=0, help="sampling seed (default: %(default)s)")
    run.add_argument("--exclude-sample", help="scores.csv of an earlier study whose archs to avoid (a fresh sample)")
    run.add_argument("--variant", action="append", help="NAME=PRESET[:knob=value,...] (repeatable; default: a standard set; 'none' for zero-cost only)")
    run.add_argument("--out", default="results/fidelity", help="output folder (default: %(default)s)")
    run.add_argument("--sources", default=str(DEFAULT_SOURCES))
    run.add_argument("--tables", default=str(DEFAULT_TABLES))
    run.add_argument("--batch-dir", default="resources/proxy")
    run.add_argument("--cache", default="resources/cache", help="score cache directory; '' disables")
    run.add_argument("--device", default="cpu")
    run.add_argument("--workers", type=int, default=1, help="worker processes (default: %(default)s)")
    run.add_argument("--threads", type=int, default=1, help="torch threads per worker (default: %(default)s)")
    run.add_argument("--zero-cost", nargs="*", default=[], help="zero-cost baselines to add (synflow naswot ...)")
    run.set_defaults(func=cmd_study_run)
    summ = ssub.add_parser("summarise", help="the correlation table of a study folder")
    summ.add_argument("--study", default="results/fidelity", help="study folder (default: %(default)s)")
    summ.add_argument("--seed", type=int, default=0, help="bootstrap seed (default: %(default)s)")
    summ.set_defaults(func=cmd_study_summarise)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse arguments, run the command, turn expected errors into one-line messages."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return args.func(args)
    except (KeyError, ValueError, IndexError, FileNotFoundError, RuntimeError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"hwevrsnas: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

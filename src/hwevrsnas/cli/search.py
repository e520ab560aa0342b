"""`hwevrsnas search`: one search run -> one result file (plus its timing sidecar) and a one-line summary.

A multi-threshold method (search.multiobjective) takes every threshold at once, `--quantiles 0.1,0.5,0.9`
or `--threshold` repeated, and writes one record answering them all (search.run.run_multi_search).
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import Any, Callable

from hwevrsnas.paths import BATCH_DIR, CACHE_DIR, SOURCES_DIR, TABLES_DIR
from hwevrsnas.search.config import DEFAULTS, KNOBS

log = logging.getLogger(__name__)


def add_parser(sub: Any) -> None:
    """Register the subcommand; the GA flags and their defaults come from search.config.KNOBS."""
    from hwevrsnas.search.methods import METHODS

    p = sub.add_parser("search", help="run one hardware-aware search and write its result JSON")
    p.add_argument("--space", default="nb201", help="search space: nb201, fbnet (default: %(default)s)")
    p.add_argument("--dataset", default="cifar10", help="nb201: cifar10, cifar100, ImageNet16-120; fbnet: cifar100")
    p.add_argument("--cost-dataset", help="dataset whose hardware costs to use (default: --dataset)")
    p.add_argument("--device", required=True, help="target hardware, e.g. fpga, eyeriss, raspi4, pixel3")
    p.add_argument("--metric", default="latency", help="cost metric: latency or energy (default: %(default)s)")
    limit = p.add_mutually_exclusive_group(required=True)
    limit.add_argument("--threshold", type=float, action="append",
                       help="absolute cost threshold T (ms or mJ); repeat it for a multi-threshold method")
    limit.add_argument("--quantile", type=float, help="threshold as this quantile in [0, 1] of the costs")
    limit.add_argument("--quantiles", type=quantile_list, metavar="Q1,Q2,...",
                       help="several quantile thresholds, comma-separated (multi-threshold methods: mo-*)")
    p.add_argument("--method", default="hw-evrsnas", help=f"one of {', '.join(METHODS)} (default: %(default)s)")
    p.add_argument("--preset", default="paper", help="proxy fidelity preset (default: %(default)s)")
    p.add_argument("--seed", type=at_least(0), default=0, help="search seed, >= 0 (default: %(default)s)")
    p.add_argument("--proxy-seed", type=at_least(0), metavar="J",
                   help="the proxy's replicate: the preset with seed J draws the proxy batch and the initialisations "
                        "(default: --seed, so that every search seed reads its own draw of the proxy)")
    p.add_argument("--out", required=True, help="result JSON; timings go to <stem>.timing.json beside it")
    p.add_argument("--tables", default=TABLES_DIR, help="tables directory (default: %(default)s)")
    p.add_argument("--sources", default=SOURCES_DIR, help="fetched sources (default: %(default)s)")
    p.add_argument("--cache", default=CACHE_DIR, help="score cache folder, '' for none (default: %(default)s)")
    p.add_argument("--batch-dir", default=BATCH_DIR, help="proxy batch folder, '' for none (default: %(default)s)")
    p.add_argument("--scores", nargs="*", default=[], metavar="FILE",
                   help="score tables to read scores from (hwevrsnas scores build); one that matches no proxy of this "
                        "search (another preset or space) is refused")
    p.add_argument("--compute-scores", action="store_true",
                   help="compute the scores instead of refusing a --scores table that matches no proxy of this search")
    for knob in KNOBS.values():
        default = DEFAULTS[knob.name]
        p.add_argument(knob.flag, type=knob.type, default=default, help=f"{knob.help} (default: {default})")
    p.add_argument("--threads", type=at_least(1), default=1,
                   help="scoring processes (each computes with one torch thread, so scores do not depend on this)")
    p.add_argument("--accelerator", default="auto", help="proxy's torch device: auto, cpu, cuda (default: %(default)s)")
    p.add_argument(
        "--progress", action=argparse.BooleanOptionalAction, default=None, help="progress bar (default: on a tty)"
    )
    p.set_defaults(func=run)


def quantile_list(text: str) -> list[float]:
    """`--quantiles`: comma-separated numbers (range and duplicates are checked with the thresholds)."""
    try:
        return [float(item) for item in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers like 0.1,0.5,0.9, got {text!r}") from None


def at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer >= `minimum` (argparse then names the flag and exits with status 2)."""

    def integer(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {value}")
        return value

    return integer


def check_out(path: str) -> Path:
    """The result path, refused before any work when it is a directory or its folder cannot be written (the result
    and its timing sidecar go there)."""
    from hwevrsnas.atomic import check_writable
    from hwevrsnas.errors import InputError

    out = Path(path)
    if out.is_dir():
        raise InputError(f"--out {out} is a directory; give the result file's path, e.g. {out / 'run.json'}")
    check_writable(out.parent, "--out")
    return out


def check_proxy_folders(args: argparse.Namespace, preset: Any) -> None:
    """The score cache, and the batch folder when the batch is still to be built there, must be writable before the
    search: the cache is written at the first score, the batch before the first."""
    from hwevrsnas.atomic import check_writable

    if args.cache:
        check_writable(args.cache, "--cache", " (--cache '' for none)")
    # The file name from the preset itself: proxy.batch imports torch, which a search served by a table never needs.
    if args.batch_dir and not (Path(args.batch_dir) / preset.batch_file_name).is_file():
        check_writable(args.batch_dir, "--batch-dir", " (--batch-dir '' keeps the batch in memory)")


def build_evaluator(args: argparse.Namespace, method: Any, preset: Any, accelerator: str) -> Any:
    """The evaluator of the method's proxy: served by the score tables given where they hold every class at this
    preset (no torch, no batch), else built, with every table whose identity matches attached."""
    from hwevrsnas.errors import InputError
    from hwevrsnas.proxy import ProxyContext, make_proxy
    from hwevrsnas.proxy.cache import ScoreCache
    from hwevrsnas.proxy.presets import get_preset
    from hwevrsnas.scores import ScoreTable, served_proxies

    tables = [ScoreTable.shared(path) for path in args.scores]
    cache = ScoreCache(args.cache) if args.cache else None

    def context_at(seed: int) -> ProxyContext:
        """The proxy context of the search's preset at a proxy seed (a mean of draws asks for several)."""
        at = preset if seed == preset.seed else get_preset(preset.name, seed=seed)

        def load_batch_at() -> Any:
            from hwevrsnas.proxy.batch import load_or_build_batch

            return load_or_build_batch(at, Path(args.sources), Path(args.batch_dir) if args.batch_dir else None)

        return ProxyContext(args.space, at, load_batch_at, cache, accelerator, workers=args.threads,
                            served=served_proxies(tables, at) if args.space == "nb201" else {}, replicate=context_at)  # fmt: skip

    evaluator = make_proxy(method.proxy, context_at(preset.seed))
    for table in tables:
        mismatches = [evaluator.attach(source) for source in table.sources()]
        if all(mismatches):
            closest = ", ".join(min(mismatches, key=len))
            if not args.compute_scores:
                raise InputError(
                    f"--scores {table.path}: no proxy in it has this search's identity (the closest differs in "
                    f"{closest}), so every score would be computed; give a table built for this search's space, "
                    "preset and proxy seed, or add --compute-scores to compute them"
                )
            log.warning("score table %s not used: no proxy in it has this search's identity (closest differs in %s)",
                        table.path, closest)  # fmt: skip
    return evaluator


def run(args: argparse.Namespace) -> int:
    """Validate everything, run the search, write the result and its sidecar, print one line."""
    from hwevrsnas.errors import InputError
    from hwevrsnas.proxy.determinism import resolve_accelerator
    from hwevrsnas.proxy.presets import get_preset
    from hwevrsnas.search.config import GAConfig
    from hwevrsnas.search.costs import CostModel
    from hwevrsnas.search.methods import GA, METHODS, get_method
    from hwevrsnas.search.record import MultiSetting, Setting, multi_summary_line, summary_line, write_result
    from hwevrsnas.search.run import run_multi_search, run_search

    method = get_method(args.method)
    proxy_seed = args.seed if args.proxy_seed is None else args.proxy_seed
    preset = get_preset(args.preset, seed=proxy_seed)  # unknown presets are rejected for every method
    config = GAConfig.from_mapping({name: getattr(args, name) for name in KNOBS})
    given = len(args.threshold or args.quantiles or [args.quantile])
    if given > 1 and not method.multi_threshold:
        multi = ", ".join(name for name, spec in METHODS.items() if spec.multi_threshold)
        raise InputError(f"method {args.method!r} answers one threshold per run, got {given} thresholds; "
                         f"give one --threshold or --quantile, or use a multi-threshold method ({multi})")  # fmt: skip
    if method.runner == GA and config.tournament_size > config.population:
        log.warning("--tournament-size %d is above --population %d: the GA draws distinct members, so every tournament "
                    "takes the whole population and both parents are its fittest member",
                    config.tournament_size, config.population)  # fmt: skip
    out = check_out(args.out)
    if method.uses_proxy:
        check_proxy_folders(args, preset)
    cost_model = CostModel.open(args.space, args.tables, args.dataset, args.device, args.metric, args.cost_dataset)
    if method.multi_threshold:
        if args.threshold is not None:
            thresholds = [cost_model.resolve_threshold(value) for value in args.threshold]
        else:
            thresholds = [cost_model.resolve_threshold(quantile=q) for q in args.quantiles or [args.quantile]]
        setting = MultiSetting.from_cost(cost_model, thresholds, args.method, preset.name, args.seed, proxy_seed)
    else:
        threshold = cost_model.resolve_threshold(args.threshold[0] if args.threshold else None, args.quantile)
        setting = Setting.from_cost(cost_model, threshold, args.method, preset.name, args.seed, proxy_seed)
    run_info: dict[str, Any] = {"threads": args.threads}
    evaluator = None
    if method.uses_proxy:
        accelerator = resolve_accelerator(args.accelerator)
        run_info["accelerator"] = accelerator
        setup = time.perf_counter()
        evaluator = build_evaluator(args, method, preset, accelerator)
        run_info["setup_wall_seconds"] = time.perf_counter() - setup  # proxy batch and reference samples
    log.info("search %s", setting)
    if method.multi_threshold:
        record = run_multi_search(setting, evaluator, cost_model, config, progress=args.progress, run_info=run_info)
    else:
        record = run_search(setting, evaluator, cost_model, config, progress=args.progress, run_info=run_info)
    write_result(record, out)
    print((multi_summary_line if method.multi_threshold else summary_line)(record))
    return 0

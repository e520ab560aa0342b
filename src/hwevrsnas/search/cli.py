"""`hwevrsnas search`: one search run -> one result file (plus its timing sidecar) and a one-line summary.

Registered in the main CLI by `add_search_parser(sub)`; also runnable alone as
`python -m hwevrsnas.search.cli search ...` (same arguments, same error handling).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from hwevrsnas.search.penalty import DEFAULT_FORM, FORMS
from hwevrsnas.search.result import EVALUATOR_METHODS, METHODS, ZERO_COST_METHODS

DEFAULT_SOURCES = Path("resources/sources")
DEFAULT_TABLES = Path("resources/tables")
DEFAULT_CACHE = Path("resources/cache")
DEFAULT_BATCH_DIR = Path("resources/proxy")
ACCELERATORS = ("auto", "cpu", "cuda")
CIFAR_FOLDER = "CIFAR-10-images"

log = logging.getLogger(__name__)


def add_search_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `search` subcommand to an argparse subparsers object."""
    p = subparsers.add_parser("search", help="run one hardware-aware search and write its result JSON")
    p.add_argument("--space", default="nb201", choices=["nb201", "fbnet"], help="search space (default: %(default)s)")
    p.add_argument("--dataset", default="cifar10", help="nb201: cifar10, cifar100, ImageNet16-120; fbnet: cifar100")
    p.add_argument("--cost-dataset", help="dataset whose hardware costs to use (default: --dataset)")
    p.add_argument("--device", required=True, help="target hardware, e.g. fpga, eyeriss, raspi4, pixel3")
    p.add_argument("--metric", default="latency", help="cost metric: latency or energy (default: %(default)s)")
    limit = p.add_mutually_exclusive_group(required=True)
    limit.add_argument("--threshold", type=float, help="absolute cost threshold T (ms or mJ)")
    limit.add_argument("--quantile", type=float, help="threshold as this quantile in [0, 1] of the costs")
    p.add_argument("--method", default="hw-evrsnas", help=f"one of {', '.join(METHODS)} (default: %(default)s)")
    p.add_argument("--preset", default="paper", help="proxy fidelity preset (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="search seed (default: %(default)s)")
    p.add_argument("--out", required=True, help="result JSON; timings go to <stem>.timing.json beside it")
    p.add_argument("--tables", default=str(DEFAULT_TABLES), help="tables directory (default: %(default)s)")
    p.add_argument("--sources", default=str(DEFAULT_SOURCES), help="fetched sources (default: %(default)s)")
    p.add_argument("--cache", default=str(DEFAULT_CACHE), help="score cache folder, '' for none (default: %(default)s)")
    p.add_argument(
        "--batch-dir", default=str(DEFAULT_BATCH_DIR), help="proxy batch folder, '' for none (default: %(default)s)"
    )
    p.add_argument("--lam", type=float, default=1.0, help="penalty weight lambda (default: %(default)s)")
    p.add_argument("--penalty", default=DEFAULT_FORM, help=f"penalty form: {', '.join(FORMS)} (default: %(default)s)")
    p.add_argument("--population", type=int, default=20, help="population size (default: %(default)s)")
    p.add_argument("--generations", type=int, default=50, help="bred generations (default: %(default)s)")
    p.add_argument("--budget", type=int, help="stop at this many unique evaluations (random/REA default: GA's maximum)")
    p.add_argument("--tournament-size", type=int, default=5, help="GA tournament size (default: %(default)s)")
    p.add_argument("--elites", type=int, default=1, help="GA elites kept per generation (default: %(default)s)")
    p.add_argument("--crossover-p", type=float, default=0.5, help="GA uniform-crossover probability (default: %(default)s)")
    p.add_argument("--mutation-p", type=float, default=0.1, help="GA per-gene mutation probability (default: %(default)s)")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--accelerator", default="auto", help="proxy's torch device: auto, cpu, cuda (default: %(default)s)")
    p.add_argument(
        "--progress", action=argparse.BooleanOptionalAction, default=None, help="progress bar (default: on a tty)"
    )
    p.set_defaults(func=cmd_search)
    return p


def _choice(name: str, value: str, valid: Sequence[str]) -> str:
    if value not in valid:
        raise ValueError(f"unknown {name} {value!r}; valid {name}s: {', '.join(valid)}")
    return value


def _accelerator(name: str) -> str:
    import torch

    _choice("accelerator", name, ACCELERATORS)
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--accelerator cuda requested, but torch sees no CUDA device")
    return name


def build_evaluator(args: argparse.Namespace, preset: Any, accelerator: str) -> Any:
    """The evaluator a method needs: the RS proxy (hw-evrsnas, random) or a zero-cost proxy (zc-*)."""
    from hwevrsnas.proxy.cache import ScoreCache
    from hwevrsnas.proxy.evaluator import ProxyEvaluator, load_or_build_batch, make_proxy_batch, reference_checkpoint

    sources = Path(args.sources)
    cifar_root = sources / CIFAR_FOLDER
    checkpoint = reference_checkpoint(sources, preset.reference)
    for needed in (cifar_root, checkpoint):
        if not needed.exists():
            raise FileNotFoundError(f"{needed} not found; run `hwevrsnas fetch` first (or point --sources at a mirror)")
    if args.batch_dir:
        batch = load_or_build_batch(preset, sources, Path(args.batch_dir))
    else:
        batch = make_proxy_batch(preset, cifar_root=cifar_root, checkpoint=checkpoint)
    cache = ScoreCache(args.cache) if args.cache else None
    if args.method in ZERO_COST_METHODS:
        try:
            from hwevrsnas.proxy.zerocost import ZeroCostEvaluator
        except ImportError as err:
            raise RuntimeError(f"method {args.method!r} needs hwevrsnas.proxy.zerocost, which failed to import: {err}")

        metric = ZERO_COST_METHODS[args.method]
        return ZeroCostEvaluator(args.space, metric, batch, cache, preset.seed, preset=preset, device=accelerator)
    proxy = ProxyEvaluator(args.space, preset, batch, cache, device=accelerator)
    if args.method == "hw-evrsnas-params":
        from hwevrsnas.proxy.combined import RankMeanEvaluator
        from hwevrsnas.proxy.zerocost import ZeroCostEvaluator

        # #params of the table's C=16, N=5 network, as in the fidelity study that measured this variant.
        combined = RankMeanEvaluator(proxy, ZeroCostEvaluator(args.space, "params", batch, cache, device=accelerator))
        combined.reference()  # inside setup_seconds; its proxy seconds go to the timing sidecar
        return combined
    return proxy


def cmd_search(args: argparse.Namespace) -> int:
    """Validate everything, run the search, write the result and its sidecar, print one line."""
    from hwevrsnas.proxy.presets import get_preset
    from hwevrsnas.search.costs import CostModel
    from hwevrsnas.search.ga import GAConfig
    from hwevrsnas.search.result import Setting, run_search, summary_line, write_result

    _choice("method", args.method, METHODS)
    _choice("penalty form", args.penalty, FORMS)
    preset = get_preset(args.preset)  # unknown presets are rejected for every method
    config = GAConfig(
        population=args.population,
        generations=args.generations,
        budget=args.budget,
        tournament_size=args.tournament_size,
        elites=args.elites,
        crossover_p=args.crossover_p,
        mutation_p=args.mutation_p,
        lam=args.lam,
        penalty=args.penalty,
    )
    cost_model = CostModel.open(args.space, args.tables, args.dataset, args.device, args.metric, args.cost_dataset)
    threshold = cost_model.resolve_threshold(args.threshold, args.quantile)
    uses_evaluator = args.method in EVALUATOR_METHODS
    setting = Setting.from_cost(cost_model, threshold, args.method, preset.name if uses_evaluator else None, args.seed)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    run_info: dict[str, Any] = {"threads": args.threads}
    evaluator = None
    if uses_evaluator:
        accelerator = _accelerator(args.accelerator)
        run_info["accelerator"] = accelerator
        setup = time.perf_counter()
        evaluator = build_evaluator(args, preset, accelerator)
        run_info["setup_seconds"] = time.perf_counter() - setup  # proxy batch; not in wall_seconds
        if hasattr(evaluator, "reference_seconds"):
            run_info["reference_proxy_seconds"] = evaluator.reference_seconds
    log.info("search %s: threshold %s (%s)", setting, threshold.value, threshold.source)
    record = run_search(setting, evaluator, cost_model, config, progress=args.progress, run_info=run_info)
    write_result(record, args.out)
    print(summary_line(record))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """A parser with only the `search` subcommand (the main CLI registers it alongside the others)."""
    parser = argparse.ArgumentParser(prog="hwevrsnas", description="hardware-aware NAS search")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True)
    add_search_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone entry point with the main CLI's error handling (one-line message, exit status 2)."""
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

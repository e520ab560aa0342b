"""`hwevrsnas study run | summarise`: the proxy fidelity study on a stratified NB201 sample."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hwevrsnas.paths import BATCH_DIR, CACHE_DIR, SOURCES_DIR, TABLES_DIR


def add_parser(sub: Any) -> None:
    """Register the subcommand."""
    study = sub.add_parser("study", help="the proxy fidelity study on NB201")
    ssub = study.add_subparsers(dest="study_command", required=True)
    run = ssub.add_parser("run", help="score a stratified sample under each proxy variant")
    run.add_argument("--n", type=int, default=200, help="unique architectures (default: %(default)s)")
    run.add_argument("--seed", type=int, default=0, help="sampling seed (default: %(default)s)")
    run.add_argument("--exclude-sample", help="scores.csv of an earlier study whose archs to avoid (a fresh sample)")
    run.add_argument("--variant", action="append",
                     help="NAME=PRESET[:knob=value,...] (repeatable; default: a standard set; 'none' for zero-cost only)")
    run.add_argument("--out", default="results/fidelity", help="output folder (default: %(default)s)")
    run.add_argument("--sources", default=SOURCES_DIR)
    run.add_argument("--tables", default=TABLES_DIR)
    run.add_argument("--batch-dir", default=BATCH_DIR)
    run.add_argument("--cache", default=CACHE_DIR, help="score cache directory; '' disables")
    run.add_argument("--device", default="cpu")
    run.add_argument("--workers", type=int, default=1, help="worker processes (default: %(default)s)")
    run.add_argument("--zero-cost", nargs="*", default=[], help="zero-cost baselines to add (synflow naswot ...)")
    run.set_defaults(func=run_study)
    summ = ssub.add_parser("summarise", help="the correlation table of a study folder")
    summ.add_argument("--study", default="results/fidelity", help="study folder (default: %(default)s)")
    summ.add_argument("--seed", type=int, default=0, help="bootstrap seed (default: %(default)s)")
    summ.set_defaults(func=run_summarise)


def run_study(args: argparse.Namespace) -> int:
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
        device=args.device, workers=args.workers, out_dir=out, zero_cost=args.zero_cost,
    )  # fmt: skip
    print(f"scored {len(indices)} archs x {len(variants)} variants -> {out}")
    return 0


def run_summarise(args: argparse.Namespace) -> int:
    """Correlation table (tau, rho, bootstrap 95% intervals; all and top half) from study score files."""
    import pandas as pd

    from hwevrsnas.proxy import study

    scores = pd.read_csv(Path(args.study) / "scores.csv")
    seconds_path = Path(args.study) / "seconds.csv"
    seconds = pd.read_csv(seconds_path) if seconds_path.is_file() else pd.DataFrame(index=scores.index)
    summary, scores = study.summarise_scores(scores, seconds, seed=args.seed)
    study.write_outputs(Path(args.study), scores, summary)
    print(study.markdown_table(summary))
    return 0

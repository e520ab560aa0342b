"""`hwevrsnas fidelity full | replicates | sample run | sample summarise | paper-sample`: how well proxies rank NB201
architectures by accuracy (hwevrsnas.analysis.fidelity, one module per study)."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any

from hwevrsnas.errors import MissingFile
from hwevrsnas.paths import BATCH_DIR, CACHE_DIR, SOURCES_DIR, TABLES_DIR


def add_parser(sub: Any) -> None:
    """Register the subcommand and its studies."""
    fidelity = sub.add_parser("fidelity", help="how well proxies rank NB201 architectures by accuracy")
    studies = fidelity.add_subparsers(dest="fidelity_study", required=True, metavar="STUDY")

    p = studies.add_parser("full", help="rank correlation, precision and proxy-oracle regret over all NB201 classes")
    _complete_tables(p)
    p.add_argument("--boot", type=int, default=200, help="bootstrap resamples of the intervals (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default: %(default)s)")
    p.add_argument("--out", required=True, help="folder for fidelity.{csv,md} and proxy_oracle.csv")
    p.set_defaults(func=run_full)

    p = studies.add_parser("replicates", help="one rsnas preset's complete tables at distinct proxy seeds: per draw, "
                                              "across draws, between draws, and of their mean")  # fmt: skip
    _complete_tables(p)
    p.add_argument("--out", required=True, help="folder for replicates.{md,csv} and replicate_pairs.csv")
    p.set_defaults(func=run_replicates)

    sample = studies.add_parser("sample", help="proxy variants scored live on a stratified sample of NB201 classes")
    steps = sample.add_subparsers(dest="sample_step", required=True, metavar="STEP")
    run = steps.add_parser("run", help="score a stratified sample under each proxy variant")
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
    run.set_defaults(func=run_sample)
    summarise = steps.add_parser("summarise", help="the correlation table of a study folder")
    summarise.add_argument("--study", default="results/fidelity", help="study folder (default: %(default)s)")
    summarise.add_argument("--seed", type=int, default=0, help="bootstrap seed (default: %(default)s)")
    summarise.add_argument("--scores", help="the per-architecture scores (default: STUDY/scores.csv)")
    summarise.add_argument("--seconds", help="the per-architecture seconds (default: STUDY/seconds.csv, if present)")
    summarise.add_argument("--out", help="write only summary.{csv,md} (headed by this command) into this folder, "
                                         "instead of the study's own scores.csv and summary")
    summarise.set_defaults(func=run_summarise)

    p = studies.add_parser("paper-sample", help="the `paper` preset on a random sample of NB201 classes, beside `quick`")
    p.add_argument("--n", type=int, default=300, help="classes in the sample (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample and the bootstrap (default: %(default)s)")
    p.add_argument("--batch", type=int, default=24, help="classes per build (each keeps its scores in the cache)")
    p.add_argument("--workers", type=int, default=2, help="scoring processes (default: %(default)s)")
    p.add_argument("--deadline-minutes", type=float, default=None, help="start no batch after this")
    p.add_argument("--tables", default=TABLES_DIR, help="tables directory (default: %(default)s)")
    p.add_argument("--quick", required=True, help="the published whole-space `quick` export (CSV)")
    p.add_argument("--zerocost", required=True, help="the published whole-space zero-cost export (CSV)")
    p.add_argument("--extra", required=True, help="the published export with AZ-NAS's members (CSV)")
    p.add_argument("--table", default="resources/scores/nb201-paper-sample.h5", help="the sample's score table to write")
    p.add_argument("--published", help="score nothing: read the sample's published export (CSV) instead of --table")
    p.add_argument("--platform", help="with --published: the platform its table recorded (an export does not keep it)")
    p.add_argument("--out", required=True, help="folder of fidelity.csv and summary.md")
    p.set_defaults(func=run_paper_sample)


def _complete_tables(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scores", nargs="+", required=True, metavar="TABLE",
                   help="score tables holding every class (.h5), or their exports (.csv: `hwevrsnas scores export`)")
    p.add_argument("--platform-of-csv", default=None,
                   help="the platform an export's scores were computed on (an export keeps none; it labels them)")
    p.add_argument("--tables", default=TABLES_DIR, help="tables directory (default: %(default)s)")


def _open(args: argparse.Namespace) -> tuple[Any, list[Any]]:
    from hwevrsnas.analysis.fidelity.full import class_frame
    from hwevrsnas.analysis.published import open_tables
    from hwevrsnas.tables.store import NB201Table

    nb201 = NB201Table.open(Path(args.tables) / "nb201.h5")
    return nb201, open_tables(args.scores, class_frame(nb201), platform=args.platform_of_csv)


def run_full(args: argparse.Namespace) -> int:
    """Write the full-space tables."""
    from hwevrsnas.analysis.fidelity.full import full_space_fidelity, summary_markdown
    from hwevrsnas.atomic import write_text

    nb201, tables = _open(args)
    fidelity, oracle = full_space_fidelity(tables, nb201, args.boot, args.seed)
    out = Path(args.out)
    write_text(out / "fidelity.csv", fidelity.to_csv(index=False, lineterminator="\n"))
    write_text(out / "proxy_oracle.csv", oracle.to_csv(index=False, lineterminator="\n"))
    markdown = summary_markdown(fidelity, oracle)
    write_text(out / "fidelity.md", markdown)
    print(markdown)
    return 0


def run_replicates(args: argparse.Namespace) -> int:
    """Write the replicate study."""
    from hwevrsnas.analysis.fidelity.replicates import replicate_fidelity, replicates_markdown
    from hwevrsnas.atomic import write_text

    nb201, tables = _open(args)
    per_replicate, pairs, summary = replicate_fidelity(tables, nb201)
    out = Path(args.out)
    write_text(out / "replicates.csv", per_replicate.to_csv(index=False, lineterminator="\n"))
    write_text(out / "replicate_pairs.csv", pairs.to_csv(index=False, lineterminator="\n"))
    command = ["hwevrsnas", "fidelity", "replicates", "--scores", *args.scores, "--tables", args.tables, "--out", args.out]
    markdown = f"    {shlex.join(command)}\n\n" + replicates_markdown(per_replicate, pairs, summary)
    write_text(out / "replicates.md", markdown)
    print(markdown)
    return 0


def run_sample(args: argparse.Namespace) -> int:
    """Score a stratified NB201 sample under each proxy variant; write per-arch scores and the summary."""
    import numpy as np
    import pandas as pd

    from hwevrsnas.analysis.fidelity import sample
    from hwevrsnas.tables.store import NB201Table

    table = NB201Table.open(Path(args.tables) / "nb201.h5")
    exclude = pd.read_csv(args.exclude_sample)["index"].to_numpy() if args.exclude_sample else np.array([], int)
    indices = sample.stratified_sample(table, args.n, args.seed, exclude)
    chosen = args.variant if args.variant is not None else sample.DEFAULT_VARIANTS
    variants = dict(sample.parse_variant(v) for v in chosen if v != "none")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sample.run_study(
        table, indices, variants, Path(args.sources), Path(args.batch_dir), args.cache or None,
        device=args.device, workers=args.workers, out_dir=out, zero_cost=args.zero_cost,
    )  # fmt: skip
    print(f"scored {len(indices)} archs x {len(variants)} variants -> {out}")
    return 0


def run_summarise(args: argparse.Namespace) -> int:
    """Correlation table (tau, rho, bootstrap 95% intervals; all and top half) from study score files."""
    import pandas as pd

    from hwevrsnas.analysis.fidelity import sample

    from hwevrsnas.atomic import write_text

    scores_path = Path(args.scores or Path(args.study) / "scores.csv")
    seconds_path = Path(args.seconds or Path(args.study) / "seconds.csv")
    made_by = "`hwevrsnas fidelity sample run --out STUDY` writes it"
    if not scores_path.is_file():
        raise MissingFile(f"{'--scores' if args.scores else '--study'}: {scores_path} not found; {made_by}")
    if args.seconds and not seconds_path.is_file():
        raise MissingFile(f"--seconds: {seconds_path} not found; {made_by} (or leave --seconds out)")
    scores = pd.read_csv(scores_path)
    seconds = pd.read_csv(seconds_path) if seconds_path.is_file() else pd.DataFrame(index=scores.index)
    summary, scores = sample.summarise_scores(scores, seconds, seed=args.seed)
    table = sample.markdown_table(summary)
    if args.out:
        command = ["hwevrsnas", "fidelity", "sample", "summarise", "--scores", str(scores_path),
                   *(["--seconds", str(seconds_path)] if seconds_path.is_file() else []), "--seed", str(args.seed),
                   "--out", args.out]  # fmt: skip
        write_text(Path(args.out) / "summary.csv", summary.to_csv(index=False))
        write_text(Path(args.out) / "summary.md", f"    {shlex.join(command)}\n\n{table}")
    else:
        sample.write_outputs(Path(args.study), scores, summary)
    print(table)
    return 0


def run_paper_sample(args: argparse.Namespace) -> int:
    """Score the sample (or read its published export), then write its fidelity and summary."""
    from hwevrsnas.analysis.fidelity import paper_sample
    from hwevrsnas.analysis.fidelity.full import class_frame
    from hwevrsnas.analysis.published import export_table
    from hwevrsnas.atomic import write_text
    from hwevrsnas.errors import UserError
    from hwevrsnas.scores import ScoreTable
    from hwevrsnas.tables.store import NB201Table

    classes = class_frame(NB201Table.open(Path(args.tables) / "nb201.h5"))
    rows = paper_sample.sample_rows(classes, args.n, args.seed)
    if args.published:
        if not args.platform:
            raise UserError("--published needs --platform: the platform the sample's table recorded")
        table = export_table(args.published, classes, args.platform, preset="paper")
        rows = rows[: table.rows]
        if set(table.positions.tolist()) != set(rows.tolist()):
            raise UserError(f"{args.published} does not hold the first {table.rows} classes of the sample drawn with "
                            f"seed {args.seed}; give the --seed it was drawn with")  # fmt: skip
        source = f"--published {args.published} --platform {args.platform}"
    else:
        rows = paper_sample.score_sample(rows, Path(args.table), args.batch, args.workers, args.tables, args.deadline_minutes)
        table = ScoreTable.open(args.table)
        source = f"--workers {args.workers} --table {args.table}"
    fidelity, scores = paper_sample.sample_fidelity(table, rows, classes, args.quick, args.zerocost, args.extra, args.seed)
    out = Path(args.out)
    write_text(out / "fidelity.csv", fidelity.to_csv(index=False, float_format="%.6g"))
    command = (f"hwevrsnas fidelity paper-sample --n {len(rows)} --seed {args.seed} {source} --quick {args.quick} "
               f"--zerocost {args.zerocost} --extra {args.extra} --out {args.out}")
    write_text(out / "summary.md", paper_sample.summary_markdown(command, fidelity, scores, table, rows, args.seed))
    print(f"{len(rows)} classes -> {out / 'summary.md'}")
    return 0

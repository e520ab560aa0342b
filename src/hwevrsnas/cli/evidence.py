"""`hwevrsnas evidence <step>`: the research steps behind the generated pages of docs/ (`make evidence` runs them).

Each step writes the files it is given (no default names a page of docs/: the caller, usually rules/evidence.smk,
passes the paths) and heads a Markdown page with the command that made it, so that a page says how to remake it.
Steps that need hours of training or a GPU read committed tables or exports instead of recomputing them.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path
from typing import Any

from hwevrsnas.paths import BATCH_DIR, SOURCES_DIR, TABLES_DIR

PROG = "hwevrsnas evidence"


def add_parser(sub: Any) -> None:
    """Register the subcommand and its steps."""
    evidence = sub.add_parser("evidence", help="the research steps behind the generated pages of docs/")
    steps = evidence.add_subparsers(dest="evidence_step", required=True, metavar="STEP")

    p = steps.add_parser("select-ensemble", help="choose hw-evrsnas-ens's members and weights on half of the classes")
    p.add_argument("--scores", nargs="+", required=True,
                   help="complete NB201 score tables (rsnas and zero-cost; .h5, or their exports: .csv)")
    p.add_argument("--preset-of-csv", help="the preset of an rsnas export in --scores (an export does not keep it)")
    p.add_argument("--tables", default=TABLES_DIR, help="folder with nb201.h5 (default: %(default)s)")
    p.add_argument("--out", required=True, help="folder of selection.csv, halves.csv and ensemble.md")
    p.add_argument("--csv", required=True, help="the ensemble's published score of every non-degenerate class")
    p.add_argument("--candidates", nargs="*", help="proxy names to choose from (default: every proxy of the tables)")
    p.set_defaults(func=run_select_ensemble)

    p = steps.add_parser("compare-az-nas", help="hw-evrsnas-ens against AZ-NAS on the same classes")
    p.add_argument("--scores", nargs="+", required=True,
                   help="complete score tables (.h5) or their exports (.csv) with the AZ-NAS members")
    p.add_argument("--ens", required=True, help="the ensemble's published CSV (select-ensemble --csv)")
    p.add_argument("--tables", default=TABLES_DIR, help="tables directory (default: %(default)s)")
    p.add_argument("--platform-of-csv", help="the platform the exports' tables recorded (an export does not keep it)")
    p.add_argument("--out", required=True, help="the Markdown page")
    p.set_defaults(func=run_compare_az_nas)

    p = steps.add_parser("compare-platforms", help="a score table built here against an export built elsewhere")
    p.add_argument("--table", required=True, help="a complete score table with an rsnas column, built here")
    p.add_argument("--csv", required=True, help="`hwevrsnas scores export` of a table built on another machine")
    p.add_argument("--platform-of-csv", required=True, help="the platform the CSV's table recorded")
    p.add_argument("--tables", default=TABLES_DIR, help="tables directory (default: %(default)s)")
    p.add_argument("--out", required=True, help="the Markdown page")
    p.set_defaults(func=run_compare_platforms)

    p = steps.add_parser("kernels", help="random classes scored with this machine's default kernels, then the lower ones")
    p.add_argument("--preset", required=True, help="the rsnas preset (quick, quick-float32, paper, ...)")
    p.add_argument("--proxy", action="append", help="a proxy compared, at that preset (repeatable; default: rsnas)")
    p.add_argument("--n", type=int, default=16, help="classes (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed of the class sample (default: %(default)s)")
    p.add_argument("--workers", type=int, default=1, help="scoring processes (default: %(default)s)")
    p.add_argument("--sources", default=SOURCES_DIR, help="fetched sources (default: %(default)s)")
    p.add_argument("--tables", default=TABLES_DIR, help="tables directory (default: %(default)s)")
    p.add_argument("--batch-dir", default=BATCH_DIR, help="proxy batch folder (default: %(default)s)")
    p.add_argument("--out-dir", required=True, type=Path,
                   help="where to write the record, named for the machine and preset (the reproduction page reads it)")
    p.set_defaults(func=run_kernels)

    p = steps.add_parser("reproduction", help="published score tables recomputed here, and the recorded kernel comparisons")
    p.add_argument("--scores", nargs="+", required=True, help="published float64 score tables (.h5)")
    p.add_argument("--sample", type=int, default=4, help="classes recomputed per table and kernel set (default: 4)")
    p.add_argument("--records", nargs="*", default=[], help="`hwevrsnas evidence kernels` records (JSON)")
    p.add_argument("--sources", default=SOURCES_DIR, help="fetched sources (default: %(default)s)")
    p.add_argument("--tables", default=TABLES_DIR, help="tables directory (default: %(default)s)")
    p.add_argument("--batch-dir", default=BATCH_DIR, help="proxy batch folder (default: %(default)s)")
    p.add_argument("--out", required=True, help="the Markdown page")
    p.set_defaults(func=run_reproduction)

    p = steps.add_parser("oracle-gap", help="each method's regret beside the proxy-oracle regret of its proxy")
    p.add_argument("--runs-dir", default="results/runs", help="the workflow's run files (default: %(default)s)")
    p.add_argument("--scores", nargs="+", required=True, help="complete score tables (rsnas and zero-cost)")
    p.add_argument("--tables", default=TABLES_DIR, help="tables directory (default: %(default)s)")
    p.add_argument("--out", required=True, help="the Markdown page")
    p.set_defaults(func=run_oracle_gap)

    p = steps.add_parser("paper-preset-searches", help="hw-evrsnas at the `paper` preset on one device, beside `quick`")
    p.add_argument("--device", default="edgegpu")
    p.add_argument("--metric", default="latency")
    p.add_argument("--dataset", default="cifar10")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quantiles", type=float, nargs="+", default=None, help="threshold quantiles (default: 0.1 ... 0.9)")
    p.add_argument("--threads", type=int, default=1, help="processes that score a generation's new classes")
    p.add_argument("--runs", type=Path, required=True, help="folder of the result files (and the paper score cache)")
    p.add_argument("--scores", nargs="*", default=[], help="score tables for the quick searches")
    p.add_argument("--out", type=Path, required=True, help="the Markdown table (with this command)")
    p.set_defaults(func=run_paper_preset_searches)

    p = steps.add_parser("replot-anytime", help="redraw the anytime figure from a published anytime table")
    p.add_argument("--table", required=True, help="the anytime table's Markdown (results/tables/anytime.md)")
    p.add_argument("--oracle-gap", default=None,
                   help="the oracle-gap page (docs/evidence/oracle_gap.md): draw each method's proxy-oracle floor")
    p.add_argument("--out", required=True, help="figure stem (.png and .pdf are written)")
    p.set_defaults(func=run_replot_anytime)

    p = steps.add_parser("check-zerocost-naslib", help="our zero-cost scores against NASLib's archived ones")
    p.add_argument("--mirror", type=Path, default=os.environ.get("HWEVRSNAS_MIRROR"), help="data mirror directory")
    p.add_argument("--limit", type=int, default=None, help="only the first N architectures (quick run)")
    p.add_argument("--batch-size", type=int, default=32, help="images in the batch (NASLib used 32)")
    p.add_argument("--seed", type=int, default=0, help="seed of the image draw and of every network init")
    p.add_argument("--metrics", default=None, help="comma-separated subset of synflow,naswot,grad_norm,snip,params,flops")
    p.add_argument("--out", type=Path, default=None, help="also write per-architecture scores to this CSV")
    p.set_defaults(func=run_check_zerocost_naslib)

    p = steps.add_parser("validate-zerocost", help="the extra zero-cost proxies on a stratified sample of NB201 classes")
    p.add_argument("--n", type=int, default=300, help="classes in the stratified sample")
    p.add_argument("--seed", type=int, default=0, help="seed of the stratified sample")
    p.add_argument("--init-seed", type=int, default=0, help="torch.manual_seed before each network is built")
    p.add_argument("--table", default=f"{TABLES_DIR}/nb201.h5")
    p.add_argument("--sources", default=SOURCES_DIR)
    p.add_argument("--batch-dir", default=BATCH_DIR)
    p.add_argument("--out", default="results/zerocost_validation")
    p.add_argument("--time-members", type=int, default=20,
                   help="also time each AZ-NAS member alone (as the registered proxies run) on this many archs")
    p.add_argument("--retime", type=int, default=0,
                   help="time every metric alone, one fresh network each (as the registered proxies run), on the "
                        "first K archs of the sample, into OUT/timing.csv; the seconds column then comes from it")
    p.add_argument("--boot", type=int, default=1000, help="bootstrap resamples for the intervals")
    p.set_defaults(func=run_validate_zerocost)

    p = steps.add_parser("eval-references", help="the pretrained CIFAR ResNets on the mirror's test images")
    p.add_argument("--mirror", type=Path, default=os.environ.get("HWEVRSNAS_MIRROR"), help="data mirror directory")
    p.set_defaults(func=run_eval_references)

    p = steps.add_parser("embed", help="copy the generated pages into the generated regions of README.md and docs/")
    p.add_argument("--root", type=Path, default=Path("."), help="the repository (default: the working directory)")
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 if a doc is out of date")
    p.set_defaults(func=run_embed)


def _command(step: str, *parts: Any) -> str:
    """The command line a page is headed with: `hwevrsnas evidence STEP` and the given options."""
    return " ".join([PROG, step, *(str(part) for part in parts if part != "")])


def _nb201(tables: str) -> Any:
    from hwevrsnas.tables.store import NB201Table

    return NB201Table.open(Path(tables) / "nb201.h5")


def run_select_ensemble(args: argparse.Namespace) -> int:
    """Choose the ensemble on the select half; write the trials, both halves' figures, the page and the scores CSV.

    Exits 1 when the chosen weights differ from `proxy.ensemble.ENSEMBLE_WEIGHTS` (the code's source of the
    method's weights): update them, rerun."""
    import csv
    import io

    import numpy as np

    from hwevrsnas.analysis import ensemble
    from hwevrsnas.analysis.fidelity.full import class_frame
    from hwevrsnas.atomic import write_text
    from hwevrsnas.analysis.published import open_tables
    from hwevrsnas.proxy.ensemble import ENSEMBLE_WEIGHTS, REQUIRED_MEMBER

    nb201_table = _nb201(args.tables)
    classes = class_frame(nb201_table)
    tables = open_tables(args.scores, classes, preset=args.preset_of_csv)
    values = ensemble.member_values(tables, len(classes))
    candidates = args.candidates or [REQUIRED_MEMBER, *sorted(c for c in values.columns if c != REQUIRED_MEMBER)]
    half = ensemble.split_halves(classes["degenerate"].to_numpy())
    selection = ensemble.select_ensemble(values, classes["cifar10"].to_numpy(), half == "select", candidates)
    chosen = ensemble.ensemble_scores(values, selection.weights)

    out = Path(args.out)
    write_text(out / "selection.csv", selection.trials.to_csv(index=False, float_format="%.6f"))
    columns = {"ensemble (chosen)": chosen}
    # Ablation, not part of the choice: the same members and weights without the representation-similarity score.
    without = {name: w for name, w in selection.weights.items() if name != REQUIRED_MEMBER}
    if without:
        columns[f"ensemble without {REQUIRED_MEMBER} (ablation)"] = ensemble.ensemble_scores(values, without)
    columns.update({name: values[name].to_numpy() for name in candidates})
    halves = ensemble.half_table(columns, classes, half, nb201_table)
    write_text(out / "halves.csv", halves.to_csv(index=False, float_format="%.6f"))
    counts = {which: int(np.count_nonzero(half == which)) for which in ensemble.HALVES}
    preset = f"--preset-of-csv {args.preset_of_csv}" if args.preset_of_csv else ""
    command = _command("select-ensemble", "--scores", *args.scores, preset,
                       f"--tables {args.tables} --out {args.out} --csv {args.csv}")  # fmt: skip
    page = ensemble.selection_markdown(selection, halves, candidates, counts, command)
    write_text(out / "ensemble.md", page)
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(["index", "arch", "score", "half"])
    writer.writerows(ensemble.published_ensemble_rows(chosen, classes, half))
    write_text(Path(args.csv), buffer.getvalue())
    print(page)
    if selection.weights != ENSEMBLE_WEIGHTS:
        print(f"chosen weights {selection.weights} differ from proxy.ensemble.ENSEMBLE_WEIGHTS {ENSEMBLE_WEIGHTS}: "
              "update them and rerun", file=sys.stderr)  # fmt: skip
        return 1
    return 0


def run_compare_az_nas(args: argparse.Namespace) -> int:
    """Write the comparison page."""
    import pandas as pd

    from hwevrsnas.analysis.az_nas import az_nas_comparison
    from hwevrsnas.analysis.fidelity.full import class_frame
    from hwevrsnas.analysis.published import open_tables
    from hwevrsnas.atomic import write_text

    nb201 = _nb201(args.tables)
    classes = class_frame(nb201)
    tables = open_tables(args.scores, classes, args.platform_of_csv)
    platform = f"--platform-of-csv {args.platform_of_csv}" if args.platform_of_csv else ""
    command = _command("compare-az-nas", "--scores", *args.scores, platform, f"--ens {args.ens} --out {args.out}")
    text = az_nas_comparison(tables, pd.read_csv(args.ens), classes, nb201, command)
    write_text(Path(args.out), text)
    print(text)
    return 0


def run_compare_platforms(args: argparse.Namespace) -> int:
    """Write the platform comparison page."""
    import pandas as pd

    from hwevrsnas.analysis.fidelity.full import class_frame
    from hwevrsnas.analysis.platforms import platform_comparison
    from hwevrsnas.analysis.result_tables import markdown
    from hwevrsnas.atomic import write_text
    from hwevrsnas.scores import ScoreTable

    classes = class_frame(_nb201(args.tables))
    frame = platform_comparison(ScoreTable.open(args.table), pd.read_csv(args.csv), args.platform_of_csv, classes, args.csv)
    command = _command("compare-platforms", f"--table {args.table} --csv {args.csv}",
                       f"--platform-of-csv {args.platform_of_csv} --out {args.out}")  # fmt: skip
    text = f"    {command}\n\n" + markdown(frame, ".4g", counts=[])
    write_text(Path(args.out), text)
    print(text)
    return 0


def run_oracle_gap(args: argparse.Namespace) -> int:
    """Write the oracle-gap page."""
    from hwevrsnas.analysis.oracle_gap import method_oracle_gaps, oracle_gap_markdown
    from hwevrsnas.atomic import write_text
    from hwevrsnas.scores import ScoreTable

    gaps = method_oracle_gaps(args.runs_dir, [ScoreTable.open(p) for p in args.scores], _nb201(args.tables), args.tables)
    command = _command("oracle-gap", f"--runs-dir {args.runs_dir} --scores", *args.scores,
                       f"--tables {args.tables} --out {args.out}")  # fmt: skip
    text = oracle_gap_markdown(gaps, command)
    write_text(Path(args.out), text)
    print(text, end="")
    return 0


def run_kernels(args: argparse.Namespace) -> int:
    """Measure one preset's kernel sensitivity on this machine and record it."""
    from hwevrsnas.reproduction import kernel_comparison, report_lines, write_json

    results = kernel_comparison(args.preset, args.proxy or ["rsnas"], args.n, args.seed, workers=args.workers,
                                sources=args.sources, tables=args.tables, batch_dir=args.batch_dir)  # fmt: skip
    for result in results:
        machine = str(result.provenance["machine"]).replace("/", "_")
        write_json(result, args.out_dir / f"{machine}--{args.preset}--{result.proxy.replace(':', '-')}.json")
        print("\n".join(report_lines(result)))
    return 0


def run_reproduction(args: argparse.Namespace) -> int:
    """Recompute a sample of every table under both kernel sets, then write the page with the recorded comparisons."""
    from hwevrsnas.atomic import write_text
    from hwevrsnas.reproduction import read_json, reproduction_markdown, verify

    locations = {"sources": args.sources, "tables": args.tables, "batch_dir": args.batch_dir}
    live = [verify(table, args.sample, 0, kernels, workers=1, **locations)
            for table in args.scores for kernels in ("default", "lower")]  # fmt: skip
    # By machine, then its rsnas records before its zero-cost ones.
    records = sorted((read_json(path) for path in args.records),
                     key=lambda r: (r.provenance.get("machine", ""), r.proxy != "rsnas", r.dtype, r.preset, r.proxy))
    command = _command("reproduction", "--scores", *args.scores, f"--sample {args.sample}",
                       *(["--records", *args.records] if args.records else []), f"--out {args.out}")  # fmt: skip
    text = "\n".join([
        f"    {command}",
        "",
        f"**The published tables, recomputed where this page is made.** {args.sample} random classes of each table "
        "(`scores verify --sample N --seed 0`), with the machine's default kernels and with the next lower vector ISA "
        "forced. Every figure here is the same on any machine, or the tables do not reproduce there.",
        "",
        reproduction_markdown(live, platform=False),
        f"**Kernel sets, as recorded** ({len(records)} records, `hwevrsnas evidence kernels`; `make kernels` adds "
        "this machine's). Random classes scored with a machine's default kernels, then recomputed with the lower ones "
        "in a fresh process (the proxy batch rebuilt under them).",
        "",
        reproduction_markdown(records) if records else "(none recorded)\n",
    ])
    write_text(args.out, text)
    print(text, end="")
    return 0 if all(result.passed for result in live) else 1


def run_paper_preset_searches(args: argparse.Namespace) -> int:
    """Run the missing searches, then write the page."""
    from hwevrsnas.analysis.paper_preset import QUANTILES, PaperPresetSearches, paper_preset_markdown
    from hwevrsnas.atomic import write_text

    quantiles = list(args.quantiles or QUANTILES)
    searches = PaperPresetSearches(args.runs, args.device, args.metric, args.dataset, args.seed, quantiles, args.threads,
                                   list(args.scores))  # fmt: skip
    command = _command(
        "paper-preset-searches", f"--device {args.device} --metric {args.metric} --seed {args.seed}",
        "--quantiles", *quantiles, f"--threads {args.threads} --runs {args.runs}",
        *(["--scores", *args.scores] if args.scores else []), f"--out {args.out}",
    )  # fmt: skip
    text = paper_preset_markdown(searches, command)
    write_text(args.out, text)
    print(text, end="")
    return 0


def run_replot_anytime(args: argparse.Namespace) -> int:
    """Redraw the figure."""
    from hwevrsnas.analysis.plots import replot_anytime

    for path in replot_anytime(args.table, args.out, args.oracle_gap):
        print(path)
    return 0


def run_check_zerocost_naslib(args: argparse.Namespace) -> int:
    """Score NASLib's architectures and print the comparison."""
    from hwevrsnas.errors import UserError
    from hwevrsnas.validation.naslib import METRICS, check_against_naslib

    if args.mirror is None:
        raise UserError("give --mirror or set HWEVRSNAS_MIRROR")
    metrics = [m.strip() for m in (args.metrics or ",".join(METRICS)).split(",") if m.strip()]
    unknown = sorted(set(metrics) - set(METRICS))
    if unknown:
        raise UserError(f"unknown metrics {unknown}; valid: {', '.join(METRICS)}")
    check_against_naslib(Path(args.mirror), metrics, args.limit, args.batch_size, args.seed, args.out)
    return 0


def run_validate_zerocost(args: argparse.Namespace) -> int:
    """Score the stratified sample and write its correlation table."""
    from hwevrsnas.validation.zerocost import validate_zerocost

    options = {"--n": args.n, "--seed": args.seed, "--init-seed": args.init_seed, "--table": args.table,
               "--sources": args.sources, "--batch-dir": args.batch_dir, "--out": args.out,
               "--time-members": args.time_members, "--retime": args.retime, "--boot": args.boot}  # fmt: skip
    command = _command("validate-zerocost", *(f"{name} {shlex.quote(str(value))}" for name, value in options.items()))
    return validate_zerocost(command, args.n, args.seed, args.init_seed, args.table, args.sources, args.batch_dir,
                             args.out, args.time_members, args.retime, args.boot)  # fmt: skip


def run_eval_references(args: argparse.Namespace) -> int:
    """Evaluate every reference depth and print the table."""
    from hwevrsnas.errors import UserError
    from hwevrsnas.validation.references import evaluate_references

    if args.mirror is None:
        raise UserError("give --mirror or set HWEVRSNAS_MIRROR")
    evaluate_references(Path(args.mirror))
    return 0


def run_embed(args: argparse.Namespace) -> int:
    """Rewrite the docs, or with --check report the ones that would change."""
    from hwevrsnas.embed import embed

    stale = embed(args.root.resolve(), check=args.check)
    if args.check and stale:
        print("out of date: " + ", ".join(stale) + f"; run {PROG} embed (or make evidence)", file=sys.stderr)
        return 1
    return 0

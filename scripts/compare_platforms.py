"""The same score on two machines: a score table built here against a published export built elsewhere.

    python scripts/compare_platforms.py --table resources/scores/nb201-quick-rsnas.h5 \
        --csv docs/scores/nb201-quick.csv --platform-of-csv cpu/AVX2/torch-2.13.0+cpu --out docs/scores/platforms.md

A score is bit-reproducible on one platform only (proxy.determinism): another CPU runs other kernels
(vector width, blocking), the 10-step training amplifies their rounding differences, and every score
records its platform so that tables of two platforms are never mixed. This measures how far apart two
platforms' scores of every class are, and whether the fidelity conclusion (Kendall tau against the
classes' CIFAR-10 accuracy) moves with them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from hwevrsnas.analysis.fidelity import class_frame
from hwevrsnas.analysis.tables import markdown
from hwevrsnas.atomic import write_text
from hwevrsnas.scores import ScoreTable
from hwevrsnas.tables.store import NB201Table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table", required=True, help="a complete score table with an rsnas column, built here")
    parser.add_argument("--csv", required=True, help="`hwevrsnas scores export` of a table built on another machine")
    parser.add_argument("--platform-of-csv", required=True, help="the platform the CSV's table recorded")
    parser.add_argument("--tables", default="resources/tables")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    table = ScoreTable.open(args.table)
    column = table.proxies["rsnas"]
    here = pd.DataFrame({"index": np.asarray(table.index), "score": column.score, "loss": column.loss})
    there = pd.read_csv(args.csv)[["index", "score", "loss"]]
    both = here.merge(there, on="index", suffixes=("_here", "_there"), validate="one_to_one")
    if len(both) != len(here) or len(both) != len(there):
        raise SystemExit(f"{args.table} and {args.csv} do not hold the same classes ({len(here)}, {len(there)})")
    classes = class_frame(NB201Table.open(Path(args.tables) / "nb201.h5"))
    truth = classes.set_index("index")
    live = both[~truth.loc[both["index"], "degenerate"].to_numpy()]
    accuracy = truth.loc[live["index"], "cifar10"].to_numpy()
    difference = (live["score_here"] - live["score_there"]).abs()
    rows = [
        ("platform here", column.identity.get("platform")),
        ("platform of the CSV", args.platform_of_csv),
        ("non-degenerate classes", len(live)),
        ("scores equal bit for bit", int((live["score_here"] == live["score_there"]).sum())),
        ("largest score difference", float(difference.max())),
        ("median score difference", float(difference.median())),
        ("largest loss difference", float((live["loss_here"] - live["loss_there"]).abs().max())),
        ("Kendall tau, here vs the CSV", float(stats.kendalltau(live["score_here"], live["score_there"]).statistic)),
        ("Spearman rho, here vs the CSV", float(stats.spearmanr(live["score_here"], live["score_there"]).statistic)),
        ("Kendall tau vs CIFAR-10 accuracy, here", float(stats.kendalltau(live["score_here"], accuracy).statistic)),
        ("Kendall tau vs CIFAR-10 accuracy, the CSV", float(stats.kendalltau(live["score_there"], accuracy).statistic)),
    ]
    frame = pd.DataFrame(rows, columns=["figure", "value"]).astype({"value": object})
    command = (f"python scripts/compare_platforms.py --table {args.table} --csv {args.csv} "
               f"--platform-of-csv {args.platform_of_csv} --out {args.out}")  # fmt: skip
    text = f"    {command}\n\n" + markdown(frame, ".4g", counts=[])
    write_text(Path(args.out), text)
    print(text)


if __name__ == "__main__":
    main()

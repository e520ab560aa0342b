"""Choose the members and weights of `hw-evrsnas-ens` on the select half of the NB201 classes; report the other half.

    python scripts/select_ensemble.py --scores resources/scores/nb201-quick.h5 \
        --tables resources/tables --out docs/ensemble --csv docs/scores/nb201-ens.csv

Writes <out>/selection.csv (every trial's select-half tau), <out>/halves.csv and <out>/ensemble.md (the
chosen ensemble, its members and #params on both halves and three datasets), and the published score
of every non-degenerate class (index,arch,score,half). Exits non-zero when the chosen weights differ
from `proxy.ensemble.ENSEMBLE_WEIGHTS` (the code's source of the method's weights): update them, rerun.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

from hwevrsnas.analysis.ensemble import (
    SPLIT_SEED, WEIGHT_GRID, ensemble_scores, half_table, member_values, select_ensemble, split_halves,
)  # fmt: skip
from hwevrsnas.analysis.fidelity import class_frame
from hwevrsnas.proxy.ensemble import ENSEMBLE_WEIGHTS, REQUIRED_MEMBER
from hwevrsnas.scores import ScoreTable
from hwevrsnas.spaces import get_space, nb201
from hwevrsnas.tables.store import NB201Table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scores", nargs="+", required=True, help="complete NB201 score tables (rsnas and zero-cost)")
    parser.add_argument("--tables", default="resources/tables", help="folder with nb201.h5")
    parser.add_argument("--out", default="docs/ensemble")
    parser.add_argument("--csv", default="docs/scores/nb201-ens.csv")
    parser.add_argument("--candidates", nargs="*", help="proxy names to choose from (default: every proxy of the tables)")
    args = parser.parse_args()

    tables = [ScoreTable.open(path) for path in args.scores]
    nb201_table = NB201Table.open(Path(args.tables) / "nb201.h5")
    classes = class_frame(nb201_table)
    values = member_values(tables, len(classes))
    candidates = args.candidates or [REQUIRED_MEMBER, *sorted(c for c in values.columns if c != REQUIRED_MEMBER)]
    half = split_halves(classes["degenerate"].to_numpy())
    truth = classes["cifar10"].to_numpy()
    selection = select_ensemble(values, truth, half == "select", candidates)
    chosen = ensemble_scores(values, selection.weights)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    selection.trials.to_csv(out / "selection.csv", index=False, float_format="%.6f")
    columns = {"ensemble (chosen)": chosen}
    # Ablation, not part of the choice: the same members and weights without the representation-similarity score.
    without = {name: w for name, w in selection.weights.items() if name != REQUIRED_MEMBER}
    if without:
        columns[f"ensemble without {REQUIRED_MEMBER} (ablation)"] = ensemble_scores(values, without)
    columns.update({name: values[name].to_numpy() for name in candidates})
    halves = half_table(columns, classes, half, nb201_table)
    halves.to_csv(out / "halves.csv", index=False, float_format="%.6f")
    counts = {which: int(np.count_nonzero(half == which)) for which in ("select", "report")}
    (out / "ensemble.md").write_text(markdown(selection, halves, candidates, counts, args))

    space = get_space("nb201")
    reps = nb201.class_representatives()
    Path(args.csv).parent.mkdir(parents=True, exist_ok=True)
    with open(args.csv, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["index", "arch", "score", "half"])
        for row in np.flatnonzero(half != ""):
            writer.writerow([int(classes["index"].iloc[row]), space.arch_str(reps[row]), repr(float(chosen[row])), half[row]])
    print((out / "ensemble.md").read_text())
    if selection.weights != ENSEMBLE_WEIGHTS:
        print(f"chosen weights {selection.weights} differ from proxy.ensemble.ENSEMBLE_WEIGHTS {ENSEMBLE_WEIGHTS}: "
              "update them and rerun", file=sys.stderr)  # fmt: skip
        return 1
    return 0


def markdown(selection, halves, candidates, counts, args) -> str:  # type: ignore[no-untyped-def]
    command = ("python scripts/select_ensemble.py --scores " + " ".join(args.scores) + f" --tables {args.tables} "
               f"--out {args.out} --csv {args.csv}")  # fmt: skip
    trials = selection.trials
    subsets = trials[trials["step"] == "subset"].sort_values("select_tau", ascending=False, kind="stable")
    lines = [
        f"    {command}",
        "",
        f"Split: the {counts['select']} select and {counts['report']} report classes of a permutation of the "
        f"non-degenerate NB201 classes drawn with seed {SPLIT_SEED}. Candidates: {', '.join(candidates)}. "
        f"{len(subsets)} subsets with equal weights, then one pass of weights in {list(WEIGHT_GRID)}; "
        "truth: mean CIFAR-10 test accuracy (200 epochs) of each class's members.",
        "",
        "**Chosen** (select half only): " + ", ".join(f"`{n}` x {w:g}" for n, w in selection.weights.items()),
        "",
        "Best five subsets on the select half:",
        "",
        "| members | select tau |",
        "|---|---:|",
        *[f"| {row.members} | {row.select_tau:.4f} |" for row in subsets.head(5).itertuples()],
        "",
        "Each score on both halves (the report half was not seen by the selection). Per class: the class's mean "
        "accuracy; per architecture: every member of the half's classes with its own accuracy and its class's score, "
        "as whole-space figures in the literature count (AZ-NAS: tau 0.741, rho 0.913 over all 15,625):",
        "",
        "| score | half | n | tau C10 | rho C10 | tau C100 | rho C100 | tau IN16 | rho IN16 | tau C10, per architecture (n) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in halves.to_dict("records"):
        cells = [r["score"], r["half"], str(r["n"])]
        cells += [f"{r[f'{m} {d}']:.3f}" for d in ("cifar10", "cifar100", "ImageNet16-120") for m in ("tau", "rho")]
        cells.append(f"{r['tau cifar10 architectures']:.3f} ({r['architectures']:,})")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())

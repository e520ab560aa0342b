"""hw-evrsnas-ens against AZ-NAS on the same classes, counted the same way (docs/FIDELITY.md).

    python scripts/compare_az_nas.py --scores resources/scores/nb201-extra.h5 \
        --ens docs/scores/nb201-ens.csv --out docs/ensemble/az_nas.md

AZ-NAS (Lee & Ham, CVPR 2024) is this project's implementation (proxy.zerocost_extra): its three members from
a score table holding every class and FLOPs, rank-aggregated over all non-degenerate classes
(analysis.fidelity.az_nas_column). The ensemble's score is its published CSV, with the select / report halves
it was chosen and judged on. Both are reported on both halves, per class and per architecture
(analysis.ensemble.half_table), beside AZ-NAS's published whole-space figure.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from hwevrsnas.analysis.ensemble import half_table
from hwevrsnas.analysis.fidelity import AZ_NAS_MEMBERS, az_nas_column, class_frame, proxy_scores
from hwevrsnas.analysis.tables import markdown
from hwevrsnas.atomic import write_text
from hwevrsnas.scores import ScoreTable
from hwevrsnas.tables.store import NB201Table

PUBLISHED = "AZ-NAS's paper: Kendall tau 0.741, Spearman rho 0.913 on CIFAR-10 over all 15,625 architectures"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scores", nargs="+", required=True, help="complete score tables with the AZ-NAS members")
    parser.add_argument("--ens", default="docs/scores/nb201-ens.csv")
    parser.add_argument("--tables", default="resources/tables")
    parser.add_argument("--out", default="docs/ensemble/az_nas.md")
    args = parser.parse_args()

    nb201 = NB201Table.open(Path(args.tables) / "nb201.h5")
    classes = class_frame(nb201)
    scores = proxy_scores([ScoreTable.open(path) for path in args.scores], len(classes))
    missing = [m for m in AZ_NAS_MEMBERS if m not in scores]
    if missing:
        raise SystemExit(f"{' '.join(args.scores)}: no column {', '.join(missing)}; build them with "
                         "hwevrsnas scores build --proxy zc:az_expressivity --proxy zc:az_progressivity "
                         "--proxy zc:az_trainability")  # fmt: skip
    ens = pd.read_csv(args.ens).set_index("index").reindex(classes["index"])
    half = ens["half"].fillna("degenerate").to_numpy()
    columns = {"hw-evrsnas-ens": ens["score"].to_numpy(dtype=float), "AZ-NAS (this implementation)": az_nas_column(scores, classes)}
    for member in AZ_NAS_MEMBERS:
        columns[member] = scores[member].to_numpy(dtype=float)
    halves = half_table(columns, classes, half, nb201)
    halves["tau cifar10, per architecture (n)"] = [
        f"{tau:.3f} ({n:,})" for tau, n in zip(halves.pop("tau cifar10 architectures"), halves.pop("architectures"))
    ]
    shown = halves[["score", "half", "n", "tau cifar10", "rho cifar10", "tau cifar100", "tau ImageNet16-120",
                    "tau cifar10, per architecture (n)"]]  # fmt: skip
    command = f"python scripts/compare_az_nas.py --scores {' '.join(args.scores)} --ens {args.ens} --out {args.out}"
    notes = [
        "Per class: the class's mean accuracy, the 5 degenerate classes left out; per architecture: every member of "
        "the half's classes with its own accuracy and its class's score.",
        f"Published: {PUBLISHED}.",
        "AZ-NAS is ranked over all 6,461 classes, then split; a member's tau is its raw value's. "
        f"Platforms: the table's {', '.join(sorted(set(_platforms(args.scores))))}; the ensemble CSV's as in "
        "docs/scores/README.md.",
    ]
    text = f"    {command}\n\n" + markdown(shown, ".3f") + "\n" + "\n".join(f"- {note}" for note in notes) + "\n"
    write_text(Path(args.out), text)
    print(text)


def _platforms(paths: list[str]) -> list[str]:
    return [str(p.identity.get("platform")) for path in paths for p in ScoreTable.open(path).proxies.values()
            if p.identity.get("platform")]  # fmt: skip


if __name__ == "__main__":
    main()

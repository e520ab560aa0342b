"""The faithful `paper` preset on a random sample of NB201 classes, beside `quick` and #params on the same classes.

No whole-space `paper` table exists on a CPU (about 36 hours on 2 cores), so this scores a seeded random
sample of the non-degenerate classes in batches, each batch one `hwevrsnas scores build` that keeps its
scores in the score cache (so the sample grows across sessions: a rerun with a larger --n or a later
deadline scores only the classes not yet cached), then writes the sample's table and its fidelity:

    python scripts/paper_sample.py --n 300 --workers 2 --deadline-minutes 100 \\
        --table resources/scores/nb201-paper-sample.h5 --out docs/fidelity_paper_sample

The sample is the first --n classes of one permutation (seed --seed), so samples of different sizes nest;
with a deadline the scored prefix is reported. `quick`, the zero-cost columns and AZ-NAS come from the
published whole-space CSVs (docs/scores), so every proxy is judged on exactly the same classes.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from hwevrsnas.analysis.fidelity import (
    AZ_NAS, AZ_NAS_MEMBERS, az_nas_column, class_frame, fidelity_table, proxy_scores, with_rank_means,
)
from hwevrsnas.analysis.tables import markdown
from hwevrsnas.atomic import write_text
from hwevrsnas.scores import ScoreTable
from hwevrsnas.spaces import get_space
from hwevrsnas.tables.store import NB201Table


def sample_rows(classes: pd.DataFrame, n: int, seed: int) -> np.ndarray:
    """Rows of the class list: the first n non-degenerate classes of a seeded permutation."""
    live = np.flatnonzero(~classes["degenerate"].to_numpy())
    return live[np.random.default_rng(seed).permutation(len(live))][:n]


def build(args: argparse.Namespace, rows: np.ndarray, out: Path, work: Path) -> None:
    space = get_space("nb201")
    classes = space.classes()
    archs = work / "archs.txt"
    archs.write_text("\n".join(space.arch_str(classes[r]) for r in rows) + "\n")
    subprocess.run(
        [sys.executable, "-m", "hwevrsnas.cli", "-v", "scores", "build", "--preset", "paper", "--archs", str(archs),
         "--workers", str(args.workers), "--tables", args.tables, "--no-progress", "--out", str(out)],
        check=True,
    )  # fmt: skip


def published(path: str, classes: pd.DataFrame) -> pd.DataFrame:
    """A published whole-space CSV, one row per class of the class list."""
    return pd.read_csv(path).set_index("index").reindex(classes["index"]).reset_index(drop=True)


def summary_frame(fidelity: pd.DataFrame) -> pd.DataFrame:
    """One row per proxy, best CIFAR-10 tau first: tau and rho with intervals, the top half, and the transfer taus."""
    rows = []
    for proxy, own in fidelity.groupby("proxy", sort=False):
        at = own.set_index(["dataset", "subset"])
        c10 = at.loc[("cifar10", "all")]
        rows.append({
            "proxy": proxy, "n": int(c10["n"]),
            "tau": f"{c10['kendall_tau']:.3f} [{c10['tau_lo']:.2f}, {c10['tau_hi']:.2f}]",
            "rho": f"{c10['spearman_rho']:.3f} [{c10['rho_lo']:.2f}, {c10['rho_hi']:.2f}]",
            "tau, top half": f"{at.loc[('cifar10', 'top half'), 'kendall_tau']:.3f}",
            "tau cifar100": f"{at.loc[('cifar100', 'all'), 'kendall_tau']:.3f}",
            "tau ImageNet16-120": f"{at.loc[('ImageNet16-120', 'all'), 'kendall_tau']:.3f}",
            "order": c10["kendall_tau"],
        })  # fmt: skip
    return pd.DataFrame(rows).sort_values("order", ascending=False).drop(columns="order")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=24, help="classes per build (each keeps its scores in the cache)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--deadline-minutes", type=float, default=None, help="start no batch after this")
    parser.add_argument("--tables", default="resources/tables")
    parser.add_argument("--quick", default="docs/scores/nb201-quick.csv")
    parser.add_argument("--zerocost", default="docs/scores/nb201-zerocost.csv")
    parser.add_argument("--extra", default="docs/scores/nb201-extra.csv", help="AZ-NAS's members")
    parser.add_argument("--table", default="resources/scores/nb201-paper-sample.h5")
    parser.add_argument("--out", default="docs/fidelity_paper_sample")
    args = parser.parse_args()

    nb201 = NB201Table.open(Path(args.tables) / "nb201.h5")
    classes = class_frame(nb201)
    rows = sample_rows(classes, args.n, args.seed)
    start = time.monotonic()
    scored = 0
    with tempfile.TemporaryDirectory() as work:
        for first in range(0, len(rows), args.batch):
            if args.deadline_minutes is not None and time.monotonic() - start > 60 * args.deadline_minutes:
                break
            build(args, rows[first : first + args.batch], Path(work) / "batch.h5", Path(work))
            scored = min(len(rows), first + args.batch)
            print(f"{scored} of {len(rows)} classes scored, {time.monotonic() - start:.0f} s", flush=True)
        rows = rows[:scored]
        build(args, rows, Path(args.table), Path(work))  # every class is in the cache now: this only writes the table
    table = ScoreTable.open(args.table)

    scores = proxy_scores([table], len(classes))
    # The other readout of the same training (METHOD.md's `score: loss`, RMI-NAS's): the final loss, lower is better.
    scores["rsnas:paper, -loss"] = np.nan
    scores.loc[table.positions, "rsnas:paper, -loss"] = -table.proxies["rsnas"].loss
    scores["rsnas:quick"] = published(args.quick, classes)["score"]
    zerocost, extra = published(args.zerocost, classes), published(args.extra, classes)
    for metric in ("meco", "synflow", "naswot"):
        scores[f"zc:{metric}"] = zerocost[metric]
    members = pd.DataFrame({m: extra[m.removeprefix("zc:")] for m in AZ_NAS_MEMBERS})
    scores[AZ_NAS] = az_nas_column(members, classes)  # ranked over the whole space, as the whole-space table does
    scores["params"] = classes["params"]
    outside = np.ones(len(classes), dtype=bool)
    outside[rows] = False
    scores.loc[outside] = np.nan  # every proxy judged on the sample's classes only
    trained = ["rsnas:paper", "rsnas:quick"]
    scores = pd.concat([scores, with_rank_means(scores[[*trained, "params"]]).drop(columns=[*trained, "params"])], axis=1)
    fidelity = fidelity_table(scores, classes, n_boot=1000, seed=args.seed)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fidelity.to_csv(out / "fidelity.csv", index=False, float_format="%.6g")
    paper = table.proxies["rsnas"]
    agreement = pd.Series(scores["rsnas:paper"]).corr(pd.Series(scores["rsnas:quick"]), method="kendall")
    command = (f"python scripts/paper_sample.py --n {len(rows)} --seed {args.seed} --workers {args.workers} "
               f"--table {args.table} --out {args.out}")  # fmt: skip
    lines = [
        f"    {command}", "",
        markdown(summary_frame(fidelity), counts=["n"]), "",
        f"{len(rows)} classes drawn with seed {args.seed} from the 6,461 non-degenerate ones; the `paper` column "
        f"ran on {paper.identity['platform']} at {float(np.mean(paper.seconds)):.1f} s per class and process (mean of "
        f"the measured seconds); `quick`, the zero-cost columns and AZ-NAS are the whole-space tables' values for "
        f"the same classes. Kendall tau between the `paper` and `quick` scores: {agreement:.3f}. Intervals: 1,000 bootstrap "
        f"resamples of the classes; CIFAR-100 and ImageNet16-120 are transfer.", "",
        f"How close to 1 the `paper` scores are (mean CKA of the three taps after 150 steps): median "
        f"{np.median(paper.score):.4f}, {np.mean(paper.score > 0.99):.0%} of the classes above 0.99, "
        f"{np.mean(paper.score > 0.999):.0%} above 0.999; statuses: "
        + ", ".join(f"{status} {count}" for status, count in zip(*np.unique(paper.status, return_counts=True))) + ".",
    ]  # fmt: skip
    write_text(out / "summary.md", "\n".join(lines))
    print(f"{len(rows)} classes -> {args.table}, {out / 'summary.md'}")


if __name__ == "__main__":
    main()

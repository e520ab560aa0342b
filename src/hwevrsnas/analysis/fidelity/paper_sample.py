"""The faithful `paper` preset on a random sample of NB201 classes, beside `quick` and #params on the same classes.

No whole-space `paper` table exists on a CPU (about 36 hours on 2 cores), so `score_sample` scores a seeded random
sample of the non-degenerate classes in batches, each batch one `hwevrsnas scores build` that keeps its scores in
the score cache (so the sample grows across sessions: a rerun with a larger n or a later deadline scores only the
classes not yet cached). The sample is the first n classes of one permutation, so samples of different sizes nest.
`sample_fidelity` then judges every proxy on exactly the sample's classes: `paper` from the sample's table (or its
published export), `quick`, the zero-cost columns and AZ-NAS from the published whole-space exports.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from hwevrsnas.analysis.fidelity.full import AZ_NAS, AZ_NAS_MEMBERS, az_nas_column, fidelity_table, proxy_scores, with_rank_means
from hwevrsnas.analysis.published import published_frame
from hwevrsnas.analysis.result_tables import markdown
from hwevrsnas.scores import ScoreTable
from hwevrsnas.spaces import get_space

BOOTSTRAP = 1000


def sample_rows(classes: pd.DataFrame, n: int, seed: int) -> np.ndarray:
    """Rows of the class list: the first n non-degenerate classes of a seeded permutation."""
    live = np.flatnonzero(~classes["degenerate"].to_numpy())
    return live[np.random.default_rng(seed).permutation(len(live))][:n]


def _build(rows: np.ndarray, out: Path, work: Path, workers: int, tables: str) -> None:
    space = get_space("nb201")
    classes = space.classes()
    archs = work / "archs.txt"
    archs.write_text("\n".join(space.arch_str(classes[r]) for r in rows) + "\n")
    subprocess.run(
        [sys.executable, "-m", "hwevrsnas.cli", "-v", "scores", "build", "--preset", "paper", "--archs", str(archs),
         "--workers", str(workers), "--tables", tables, "--no-progress", "--out", str(out)],
        check=True,
    )  # fmt: skip


def score_sample(
    rows: np.ndarray, table: Path, batch: int, workers: int, tables: str, deadline_minutes: float | None
) -> np.ndarray:
    """Score the sample's classes in batches of `batch` until done or past the deadline; write the scored prefix's
    table to `table` and return that prefix."""
    start = time.monotonic()
    scored = 0
    with tempfile.TemporaryDirectory() as work:
        for first in range(0, len(rows), batch):
            if deadline_minutes is not None and time.monotonic() - start > 60 * deadline_minutes:
                break
            _build(rows[first : first + batch], Path(work) / "batch.h5", Path(work), workers, tables)
            scored = min(len(rows), first + batch)
            print(f"{scored} of {len(rows)} classes scored, {time.monotonic() - start:.0f} s", flush=True)
        rows = rows[:scored]
        _build(rows, table, Path(work), workers, tables)  # every class is in the cache now: this only writes the table
    return rows


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


def sample_fidelity(
    table: ScoreTable, rows: np.ndarray, classes: pd.DataFrame, quick: str, zerocost: str, extra: str, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The fidelity of every proxy on the sample's classes, and the proxies' scores over the class list."""
    scores = proxy_scores([table], len(classes))
    # The other readout of the same training (METHOD.md's `score: loss`, RMI-NAS's): the final loss, lower is better.
    scores["rsnas:paper, -loss"] = np.nan
    scores.loc[table.positions, "rsnas:paper, -loss"] = -table.proxies["rsnas"].loss
    scores["rsnas:quick"] = published_frame(quick, classes)["score"]
    zerocost_frame, extra_frame = published_frame(zerocost, classes), published_frame(extra, classes)
    for metric in ("meco", "synflow", "naswot"):
        scores[f"zc:{metric}"] = zerocost_frame[metric]
    members = pd.DataFrame({m: extra_frame[m.removeprefix("zc:")] for m in AZ_NAS_MEMBERS})
    scores[AZ_NAS] = az_nas_column(members, classes)  # ranked over the whole space, as the whole-space table does
    scores["params"] = classes["params"]
    outside = np.ones(len(classes), dtype=bool)
    outside[rows] = False
    scores.loc[outside] = np.nan  # every proxy judged on the sample's classes only
    trained = ["rsnas:paper", "rsnas:quick"]
    scores = pd.concat([scores, with_rank_means(scores[[*trained, "params"]]).drop(columns=[*trained, "params"])], axis=1)
    return fidelity_table(scores, classes, n_boot=BOOTSTRAP, seed=seed), scores


def summary_markdown(
    command: str, fidelity: pd.DataFrame, scores: pd.DataFrame, table: ScoreTable, rows: Sequence[int], seed: int
) -> str:
    """The page: the command, the summary table, what the sample is and how close to 1 the `paper` scores are."""
    paper = table.proxies["rsnas"]
    agreement = pd.Series(scores["rsnas:paper"]).corr(pd.Series(scores["rsnas:quick"]), method="kendall")
    lines = [
        f"    {command}", "",
        markdown(summary_frame(fidelity), counts=["n"]), "",
        f"{len(rows)} classes drawn with seed {seed} from the 6,461 non-degenerate ones; the `paper` column "
        f"ran on {paper.identity['platform']} at {float(np.mean(paper.seconds)):.1f} s per class and process (mean of "
        f"the measured seconds); `quick`, the zero-cost columns and AZ-NAS are the whole-space tables' values for "
        f"the same classes. Kendall tau between the `paper` and `quick` scores: {agreement:.3f}. Intervals: 1,000 bootstrap "
        f"resamples of the classes; CIFAR-100 and ImageNet16-120 are transfer.", "",
        f"How close to 1 the `paper` scores are (mean CKA of the three taps after 150 steps): median "
        f"{np.median(paper.score):.4f}, {np.mean(paper.score > 0.99):.0%} of the classes above 0.99, "
        f"{np.mean(paper.score > 0.999):.0%} above 0.999; statuses: "
        + ", ".join(f"{status} {count}" for status, count in zip(*np.unique(paper.status, return_counts=True))) + ".",
    ]  # fmt: skip
    return "\n".join(lines)


__all__ = ["BOOTSTRAP", "sample_fidelity", "sample_rows", "score_sample", "summary_frame", "summary_markdown"]

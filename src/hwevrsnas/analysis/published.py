"""Published score tables: the CSVs of `hwevrsnas scores export` read back, aligned with the NB201 class list.

A GPU or hours of CPU made some tables; their exports are what the repository keeps, so a report that needs those
scores reads the export instead of recomputing them. An export keeps the values, not the statuses or the platform:
`export_table` restores a status from the value (a class the export holds with a finite value was `ok`; an
infinite or missing one was not, as `scores build` marks it) and takes the platform from its caller.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from hwevrsnas.errors import InputError
from hwevrsnas.proxy.result import STATUS_DEGENERATE, STATUS_NONFINITE, STATUS_OK
from hwevrsnas.scores import ProxyColumns, ScoreTable
from hwevrsnas.spaces import get_space

# The columns of an export that are not scores (scores.export_rows).
KEY_COLUMNS = ("index", "arch", "iso_class")
RSNAS_COLUMNS = ("score", "loss", "seconds")


def published_frame(path: Path | str, classes: pd.DataFrame) -> pd.DataFrame:
    """An export holding every class, one row per class of the class list (`analysis.fidelity.class_frame`)."""
    return pd.read_csv(path).set_index("index").reindex(classes["index"]).reset_index(drop=True)


def export_table(path: Path | str, classes: pd.DataFrame, platform: str | None = None, preset: str | None = None) -> ScoreTable:
    """A score table from its export: the representation-similarity proxy `rsnas:<preset>` when the export holds
    score, loss and seconds, else one zero-cost proxy `zc:<metric>` per value column."""
    frame = pd.read_csv(path)
    position = pd.Series(np.arange(len(classes)), index=classes["index"].to_numpy())
    unknown = ~frame["index"].isin(position.index)
    if unknown.any():
        raise InputError(f"{path}: index {int(frame.loc[unknown, 'index'].iloc[0])} is not a class representative; "
                         "re-export the table with `hwevrsnas scores export TABLE --out CSV`")  # fmt: skip
    positions = position.loc[frame["index"]].to_numpy()
    space = get_space("nb201")
    representatives = space.classes()[positions]
    rows = len(frame)
    no_cka = np.empty((rows, 0))
    proxies: dict[str, ProxyColumns] = {}
    if set(RSNAS_COLUMNS) <= set(frame.columns):
        if preset is None:
            raise InputError(f"{path} holds a representation-similarity score: name its preset (--preset-of-csv)")
        score = frame["score"].to_numpy(float)
        status = np.where(np.isfinite(score), STATUS_OK, STATUS_NONFINITE)
        # An export writes a degenerate class's score as 0, the table's placeholder for a class it did not train.
        status[classes["degenerate"].to_numpy()[positions]] = STATUS_DEGENERATE
        identity = {"kind": "rsnas", "preset": preset, "platform": platform}
        proxies["rsnas"] = ProxyColumns(
            "rsnas", identity, "", f"rsnas:{preset}", score, np.full(rows, np.nan), frame["loss"].to_numpy(float),
            no_cka, status, frame["seconds"].to_numpy(float),
        )  # fmt: skip
    else:
        for metric in (c for c in frame.columns if c not in KEY_COLUMNS):
            raw = frame[metric].to_numpy(float)
            status = np.where(np.isfinite(raw), STATUS_OK, STATUS_NONFINITE)
            identity = {"kind": "zc", "metric": metric, "platform": platform}
            proxies[f"zc:{metric}"] = ProxyColumns(
                f"zc:{metric}", identity, "", f"zc:{metric}", np.full(rows, np.nan), raw, np.full(rows, np.nan), no_cka,
                status, np.zeros(rows),
            )  # fmt: skip
    return ScoreTable(space, positions, representatives, proxies, path=Path(path), index=frame["index"].to_numpy(),
                      iso_class=frame["iso_class"].to_numpy())  # fmt: skip


def open_tables(
    paths: list[str], classes: pd.DataFrame, platform: str | None = None, preset: str | None = None
) -> list[ScoreTable]:
    """Score tables (.h5) or their exports (.csv, `platform` and the rsnas `preset` named by the caller), in order."""
    return [export_table(p, classes, platform, preset) if str(p).endswith(".csv") else ScoreTable.open(p) for p in paths]


__all__ = ["KEY_COLUMNS", "RSNAS_COLUMNS", "export_table", "open_tables", "published_frame"]

"""Redraw the anytime figure from a published anytime table, without the run files that made it.

    python scripts/replot_anytime.py --table docs/evidence/anytime.md --out docs/evidence/anytime

`hwevrsnas aggregate` draws the figure from the same numbers (analysis.plots.plot_anytime); this reads them
back from the Markdown table it wrote. The table does not print which methods had a trajectory: the ones
without are the oracle and the multi-threshold methods (search.methods), whose records hold none.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import pandas as pd

from hwevrsnas.analysis.plots import plot_anytime
from hwevrsnas.search.methods import METHODS


def read_markdown_table(path: Path) -> pd.DataFrame:
    """The first pipe table of a Markdown file as a DataFrame ('-' cells missing)."""
    lines = [line for line in path.read_text().splitlines() if line.startswith("|")]
    rows = [lines[0]] + [line for line in lines[2:]]
    text = "\n".join(line.strip().strip("|") for line in rows)
    frame = pd.read_csv(io.StringIO(text), sep="|", skipinitialspace=True, na_values=["-"])
    frame.columns = [c.strip() for c in frame.columns]
    return frame.apply(lambda column: column.str.strip() if pd.api.types.is_string_dtype(column) else column)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table", default="docs/evidence/anytime.md")
    parser.add_argument("--out", default="docs/evidence/anytime", help="figure stem (.png and .pdf are written)")
    args = parser.parse_args()
    frame = read_markdown_table(Path(args.table))
    base = frame["method"].str.split(":").str[0]
    frame["trajectory"] = [name != "oracle" and not METHODS[name].multi_threshold for name in base]
    for path in plot_anytime(frame, args.out):
        print(path)


if __name__ == "__main__":
    main()

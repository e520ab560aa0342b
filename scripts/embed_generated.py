"""Copy generated Markdown into the hand-written docs, between markers, so that every number in a doc is the
output of the command written beside it.

In a doc, a region

    <!-- generated from docs/fidelity/fidelity.md -->
    ...
    <!-- end generated -->

is replaced by the current content of that file (a path relative to the repository root). Run it after the
commands that make the generated files; tests/test_docs.py fails when a doc is out of date.

    python scripts/embed_generated.py            # rewrite README.md and docs/*.md in place
    python scripts/embed_generated.py --check    # exit 1, naming the docs, when one would change
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REGION = re.compile(r"(<!-- generated from (?P<path>\S+) -->\n)(?P<body>.*?)(<!-- end generated -->)", re.S)


def embedded(text: str) -> str:
    """The doc with every generated region replaced by its file's current content."""

    def replace(match: re.Match[str]) -> str:
        source = REPO / match["path"]
        if not source.is_file():
            raise FileNotFoundError(f"generated file {match['path']} not found; run the command beside the region")
        body = source.read_text()
        return match.group(1) + body + ("" if body.endswith("\n") else "\n") + match.group(4)

    return REGION.sub(replace, text)


def docs() -> list[Path]:
    """The README, every Markdown file in docs/ and the READMEs of its folders (generated outputs hold no regions)."""
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), *sorted((REPO / "docs").glob("*/README.md"))]


def main() -> int:
    """Rewrite the docs, or with --check report the ones that would change."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a doc is out of date")
    args = parser.parse_args()
    stale = []
    for doc in docs():
        text = doc.read_text()
        new = embedded(text)
        if new != text:
            stale.append(doc.relative_to(REPO).as_posix())
            if not args.check:
                doc.write_text(new)
    if args.check and stale:
        print("out of date: " + ", ".join(stale) + "; run python scripts/embed_generated.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

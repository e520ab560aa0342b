"""Generated Markdown copied into the hand-written docs, between markers, so that every number in a doc is the
output of the command written beside it.

In a doc, a region

    <!-- generated from docs/fidelity/fidelity.md -->
    ...
    <!-- end generated -->

is replaced by the current content of that file (a path relative to the repository root). `hwevrsnas evidence embed`
(the last step of `make evidence`) runs it after the commands that make the generated files; tests/test_docs.py
fails when a doc is out of date.
"""

from __future__ import annotations

import re
from pathlib import Path

REGION = re.compile(r"(<!-- generated from (?P<path>\S+) -->\n)(?P<body>.*?)(<!-- end generated -->)", re.S)


def embedded(text: str, root: Path) -> str:
    """The doc with every generated region replaced by its file's current content (paths relative to `root`)."""

    def replace(match: re.Match[str]) -> str:
        source = root / match["path"]
        if not source.is_file():
            raise FileNotFoundError(f"generated file {match['path']} not found; run the command beside the region "
                                    "(or `make evidence`)")  # fmt: skip
        body = source.read_text()
        return match.group(1) + body + ("" if body.endswith("\n") else "\n") + match.group(4)

    return REGION.sub(replace, text)


def docs(root: Path) -> list[Path]:
    """The README, every Markdown file in docs/ and the READMEs of its folders (generated outputs hold no regions)."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md")), *sorted((root / "docs").glob("*/README.md"))]


def embed(root: Path, check: bool = False) -> list[str]:
    """The docs (relative paths) whose regions are out of date; rewritten in place unless `check`."""
    stale = []
    for doc in docs(root):
        text = doc.read_text()
        new = embedded(text, root)
        if new != text:
            stale.append(doc.relative_to(root).as_posix())
            if not check:
                doc.write_text(new)
    return stale


__all__ = ["REGION", "docs", "embed", "embedded"]

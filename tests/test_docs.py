"""The docs: every generated region is current, and every relative link of README.md, docs/*.md and docs/*/README.md exists."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\((?!https?://|#|mailto:)([^)#\s]+)")


def test_generated_regions_are_current() -> None:
    proc = subprocess.run([sys.executable, str(REPO / "scripts/embed_generated.py"), "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_relative_links_resolve() -> None:
    broken = []
    for doc in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), *sorted((REPO / "docs").glob("*/README.md"))]:
        for target in LINK.findall(doc.read_text()):
            path = (doc.parent / target).resolve()
            # A link out of the repository breaks on a plain clone even where it resolves here.
            if not path.exists() or REPO.resolve() not in path.parents:
                broken.append(f"{doc.relative_to(REPO)} -> {target}")
    assert not broken, broken

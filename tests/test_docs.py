"""The docs: every generated region is current, and every relative link of README.md, docs/*.md and docs/*/README.md exists."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from hwevrsnas.embed import embed

REPO = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\((?!https?://|#|mailto:)([^)#\s]+)")


def test_generated_regions_are_current() -> None:
    assert embed(REPO, check=True) == [], "run `hwevrsnas evidence embed` (or make evidence)"


def test_the_embedder_reports_a_stale_doc_and_its_repair(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "page.md").write_text("new\n")
    (tmp_path / "README.md").write_text("<!-- generated from docs/page.md -->\nold\n<!-- end generated -->\n")
    proc = subprocess.run([sys.executable, "-m", "hwevrsnas.cli", "evidence", "embed", "--root", str(tmp_path), "--check"],
                          capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 1 and "out of date: README.md; run hwevrsnas evidence embed" in proc.stderr
    assert embed(tmp_path) == ["README.md"]
    assert (tmp_path / "README.md").read_text() == "<!-- generated from docs/page.md -->\nnew\n<!-- end generated -->\n"


def test_relative_links_resolve() -> None:
    broken = []
    for doc in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), *sorted((REPO / "docs").glob("*/README.md"))]:
        for target in LINK.findall(doc.read_text()):
            path = (doc.parent / target).resolve()
            # A link out of the repository breaks on a plain clone even where it resolves here.
            if not path.exists() or REPO.resolve() not in path.parents:
                broken.append(f"{doc.relative_to(REPO)} -> {target}")
    assert not broken, broken

"""`hwevrsnas evidence`: the steps that read committed exports remake their committed pages byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest

from hwevrsnas.cli import main

REPO = Path(__file__).resolve().parents[1]
SCORES = REPO / "docs" / "scores"


def first_line_dropped(path: Path) -> str:
    """A page without its first line (the command, which names this run's --out)."""
    return path.read_text().split("\n", 1)[1]


def test_compare_az_nas_on_the_published_exports_remakes_its_page(nb201_h5: Path, tmp_path: Path) -> None:
    out = tmp_path / "az_nas.md"
    status = main(["evidence", "compare-az-nas", "--scores", str(SCORES / "nb201-extra.csv"), "--platform-of-csv",
                   "cpu/AVX512/torch-2.13.0+cpu", "--ens", str(SCORES / "nb201-ens.csv"), "--tables", str(nb201_h5.parent),
                   "--out", str(out)])  # fmt: skip
    assert status == 0
    assert first_line_dropped(out) == first_line_dropped(REPO / "docs" / "ensemble" / "az_nas.md")
    assert out.read_text().startswith("    hwevrsnas evidence compare-az-nas --scores ")


def test_select_ensemble_on_the_published_exports_remakes_its_pages_and_scores(nb201_h5: Path, tmp_path: Path) -> None:
    status = main(["evidence", "select-ensemble", "--scores", str(SCORES / "nb201-quick.csv"), str(SCORES / "nb201-zerocost.csv"),
                   "--preset-of-csv", "quick", "--tables", str(nb201_h5.parent), "--out", str(tmp_path),
                   "--csv", str(tmp_path / "ens.csv")])  # fmt: skip
    assert status == 0  # the registered weights are chosen again
    published = REPO / "docs" / "ensemble"
    for name in ("selection.csv", "halves.csv"):
        assert (tmp_path / name).read_bytes() == (published / name).read_bytes(), name
    assert first_line_dropped(tmp_path / "ensemble.md") == first_line_dropped(published / "ensemble.md")
    assert (tmp_path / "ens.csv").read_bytes() == (SCORES / "nb201-ens.csv").read_bytes()


def test_an_rsnas_export_without_its_preset_is_refused(nb201_h5: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    status = main(["evidence", "select-ensemble", "--scores", str(SCORES / "nb201-quick.csv"), "--tables", str(nb201_h5.parent),
                   "--out", str(tmp_path), "--csv", str(tmp_path / "ens.csv")])  # fmt: skip
    assert status == 2
    assert "nb201-quick.csv holds a representation-similarity score: name its preset (--preset-of-csv)" in capsys.readouterr().err


def test_the_results_index_names_every_rule_its_files_and_what_it_reads() -> None:
    from hwevrsnas.workflow.evidence import EVIDENCE_SOURCES, results_index

    page = results_index([
        ("evidence_table", "One aggregate table of the grid,\n        as docs/SEARCH.md embeds it.", ["docs/evidence/{name}.md"]),
        ("evidence", "Every page above.", []),
    ])  # fmt: skip
    rows = [line for line in page.splitlines() if line.startswith("| `")]
    # sorted by rule, docstrings on one line, several outputs in one cell, a rule without outputs said so
    assert rows == [
        "| `evidence` | (the regions) | Every page above. |",
        "| `evidence_table` | `docs/evidence/{name}.md` | One aggregate table of the grid, as docs/SEARCH.md embeds it. |",
    ]
    assert all(f"- `{path}`: {what}" in page for path, what in EVIDENCE_SOURCES)

"""What `make evidence` (rules/evidence.smk) writes into docs/, and from what.

The aggregate tables and the full-space fidelity of the evidence grid are copied from the workflow's outputs. The
ensemble selection, its comparison with AZ-NAS and the `paper`-preset sample read the committed exports of
docs/scores (hours of CPU or a GPU made them; the ensemble's registered weights were chosen on them), so the
pages they head are the same on any machine.
"""

from __future__ import annotations

from typing import Any

from hwevrsnas.workflow.arguments import proxy_seeds, score_table, score_table_seeds
from hwevrsnas.workflow.layout import FULL_FIDELITY_FILES, LEAF, RUN

EVIDENCE_DIR = "docs/evidence"
# The aggregate tables docs/SEARCH.md embeds (results/tables/<name>.md -> docs/evidence/<name>.md).
EVIDENCE_TABLES = ("anytime", "comparisons", "cost", "devices", "fronts", "nine_constraints", "reach", "replicates")
EVIDENCE_FIDELITY_DIR = "docs/fidelity_full"
ENSEMBLE_DIR = "docs/ensemble"
ENSEMBLE_FILES = ("selection.csv", "halves.csv", "ensemble.md")
PAPER_SAMPLE_DIR = "docs/fidelity_paper_sample"
PAPER_SAMPLE_FILES = ("fidelity.csv", "summary.md")
ORACLE_GAP = f"{EVIDENCE_DIR}/oracle_gap.md"
AZ_NAS_PAGE = f"{ENSEMBLE_DIR}/az_nas.md"
ANYTIME_PAGE = f"{EVIDENCE_DIR}/anytime.md"
ANYTIME_FIGURE = f"{EVIDENCE_DIR}/anytime"
# The fidelity of the proxy over its replicates: one score table per proxy seed of the grid.
REPLICATES_DIR = "docs/fidelity_replicates"
REPLICATES_FILES = ("replicates.md", "replicates.csv", "replicate_pairs.csv")
RUNS_DIR = RUN.removesuffix(f"/{LEAF}.json")
PUBLISHED = {
    "quick": "docs/scores/nb201-quick.csv",
    "zerocost": "docs/scores/nb201-zerocost.csv",
    "extra": "docs/scores/nb201-extra.csv",
    "ensemble": "docs/scores/nb201-ens.csv",
    "paper_sample": "docs/scores/nb201-paper-sample.csv",
}
# Exports keep no platform or preset; these are what their tables recorded (docs/scores/README.md).
PUBLISHED_PRESET = "quick"
ZEROCOST_PLATFORM = "cpu/AVX2/torch-2.13.0+cpu"
EXTRA_PLATFORM = "cpu/AVX512/torch-2.13.0+cpu"
PAPER_SAMPLE_PLATFORM = "cpu/AVX512/torch-2.13.0+cpu"
PAPER_SAMPLE_SIZE = 360
PAPER_SAMPLE_SEED = 0


def evidence_proxy_seed(config: dict[str, Any]) -> int:
    """The proxy seed whose score table and full-space fidelity the pages report: the grid's first."""
    return min(proxy_seeds(config))


def replicate_tables(config: dict[str, Any]) -> list[str]:
    """The score table of every proxy seed the grid's leaves read, in seed order."""
    return [score_table(config, seed) for seed in score_table_seeds(config)]


def evidence_targets() -> list[str]:
    """Every page `make evidence` writes before it embeds them into the docs."""
    return [
        *(f"{EVIDENCE_DIR}/{name}.md" for name in EVIDENCE_TABLES),
        *(f"{EVIDENCE_FIDELITY_DIR}/{name}" for name in FULL_FIDELITY_FILES),
        *(f"{ENSEMBLE_DIR}/{name}" for name in ENSEMBLE_FILES),
        AZ_NAS_PAGE,
        ORACLE_GAP,
        *(f"{PAPER_SAMPLE_DIR}/{name}" for name in PAPER_SAMPLE_FILES),
        *(f"{REPLICATES_DIR}/{name}" for name in REPLICATES_FILES),
        *(f"{ANYTIME_FIGURE}{width}.{fmt}" for width in ("", "-column") for fmt in ("png", "pdf")),
    ]


__all__ = [
    "ANYTIME_FIGURE", "ANYTIME_PAGE", "RUNS_DIR", "AZ_NAS_PAGE", "ENSEMBLE_DIR", "ENSEMBLE_FILES", "EVIDENCE_DIR",
    "EVIDENCE_FIDELITY_DIR", "EVIDENCE_TABLES", "EXTRA_PLATFORM", "ORACLE_GAP", "PAPER_SAMPLE_DIR", "PAPER_SAMPLE_FILES",
    "PAPER_SAMPLE_PLATFORM", "PAPER_SAMPLE_SEED", "PAPER_SAMPLE_SIZE", "PUBLISHED", "PUBLISHED_PRESET",
    "REPLICATES_DIR", "REPLICATES_FILES", "ZEROCOST_PLATFORM", "replicate_tables", "evidence_proxy_seed", "evidence_targets",
]  # fmt: skip

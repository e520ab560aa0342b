"""What `make evidence` (rules/evidence.smk) writes into docs/, and from what.

The aggregate tables and the full-space fidelity of the evidence grid are copied from the workflow's outputs. The
ensemble selection, its comparison with AZ-NAS and the `paper`-preset sample read the committed exports of
docs/scores (hours of CPU or a GPU made them; the ensemble's registered weights were chosen on them), so the
pages they head are the same on any machine.
"""

from __future__ import annotations

from typing import Any

from hwevrsnas.workflow.arguments import proxy_seeds, score_table, score_table_seeds
from hwevrsnas.workflow.layout import FULL_FIDELITY_FILES

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
# The default job (`make run`) runs in a folder of its own, sharing resources/ (sources, tables, score cache), and
# its devices table is the README's; every figure in it is the same on any machine (a test checks).
DEFAULT_JOB_CONFIG = "config/config.yaml"
DEFAULT_JOB_DIR = "results/default_job"
DEFAULT_JOB_PAGE = "docs/default/devices.md"
# The published tables recomputed under both kernel sets wherever `make evidence` runs, and the kernel comparisons
# `make kernels` recorded on the machines it ran on.
REPRODUCTION_PAGE = f"{EVIDENCE_DIR}/reproduction.md"
KERNEL_RECORDS_DIR = "docs/kernels"
# The earlier sample study (stratified, 200 classes; GPU variants of the full network): each committed score file
# summarised (`hwevrsnas fidelity sample summarise`), since scoring it again needs a GPU.
SAMPLE_STUDY_DIR = "docs/fidelity"
SAMPLE_STUDY_SUMMARIES = f"{SAMPLE_STUDY_DIR}/summaries"
SAMPLE_STUDY_FILES = {
    "gpu_variants": ("scores.csv", "seconds.csv"),
    "quick": ("quick_scores.csv", "quick_seconds.csv"),
    "zerocost": ("zerocost_scores.csv", "zerocost_seconds.csv"),
    "fresh": ("fresh/scores.csv", "fresh/seconds.csv"),
}
# hw-evrsnas at the faithful `paper` preset on one device's thresholds (hours of float32 training on a CPU): the
# committed search results are read; a missing one is searched again (`hwevrsnas evidence paper-preset-searches`),
# resuming from the committed score cache.
PAPER_PRESET_PAGE = f"{EVIDENCE_DIR}/paper_preset.md"
PAPER_PRESET_RUNS = "docs/runs/paper_preset"
PAPER_PRESET_SETTING = {"device": "edgegpu", "metric": "latency", "seed": 0, "quantiles": (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)}
RESULTS_PAGE = "docs/RESULTS.md"
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


# What `make evidence` reads and does not make: a fresh clone has them, and the pages say which command made them.
EVIDENCE_SOURCES = (
    ("docs/scores/", "the published score tables and exports (hwevrsnas scores build | merge | export; docs/scores/README.md)"),
    ("docs/fidelity/*.csv", "the earlier sample study's per-architecture scores (hwevrsnas fidelity sample run; GPU)"),
    (f"{KERNEL_RECORDS_DIR}/", "kernel records, one per machine, preset and proxy (make kernels), and the float32 "
                               "platform comparison of 2026-12-04, whose AVX-512 table was not kept"),
    (f"{PAPER_PRESET_RUNS}/", "the `paper`-preset searches' results (hours of CPU; a missing one is searched again)"),
)


def results_index(rules: list[tuple[str, str | None, list[str]]]) -> str:
    """docs/RESULTS.md: every file `make evidence` writes, by rule (name, docstring, output patterns), and what it reads
    that it does not make."""
    lines = [
        "# Results: what `make evidence` generates, and from what",
        "",
        "Generated by `make evidence` (rule `evidence`, from the rules of rules/evidence.smk); do not edit. Every file",
        "below is remade by that command; the generated regions of README.md and docs/*.md are copies of them",
        "(`<!-- generated from FILE -->`). Benchmark pages (docs/bench) come from `make bench`.",
        "",
        "| rule | writes | what |",
        "|---|---|---|",
    ]
    for name, docstring, outputs in sorted(rules):
        what = " ".join((docstring or "").split())
        lines.append(f"| `{name}` | {'<br>'.join(f'`{output}`' for output in outputs) or '(the regions)'} | {what} |")
    lines += ["", "Read, not made (sources of the pages above):", ""]
    lines += [f"- `{path}`: {what}" for path, what in EVIDENCE_SOURCES]
    return "\n".join(lines) + "\n"


def evidence_targets() -> list[str]:
    """Every page `make evidence` writes before it embeds them into the docs."""
    return [
        *(f"{EVIDENCE_DIR}/{name}.md" for name in EVIDENCE_TABLES),
        *(f"{EVIDENCE_FIDELITY_DIR}/{name}" for name in FULL_FIDELITY_FILES),
        *(f"{ENSEMBLE_DIR}/{name}" for name in ENSEMBLE_FILES),
        AZ_NAS_PAGE,
        ORACLE_GAP,
        DEFAULT_JOB_PAGE,
        REPRODUCTION_PAGE,
        PAPER_PRESET_PAGE,
        *(f"{SAMPLE_STUDY_SUMMARIES}/{name}/summary.md" for name in SAMPLE_STUDY_FILES),
        *(f"{PAPER_SAMPLE_DIR}/{name}" for name in PAPER_SAMPLE_FILES),
        *(f"{REPLICATES_DIR}/{name}" for name in REPLICATES_FILES),
        *(f"{ANYTIME_FIGURE}{width}.{fmt}" for width in ("", "-column") for fmt in ("png", "pdf")),
    ]


__all__ = [
    "ANYTIME_FIGURE", "ANYTIME_PAGE", "DEFAULT_JOB_CONFIG", "DEFAULT_JOB_DIR", "DEFAULT_JOB_PAGE", "AZ_NAS_PAGE", "ENSEMBLE_DIR", "ENSEMBLE_FILES", "EVIDENCE_DIR",
    "EVIDENCE_FIDELITY_DIR", "EVIDENCE_TABLES", "EXTRA_PLATFORM", "KERNEL_RECORDS_DIR", "REPRODUCTION_PAGE", "ORACLE_GAP", "PAPER_SAMPLE_DIR", "PAPER_SAMPLE_FILES",
    "PAPER_PRESET_PAGE", "PAPER_PRESET_RUNS", "PAPER_PRESET_SETTING", "PAPER_SAMPLE_PLATFORM", "PAPER_SAMPLE_SEED", "PAPER_SAMPLE_SIZE", "PUBLISHED", "PUBLISHED_PRESET",
    "REPLICATES_DIR", "REPLICATES_FILES", "RESULTS_PAGE", "results_index", "SAMPLE_STUDY_DIR", "SAMPLE_STUDY_FILES", "SAMPLE_STUDY_SUMMARIES", "ZEROCOST_PLATFORM", "replicate_tables", "evidence_proxy_seed", "evidence_targets",
]  # fmt: skip

"""Where the workflow's files live (paths relative to the working directory) and the wildcards naming them.

    resources/sources/VERIFIED.tsv                 fetch: every pinned source, verified (a stamp)
    resources/tables/{nb201,fbnet}.h5              tables (sealed: integrity.verify_h5)
    resources/proxy/batch-<ref>-<digest>.pt        proxy_batch: a preset's batch (named by its batch knobs, seed included)
    resources/cache/                               the shared proxy-score cache (not a declared output)
    resources/scores/{preset}-p{proxy_seed}/shard-I-of-N.h5   score_shard: one shard of a score table
    resources/scores/nb201-{preset}-p{proxy_seed}.h5          scores: a merged score table (scores.enabled)
    results/fidelity_full/{preset}-p{proxy_seed}/             fidelity_full: every proxy of that table over all classes
    results/thresholds/{slice}.json                thresholds: configured labels -> values, checked
    results/runs/{leaf}.json (+ .timing.json)      search: one result per grid point
    results/checks/{leaf}.json                     search (its check): the result re-checked against the table
    results/slices/{slice}.tsv                     slice: one line per run of a slice
    results/fidelity/                              fidelity_study (optional)
    results/tables/, results/plots/                aggregate

with `{slice}` = `{space}_{dataset}_{device}_{metric}` and
`{leaf}` = `{space}/{dataset}/{device}_{metric}/{threshold}/{method}/seed{seed}{crossed}`, where `{threshold}` is
`all` for a multi-threshold method (one run answers every threshold of its slice), `{crossed}` is `-p<j>` for a
leaf that `proxy.pairing: crossed` gives proxy seed j and empty otherwise (seed0.json, seed0-p1.json), and
`{proxy_seed}` the proxy's replicate (the preset's seed; workflow.arguments pairs it with the search seed).
"""

from __future__ import annotations

from hwevrsnas.paths import BATCH_DIR, CACHE_DIR, SCORES_DIR, SOURCES_DIR, TABLES_DIR
from hwevrsnas.search.costs import COST_METRICS

SOURCES_STAMP = f"{SOURCES_DIR}/VERIFIED.tsv"
TABLE_FILES = {"nb201": f"{TABLES_DIR}/nb201.h5", "fbnet": f"{TABLES_DIR}/fbnet.h5"}
BATCH = BATCH_DIR + "/batch-{reference}-{digest}.pt"
SCORE_SHARD = SCORES_DIR + "/{preset}-p{proxy_seed}/shard-{shard}-of-{shards}.h5"
SCORE_TABLE = SCORES_DIR + "/nb201-{preset}-p{proxy_seed}.h5"
# In `scores.table`: replaced by each replicate's proxy seed, so that a published set of tables serves every seed.
PROXY_SEED_PLACEHOLDER = "{proxy_seed}"
FULL_FIDELITY_DIR = "results/fidelity_full/{preset}-p{proxy_seed}"
FULL_FIDELITY_FILES = ("fidelity.csv", "fidelity.md", "proxy_oracle.csv")

SLICE = "{space}_{dataset}_{device}_{metric}"
LEAF = "{space}/{dataset}/{device}_{metric}/{threshold}/{method}/seed{seed}{crossed}"
RUNS_DIR = "results/runs"
CHECKS_DIR = "results/checks"
SLICES_DIR = "results/slices"
RUN = f"{RUNS_DIR}/{LEAF}.json"
TIMING = f"{RUNS_DIR}/{LEAF}.timing.json"
CHECK = f"{CHECKS_DIR}/{LEAF}.json"
THRESHOLDS = f"results/thresholds/{SLICE}.json"
SEARCH_LOG = f"logs/search/{LEAF}.log"
CHECK_LOG = f"logs/evaluate/{LEAF}.log"
THRESHOLDS_LOG = f"logs/thresholds/{SLICE}.log"
SLICE_LOG = f"logs/slices/{SLICE}.log"
SLICE_SUMMARY = f"{SLICES_DIR}/{SLICE}.tsv"
STUDY_DIR = "results/fidelity"
STUDY_FILES = ("scores.csv", "seconds.csv", "summary.csv", "summary.md")
AGGREGATE_DIR = "results/tables"
AGGREGATE_TABLES = ("main", "devices", "cost", "comparisons", "replicates")
PLOTS_DIR = "results/plots"
PLOT_FORMATS = ("png", "pdf")

WILDCARD_CONSTRAINTS = {
    "space": r"[a-z0-9]+",
    "dataset": r"[A-Za-z0-9-]+",  # no underscore: keeps {space}_{dataset}_{device}_{metric} unambiguous
    "device": r"[A-Za-z0-9_]+",  # titan_rtx_32, pi5_litert
    "metric": "|".join(COST_METRICS),
    "threshold": r"all|[qv][0-9][0-9.e+-]*",  # all: a multi-threshold method's one run for every threshold
    "method": r"[a-z0-9][a-z0-9-]*",
    "seed": r"[0-9]+",
    "crossed": r"(?:-p[0-9]+)?",  # may be empty: a matched leaf keeps the name it had before crossing existed
    "proxy_seed": r"[0-9]+",
    "preset": r"[A-Za-z0-9_-]+",
    "reference": r"[a-z0-9]+",
    "digest": r"[0-9a-f]+",
    "shard": r"[0-9]+",
    "shards": r"[0-9]+",
}
LEAF_KEYS = ("space", "dataset", "device", "metric", "threshold", "method", "seed", "crossed")
SLICE_KEYS = ("space", "dataset", "device", "metric")

"""The Snakemake workflow's logic, kept here so that it can be tested without Snakemake.

The `Snakefile` and `rules/*.smk` only declare rules; everything they compute comes from this
module: the grid of search leaves expanded from the config, threshold labels, the paths of every
file, the arguments of each `hwevrsnas search` call, the semantic config checks that the JSON
schema cannot express, and the bodies of the small `script:` steps (fetch stamp, proxy-batch
stamp, threshold resolution, per-run checks, per-slice summaries).

Importing this module is cheap (no torch, no h5py): the Snakefile imports it at parse time.

Layout (all paths relative to the working directory):

    resources/sources/VERIFIED.tsv                 fetch: every pinned source, verified (a stamp)
    resources/tables/{nb201,fbnet}.h5              tables
    resources/proxy/{preset}.batch.json            proxy_batch: the preset's batch file and checksum
    resources/cache/                               the shared proxy-score cache (not a declared output)
    results/thresholds/{slice}.json                thresholds: configured labels -> values
    results/runs/{leaf}.json (+ .timing.json)      search: one result per grid point
    results/checks/{leaf}.json                     evaluate: the result re-checked against the table
    results/slices/{slice}.tsv                     slice: one line per run of a slice
    results/fidelity/                              fidelity_study (optional)
    results/tables/, results/plots/                aggregate

with `{slice}` = `{space}_{dataset}_{device}_{metric}` and
`{leaf}` = `{space}/{dataset}/{device}_{metric}/{threshold}/{method}/seed{seed}`.

Threshold labels: `q<quantile>` or `v<value>`, the number written as Python's `repr(float(x))`
(the shortest text that reads back as the same float), e.g. `q0.25`, `v2.5`. A leaf depends only
on its own label, never on a file listing all thresholds, so adding a threshold adds leaves
without rerunning the others.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import hashlib
import io
import json
import logging
import math
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

# ---- layout -------------------------------------------------------------------------------------------
SPACES = ("nb201", "fbnet")
METRICS = ("latency", "energy")
ACCELERATORS = ("auto", "cpu", "cuda")
# hwevrsnas.tables.fbnet.DEVICES, copied because that module imports torch (tests check they agree).
FBNET_DEVICES = ("eyeriss", "fpga", "pixel3", "raspi4")
FBNET_DATASETS = ("cifar100",)

SOURCES_DIR = "resources/sources"
SOURCES_STAMP = f"{SOURCES_DIR}/VERIFIED.tsv"
TABLES_DIR = "resources/tables"
TABLE_FILES = {"nb201": f"{TABLES_DIR}/nb201.h5", "fbnet": f"{TABLES_DIR}/fbnet.h5"}
BATCH_DIR = "resources/proxy"
BATCH_STAMP = BATCH_DIR + "/{preset}.batch.json"
CACHE_DIR = "resources/cache"

SLICE = "{space}_{dataset}_{device}_{metric}"
LEAF = "{space}/{dataset}/{device}_{metric}/{threshold}/{method}/seed{seed}"
RUN = f"results/runs/{LEAF}.json"
TIMING = f"results/runs/{LEAF}.timing.json"
CHECK = f"results/checks/{LEAF}.json"
THRESHOLDS = f"results/thresholds/{SLICE}.json"
SEARCH_LOG = f"logs/search/{LEAF}.log"
SEARCH_BENCHMARK = f"benchmarks/search/{LEAF}.tsv"  # where analysis.report.read_benchmarks looks
CHECK_LOG = f"logs/evaluate/{LEAF}.log"
THRESHOLDS_LOG = f"logs/thresholds/{SLICE}.log"
SLICE_LOG = f"logs/slices/{SLICE}.log"
SLICE_SUMMARY = f"results/slices/{SLICE}.tsv"
STUDY_DIR = "results/fidelity"
STUDY_FILES = ("scores.csv", "seconds.csv", "summary.csv", "summary.md")
AGGREGATE_DIR = "results/tables"
AGGREGATE_TABLES = ("main", "devices", "cost", "comparisons")
PLOTS_DIR = "results/plots"
PLOT_FORMATS = ("png", "pdf")
BENCHMARKS_DIR = "benchmarks"

WILDCARD_CONSTRAINTS = {
    "space": "|".join(SPACES),
    "dataset": r"[A-Za-z0-9-]+",  # no underscore: keeps {space}_{dataset}_{device}_{metric} unambiguous
    "device": r"[A-Za-z0-9_]+",  # titan_rtx_32, pi5_litert
    "metric": "|".join(METRICS),
    "threshold": r"[qv][0-9][0-9.e+-]*",
    "method": r"[a-z0-9][a-z0-9-]*",
    "seed": r"[0-9]+",
    "preset": r"[A-Za-z0-9_-]+",
}
LEAF_KEYS = ("space", "dataset", "device", "metric", "threshold", "method", "seed")
SLICE_KEYS = ("space", "dataset", "device", "metric")

# GA knobs of the config's `search` section, and the `hwevrsnas search` flag of each.
GA_DEFAULTS: dict[str, Any] = {
    "population": 20,
    "generations": 50,
    "budget": None,
    "tournament_size": 5,
    "elites": 1,
    "crossover_p": 0.5,
    "mutation_p": 0.1,
    "penalty": "one_sided_normalised",
    "lam": 1.0,
}
GA_FLAGS = {
    "population": "--population",
    "generations": "--generations",
    "budget": "--budget",
    "tournament_size": "--tournament-size",
    "elites": "--elites",
    "crossover_p": "--crossover-p",
    "mutation_p": "--mutation-p",
    "penalty": "--penalty",
    "lam": "--lam",
}

log = logging.getLogger(__name__)


class ConfigError(ValueError):
    """A config value the schema accepts but the workflow cannot run; the message names the key."""


# ---- threshold labels -----------------------------------------------------------------------------------
THRESHOLD_KINDS = {"q": "quantile", "v": "value"}


def threshold_label(kind: str, number: float) -> str:
    """`q0.25` for the quantile 0.25, `v2.5` for the absolute threshold 2.5 (repr of the float)."""
    prefix = {"quantile": "q", "value": "v"}.get(kind)
    if prefix is None:
        raise ValueError(f"unknown threshold kind {kind!r}; valid kinds: quantile, value")
    number = float(number)
    if not math.isfinite(number):
        raise ValueError(f"threshold {kind} must be finite, got {number!r}")
    return prefix + repr(number)


def parse_threshold_label(label: str) -> tuple[str, float]:
    """`q0.25` -> ("quantile", 0.25); `v2.5` -> ("value", 2.5). The inverse of `threshold_label`."""
    kind = THRESHOLD_KINDS.get(label[:1])
    if kind is None or not re.fullmatch(WILDCARD_CONSTRAINTS["threshold"], label):
        raise ValueError(f"bad threshold label {label!r}: expected q<quantile> or v<value>, e.g. q0.25 or v2.5")
    try:
        number = float(label[1:])
    except ValueError:
        raise ValueError(f"bad threshold label {label!r}: {label[1:]!r} is not a number") from None
    return kind, number


def threshold_cli_args(label: str) -> list[str]:
    """The `hwevrsnas search` arguments of a label: `--quantile 0.25` or `--threshold 2.5`."""
    kind, number = parse_threshold_label(label)
    return ["--quantile" if kind == "quantile" else "--threshold", repr(number)]


def threshold_labels(thresholds: Mapping[str, Sequence[float]]) -> list[str]:
    """The labels of a `thresholds` config block: its quantiles, then its values, duplicates dropped."""
    labels = [threshold_label("quantile", q) for q in thresholds.get("quantiles") or ()]
    labels += [threshold_label("value", v) for v in thresholds.get("values") or ()]
    return list(dict.fromkeys(labels))


# ---- grid -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Slice:
    """One (space, dataset, device, metric) of the grid: one cost column and its thresholds."""

    space: str
    dataset: str
    device: str
    metric: str
    cost_dataset: str | None = None
    thresholds: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """`{space}_{dataset}_{device}_{metric}`."""
        return SLICE.format(**self.wildcards())

    def wildcards(self) -> dict[str, str]:
        """The slice's wildcard values."""
        return {key: getattr(self, key) for key in SLICE_KEYS}


@dataclass(frozen=True)
class Leaf:
    """One search of the grid; its fields are the wildcards of the search rule."""

    space: str
    dataset: str
    device: str
    metric: str
    threshold: str
    method: str
    seed: int

    def wildcards(self) -> dict[str, str]:
        """The leaf's wildcard values (strings)."""
        return {key: str(getattr(self, key)) for key in LEAF_KEYS}

    def path(self, template: str = RUN) -> str:
        """The leaf's file under a template (RUN, TIMING, CHECK, or a benchmark/log pattern)."""
        return template.format(**self.wildcards())

    @property
    def slice_name(self) -> str:
        """The name of the leaf's slice."""
        return SLICE.format(**{key: getattr(self, key) for key in SLICE_KEYS})

    @classmethod
    def from_wildcards(cls, wildcards: Mapping[str, Any]) -> "Leaf":
        """A leaf from Snakemake wildcards (or any mapping with the leaf keys)."""
        values = {key: wildcards[key] for key in LEAF_KEYS}
        values["seed"] = int(values["seed"])
        return cls(**values)

    @classmethod
    def from_path(cls, path: str | Path, template: str = RUN) -> "Leaf":
        """Parse a path made by `path(template)`; raise ValueError when it does not match."""
        match = template_regex(template).fullmatch(str(path))
        if match is None:
            raise ValueError(f"{path} does not match {template}")
        return cls.from_wildcards(match.groupdict())


@functools.lru_cache(maxsize=None)
def template_regex(template: str) -> re.Pattern[str]:
    """A regex for a path template, with the workflow's wildcard constraints."""
    pattern, position = "", 0
    for match in re.finditer(r"\{(\w+)\}", template):
        pattern += re.escape(template[position : match.start()])
        pattern += f"(?P<{match.group(1)}>{WILDCARD_CONSTRAINTS[match.group(1)]})"
        position = match.end()
    return re.compile(pattern + re.escape(template[position:]))


def entry_methods(config: Mapping[str, Any], entry: Mapping[str, Any]) -> list[str]:
    """A grid entry's methods: its own list when given, else the top-level `methods`."""
    methods = entry.get("methods")
    return list(methods if methods is not None else config["methods"])


def _grid_key(config: Mapping[str, Any]) -> str:
    return json.dumps([config["grid"], config["methods"], config["seeds"]], sort_keys=True, default=str)


def _memoised(function: Any) -> Any:
    """Cache a function of the config's grid (Snakemake calls them once per job: 15,914 jobs in the paper grid)."""
    cache: dict[str, Any] = {}

    @functools.wraps(function)
    def wrapper(config: Mapping[str, Any]) -> Any:
        key = _grid_key(config)
        if key not in cache:
            cache.clear()
            cache[key] = function(config)
        value = cache[key]
        return type(value)(value)  # a shallow copy: callers may modify it

    return wrapper


@_memoised
def slices(config: Mapping[str, Any]) -> dict[str, Slice]:
    """Every slice of the grid by name (first entry first), with its threshold labels merged."""
    out: dict[str, Slice] = {}
    for entry in config["grid"]:
        labels = threshold_labels(entry["thresholds"])
        for device in entry["devices"]:
            new = Slice(entry["space"], entry["dataset"], device, entry["metric"], entry.get("cost_dataset"))
            old = out.get(new.name)
            merged = tuple(dict.fromkeys((*(old.thresholds if old else ()), *labels)))
            out[new.name] = Slice(*(getattr(new, key) for key in (*SLICE_KEYS, "cost_dataset")), merged)
    return out


@_memoised
def expand_grid(config: Mapping[str, Any]) -> list[Leaf]:
    """Every leaf: space x dataset x device x metric x threshold x method x seed, duplicates dropped."""
    leaves: dict[Leaf, None] = {}
    for entry in config["grid"]:
        labels = threshold_labels(entry["thresholds"])
        for device in entry["devices"]:
            for label in labels:
                for method in entry_methods(config, entry):
                    for seed in config["seeds"]:
                        leaf = Leaf(entry["space"], entry["dataset"], device, entry["metric"], label, method, seed)
                        leaves[leaf] = None
    return list(leaves)


def run_targets(config: Mapping[str, Any]) -> list[str]:
    """The result file of every leaf."""
    return [leaf.path(RUN) for leaf in expand_grid(config)]


def check_targets(config: Mapping[str, Any]) -> list[str]:
    """The check file of every leaf."""
    return [leaf.path(CHECK) for leaf in expand_grid(config)]


def threshold_targets(config: Mapping[str, Any]) -> list[str]:
    """The resolved-threshold file of every slice."""
    return [THRESHOLDS.format(**s.wildcards()) for s in slices(config).values()]


def slice_targets(config: Mapping[str, Any]) -> list[str]:
    """The summary file of every slice."""
    return [SLICE_SUMMARY.format(**s.wildcards()) for s in slices(config).values()]


def slice_checks(config: Mapping[str, Any], wildcards: Mapping[str, Any]) -> list[str]:
    """The check files of the leaves of one slice (the input of its summary)."""
    name = SLICE.format(**{key: wildcards[key] for key in SLICE_KEYS})
    return list(_checks_by_slice(config).get(name, []))


@_memoised
def _checks_by_slice(config: Mapping[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for leaf in expand_grid(config):
        out.setdefault(leaf.slice_name, []).append(leaf.path(CHECK))
    return out


def slice_of(config: Mapping[str, Any], wildcards: Mapping[str, Any]) -> Slice:
    """The configured slice of some wildcards; an unconfigured one (an ad-hoc target) gets no cost dataset."""
    key = {k: str(wildcards[k]) for k in SLICE_KEYS}
    return slices(config).get(SLICE.format(**key)) or Slice(**key)


def uses_evaluator(method: str) -> bool:
    """Whether the method scores architectures with a proxy (and so needs the proxy batch)."""
    from hwevrsnas.search.result import EVALUATOR_METHODS

    return method in EVALUATOR_METHODS


def presets_used(config: Mapping[str, Any]) -> list[str]:
    """The proxy presets whose batch the grid needs (none when no method uses a proxy)."""
    return [config["proxy"]["preset"]] if any(uses_evaluator(leaf.method) for leaf in expand_grid(config)) else []


def study_enabled(config: Mapping[str, Any]) -> bool:
    """Whether the fidelity study runs."""
    return bool(config["fidelity_study"]["enabled"])


def study_outputs() -> list[str]:
    """The files the fidelity-study rule writes."""
    return [f"{STUDY_DIR}/{name}" for name in STUDY_FILES]


def aggregate_tables(config: Mapping[str, Any]) -> list[str]:
    """The tables `analysis.report.aggregate` writes: main, devices, cost, comparisons (+ fidelity with a study)."""
    names = [*AGGREGATE_TABLES, *(("fidelity",) if study_enabled(config) else ())]
    return [f"{AGGREGATE_DIR}/{name}.{ext}" for name in names for ext in ("csv", "md")]


def aggregate_plots(config: Mapping[str, Any]) -> list[str]:
    """The plots it writes: one per slice, the search history (+ the fidelity plot with a study)."""
    stems = [
        f"device_{s.name}" + (f"_cost-{s.cost_dataset}" if s.cost_dataset not in (None, s.dataset) else "")
        for s in slices(config).values()
        if s.space == "nb201"  # FBNet has no accuracy table, so no device plot
    ]
    stems.append("history")
    stems += ["fidelity"] if study_enabled(config) else []
    return [f"{PLOTS_DIR}/{stem}.{ext}" for stem in stems for ext in PLOT_FORMATS]


def energy_settings(config: Mapping[str, Any]) -> dict[str, float] | None:
    """The `energy` block for aggregate(), or None when disabled."""
    energy = config.get("energy") or {}
    if not energy.get("enabled", True):
        return None
    return {key: float(energy[key]) for key in ("power_watts", "grid_gco2_per_kwh")}


def job_counts(config: Mapping[str, Any]) -> dict[str, int]:
    """How many jobs of each rule a run from scratch plans (for the docs and the tests)."""
    n_leaves, n_slices = len(expand_grid(config)), len(slices(config))
    return {
        "all": 1,
        "fetch": 1,
        "tables": 1,
        "proxy_batch": len(presets_used(config)),
        "fidelity_study": int(study_enabled(config)),
        "thresholds": n_slices,
        "search": n_leaves,
        "evaluate": n_leaves,
        "slice": n_slices,
        "aggregate": 1,
    }


# ---- search arguments ------------------------------------------------------------------------------------
def ga_settings(config: Mapping[str, Any], method: str) -> dict[str, Any]:
    """The GA knobs of one method: the `search` section with `search.overrides[method]` on top (null = inherit)."""
    search = config["search"]
    knobs = {key: search.get(key, default) for key, default in GA_DEFAULTS.items()}
    for key, value in (search.get("overrides") or {}).get(method, {}).items():
        if value is not None:
            knobs[key] = value
    return knobs


def search_args(config: Mapping[str, Any], wildcards: Mapping[str, Any]) -> list[str]:
    """The `hwevrsnas search` arguments of a leaf, except --out and --threads (the rule adds those)."""
    leaf = Leaf.from_wildcards(wildcards)
    where = slice_of(config, wildcards)
    proxy = config["proxy"]
    args = ["--space", leaf.space, "--dataset", leaf.dataset, "--device", leaf.device, "--metric", leaf.metric]
    if where.cost_dataset:
        args += ["--cost-dataset", where.cost_dataset]
    args += threshold_cli_args(leaf.threshold)
    args += ["--method", leaf.method, "--seed", str(leaf.seed), "--preset", proxy["preset"]]
    args += ["--accelerator", proxy["accelerator"]]
    for key, value in ga_settings(config, leaf.method).items():
        if value is None:
            continue
        args += [GA_FLAGS[key], repr(value) if isinstance(value, float) else str(value)]
    args += ["--tables", TABLES_DIR, "--sources", SOURCES_DIR, "--cache", CACHE_DIR, "--batch-dir", BATCH_DIR]
    return args


def search_command_args(config: Mapping[str, Any], wildcards: Mapping[str, Any]) -> str:
    """`search_args` quoted for a shell command line."""
    return shlex.join(search_args(config, wildcards))


def search_inputs(config: Mapping[str, Any], wildcards: Mapping[str, Any]) -> dict[str, str]:
    """What a leaf reads: its space's table, and the proxy batch stamp when the method uses a proxy."""
    inputs = {"table": TABLE_FILES[wildcards["space"]]}
    if uses_evaluator(wildcards["method"]):
        inputs["batch"] = BATCH_STAMP.format(preset=config["proxy"]["preset"])
        inputs["sources"] = SOURCES_STAMP
    return inputs


def preset_identity(config: Mapping[str, Any], method: str) -> str:
    """The proxy preset's knob digest for methods that use it, '' otherwise (a rule param: a changed preset reruns)."""
    if not uses_evaluator(method):
        return ""
    from hwevrsnas.proxy.presets import get_preset

    return get_preset(config["proxy"]["preset"]).digest


# ---- config checks ------------------------------------------------------------------------------------------
def apply_schema(config: dict[str, Any], schema_path: Path | str) -> dict[str, Any]:
    """Validate `config` against the YAML JSON schema and fill its defaults, as snakemake.utils.validate does."""
    import jsonschema
    import yaml
    from jsonschema import Draft202012Validator, validators

    schema = yaml.safe_load(Path(schema_path).read_text())
    properties = Draft202012Validator.VALIDATORS["properties"]

    def set_defaults(validator: Any, props: Any, instance: Any, schema: Any) -> Iterator[Any]:
        for name, sub in props.items():
            if "default" in sub and isinstance(instance, dict):
                instance.setdefault(name, json.loads(json.dumps(sub["default"])))
        yield from properties(validator, props, instance, schema)

    validator = validators.extend(Draft202012Validator, {"properties": set_defaults})
    try:
        validator(schema).validate(config)
    except jsonschema.ValidationError as err:
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.absolute_path).lstrip(".")
        raise ConfigError(f"config key {where or '(top level)'}: {err.message}") from None
    return config


def _nb201_costs() -> dict[str, set[tuple[str, str]]]:
    """(device, cost dataset) pairs with a cost column in a mirror or official build, by metric."""
    from hwevrsnas.tables.metrics import DATASETS, HWNASBENCH_METRICS, mirror_metric_specs

    known: dict[str, set[tuple[str, str]]] = {metric: set() for metric in METRICS}
    for spec in mirror_metric_specs():
        if spec.metric in known:
            known[spec.metric].add((spec.device, spec.dataset))
    for device, metric in HWNASBENCH_METRICS:  # the official HW-NAS-Bench pickle has all three datasets
        if metric in known:
            known[metric].update((device, dataset) for dataset in DATASETS)
    return known


def _listing(values: Any) -> str:
    return ", ".join(sorted(str(v) for v in values)) or "(none)"


def check_config(config: Mapping[str, Any]) -> None:
    """Everything the schema cannot check; raise ConfigError naming each bad key and value."""
    from hwevrsnas.proxy.presets import PRESETS
    from hwevrsnas.search.penalty import FORMS
    from hwevrsnas.search.result import METHODS, TABLE_METHODS
    from hwevrsnas.tables.metrics import DATASETS

    errors: list[str] = []

    def bad(key: str, message: str) -> None:
        errors.append(f"config key {key}: {message}")

    def check_methods(key: str, methods: Sequence[str]) -> None:
        for i, method in enumerate(methods):
            if method not in METHODS:
                bad(f"{key}[{i}]", f"unknown method {method!r}; valid methods: {', '.join(METHODS)}")

    check_methods("methods", config["methods"])
    preset = config["proxy"]["preset"]
    if preset not in PRESETS:
        bad("proxy.preset", f"unknown preset {preset!r}; valid presets: {', '.join(PRESETS)}")
    search = config["search"]
    for key, knobs in [("search", search), *((f"search.overrides.{m}", o) for m, o in search["overrides"].items())]:
        if knobs.get("penalty") is not None and knobs["penalty"] not in FORMS:
            bad(f"{key}.penalty", f"unknown penalty form {knobs['penalty']!r}; valid forms: {', '.join(FORMS)}")
    for method in search["overrides"]:
        if method not in METHODS:
            bad(f"search.overrides.{method}", f"unknown method {method!r}; valid methods: {', '.join(METHODS)}")
    for method in [None, *search["overrides"]]:
        knobs = ga_settings(config, method or "")
        at = "search" if method is None else f"search.overrides.{method}"
        if not 0 <= knobs["elites"] < knobs["population"]:
            bad(f"{at}.elites", f"{knobs['elites']} must lie in 0..population-1 = {knobs['population'] - 1}")

    nb201_costs = _nb201_costs()
    seen: dict[str, tuple[str, str | None]] = {}
    for i, entry in enumerate(config["grid"]):
        at = f"grid[{i}]"
        space, dataset, metric = entry["space"], entry["dataset"], entry["metric"]
        cost_dataset = entry.get("cost_dataset") or dataset
        datasets = DATASETS if space == "nb201" else FBNET_DATASETS
        if dataset not in datasets:
            bad(f"{at}.dataset", f"unknown dataset {dataset!r} for {space}; valid datasets: {', '.join(datasets)}")
        if cost_dataset not in datasets:
            bad(f"{at}.cost_dataset", f"unknown cost dataset {cost_dataset!r} for {space}; valid: {', '.join(datasets)}")
        if space == "fbnet" and metric != "latency":
            bad(f"{at}.metric", f"unknown metric {metric!r} for fbnet (its tables hold latency only); valid: latency")
        for j, device in enumerate(entry["devices"]):
            key = f"{at}.devices[{j}]"
            if space == "fbnet":
                if device not in FBNET_DEVICES:
                    bad(key, f"unknown device {device!r} for fbnet latency; valid devices: {_listing(FBNET_DEVICES)}")
            else:
                known = nb201_costs.get(metric, set())
                devices = {d for d, _ in known}
                if device not in devices:
                    bad(key, f"unknown device {device!r} for nb201 {metric}; valid devices: {_listing(devices)}")
                elif (device, cost_dataset) not in known:
                    where = _listing(ds for d, ds in known if d == device)
                    bad(key, f"device {device!r} has no {metric} costs for {cost_dataset!r}; they exist for {where} "
                        f"(set `dataset` or `cost_dataset` of {at})")  # fmt: skip
            name = SLICE.format(space=space, dataset=dataset, device=device, metric=metric)
            if name in seen and seen[name][1] != entry.get("cost_dataset"):
                bad(f"{at}.cost_dataset", f"slice {name} is also in {seen[name][0]} with cost_dataset "
                    f"{seen[name][1]!r}: one slice, one cost dataset")  # fmt: skip
            seen.setdefault(name, (at, entry.get("cost_dataset")))
        methods = entry_methods(config, entry)
        if entry.get("methods") is not None:
            check_methods(f"{at}.methods", entry["methods"])
        if space == "fbnet":
            for method in sorted(set(methods) & set(TABLE_METHODS)):
                bad(f"{at}.methods", f"{method!r} needs the NB201 accuracy table; FBNet has none (drop it for fbnet)")
        thresholds = entry["thresholds"]
        if not threshold_labels(thresholds):
            bad(f"{at}.thresholds", "no quantiles and no values: a slice needs at least one threshold")
        for j, q in enumerate(thresholds.get("quantiles") or ()):
            if not (isinstance(q, (int, float)) and 0 <= q <= 1):
                bad(f"{at}.thresholds.quantiles[{j}]", f"quantile {q!r} must lie in [0, 1]")
        for j, v in enumerate(thresholds.get("values") or ()):
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                bad(f"{at}.thresholds.values[{j}]", f"threshold {v!r} must be a finite positive cost")
    if errors:
        raise ConfigError("invalid config:\n  " + "\n  ".join(errors))


# ---- script steps --------------------------------------------------------------------------------------------
@contextlib.contextmanager
def script_logging(log_path: str | Path | None) -> Iterator[None]:
    """Send stdout, stderr and logging (INFO) of a `script:` step to its rule's log file."""
    if not log_path:
        yield
        return
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as handle, contextlib.redirect_stdout(handle), contextlib.redirect_stderr(handle):
        handler = logging.StreamHandler(handle)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger()
        old_level = root.level
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        try:
            yield
        except BaseException:
            log.exception("step failed")
            raise
        finally:
            root.removeHandler(handler)
            root.setLevel(old_level)


def pins_digest() -> str:
    """sha256 of the package's pinned-source manifest (a fetch param: new pins refetch)."""
    from importlib import resources

    return hashlib.sha256(resources.files("hwevrsnas").joinpath("data/sources.tsv").read_bytes()).hexdigest()


def resolve_mirror(config_mirror: str | None) -> Path | None:
    """The mirror fetch uses: $HWEVRSNAS_MIRROR, else the config's `mirror`, else none (upstream downloads)."""
    from hwevrsnas.tables.sources import default_mirror

    return default_mirror() or (Path(config_mirror) if config_mirror else None)


def fetch_sources(dest: str | Path, stamp: str | Path, config_mirror: str | None = None) -> Path:
    """Fetch and verify every pinned source under `dest`; write the stamp listing them (TSV)."""
    from hwevrsnas.atomic import write_text
    from hwevrsnas.tables.sources import fetch, load_manifest

    mirror = resolve_mirror(config_mirror)
    log.info("fetching pinned sources into %s (mirror: %s)", dest, mirror or "none: upstream downloads")
    paths = fetch(Path(dest), mirror)
    manifest = load_manifest()
    out = io.StringIO()
    writer = csv.writer(out, delimiter="\t", lineterminator="\n")
    writer.writerow(["mirror_path", "kind", "sha256", "path"])
    for key in sorted(paths):
        writer.writerow([key, manifest[key].kind, manifest[key].sha256, str(paths[key])])
    write_text(stamp, out.getvalue())
    log.info("%d sources verified", len(paths))
    return Path(stamp)


def build_proxy_batch(preset_name: str, sources: str | Path, batch_dir: str | Path, stamp: str | Path) -> Path:
    """Build (or find) the preset's proxy batch in `batch_dir`; write a stamp naming its file and checksums."""
    from hwevrsnas.atomic import write_text
    from hwevrsnas.proxy.batch import ProxyBatch
    from hwevrsnas.proxy.evaluator import load_or_build_batch
    from hwevrsnas.proxy.presets import get_preset
    from hwevrsnas.tables.sources import sha256_file

    preset = get_preset(preset_name)
    path = load_or_build_batch(preset, Path(sources), Path(batch_dir), return_path=True)
    record = {
        "preset": preset.name,
        "preset_digest": preset.digest,
        "batch_fields": preset.batch_fields(),
        "file": str(path),
        "file_sha256": sha256_file(path),
        "batch_checksum": ProxyBatch.load(path).checksum,
    }
    write_text(stamp, json.dumps(record, indent=1, sort_keys=True) + "\n")
    log.info("proxy batch of preset %s: %s", preset.name, path)
    return Path(stamp)


def resolve_thresholds(tables_dir: str | Path, where: Slice, out: str | Path) -> dict[str, Any]:
    """Resolve every threshold label of a slice against its cost column; write them as JSON."""
    from hwevrsnas.atomic import write_text
    from hwevrsnas.search.costs import CostModel

    model = CostModel.open(where.space, tables_dir, where.dataset, where.device, where.metric, where.cost_dataset)
    rows = []
    for label in where.thresholds:
        kind, number = parse_threshold_label(label)
        threshold = model.resolve_threshold(**({"quantile": number} if kind == "quantile" else {"value": number}))
        rows.append({"label": label, **threshold.to_json()})
    record = {
        "slice": where.name,
        **model.describe(),
        "min_cost": model.min_cost,
        "thresholds": rows,
    }
    write_text(out, json.dumps(record, indent=1, sort_keys=True) + "\n")
    return record


def _close(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=1e-12)


def check_result(run_path: str | Path, tables_dir: str | Path, leaf: Leaf, out: str | Path) -> dict[str, Any]:
    """Re-check one result against the tables, independently of the search code; write the check JSON.

    Checked: the setting is the leaf's; the threshold is the label's (a quantile recomputed from the
    cost column); the returned architecture's cost is the tabular cost; `feasible` is `cost <= T`
    (a missing cost never is); for NB201 the test accuracy, the exact feasible optimum (exhaustive,
    ties to the lowest index) and the regret. A mismatch raises after logging every failed check.
    """
    from hwevrsnas.atomic import write_text
    from hwevrsnas.search.costs import CostModel
    from hwevrsnas.search.result import load_result

    record = load_result(run_path)
    setting = record["setting"]
    checks: list[dict[str, Any]] = []

    def check(name: str, expected: Any, actual: Any, ok: bool | None = None) -> None:
        same = ok if ok is not None else (expected == actual if isinstance(expected, (str, bool)) else _close(expected, actual))
        checks.append({"check": name, "expected": expected, "actual": actual, "ok": bool(same)})

    for key in ("space", "dataset", "device", "metric", "method", "seed"):
        check(f"setting.{key}", getattr(leaf, key) if key != "seed" else leaf.seed, setting[key], getattr(leaf, key) == setting[key])
    model = CostModel.open(
        leaf.space, tables_dir, leaf.dataset, leaf.device, leaf.metric, setting.get("cost_dataset") or None
    )
    kind, number = parse_threshold_label(leaf.threshold)
    expected_t = model.quantile(number) if kind == "quantile" else number
    threshold = record["threshold"]
    check("threshold", expected_t, threshold)
    check("threshold_source", kind, setting["threshold_source"])
    if kind == "quantile":
        check("quantile", number, setting["quantile"])

    cost = None
    if record.get("ops") is not None:
        if leaf.space == "nb201":
            table = model.table
            cost = float(model.column[int(record["index"])])
            check("index", int(table.index_of(record["arch"])), record["index"])
        else:
            import numpy as np

            cost = float(model.cost(np.asarray(record["ops"])))
        check("cost", cost, record["cost"], _close(cost, record["cost"]) or (math.isnan(cost) and record["cost"] is None))
    feasible = cost is not None and not math.isnan(cost) and cost <= threshold
    check("feasible", feasible, bool(record.get("feasible")))

    regret = None
    if leaf.space == "nb201":
        import numpy as np

        table = model.table
        column = model.column
        mask = ~np.isnan(column) & (column <= threshold)
        optimum_index = optimum_accuracy = None
        if mask.any():
            accuracy = np.where(mask, table.accuracy(np.arange(len(table)), leaf.dataset), -np.inf)
            optimum_index = int(np.argmax(accuracy))
            optimum_accuracy = float(accuracy[optimum_index])
        check("optimum_accuracy", optimum_accuracy, record.get("optimum_accuracy"))
        check("optimum_index", optimum_index, record.get("optimum_index"), optimum_index == record.get("optimum_index"))
        test_accuracy = float(table.accuracy(int(record["index"]), leaf.dataset)) if record.get("index") is not None else None
        check("test_accuracy", test_accuracy, record.get("test_accuracy"))
        if optimum_accuracy is not None and test_accuracy is not None:
            regret = optimum_accuracy - test_accuracy
        check("regret", regret, record.get("regret"))
        if leaf.method == "oracle" and regret is not None:
            check("oracle_regret_zero", 0.0, regret)

    failed = [c for c in checks if not c["ok"]]
    result = {
        "run": str(run_path),
        "leaf": leaf.wildcards(),
        "ok": not failed,
        "threshold": threshold,
        "cost": cost,
        "feasible": feasible,
        "regret": regret,
        "test_accuracy": record.get("test_accuracy"),
        "optimum_accuracy": record.get("optimum_accuracy"),
        "unique_evaluations": record.get("unique_evaluations"),
        "status": record.get("status"),
        "checks": checks,
    }
    for c in failed:
        log.error("check %s failed: expected %r, got %r", c["check"], c["expected"], c["actual"])
    if failed:
        raise RuntimeError(f"{run_path}: {len(failed)} check(s) failed: {', '.join(c['check'] for c in failed)}")
    write_text(out, json.dumps(result, indent=1, sort_keys=True, allow_nan=False) + "\n")
    log.info("%s: %d checks passed", run_path, len(checks))
    return result


SLICE_COLUMNS = (
    "threshold_label", "threshold", "method", "seed", "feasible", "cost", "test_accuracy",
    "optimum_accuracy", "regret", "unique_evaluations", "status",
)  # fmt: skip


def summarise_slice(check_files: Sequence[str | Path], out: str | Path) -> Path:
    """One TSV line per run of a slice, from its check files (sorted by threshold, method, seed)."""
    from hwevrsnas.atomic import write_text

    rows = []
    for path in check_files:
        check = json.loads(Path(path).read_text())
        leaf = check["leaf"]
        rows.append({**check, "threshold_label": leaf["threshold"], "method": leaf["method"], "seed": int(leaf["seed"])})
    rows.sort(key=lambda r: (r["threshold"], r["method"], r["seed"]))
    text = io.StringIO()
    writer = csv.writer(text, delimiter="\t", lineterminator="\n")
    writer.writerow(SLICE_COLUMNS)
    for row in rows:
        writer.writerow(["" if row[c] is None else row[c] for c in SLICE_COLUMNS])
    write_text(out, text.getvalue())
    return Path(out)


def run_aggregate(
    run_files: Sequence[str | Path], energy: Mapping[str, float] | None, study: bool = False
) -> list[Path]:
    """Call `analysis.report.aggregate` with the workflow's layout."""
    from hwevrsnas.analysis.report import aggregate

    written = aggregate(
        [Path(p) for p in run_files],
        Path(TABLES_DIR),
        Path(AGGREGATE_DIR),
        Path(PLOTS_DIR),
        energy=dict(energy) if energy else None,
        study_dir=Path(STUDY_DIR) if study else None,
        benchmarks_dir=Path(BENCHMARKS_DIR),
    )
    for path in written:
        log.info("wrote %s", path)
    return written


def study_argv(study: Mapping[str, Any], device: str, out: str | Path, workers: int) -> list[list[str]]:
    """The two `hwevrsnas` command lines of the fidelity study: `study run`, then `study summarise`."""
    run = ["study", "run", "--n", str(study["n"]), "--seed", str(study["seed"]), "--out", str(out)]
    for variant in study.get("variants") or ():
        run += ["--variant", variant]
    run += ["--sources", SOURCES_DIR, "--tables", TABLES_DIR, "--batch-dir", BATCH_DIR, "--cache", CACHE_DIR]
    run += ["--device", device, "--workers", str(workers), "--threads", "1"]
    return [run, ["study", "summarise", "--study", str(out), "--seed", str(study["seed"])]]


def run_fidelity_study(study: Mapping[str, Any], accelerator: str, out: str | Path, workers: int) -> None:
    """Run the fidelity study through the CLI (one worker process per thread); raise if a step fails."""
    from hwevrsnas.cli import main as cli

    device = accelerator
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    for argv in study_argv(study, device, out, workers):
        log.info("hwevrsnas %s", shlex.join(argv))
        status = cli(["-v", *argv])
        if status:
            raise RuntimeError(f"`hwevrsnas {shlex.join(argv)}` exited with status {status}")


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m hwevrsnas.workflow CONFIG [--schema SCHEMA]`: validate a config and print its grid size."""
    import argparse

    import yaml

    parser = argparse.ArgumentParser(prog="python -m hwevrsnas.workflow", description=main.__doc__)
    parser.add_argument("config", help="workflow config (YAML)")
    parser.add_argument("--schema", default="config/schema.yaml", help="JSON schema (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        config = apply_schema(yaml.safe_load(Path(args.config).read_text()) or {}, args.schema)
        check_config(config)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 2
    counts = job_counts(config)
    print(json.dumps({"slices": len(slices(config)), "leaves": len(expand_grid(config)), "jobs": counts,
                      "total_jobs": sum(counts.values())}, indent=1))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())

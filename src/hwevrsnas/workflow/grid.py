"""The grid of a workflow config: threshold labels, slices and leaves, and the files each stage makes.

Threshold labels: `q<quantile>` or `v<value>`, the number written as Python's `repr(float(x))`
(the shortest text that reads back as the same float), e.g. `q0.25`, `v2.5`. A leaf depends on
its own label only (and, marked `ancient`, on its slice's checked thresholds file, so that a bad
threshold stops the slice before any of its searches runs, while adding a threshold reruns no
existing leaf).
"""

from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from hwevrsnas.analysis import (
    ANYTIME_PLOT, ANYTIME_TABLE, FIDELITY_PLOT, FRONTS_TABLE, HISTORY_PLOT, NINE_CONSTRAINTS_TABLE, REACH_TABLE,
    device_plot_stem, front_plot_stem,
)  # fmt: skip
from hwevrsnas.errors import InputError
from hwevrsnas.search.methods import METHODS
from hwevrsnas.spaces import get_space
from hwevrsnas.workflow.layout import (
    AGGREGATE_DIR, AGGREGATE_TABLES, CHECK, PLOT_FORMATS, PLOTS_DIR, RUN, SLICE, SLICE_KEYS, SLICE_SUMMARY,
    STUDY_DIR, STUDY_FILES, THRESHOLDS, LEAF_KEYS, WILDCARD_CONSTRAINTS,
)  # fmt: skip

THRESHOLD_KINDS = {"q": "quantile", "v": "value"}


def threshold_label(kind: str, number: float) -> str:
    """`q0.25` for the quantile 0.25, `v2.5` for the absolute threshold 2.5 (repr of the float)."""
    prefix = {"quantile": "q", "value": "v"}.get(kind)
    if prefix is None:
        raise InputError(f"unknown threshold kind {kind!r}; valid kinds: quantile, value")
    number = float(number)
    if not math.isfinite(number):
        raise InputError(f"threshold {kind} must be finite, got {number!r}")
    return prefix + repr(number)


def parse_threshold_label(label: str) -> tuple[str, float]:
    """`q0.25` -> ("quantile", 0.25); `v2.5` -> ("value", 2.5). The inverse of `threshold_label`."""
    kind = THRESHOLD_KINDS.get(label[:1])
    if kind is None or not re.fullmatch(WILDCARD_CONSTRAINTS["threshold"], label):
        raise InputError(f"bad threshold label {label!r}: expected q<quantile> or v<value>, e.g. q0.25 or v2.5")
    try:
        number = float(label[1:])
    except ValueError:
        raise InputError(f"bad threshold label {label!r}: {label[1:]!r} is not a number") from None
    return kind, number


def threshold_cli_args(label: str) -> list[str]:
    """The `hwevrsnas search` arguments of a label: `--quantile 0.25` or `--threshold 2.5`."""
    kind, number = parse_threshold_label(label)
    return ["--quantile" if kind == "quantile" else "--threshold", repr(number)]


ALL_THRESHOLDS = "all"


def slice_threshold_args(labels: Sequence[str]) -> list[str]:
    """The `hwevrsnas search` (or `check`) arguments giving every threshold of a slice to a multi-threshold method."""
    parsed = [parse_threshold_label(label) for label in labels]
    kinds = {kind for kind, _ in parsed}
    if kinds == {"quantile"}:
        return ["--quantiles", ",".join(repr(number) for _, number in parsed)]
    if kinds == {"value"}:
        return [item for _, number in parsed for item in ("--threshold", repr(number))]
    raise InputError(f"a multi-threshold method needs every threshold of a slice as a quantile or every one as a "
                     f"value, not a mix: {', '.join(labels)}")  # fmt: skip


def threshold_labels(thresholds: Mapping[str, Sequence[float]]) -> list[str]:
    """The labels of a `thresholds` config block: its quantiles, then its values, duplicates dropped."""
    labels = [threshold_label("quantile", q) for q in thresholds.get("quantiles") or ()]
    labels += [threshold_label("value", v) for v in thresholds.get("values") or ()]
    return list(dict.fromkeys(labels))


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
    proxy_seed: int | None = None  # set by `proxy.pairing: crossed` only; None reads the search seed's replicate

    def wildcards(self) -> dict[str, str]:
        """The leaf's wildcard values (strings); `crossed` only for a crossed leaf, so that a matched leaf's are
        those it had before crossing existed (Snakemake gives every leaf rule an empty `crossed`)."""
        values = {key: str(getattr(self, key)) for key in LEAF_KEYS if key != "crossed"}
        return values if self.proxy_seed is None else {**values, "crossed": f"-p{self.proxy_seed}"}

    def path(self, template: str = RUN) -> str:
        """The leaf's file under a template (RUN, TIMING, CHECK, or a benchmark/log pattern)."""
        return template.format(**{"crossed": "", **self.wildcards()})

    @property
    def slice_name(self) -> str:
        """The name of the leaf's slice."""
        return SLICE.format(**{key: getattr(self, key) for key in SLICE_KEYS})

    @classmethod
    def from_wildcards(cls, wildcards: Mapping[str, Any]) -> "Leaf":
        """A leaf from Snakemake wildcards (or any mapping with the leaf keys)."""
        values: dict[str, Any] = {key: wildcards[key] for key in LEAF_KEYS if key != "crossed"}
        values["seed"] = int(values["seed"])
        crossed = wildcards.get("crossed", "")
        return cls(**values, proxy_seed=int(crossed.removeprefix("-p")) if crossed else None)

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
    proxy = config["proxy"]
    return json.dumps([config["grid"], config["methods"], config["seeds"], proxy["pairing"], proxy["seeds"]],
                      sort_keys=True, default=str)  # fmt: skip


def _memoised(function: Any) -> Any:
    """Cache a function of the config's grid (Snakemake calls such functions once per job, of which a grid has thousands)."""
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


def crossed_proxy_seeds(config: Mapping[str, Any], method: str) -> list[int | None]:
    """The proxy seeds a method's leaves of each search seed are crossed with: with `proxy.pairing: crossed` and
    a method that uses a proxy, `proxy.seeds` (null: the search seeds); else [None], one leaf per search seed."""
    proxy = config["proxy"]
    if proxy["pairing"] != "crossed" or not (method in METHODS and uses_proxy(method)):
        return [None]
    return list(config["seeds"] if proxy["seeds"] is None else proxy["seeds"])


@_memoised
def expand_grid(config: Mapping[str, Any]) -> list[Leaf]:
    """Every leaf: space x dataset x device x metric x threshold x method x seed (x proxy seed, crossed),
    duplicates dropped; a multi-threshold method has one leaf per (space, dataset, device, metric, seed), its
    threshold `all`."""
    leaves: dict[Leaf, None] = {}
    for entry in config["grid"]:
        labels = threshold_labels(entry["thresholds"])
        for device in entry["devices"]:
            for method in entry_methods(config, entry):
                multi = method in METHODS and METHODS[method].multi_threshold
                for label in [ALL_THRESHOLDS] if multi else labels:
                    for seed in config["seeds"]:
                        for proxy_seed in crossed_proxy_seeds(config, method):
                            where = (entry["space"], entry["dataset"], device, entry["metric"])
                            leaves[Leaf(*where, label, method, seed, proxy_seed)] = None
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


def slice_inputs(config: Mapping[str, Any], wildcards: Mapping[str, Any]) -> dict[str, list[str]]:
    """The inputs of one slice's summary: the check files of its leaves and, in the same order, the runs they
    checked (a run changed after its check reruns the summary, which refuses it)."""
    name = SLICE.format(**{key: wildcards[key] for key in SLICE_KEYS})
    leaves = _leaves_by_slice(config).get(name, [])
    return {"checks": [leaf.path(CHECK) for leaf in leaves], "runs": [leaf.path(RUN) for leaf in leaves]}


@_memoised
def _leaves_by_slice(config: Mapping[str, Any]) -> dict[str, list[Leaf]]:
    out: dict[str, list[Leaf]] = {}
    for leaf in expand_grid(config):
        out.setdefault(leaf.slice_name, []).append(leaf)
    return out


def slice_of(config: Mapping[str, Any], wildcards: Mapping[str, Any]) -> Slice:
    """The configured slice of some wildcards; an unconfigured one (an ad-hoc target) gets no cost dataset."""
    key = {k: str(wildcards[k]) for k in SLICE_KEYS}
    return slices(config).get(SLICE.format(**key)) or Slice(**key)


def uses_proxy(method: str) -> bool:
    """Whether the method scores architectures with a proxy (and so needs the proxy batch)."""
    return METHODS[method].uses_proxy


def presets_used(config: Mapping[str, Any]) -> list[str]:
    """The proxy presets whose batch the grid needs (none when no method uses a proxy)."""
    return [config["proxy"]["preset"]] if any(uses_proxy(leaf.method) for leaf in expand_grid(config)) else []


def study_enabled(config: Mapping[str, Any]) -> bool:
    """Whether the fidelity study runs."""
    return bool(config["fidelity_study"]["enabled"])


def study_outputs() -> list[str]:
    """The files the fidelity-study rule writes."""
    return [f"{STUDY_DIR}/{name}" for name in STUDY_FILES]


def aggregate_tables(config: Mapping[str, Any]) -> list[str]:
    """The tables `analysis.report.aggregate` writes: main, devices, cost, comparisons (+ fidelity with a study)."""
    names = [*AGGREGATE_TABLES, *(("fidelity",) if study_enabled(config) else ())]
    names += [ANYTIME_TABLE, REACH_TABLE] if config["search"].get("budgets") else []
    names += [NINE_CONSTRAINTS_TABLE, FRONTS_TABLE] if multi_threshold_slices(config) else []
    return [f"{AGGREGATE_DIR}/{name}.{ext}" for name in names for ext in ("csv", "md")]


def aggregate_plots(config: Mapping[str, Any]) -> list[str]:
    """The plots it writes: one per slice with accuracies, the search history (+ the fidelity plot with a study)."""
    stems = [
        device_plot_stem(s.space, s.dataset, s.device, s.metric, s.cost_dataset)
        for s in slices(config).values()
        if get_space(s.space).has_accuracy  # without accuracies (FBNet) there is no device plot
    ]
    stems += [
        front_plot_stem(s.space, s.dataset, s.device, s.metric, s.cost_dataset)
        for s in multi_threshold_slices(config)
        if get_space(s.space).has_accuracy
    ]
    stems.append(HISTORY_PLOT)
    stems += [FIDELITY_PLOT] if study_enabled(config) else []
    stems += [ANYTIME_PLOT] if config["search"].get("budgets") else []
    return [f"{PLOTS_DIR}/{stem}.{ext}" for stem in stems for ext in PLOT_FORMATS]


def multi_threshold_slices(config: Mapping[str, Any]) -> list[Slice]:
    """The slices that a multi-threshold method searches."""
    names = {leaf.slice_name for leaf in expand_grid(config) if leaf.threshold == ALL_THRESHOLDS}
    return [s for name, s in slices(config).items() if name in names]


def energy_settings(config: Mapping[str, Any]) -> dict[str, float] | None:
    """The `energy` block for aggregate(), or None when disabled."""
    energy = config.get("energy") or {}
    if not energy.get("enabled", True):
        return None
    return {key: float(energy[key]) for key in ("power_watts", "grid_gco2_per_kwh")}

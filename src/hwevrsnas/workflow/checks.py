"""What the config schema cannot check, done before any job runs; every message names the config key.

`check_config` runs at parse time, after Snakemake's schema validation has filled in the defaults:
it checks methods, presets, penalty forms, the GA knobs of every method (integral floats such as
`population: 4.0` become integers exactly; 4.5 is an error), devices of each space and metric, and
thresholds. When the cost tables already exist, every threshold is also resolved against its
column, so a threshold below every architecture's cost stops the run before any job; on a fresh
clone the `thresholds` rule does the same check right after the tables are built, and the leaves
of a slice wait for it.
"""

from __future__ import annotations

import difflib
import logging
import math
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from hwevrsnas.errors import InputError, UserError
from hwevrsnas.search.config import KNOBS, GAConfig, KnobError, coerce
from hwevrsnas.search.methods import METHODS
from hwevrsnas.spaces import SPACES, get_space
from hwevrsnas.tables.fbnet import DATASET as FBNET_DATASET
from hwevrsnas.tables.fbnet import DEVICES as FBNET_DEVICES
from hwevrsnas.workflow.arguments import (
    ga_settings, preset_of, proxy_seed, score_table, score_table_seeds, served_table_proxies,
)  # fmt: skip
from hwevrsnas.workflow.grid import entry_methods, expand_grid, slices, threshold_labels
from hwevrsnas.workflow.layout import PROXY_SEED_PLACEHOLDER, SLICE, TABLE_FILES

log = logging.getLogger(__name__)

FBNET_DATASETS = (FBNET_DATASET,)


class ConfigError(InputError):
    """A config value the schema accepts but the workflow cannot run; the message names the key."""


def _nb201_costs() -> dict[str, set[tuple[str, str]]]:
    """(device, cost dataset) pairs with a cost column in the table the `tables` rule builds, by metric (the
    official HW-NAS-Bench pickle would add other datasets, but the workflow never builds from it)."""
    from hwevrsnas.search.costs import COST_METRICS
    from hwevrsnas.tables.metrics import metric_specs

    known: dict[str, set[tuple[str, str]]] = {metric: set() for metric in COST_METRICS}
    for spec in metric_specs():
        if spec.metric in known:
            known[spec.metric].add((spec.device, spec.dataset))
    return known


def _listing(values: Any) -> str:
    return ", ".join(sorted(str(v) for v in values)) or "(none)"


def from_command_line(config: dict[str, Any]) -> dict[str, Any]:
    """Undo what `--config key=value` does to lists: `seeds=[0,1]` arrives as ['0', '1']; make those integers.

    Run before the schema validation. Other nested keys are best set with an overlay config file.
    """
    seeds = config.get("seeds")
    if isinstance(seeds, list):
        config["seeds"] = [int(s) if isinstance(s, str) and s.strip().isdigit() else s for s in seeds]
    return config


def locate_served_table(config: dict[str, Any], workflow_dir: str | Path) -> dict[str, Any]:
    """Find a relative `scores.table` in the working directory, else in the workflow's own directory, where the
    published tables are (docs/scores/), so that a run in another working directory serves them too.

    Run after the schema validation; the folder decides, since a `{proxy_seed}` path names several files."""
    path = config["scores"].get("table")
    if path and not Path(path).is_absolute():
        shipped = Path(workflow_dir) / path
        if not Path(path).parent.is_dir() and shipped.parent.is_dir():
            config["scores"]["table"] = str(shipped)
    return config


def normalise_knobs(config: dict[str, Any]) -> list[str]:
    """Make the GA knobs of `search` and its overrides exactly their type, in place; return the errors."""
    errors = []
    search = config["search"]
    sections = [("search", search), *((f"search.overrides.{m}", o) for m, o in (search.get("overrides") or {}).items())]
    for at, knobs in sections:
        for name, knob in KNOBS.items():
            if knobs.get(name) is not None:
                try:
                    knobs[name] = coerce(knob, knobs[name])
                except KnobError as err:
                    errors.append(f"config key {at}.{name}: {err}")
    return errors


def check_config(config: dict[str, Any]) -> None:
    """Everything the schema cannot check; raise ConfigError naming each bad key and value."""
    from hwevrsnas.proxy.presets import PRESETS
    from hwevrsnas.tables.metrics import DATASETS

    errors: list[str] = normalise_knobs(config)

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
    proxy_seeds = config["proxy"]["seeds"]
    matched = config["proxy"]["pairing"] == "matched"
    if matched and proxy_seeds is not None and sorted(proxy_seeds) != sorted(config["seeds"]):
        bad("proxy.seeds", f"{proxy_seeds} differ from the search seeds {config['seeds']}, but proxy.pairing: matched "
                           "has search seed k read proxy seed k: set proxy.pairing: crossed to run every proxy leaf "
                           "for each of them, or proxy.seeds: null")  # fmt: skip
    search = config["search"]
    for method in search["overrides"]:
        if method not in METHODS:
            bad(f"search.overrides.{method}", f"unknown method {method!r}; valid methods: {', '.join(METHODS)}")
    if not errors:
        for method in [None, *search["overrides"]]:
            at = "search" if method is None else f"search.overrides.{method}"
            try:
                GAConfig.from_mapping(ga_settings(config, method or ""))
            except KnobError as err:
                bad(f"{at}.{err.knob}", str(err))

    nb201_costs = _nb201_costs()
    seen: dict[str, tuple[str, str | None]] = {}
    for i, entry in enumerate(config["grid"]):
        at = f"grid[{i}]"
        space, dataset, metric = entry["space"], entry["dataset"], entry["metric"]
        if space not in SPACES:
            bad(f"{at}.space", f"unknown space {space!r}; valid spaces: {', '.join(SPACES)}")
            continue
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
        if not get_space(space).has_accuracy:
            for method in sorted(m for m in set(methods) if m in METHODS and METHODS[m].needs_accuracy):
                bad(f"{at}.methods", f"{method!r} needs an accuracy table; {space} has none (drop it for {space})")
        thresholds = entry["thresholds"]
        if not threshold_labels(thresholds):
            bad(f"{at}.thresholds", "no quantiles and no values: a slice needs at least one threshold")
        multi = [m for m in methods if m in METHODS and METHODS[m].multi_threshold]
        for device in entry["devices"] if multi else ():
            name = SLICE.format(space=space, dataset=dataset, device=device, metric=metric)
            labels = slices(config)[name].thresholds
            if len({label[0] for label in labels}) > 1:
                bad(f"{at}.thresholds", f"{', '.join(multi)} answer every threshold of slice {name} in one run: "
                    "its thresholds (of every entry naming it) must be all quantiles or all values")  # fmt: skip
        for j, q in enumerate(thresholds.get("quantiles") or ()):
            if not (isinstance(q, (int, float)) and 0 <= q <= 1):
                bad(f"{at}.thresholds.quantiles[{j}]", f"quantile {q!r} must lie in [0, 1]")
        for j, v in enumerate(thresholds.get("values") or ()):
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                bad(f"{at}.thresholds.values[{j}]", f"threshold {v!r} must be a finite positive cost")
    if not errors and config["scores"].get("table"):  # which proxy seeds read it: the grid must be valid first
        errors += [f"config key scores.table: {problem}" for problem in served_table_problems(config)]
    if not errors:
        errors += threshold_errors(config)
    if errors:
        raise ConfigError("invalid config:\n  " + "\n  ".join(errors))


def served_table_problems(config: Mapping[str, Any]) -> list[str]:
    """Why `scores.table` cannot serve every proxy replicate whose leaves read it (none: it can).

    A path with `{proxy_seed}` names one table per replicate; a path without it names one table, which can serve
    a single replicate only."""
    path, seeds = config["scores"]["table"], score_table_seeds(config)
    readers = [leaf for leaf in expand_grid(config) if leaf.space == "nb201" and METHODS[leaf.method].uses_proxy]
    if readers and not seeds:
        named = score_table(config, proxy_seed(readers[0]))
        return [f"{named} holds none of the proxies of this grid's NB201 methods "
                f"(it holds {', '.join(sorted(served_table_proxies(named) or ())) or 'none'}; they use "
                f"{', '.join(sorted({METHODS[leaf.method].proxy for leaf in readers}))}): name a table of their proxies, "
                "or set scores.table: null to build one"]  # fmt: skip
    if PROXY_SEED_PLACEHOLDER not in path and len(seeds) > 1:
        return [f"{path} is one table, but the leaves reading it use proxy seeds {', '.join(map(str, seeds))} "
                f"(proxy.pairing: {config['proxy']['pairing']}): put {PROXY_SEED_PLACEHOLDER} in the path to name "
                "each seed's table, or set scores.table: null to build them"]  # fmt: skip
    problems = (served_table_problem(score_table(config, j), preset_of(config, j)) for j in seeds)
    return [problem for problem in problems if problem]


def served_table_problem(path: str, preset: Any) -> str | None:
    """Why a score table cannot serve a preset (missing, damaged, incomplete, another preset or proxy seed), or None."""
    from hwevrsnas.scores import ScoreTable

    try:
        table = ScoreTable.open(path)
    except UserError as err:
        return str(err)
    digests = {c.identity.get("preset") for c in table.proxies.values() if c.identity.get("kind") == "rsnas"}
    if preset.digest not in digests:
        return (f"{path} holds no representation-similarity scores of preset {preset.name!r} at proxy seed "
                f"{preset.seed} (digest {preset.digest}; it holds {', '.join(sorted(map(str, digests))) or 'none'}): "
                "name a table of that preset and seed, or set scores.table: null to build one")  # fmt: skip
    if not table.complete:
        return f"{path} holds {table.rows} classes, not every class of the space: it cannot serve a search"
    return None


def _schema_keys(schema: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(dotted key, key) of every property of a schema and of the objects nested in it."""
    for name, sub in (schema.get("properties") or {}).items():
        yield prefix + name, name
        if isinstance(sub, Mapping):
            yield from _schema_keys(sub, f"{prefix}{name}.")


def unknown_key_message(error: Exception, config_files: Sequence[str | Path]) -> str | None:
    """One line per unknown key of a failed schema validation: the key, the nearest valid keys and the config file
    that holds it (Snakemake's own message prints the whole schema and config); None for any other schema error.

    `error` is the WorkflowError that Snakemake's `validate` raises while handling jsonschema's ValidationError;
    `config_files` the files merged into the config, in order (a key found in none came from `--config`).
    """
    import yaml
    from jsonschema.exceptions import ValidationError

    cause = error.__cause__ or error.__context__  # WorkflowError keeps only the text of its arguments
    if not isinstance(cause, ValidationError) or cause.validator != "additionalProperties":
        return None
    at = [str(part) for part in cause.absolute_path]
    keys = list(_schema_keys(cause.schema, "".join(f"{part}." for part in at)))
    lines = []
    for key in sorted(set(cause.instance) - set(cause.schema.get("properties") or {})):
        where = []
        for path in config_files:
            node: Any = yaml.safe_load(Path(path).read_text()) if Path(path).is_file() else None
            for part in at:
                node = node.get(part) if isinstance(node, Mapping) else None
            if isinstance(node, Mapping) and key in node:
                where.append(str(path))
        close = difflib.get_close_matches(key, list(dict.fromkeys(name for _, name in keys)), n=3)
        nearest = [dotted for name in close for dotted, other in keys if other == name]
        lines.append(
            f"unknown config key {'.'.join([*at, key])!r} in {', '.join(where) or '--config'}; "
            + (f"nearest valid keys: {', '.join(dict.fromkeys(nearest))}" if nearest else
               f"valid keys here: {', '.join(cause.schema.get('properties') or {})}")
        )  # fmt: skip
    return "\n".join(lines)


def threshold_errors(config: Mapping[str, Any], tables_dir: Path | None = None) -> list[str]:
    """Resolve every threshold of the grid against the cost tables when they exist (absent or damaged: not checked)."""
    from hwevrsnas.search.costs import CostModel

    errors = []
    for i, entry in enumerate(config["grid"]):
        table = Path(TABLE_FILES[entry["space"]])
        table = Path(tables_dir) / table.name if tables_dir else table
        if not table.is_file():
            continue
        for device in entry["devices"]:
            try:
                model = CostModel.open(
                    entry["space"], table.parent, entry["dataset"], device, entry["metric"], entry.get("cost_dataset")
                )
            except UserError as err:  # the tables rule rebuilds a damaged table; its leaves name it
                log.warning("thresholds of grid[%d] not checked before the run: %s", i, err)
                return errors
            for key in ("quantiles", "values"):
                for j, number in enumerate(entry["thresholds"].get(key) or ()):
                    try:
                        model.resolve_threshold(**{{"quantiles": "quantile", "values": "value"}[key]: number})
                    except InputError as err:
                        errors.append(f"config key grid[{i}].thresholds.{key}[{j}] for device {device!r}: {err}")
    return errors


__all__ = [
    "ConfigError", "check_config", "from_command_line", "normalise_knobs", "threshold_errors", "unknown_key_message",
]  # fmt: skip

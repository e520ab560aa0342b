"""What a search leaf is given: its `hwevrsnas search` arguments and its input files.

A leaf's command line holds only the GA knobs its method reads (search.methods), so a changed knob
reruns exactly the leaves it concerns (Snakemake reruns a job whose params changed).

Proxy replicates are paired with search seeds: the leaf of search seed k reads the proxy's draw k (the preset
with seed k: its own proxy batch, initialisations and score table), so that the spread over seeds includes the
proxy's own noise instead of every seed sharing one draw of it. `proxy.pairing: crossed` separates the two
sources of noise instead: each proxy leaf of search seed k runs once per proxy seed j of `proxy.seeds`
(grid.crossed_proxy_seeds), the search's own randomness then still following k.
"""

from __future__ import annotations

import functools
import os
import shlex
from typing import Any, Mapping

from hwevrsnas.errors import InputError, UserError
from hwevrsnas.proxy.presets import get_preset
from hwevrsnas.search.config import DEFAULTS, KNOBS, coerce
from hwevrsnas.search.methods import get_method
from hwevrsnas.workflow.grid import ALL_THRESHOLDS, Leaf, slice_of, slice_threshold_args, threshold_cli_args
from hwevrsnas.workflow.grid import expand_grid
from hwevrsnas.workflow.layout import (
    BATCH_DIR, CACHE_DIR, FULL_FIDELITY_DIR, FULL_FIDELITY_FILES, PROXY_SEED_PLACEHOLDER, SCORE_SHARD, SCORE_TABLE,
    SOURCES_DIR, SOURCES_STAMP, TABLE_FILES, TABLES_DIR,
)  # fmt: skip


def ga_settings(config: Mapping[str, Any], method: str) -> dict[str, Any]:
    """The GA knobs of one method: the `search` section (`budgets`: its largest as the budget) with
    `search.overrides[method]` on top (null = inherit)."""
    search = config["search"]
    knobs = {name: search.get(name, default) for name, default in DEFAULTS.items()}
    if search.get("budgets"):
        knobs["budget"] = max(search["budgets"])
    for name, value in (search.get("overrides") or {}).get(method, {}).items():
        if value is not None:
            knobs[name] = value
    return {name: None if value is None else coerce(KNOBS[name], value) for name, value in knobs.items()}


def proxy_seed(leaf: Leaf) -> int:
    """The proxy replicate a leaf reads: the one it is crossed with, else its search seed (module docstring)."""
    return leaf.seed if leaf.proxy_seed is None else leaf.proxy_seed


def read_seeds(leaf: Leaf) -> list[int]:
    """The proxy replicates whose batch and table a proxy leaf reads: its own, or the fixed draws of a proxy that
    averages draws (proxy.mean_of_draws)."""
    from hwevrsnas.proxy import get_proxy

    return list(get_proxy(get_method(leaf.method).proxy).seeds) or [proxy_seed(leaf)]


def proxy_seeds(config: Mapping[str, Any]) -> list[int]:
    """The proxy replicates the grid's proxy leaves read, in order."""
    leaves = [leaf for leaf in expand_grid(config) if get_method(leaf.method).uses_proxy]
    return sorted({seed for leaf in leaves for seed in read_seeds(leaf)})


def preset_of(config: Mapping[str, Any], seed: int) -> Any:
    """The config's preset at one proxy replicate."""
    return get_preset(config["proxy"]["preset"], seed=seed)


def batch_file(config: Mapping[str, Any], seed: int) -> str:
    """The proxy batch file of the config's preset at one proxy replicate."""
    return f"{BATCH_DIR}/{preset_of(config, seed).batch_file_name}"


def batch_seed(config: Mapping[str, Any], wildcards: Mapping[str, Any]) -> int:
    """The proxy replicate whose batch a proxy_batch job builds, found by its file name among the grid's."""
    name = f"batch-{wildcards['reference']}-{wildcards['digest']}.pt"
    for seed in proxy_seeds(config):
        if preset_of(config, seed).batch_file_name == name:
            return seed
    raise InputError(f"{BATCH_DIR}/{name} is the proxy batch of no proxy seed of this config "
                     f"(preset {config['proxy']['preset']!r}, proxy seeds {proxy_seeds(config)})")  # fmt: skip


def uses_score_table(config: Mapping[str, Any], leaf: Leaf) -> bool:
    """Whether a leaf reads a score table: the config asks for one, the space is NB201, the method uses a proxy, and
    every served table (`scores.table`) holds at least one proxy it scores. A combination reads what the table holds
    and scores the rest itself (hw-evrsnas-params: rsnas from a published table, #params counted); a leaf whose
    proxies a served table lacks entirely (a zc-params leaf beside a table of rsnas scores) scores them itself, as
    without a table."""
    from hwevrsnas.proxy import get_proxy

    wanted = config["scores"]["enabled"] or config["scores"].get("table")
    method = get_method(leaf.method)
    if not (wanted and leaf.space == "nb201" and method.uses_proxy):
        return False
    if config["scores"]["enabled"] and not config["scores"].get("table"):
        return True
    scored = set(get_proxy(method.proxy).scored)
    held = [served_table_proxies(score_table(config, seed)) for seed in read_seeds(leaf)]
    return all(proxies is None or scored & proxies for proxies in held)


def served_table_proxies(path: str) -> frozenset[str] | None:
    """The proxies a served table holds, by registry name; None where it cannot be read (the config check says why)."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return _table_proxies(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=None)
def _table_proxies(path: str, mtime_ns: int, size: int) -> frozenset[str] | None:
    """`served_table_proxies`, read once per version of the file (the DAG asks once per leaf)."""
    from hwevrsnas.scores import ScoreTable

    try:
        return frozenset(ScoreTable.open(path).proxies)
    except UserError:
        return None


def score_table(config: Mapping[str, Any], seed: int) -> str:
    """The score table of one proxy replicate: the one the config names (served as it is, its `{proxy_seed}`
    replaced), else the merged build."""
    named = config["scores"].get("table")
    if named:
        return named.replace(PROXY_SEED_PLACEHOLDER, str(seed))
    return SCORE_TABLE.format(preset=config["proxy"]["preset"], proxy_seed=seed)


def score_table_seeds(config: Mapping[str, Any]) -> list[int]:
    """The proxy replicates whose score table some leaf reads."""
    leaves = [leaf for leaf in expand_grid(config) if uses_score_table(config, leaf)]
    return sorted({seed for leaf in leaves for seed in read_seeds(leaf)})


def full_fidelity_targets(config: Mapping[str, Any]) -> list[str]:
    """The full-space fidelity files of each score table a leaf reads."""
    folders = [FULL_FIDELITY_DIR.format(preset=config["proxy"]["preset"], proxy_seed=j) for j in score_table_seeds(config)]
    return [f"{folder}/{name}" for folder in folders for name in FULL_FIDELITY_FILES]


def score_shards(config: Mapping[str, Any], seed: int) -> list[str]:
    """The shard files of one proxy replicate's score table."""
    n = int(config["scores"]["shards"])
    preset = config["proxy"]["preset"]
    return [SCORE_SHARD.format(preset=preset, proxy_seed=seed, shard=i, shards=n) for i in range(1, n + 1)]


def score_proxies(config: Mapping[str, Any]) -> list[str]:
    """The proxies the table holds: those the grid's NB201 methods use (a combined proxy's members)."""
    from hwevrsnas.proxy import get_proxy

    names = {get_method(leaf.method).proxy for leaf in expand_grid(config) if uses_score_table(config, leaf)}
    return sorted({scored for name in names for scored in get_proxy(name).scored})


def score_build_args(config: Mapping[str, Any], seed: int, shard: int, shards: int) -> list[str]:
    """The `hwevrsnas scores build` arguments of one shard of a proxy replicate's table, except --out and --workers
    (the rule adds those)."""
    proxy = config["proxy"]
    args = ["--space", "nb201", "--preset", proxy["preset"], "--proxy-seed", str(seed), "--shard", f"{shard}/{shards}"]
    for name in score_proxies(config):
        args += ["--proxy", name]
    args += ["--device", proxy["accelerator"], "--batch-size", str(config["scores"]["batch_size"])]
    args += ["--sources", SOURCES_DIR, "--tables", TABLES_DIR, "--batch-dir", BATCH_DIR, "--cache", CACHE_DIR]
    return args


def search_args(config: Mapping[str, Any], wildcards: Mapping[str, Any]) -> list[str]:
    """The `hwevrsnas search` arguments of a leaf, except --out and --threads (the rule adds those)."""
    leaf = Leaf.from_wildcards(wildcards)
    method = get_method(leaf.method)
    where = slice_of(config, wildcards)
    args = ["--space", leaf.space, "--dataset", leaf.dataset, "--device", leaf.device, "--metric", leaf.metric]
    if where.cost_dataset:
        args += ["--cost-dataset", where.cost_dataset]
    args += leaf_threshold_args(config, leaf)
    args += ["--method", leaf.method, "--seed", str(leaf.seed)]
    if method.uses_proxy:
        proxy = config["proxy"]
        args += ["--preset", proxy["preset"], "--proxy-seed", str(proxy_seed(leaf)), "--accelerator", proxy["accelerator"]]
    for name, value in ga_settings(config, leaf.method).items():
        if value is None or name not in method.knobs:
            continue
        args += [KNOBS[name].flag, repr(value) if isinstance(value, float) else str(value)]
    args += ["--tables", TABLES_DIR]
    if method.uses_proxy:
        args += ["--sources", SOURCES_DIR, "--cache", CACHE_DIR, "--batch-dir", BATCH_DIR]
    if uses_score_table(config, leaf):
        args += ["--scores", *(score_table(config, seed) for seed in read_seeds(leaf))]
    return args


def leaf_threshold_args(config: Mapping[str, Any], leaf: Leaf) -> list[str]:
    """A leaf's threshold arguments: its own, or every threshold of its slice for a multi-threshold leaf."""
    if leaf.threshold == ALL_THRESHOLDS:
        return slice_threshold_args(slice_of(config, leaf.wildcards()).thresholds)
    return threshold_cli_args(leaf.threshold)


def search_command_args(config: Mapping[str, Any], wildcards: Mapping[str, Any]) -> str:
    """`search_args` quoted for a shell command line."""
    return shlex.join(search_args(config, wildcards))


def search_inputs(config: Mapping[str, Any], wildcards: Mapping[str, Any]) -> dict[str, str]:
    """What a leaf reads: its space's table, and for proxy methods the proxy batch and the sources."""
    leaf = Leaf.from_wildcards(wildcards)
    inputs = {"table": TABLE_FILES[leaf.space]}
    if get_method(leaf.method).uses_proxy:
        inputs["batch"] = [batch_file(config, seed) for seed in read_seeds(leaf)]
        inputs["sources"] = SOURCES_STAMP
    if uses_score_table(config, leaf):
        inputs["scores"] = [score_table(config, seed) for seed in read_seeds(leaf)]
    return inputs


def preset_identity(config: Mapping[str, Any], wildcards: Mapping[str, Any]) -> str:
    """The knob digest of a leaf's preset (at its proxy replicate) for methods that use it, '' otherwise (a rule
    param: a changed preset reruns)."""
    leaf = Leaf.from_wildcards(wildcards)
    if not get_method(leaf.method).uses_proxy:
        return ""
    return preset_of(config, proxy_seed(leaf)).digest


def check_args(config: Mapping[str, Any], wildcards: Mapping[str, Any]) -> str:
    """The `hwevrsnas check` arguments of a leaf (its expected setting and thresholds), quoted for a shell."""
    leaf = Leaf.from_wildcards(wildcards)
    args = [f"--{key}={getattr(leaf, key)}" for key in ("space", "dataset", "device", "metric", "method", "seed")]
    if leaf.proxy_seed is not None:  # a crossed leaf's path names its replicate: the check holds the run to it
        args.append(f"--proxy-seed={leaf.proxy_seed}")
    return shlex.join([*args, *leaf_threshold_args(config, leaf), "--label", leaf.threshold, "--tables", TABLES_DIR])

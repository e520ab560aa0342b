"""A plugin as a user would write one (docs/EXTENDING.md): a proxy, a search method and a device's cost column.

Loaded by name: HWEVRSNAS_PLUGINS=toy_plugin (with tests/ on PYTHONPATH), or `plugins: [toy_plugin]`
in a workflow config.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from hwevrsnas.proxy import register_proxy
from hwevrsnas.search import Method, register_method
from hwevrsnas.search.tracker import finish
from hwevrsnas.spaces import nb201
from hwevrsnas.tables.metrics import MetricSpec, register_cost_column

# A proxy: the test double of tests/fakes.py, registered under its own name.
register_proxy("toy", "fakes:toy_proxy", "a fixed function of the class representative")


def run_hill_climb(problem, config, seed, progress=None):
    """Random-restart hill climbing: from `population` random architectures, take every one-gene change that helps."""
    started = (time.perf_counter(), time.process_time())
    tracker = problem.tracker
    rng = np.random.default_rng(seed)
    space = tracker.space
    while not tracker.exhausted:
        current = tracker.request(space.sample(rng, 1)[0])
        improved = True
        while improved and not tracker.exhausted:
            improved = False
            for gene in rng.permutation(space.num_genes):
                for op in range(space.num_ops):
                    if tracker.exhausted:
                        break
                    ops = current.ops.copy()
                    ops[gene] = op
                    candidate = tracker.request(ops)
                    if candidate.fitness > current.fitness:
                        current, improved = candidate, True
    return finish("toy-hill-climb", tracker, [], "budget", started, seed=seed)


register_method(Method(
    "toy-hill-climb", "toy_plugin:run_hill_climb", "toy", frozenset({"budget", "population", "generations", "elites",
    "lam", "penalty"}), "hill climbing on the toy proxy",
))  # fmt: skip


def toydev_latency(root: Path) -> np.ndarray:
    """A made-up device whose latency is the network's parameter count in millions (in NB201 index order)."""
    strings = pd.read_csv(Path(root) / "nats-bench-landscape/nats_bench.csv")["ArchitectureString"]
    return nb201.params_mb(nb201.parse_arch_strings(list(strings)))


register_cost_column(MetricSpec("toydev", "latency", "ms", "cifar10", "toy_plugin.toydev_latency", "simulated"), toydev_latency)

"""Search methods, found by name in one registry (`hwevrsnas.search.METHODS`).

A method is a runner ("module:function", imported on use) with the signature of `search.ga.run_ga`,
(problem, config, seed, progress) -> SearchOutcome, where the problem (search.problem) holds the
costs, threshold, penalty, scorer and the run's tracker; the registered proxy that ranks its
candidates (hwevrsnas.proxy.PROXIES; None for methods that read the tables only); the GA knobs it
reads (so a changed knob reruns exactly the workflow leaves it concerns, and a result records only
those); and whether it needs a space with an accuracy table. Adding a method is one runner plus one
`register_method` call (docs/EXTENDING.md).

A multi-threshold method (`multi_threshold=True`, search/multiobjective.py) answers every threshold
of a setting in one run: its problem holds every threshold where the others' holds one, and its
runner returns a MultiOutcome; `hwevrsnas search --quantiles` runs it (search.run.run_multi_search).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable

from hwevrsnas.registry import Registry
from hwevrsnas.search.config import KNOBS

ALL_KNOBS = frozenset(KNOBS)
# Random search uses no selection or variation knob; population sets its history blocks, and with no
# budget population, generations and elites give its budget (the GA's largest number of requests).
SAMPLING_KNOBS = frozenset({"population", "generations", "elites", "budget", "lam", "penalty"})
REA_KNOBS = SAMPLING_KNOBS | {"tournament_size"}
# The multi-threshold methods answer each threshold by phi among the feasible, so lam and the penalty form play no
# part; elites sets their default budget only (as random search's). NSGA-II selects by binary tournament.
MO_RANDOM_KNOBS = frozenset({"population", "generations", "elites", "budget"})
NSGA2_KNOBS = MO_RANDOM_KNOBS | {"crossover_p", "mutation_p"}


@dataclass(frozen=True)
class Method:
    """One registered search method (see the module docstring)."""

    name: str
    runner: str
    proxy: str | None
    knobs: frozenset[str]
    description: str
    needs_accuracy: bool = False
    multi_threshold: bool = False

    @property
    def uses_proxy(self) -> bool:
        """Whether it scores architectures with a proxy (and so needs the proxy batch and a preset)."""
        return self.proxy is not None

    def run_function(self) -> Callable[..., Any]:
        """The runner."""
        module_name, _, function = self.runner.partition(":")
        return getattr(importlib.import_module(module_name), function)


METHODS: Registry[Method] = Registry("search method", "methods", unknown_kind="method")


def register_method(method: Method) -> Method:
    """Add a method to the registry (a name can be registered once)."""
    unknown = sorted(method.knobs - ALL_KNOBS)
    if unknown:
        raise ValueError(f"method {method.name!r} reads unknown knobs {unknown}; knobs: {', '.join(KNOBS)}")
    return METHODS.register(method.name, method)


def get_method(name: str) -> Method:
    """The registered method of that name; UnknownName listing the valid ones."""
    return METHODS[name]


GA = "hwevrsnas.search.ga:run_ga"
for _method in (
    Method("hw-evrsnas", GA, "rsnas", ALL_KNOBS, "HW-EvRSNAS: the GA on the representation-similarity proxy"),
    Method("random", "hwevrsnas.search.baselines:run_random", "rsnas", SAMPLING_KNOBS,
           "uniform random sampling scored by the same proxy, same budget"),
    Method("hw-evrsnas-params", GA, "rsnas+params", ALL_KNOBS,
           "variant: the GA on the rank mean of the proxy and #params"),
    Method("hw-evrsnas-mean", GA, "rsnas-mean", ALL_KNOBS,
           "variant: the GA on the proxy's mean over five proxy draws (proxy.mean_of_draws)"),
    Method("hw-evrsnas-ens", GA, "ens", ALL_KNOBS,
           "variant: the GA on the rank ensemble of the proxy and zero-cost proxies (proxy.ensemble)"),
    Method("rea-valid12", "hwevrsnas.search.baselines:run_rea", None, REA_KNOBS,
           "regularised evolution on the table's 12-epoch validation accuracy", needs_accuracy=True),
    Method("zc-synflow", GA, "zc:synflow", ALL_KNOBS, "the GA on the synflow zero-cost proxy"),
    Method("zc-naswot", GA, "zc:naswot", ALL_KNOBS, "the GA on the NASWOT zero-cost proxy"),
    Method("zc-params", GA, "zc:params", ALL_KNOBS, "the GA on #params"),
    Method("oracle", "hwevrsnas.search.baselines:run_oracle", None, frozenset(),
           "the exact feasible optimum (exhaustive over the table)", needs_accuracy=True),
    Method("mo-hdnas", "hwevrsnas.search.multiobjective:run_mo_hdnas", "rsnas", NSGA2_KNOBS,
           "MO-HDNAS: NSGA-II on (proxy, cost, cost diversity), one run for every threshold", multi_threshold=True),
    Method("mo-nsga2", "hwevrsnas.search.multiobjective:run_mo_nsga2", "rsnas", NSGA2_KNOBS,
           "NSGA-II on (proxy, cost), no diversity objective, one run for every threshold", multi_threshold=True),
    Method("mo-nsga2-params", "hwevrsnas.search.multiobjective:run_mo_nsga2", "zc:params", NSGA2_KNOBS,
           "NSGA-II on (#params, cost), one run for every threshold", multi_threshold=True),
    Method("mo-random", "hwevrsnas.search.multiobjective:run_mo_random", "rsnas", MO_RANDOM_KNOBS,
           "random search with the proxy answering every threshold from one sample", multi_threshold=True),
):  # fmt: skip
    register_method(_method)

__all__ = ["METHODS", "Method", "get_method", "register_method"]

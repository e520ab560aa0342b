"""Proxies, found by name in one registry: `make_proxy("rsnas", context)` returns an Evaluator.

A proxy entry names a factory ("module:function", imported on use, so this package stays free of
torch until a proxy is built) that takes a `ProxyContext` and returns an `Evaluator`
(proxy.evaluator). Search methods name the proxy they rank architectures with
(hwevrsnas.search.methods). Adding a proxy is one module with a factory plus one `register_proxy`
call (docs/EXTENDING.md).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable

from hwevrsnas.registry import Registry


@dataclass
class ProxyContext:
    """What a proxy factory may use: the space, the preset, the proxy batch (built on first use), cache, device."""

    space: str
    preset: Any
    batch_loader: Callable[[], Any]
    cache: Any = None
    device: str = "cpu"
    # Processes that compute scores (each with one intra-op thread, so scores do not depend on it).
    workers: int = 1
    # The training engine of the rsnas proxy (proxy.rsnas): auto, single or stacked, and its stack size.
    engine: str = "auto"
    stack: int = 32
    # Proxies served by complete score tables (hwevrsnas.scores.served_proxies): used instead of building them.
    served: dict[str, Any] = field(default_factory=dict)
    # The context of the same preset at another proxy seed (its own batch and served tables), for a proxy that
    # averages draws (proxy.mean_of_draws); None where the caller offers no other seed.
    replicate: Callable[[int], "ProxyContext"] | None = None
    _batch: Any = field(default=None, repr=False)

    @property
    def batch(self) -> Any:
        """The proxy batch (loaded or built once)."""
        if self._batch is None:
            self._batch = self.batch_loader()
        return self._batch


@dataclass(frozen=True)
class ProxySpec:
    """One registered proxy: its factory ("module:function", called as factory(*args, context)) and a line for listings."""

    name: str
    factory: str
    description: str
    args: tuple[Any, ...] = ()
    # A proxy combining others scores nothing itself: score tables hold its members.
    members: tuple[str, ...] = ()
    # The proxy seeds whose tables it reads whatever the search's proxy seed (a mean over draws); () for the search's.
    seeds: tuple[int, ...] = ()

    @property
    def scored(self) -> tuple[str, ...]:
        """The proxies whose scores a table must hold for this one: its members, else itself."""
        return self.members or (self.name,)

    def make(self, context: ProxyContext) -> Any:
        """Build the evaluator."""
        module_name, _, function = self.factory.partition(":")
        return getattr(importlib.import_module(module_name), function)(*self.args, context)


PROXIES: Registry[ProxySpec] = Registry("proxy", "proxies")


def register_proxy(
    name: str, factory: str, description: str, *args: Any, members: tuple[str, ...] = (), seeds: tuple[int, ...] = ()
) -> ProxySpec:
    """Add a proxy to the registry (a name can be registered once)."""
    return PROXIES.register(name, ProxySpec(name, factory, description, args, members, seeds))


def get_proxy(name: str) -> ProxySpec:
    """The registered proxy of that name; UnknownName listing the valid ones."""
    return PROXIES[name]


def make_proxy(name: str, context: ProxyContext) -> Any:
    """The Evaluator of a registered proxy (the served one when a score table serves it)."""
    spec = get_proxy(name)
    return context.served[name] if name in context.served else spec.make(context)


ZERO_COST_METRICS: tuple[str, ...] = ("synflow", "naswot", "grad_norm", "snip", "params", "flops")

register_proxy("rsnas", "hwevrsnas.proxy.factories:rsnas", "representation similarity (linear CKA) to the reference after single-batch training")
register_proxy(
    "rsnas+params", "hwevrsnas.proxy.factories:rsnas_params", "rank mean of the rsnas proxy and #params",
    members=("rsnas", "zc:params"),
)
for _metric in ZERO_COST_METRICS:
    register_proxy(f"zc:{_metric}", "hwevrsnas.proxy.factories:zero_cost", f"zero-cost proxy {_metric}", _metric)
# Further zero-cost proxies (AZ-NAS members, MeCo, ZiCo), defined in proxy.zerocost_az_meco_zico (docs/ZEROCOST.md).
EXTRA_ZERO_COST_METRICS: tuple[str, ...] = ("az_expressivity", "az_progressivity", "az_trainability", "meco", "zico")
for _metric in EXTRA_ZERO_COST_METRICS:
    register_proxy(
        f"zc:{_metric}", "hwevrsnas.proxy.zerocost_az_meco_zico:zero_cost_extra", f"zero-cost proxy {_metric}", _metric
    )

from hwevrsnas.proxy.ensemble import ENSEMBLE_WEIGHTS  # noqa: E402  (torch-free; after the registry it joins)
from hwevrsnas.proxy.mean_of_draws import MEAN_DRAW_SEEDS  # noqa: E402  (torch-free)

register_proxy(
    "rsnas-mean", "hwevrsnas.proxy.factories:rsnas_mean",
    f"mean of the rsnas proxy over the proxy draws (seeds) {', '.join(map(str, MEAN_DRAW_SEEDS))}",
    members=("rsnas",), seeds=MEAN_DRAW_SEEDS,
)

register_proxy(
    "ens", "hwevrsnas.proxy.factories:ensemble",
    "rank ensemble (weighted geometric mean of reference ranks) of the rsnas proxy and zero-cost proxies",
    members=tuple(ENSEMBLE_WEIGHTS),
)

__all__ = ["PROXIES", "ZERO_COST_METRICS", "ProxyContext", "ProxySpec", "get_proxy", "make_proxy", "register_proxy"]

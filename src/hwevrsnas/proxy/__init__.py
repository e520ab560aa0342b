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

from hwevrsnas.errors import UnknownName


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

    @property
    def scored(self) -> tuple[str, ...]:
        """The proxies whose scores a table must hold for this one: its members, else itself."""
        return self.members or (self.name,)

    def make(self, context: ProxyContext) -> Any:
        """Build the evaluator."""
        module_name, _, function = self.factory.partition(":")
        return getattr(importlib.import_module(module_name), function)(*self.args, context)


PROXIES: dict[str, ProxySpec] = {}


def register_proxy(name: str, factory: str, description: str, *args: Any, members: tuple[str, ...] = ()) -> ProxySpec:
    """Add a proxy to the registry (a name can be registered once)."""
    spec = ProxySpec(name, factory, description, args, members)
    if name in PROXIES and PROXIES[name] != spec:
        raise ValueError(f"a proxy named {name!r} is already registered")
    PROXIES[name] = spec
    return spec


def get_proxy(name: str) -> ProxySpec:
    """The registered proxy of that name; UnknownName listing the valid ones."""
    try:
        return PROXIES[name]
    except KeyError:
        raise UnknownName(f"unknown proxy {name!r}; valid proxies: {', '.join(PROXIES)}") from None


def make_proxy(name: str, context: ProxyContext) -> Any:
    """The Evaluator of a registered proxy."""
    return get_proxy(name).make(context)


ZERO_COST_METRICS: tuple[str, ...] = ("synflow", "naswot", "grad_norm", "snip", "params", "flops")

register_proxy("rsnas", "hwevrsnas.proxy.factories:rsnas", "representation similarity (linear CKA) to the reference after single-batch training")
register_proxy(
    "rsnas+params", "hwevrsnas.proxy.factories:rsnas_params", "rank mean of the rsnas proxy and #params",
    members=("rsnas", "zc:params"),
)
for _metric in ZERO_COST_METRICS:
    register_proxy(f"zc:{_metric}", "hwevrsnas.proxy.factories:zero_cost", f"zero-cost proxy {_metric}", _metric)

__all__ = ["PROXIES", "ZERO_COST_METRICS", "ProxyContext", "ProxySpec", "get_proxy", "make_proxy", "register_proxy"]

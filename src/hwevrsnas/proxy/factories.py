"""The factories of the registered proxies (hwevrsnas.proxy.PROXIES): context -> Evaluator."""

from __future__ import annotations

from typing import Any

from hwevrsnas.proxy import ProxyContext
from hwevrsnas.proxy.presets import Preset


def rsnas(context: ProxyContext) -> Any:
    """The representation-similarity proxy at the context's preset."""
    from hwevrsnas.proxy.rsnas import ProxyEvaluator

    return ProxyEvaluator(
        context.space, context.preset, context.batch, context.cache, device=context.device, workers=context.workers,
        engine=context.engine, stack=context.stack,
    )  # fmt: skip


def zero_cost(metric: str, context: ProxyContext) -> Any:
    """A zero-cost proxy on the benchmark's own network (the paper preset's C and N), the context's batch and seed."""
    from hwevrsnas.proxy.zerocost import ZeroCostEvaluator

    return ZeroCostEvaluator(
        context.space, metric, context.batch, context.cache, seed=context.preset.seed, preset=Preset(),
        device=context.device, dtype=context.preset.dtype,
    )  # fmt: skip


def rsnas_params(context: ProxyContext) -> Any:
    """The rank mean of the rsnas proxy and #params (proxy.combined), its reference sample scored up front."""
    from hwevrsnas.proxy import make_proxy
    from hwevrsnas.proxy.combined import RankMeanEvaluator

    combined = RankMeanEvaluator(make_proxy("rsnas", context), make_proxy("zc:params", context))
    combined.reference()
    return combined


def ensemble(context: ProxyContext) -> Any:
    """The rank ensemble of `hw-evrsnas-ens` (proxy.ensemble): its members built by their own factories, their
    reference ranks scored up front."""
    from hwevrsnas.proxy import make_proxy
    from hwevrsnas.proxy.ensemble import ENSEMBLE_WEIGHTS, EnsembleEvaluator
    from hwevrsnas.proxy.evaluator import reference_architectures

    members = {name: make_proxy(name, context) for name in ENSEMBLE_WEIGHTS}
    combined = EnsembleEvaluator(members, ENSEMBLE_WEIGHTS, reference_architectures(context.space))
    combined.scales()
    return combined


def rsnas_mean(context: ProxyContext) -> Any:
    """The mean of the rsnas proxy over the draws of `MEAN_DRAW_SEEDS` (proxy.mean_of_draws), each at its seed."""
    from hwevrsnas.errors import InputError
    from hwevrsnas.proxy import make_proxy
    from hwevrsnas.proxy.mean_of_draws import MEAN_DRAW_SEEDS, MeanOfDrawsEvaluator

    if context.replicate is None:
        raise InputError("the mean of draws needs the proxy at other proxy seeds, which this caller does not offer")
    return MeanOfDrawsEvaluator([make_proxy("rsnas", context.replicate(seed)) for seed in MEAN_DRAW_SEEDS])

"""The rank mean of the proxy and #params (proxy.combined): exact arithmetic against a stand-in proxy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hwevrsnas.proxy.batch import ProxyBatch
from hwevrsnas.proxy.combined import RankMeanEvaluator
from hwevrsnas.proxy.presets import Preset
from hwevrsnas.proxy.trainer import STATUS_DEGENERATE, STATUS_OK, ProxyResult
from hwevrsnas.proxy.zerocost import ZeroCostEvaluator, empirical_cdf
from hwevrsnas.spaces import nb201

REFERENCE_SAMPLE = 30
WEIGHTS = np.array([0.31, 0.17, 0.05, 0.23, 0.11, 0.13])


class StandInProxy:
    """A deterministic proxy: a weighted op sum, worst for degenerate cells; counts its calls."""

    name = "rsnas:stand-in"
    space = "nb201"
    preset = Preset(name="stand-in")
    batch_checksum = "0" * 64

    def __init__(self) -> None:
        self.calls = 0

    def evaluate(self, ops: np.ndarray) -> ProxyResult:
        self.calls += 1
        if nb201.is_degenerate(ops):
            return ProxyResult(0.0, math.nan, [math.nan] * 3, 0.0, STATUS_DEGENERATE)
        score = float(np.asarray(ops) @ WEIGHTS) / 4.0
        return ProxyResult(score, 1.0 - score, [score] * 3, 0.5, STATUS_OK, cached=self.calls > 1)


@pytest.fixture(scope="module")
def params_evaluator() -> ZeroCostEvaluator:
    batch = ProxyBatch(torch.zeros(2, 3, 32, 32), torch.zeros(2, dtype=torch.long), [])
    return ZeroCostEvaluator("nb201", "params", batch, reference_sample=REFERENCE_SAMPLE)


def test_phi_is_the_mean_of_both_reference_ranks(params_evaluator: ZeroCostEvaluator) -> None:
    proxy = StandInProxy()
    combined = RankMeanEvaluator(proxy, params_evaluator)
    assert combined.name == "rsnas:stand-in+params" and combined.space == "nb201"
    reference_ops = params_evaluator.reference_ops()
    proxy_reference = np.sort(
        [-math.inf if nb201.is_degenerate(o) else float(o @ WEIGHTS) / 4.0 for o in reference_ops]
    )
    params_reference = np.sort([params_evaluator.raw_result(o).raw for o in reference_ops])
    rng = np.random.default_rng(3)
    for ops in [*nb201.sample(rng, 12), reference_ops[0], np.full(6, nb201.CONV3, dtype=np.uint8)]:
        result = combined.evaluate(ops)
        if nb201.is_degenerate(ops):
            assert result.score == 0.0 and result.status == STATUS_DEGENERATE
            continue
        proxy_rank = empirical_cdf(proxy_reference, float(ops @ WEIGHTS) / 4.0)
        # Isomorphic twins share one cached raw value (the first twin's count), hence raw_result.
        params_rank = empirical_cdf(params_reference, params_evaluator.raw_result(ops).raw)
        assert result.score == pytest.approx((proxy_rank + params_rank) / 2.0, abs=1e-12)
        assert result.extra["proxy_rank"] == pytest.approx(proxy_rank) and result.raw == float(ops @ WEIGHTS) / 4.0
        assert result.status == STATUS_OK and 0.0 <= result.score <= 1.0 and result.cka == [result.raw] * 3
    np.testing.assert_array_equal(combined.reference(), proxy_reference)
    assert combined.reference_seconds == pytest.approx(0.5 * int((~nb201.degenerate_mask(reference_ops)).sum()))
    # The reference member with the best stand-in score has proxy rank 1 (fraction with score <= its own).
    best = reference_ops[int(np.argmax(reference_ops @ WEIGHTS))]
    assert combined.evaluate(best).extra["proxy_rank"] == 1.0


def test_degenerate_cells_stay_worst_and_partner_is_checked(params_evaluator: ZeroCostEvaluator) -> None:
    combined = RankMeanEvaluator(StandInProxy(), params_evaluator)
    assert combined.evaluate(np.zeros(6, dtype=np.uint8)).score == 0.0
    batch = ProxyBatch(torch.zeros(2, 3, 32, 32), torch.zeros(2, dtype=torch.long), [])
    with pytest.raises(ValueError, match="params"):
        RankMeanEvaluator(StandInProxy(), ZeroCostEvaluator("nb201", "flops", batch, reference_sample=4))

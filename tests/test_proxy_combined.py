"""The rank mean of the proxy and #params (proxy.combined): exact arithmetic against a stand-in proxy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hwevrsnas.proxy.batch import ProxyBatch
from hwevrsnas.proxy.combined import RankMeanEvaluator
from hwevrsnas.proxy.evaluator import Evaluator
from hwevrsnas.proxy.presets import Preset
from hwevrsnas.proxy.result import STATUS_DEGENERATE, STATUS_OK, ProxyResult
from hwevrsnas.proxy.evaluator import empirical_cdf
from hwevrsnas.proxy.zerocost import ZeroCostEvaluator
from hwevrsnas.spaces import nb201

REFERENCE_SAMPLE = 30
WEIGHTS = np.array([0.31, 0.17, 0.05, 0.23, 0.11, 0.13])


class StandInProxy(Evaluator):
    """A deterministic proxy: a weighted op sum of the class representative, worst for degenerate cells."""

    kind = "stand-in"
    preset = Preset(name="stand-in")

    def __init__(self) -> None:
        super().__init__("nb201")
        self.calls = 0

    @property
    def name(self) -> str:
        return "rsnas:stand-in"

    def identity(self) -> dict:
        return {"kind": self.kind}

    def compute(self, representative: np.ndarray) -> ProxyResult:
        self.calls += 1
        if nb201.is_degenerate(representative):
            return ProxyResult(0.0, math.nan, [math.nan] * 3, 0.0, STATUS_DEGENERATE)
        score = stand_in_score(representative)
        return ProxyResult(score, 1.0 - score, [score] * 3, 0.5, STATUS_OK)


def stand_in_score(ops: np.ndarray) -> float:
    return float(nb201.representative(ops) @ WEIGHTS) / 4.0


@pytest.fixture(scope="module")
def params_evaluator() -> ZeroCostEvaluator:
    batch = ProxyBatch(torch.zeros(2, 3, 32, 32), torch.zeros(2, dtype=torch.long), [])
    return ZeroCostEvaluator("nb201", "params", batch, reference_sample=REFERENCE_SAMPLE)


def test_phi_is_the_mean_of_both_reference_ranks(params_evaluator: ZeroCostEvaluator) -> None:
    proxy = StandInProxy()
    combined = RankMeanEvaluator(proxy, params_evaluator)
    assert combined.name == "rsnas:stand-in+params" and combined.space.name == "nb201"
    reference_ops = params_evaluator.reference_ops()
    proxy_reference = np.sort([-math.inf if nb201.is_degenerate(o) else stand_in_score(o) for o in reference_ops])
    # Every score of a class is its representative's, #params included.
    params_reference = np.sort([float(nb201.params_mb(nb201.representative(o))) for o in reference_ops])
    rng = np.random.default_rng(3)
    for ops in [*nb201.sample(rng, 12), reference_ops[0], np.full(6, nb201.CONV3, dtype=np.uint8)]:
        result = combined.evaluate(ops)
        if nb201.is_degenerate(ops):
            assert result.score == 0.0 and result.status == STATUS_DEGENERATE
            continue
        proxy_rank = empirical_cdf(proxy_reference, stand_in_score(ops))
        params_rank = empirical_cdf(params_reference, float(nb201.params_mb(nb201.representative(ops))))
        assert result.score == pytest.approx((proxy_rank + params_rank) / 2.0, abs=1e-12)
        assert result.extra["proxy_rank"] == pytest.approx(proxy_rank) and result.raw == stand_in_score(ops)
        assert result.status == STATUS_OK and 0.0 <= result.score <= 1.0 and result.cka == [result.raw] * 3
    np.testing.assert_array_equal(combined.reference(), proxy_reference)
    classes = {nb201.canonical_key(o) for o in reference_ops if not nb201.is_degenerate(o)}
    assert combined.setup_seconds == pytest.approx(0.5 * len(classes))
    assert combined.setup_evaluations == len({nb201.canonical_key(o) for o in reference_ops})
    # The reference member with the best stand-in score has proxy rank 1 (fraction with score <= its own).
    best = reference_ops[int(np.argmax([stand_in_score(o) for o in reference_ops]))]
    assert combined.evaluate(best).extra["proxy_rank"] == 1.0


def test_degenerate_cells_stay_worst_and_partner_is_checked(params_evaluator: ZeroCostEvaluator) -> None:
    combined = RankMeanEvaluator(StandInProxy(), params_evaluator)
    assert combined.evaluate(np.zeros(6, dtype=np.uint8)).score == 0.0
    batch = ProxyBatch(torch.zeros(2, 3, 32, 32), torch.zeros(2, dtype=torch.long), [])
    with pytest.raises(ValueError, match="params"):
        RankMeanEvaluator(StandInProxy(), ZeroCostEvaluator("nb201", "flops", batch, reference_sample=4))

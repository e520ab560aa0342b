"""Test doubles shared by the test modules (imported as `fakes`: pytest puts tests/ on sys.path)."""

from __future__ import annotations

import numpy as np

from hwevrsnas.proxy.evaluator import Evaluator
from hwevrsnas.proxy.result import ProxyResult


class FakeEvaluator(Evaluator):
    """phi = 12-epoch validation accuracy / 100 of the class representative (NB201) or a fixed function of the ops
    (FBNet); `calls` counts the classes it computed."""

    kind = "fake"

    def __init__(self, table=None, space: str = "nb201", seconds: float = 0.01) -> None:
        super().__init__(space)
        self.table = table
        self.seconds = seconds
        self.calls = 0

    @property
    def name(self) -> str:
        return "fake"

    def identity(self) -> dict:
        return {"kind": self.kind, "space": self.space.name}

    def compute(self, representative: np.ndarray) -> ProxyResult:
        self.calls += 1
        if self.space.name == "nb201":
            index = int(self.table.indices_of_ops(np.asarray(representative)[None])[0])
            phi = float(self.table.accuracy(index, "cifar10", "valid_12ep")) / 100
        else:
            ops = np.asarray(representative, dtype=float)
            phi = float(np.cos(np.arange(len(ops)) * ops).mean() + 1) / 2
        return ProxyResult(phi, 0.0, [phi], self.seconds)

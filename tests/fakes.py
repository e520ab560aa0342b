"""Test doubles shared by the test modules (imported as `fakes`: pytest puts tests/ on sys.path)."""

from __future__ import annotations

from pathlib import Path

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


class ToyProxy(Evaluator):
    """A proxy defined in a test file and registered like any other (docs/EXTENDING.md): a fixed function of the
    class representative, instant to compute, with the preset's digest in its identity."""

    kind = "toy"

    def __init__(self, space: str, preset) -> None:
        super().__init__(space)
        self.preset = preset

    def identity(self) -> dict:
        return {"kind": self.kind, "space": self.space.name, "preset": self.preset.digest}

    def compute(self, representative: np.ndarray) -> ProxyResult:
        ops = np.asarray(representative, dtype=float)
        score = float(np.cos(1.0 + np.arange(len(ops)) * ops).mean() + 1.0) / 2.0
        return ProxyResult(score, 1.0 - score, [score], 0.001, raw=score)


def toy_proxy(context) -> ToyProxy:
    """The factory the registry calls (hwevrsnas.proxy.register_proxy("toy", "fakes:toy_proxy", ...))."""
    return ToyProxy(context.space, context.preset)


def complete_table(identity: dict, label: str, path: Path, name: str = "rsnas", values: np.ndarray | None = None) -> Path:
    """A table of every NB201 class with synthetic scores of proxy `name` under a given identity (as if that proxy had
    scored them): `values` in the order of `nb201.class_representatives()`, else a fixed function of the ops."""
    from hwevrsnas.scores import ProxyColumns, ScoreTable
    from hwevrsnas.spaces import get_space, nb201

    reps = nb201.class_representatives()
    degenerate = nb201.degenerate_mask(reps)
    if values is None:
        values = (np.cos(reps.astype(float) @ np.arange(1.0, 7.0)) + 1.0) / 2.0
    results = [ProxyResult(0.0, float("nan"), [], 0.0, "degenerate") if bad else ProxyResult(float(v), 1.0 - v, [v], 0.5)
               for v, bad in zip(values, degenerate)]  # fmt: skip
    columns = ProxyColumns.from_results(name, identity, "synthetic", label, results)
    ScoreTable(get_space("nb201"), np.arange(len(reps)), reps, {name: columns}).write(path)
    return path

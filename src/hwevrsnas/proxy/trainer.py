"""Single-batch training of one candidate against the reference (RMI-NAS's protocol, METHOD.md section 2).

The fast path differs from a plain loop only in where work happens, never in what is computed:
the reference's centred Grams are computed once (they live in the ProxyBatch), the loop never
copies a value to the host (no `.item()` per step; a NaN simply propagates to the end, where it
is detected once), and gradients are set to None instead of being zeroed.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from hwevrsnas.proxy.batch import ProxyBatch
from hwevrsnas.proxy.cka import centered_gram, linear_cka_from_centered_grams
from hwevrsnas.proxy.presets import Preset

STATUS_OK = "ok"
STATUS_DEGENERATE = "degenerate"
STATUS_NONFINITE = "nonfinite"
WORST_SCORE = 0.0


@dataclass
class ProxyResult:
    """One proxy evaluation: score (phi, higher is better, in [0, 1]) and what it came from."""

    score: float
    loss: float
    cka: list[float]
    seconds: float
    status: str = STATUS_OK
    raw: float | None = None
    cached: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (non-finite floats as None), without the per-request `cached` flag."""
        out = asdict(self)
        out.pop("cached")
        for key in ("score", "loss", "raw", "seconds"):
            if out[key] is not None and not math.isfinite(out[key]):
                out[key] = None
        out["cka"] = [c if math.isfinite(c) else None for c in out["cka"]]
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any], cached: bool = True) -> "ProxyResult":
        """Inverse of `to_json` (None back to NaN)."""
        nan = float("nan")
        return cls(
            score=data["score"] if data["score"] is not None else WORST_SCORE,
            loss=data["loss"] if data["loss"] is not None else nan,
            cka=[c if c is not None else nan for c in data["cka"]],
            seconds=data["seconds"] or 0.0,
            status=data["status"],
            raw=data.get("raw"),
            cached=cached,
            extra=data.get("extra", {}),
        )


def worst_result(status: str, n_taps: int, seconds: float = 0.0) -> ProxyResult:
    """The result of a candidate that cannot be scored (degenerate cell, NaN or inf during training)."""
    return ProxyResult(WORST_SCORE, float("nan"), [float("nan")] * n_taps, seconds, status)


def _loss_and_ckas(model: nn.Module, batch: ProxyBatch, preset: Preset) -> tuple[Tensor, Tensor]:
    logits, taps = model.forward_with_taps(batch.images)
    ckas = torch.stack(
        [linear_cka_from_centered_grams(centered_gram(taps[t]), batch.ref_grams[t]) for t in preset.taps]
    )
    ce = nn.functional.cross_entropy(logits, batch.labels)
    loss = preset.cka_weight * (1.0 - ckas).sum() + preset.ce_weight * ce
    return loss, ckas


def train_and_score(model: nn.Module, batch: ProxyBatch, preset: Preset) -> ProxyResult:
    """Train `model` (freshly initialised, train mode) on the batch for preset.steps SGD steps, then score it."""
    start = time.perf_counter()
    model.train()
    optimizer = torch.optim.SGD(
        model.parameters(), lr=preset.lr, momentum=preset.momentum, weight_decay=preset.weight_decay
    )
    for _ in range(preset.steps):
        loss, _ = _loss_and_ckas(model, batch, preset)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        loss, ckas = _loss_and_ckas(model, batch, preset)
    final_loss = float(loss)
    cka = [float(c) for c in ckas]
    seconds = time.perf_counter() - start
    if not (math.isfinite(final_loss) and all(math.isfinite(c) for c in cka)):
        return worst_result(STATUS_NONFINITE, len(preset.taps), seconds)
    score = float(np.mean(cka)) if preset.score == "cka" else math.exp(-final_loss)
    return ProxyResult(score, final_loss, cka, seconds, STATUS_OK, raw=score)

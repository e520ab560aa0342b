"""Single-batch training of one candidate against the reference (RMI-NAS's protocol, METHOD.md section 2).

The fast path differs from a plain loop only in where work happens, never in what is computed:
the reference's centred Grams are computed once (they live in the ProxyBatch), the loop never
copies a value to the host (no `.item()` per step; a NaN simply propagates to the end, where it
is detected once), and gradients are set to None instead of being zeroed.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
from torch import Tensor, nn

from hwevrsnas.proxy.batch import ProxyBatch
from hwevrsnas.proxy.cka import centered_gram, linear_cka_from_centered_grams
from hwevrsnas.proxy.presets import Preset
from hwevrsnas.proxy.result import STATUS_NONFINITE, STATUS_OK, ProxyResult, worst_result


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

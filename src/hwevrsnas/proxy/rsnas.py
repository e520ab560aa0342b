"""The representation-similarity proxy of HW-EvRSNAS as an Evaluator (METHOD.md section 2).

Each class representative is built from a fresh seeded initialisation (`torch.manual_seed(seed)`
before the network is constructed) and trained on the proxy batch by `trainer.train_and_score`,
with torch's intra-op threads pinned (proxy.determinism), so its score depends only on the
identity below and the class. Degenerate cells (output independent of the input) get the worst
score without training.
"""

from __future__ import annotations

import atexit
import multiprocessing
from typing import Any, Sequence

import numpy as np
import torch

from hwevrsnas.proxy.batch import ProxyBatch
from hwevrsnas.proxy.cache import ScoreCache
from hwevrsnas.proxy.determinism import deterministic_backend, pinned_threads, platform
from hwevrsnas.proxy.evaluator import Evaluator
from hwevrsnas.proxy.presets import Preset
from hwevrsnas.proxy.result import STATUS_DEGENERATE, ProxyResult, worst_result
from hwevrsnas.proxy.trainer import train_and_score
from hwevrsnas.spaces import Space

# The candidate's head matches the CIFAR-10 reference it is compared with, whatever the search's dataset.
CIFAR10_CLASSES = 10
ENGINE = "single"


def build_candidate(space: Space, ops: np.ndarray, preset: Preset) -> torch.nn.Module:
    """The proxy's network of one architecture, freshly initialised from the preset's seed."""
    torch.manual_seed(preset.seed)
    return space.build_network(ops, **space.network_shape(preset.C, preset.N, CIFAR10_CLASSES))


class ProxyEvaluator(Evaluator):
    """The representation-similarity proxy of one (space, preset, batch), on one device."""

    kind = "rsnas"

    def __init__(
        self, space: str | Space, preset: Preset, batch: ProxyBatch, cache: ScoreCache | None = None,
        device: str = "cpu", workers: int = 1,
    ) -> None:  # fmt: skip
        super().__init__(space, cache)
        self.preset = preset
        self.workers = max(1, int(workers))
        self._pool: Any = None
        self._source_batch = batch
        self.device = torch.device(device)
        deterministic_backend(str(self.device))
        # channels_last: 1.6-1.8x faster convolutions on CPU (oneDNN) for these small-channel networks.
        self.batch = batch.to(self.device, memory_format=torch.channels_last)
        self.batch_checksum = batch.checksum
        self.reference_checksum = batch.reference_checksum
        self.platform = platform(str(self.device))
        self._identity = {
            "kind": self.kind,
            "space": self.space.name,
            "preset": preset.digest,
            "batch": self.batch_checksum,
            "reference": self.reference_checksum,
            "seed": preset.seed,
            "engine": ENGINE,
            "platform": self.platform,
        }

    @property
    def name(self) -> str:
        """`rsnas:<preset name>`."""
        return f"rsnas:{self.preset.name}"

    def identity(self) -> dict[str, Any]:
        """Proxy kind, space, preset digest, batch and reference checksums, seed, engine and platform."""
        return dict(self._identity)

    def compute_many(self, representatives: Sequence[np.ndarray]) -> list[ProxyResult]:
        """Score representatives, in `workers` processes when there are several (same scores: threads are pinned)."""
        if self.workers == 1 or len(representatives) < 2:
            return [self.compute(ops) for ops in representatives]
        if self._pool is None:
            context = multiprocessing.get_context("spawn")
            args = (self.space.name, self.preset, self._source_batch, str(self.device))
            self._pool = context.Pool(self.workers, initializer=_start_worker, initargs=args)
            atexit.register(self._pool.terminate)
        return self._pool.map(_compute_in_worker, [np.asarray(ops) for ops in representatives], chunksize=1)

    def compute(self, representative: np.ndarray) -> ProxyResult:
        """Train the class representative on the batch and score it (the worst score for a degenerate cell)."""
        if self.space.is_degenerate(representative):
            return worst_result(STATUS_DEGENERATE, len(self.preset.taps))
        with pinned_threads():
            model = build_candidate(self.space, representative, self.preset)
            model = model.to(self.device, memory_format=torch.channels_last)
            return train_and_score(model, self.batch, self.preset)





_WORKER: dict[str, ProxyEvaluator] = {}


def _start_worker(space: str, preset: Preset, batch: ProxyBatch, device: str) -> None:
    _WORKER["evaluator"] = ProxyEvaluator(space, preset, batch, None, device)


def _compute_in_worker(representative: np.ndarray) -> ProxyResult:
    return _WORKER["evaluator"].compute(representative)


def evaluator_from_files(
    space: str, preset: Preset, batch_path: str, cache_dir: str | None, device: str = "cpu"
) -> ProxyEvaluator:
    """A ProxyEvaluator built from files only (picklable arguments, for worker processes)."""
    cache = ScoreCache(cache_dir) if cache_dir else None
    return ProxyEvaluator(space, preset, ProxyBatch.load(batch_path), cache, device)
__all__ = ["CIFAR10_CLASSES", "ENGINE", "ProxyEvaluator", "build_candidate", "evaluator_from_files"]

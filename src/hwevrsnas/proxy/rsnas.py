"""The representation-similarity proxy of HW-EvRSNAS as an Evaluator (METHOD.md section 2).

Each class representative is built from a fresh seeded initialisation (`torch.manual_seed(seed)`
before the network is constructed) and trained on the proxy batch, with torch's intra-op threads
pinned (proxy.determinism), so its score depends only on the identity below and the class.
Degenerate cells (output independent of the input) get the worst score without training.

Two engines train the networks: `single` (trainer.train_and_score, one network at a time) and, for
NB201, `stacked` (proxy.engine, `stack` networks in one set of tensor operations). On the CPU both
give the same bits (tests/test_engine.py), the single one faster (scripts/bench_proxy.py), so a
CPU score's identity names `single` whichever ran; on a GPU they are different float orders and the
identity names the engine. `auto` picks `single` on the CPU and `stacked` on a GPU, where a class is
always trained in its own block of `stack` consecutive classes (so the identity names the stack size
too) and a request for one class trains its whole block.
"""

from __future__ import annotations

import atexit
import multiprocessing
from typing import Any, Sequence

import numpy as np
import torch

from hwevrsnas.errors import InputError
from hwevrsnas.proxy.batch import ProxyBatch
from hwevrsnas.proxy.cache import ScoreCache, cache_key
from hwevrsnas.proxy.determinism import deterministic_backend, pinned_threads, platform
from hwevrsnas.proxy.evaluator import Evaluator
from hwevrsnas.proxy.presets import Preset
from hwevrsnas.proxy.result import STATUS_DEGENERATE, ProxyResult, worst_result
from hwevrsnas.proxy.trainer import train_and_score
from hwevrsnas.spaces import Space

# The candidate's head matches the CIFAR-10 reference it is compared with, whatever the search's dataset.
CIFAR10_CLASSES = 10
ENGINES = ("auto", "single", "stacked")
DEFAULT_STACK = 32


def build_candidate(space: Space, ops: np.ndarray, preset: Preset) -> torch.nn.Module:
    """The proxy's network of one architecture, freshly initialised from the preset's seed."""
    torch.manual_seed(preset.seed)
    return space.build_network(ops, **space.network_shape(preset.C, preset.N, CIFAR10_CLASSES))


def resolve_engine(engine: str, space: Space, device: torch.device) -> str:
    """The engine that runs: `auto` is `stacked` for NB201 on a GPU, else `single`; only NB201 has a stacked engine."""
    if engine not in ENGINES:
        raise InputError(f"unknown engine {engine!r}; valid engines: {', '.join(ENGINES)}")
    if engine == "auto":
        engine = "stacked" if device.type == "cuda" else "single"
    if engine == "stacked" and space.name != "nb201":
        raise InputError(f"the stacked engine exists for nb201 only, not {space.name!r}; use --engine single")
    return engine


class ProxyEvaluator(Evaluator):
    """The representation-similarity proxy of one (space, preset, batch), on one device."""

    kind = "rsnas"

    def __init__(
        self, space: str | Space, preset: Preset, batch: ProxyBatch, cache: ScoreCache | None = None,
        device: str = "cpu", workers: int = 1, engine: str = "auto", stack: int = DEFAULT_STACK,
    ) -> None:  # fmt: skip
        super().__init__(space, cache)
        self.preset = preset
        self.workers = max(1, int(workers))
        self.stack = max(1, int(stack))
        self._pool: Any = None
        self._source_batch = batch
        self.device = torch.device(device)
        self.engine = resolve_engine(engine, self.space, self.device)
        # On a GPU a stacked score depends on its companions (cuDNN picks kernels by shape), so a class is
        # always trained with the same companions: the `stack`-sized block of Space.classes() that holds it.
        # Its score is then a function of the class, whichever classes were asked for and in what order.
        self.aligned = self.engine == "stacked" and self.device.type != "cpu"
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
            "engine": "single" if self.device.type == "cpu" else self.engine,
            "platform": self.platform,
        }
        if self.aligned:
            self._identity["stack"] = self.stack

    @property
    def name(self) -> str:
        """`rsnas:<preset name>`."""
        return f"rsnas:{self.preset.name}"

    def identity(self) -> dict[str, Any]:
        """Proxy kind, space, preset digest, batch and reference checksums, seed, engine and platform."""
        return dict(self._identity)

    def compute_many(self, representatives: Sequence[np.ndarray]) -> list[ProxyResult]:
        """Score representatives: in stacks of `stack` with the stacked engine, in `workers` processes when asked."""
        representatives = [np.asarray(ops) for ops in representatives]
        if self.aligned:
            return self._compute_aligned(representatives)
        size = self.stack if self.engine == "stacked" else 1
        chunks = [representatives[i : i + size] for i in range(0, len(representatives), size)]
        return [result for part in self._compute_chunks(chunks) for result in part]

    def aligned_stacks(self, representatives: Sequence[np.ndarray]) -> list[np.ndarray]:
        """The blocks of `stack` consecutive classes (Space.classes()) that hold the representatives, in class order."""
        classes = self.space.classes()
        blocks = sorted({self.space.class_position(ops) // self.stack for ops in representatives})
        return [classes[block * self.stack : (block + 1) * self.stack] for block in blocks]

    def _compute_aligned(self, representatives: list[np.ndarray]) -> list[ProxyResult]:
        stacks = self.aligned_stacks(representatives)
        by_class = {
            self.space.canonical_key(ops): result
            for stack, results in zip(stacks, self._compute_chunks(stacks))
            for ops, result in zip(stack, results)
        }
        wanted = [self.space.canonical_key(ops) for ops in representatives]
        identity = self.identity()
        # The companions were trained too: keep their scores rather than train them again when asked.
        for canonical in by_class.keys() - set(wanted):
            self.remember(cache_key(**identity, arch=canonical), by_class[canonical])
        return [by_class[canonical] for canonical in wanted]

    def _compute_chunks(self, chunks: Sequence[Sequence[np.ndarray]]) -> list[list[ProxyResult]]:
        if self.workers == 1 or len(chunks) < 2:
            return [self.compute_chunk(chunk) for chunk in chunks]
        if self._pool is None:
            context = multiprocessing.get_context("spawn")
            args = (self.space.name, self.preset, self._source_batch, str(self.device), self.engine, self.stack)
            self._pool = context.Pool(self.workers, initializer=_start_worker, initargs=args)
            atexit.register(self._pool.terminate)
        return self._pool.map(_compute_in_worker, chunks, chunksize=1)

    def compute_chunk(self, representatives: Sequence[np.ndarray]) -> list[ProxyResult]:
        """Score a few representatives together (stacked engine) or one after another (single)."""
        if self.engine == "single":
            return [self.compute(ops) for ops in representatives]
        from hwevrsnas.proxy.engine import train_and_score_many

        results: list[ProxyResult | None] = [None] * len(representatives)
        trained = [i for i, ops in enumerate(representatives) if not self.space.is_degenerate(ops)]
        for i in set(range(len(representatives))) - set(trained):
            results[i] = worst_result(STATUS_DEGENERATE, len(self.preset.taps))
        if trained:
            with pinned_threads():
                networks = [self._network(representatives[i]) for i in trained]
                for i, result in zip(trained, train_and_score_many(networks, self.batch, self.preset)):
                    results[i] = result
        return results  # type: ignore[return-value]

    def _network(self, ops: np.ndarray) -> torch.nn.Module:
        return build_candidate(self.space, ops, self.preset).to(self.device, memory_format=torch.channels_last)

    def compute(self, representative: np.ndarray) -> ProxyResult:
        """Train the class representative on the batch and score it (the worst score for a degenerate cell)."""
        if self.engine == "stacked":
            return self.compute_many([representative])[0]
        if self.space.is_degenerate(representative):
            return worst_result(STATUS_DEGENERATE, len(self.preset.taps))
        with pinned_threads():
            return train_and_score(self._network(representative), self.batch, self.preset)


_WORKER: dict[str, ProxyEvaluator] = {}


def _start_worker(space: str, preset: Preset, batch: ProxyBatch, device: str, engine: str, stack: int) -> None:
    _WORKER["evaluator"] = ProxyEvaluator(space, preset, batch, None, device, engine=engine, stack=stack)


def _compute_in_worker(chunk: list[np.ndarray]) -> list[ProxyResult]:
    return _WORKER["evaluator"].compute_chunk(chunk)


def evaluator_from_files(
    space: str, preset: Preset, batch_path: str, cache_dir: str | None, device: str = "cpu"
) -> ProxyEvaluator:
    """A ProxyEvaluator built from files only (picklable arguments, for worker processes)."""
    cache = ScoreCache(cache_dir) if cache_dir else None
    return ProxyEvaluator(space, preset, ProxyBatch.load(batch_path), cache, device)


__all__ = ["CIFAR10_CLASSES", "ENGINES", "ProxyEvaluator", "build_candidate", "evaluator_from_files", "resolve_engine"]

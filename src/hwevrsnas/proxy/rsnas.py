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

A float64 preset's score is the same, to its last few bits, whatever the engine, device, processor or kernels
(METHOD.md, "Reproducibility of a score"; tests/test_kernels.py measures it), and is recorded to
RECORD_DECIMALS decimals, so the bytes are the same too: its identity leaves the engine and platform out,
so every machine shares one cache and one table, and keeps them as provenance.
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
from hwevrsnas.proxy.result import STATUS_DEGENERATE, ProxyResult, of_record, worst_result
from hwevrsnas.proxy.trainer import train_and_score
from hwevrsnas.spaces import Space

# The candidate's head matches the CIFAR-10 reference it is compared with, whatever the search's dataset.
CIFAR10_CLASSES = 10
ENGINES = ("auto", "single", "stacked")
# The decimals a float64 score is recorded with (proxy.result.of_record).
RECORD_DECIMALS = 10
DEFAULT_STACK = 32


def build_candidate(space: Space, ops: np.ndarray, preset: Preset) -> torch.nn.Module:
    """The proxy's network of one architecture, freshly initialised from the preset's seed.

    A float32 preset keeps PyTorch's own initialisation. A float64 preset draws the same distributions
    from numpy (`portable_init`): torch's vectorised `uniform_` rounds its scaling differently under
    different CPU kernels (with and without FMA), and ten steps turn a last-bit change of the initial weights
    into a visible change of a quick score, in float64 too (METHOD.md, "Reproducibility of a score").
    """
    torch.manual_seed(preset.seed)
    network = space.build_network(ops, **space.network_shape(preset.C, preset.N, CIFAR10_CLASSES))
    if preset.float64:
        network = network.double()
        portable_init(network, preset.seed)
    return network


def portable_init(network: torch.nn.Module, seed: int) -> None:
    """PyTorch's default initialisation, drawn so that every machine gets the same float64 bits.

    Convolutions and linear layers: weight and bias uniform on +-1/sqrt(fan_in) (what kaiming_uniform_
    with a = sqrt(5) and the default bias init give); batch norm: weight 1, bias 0. Each value is
    (2u - 1) * bound with u a 53-bit uniform from numpy's PCG64: 2u - 1 is exact and the product is
    one correctly rounded multiplication, so no vector unit or fused multiply-add can change a bit.
    Parameters are drawn in `named_parameters` order; any other layer with parameters is an error.
    """
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for module in network.modules():
            own = dict(module.named_parameters(recurse=False))
            if not own:
                continue
            if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
                bound = 1.0 / np.sqrt(np.float64(module.weight[0].numel()))
                for name, parameter in own.items():
                    draw = (2.0 * rng.random(tuple(parameter.shape)) - 1.0) * bound
                    parameter.copy_(torch.from_numpy(draw))
            elif isinstance(module, torch.nn.BatchNorm2d):
                module.weight.fill_(1.0)
                module.bias.zero_()
            else:
                raise TypeError(f"portable_init: no initialisation defined for {type(module).__name__}")


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
        built = str(batch.dtype).removeprefix("torch.")
        if built != preset.dtype:
            raise InputError(f"preset {preset.name!r} trains in {preset.dtype}, but its proxy batch was built in "
                             f"{built}; delete the batch file and rerun to rebuild it")  # fmt: skip
        self.batch_checksum = batch.identity_checksum
        self.reference_checksum = batch.reference_checksum
        self.platform = platform(str(self.device))
        engine_name = "single" if self.device.type == "cpu" else self.engine
        self._identity = {
            "kind": self.kind,
            "space": self.space.name,
            "preset": preset.digest,
            "batch": self.batch_checksum,
            "reference": self.reference_checksum,
            "seed": preset.seed,
        }
        self._provenance = {"engine": engine_name, "platform": self.platform}
        if self.aligned:
            self._provenance["stack"] = self.stack
        if not preset.float64:
            self._identity.update(self._provenance)

    @property
    def name(self) -> str:
        """`rsnas:<preset name>`."""
        return f"rsnas:{self.preset.name}"

    def identity(self) -> dict[str, Any]:
        """Proxy kind, space, preset digest, batch and reference checksums, seed; engine and platform in float32."""
        return dict(self._identity)

    def provenance(self) -> dict[str, Any]:
        """Where and how this process computes: engine, platform (and stack size on a GPU)."""
        return dict(self._provenance)

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
                    results[i] = self._of_record(result)
        return results  # type: ignore[return-value]

    def _of_record(self, result: ProxyResult) -> ProxyResult:
        return of_record(result, RECORD_DECIMALS) if self.preset.float64 else result

    def _network(self, ops: np.ndarray) -> torch.nn.Module:
        network = build_candidate(self.space, ops, self.preset)
        return network.to(self.device, self.batch.dtype, memory_format=torch.channels_last)

    def compute(self, representative: np.ndarray) -> ProxyResult:
        """Train the class representative on the batch and score it (the worst score for a degenerate cell)."""
        if self.engine == "stacked":
            return self.compute_many([representative])[0]
        if self.space.is_degenerate(representative):
            return worst_result(STATUS_DEGENERATE, len(self.preset.taps))
        with pinned_threads():
            return self._of_record(train_and_score(self._network(representative), self.batch, self.preset))


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

"""Proxy evaluators: score an architecture of a space once, through the shared cache.

An evaluator maps op indices to a ProxyResult. Scores are cached under a key made of the space,
the canonical architecture (for NB201 its isomorphism key, so twins share one evaluation), the
preset's digest, the proxy batch's checksum (which fixes the reference model and images) and the
seed; the in-process memo and the on-disk ScoreCache both use it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import nn

from hwevrsnas.proxy.batch import ProxyBatch, build_proxy_batch
from hwevrsnas.proxy.cache import ScoreCache, cache_key
from hwevrsnas.proxy.presets import Preset
from hwevrsnas.proxy.trainer import STATUS_DEGENERATE, ProxyResult, train_and_score, worst_result
from hwevrsnas.spaces import fbnet as fbnet_space
from hwevrsnas.spaces import nb201 as nb201_space

SPACES = ("nb201", "fbnet")
CIFAR10_CLASSES = 10


class Evaluator(Protocol):
    """What the search needs: a name, a space and a score for an architecture."""

    name: str
    space: str

    def evaluate(self, ops: np.ndarray) -> ProxyResult:
        """Score one architecture (op indices)."""


def canonical_arch(space: str, ops: np.ndarray) -> str:
    """The cache identity of an architecture: NB201 isomorphism key, or the FBNet op string."""
    if space == "nb201":
        return nb201_space.canonical_key(ops)
    if space == "fbnet":
        return fbnet_space.arch_str(ops)
    raise KeyError(f"unknown space {space!r}; valid spaces: {', '.join(SPACES)}")


def build_network(space: str, ops: np.ndarray, preset: Preset) -> nn.Module:
    """The candidate network for the proxy (a CIFAR-10 head, matching the reference)."""
    if space == "nb201":
        return nb201_space.NB201Network(ops, C=preset.C, N=preset.N, num_classes=CIFAR10_CLASSES)
    if space == "fbnet":
        return fbnet_space.FBNetNetwork(ops, num_classes=CIFAR10_CLASSES)
    raise KeyError(f"unknown space {space!r}; valid spaces: {', '.join(SPACES)}")


def is_degenerate(space: str, ops: np.ndarray) -> bool:
    """Whether the architecture computes a constant (no path from input to output)."""
    return space == "nb201" and nb201_space.is_degenerate(ops)


class ProxyEvaluator:
    """The representation-similarity proxy of one (space, preset, batch), with memo and disk cache."""

    def __init__(
        self,
        space: str,
        preset: Preset,
        batch: ProxyBatch,
        cache: ScoreCache | None = None,
        device: str = "cpu",
    ) -> None:
        if space not in SPACES:
            raise KeyError(f"unknown space {space!r}; valid spaces: {', '.join(SPACES)}")
        self.name = f"rsnas:{preset.name}"
        self.space = space
        self.preset = preset
        self.device = torch.device(device)
        # channels_last: 1.6-1.8x faster convolutions on CPU (oneDNN) for these small-channel networks;
        # the same protocol, only the float summation order differs (see scripts/bench_proxy.py).
        self.batch = batch.to(self.device, memory_format=torch.channels_last)
        self.batch_checksum = batch.checksum
        self.cache = cache
        self.memo: dict[str, ProxyResult] = {}
        self.n_degenerate = 0

    def key(self, ops: np.ndarray) -> str:
        """The cache key of an architecture under this evaluator."""
        return cache_key(
            kind="rsnas",
            space=self.space,
            arch=canonical_arch(self.space, ops),
            preset=self.preset.digest,
            batch=self.batch_checksum,
            seed=self.preset.seed,
        )

    def evaluate(self, ops: np.ndarray) -> ProxyResult:
        """Score one architecture: memo, then disk cache, then single-batch training."""
        key = self.key(ops)
        if key in self.memo:
            return _as_cached(self.memo[key])
        stored = self.cache.get(key) if self.cache is not None else None
        if stored is not None:
            result = ProxyResult.from_json(stored)
        else:
            result = self._compute(ops)
            if self.cache is not None:
                self.cache.put(key, result.to_json())
        self.memo[key] = result
        return result

    def _compute(self, ops: np.ndarray) -> ProxyResult:
        if is_degenerate(self.space, ops):
            self.n_degenerate += 1
            return worst_result(STATUS_DEGENERATE, len(self.preset.taps))
        torch.manual_seed(self.preset.seed)
        model = build_network(self.space, ops, self.preset).to(self.device, memory_format=torch.channels_last)
        return train_and_score(model, self.batch, self.preset)


def _as_cached(result: ProxyResult) -> ProxyResult:
    return ProxyResult(**{**result.__dict__, "cached": True})


def reference_checkpoint(sources: Path, reference: str) -> Path:
    """The pinned checkpoint file of a reference model (e.g. 'resnet20') under a sources directory."""
    from hwevrsnas.tables.sources import load_manifest

    names = [key for key in load_manifest() if Path(key).name.startswith(f"{reference}-")]
    if not names:
        valid = sorted(Path(k).name.split("-")[0] for k in load_manifest() if k.endswith(".th"))
        raise KeyError(f"unknown reference model {reference!r}; valid: {', '.join(valid)}")
    return Path(sources) / names[0]


def load_or_build_batch(
    preset: Preset, sources: Path, batch_dir: Path, return_path: bool = False
) -> ProxyBatch | Path:
    """The preset's proxy batch (or its file), built once from the sources and kept in batch_dir for every process."""
    digest = cache_key(**preset.batch_fields())[:16]
    path = Path(batch_dir) / f"batch-{preset.reference}-{digest}.pt"
    if not path.is_file():
        checkpoint = reference_checkpoint(sources, preset.reference)
        make_proxy_batch(preset, Path(sources) / "CIFAR-10-images", checkpoint).save(path)
    return path if return_path else ProxyBatch.load(path)


def evaluator_from_files(
    space: str, preset: Preset, batch_path: Path, cache_dir: Path | None, device: str = "cpu"
) -> ProxyEvaluator:
    """A ProxyEvaluator built from files only (picklable arguments, for worker processes)."""
    cache = ScoreCache(cache_dir) if cache_dir else None
    return ProxyEvaluator(space, preset, ProxyBatch.load(batch_path), cache, device)


def make_proxy_batch(preset: Preset, cifar_root: Path, checkpoint: Path) -> ProxyBatch:
    """Build the preset's proxy batch from CIFAR-10 training images and the reference checkpoint."""
    from hwevrsnas.proxy.data import load_cifar10
    from hwevrsnas.proxy.reference import load_reference

    depth = int(preset.reference.removeprefix("resnet"))
    reference = load_reference(depth, checkpoint)
    images, labels = load_cifar10(cifar_root, "train")
    batch = build_proxy_batch(
        images, labels, reference, preset.pool_size, preset.batch_size, preset.seed, preset.class_balanced
    )
    batch.meta.update(reference=preset.reference, checkpoint=Path(checkpoint).name)
    return batch

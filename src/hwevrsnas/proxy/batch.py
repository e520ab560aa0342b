"""The proxy batch: one fixed set of training images and the reference model's tap Grams, built once per search.

Protocol (METHOD.md section 2): draw `pool_size` augmented training images with a fixed seed, run
the reference model, keep the `batch_size` with the lowest reference cross-entropy. In float32 many
pool images have a cross-entropy of exactly 0 (84 of 512 in an early probe), so "the lowest" would
be decided by sort order; here the cross-entropy is computed in float64 from the float32 logits,
which separates them, and any remaining tie goes to the earlier position in the seeded pool draw.
With `class_balanced`, each class contributes its floor(batch_size / 10) lowest and the rest of the
batch is filled with the lowest remaining ones.

The batch is built with torch's intra-op threads pinned (proxy.determinism), so its tensors are the
same bytes however many threads the caller uses; its file records the sha256 of those tensors
(`checksum`) and of the reference checkpoint, and `load` refuses a file whose tensors do not match.

A float64 preset's batch is built in float64 (the reference model too), so that its reference Grams
differ between kernel sets only in the last bits, as its scores do. Those bits still change the
tensors' bytes, so a float64 score names its batch by `input_checksum` (images and labels: pixels
and arithmetic that every machine rounds alike), not by `checksum`.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from hwevrsnas.atomic import write_bytes
from hwevrsnas.errors import DamagedFile, MissingFile
from hwevrsnas.proxy.cka import centered_gram
from hwevrsnas.proxy.data import augment, to_tensor
from hwevrsnas.proxy.determinism import pinned_threads

REBUILD = "delete it and rerun (it is rebuilt from the sources), or in the workflow `snakemake --forcerun proxy_batch`"


@dataclass
class ProxyBatch:
    """The images, labels and reference centred Grams that every candidate of a search is trained on."""

    images: Tensor
    labels: Tensor
    ref_grams: list[Tensor]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def checksum(self) -> str:
        """sha256 over the tensors' bytes: what a cached score depends on."""
        digest = hashlib.sha256()
        for tensor in (self.images, self.labels, *self.ref_grams):
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return digest.hexdigest()

    @property
    def input_checksum(self) -> str:
        """sha256 over the images' and labels' bytes: the batch's identity where the Grams' last bits may vary."""
        digest = hashlib.sha256()
        for tensor in (self.images, self.labels):
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return digest.hexdigest()

    @property
    def identity_checksum(self) -> str:
        """The checksum a score names its batch by: `input_checksum` for a float64 batch, else `checksum`."""
        return self.input_checksum if self.dtype == torch.float64 else self.checksum

    @property
    def dtype(self) -> torch.dtype:
        """The floating type the batch was built in, which the candidates train in."""
        return self.images.dtype

    @property
    def reference_checksum(self) -> str | None:
        """sha256 of the reference checkpoint the Grams came from (None for a batch built from a model in memory)."""
        return self.meta.get("reference_sha256")

    def save(self, path: Path) -> None:
        """Write the batch atomically (torch tensors plus JSON metadata holding the tensors' checksum)."""
        meta = {**self.meta, "checksum": self.checksum}
        buffer = io.BytesIO()
        torch.save(
            {"images": self.images, "labels": self.labels, "ref_grams": self.ref_grams, "meta": json.dumps(meta)},
            buffer,
        )
        write_bytes(path, buffer.getvalue())

    @classmethod
    def load(cls, path: Path) -> "ProxyBatch":
        """Read a batch written by `save`; DamagedFile when it is unreadable or its tensors fail the checksum."""
        path = Path(path)
        if not path.is_file():
            raise MissingFile(f"proxy batch {path} not found; build it with `hwevrsnas proxy` or the workflow")
        try:
            data = torch.load(path, weights_only=True)
            batch = cls(data["images"], data["labels"], list(data["ref_grams"]), json.loads(data["meta"]))
        except (EOFError, RuntimeError, KeyError, TypeError, ValueError, OSError) as err:
            raise DamagedFile(path, f"unreadable proxy batch ({type(err).__name__}: {err})", REBUILD) from err
        expected, actual = batch.meta.pop("checksum", None), batch.checksum
        if expected != actual:
            raise DamagedFile(path, f"content checksum mismatch: expected {expected}, got {actual}", REBUILD)
        return batch

    def to(self, device: torch.device | str, memory_format: torch.memory_format = torch.contiguous_format) -> "ProxyBatch":
        """The same batch on another device, its images in `memory_format`."""
        return ProxyBatch(
            self.images.to(device, memory_format=memory_format),
            self.labels.to(device),
            [g.to(device) for g in self.ref_grams],
            self.meta,
        )


def select_lowest(losses: np.ndarray, labels: np.ndarray, batch_size: int, class_balanced: bool) -> np.ndarray:
    """Positions of the selected images: lowest loss first, ties by position; optionally class-balanced."""
    order = np.lexsort((np.arange(len(losses)), losses))
    if not class_balanced:
        return np.sort(order[:batch_size])
    per_class = batch_size // len(np.unique(labels))
    chosen = [order[labels[order] == c][:per_class] for c in np.unique(labels)]
    taken = np.concatenate(chosen)
    rest = order[~np.isin(order, taken)][: batch_size - len(taken)]
    return np.sort(np.concatenate([taken, rest]))


def build_proxy_batch(
    images: np.ndarray,
    labels: np.ndarray,
    reference: nn.Module,
    pool_size: int,
    batch_size: int,
    seed: int,
    class_balanced: bool = False,
    dtype: torch.dtype = torch.float32,
) -> ProxyBatch:
    """Draw the seeded augmented pool, score it with the reference, keep the lowest-loss batch with its tap Grams.

    Everything from the reference's forward pass on is computed in `dtype` (the preset's).
    """
    with pinned_threads():
        return _build(images, labels, reference, pool_size, batch_size, seed, class_balanced, dtype)


def _build(
    images: np.ndarray, labels: np.ndarray, reference: nn.Module, pool_size: int, batch_size: int, seed: int,
    class_balanced: bool, dtype: torch.dtype,
) -> ProxyBatch:
    if pool_size > len(images):
        raise ValueError(f"pool_size {pool_size} exceeds the {len(images)} training images available")
    rng = np.random.default_rng(seed)
    pool_index = np.sort(rng.choice(len(images), size=pool_size, replace=False))
    pool = to_tensor(augment(images[pool_index], rng)).to(dtype)
    pool_labels = torch.as_tensor(labels[pool_index], dtype=torch.int64)
    reference = reference.to(dtype)
    reference.eval()
    with torch.inference_mode():
        logits = reference(pool).double()
        losses = torch.nn.functional.cross_entropy(logits, pool_labels, reduction="none").numpy()
    keep = select_lowest(losses, labels[pool_index], batch_size, class_balanced)
    batch_images = pool[keep].clone()
    with torch.inference_mode():
        _, taps = reference.forward_with_taps(batch_images)
        grams = [centered_gram(t).clone() for t in taps]
    meta = {
        "pool_size": pool_size,
        "batch_size": batch_size,
        "seed": seed,
        "class_balanced": class_balanced,
        "train_indices": pool_index[keep].tolist(),
        "reference_losses": losses[keep].tolist(),
        "tie_break": "float64 cross-entropy, then pool position",
        "dtype": str(dtype).removeprefix("torch."),
    }
    return ProxyBatch(batch_images, pool_labels[keep].clone(), grams, meta)


def reference_checkpoint(sources: Path, reference: str) -> Path:
    """The pinned checkpoint file of a reference model (e.g. 'resnet20') under a sources directory."""
    from hwevrsnas.errors import UnknownName
    from hwevrsnas.tables.sources import load_manifest

    names = [key for key in load_manifest() if Path(key).name.startswith(f"{reference}-")]
    if not names:
        valid = sorted(Path(k).name.split("-")[0] for k in load_manifest() if k.endswith(".th"))
        raise UnknownName(f"unknown reference model {reference!r}; valid: {', '.join(valid)}")
    return Path(sources) / names[0]


def make_proxy_batch(preset: Any, sources: Path) -> ProxyBatch:
    """Build a preset's proxy batch from the fetched sources (CIFAR-10 training images, the reference checkpoint)."""
    from hwevrsnas.proxy.data import IMAGE_FOLDER, load_cifar10
    from hwevrsnas.proxy.reference import load_reference
    from hwevrsnas.tables.sources import load_manifest, require_sources

    checkpoint = reference_checkpoint(sources, preset.reference)
    require_sources(sources, [IMAGE_FOLDER, str(checkpoint.relative_to(sources))])
    depth = int(preset.reference.removeprefix("resnet"))
    reference = load_reference(depth, checkpoint)
    images, labels = load_cifar10(Path(sources) / IMAGE_FOLDER, "train")
    batch = build_proxy_batch(
        images, labels, reference, preset.pool_size, preset.batch_size, preset.seed, preset.class_balanced,
        getattr(torch, preset.dtype),
    )
    pinned = load_manifest()[str(checkpoint.relative_to(sources))].sha256
    batch.meta.update(reference=preset.reference, checkpoint=checkpoint.name, reference_sha256=pinned)
    return batch


def batch_path(preset: Any, batch_dir: Path) -> Path:
    """Where a preset's batch is kept in a batch folder (Preset.batch_file_name)."""
    return Path(batch_dir) / preset.batch_file_name


def load_or_build_batch(preset: Any, sources: Path, batch_dir: Path | None) -> ProxyBatch:
    """The preset's proxy batch: read from batch_dir (checked) when there, else built and, with a batch_dir, kept."""
    if not batch_dir:
        return make_proxy_batch(preset, Path(sources))
    path = batch_path(preset, Path(batch_dir))
    if path.is_file():
        return ProxyBatch.load(path)
    batch = make_proxy_batch(preset, Path(sources))
    batch.save(path)
    return batch

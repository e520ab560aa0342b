"""The proxy batch: one fixed set of training images and the reference model's tap Grams, built once per search.

Protocol (METHOD.md section 2): draw `pool_size` augmented training images with a fixed seed, run
the reference model, keep the `batch_size` with the lowest reference cross-entropy. In float32 many
pool images have a cross-entropy of exactly 0 (84 of 512 in an early probe), so "the lowest" would
be decided by sort order; here the cross-entropy is computed in float64 from the float32 logits,
which separates them, and any remaining tie goes to the earlier position in the seeded pool draw.
With `class_balanced`, each class contributes its floor(batch_size / 10) lowest and the rest of the
batch is filled with the lowest remaining ones.
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
from hwevrsnas.proxy.cka import centered_gram
from hwevrsnas.proxy.data import augment, to_tensor


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

    def save(self, path: Path) -> None:
        """Write the batch atomically (torch tensors plus JSON metadata)."""
        buffer = io.BytesIO()
        torch.save(
            {"images": self.images, "labels": self.labels, "ref_grams": self.ref_grams, "meta": json.dumps(self.meta)},
            buffer,
        )
        write_bytes(path, buffer.getvalue())

    @classmethod
    def load(cls, path: Path) -> "ProxyBatch":
        """Read a batch written by `save`."""
        data = torch.load(Path(path), weights_only=True)
        return cls(data["images"], data["labels"], list(data["ref_grams"]), json.loads(data["meta"]))

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
) -> ProxyBatch:
    """Draw the seeded augmented pool, score it with the reference, keep the lowest-loss batch with its tap Grams."""
    if pool_size > len(images):
        raise ValueError(f"pool_size {pool_size} exceeds the {len(images)} training images available")
    rng = np.random.default_rng(seed)
    pool_index = np.sort(rng.choice(len(images), size=pool_size, replace=False))
    pool = to_tensor(augment(images[pool_index], rng))
    pool_labels = torch.as_tensor(labels[pool_index], dtype=torch.int64)
    reference.eval()
    with torch.inference_mode():
        logits = reference(pool).double()
        losses = torch.nn.functional.cross_entropy(logits, pool_labels, reduction="none").numpy()
    keep = select_lowest(losses, labels[pool_index], batch_size, class_balanced)
    batch_images = pool[keep].clone()
    with torch.inference_mode():
        _, taps = reference.forward_with_taps(batch_images)
        grams = [centered_gram(t.float()).clone() for t in taps]
    meta = {
        "pool_size": pool_size,
        "batch_size": batch_size,
        "seed": seed,
        "class_balanced": class_balanced,
        "train_indices": pool_index[keep].tolist(),
        "reference_losses": losses[keep].tolist(),
        "tie_break": "float64 cross-entropy, then pool position",
    }
    return ProxyBatch(batch_images, pool_labels[keep].clone(), grams, meta)

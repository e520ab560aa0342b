"""What every search space provides, and the operators spaces with independent genes share.

A space encodes an architecture as a 1-D uint8 array of op indices, one gene per edge or layer,
every gene taking any of the space's ops. Subclasses name the ops and genes and say which
architectures are the same network (`canonical_key`), which member of such a class is scored
(`representative`), and how to build the torch network (imported only when asked for, so that
`hwevrsnas.spaces` stays free of torch).
"""

from __future__ import annotations

import functools
import importlib
from typing import Any, ClassVar, Sequence

import numpy as np

from hwevrsnas.errors import InputError


class ArchError(InputError):
    """A malformed architecture (string or op array) of some space."""


def uniform_sample(rng: np.random.Generator, n: int, num_genes: int, num_ops: int) -> np.ndarray:
    """n architectures with every gene drawn uniformly among num_ops ops, as an (n, num_genes) uint8 array."""
    return rng.integers(0, num_ops, size=(n, num_genes), dtype=np.uint8)


def resample_mutation(ops: np.ndarray, rng: np.random.Generator, p: float, num_ops: int) -> np.ndarray:
    """Resample each gene with probability p uniformly among all ops, so a hit gene keeps its op 1 time in num_ops."""
    hit = rng.random(ops.shape) < p
    fresh = rng.integers(0, num_ops, size=ops.shape, dtype=np.uint8)
    return np.where(hit, fresh, ops).astype(np.uint8, copy=False)


def uniform_crossover(a: np.ndarray, b: np.ndarray, rng: np.random.Generator, p: float) -> np.ndarray:
    """Each gene comes from b with probability p, else from a."""
    # Two parents of one shape (every GA child) need no broadcasting rules.
    shape = a.shape if a.shape == b.shape else np.broadcast_shapes(a.shape, b.shape)
    return np.where(rng.random(shape) < p, b, a).astype(np.uint8, copy=False)


# numpy's one uint8 dtype: op arrays are told by identity, the cheapest test (an equal dtype takes the checked path).
UINT8 = np.dtype(np.uint8)


@functools.cache
def valid_op_bytes(num_ops: int) -> bytes:
    """The bytes of the valid uint8 op indices 0..num_ops-1: op indices whose bytes `translate` deletes are valid."""
    return bytes(range(min(num_ops, 256)))


def check_ops(ops: np.ndarray | Sequence[int], num_genes: int, num_ops: int, space: str) -> np.ndarray:
    """Op indices of shape (..., num_genes) with values in 0..num_ops-1, as uint8; ArchError otherwise."""
    array = np.asarray(ops)
    # Already valid op indices (every GA individual): the fast path, taken several times for every candidate of a
    # search, so it checks the bytes rather than reducing the array.
    if (
        array.dtype is UINT8 and array.ndim and array.shape[-1] == num_genes
        and not array.tobytes().translate(None, valid_op_bytes(num_ops))
    ):  # fmt: skip
        return array.copy()
    if array.ndim == 0 or array.shape[-1] != num_genes:
        raise ArchError(f"an {space} architecture has {num_genes} op indices, got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.integer):
        raise ArchError(f"op indices must be integers, got dtype {array.dtype}")
    if array.size and (array.min() < 0 or array.max() >= num_ops):
        raise ArchError(f"op indices must lie in 0..{num_ops - 1}, got {array.min()}..{array.max()}")
    return array.astype(np.uint8)


class Space:
    """A search space: encoding, GA operators, isomorphism, and its proxy network (see the module docstring)."""

    name: ClassVar[str]
    ops: ClassVar[tuple[str, ...]]
    num_genes: ClassVar[int]
    # "module:Class" of the torch network, imported by build_network only.
    network: ClassVar[str]
    # Whether a table holds the true accuracy of every architecture (so results have a regret).
    has_accuracy: ClassVar[bool] = False
    # canonical key -> row of classes(), built on first use
    _class_positions: dict[str, int] | None = None

    @property
    def num_ops(self) -> int:
        """Ops per gene."""
        return len(self.ops)

    def validate(self, ops: np.ndarray | Sequence[int]) -> np.ndarray:
        """Check op indices of shape (..., num_genes) and return them as uint8."""
        return check_ops(ops, self.num_genes, self.num_ops, self.name)

    def single(self, ops: np.ndarray | Sequence[int]) -> np.ndarray:
        """One architecture, checked: shape (num_genes,)."""
        array = self.validate(ops)
        if array.ndim != 1:
            raise ArchError(f"expected one {self.name} architecture of shape ({self.num_genes},), got {array.shape}")
        return array

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """n architectures drawn uniformly (every gene independently), (n, num_genes) uint8."""
        return uniform_sample(rng, n, self.num_genes, self.num_ops)

    def mutate(self, ops: np.ndarray, rng: np.random.Generator, p: float = 0.1) -> np.ndarray:
        """Per-gene resampling mutation with probability p (METHOD.md section 3)."""
        return resample_mutation(self.validate(ops), rng, p, self.num_ops)

    def crossover(self, a: np.ndarray, b: np.ndarray, rng: np.random.Generator, p: float = 0.5) -> np.ndarray:
        """Uniform crossover: each gene from b with probability p."""
        return uniform_crossover(self.validate(a), self.validate(b), rng, p)

    def arch_str(self, ops: np.ndarray | Sequence[int]) -> str:
        """The text form of one architecture (what result files and caches show)."""
        raise NotImplementedError

    def parse_arch(self, text: str) -> np.ndarray:
        """The inverse of `arch_str`: ArchError saying what is malformed."""
        raise NotImplementedError

    def canonical_key(self, ops: np.ndarray | Sequence[int]) -> str:
        """Equal keys mean the same network (an isomorphism class); the default: the architecture itself."""
        return self.arch_str(ops)

    def representative(self, ops: np.ndarray | Sequence[int]) -> np.ndarray:
        """The fixed member of the architecture's class that every score of the class is computed on."""
        return self.single(ops)

    def classes(self) -> np.ndarray | None:
        """The representative of every isomorphism class, in a fixed order; None when the space is too large to list."""
        return None

    def class_position(self, ops: np.ndarray | Sequence[int]) -> int | None:
        """The row of the architecture's class in `classes()`; None when the space does not list its classes."""
        if self._class_positions is None:
            classes = self.classes()
            if classes is None:
                return None
            self._class_positions = {self.canonical_key(row): i for i, row in enumerate(classes)}
        return self._class_positions[self.canonical_key(ops)]

    def is_degenerate(self, ops: np.ndarray | Sequence[int]) -> bool:
        """Whether the network's output ignores its input (its proxy score is the worst by definition)."""
        return False

    def network_shape(self, C: int, N: int, num_classes: int) -> dict[str, Any]:
        """The keyword arguments of the network class for a proxy preset's width C and depth N (spaces may ignore them)."""
        return {"num_classes": num_classes}

    def static_metric(self, metric: str, ops: np.ndarray | Sequence[int], resolution: int, **shape: Any) -> float | None:
        """A metric of the network that needs neither weights nor images (`params`, `flops`), counted from the ops
        without building the network, where the space can; None where it cannot (the network is then built)."""
        return None

    def build_network(self, ops: np.ndarray | Sequence[int], **shape: Any) -> Any:
        """The torch network of one architecture (imports torch); `shape` holds the space's size knobs."""
        module_name, _, class_name = self.network.partition(":")
        network_class = getattr(importlib.import_module(module_name), class_name)
        return network_class(self.single(ops), **shape)

    def __repr__(self) -> str:
        return f"<search space {self.name}: {self.num_genes} genes x {self.num_ops} ops>"


__all__ = [
    "UINT8", "ArchError", "Space", "check_ops", "resample_mutation", "uniform_crossover", "uniform_sample",
    "valid_op_bytes",
]  # fmt: skip

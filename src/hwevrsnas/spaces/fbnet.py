"""The FBNet space of HW-NAS-Bench, CIFAR-100 setting: layout, encoding and GA operators (network: fbnet_network).

Layout and block definitions follow HW-NAS-Bench (GATECH-EIC/HW-NAS-Bench, commit 6c67e04,
files hw_nas_bench_api/fbnet_models/model_infer.py and hw_nas_bench_api/hw_nas_bench_api.py):
stem 3x3 conv 3->16 (stride 1 on CIFAR), 22 searchable blocks in 7 stages of
(1, 4, 4, 4, 4, 4, 1) blocks with (16, 24, 32, 64, 112, 184, 352) channels and strides
(1, 1, 2, 2, 1, 2, 1), then a 1x1 conv to 1504 channels, global average pool and a linear
classifier. 'skip' is allowed in every block; where the block changes the channel count or
the resolution it is a 1x1 conv (with the stride) + BN + ReLU, otherwise the identity.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from hwevrsnas.spaces.base import ArchError as _ArchError
from hwevrsnas.spaces.base import Space, check_ops, resample_mutation, uniform_crossover, uniform_sample

# HW-NAS-Bench's index order (hw_nas_bench_api.py `ops_str_lookup_table`); HELP's metainfo.pt agrees.
OPS: tuple[str, ...] = ("k3_e1", "k3_e1_g2", "k3_e3", "k3_e6", "k5_e1", "k5_e1_g2", "k5_e3", "k5_e6", "skip")
SKIP = OPS.index("skip")
NUM_OPS = len(OPS)
# (kernel, expansion, groups) of every op but 'skip'.
OP_SPECS: dict[str, tuple[int, int, int]] = {
    name: (int(name[1]), int(name[4]), 2 if name.endswith("_g2") else 1) for name in OPS if name != "skip"
}

INPUT_RESOLUTION = 32
STEM_CHANNELS = 16
STAGE_BLOCKS = (1, 4, 4, 4, 4, 4, 1)
STAGE_CHANNELS = (16, 24, 32, 64, 112, 184, 352)
STAGE_STRIDES = (1, 1, 2, 2, 1, 2, 1)  # HW-NAS-Bench's "unofficial CIFAR-10/100 setting"
HEAD_CHANNELS = 1504
NUM_LAYERS = sum(STAGE_BLOCKS)

LAYOUT_DTYPE = np.dtype(
    [
        ("stage", np.uint8),
        ("in_channels", np.uint16),
        ("out_channels", np.uint16),
        ("stride", np.uint8),
        ("input_resolution", np.uint8),
        ("output_resolution", np.uint8),
        ("skip_allowed", np.bool_),
        ("skip_identity", np.bool_),
    ]
)


def _build_layout() -> np.ndarray:
    stage = np.repeat(np.arange(len(STAGE_BLOCKS)), STAGE_BLOCKS)
    first = np.r_[True, stage[1:] != stage[:-1]]
    out_channels = np.asarray(STAGE_CHANNELS)[stage]
    in_channels = np.r_[STEM_CHANNELS, out_channels[:-1]]
    stride = np.where(first, np.asarray(STAGE_STRIDES)[stage], 1)
    output_resolution = INPUT_RESOLUTION // np.cumprod(stride)
    input_resolution = np.r_[INPUT_RESOLUTION, output_resolution[:-1]]
    layout = np.empty(NUM_LAYERS, dtype=LAYOUT_DTYPE)
    layout["stage"] = stage
    layout["in_channels"] = in_channels
    layout["out_channels"] = out_channels
    layout["stride"] = stride
    layout["input_resolution"] = input_resolution
    layout["output_resolution"] = output_resolution
    # HW-NAS-Bench samples and tables 'skip' in every block (HELP's archs have it in reshaping blocks too).
    layout["skip_allowed"] = True
    layout["skip_identity"] = (in_channels == out_channels) & (stride == 1)
    layout.flags.writeable = False
    return layout


LAYOUT = _build_layout()
TAP_RESOLUTIONS = (32, 16, 8)
# Taps sit after the last block at each resolution: blocks 4 (stage 1), 8 (stage 2) and 16 (stage 4).
# The final feature map is 4x4 (stages 5-6), so the 8x8 tap is not the network's last block.
TAP_LAYERS: tuple[int, ...] = tuple(
    int(np.flatnonzero(LAYOUT["output_resolution"] == r)[-1]) for r in TAP_RESOLUTIONS
)


class ArchError(_ArchError):
    """An FBNet architecture (op names or indices) is malformed."""


def validate(ops: np.ndarray | Sequence[int]) -> np.ndarray:
    """Check op indices of shape (..., 22) and return them as uint8."""
    try:
        return check_ops(ops, NUM_LAYERS, NUM_OPS, "FBNet")
    except _ArchError as error:
        raise ArchError(str(error)) from None


def encode(names: Sequence[str]) -> np.ndarray:
    """Op names (22 of them) to a (22,) uint8 index array."""
    names = list(names)
    if len(names) != NUM_LAYERS:
        raise ArchError(f"an FBNet architecture has {NUM_LAYERS} ops, got {len(names)}")
    lookup = {name: i for i, name in enumerate(OPS)}
    for position, name in enumerate(names):
        if name not in lookup:
            raise ArchError(f"unknown op {name!r} at position {position}; valid ops: {', '.join(OPS)}")
    return np.array([lookup[name] for name in names], dtype=np.uint8)


def decode(ops: np.ndarray | Sequence[int]) -> list[str]:
    """A (22,) index array to its op names."""
    array = validate(ops)
    if array.ndim != 1:
        raise ArchError(f"decode takes one architecture of shape ({NUM_LAYERS},), got {array.shape}")
    return [OPS[i] for i in array]


def parse_arch(text: str) -> np.ndarray:
    """Parse 'k3_e1,skip,...' (22 comma-separated op names) into a (22,) uint8 index array."""
    return encode([token.strip() for token in text.split(",")])


def arch_str(ops: np.ndarray | Sequence[int]) -> str:
    """The comma-separated op names of one architecture; the inverse of `parse_arch`."""
    return ",".join(decode(ops))


def sample(rng: np.random.Generator, n: int) -> np.ndarray:
    """Draw n architectures uniformly from all 9^22, as an (n, 22) uint8 array."""
    return uniform_sample(rng, n, NUM_LAYERS, NUM_OPS)


def mutate(ops: np.ndarray, rng: np.random.Generator, p: float = 0.1) -> np.ndarray:
    """Resample each gene with probability p uniformly among all 9 ops (METHOD.md: "resample the op")."""
    return resample_mutation(validate(ops), rng, p, NUM_OPS)


def crossover(a: np.ndarray, b: np.ndarray, rng: np.random.Generator, p: float = 0.5) -> np.ndarray:
    """Uniform crossover: each gene comes from b with probability p, else from a."""
    return uniform_crossover(validate(a), validate(b), rng, p)


class FBNetSpace(Space):
    """HW-NAS-Bench's FBNet space: 22 layers x 9 ops, no two architectures alike, no accuracy table."""

    name = "fbnet"
    ops = OPS
    num_genes = NUM_LAYERS
    network = "hwevrsnas.spaces.fbnet_network:FBNetNetwork"

    def validate(self, ops: np.ndarray | Sequence[int]) -> np.ndarray:
        """Check op indices of shape (..., 22) and return them as uint8."""
        return validate(ops)

    def arch_str(self, ops: np.ndarray | Sequence[int]) -> str:
        """Comma-separated op names."""
        return arch_str(ops)

    def parse_arch(self, text: str) -> np.ndarray:
        """Comma-separated op names to op indices."""
        return parse_arch(text)


SPACE = FBNetSpace()

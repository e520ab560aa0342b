"""The FBNet space of HW-NAS-Bench, CIFAR-100 setting: layout, encoding, GA operators and a torch network.

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
import torch
from torch import nn

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


class ArchError(ValueError):
    """An FBNet architecture (op names or indices) is malformed."""


def validate(ops: np.ndarray | Sequence[int]) -> np.ndarray:
    """Check op indices of shape (..., 22) and return them as uint8."""
    array = np.asarray(ops)
    if array.ndim == 0 or array.shape[-1] != NUM_LAYERS:
        raise ArchError(f"an FBNet architecture has {NUM_LAYERS} op indices, got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.integer):
        raise ArchError(f"op indices must be integers, got dtype {array.dtype}")
    if array.size and (array.min() < 0 or array.max() >= NUM_OPS):
        raise ArchError(f"op indices must lie in 0..{NUM_OPS - 1}, got {array.min()}..{array.max()}")
    return array.astype(np.uint8)


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
    return rng.integers(0, NUM_OPS, size=(n, NUM_LAYERS), dtype=np.uint8)


def mutate(ops: np.ndarray, rng: np.random.Generator, p: float = 0.1) -> np.ndarray:
    """Resample each gene with probability p uniformly among all 9 ops (METHOD.md: "resample the op")."""
    array = validate(ops)
    hit = rng.random(array.shape) < p
    fresh = rng.integers(0, NUM_OPS, size=array.shape, dtype=np.uint8)
    return np.where(hit, fresh, array).astype(np.uint8)


def crossover(a: np.ndarray, b: np.ndarray, rng: np.random.Generator, p: float = 0.5) -> np.ndarray:
    """Uniform crossover: each gene comes from b with probability p, else from a."""
    a, b = validate(a), validate(b)
    shape = np.broadcast_shapes(a.shape, b.shape)
    return np.where(rng.random(shape) < p, b, a).astype(np.uint8)


def _conv_bn(
    c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1, relu: bool = True
) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class ChannelShuffle(nn.Module):
    """Interleave the channels of `groups` groups, so the grouped projection mixes both halves."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Shuffle channels: (N, g*c, H, W) -> (N, c*g, H, W)."""
        n, c, h, w = x.shape
        return x.view(n, self.groups, c // self.groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class MBConv(nn.Module):
    """HW-NAS-Bench's ConvBlock: grouped 1x1 expand, shuffle, kxk depthwise, grouped 1x1 project, residual."""

    def __init__(self, c_in: int, c_out: int, stride: int, kernel: int, expansion: int, groups: int) -> None:
        super().__init__()
        hidden = c_in * expansion
        self.expand = _conv_bn(c_in, hidden, 1, groups=groups)
        self.shuffle = ChannelShuffle(groups) if groups > 1 else nn.Identity()
        self.depthwise = _conv_bn(hidden, hidden, kernel, stride=stride, groups=hidden)
        self.project = _conv_bn(hidden, c_out, 1, groups=groups, relu=False)
        self.residual = c_in == c_out and stride == 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block."""
        out = self.project(self.depthwise(self.shuffle(self.expand(x))))
        return out + x if self.residual else out


def make_block(op: int, layer: int) -> nn.Module:
    """The torch module of op index `op` placed at block `layer` of the layout."""
    row = LAYOUT[layer]
    c_in, c_out, stride = int(row["in_channels"]), int(row["out_channels"]), int(row["stride"])
    if op == SKIP:
        return nn.Identity() if row["skip_identity"] else _conv_bn(c_in, c_out, 1, stride=stride)
    kernel, expansion, groups = OP_SPECS[OPS[op]]
    return MBConv(c_in, c_out, stride, kernel, expansion, groups)


class FBNetNetwork(nn.Module):
    """An FBNet-space network for 32x32 inputs, as HW-NAS-Bench builds it for CIFAR-100."""

    def __init__(self, ops: np.ndarray | Sequence[int], num_classes: int = 100) -> None:
        super().__init__()
        self.ops = validate(ops)
        if self.ops.ndim != 1:
            raise ArchError(
                f"FBNetNetwork takes one architecture of shape ({NUM_LAYERS},), got {self.ops.shape}"
            )
        self.stem = _conv_bn(3, STEM_CHANNELS, 3)
        self.blocks = nn.ModuleList(make_block(int(op), layer) for layer, op in enumerate(self.ops))
        self.head = _conv_bn(STAGE_CHANNELS[-1], HEAD_CHANNELS, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(HEAD_CHANNELS, num_classes)
        self._init_params()

    def _init_params(self) -> None:
        # HW-NAS-Bench's FBNet_Infer.init_params, so freshly initialised candidates start alike.
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, std=0.001)
                nn.init.zeros_(module.bias)

    def forward_with_taps(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Logits and the feature maps after blocks TAP_LAYERS (32x32, 16x16 and 8x8 outputs)."""
        out = self.stem(x)
        taps = []
        for layer, block in enumerate(self.blocks):
            out = block(out)
            if layer in TAP_LAYERS:
                taps.append(out)
        logits = self.classifier(self.pool(self.head(out)).flatten(1))
        return logits, taps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for a batch of 32x32 images."""
        return self.forward_with_taps(x)[0]

"""The FBNet-space network in torch, as HW-NAS-Bench builds it for 32x32 CIFAR-100 inputs."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn

from hwevrsnas.spaces.fbnet import (
    HEAD_CHANNELS, LAYOUT, NUM_LAYERS, OP_SPECS, OPS, SKIP, STAGE_CHANNELS, STEM_CHANNELS, TAP_LAYERS, ArchError, validate,
)  # fmt: skip


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

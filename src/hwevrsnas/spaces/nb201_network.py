"""The NAS-Bench-201 network in torch: NB201's stem, cells, ResNet stage transitions and classifier.

Built for a cell's op array (see `hwevrsnas.spaces.nb201`); checked against NB201's parameter counts
and a reference cell implementation in tests/test_spaces_nb201.py.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from hwevrsnas.spaces.nb201 import AVGPOOL, CONV_KERNEL, EDGES, NONE, NUM_NODES, SKIP, _single, _stage_channels


def _relu_conv_bn(c_in: int, c_out: int, kernel: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.ReLU(inplace=False),
        nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(c_out),
    )


class ResNetBasicBlock(nn.Module):
    """NB201's stride-2 stage transition: two ReLU-Conv-BN 3x3 plus an AvgPool2d(2) + 1x1 conv shortcut."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = _relu_conv_bn(c_in, c_out, 3, stride=2)
        self.conv_b = _relu_conv_bn(c_out, c_out, 3)
        self.downsample = nn.Sequential(nn.AvgPool2d(2, stride=2), nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual sum of the two-conv branch and the shortcut."""
        return self.conv_b(self.conv_a(x)) + self.downsample(x)


class NB201Cell(nn.Module):
    """NB201's InferCell: node j = sum over i<j of op_{j<-i}(node i); the cell's output is node 3.

    'none' edges get no module. A node without a non-'none' input is zero; a conv reading it still
    runs (its BN shift makes the result a constant, as in NB201). Edges into nodes that cannot reach
    node 3 keep their modules (they count as parameters in NB201) but are not computed.
    """

    def __init__(self, ops: np.ndarray | Sequence[int], C: int) -> None:
        super().__init__()
        self.ops = _single(ops)
        self.edges = nn.ModuleDict()
        for edge, op in enumerate(self.ops):
            if op in CONV_KERNEL:
                self.edges[str(edge)] = _relu_conv_bn(C, C, CONV_KERNEL[int(op)])
            elif op == AVGPOOL:
                self.edges[str(edge)] = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
        live = self.ops != NONE
        feeds_output = [True] * NUM_NODES
        for node in (2, 1):
            feeds_output[node] = any(
                live[e] and feeds_output[dst] for e, (dst, src) in enumerate(EDGES) if src == node
            )
        self._plan = [
            (dst, src, int(op), str(edge))
            for edge, ((dst, src), op) in enumerate(zip(EDGES, self.ops))
            if op != NONE and feeds_output[dst]
        ]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The cell's output for input x (same shape)."""
        # None stands for an all-zero node, so zero branches cost nothing unless a conv reads them.
        nodes: list[torch.Tensor | None] = [x, None, None, None]
        for dst, src, op, key in self._plan:
            operand = nodes[src]
            if operand is None:
                if op not in CONV_KERNEL:
                    continue
                operand = torch.zeros_like(x)
            term = operand if op == SKIP else self.edges[key](operand)
            nodes[dst] = term if nodes[dst] is None else nodes[dst] + term
        return torch.zeros_like(x) if nodes[3] is None else nodes[3]


class NB201Network(nn.Module):
    """The NAS-Bench-201 network of one cell (C channels, N cells per stage), PyTorch default init."""

    def __init__(
        self, ops: np.ndarray | Sequence[int], C: int = 16, N: int = 5, num_classes: int = 10
    ) -> None:
        super().__init__()
        self.ops = _single(ops)
        channels = _stage_channels(C)
        self.stem = nn.Sequential(nn.Conv2d(3, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
        layers: list[nn.Module] = []
        self.tap_layers: tuple[int, ...] = (N - 1, 2 * N)
        for stage, c in enumerate(channels):
            if stage:
                layers.append(ResNetBasicBlock(channels[stage - 1], c))
            layers.extend(NB201Cell(self.ops, c) for _ in range(N))
        self.layers = nn.ModuleList(layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(channels[-1]), nn.ReLU(inplace=False))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(channels[-1], num_classes)

    def forward_with_taps(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Logits and the taps: last cell of stage 1, last cell of stage 2, the final BN-ReLU."""
        out = self.stem(x)
        taps = []
        for index, layer in enumerate(self.layers):
            out = layer(out)
            if index in self.tap_layers:
                taps.append(out)
        out = self.lastact(out)
        taps.append(out)
        return self.classifier(self.pool(out).flatten(1)), taps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for a batch of images."""
        return self.forward_with_taps(x)[0]

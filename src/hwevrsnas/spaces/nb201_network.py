"""The NAS-Bench-201 network in torch: NB201's stem, cells, ResNet stage transitions and classifier.

Built for a cell's op array (see `hwevrsnas.spaces.nb201`); checked against NB201's parameter counts
and a reference cell implementation in tests/test_spaces_nb201.py.

Every tensor that several operations read is read through `branch`, which fixes the order in which
their gradients are added; the stacked engine (hwevrsnas.proxy.engine) reads the same tensors the
same way, which is what makes its results equal to this network's bit for bit on the CPU.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from hwevrsnas.spaces.nb201 import AVGPOOL, CONV_KERNEL, EDGES, NONE, NUM_NODES, SKIP, _single, _stage_channels


class _Branch(torch.autograd.Function):
    """n aliases of one tensor, each for one consumer; the backward adds their gradients in index order."""

    @staticmethod
    def forward(ctx: object, x: torch.Tensor, n: int) -> tuple[torch.Tensor, ...]:
        return tuple(x.view_as(x) for _ in range(n))

    @staticmethod
    def backward(ctx: object, *grads: torch.Tensor | None) -> tuple[torch.Tensor | None, None]:
        total = None
        for grad in grads:
            if grad is not None:
                total = grad if total is None else total + grad
        return total, None


def branch(x: torch.Tensor, n: int) -> tuple[torch.Tensor, ...]:
    """A tensor read by n operations, as n aliases whose gradients are added in a fixed order (index order).

    Autograd adds the gradients of a tensor's readers in the order their backward steps run, which
    depends on the rest of the graph; with three or more non-zero contributions the rounding then
    depends on it too. Reading through `branch` makes the order part of the network's definition.
    """
    return _Branch.apply(x, n) if n > 1 else (x,)


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
        into_a, into_shortcut = branch(x, 2)
        return self.conv_b(self.conv_a(into_a)) + self.downsample(into_shortcut)


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
        # The edges of the plan that read each node, in edge order (each reads it through its own branch).
        self._readers = {node: [int(key) for _, src, _, key in self._plan if src == node] for node in range(3)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The cell's output for input x (same shape)."""
        # None stands for an all-zero node, so zero branches cost nothing unless a conv reads them.
        nodes: list[torch.Tensor | None] = [x, None, None, None]
        reads: dict[int, torch.Tensor] = {}
        for dst, src, op, key in self._plan:
            if nodes[src] is None and op not in CONV_KERNEL:
                continue
            edge = int(key)
            if edge not in reads:
                source = nodes[src] if nodes[src] is not None else torch.zeros_like(x)
                reads.update(zip(self._readers[src], branch(source, len(self._readers[src]))))
            operand = reads[edge]
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
                out, tap = branch(out, 2)
                taps.append(tap)
        out, tap = branch(self.lastact(out), 2)
        taps.append(tap)
        return self.classifier(self.pool(out).flatten(1)), taps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for a batch of images."""
        return self.forward_with_taps(x)[0]

"""The NAS-Bench-201 space: encoding, isomorphism classes, analytic size, GA operators and a torch network.

A cell has 4 nodes and 6 edges, listed in NB201's order (1<-0), (2<-0), (2<-1), (3<-0), (3<-1),
(3<-2); each edge holds one of the 5 ops in `OPS` (NB201's own index order). The network is
NB201's: a 3x3 conv stem + BN, three stages of N cells at C, 2C and 4C channels separated by a
ResNet basic block with stride 2, then BN-ReLU, global average pooling and a linear classifier.

Facts this module was checked against (tests/test_spaces_nb201.py):

- `canonical_key` reproduces NATS-Bench's unique string of every one of the 15,625 cells
  character for character, hence its 6,466 classes.
- `params_mb` equals NASLib's `params` on every archived architecture of all three datasets:
  BN affine parameters count, and so do convs on edges that do not reach the output.
- `flops_m` (convention "nb201") equals HW-NAS-Bench's CIFAR-10 `flop` column: conv
  multiply-adds plus the classifier's in*out + out, nothing for BN, ReLU or pooling.
  NASLib's `flops` use tensorwatch's counter instead (convention "naslib"): BN 2 per output
  element, ReLU 1 per input element, pooling kernel-area per output element, adaptive pooling
  (H+1)(W+1) per channel, classifier without bias.
- NASLib's op tuples list ops as (skip_connect, none, nor_conv_3x3, nor_conv_1x1, avg_pool_3x3)
  and edges as (1<-0), (2<-0), (3<-0), (2<-1), (3<-1), (3<-2); its `idx` field is a running
  number, not the NB201 index.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch
from torch import nn

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
NONE, SKIP, CONV1, CONV3, AVGPOOL = range(len(OPS))
NUM_OPS = len(OPS)
# (destination, source) of each gene, in NB201's string order.
EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
NUM_EDGES = len(EDGES)
NUM_NODES = 4
N_ARCHS = NUM_OPS**NUM_EDGES
CONV_KERNEL = {CONV1: 1, CONV3: 3}

ZERO_TERM = "#"
ISO_RULE = (
    "NAS-Bench-201 unique string: node 0 is '0'; node j is the '+'-join of the lexicographically "
    "sorted terms of its incoming edges, a term being '#' for a none edge or an operand equal to "
    "'#', the operand's own string for skip_connect, and '(operand)@op' otherwise; the key is "
    "node 3's string. Class id = row of the class's first member in the array."
)

_OP_PATTERN = "|".join(OPS)
_ARCH_RE = re.compile(
    rf"\|({_OP_PATTERN})~0\|\+\|({_OP_PATTERN})~0\|({_OP_PATTERN})~1\|"
    rf"\+\|({_OP_PATTERN})~0\|({_OP_PATTERN})~1\|({_OP_PATTERN})~2\|"
)
_EXPECTED = "|op~0|+|op~0|op~1|+|op~0|op~1|op~2| with op in " + ", ".join(OPS)
_OP_INDEX = {name: i for i, name in enumerate(OPS)}


class ArchError(ValueError):
    """A malformed NB201 architecture (string or op array)."""


def validate(ops: np.ndarray | Sequence[int]) -> np.ndarray:
    """Check op indices of shape (..., 6) and return them as uint8."""
    array = np.asarray(ops)
    if array.ndim == 0 or array.shape[-1] != NUM_EDGES:
        raise ArchError(f"an NB201 architecture has {NUM_EDGES} op indices, got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.integer):
        raise ArchError(f"op indices must be integers, got dtype {array.dtype}")
    if array.size and (array.min() < 0 or array.max() >= NUM_OPS):
        raise ArchError(f"op indices must lie in 0..{NUM_OPS - 1}, got {array.min()}..{array.max()}")
    return array.astype(np.uint8)


def _single(ops: np.ndarray | Sequence[int]) -> np.ndarray:
    array = validate(ops)
    if array.ndim != 1:
        raise ArchError(f"expected one architecture of shape ({NUM_EDGES},), got {array.shape}")
    return array


def arch_to_ops(s: str) -> tuple[int, ...]:
    """Parse an NB201 arch string into its 6 op indices in edge order."""
    match = _ARCH_RE.fullmatch(s) if isinstance(s, str) else None
    if match is None:
        raise ArchError(f"malformed NB201 arch string {s!r}: expected {_EXPECTED}")
    return tuple(_OP_INDEX[name] for name in match.groups())


def ops_to_arch(ops: np.ndarray | Sequence[int]) -> str:
    """The NB201 arch string of one architecture; the inverse of `arch_to_ops`."""
    names = [OPS[i] for i in _single(ops)]
    return "|{}~0|+|{}~0|{}~1|+|{}~0|{}~1|{}~2|".format(*names)


def parse_arch_strings(strings: Sequence[str]) -> np.ndarray:
    """Parse many NB201 arch strings into an (n, 6) uint8 op array."""
    out = np.empty((len(strings), NUM_EDGES), dtype=np.uint8)
    for row, text in enumerate(strings):
        try:
            out[row] = arch_to_ops(text)
        except ArchError as error:
            raise ArchError(f"row {row}: {error}") from None
    return out


def arch_codes(ops: np.ndarray | Sequence[int]) -> np.ndarray:
    """Base-5 code sum(ops[e] * 5**e) of each architecture: a dense 0..15624 id (not the NB201 index)."""
    return validate(ops).astype(np.int64) @ (NUM_OPS ** np.arange(NUM_EDGES, dtype=np.int64))


def canonical_key(ops: np.ndarray | Sequence[int]) -> str:
    """NB201's isomorphism key of one cell (see `ISO_RULE`); equal keys mean the same class."""
    array = _single(ops)
    node_expr = ["0"]
    for node in range(1, NUM_NODES):
        terms = []
        for edge, (dst, src) in enumerate(EDGES):
            if dst != node:
                continue
            op, operand = int(array[edge]), node_expr[src]
            if op == NONE or operand == ZERO_TERM:
                terms.append(ZERO_TERM)
            elif op == SKIP:
                # Inlined as one term, not flattened: NB201 sorts the joined string as a whole.
                terms.append(operand)
            else:
                terms.append(f"({operand})@{OPS[op]}")
        node_expr.append("+".join(sorted(terms)))
    return node_expr[-1]


@functools.cache
def _key_ids_by_code() -> np.ndarray:
    # All 5**6 keys once, so classing any array is a table look-up rather than 15,625 string builds.
    every = (np.arange(N_ARCHS)[:, None] // NUM_OPS ** np.arange(NUM_EDGES)) % NUM_OPS
    keys = [canonical_key(row) for row in every]
    ids = np.unique(np.array(keys), return_inverse=True)[1].astype(np.int32)
    ids.flags.writeable = False
    return ids


def iso_class_ids(ops: np.ndarray | Sequence[int]) -> np.ndarray:
    """Isomorphism class per row of an (n, 6) array: the row index of the class's first member (int32)."""
    key_ids = _key_ids_by_code()[arch_codes(np.atleast_2d(validate(ops)))]
    _, first, inverse = np.unique(key_ids, return_index=True, return_inverse=True)
    return first[inverse].astype(np.int32)


def degenerate_mask(ops: np.ndarray | Sequence[int]) -> np.ndarray:
    """Per architecture of (..., 6): True where no path of non-'none' edges joins input and output."""
    live = validate(ops) != NONE
    e10, e20, e21, e30, e31, e32 = (live[..., i] for i in range(NUM_EDGES))
    reaches = e30 | (e10 & e31) | (e20 & e32) | (e10 & e21 & e32)
    return ~reaches


def is_degenerate(ops: np.ndarray | Sequence[int]) -> bool:
    """Whether one cell's output ignores its input (the network computes a constant)."""
    return bool(degenerate_mask(_single(ops)))


def _op_counts(ops: np.ndarray | Sequence[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    array = validate(ops)
    return tuple((array == op).sum(axis=-1).astype(np.float64) for op in (CONV1, CONV3, AVGPOOL))


def _stage_channels(C: int) -> tuple[int, int, int]:
    return C, 2 * C, 4 * C


def params_mb(ops: np.ndarray | Sequence[int], num_classes: int = 10, C: int = 16, N: int = 5) -> np.ndarray:
    """Parameters (millions) of the NB201 network of each architecture in (..., 6), BN affine included."""
    channels = _stage_channels(C)
    fixed = 27 * C + 2 * C  # stem conv + BN
    for c_in, c_out in zip(channels[:-1], channels[1:]):
        fixed += 9 * c_in * c_out + 2 * c_out + 9 * c_out * c_out + 2 * c_out + c_in * c_out
    fixed += 2 * channels[-1] + channels[-1] * num_classes + num_classes
    per_conv = {k: N * sum(k * k * c * c + 2 * c for c in channels) for k in (1, 3)}
    n_conv1, n_conv3, _ = _op_counts(ops)
    return (fixed + per_conv[1] * n_conv1 + per_conv[3] * n_conv3) / 1e6


def flops_m(
    ops: np.ndarray | Sequence[int],
    num_classes: int = 10,
    C: int = 16,
    N: int = 5,
    resolution: int = 32,
    *,
    convention: Literal["nb201", "naslib"] = "nb201",
) -> np.ndarray:
    """MFLOPs of the NB201 network per architecture: NB201/HW-NAS-Bench multiply-adds, or NASLib's count."""
    if resolution % 4:
        raise ValueError(f"the network halves the resolution twice; {resolution} is not a multiple of 4")
    if convention not in ("nb201", "naslib"):
        raise ValueError(f"convention must be 'nb201' or 'naslib', got {convention!r}")
    channels = _stage_channels(C)
    areas = [(resolution >> s) ** 2 for s in range(3)]
    fixed = areas[0] * C * 27
    for s, (c_in, c_out) in enumerate(zip(channels[:-1], channels[1:]), start=1):
        fixed += areas[s] * (9 * c_in * c_out + 9 * c_out * c_out + c_in * c_out)
    fixed += channels[-1] * num_classes
    per_edge = {k: N * sum(a * k * k * c * c for a, c in zip(areas, channels)) for k in (1, 3)}
    per_avg = 0
    if convention == "nb201":
        fixed += num_classes  # classifier bias
    else:
        # tensorwatch: BN 2/output element, ReLU 1/input element, pools kernel-area/output element.
        fixed += 2 * areas[0] * C  # stem BN
        for s, (c_in, c_out) in enumerate(zip(channels[:-1], channels[1:]), start=1):
            conv_a = areas[s - 1] * c_in + 2 * areas[s] * c_out
            conv_b = areas[s] * c_out + 2 * areas[s] * c_out
            fixed += conv_a + conv_b + 4 * areas[s] * c_in  # + the shortcut's AvgPool2d(2)
        side = resolution >> 2
        fixed += 3 * areas[2] * channels[-1] + channels[-1] * (side + 1) ** 2  # last BN-ReLU, global pool
        cell_elements = N * sum(a * c for a, c in zip(areas, channels))
        per_edge = {k: v + 3 * cell_elements for k, v in per_edge.items()}
        per_avg = 9 * cell_elements
    n_conv1, n_conv3, n_avg = _op_counts(ops)
    return (fixed + per_edge[1] * n_conv1 + per_edge[3] * n_conv3 + per_avg * n_avg) / 1e6


def sample(rng: np.random.Generator, n: int) -> np.ndarray:
    """n architectures with every gene drawn uniformly from the 5 ops, as an (n, 6) uint8 array."""
    return rng.integers(0, NUM_OPS, size=(n, NUM_EDGES), dtype=np.uint8)


def mutate(ops: np.ndarray, rng: np.random.Generator, p: float = 0.1) -> np.ndarray:
    """Resample each gene with probability p uniformly among all 5 ops, so it keeps its op 1 time in 5."""
    array = validate(ops)
    hit = rng.random(array.shape) < p
    fresh = rng.integers(0, NUM_OPS, size=array.shape, dtype=np.uint8)
    return np.where(hit, fresh, array).astype(np.uint8)


def crossover(a: np.ndarray, b: np.ndarray, rng: np.random.Generator, p: float = 0.5) -> np.ndarray:
    """Uniform crossover: each gene comes from b with probability p, else from a."""
    a, b = validate(a), validate(b)
    shape = np.broadcast_shapes(a.shape, b.shape)
    return np.where(rng.random(shape) < p, b, a).astype(np.uint8)


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

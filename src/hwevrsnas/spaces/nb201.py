"""The NAS-Bench-201 space: encoding, isomorphism classes and their representatives, analytic size, GA operators.

A cell has 4 nodes and 6 edges, listed in NB201's order (1<-0), (2<-0), (2<-1), (3<-0), (3<-1),
(3<-2); each edge holds one of the 5 ops in `OPS` (NB201's own index order). The network is
NB201's: a 3x3 conv stem + BN, three stages of N cells at C, 2C and 4C channels separated by a
ResNet basic block with stride 2, then BN-ReLU, global average pooling and a linear classifier.

Facts this module was checked against (tests/test_spaces_nb201.py):

- `canonical_key` reproduces NATS-Bench's unique string of every one of the 15,625 cells
  character for character, hence its 6,466 classes; `representative` picks one member of each.
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
from typing import Any, Literal

import numpy as np

from hwevrsnas.spaces.base import ArchError as _ArchError
from hwevrsnas.spaces.base import (
    UINT8, Space, check_ops, resample_mutation, uniform_crossover, uniform_sample, valid_op_bytes,
)  # fmt: skip

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
_VALID_OPS = valid_op_bytes(NUM_OPS)


class ArchError(_ArchError):
    """A malformed NB201 architecture (string or op array)."""


def validate(ops: np.ndarray | Sequence[int]) -> np.ndarray:
    """Check op indices of shape (..., 6) and return them as uint8."""
    try:
        return check_ops(ops, NUM_EDGES, NUM_OPS, "NB201")
    except _ArchError as error:
        raise ArchError(str(error)) from None


def _single(ops: np.ndarray | Sequence[int]) -> np.ndarray:
    array = validate(ops)
    if array.ndim != 1:
        raise ArchError(f"expected one architecture of shape ({NUM_EDGES},), got {array.shape}")
    return array


def cell_bytes(ops: np.ndarray | Sequence[int]) -> bytes:
    """One architecture's op indices as 6 bytes, checked as every single-architecture function checks them."""
    if type(ops) is np.ndarray and ops.dtype is UINT8 and ops.shape == (NUM_EDGES,):
        cell = ops.tobytes()
        if not cell.translate(None, _VALID_OPS):
            return cell  # a valid cell, as every candidate of a search is: no copy, no array check
    return _single(ops).tobytes()


def arch_to_ops(s: str) -> tuple[int, ...]:
    """Parse an NB201 arch string into its 6 op indices in edge order; ArchError saying what is malformed."""
    match = _ARCH_RE.fullmatch(s) if isinstance(s, str) else None
    if match is None:
        raise ArchError(f"malformed NB201 arch string {s!r}: {_malformation(s)}; expected {_EXPECTED}")
    return tuple(_OP_INDEX[name] for name in match.groups())


def _malformation(s: object) -> str:
    """What is wrong with a string that is not an NB201 arch string (the first problem found)."""
    if not isinstance(s, str):
        return f"not a string but a {type(s).__name__}"
    nodes = s.split("+")
    if len(nodes) != NUM_NODES - 1:
        return f"{len(nodes)} '+'-separated node(s), expected {NUM_NODES - 1}"
    for node, text in enumerate(nodes, start=1):
        if not (text.startswith("|") and text.endswith("|")):
            return f"node {node} ({text!r}) must start and end with '|'"
        edges = text[1:-1].split("|")
        if len(edges) != node:
            return f"node {node} has {len(edges)} edge(s), expected {node}"
        for source, edge in enumerate(edges):
            op, _, index = edge.partition("~")
            if op not in _OP_INDEX:
                return f"unknown op {op!r} on the edge into node {node} from node {source}"
            if index != str(source):
                return f"edge {edge!r} into node {node} must read from node {source} ('~{source}')"
    return "unexpected characters"


def ops_to_arch(ops: np.ndarray | Sequence[int]) -> str:
    """The NB201 arch string of one architecture; the inverse of `arch_to_ops`."""
    return _arch_of(cell_bytes(ops))


# A search asks for the strings of the same few hundred cells thousands of times.
@functools.lru_cache(maxsize=N_ARCHS)
def _arch_of(cell: bytes) -> str:
    return "|{}~0|+|{}~0|{}~1|+|{}~0|{}~1|{}~2|".format(*(OPS[i] for i in cell))


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
    return _canonical_key_of(cell_bytes(ops))


# A search asks for the same few hundred cells' keys thousands of times; the string build is most of its work.
@functools.lru_cache(maxsize=N_ARCHS)
def _canonical_key_of(cell: bytes) -> str:
    array = np.frombuffer(cell, dtype=np.uint8)
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


@functools.cache
def _representative_codes() -> np.ndarray:
    # For every base-5 code, the code of its class's representative (see `representative`).
    every = (np.arange(N_ARCHS)[:, None] // NUM_OPS ** np.arange(NUM_EDGES)) % NUM_OPS
    lexicographic = every @ (NUM_OPS ** np.arange(NUM_EDGES - 1, -1, -1))
    order = np.argsort(lexicographic, kind="stable")
    key_ids = _key_ids_by_code()
    _, first = np.unique(key_ids[order], return_index=True)
    codes = order[first][key_ids]
    codes.flags.writeable = False
    return codes


def representative(ops: np.ndarray | Sequence[int]) -> np.ndarray:
    """The representative of each architecture's isomorphism class: its lexicographically smallest op tuple.

    Ops compare by index in `OPS` (none < skip < conv1x1 < conv3x3 < pool), edges in NB201's
    order. The minimum puts 'none' on every edge whose op cannot change the cell's function (edges
    off every input-output path, or reading a zero node), so the representative is the class's
    leanest network. Twins differ in their dead edges, and a network built for one of them
    initialises differently from the others (modules are created edge by edge) and counts other
    parameters; every score of a class is therefore computed on this one member.
    """
    array = validate(ops)
    codes = _representative_codes()[arch_codes(array)]
    return ((codes[..., None] // NUM_OPS ** np.arange(NUM_EDGES)) % NUM_OPS).astype(np.uint8)


@functools.cache
def class_representatives() -> np.ndarray:
    """Every class's representative (see `representative`), sorted lexicographically: an (n_classes, 6) uint8 array."""
    codes = np.unique(_representative_codes())
    every = ((codes[:, None] // NUM_OPS ** np.arange(NUM_EDGES)) % NUM_OPS).astype(np.uint8)
    order = np.lexsort(every.T[::-1])
    reps = every[order]
    reps.flags.writeable = False
    return reps


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
    return uniform_sample(rng, n, NUM_EDGES, NUM_OPS)


def mutate(ops: np.ndarray, rng: np.random.Generator, p: float = 0.1) -> np.ndarray:
    """Resample each gene with probability p uniformly among all 5 ops, so it keeps its op 1 time in 5."""
    return resample_mutation(validate(ops), rng, p, NUM_OPS)


def crossover(a: np.ndarray, b: np.ndarray, rng: np.random.Generator, p: float = 0.5) -> np.ndarray:
    """Uniform crossover: each gene comes from b with probability p, else from a."""
    return uniform_crossover(validate(a), validate(b), rng, p)



class NB201Space(Space):
    """NAS-Bench-201: 6 edges x 5 ops; isomorphism classes by NB201's unique string; accuracy in the tables."""

    name = "nb201"
    ops = OPS
    num_genes = NUM_EDGES
    network = "hwevrsnas.spaces.nb201_network:NB201Network"
    has_accuracy = True

    def validate(self, ops: np.ndarray | Sequence[int]) -> np.ndarray:
        """Check op indices of shape (..., 6) and return them as uint8."""
        return validate(ops)

    def arch_str(self, ops: np.ndarray | Sequence[int]) -> str:
        """NB201's arch string."""
        return ops_to_arch(ops)

    def parse_arch(self, text: str) -> np.ndarray:
        """An NB201 arch string to its op indices."""
        return np.asarray(arch_to_ops(text), dtype=np.uint8)

    def canonical_key(self, ops: np.ndarray | Sequence[int]) -> str:
        """NB201's isomorphism key."""
        return canonical_key(ops)

    def representative(self, ops: np.ndarray | Sequence[int]) -> np.ndarray:
        """The lexicographically smallest member of the class (see the module function)."""
        return representative(_single(ops))

    def is_degenerate(self, ops: np.ndarray | Sequence[int]) -> bool:
        """No path of non-'none' edges from the cell's input to its output."""
        return is_degenerate(ops)

    def classes(self) -> np.ndarray:
        """The representatives of the 6,466 classes, in lexicographic order of their op tuples."""
        return class_representatives()

    def network_shape(self, C: int, N: int, num_classes: int) -> dict[str, Any]:
        """The network's size knobs: C channels, N cells per stage."""
        return {"C": C, "N": N, "num_classes": num_classes}

    def static_metric(self, metric: str, ops: np.ndarray | Sequence[int], resolution: int, **shape: Any) -> float | None:
        """#params (millions) and MFLOPs by `params_mb` and `flops_m`: the values the built network gives, counted."""
        if metric == "params":
            return float(params_mb(self.single(ops), shape["num_classes"], shape["C"], shape["N"]))
        if metric == "flops":
            return float(flops_m(self.single(ops), shape["num_classes"], C=shape["C"], N=shape["N"], resolution=resolution))
        return None


SPACE = NB201Space()

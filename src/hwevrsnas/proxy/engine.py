"""The stacked engine: single-batch training of K NB201 candidates in one set of tensor operations.

Every candidate keeps its own mathematics. Activations of the K networks are stacked on the channel
axis (candidate k owns channels k*C..(k+1)*C of every feature map); each convolution is one grouped
convolution over the candidates that have it (the stem, the stage transitions: all of them; a cell
edge: those with that op on that edge, gathered from the source node and scatter-added into the
destination node in edge order, as the single path adds them); batch norm, ReLU and pooling act on
the stacked channels, which they treat one channel at a time; the objective is the sum of the
per-candidate losses, so every candidate's gradient and SGD update are exactly its own. Each
candidate starts from the parameters of its single-path network, built from the same seed.

Two variants, chosen by `split`:

- split (the CPU's): each candidate's convolutions run as separate calls on its own channels, and its
  classifier, CKA taps and loss are computed from its own slice with the single path's code. oneDNN's
  grouped kernels sum in an order that depends on the number of groups and on the CPU (with AVX2
  only the 1x1 and stem convolutions did, with AVX-512 the 3x3 ones too), so only this way do the
  engine's results equal the single path's bit for bit, whatever the other candidates are
  (tests/test_engine.py checks both).
- grouped (the GPU's): one grouped convolution per op, every candidate's classifier, CKA and loss in
  batched products, and a multi-tensor SGD update, so a step costs a few hundred kernel launches for
  all K candidates instead of that many per candidate (a GPU's small kernels are launch-bound:
  ENGINE-NOTES.md). It is the same mathematics in another summation order (tests/test_engine.py
  checks it against the single path in float64), and its rounding depends on the companions
  (cuDNN picks its kernels by shape), which is why proxy.rsnas always trains a class in the same stack.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from hwevrsnas.proxy.batch import ProxyBatch
from hwevrsnas.proxy.cka import centered_gram, centered_grams, linear_cka_from_centered_grams
from hwevrsnas.proxy.presets import Preset
from hwevrsnas.proxy.result import STATUS_NONFINITE, STATUS_OK, ProxyResult, worst_result
from hwevrsnas.spaces.nb201 import CONV_KERNEL, EDGES, SKIP
from hwevrsnas.spaces.nb201_network import NB201Cell, NB201Network, ResNetBasicBlock, branch

BN_EPS = 1e-5
BN_MOMENTUM = 0.1


@dataclass
class _EdgeGroup:
    """The candidates that apply one op to one edge of one cell: their channel indices and parameters."""

    edge: int
    src: int
    dst: int
    op: int
    members: list[int]
    index: Tensor
    weight: Tensor | None = None
    gamma: Tensor | None = None
    beta: Tensor | None = None


def _blocks(x: Tensor, width: int) -> Tensor:
    """A channels-last stacked map (N, K*width, H, W) as the contiguous (N, H, W, K, width) array it is in memory."""
    n, c, h, w = x.shape
    return x.contiguous(memory_format=torch.channels_last).permute(0, 2, 3, 1).reshape(n, h, w, c // width, width)


def _map(blocks: Tensor) -> Tensor:
    """The inverse of `_blocks`: (N, H, W, m, width) -> a channels-last (N, m*width, H, W) view."""
    n, h, w, m, width = blocks.shape
    return blocks.reshape(n, h, w, m * width).permute(0, 3, 1, 2)


class _Gather(torch.autograd.Function):
    """The channels of some candidates of a stacked feature map, its gradient kept channels-last.

    The single path's gradients are channels-last throughout, and batch norm's backward sums in an
    order that depends on the gradient's layout, so the engine's gather and scatter keep that layout.
    A candidate's channels are one contiguous block in memory, so both move whole blocks.
    """

    @staticmethod
    def forward(ctx: object, x: Tensor, members: Tensor, width: int) -> Tensor:
        ctx.save_for_backward(members)
        ctx.shape, ctx.width = x.shape, width
        return _map(_blocks(x, width).index_select(3, members))

    @staticmethod
    def backward(ctx: object, grad: Tensor) -> tuple[Tensor, None, None]:
        (members,) = ctx.saved_tensors
        n, c, h, w = ctx.shape
        out = grad.new_zeros((n, h, w, c // ctx.width, ctx.width))
        return _map(out.index_add_(3, members, _blocks(grad, ctx.width))), None, None


class _ScatterAdd(torch.autograd.Function):
    """`base` with `term` added to the channels of some candidates; the term's gradient kept channels-last."""

    @staticmethod
    def forward(ctx: object, base: Tensor, members: Tensor, width: int, term: Tensor) -> Tensor:
        ctx.save_for_backward(members)
        ctx.width = width
        return _map(_blocks(base, width).index_add(3, members, _blocks(term, width)))

    @staticmethod
    def backward(ctx: object, grad: Tensor) -> tuple[Tensor, None, None, Tensor]:
        (members,) = ctx.saved_tensors
        return grad, None, None, _map(_blocks(grad, ctx.width).index_select(3, members))


def _members(members: Sequence[int], device: torch.device) -> Tensor:
    return torch.tensor(list(members), dtype=torch.long, device=device)


def _stack(tensors: Sequence[Tensor], device: torch.device) -> Tensor:
    stacked = torch.cat([t.detach() for t in tensors], dim=0).to(device)
    if stacked.dim() == 4:
        stacked = stacked.contiguous(memory_format=torch.channels_last)
    return stacked.requires_grad_()


class StackedNB201:
    """K NB201 networks (same C, N) as stacked tensors; `losses_and_ckas` runs all of them on one batch."""

    def __init__(
        self, networks: Sequence[NB201Network], device: torch.device | str = "cpu", split: bool | None = None
    ) -> None:
        self.device = torch.device(device)
        # Per-candidate convolutions on the CPU, where that makes results equal to the single path's on any ISA;
        # on a GPU, where cuDNN gives no such guarantee anyway, one grouped call is the point of batching.
        self.split = self.device.type == "cpu" if split is None else split
        self.K = len(networks)
        first = networks[0]
        self.C = first.stem[0].out_channels
        self.tap_layers = first.tap_layers
        self.params: list[Tensor] = []
        self.stem = self._conv_bn([net.stem[0] for net in networks], [net.stem[1] for net in networks])
        self.layers: list[dict] = []
        width = self.C
        for index, layer in enumerate(first.layers):
            if isinstance(layer, ResNetBasicBlock):
                blocks = [net.layers[index] for net in networks]
                width = layer.conv_a[1].out_channels
                self.layers.append(
                    {
                        "a": self._conv_bn([b.conv_a[1] for b in blocks], [b.conv_a[2] for b in blocks]),
                        "b": self._conv_bn([b.conv_b[1] for b in blocks], [b.conv_b[2] for b in blocks]),
                        "down": self._param([b.downsample[1].weight for b in blocks]),
                    }
                )
            else:
                self.layers.append(self._cell([net.layers[index] for net in networks], width))
        self.lastact = self._bn([net.lastact[0] for net in networks])
        if self.split:
            self.classifier = [(self._param([net.classifier.weight]), self._param([net.classifier.bias])) for net in networks]
        else:
            # One (K * classes, width) matrix: every candidate's logits in one batched product.
            self.classifier = [(self._param([net.classifier.weight for net in networks]),
                                self._param([net.classifier.bias for net in networks]))]  # fmt: skip

    def _param(self, tensors: Sequence[Tensor]) -> Tensor:
        param = _stack(tensors, self.device)
        self.params.append(param)
        return param

    def _bn(self, norms: Sequence[torch.nn.BatchNorm2d]) -> tuple[Tensor, Tensor]:
        return self._param([n.weight for n in norms]), self._param([n.bias for n in norms])

    def _conv_bn(self, convs: Sequence[torch.nn.Conv2d], norms: Sequence[torch.nn.BatchNorm2d]) -> dict:
        conv = convs[0]
        return {
            "weight": self._param([c.weight for c in convs]),
            "gamma_beta": self._bn(norms),
            "stride": conv.stride,
            "padding": conv.padding,
        }

    def _cell(self, cells: Sequence[NB201Cell], C: int) -> dict:
        groups: list[_EdgeGroup] = []
        for edge, (dst, src) in enumerate(EDGES):
            by_op: dict[int, list[int]] = {}
            for k, cell in enumerate(cells):
                for _, _, op, key in cell._plan:
                    if int(key) == edge:
                        by_op.setdefault(op, []).append(k)
            for op, members in sorted(by_op.items()):
                group = _EdgeGroup(edge, src, dst, op, members, _members(members, self.device))
                if op in CONV_KERNEL:
                    modules = [cells[k].edges[str(edge)] for k in members]
                    group.weight = self._param([m[1].weight for m in modules])
                    group.gamma, group.beta = self._bn([m[2] for m in modules])
                groups.append(group)
        readers = {node: sorted({g.edge for g in groups if g.src == node}) for node in range(3)}
        return {"groups": groups, "width": C, "readers": readers}

    # ---- forward ------------------------------------------------------------------------------------------

    def _apply_conv_bn(self, x: Tensor, spec: dict, groups: int, relu: bool) -> Tensor:
        if relu:
            x = F.relu(x)
        x = self._conv(x, spec["weight"], groups, spec["stride"][0], spec["padding"][0])
        gamma, beta = spec["gamma_beta"]
        return F.batch_norm(x, None, None, gamma, beta, True, BN_MOMENTUM, BN_EPS)

    def _run_cell(self, x: Tensor, cell: dict) -> Tensor:
        """One cell for all candidates, node by node as NB201Cell.forward computes it for each of them."""
        C = cell["width"]
        nodes: list[Tensor | None] = [x, None, None, None]
        # live[k][node]: the node is not all-zero for candidate k (NB201Cell: not None).
        live = [[True, False, False, False] for _ in range(self.K)]
        # Each node is read through one branch per edge that reads it (see `branch`).
        reads: dict[int, Tensor] = {}
        for group in cell["groups"]:
            members = [k for k in group.members if live[k][group.src] or group.op in CONV_KERNEL]
            if not members:
                continue
            if group.edge not in reads:
                source = nodes[group.src] if nodes[group.src] is not None else torch.zeros_like(x)
                edges = cell["readers"][group.src]
                reads.update(zip(edges, branch(source, len(edges))))
            index = group.index if len(members) == len(group.members) else _members(members, self.device)
            operand = _Gather.apply(reads[group.edge], index, C)
            if group.op == SKIP:
                term = operand
            elif group.op in CONV_KERNEL:
                term = self._conv(F.relu(operand), group.weight, len(members), 1, CONV_KERNEL[group.op] // 2)
                term = F.batch_norm(term, None, None, group.gamma, group.beta, True, BN_MOMENTUM, BN_EPS)
            else:
                term = F.avg_pool2d(operand, 3, stride=1, padding=1, count_include_pad=False)
            base = nodes[group.dst] if nodes[group.dst] is not None else torch.zeros_like(x)
            nodes[group.dst] = _ScatterAdd.apply(base, index, C, term)
            for k in members:
                live[k][group.dst] = True
        return nodes[3].contiguous(memory_format=torch.channels_last) if nodes[3] is not None else torch.zeros_like(x)

    def _forward(self, images: Tensor) -> tuple[Tensor, list[Tensor]]:
        """The pooled features (B, K*width) and the stacked taps of all candidates."""
        K = self.K
        x = images.repeat(1, K, 1, 1).contiguous(memory_format=torch.channels_last)
        out = self._apply_conv_bn(x, self.stem, K, relu=False)
        taps: list[Tensor] = []
        for index, layer in enumerate(self.layers):
            if "groups" in layer:
                out = self._run_cell(out, layer)
            else:
                into_a, into_down = branch(out, 2)
                a = self._apply_conv_bn(into_a, layer["a"], K, relu=True)
                b = self._apply_conv_bn(a, layer["b"], K, relu=True)
                out = b + self._conv(F.avg_pool2d(into_down, 2, 2), layer["down"], K)
            if index in self.tap_layers:
                out, tap = branch(out, 2)
                taps.append(tap)
        gamma, beta = self.lastact
        out = F.relu(F.batch_norm(out, None, None, gamma, beta, True, BN_MOMENTUM, BN_EPS))
        out, tap = branch(out, 2)
        taps.append(tap)
        return F.adaptive_avg_pool2d(out, 1).flatten(1), taps

    def _batched_logits(self, pooled: Tensor) -> Tensor:
        """(K, B, classes): each candidate's classifier on its own features, as one batched product."""
        weight, bias = self.classifier[0]
        K, B = self.K, pooled.shape[0]
        features = pooled.reshape(B, K, -1).transpose(0, 1)
        return torch.baddbmm(bias.view(K, 1, -1), features, weight.view(K, -1, features.shape[2]).transpose(1, 2))

    def _conv(self, x: Tensor, weight: Tensor, groups: int, stride: int = 1, padding: int = 0) -> Tensor:
        """A grouped convolution; with `split`, one convolution per group (candidate).

        oneDNN computes a grouped convolution's weight gradient in an order that depends on the number of
        groups and on the CPU's vector ISA. Running each candidate's convolution alone gives it the single
        path's arithmetic whatever its companions, at the price of more, smaller calls.
        """
        width_in = x.shape[1] // groups
        if not self.split or groups == 1:
            return F.conv2d(x, weight, None, stride, padding, 1, groups)
        width_out = weight.shape[0] // groups
        parts = [
            F.conv2d(x[:, k * width_in : (k + 1) * width_in].contiguous(memory_format=torch.channels_last),
                     weight[k * width_out : (k + 1) * width_out], None, stride, padding)
            for k in range(groups)
        ]  # fmt: skip
        return torch.cat(parts, dim=1).contiguous(memory_format=torch.channels_last)

    def _slice(self, tap: Tensor, k: int) -> Tensor:
        width = tap.shape[1] // self.K
        return tap[:, k * width : (k + 1) * width]

    def losses_and_ckas(self, batch: ProxyBatch, preset: Preset) -> tuple[Tensor, Tensor]:
        """Per candidate: the protocol's loss 0.8 sum(1 - CKA) + 0.2 CE (K,), and its CKA per tap (K, taps).

        With `split` each candidate's loss is computed from its own slice by the single path's code (so
        the bits are the single path's); without, the K losses are computed together by batched products,
        the same mathematics in another summation order.
        """
        pooled, stacked_taps = self._forward(batch.images)
        if self.split:
            width = pooled.shape[1] // self.K
            losses, ckas = [], []
            for k, (weight, bias) in enumerate(self.classifier):
                logits = F.linear(pooled[:, k * width : (k + 1) * width].contiguous(), weight, bias)
                cka = torch.stack([
                    linear_cka_from_centered_grams(centered_gram(self._slice(stacked_taps[t], k)), batch.ref_grams[t])
                    for t in preset.taps
                ])  # fmt: skip
                ce = F.cross_entropy(logits, batch.labels)
                losses.append(preset.cka_weight * (1.0 - cka).sum() + preset.ce_weight * ce)
                ckas.append(cka)
            return torch.stack(losses), torch.stack(ckas)
        logits = self._batched_logits(pooled)
        K, B = logits.shape[:2]
        ckas = torch.stack(
            [linear_cka_from_centered_grams(centered_grams(self._features(stacked_taps[t])), batch.ref_grams[t])
             for t in preset.taps],
            dim=1,
        )  # fmt: skip
        ce = F.cross_entropy(logits.reshape(K * B, -1), batch.labels.repeat(K), reduction="none").view(K, B).mean(1)
        return preset.cka_weight * (1.0 - ckas).sum(1) + preset.ce_weight * ce, ckas

    def _features(self, tap: Tensor) -> Tensor:
        """A stacked channels-last tap (B, K*C, H, W) as K feature matrices (K, B, H*W*C)."""
        return _blocks(tap, tap.shape[1] // self.K).permute(3, 0, 1, 2, 4).reshape(self.K, tap.shape[0], -1)


def train_and_score_many(
    networks: Sequence[NB201Network], batch: ProxyBatch, preset: Preset, split: bool | None = None
) -> list[ProxyResult]:
    """`trainer.train_and_score` for several freshly initialised networks at once (see the module docstring)."""
    start = time.perf_counter()
    engine = StackedNB201(networks, batch.images.device, split)
    # The multi-tensor update is a few kernels instead of several per parameter (a GPU's launch cost);
    # the CPU path keeps the single path's per-parameter update.
    optimizer = torch.optim.SGD(
        engine.params, lr=preset.lr, momentum=preset.momentum, weight_decay=preset.weight_decay, foreach=not engine.split
    )
    for _ in range(preset.steps):
        losses, _ = engine.losses_and_ckas(batch, preset)
        optimizer.zero_grad(set_to_none=True)
        losses.sum().backward()
        optimizer.step()
    with torch.no_grad():
        losses, ckas = engine.losses_and_ckas(batch, preset)
    seconds = (time.perf_counter() - start) / len(networks)
    results = []
    for final_loss, values in zip(losses.tolist(), ckas.tolist()):
        if not (math.isfinite(final_loss) and all(math.isfinite(c) for c in values)):
            results.append(worst_result(STATUS_NONFINITE, len(preset.taps), seconds))
            continue
        score = float(np.mean(values)) if preset.score == "cka" else math.exp(-final_loss)
        results.append(ProxyResult(score, final_loss, values, seconds, STATUS_OK, raw=score))
    return results


__all__ = ["StackedNB201", "train_and_score_many"]

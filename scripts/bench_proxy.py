"""Benchmark the proxy engines side by side, in one run: seconds per architecture against a plain loop.

Paths timed on the same fixed stratified sample of NB201 classes (their representatives):

- plain: METHOD.md section 2 written plainly (the reference model run at every step, an explicit
  centring matrix, `.item()` every step, W threads, the default memory layout, the preset's dtype),
  timed warm (one untimed architecture first);
- single: the project's single path (trainer.train_and_score) with one pinned thread, per process;
- single x W: the same in W processes (the throughput of a W-core machine): its wall time with the processes'
  start-up, and its steady pace (the busiest process's training time beside the others), which a table build of
  thousands of classes runs at;
- stacked: the stacked engine (proxy.engine), K networks per step, one thread.

The single and stacked paths must give the same scores bit for bit (checked here too); the plain
loop differs in float order only. The arithmetic floor is the sample's multiply-adds (NB201's FLOP
count, forward), times 3 for forward and backward, times 2 FLOPs per multiply-add, the batch and
the steps, divided by the convolution throughput measured here on the shapes NB201 uses.

`full_space_minutes_single_Wproc` extrapolates the W-process steady pace to all 6,466 NB201 classes.

    python scripts/bench_proxy.py --preset quick --n 16 --batch-dir resources/batches
    python scripts/bench_proxy.py --preset paper --n 2
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy import stats
from torch import nn

from hwevrsnas.analysis.fidelity import sample as study
from hwevrsnas.proxy.batch import ProxyBatch, load_or_build_batch, reference_checkpoint
from hwevrsnas.proxy.determinism import pinned_threads, platform
from hwevrsnas.proxy.engine import train_and_score_many
from hwevrsnas.proxy.presets import get_preset
from hwevrsnas.proxy.reference import load_reference
from hwevrsnas.proxy.rsnas import build_candidate
from hwevrsnas.proxy.trainer import train_and_score
from hwevrsnas.spaces import get_space
from hwevrsnas.spaces.nb201 import flops_m
from hwevrsnas.tables.store import NB201Table

SPACE = get_space("nb201")


def plain_cka(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Textbook linear CKA with an explicit centring matrix."""
    x, y = x.flatten(1), y.flatten(1)
    n = x.shape[0]
    h = torch.eye(n, dtype=x.dtype) - torch.ones(n, n, dtype=x.dtype) / n
    k, l_ = h @ (x @ x.T) @ h, h @ (y @ y.T) @ h
    return (k * l_).sum() / (k.norm() * l_.norm())


def plain_loop(ops: np.ndarray, batch: ProxyBatch, reference: nn.Module, preset) -> tuple[float, float]:
    """METHOD.md's protocol written plainly; returns (score, seconds)."""
    start = time.perf_counter()
    model = build_candidate(SPACE, ops, preset)
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=preset.lr, momentum=preset.momentum, weight_decay=preset.weight_decay)
    for step in range(preset.steps + 1):
        with torch.no_grad():
            _, ref_taps = reference.forward_with_taps(batch.images)
        logits, taps = model.forward_with_taps(batch.images)
        ckas = torch.stack([plain_cka(taps[t], ref_taps[t]) for t in preset.taps])
        loss = preset.cka_weight * (1 - ckas).sum() + preset.ce_weight * nn.functional.cross_entropy(logits, batch.labels)
        loss.item()
        if step == preset.steps:
            break
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return float(ckas.detach().mean()), time.perf_counter() - start


def single(args: tuple) -> list[tuple[float, float]]:
    """The single path on some architectures in this process, one pinned thread: (score, seconds) each."""
    archs, batch, preset = args
    batch = batch.to("cpu", memory_format=torch.channels_last)
    out = []
    with pinned_threads():
        for ops in archs:
            start = time.perf_counter()
            result = train_and_score(build_candidate(SPACE, ops, preset).to(memory_format=torch.channels_last), batch, preset)
            out.append((result.score, time.perf_counter() - start))
    return out


def conv_gflops(threads: int, dtype: torch.dtype, C: int) -> float:
    """Forward + backward throughput (GFLOP/s) of 3x3 convolutions at the shapes of NB201's three stages for C
    channels in the first, batch 32, channels-last, in the preset's dtype."""
    torch.set_num_threads(threads)
    flop, seconds = 0.0, 0.0
    for channels, side in ((C, 32), (2 * C, 16), (4 * C, 8)):
        x = torch.randn(32, channels, side, side, dtype=dtype).to(memory_format=torch.channels_last).requires_grad_()
        w = torch.randn(channels, channels, 3, 3, dtype=dtype).to(memory_format=torch.channels_last).requires_grad_()
        for repeat in range(6):
            start = time.perf_counter()
            F.conv2d(x, w, padding=1).sum().backward()
            if repeat:  # the first call creates the kernel
                seconds += time.perf_counter() - start
                flop += 3 * 2 * 32 * side * side * channels * channels * 9
    return flop / seconds / 1e9


def main() -> None:
    """Time every path on the sample; print one JSON object and a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--n", type=int, default=8, help="sample size (stratified over NB201 classes, seed 0)")
    parser.add_argument("--stack", type=int, default=8, help="networks per stacked step")
    parser.add_argument("--workers", type=int, default=2, help="processes of the single path's throughput run")
    parser.add_argument("--sources", default="resources/sources")
    parser.add_argument("--tables", default="resources/tables")
    parser.add_argument("--batch-dir", default="resources/proxy")
    parser.add_argument("--out", help="also write the Markdown table (with the command that made it) to this file")
    parser.add_argument("--note", default="", help="a line on the conditions of the run, written under the command")
    args = parser.parse_args()

    table = NB201Table.open(Path(args.tables) / "nb201.h5")
    preset = get_preset(args.preset)
    archs = [SPACE.representative(table.ops[i]) for i in study.stratified_sample(table, args.n, seed=0)]
    batch = load_or_build_batch(preset, Path(args.sources), Path(args.batch_dir))
    depth = int(preset.reference.removeprefix("resnet"))
    reference = load_reference(depth, reference_checkpoint(Path(args.sources), preset.reference)).to(batch.images.dtype)
    n = len(archs)

    default_threads = torch.get_num_threads()
    # The comparison is W cores against W cores: the plain loop gets the threads the W processes get.
    torch.set_num_threads(args.workers)
    plain_loop(archs[0], batch, reference, preset)
    plain = [plain_loop(ops, batch, reference, preset) for ops in archs]
    one = single((archs, batch, preset))
    start = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
        per_worker = pool.map(single, [(archs[i :: args.workers], batch, preset) for i in range(args.workers)])
    many_wall = time.perf_counter() - start  # worker start-up (torch import) included
    # A table build starts its workers once for thousands of classes: its pace is the busiest worker's training
    # time beside the others, start-up left out.
    many_steady = max(sum(seconds for _, seconds in part) for part in per_worker)
    start = time.perf_counter()
    with pinned_threads():
        networks = [build_candidate(SPACE, ops, preset).to(memory_format=torch.channels_last) for ops in archs]
        channels_last = batch.to("cpu", memory_format=torch.channels_last)
        stacked = []
        for i in range(0, n, args.stack):
            stacked += train_and_score_many(networks[i : i + args.stack], channels_last, preset)
    stacked_wall = time.perf_counter() - start
    gflops = {threads: conv_gflops(threads, batch.images.dtype, preset.C) for threads in (1, args.workers)}
    torch.set_num_threads(default_threads)

    mac = sum(float(flops_m(ops, 10, preset.C, preset.N)) for ops in archs) * 1e6 / n
    step_flop = mac * 2 * 3 * preset.batch_size
    plain_s = sum(s for _, s in plain) / n
    out = {
        "platform": platform("cpu"), "preset": preset.name, "dtype": preset.dtype, "n_archs": n,
        "plain_threads": args.workers,
        "plain_s_per_arch": plain_s,
        "single_1thread_s_per_arch": sum(s for _, s in one) / n,
        f"single_{args.workers}proc_wall_s_per_arch": many_wall / n,
        f"single_{args.workers}proc_steady_s_per_arch": many_steady / n,
        f"stacked_k{args.stack}_s_per_arch": stacked_wall / n,
        "ratio_single_to_plain": sum(s for _, s in one) / n / plain_s,
        f"ratio_single_{args.workers}proc_to_plain": many_wall / n / plain_s,
        f"ratio_single_{args.workers}proc_steady_to_plain": many_steady / n / plain_s,
        f"ratio_stacked_k{args.stack}_to_plain": stacked_wall / n / plain_s,
        f"full_space_minutes_single_{args.workers}proc": many_steady / n * len(SPACE.classes()) / 60,
        "stacked_equals_single_bitwise": all(a == b.score for (a, _), b in zip(one, stacked)),
        # Two scores are ordered alike or not: a rank correlation needs at least three.
        "spearman_single_vs_plain": float(stats.spearmanr([s for s, _ in plain], [s for s, _ in one]).statistic)
        if n >= 3 else f"- (n = {n})",
        "max_abs_score_diff_single_vs_plain": float(np.max(np.abs(np.subtract([s for s, _ in plain], [s for s, _ in one])))),
        "mean_gflop_per_step": step_flop / 1e9,
        "conv_gflops_1thread": gflops[1], f"conv_gflops_{args.workers}threads": gflops[args.workers],
        f"arithmetic_floor_s_per_arch_{args.workers}threads": step_flop * preset.steps / (gflops[args.workers] * 1e9),
    }  # fmt: skip
    print(json.dumps(out, indent=1))
    rows = [f"| {key} | {value if isinstance(value, (str, bool)) else f'{value:.4g}'} |" for key, value in out.items()]
    markdown = "\n".join(["| figure | value |", "|---|---|", *rows]) + "\n"
    print("\n" + markdown)
    if args.out:
        command = (f"python scripts/bench_proxy.py --preset {args.preset} --n {args.n} --stack {args.stack} "
                   f"--workers {args.workers} --batch-dir {args.batch_dir}")  # fmt: skip
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        note = f"{args.note}\n\n" if args.note else ""
        Path(args.out).write_text(f"    {command}\n\n{note}{markdown}")


if __name__ == "__main__":
    main()

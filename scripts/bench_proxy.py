"""Benchmark the proxy: seconds per unique architecture, fast path vs a plain loop of the same protocol.

The plain loop is the straightforward implementation of METHOD.md section 2 that the fast path is
judged against: it runs the reference model on the batch at every step, builds the centring
matrix H explicitly, logs the loss with `.item()` every step and uses torch's default threads.
Both train the same seeded networks on the same batch, so their scores should rank alike.
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from pathlib import Path

import numpy as np
import torch
from scipy import stats
from torch import nn

from hwevrsnas.proxy import study
from hwevrsnas.proxy.batch import ProxyBatch
from hwevrsnas.proxy.evaluator import build_network, evaluator_from_files, load_or_build_batch, reference_checkpoint
from hwevrsnas.proxy.presets import get_preset
from hwevrsnas.proxy.reference import load_reference
from hwevrsnas.tables.store import NB201Table


def plain_cka(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Textbook linear CKA with an explicit centring matrix."""
    x, y = x.flatten(1), y.flatten(1)
    n = x.shape[0]
    h = torch.eye(n) - torch.ones(n, n) / n
    k, l_ = h @ (x @ x.T) @ h, h @ (y @ y.T) @ h
    return (k * l_).sum() / (k.norm() * l_.norm())


def plain_loop(ops: np.ndarray, batch: ProxyBatch, reference: nn.Module, preset) -> tuple[float, float]:
    """METHOD.md's protocol written plainly; returns (score, seconds)."""
    start = time.perf_counter()
    torch.manual_seed(preset.seed)
    model = build_network("nb201", ops, preset)
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=preset.lr, momentum=preset.momentum, weight_decay=preset.weight_decay)
    history = []
    for _ in range(preset.steps + 1):
        with torch.no_grad():
            _, ref_taps = reference.forward_with_taps(batch.images)
        logits, taps = model.forward_with_taps(batch.images)
        ckas = torch.stack([plain_cka(taps[t], ref_taps[t]) for t in preset.taps])
        loss = preset.cka_weight * (1 - ckas).sum() + preset.ce_weight * nn.functional.cross_entropy(logits, batch.labels)
        history.append(loss.item())
        if len(history) > preset.steps:
            break
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return float(ckas.detach().mean()), time.perf_counter() - start


def main() -> None:
    """Time both paths on a fixed stratified sample and print one JSON object and a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--n", type=int, default=8, help="sample size (stratified, seed 0)")
    parser.add_argument("--sources", default="resources/sources")
    parser.add_argument("--tables", default="resources/tables")
    parser.add_argument("--batch-dir", default="resources/proxy")
    parser.add_argument("--workers", type=int, default=2, help="worker processes for the fast path's throughput run")
    args = parser.parse_args()

    table = NB201Table.open(Path(args.tables) / "nb201.h5")
    preset = get_preset(args.preset)
    indices = study.stratified_sample(table, args.n, seed=0)
    batch_path = load_or_build_batch(preset, Path(args.sources), Path(args.batch_dir), return_path=True)
    batch = ProxyBatch.load(batch_path)
    reference = load_reference(int(preset.reference.removeprefix("resnet")), reference_checkpoint(Path(args.sources), preset.reference))

    plain = [plain_loop(table.ops[i], batch, reference, preset) for i in indices]
    plain_wall = sum(s for _, s in plain)
    factory = functools.partial(evaluator_from_files, "nb201", preset, batch_path, None)
    default_threads = torch.get_num_threads()
    start = time.perf_counter()
    fast_one = study.score_all(factory, table.ops[indices], workers=1, threads=default_threads, progress=False)
    fast_one_wall = time.perf_counter() - start
    start = time.perf_counter()
    study.score_all(factory, table.ops[indices], workers=args.workers, threads=1, progress=False)
    fast_many_wall = time.perf_counter() - start  # throughput: worker start-up (torch import) included
    torch.set_num_threads(default_threads)
    plain_scores = [s for s, _ in plain]
    many = f"fast_{args.workers}workers_1thread"
    out = {
        "preset": preset.name,
        "n_archs": len(indices),
        "torch_threads_default": default_threads,
        "plain_s_per_arch": plain_wall / len(indices),
        "fast_1proc_s_per_arch": fast_one_wall / len(indices),
        f"{many}_s_per_arch": fast_many_wall / len(indices),
        "ratio_fast_1proc_to_plain": fast_one_wall / plain_wall,
        f"ratio_{many}_to_plain": fast_many_wall / plain_wall,
        "spearman_fast_vs_plain": float(stats.spearmanr(plain_scores, [r["score"] for r in fast_one]).statistic),
        "max_abs_score_diff": float(np.max(np.abs(np.subtract(plain_scores, [r["score"] for r in fast_one])))),
    }
    print(json.dumps(out, indent=1))
    print("\n| figure | value |\n|---|---|")
    for key, value in out.items():
        print(f"| {key} | {value if isinstance(value, str) else f'{value:.4g}'} |")


if __name__ == "__main__":
    main()

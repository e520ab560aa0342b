"""Our zero-cost scores against NASLib's archived ones (NAS-Bench-Suite-Zero) on NB201 CIFAR-10.

For the ~724 CIFAR-10 architectures of NASLib's zc_nasbench201.json, compute our synflow, naswot,
grad_norm, snip, params and flops on one seeded batch of CIFAR-10 training images (the NB201
network at C=16, N=5, PyTorch default init after torch.manual_seed(seed), one fresh network per
metric), then report Spearman's rho of ours vs NASLib's, of each vs the 200-epoch CIFAR-10 test
accuracy (nats_bench.csv), and the seconds per architecture per metric.

NASLib's keys are op tuples in NASLib's op order (skip, none, conv3x3, conv1x1, avgpool) and edge
order (1<-0), (2<-0), (3<-0), (2<-1), (3<-1), (3<-2); they are converted to ours here.
NASLib drew one training batch of 32 images (its default batch size for these runs) per
architecture, with crop/flip augmentation; here one batch, seeded, is shared by every architecture.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from scipy.stats import spearmanr

from hwevrsnas.proxy.data import augment, load_cifar10, to_tensor
from hwevrsnas.proxy.zerocost import SCORE_FUNCTIONS
from hwevrsnas.spaces import nb201
from hwevrsnas.spaces.nb201_network import NB201Network

NASLIB_JSON = "NASLib/naslib/data/zc_nasbench201.json"
NATS_CSV = "nats-bench-landscape/nats_bench.csv"
IMAGES = "CIFAR-10-images"
# NASLib op index -> ours; our edge e is NASLib's edge NASLIB_EDGE_ORDER[e].
NASLIB_TO_OURS_OP = np.array([nb201.SKIP, nb201.NONE, nb201.CONV3, nb201.CONV1, nb201.AVGPOOL])
NASLIB_EDGE_ORDER = [0, 1, 3, 2, 4, 5]
NASLIB_NAMES = {"synflow": "synflow", "naswot": "nwot", "grad_norm": "grad_norm", "snip": "snip", "params": "params", "flops": "flops"}
METRICS = ("synflow", "naswot", "grad_norm", "snip", "params", "flops")


def naslib_to_ops(key: str) -> np.ndarray:
    """A NASLib op-tuple key such as '(0, 2, 3, 2, 3, 1)' to our (6,) op array."""
    naslib = np.array(json.loads(key.replace("(", "[").replace(")", "]")), dtype=np.int64)
    return NASLIB_TO_OURS_OP[naslib[NASLIB_EDGE_ORDER]].astype(np.uint8)


def load_batch(mirror: Path, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`size` seeded CIFAR-10 training images, crop/flip augmented, normalised as the proxy does."""
    images, labels = load_cifar10(mirror / IMAGES, "train")
    rng = np.random.default_rng(seed)
    index = np.sort(rng.choice(len(images), size=size, replace=False))
    return to_tensor(augment(images[index], rng)), torch.as_tensor(labels[index], dtype=torch.int64)


def _rho(a: pd.Series, b: pd.Series) -> float:
    a, b = a.to_numpy(dtype=float), b.to_numpy(dtype=float)
    # -inf (naswot of a cell that ignores its input) simply ranks lowest; NaN is dropped.
    keep = ~(np.isnan(a) | np.isnan(b))
    return float(spearmanr(a[keep], b[keep]).statistic)


def check_against_naslib(
    mirror: Path, metrics: Sequence[str], limit: int | None = None, batch_size: int = 32, seed: int = 0,
    out: Path | None = None,
) -> None:
    """Score every architecture (progress on stderr), print the Markdown report; with `out` also the scores as CSV."""
    torch.set_num_threads(1)
    entries = json.loads((mirror / NASLIB_JSON).read_text())["cifar10"]
    keys = list(entries)[:limit]
    nats = pd.read_csv(mirror / NATS_CSV)
    index_of = {arch: i for i, arch in enumerate(nats["ArchitectureString"])}
    accuracy = nats["CIFAR10TestAccuracy200Epochs"].to_numpy()
    images, labels = load_batch(mirror, batch_size, seed)
    print(f"{len(keys)} architectures, batch of {len(labels)} images, seed {seed}, 1 thread", file=sys.stderr)

    rows = []
    seconds: dict[str, list[float]] = {m: [] for m in metrics}
    start_all = time.perf_counter()
    for n, key in enumerate(keys, start=1):
        ops = naslib_to_ops(key)
        row = {"naslib_key": key, "arch": nb201.ops_to_arch(ops), "nb201_index": index_of[nb201.ops_to_arch(ops)]}
        row["acc200"] = accuracy[row["nb201_index"]]
        for metric in metrics:
            torch.manual_seed(seed)
            model = NB201Network(ops, C=16, N=5, num_classes=10)
            start = time.perf_counter()
            row[f"ours_{metric}"] = SCORE_FUNCTIONS[metric](model, images, labels)
            seconds[metric].append(time.perf_counter() - start)
            row[f"naslib_{metric}"] = entries[key][NASLIB_NAMES[metric]]["score"]
        rows.append(row)
        if n % 50 == 0:
            print(f"  {n}/{len(keys)} in {time.perf_counter() - start_all:.0f} s", file=sys.stderr)
    table = pd.DataFrame(rows)
    if out is not None:
        table.to_csv(out, index=False)

    print(f"\n{len(table)} NB201 CIFAR-10 architectures of NASLib's zc_nasbench201.json; "
          f"batch {len(labels)} train images (seed {seed}); total {time.perf_counter() - start_all:.0f} s\n")
    print("| metric | rho ours vs NASLib | rho ours vs acc200 | rho NASLib vs acc200 | s/arch (ours, 1 thread) | s/arch (NASLib, archived) | non-finite (ours) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for metric in metrics:
        ours, theirs = table[f"ours_{metric}"], table[f"naslib_{metric}"]
        naslib_time = np.mean([entries[k][NASLIB_NAMES[metric]]["time"] for k in keys])
        nonfinite = int((~np.isfinite(ours.to_numpy(dtype=float))).sum())
        print(
            f"| {metric} | {_rho(ours, theirs):.3f} | {_rho(ours, table['acc200']):.3f} | "
            f"{_rho(theirs, table['acc200']):.3f} | {np.mean(seconds[metric]):.3f} | {naslib_time:.3f} | {nonfinite} |"
        )
    if "params" in metrics:
        exact = np.isclose(table["ours_params"], table["naslib_params"], rtol=0, atol=5e-7).mean()
        print(f"\nparams equal to NASLib's (to 1e-6 M) for {100 * exact:.1f}% of architectures")


__all__ = ["METRICS", "check_against_naslib", "load_batch", "naslib_to_ops"]

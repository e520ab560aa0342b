"""Check our zero-cost scores against NASLib's archived ones (NAS-Bench-Suite-Zero) on NB201 CIFAR-10.

For the ~724 CIFAR-10 architectures of NASLib's zc_nasbench201.json, compute our synflow, naswot,
grad_norm, snip, params and flops on one seeded batch of CIFAR-10 training images (the NB201
network at C=16, N=5, PyTorch default init after torch.manual_seed(seed), one fresh network per
metric), then print a Markdown table of Spearman's rho of ours vs NASLib's, of each vs the 200-epoch
CIFAR-10 test accuracy (nats_bench.csv), and the seconds per architecture per metric.

NASLib's keys are op tuples in NASLib's op order (skip, none, conv3x3, conv1x1, avgpool) and edge
order (1<-0), (2<-0), (3<-0), (2<-1), (3<-1), (3<-2); they are converted to ours here.
NASLib drew one training batch of 32 images (its default batch size for these runs) per
architecture, with crop/flip augmentation; here one batch, seeded, is shared by every architecture.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

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


def main() -> None:
    """Parse arguments, score every architecture and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mirror", type=Path, default=os.environ.get("HWEVRSNAS_MIRROR"), help="data mirror directory")
    parser.add_argument("--limit", type=int, default=None, help="only the first N architectures (quick run)")
    parser.add_argument("--batch-size", type=int, default=32, help="images in the batch (NASLib used 32)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the image draw and of every network init")
    parser.add_argument("--metrics", default=",".join(METRICS), help="comma-separated subset of " + ",".join(METRICS))
    parser.add_argument("--out", type=Path, default=None, help="also write per-architecture scores to this CSV")
    args = parser.parse_args()
    if args.mirror is None:
        parser.error("give --mirror or set HWEVRSNAS_MIRROR")
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    unknown = sorted(set(metrics) - set(METRICS))
    if unknown:
        parser.error(f"unknown metrics {unknown}; valid: {', '.join(METRICS)}")
    torch.set_num_threads(1)
    mirror = Path(args.mirror)

    entries = json.loads((mirror / NASLIB_JSON).read_text())["cifar10"]
    keys = list(entries)[: args.limit]
    nats = pd.read_csv(mirror / NATS_CSV)
    index_of = {arch: i for i, arch in enumerate(nats["ArchitectureString"])}
    accuracy = nats["CIFAR10TestAccuracy200Epochs"].to_numpy()
    images, labels = load_batch(mirror, args.batch_size, args.seed)
    print(f"{len(keys)} architectures, batch of {len(labels)} images, seed {args.seed}, 1 thread", file=sys.stderr)

    rows = []
    seconds = {m: [] for m in metrics}
    start_all = time.perf_counter()
    for n, key in enumerate(keys, start=1):
        ops = naslib_to_ops(key)
        row = {"naslib_key": key, "arch": nb201.ops_to_arch(ops), "nb201_index": index_of[nb201.ops_to_arch(ops)]}
        row["acc200"] = accuracy[row["nb201_index"]]
        for metric in metrics:
            torch.manual_seed(args.seed)
            model = NB201Network(ops, C=16, N=5, num_classes=10)
            start = time.perf_counter()
            row[f"ours_{metric}"] = SCORE_FUNCTIONS[metric](model, images, labels)
            seconds[metric].append(time.perf_counter() - start)
            row[f"naslib_{metric}"] = entries[key][NASLIB_NAMES[metric]]["score"]
        rows.append(row)
        if n % 50 == 0:
            print(f"  {n}/{len(keys)} in {time.perf_counter() - start_all:.0f} s", file=sys.stderr)
    table = pd.DataFrame(rows)
    if args.out is not None:
        table.to_csv(args.out, index=False)

    def rho(a: pd.Series, b: pd.Series) -> float:
        a, b = a.to_numpy(dtype=float), b.to_numpy(dtype=float)
        # -inf (naswot of a cell that ignores its input) simply ranks lowest; NaN is dropped.
        keep = ~(np.isnan(a) | np.isnan(b))
        return float(spearmanr(a[keep], b[keep]).statistic)

    print(f"\n{len(table)} NB201 CIFAR-10 architectures of NASLib's zc_nasbench201.json; "
          f"batch {len(labels)} train images (seed {args.seed}); total {time.perf_counter() - start_all:.0f} s\n")
    print("| metric | rho ours vs NASLib | rho ours vs acc200 | rho NASLib vs acc200 | s/arch (ours, 1 thread) | s/arch (NASLib, archived) | non-finite (ours) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for metric in metrics:
        ours, theirs = table[f"ours_{metric}"], table[f"naslib_{metric}"]
        naslib_time = np.mean([entries[k][NASLIB_NAMES[metric]]["time"] for k in keys])
        nonfinite = int((~np.isfinite(ours.to_numpy(dtype=float))).sum())
        print(
            f"| {metric} | {rho(ours, theirs):.3f} | {rho(ours, table['acc200']):.3f} | "
            f"{rho(theirs, table['acc200']):.3f} | {np.mean(seconds[metric]):.3f} | {naslib_time:.3f} | {nonfinite} |"
        )
    if "params" in metrics:
        exact = np.isclose(table["ours_params"], table["naslib_params"], rtol=0, atol=5e-7).mean()
        print(f"\nparams equal to NASLib's (to 1e-6 M) for {100 * exact:.1f}% of architectures")


if __name__ == "__main__":
    main()

"""Where the proxy's time goes, and how fast its convolutions could run: the profile behind docs/bench's engine pages.

Two measurements in one run, one thread (a table build runs one thread per process):

1. The single path (trainer.train_and_score, as `scores build` runs it) on the same stratified sample as
   scripts/bench_proxy.py, under torch.profiler: self CPU time per family of operators, as a share of the total.
2. Forward + backward throughput of every convolution shape of the preset's network (batch, channels and side of
   each stage; 3x3 and 1x1), in the preset's dtype, three ways: F.conv2d on channels-last tensors (the project's
   layout), on contiguous ones, and as one matrix product (the 3x3 neighbourhoods gathered into a matrix,
   `torch.mm`, the gradients by two more products and a scatter); beside them, one large square `torch.mm`, the
   speed the machine's BLAS reaches in that dtype when the shapes do not hold it back.

    python scripts/profile_proxy.py --preset quick --n 8 --out docs/bench/profile-quick.md
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections import defaultdict
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.profiler import profile

from hwevrsnas.analysis.fidelity import sample as study
from hwevrsnas.proxy.batch import load_or_build_batch
from hwevrsnas.proxy.determinism import pinned_threads, platform
from hwevrsnas.proxy.presets import get_preset
from hwevrsnas.proxy.rsnas import build_candidate
from hwevrsnas.proxy.trainer import train_and_score
from hwevrsnas.spaces import get_space
from hwevrsnas.tables.store import NB201Table

SPACE = get_space("nb201")
# Operator families, matched in this order against the aten operator's name.
FAMILIES = (
    ("convolution backward", ("conv2d_backward", "convolution_backward")),
    ("convolution forward", ("conv2d_forward", "mkldnn_convolution", "convolution")),
    ("batch norm", ("batch_norm",)),
    ("average pool", ("avg_pool2d",)),
    ("matrix products (CKA, classifier)", ("aten::mm", "aten::addmm", "aten::bmm")),
    ("add, ReLU and their gradients", ("aten::add", "relu", "clamp_min", "threshold_backward")),
)


def family(name: str) -> str:
    return next((label for label, keys in FAMILIES if any(key in name for key in keys)), "everything else")


def step_profile(archs: list, batch, preset) -> dict[str, float]:
    """Share of self CPU time per operator family over training and scoring the sample."""
    def net(ops):
        return build_candidate(SPACE, ops, preset).to(memory_format=torch.channels_last)

    train_and_score(net(archs[0]), batch, preset)  # warm
    with profile() as prof:
        for ops in archs:
            train_and_score(net(ops), batch, preset)
    by_family: dict[str, float] = defaultdict(float)
    for event in prof.key_averages():
        by_family[family(event.key)] += event.self_cpu_time_total
    total = sum(by_family.values())
    return {label: by_family[label] / total for label, _ in (*FAMILIES, ("everything else", ()))}


def timed(fn, repeat: int = 8) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def conv_as_matrix_product(x: torch.Tensor, w: torch.Tensor, grad: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """A stride-1 'same' convolution and its two gradients as matrix products over the gathered neighbourhoods:
    (output, weight gradient, input gradient), each in F.conv2d's layout."""
    n, c, h, width = x.shape
    out_c, _, k, _ = w.shape
    pad = k // 2
    padded = F.pad(x.permute(0, 2, 3, 1), (0, 0, pad, pad, pad, pad))
    shifts = [(dy, dx) for dy in range(k) for dx in range(k)]
    columns = torch.stack([padded[:, dy : dy + h, dx : dx + width] for dy, dx in shifts], 3).reshape(-1, k * k * c)
    matrix = w.permute(2, 3, 1, 0).reshape(k * k * c, out_c)
    output = (columns @ matrix).view(n, h, width, out_c).permute(0, 3, 1, 2)
    flat_grad = grad.permute(0, 2, 3, 1).reshape(-1, out_c)
    grad_weight = (columns.T @ flat_grad).view(k, k, c, out_c).permute(3, 2, 0, 1)
    grad_columns = (flat_grad @ matrix.T).view(n, h, width, k * k, c)
    grad_padded = torch.zeros_like(padded)
    for i, (dy, dx) in enumerate(shifts):
        grad_padded[:, dy : dy + h, dx : dx + width] += grad_columns[:, :, :, i]
    grad_input = grad_padded[:, pad : pad + h, pad : pad + width].permute(0, 3, 1, 2)
    return output, grad_weight, grad_input


def conv_rows(preset, dtype: torch.dtype) -> list[tuple[str, float, float, float]]:
    """(shape, GFLOP/s channels-last, contiguous, as one matrix product) per convolution shape of the network."""
    rows = []
    for channels, side in ((preset.C, 32), (2 * preset.C, 16), (4 * preset.C, 8)):
        for k in (3, 1):
            x = torch.randn(preset.batch_size, channels, side, side, dtype=dtype)
            w = torch.randn(channels, channels, k, k, dtype=dtype)
            grad = torch.randn_like(x)
            flop = 3 * 2 * x.numel() * channels * k * k

            def library(layout):
                xl = x.contiguous(memory_format=layout).requires_grad_()
                wl = w.contiguous(memory_format=layout).requires_grad_()
                gl = grad.contiguous(memory_format=layout)
                return lambda: F.conv2d(xl, wl, padding=k // 2).backward(gl)

            speeds = [flop / timed(f) / 1e9 for f in (library(torch.channels_last), library(torch.contiguous_format),
                                                       lambda: conv_as_matrix_product(x, w, grad))]  # fmt: skip
            rows.append((f"{channels} ch, {side}x{side}, {k}x{k}", *speeds))
    return rows


def main() -> None:
    """Profile and time; print and optionally write the Markdown page."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--n", type=int, default=8, help="sample size (stratified over NB201 classes, seed 0)")
    parser.add_argument("--sources", default="resources/sources")
    parser.add_argument("--tables", default="resources/tables")
    parser.add_argument("--batch-dir", default="resources/proxy")
    parser.add_argument("--out", help="also write the Markdown page (with the command that made it) to this file")
    args = parser.parse_args()

    preset = get_preset(args.preset)
    table = NB201Table.open(Path(args.tables) / "nb201.h5")
    archs = [SPACE.representative(table.ops[i]) for i in study.stratified_sample(table, args.n, seed=0)]
    batch = load_or_build_batch(preset, Path(args.sources), Path(args.batch_dir)).to("cpu", memory_format=torch.channels_last)
    dtype = batch.images.dtype
    with pinned_threads():
        shares = step_profile(archs, batch, preset)
        convs = conv_rows(preset, dtype)
        a = torch.randn(1024, 1024, dtype=dtype)
        blas = 2 * 1024**3 / timed(lambda: a @ a) / 1e9
    name = str(dtype).removeprefix("torch.")
    lines = [
        f"The `{preset.name}` preset ({name}), one thread, platform `{platform('cpu')}`; {len(archs)} classes.",
        "",
        "| operator family | share of self CPU time |",
        "|---|---:|",
        *(f"| {label} | {share:.1%} |" for label, share in shares.items()),
        "",
        f"Convolution throughput, forward + backward, batch {preset.batch_size}, GFLOP/s "
        f"(a 1024 x 1024 x 1024 `torch.mm` in {name}: {blas:.1f} GFLOP/s):",
        "",
        "| shape | channels-last | contiguous | one matrix product |",
        "|---|---:|---:|---:|",
        *(f"| {shape} | {a:.1f} | {b:.1f} | {c:.1f} |" for shape, a, b, c in convs),
    ]
    markdown = "\n".join(lines) + "\n"
    print(markdown)
    if args.out:
        command = shlex.join(["python", f"scripts/{Path(__file__).name}", *sys.argv[1:]])
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(f"    {command}\n\n{markdown}")


if __name__ == "__main__":
    main()

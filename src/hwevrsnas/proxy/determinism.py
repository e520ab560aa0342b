"""What makes a float32 proxy score reproducible, and the platform identity every score records.

Single-batch training is sensitive to rounding: a 1e-7 relative change of one weight flips the
sign of a few ReLU inputs within a few steps, after which the trajectory moves away, and quick-preset
scores move by up to about 1e-2 (the same happens between 1 and 2 intra-op threads, whose
reductions sum in a different order). So a score is reproducible bit for bit only when the same
kernels run with the same reduction order: scores are computed with the intra-op thread count
pinned to `SCORE_THREADS` (parallelism comes from processes instead), and every score records
the platform it was computed on (device kind, CPU vector ISA or GPU model, torch version), which
is part of its cache key and of a score table's identity.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

SCORE_THREADS = 1


@contextlib.contextmanager
def pinned_threads(threads: int = SCORE_THREADS) -> Iterator[None]:
    """Run with torch's intra-op thread count set to `threads`, restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def platform(device: str) -> str:
    """The platform part of a score's identity, e.g. `cpu/AVX2/torch-2.13.0` or `cuda/NVIDIA H200/torch-2.13.0`."""
    import torch

    kind = str(device).split(":")[0]
    if kind == "cuda":
        return f"cuda/{torch.cuda.get_device_name(device)}/torch-{torch.__version__}"
    return f"{kind}/{torch.backends.cpu.get_cpu_capability()}/torch-{torch.__version__}"


def deterministic_backend(device: str) -> None:
    """On a GPU: the same convolution algorithms every time, and float32 arithmetic throughout.

    cuDNN's autotuning picks algorithms by timing, so it is off. PyTorch lets cuDNN run float32
    convolutions in TF32 (a 10-bit mantissa) by default on Ampere and later GPUs; the protocol is
    float32, so TF32 is off for convolutions and matrix products.
    """
    import torch

    if str(device).startswith("cuda"):
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False


def resolve_accelerator(name: str) -> str:
    """`auto` -> `cuda` when torch sees a GPU, else `cpu`; `cuda` without a GPU is an InputError."""
    from hwevrsnas.errors import InputError

    if name not in ACCELERATORS:
        raise InputError(f"unknown accelerator {name!r}; valid accelerators: {', '.join(ACCELERATORS)}")
    if name == "cpu":
        return name  # without importing torch: a search served by score tables never needs it
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("accelerator cuda requested, but torch sees no CUDA device")
    return name


ACCELERATORS = ("auto", "cpu", "cuda")

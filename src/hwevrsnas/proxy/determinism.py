"""What makes a float32 proxy score reproducible, and the platform identity every score records.

Single-batch training is sensitive to rounding: a 1e-7 relative change of one weight flips the
sign of a few ReLU inputs within a few steps, after which the trajectory moves away, and quick-preset
scores move by up to about 1e-2 (the same happens between 1 and 2 intra-op threads, whose
reductions sum in a different order). So a score is reproducible bit for bit only when the same
kernels run with the same reduction order: scores are computed with the intra-op thread count
pinned to `SCORE_THREADS` (parallelism comes from processes instead), and every score records
the platform it was computed on (device kind, CPU vector ISA and processor model, or GPU model; torch
version), which is part of its cache key and of a score table's identity.

The vector ISA alone does not tell two CPUs' rounding apart: an AMD EPYC (Zen 4) and an Intel
AVX-512 machine both report `AVX512` to torch, yet oneDNN picks its convolution kernels (and their
blocking, so their summation order) per processor, and the two machines' `quick` tables differ. On a
cluster of mixed nodes, a shared score cache or a table merged from shards would otherwise hold one
machine's scores under another's name, and a search's result would depend on which node computed first.
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform as _platform
import subprocess
import sys
from pathlib import Path
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


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity (what SLURM or taskset grants it), else the machine's."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity on macOS
        return os.cpu_count() or 1


def platform(device: str) -> str:
    """The platform part of a score's identity.

    E.g. `cpu/AVX512/AuthenticAMD-25-17/torch-2.13.0+cpu` (vector ISA, then `cpu_model()`) or
    `cuda/NVIDIA H200/torch-2.13.0`.
    """
    import torch

    kind = str(device).split(":")[0]
    if kind == "cuda":
        return f"cuda/{torch.cuda.get_device_name(device)}/torch-{torch.__version__}"
    return f"{kind}/{torch.backends.cpu.get_cpu_capability()}/{cpu_model()}/torch-{torch.__version__}"


@functools.lru_cache(maxsize=1)
def cpu_model() -> str:
    """The processor's microarchitecture, as the operating system reports it.

    x86 Linux: `<vendor>-<family>-<model>` from /proc/cpuinfo (e.g. `GenuineIntel-6-85`), the numbers
    that name a microarchitecture, which virtual machines pass through even where they hide the
    marketing name. ARM Linux: `arm-<implementer>-<part>`. macOS: the brand string. Elsewhere, Python's
    `platform.processor()` (on Windows it holds family and model too).
    """
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        model = cpu_model_from_cpuinfo(cpuinfo.read_text(errors="replace"))
        if model:
            return model
    if sys.platform == "darwin":
        try:
            brand = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True,
                                   timeout=10).stdout.strip()  # fmt: skip
        except (OSError, subprocess.SubprocessError):
            brand = ""
        if brand:
            return _clean(brand)
    return _clean(_platform.processor() or _platform.machine() or "unknown")


def cpu_model_from_cpuinfo(text: str) -> str | None:
    """`<vendor>-<family>-<model>` (x86) or `arm-<implementer>-<part>` from /proc/cpuinfo's first processor."""
    fields: dict[str, str] = {}
    for line in text.split("\n\n")[0].splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    if all(fields.get(key) for key in ("vendor_id", "cpu family", "model")):
        return _clean(f"{fields['vendor_id']}-{fields['cpu family']}-{fields['model']}")
    if fields.get("CPU implementer") and fields.get("CPU part"):
        return _clean(f"arm-{fields['CPU implementer']}-{fields['CPU part']}")
    return None


def _clean(text: str) -> str:
    """One token without `/` or spaces, so that the platform keeps its `/`-separated parts."""
    return "-".join(text.replace("/", "-").split())


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

# Environment variables that cap the vector ISA of PyTorch's own kernels (ATen), of oneDNN and of MKL, by the
# ISA torch picks by default here: the next lower kernel set, so that two runs on one machine differ only in
# the kernels' rounding (and summation order), as two machines do.
_LOWER_KERNELS = {
    "AVX512": ("avx2", {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}),
    "AVX2": ("sse4", {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41",
                      "MKL_ENABLE_INSTRUCTIONS": "SSE4_2"}),  # fmt: skip
}
KERNEL_SETS = ("default", "lower")


def kernel_environment(kernels: str) -> tuple[str, dict[str, str]]:
    """The name and environment variables of a kernel set: `default` (none) or `lower` (see _LOWER_KERNELS)."""
    from hwevrsnas.errors import InputError

    if kernels not in KERNEL_SETS:
        raise InputError(f"unknown kernel set {kernels!r}; valid: {', '.join(KERNEL_SETS)}")
    if kernels == "default":
        return "default", {}
    import torch

    capability = torch.backends.cpu.get_cpu_capability()
    if capability not in _LOWER_KERNELS:
        raise InputError(f"no lower kernel set is known below {capability!r} on this machine; valid there: default")
    return _LOWER_KERNELS[capability]

"""The benchmark scripts measure what they say: the convolution they time as matrix products is the convolution,
and the memory sampler sees a known allocation."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


def script(name: str):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("k", [3, 1])
def test_the_matrix_product_convolution_equals_conv2d_and_its_gradients(k: int) -> None:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(4, 8, 12, 12, dtype=torch.float64, generator=generator).requires_grad_()
    w = torch.randn(16, 8, k, k, dtype=torch.float64, generator=generator).requires_grad_()
    grad = torch.randn(4, 16, 12, 12, dtype=torch.float64, generator=generator)
    expected = F.conv2d(x, w, padding=k // 2)
    expected.backward(grad)
    output, grad_weight, grad_input = script("profile_proxy").conv_as_matrix_product(x.detach(), w.detach(), grad)
    torch.testing.assert_close(output, expected.detach(), rtol=0, atol=1e-12)
    torch.testing.assert_close(grad_weight, w.grad, rtol=0, atol=1e-11)
    torch.testing.assert_close(grad_input, x.grad, rtol=0, atol=1e-12)


def test_the_memory_sampler_sees_a_child_process_allocation() -> None:
    """A parent that starts a child holding 300 MB: the tree's peak counts the child, the largest process is it."""
    child = "import time; block = bytearray(300 * 1024 * 1024); time.sleep(0.5)"
    parent = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {child!r}], check=True)"
    peaks = script("bench_table_memory").peak_rss([sys.executable, "-c", parent])
    assert peaks["largest_mb"] >= 300
    assert peaks["tree_mb"] >= peaks["largest_mb"] + 5  # the parent interpreter too
    assert peaks["wall_s"] >= 0.5

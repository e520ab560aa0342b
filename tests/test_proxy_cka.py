"""Linear CKA: the defining properties, a hand-computed value, zero variance, gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hwevrsnas.proxy.cka import centered_gram, gram, linear_cka, linear_cka_from_centered_grams


def _cka_numpy(x: np.ndarray, y: np.ndarray) -> float:
    """The METHOD.md formula written literally, in float64: K, L, H = I - 11^T/N, HKH, HLH."""
    n = x.shape[0]
    x, y = x.reshape(n, -1), y.reshape(n, -1)
    h = np.eye(n) - np.ones((n, n)) / n
    kc, lc = h @ (x @ x.T) @ h, h @ (y @ y.T) @ h
    return float((kc * lc).sum() / (np.linalg.norm(kc) * np.linalg.norm(lc)))


def _random(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _orthogonal(size: int, seed: int) -> torch.Tensor:
    q, r = torch.linalg.qr(_random(size, size, seed=seed))
    return q * torch.sign(torch.diagonal(r))


def test_hand_computed_value() -> None:
    # X = [[1,0],[0,2],[2,1]]: K = X X^T = [[1,0,2],[0,4,2],[2,2,5]]. Column means are (1,1), so
    # HX = [[0,-1],[-1,1],[1,0]] and HKH = (HX)(HX)^T = [[1,-1,0],[-1,2,-1],[0,-1,1]], ||HKH||^2 = 10.
    # Y = [[0],[1],[2]] (a different width): HY = [-1,0,1], HLH = [[1,0,-1],[0,0,0],[-1,0,1]], ||HLH||^2 = 4.
    # <HKH, HLH> = 1*1 + 0*(-1) + 0*(-1) + 1*1 = 2, so CKA = 2 / (sqrt(10) * 2) = 1 / sqrt(10).
    x = torch.tensor([[1.0, 0.0], [0.0, 2.0], [2.0, 1.0]])
    y = torch.tensor([[0.0], [1.0], [2.0]])
    assert torch.equal(gram(x), torch.tensor([[1.0, 0.0, 2.0], [0.0, 4.0, 2.0], [2.0, 2.0, 5.0]]))
    assert torch.equal(centered_gram(x), torch.tensor([[1.0, -1.0, 0.0], [-1.0, 2.0, -1.0], [0.0, -1.0, 1.0]]))
    assert linear_cka(x, y).item() == pytest.approx(1 / math.sqrt(10), rel=1e-6)
    assert _cka_numpy(x.numpy(), y.numpy()) == pytest.approx(1 / math.sqrt(10), rel=1e-12)


def test_centered_gram_is_hkh() -> None:
    x = _random(8, 5) + 3.0
    h = torch.eye(8) - torch.full((8, 8), 1 / 8)
    torch.testing.assert_close(centered_gram(x), h @ gram(x) @ h, rtol=1e-5, atol=1e-4)


def test_identical_inputs_give_one() -> None:
    x = _random(32, 16, 8, 8)
    assert linear_cka(x, x).item() == pytest.approx(1.0, abs=1e-6)


def test_invariant_to_isotropic_scaling_and_rotation() -> None:
    x, y = _random(32, 24, seed=1), _random(32, 40, seed=2)
    base = linear_cka(x, y).item()
    assert base == pytest.approx(_cka_numpy(x.double().numpy(), y.double().numpy()), rel=1e-5)
    assert linear_cka(7.5 * x, y).item() == pytest.approx(base, rel=1e-5)
    assert linear_cka(x, 1e-3 * y).item() == pytest.approx(base, rel=1e-5)
    assert linear_cka(x @ _orthogonal(24, 3), y @ _orthogonal(40, 4)).item() == pytest.approx(base, rel=1e-5)


def test_different_widths_and_trailing_dims() -> None:
    x, y = _random(16, 16, 4, 4, seed=5), _random(16, 64, 2, 2, seed=6)
    expected = _cka_numpy(x.double().numpy(), y.double().numpy())
    assert linear_cka(x, y).item() == pytest.approx(expected, rel=1e-5)


def test_value_in_unit_interval() -> None:
    for seed in range(5):
        x, y = _random(12, 7, seed=seed), _random(12, 30, seed=seed + 100)
        value = linear_cka(x, y).item()
        assert 0.0 <= value <= 1.0
    # Centring removes a constant shift of the features, so it does not change the score.
    assert linear_cka(x, x + 5.0).item() == pytest.approx(1.0, abs=1e-6)


def test_from_precomputed_grams_matches() -> None:
    x, y = _random(20, 9, seed=7), _random(20, 3, seed=8)
    assert torch.equal(linear_cka_from_centered_grams(centered_gram(x), centered_gram(y)), linear_cka(x, y))


def test_large_activations_stay_finite_in_float32() -> None:
    x, y = 1e15 * _random(32, 4096, seed=9), _random(32, 64, seed=10)
    value = linear_cka(x, y)
    assert torch.isfinite(value)
    assert value.item() == pytest.approx(_cka_numpy(x.double().numpy(), y.double().numpy()), rel=1e-4)


@pytest.mark.parametrize("constant", [0.0, 0.1, 1000.7])
def test_constant_features_give_zero_not_nan(constant: float) -> None:
    x = torch.full((32, 10), constant, requires_grad=True)
    y = _random(32, 6, seed=11)
    value = linear_cka(x, y)
    assert value.item() == 0.0
    value.backward()
    assert torch.isfinite(x.grad).all()
    assert linear_cka(y, x.detach()).item() == 0.0


def test_gradient_exists_and_is_finite() -> None:
    x = _random(16, 8, 4, 4, seed=12).requires_grad_(True)
    y = _random(16, 32, seed=13)
    loss = 1.0 - linear_cka(x, y)
    loss.backward()
    assert x.grad is not None and x.grad.shape == x.shape
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_gradient_matches_finite_differences() -> None:
    x = _random(6, 4, seed=14).double().requires_grad_(True)
    y = _random(6, 3, seed=15).double()
    assert torch.autograd.gradcheck(lambda a: linear_cka(a, y), (x,))


def test_mismatched_batches_are_rejected() -> None:
    with pytest.raises(ValueError, match="same number of examples"):
        linear_cka(_random(4, 3), _random(5, 3))

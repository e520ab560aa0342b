"""Linear CKA (centred kernel alignment), the representation-similarity score of the proxy.

For activations X (N x Dx) and Y (N x Dy) of the same N inputs (trailing dims flattened):
K = X X^T, L = Y Y^T, H = I - 11^T/N and

    CKA = <HKH, HLH>_F / (||HKH||_F ||HLH||_F)            (METHOD.md section 2).

HKH equals (HX)(HX)^T, so the centred Gram is computed from column-centred features: that
avoids forming K and then subtracting large row/column means, which loses float32 precision
when activations have a large common offset. Everything is plain torch and differentiable,
because the proxy trains candidates on ``1 - CKA``.

Zero variance: when either side is constant over the batch its centred Gram is 0 and the
formula is 0/0. A constant representation carries no information about the inputs, so its
similarity to anything is defined as 0 (the worst score), and the gradient there is 0, never
NaN, so a training loss that contains it stays finite.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _as_matrix(x: Tensor) -> Tensor:
    if x.dim() < 2:
        raise ValueError(f"expected activations of shape (N, ...), got {tuple(x.shape)}")
    return x.reshape(x.shape[0], -1)


def gram(x: Tensor) -> Tensor:
    """The linear-kernel Gram matrix K = X X^T (N x N) of activations x (N, ...)."""
    m = _as_matrix(x)
    return m @ m.T


def centered_gram(x: Tensor) -> Tensor:
    """The centred Gram matrix HKH = (HX)(HX)^T of activations x (N, ...)."""
    return centered_grams(_as_matrix(x))


def centered_grams(m: Tensor) -> Tensor:
    """(HM)(HM)^T of feature matrices m (..., N, D), centring over N: leading dimensions are independent matrices."""
    centred = m - m.mean(dim=-2, keepdim=True)
    # A constant feature leaves rounding residue (~ulp of its value) after subtracting a float
    # mean; for an all-constant representation that residue would be scored as if it were
    # signal. Residue below what the column's precision can resolve is therefore zeroed.
    tolerance = m.shape[-2] * torch.finfo(m.dtype).eps * m.detach().abs().amax(dim=-2, keepdim=True)
    resolvable = centred.detach().abs().amax(dim=-2, keepdim=True) > tolerance
    centred = centred * resolvable.to(centred.dtype)
    return centred @ centred.transpose(-1, -2)


def linear_cka_from_centered_grams(kc: Tensor, lc: Tensor) -> Tensor:
    """Linear CKA of two precomputed centred Gram matrices (N x N each); 0 if either is zero.

    `kc` may hold several Grams (K, N, N), each compared with the one `lc`: the result is then (K,).
    """
    square = kc.dim() >= 2 and kc.shape[-1] == kc.shape[-2]
    if not square or kc.dim() > 3 or lc.dim() != 2 or kc.shape[-2:] != lc.shape:
        raise ValueError(f"expected two N x N centred Gram matrices, got {tuple(kc.shape)} and {tuple(lc.shape)}")
    # CKA is invariant to scaling either Gram, so each is divided by a detached positive
    # constant; that keeps the value and the gradient exact while the squared norms below
    # stay within float32 range whatever the activation magnitudes.
    tiny = torch.finfo(kc.dtype).tiny
    matrix = (-2, -1)
    kc = kc / kc.detach().abs().amax(dim=matrix, keepdim=True).clamp_min(tiny)
    lc = lc / lc.detach().abs().amax().clamp_min(tiny)
    inner = (kc * lc).sum(dim=matrix)
    squared_norms = (kc * kc).sum(dim=matrix) * (lc * lc).sum()
    defined = squared_norms > 0
    # torch.where alone would still propagate NaN from the unused branch's gradient, so the
    # denominator is made safe before dividing.
    safe = torch.where(defined, squared_norms, torch.ones_like(squared_norms))
    value = torch.where(defined, inner * torch.rsqrt(safe), torch.zeros_like(inner))
    # Rounding can put identical inputs a few ulps above 1; callers rely on the [0, 1] range.
    return value.clamp(0.0, 1.0)


def linear_cka(x: Tensor, y: Tensor) -> Tensor:
    """Linear CKA between activations x (N, ...) and y (N, ...) of the same N inputs; a 0-dim tensor in [0, 1]."""
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y must have the same number of examples, got {x.shape[0]} and {y.shape[0]}")
    return linear_cka_from_centered_grams(centered_gram(x), centered_gram(y))

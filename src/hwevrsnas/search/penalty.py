"""The hardware-cost penalty and the search fitness of METHOD.md section 1.

    F(a) = phi(a) - lambda * P(a)
    P(a) = max(0, cost - T) / T      "one_sided_normalised" (default)
         | |cost - T| / T            "two_sided"
         | max(0, cost - T)          "unnormalised"

lambda is `lam` in code, configs and results (GAConfig.lam, the config key `search.lam`, `--lam`).
A missing cost (NaN) is never feasible: its penalty is +inf and its fitness -inf whatever lambda is
(even lambda = 0, where 0 * inf would otherwise be NaN). A NaN phi also gives fitness -inf.
Feasibility is always `cost <= T` on the tabular cost, whatever the penalty form (the two-sided
form penalises architectures under the threshold too, but they stay feasible).
"""

from __future__ import annotations

import math

import numpy as np

from hwevrsnas.errors import InputError

FORMS = ("one_sided_normalised", "two_sided", "unnormalised")
DEFAULT_FORM = FORMS[0]


def check_form(form: str) -> str:
    """Return `form` if it is a known penalty form, else raise listing the valid ones."""
    if form not in FORMS:
        raise InputError(f"unknown penalty form {form!r}; valid forms: {', '.join(FORMS)}")
    return form


def check_threshold(threshold: float) -> float:
    """A threshold must be a finite number > 0 (the normalised forms divide by it)."""
    value = float(threshold)
    if not math.isfinite(value) or value <= 0:
        raise InputError(f"threshold must be a finite positive cost, got {threshold!r}")
    return value


def penalty(cost: np.ndarray | float, threshold: float, form: str = DEFAULT_FORM) -> np.ndarray:
    """Penalty P of each cost against `threshold` (>= 0; +inf where the cost is missing)."""
    check_form(form)
    t = check_threshold(threshold)
    c = np.asarray(cost, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        if form == "one_sided_normalised":
            value = np.maximum(0.0, c - t) / t
        elif form == "two_sided":
            value = np.abs(c - t) / t
        else:
            value = np.maximum(0.0, c - t)
    return np.where(np.isnan(c), np.inf, value)


def fitness(
    phi: np.ndarray | float,
    cost: np.ndarray | float,
    threshold: float,
    lam: float = 1.0,
    form: str = DEFAULT_FORM,
) -> np.ndarray:
    """F = phi - lam * P (maximise); -inf where the cost or phi is missing."""
    if not (math.isfinite(lam) and lam >= 0):
        raise InputError(f"lambda must be a finite number >= 0, got {lam!r}")
    p = penalty(cost, threshold, form)
    phi = np.asarray(phi, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        value = phi - lam * np.where(np.isinf(p), 0.0, p)
    return np.where(np.isinf(p) | np.isnan(phi), -np.inf, value)


def feasible(cost: np.ndarray | float, threshold: float) -> np.ndarray:
    """cost <= threshold; a missing (NaN) cost is never feasible."""
    c = np.asarray(cost, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return ~np.isnan(c) & (c <= float(threshold))


# One architecture at a time, as a search judges each candidate it requests: the same numbers as `fitness` and
# `feasible` (the same float64 operations in the same order), without their array round trips.


def fitness_of(phi: float, cost: float, threshold: float, lam: float = 1.0, form: str = DEFAULT_FORM) -> float:
    """`fitness` of one architecture, as a float."""
    if not (math.isfinite(lam) and lam >= 0):
        raise InputError(f"lambda must be a finite number >= 0, got {lam!r}")
    check_form(form)
    t = check_threshold(threshold)
    c, phi = float(cost), float(phi)
    if math.isnan(c) or math.isnan(phi):
        return -math.inf
    if form == "one_sided_normalised":
        p = max(0.0, c - t) / t
    elif form == "two_sided":
        p = abs(c - t) / t
    else:
        p = max(0.0, c - t)
    return -math.inf if math.isinf(p) else phi - lam * p


def feasible_of(cost: float, threshold: float) -> bool:
    """`feasible` of one architecture, as a bool."""
    return float(cost) <= float(threshold)  # a NaN cost compares False


__all__ = [
    "DEFAULT_FORM", "FORMS", "check_form", "check_threshold", "feasible", "feasible_of", "fitness", "fitness_of",
    "penalty",
]  # fmt: skip

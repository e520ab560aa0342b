"""The result of scoring one architecture (torch-free, so searches and tables can use it without torch)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

STATUS_OK = "ok"
STATUS_DEGENERATE = "degenerate"
STATUS_NONFINITE = "nonfinite"
STATUSES = (STATUS_OK, STATUS_DEGENERATE, STATUS_NONFINITE)
WORST_SCORE = 0.0
_REQUIRED = ("score", "loss", "cka", "seconds", "status")


@dataclass
class ProxyResult:
    """One proxy evaluation: score (phi, higher is better, in [0, 1]) and what it came from."""

    score: float
    loss: float
    cka: list[float]
    seconds: float
    status: str = STATUS_OK
    raw: float | None = None
    cached: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (non-finite floats as None), without the per-request `cached` flag."""
        out = asdict(self)
        out.pop("cached")
        for key in ("score", "loss", "raw", "seconds"):
            if out[key] is not None and not math.isfinite(out[key]):
                out[key] = None
        out["cka"] = [c if math.isfinite(c) else None for c in out["cka"]]
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any], cached: bool = True) -> "ProxyResult":
        """Inverse of `to_json` (None back to NaN); ValueError naming what is missing or malformed."""
        if not isinstance(data, dict):
            raise ValueError(f"a proxy result is a JSON object, got {type(data).__name__}")
        missing = [key for key in _REQUIRED if key not in data]
        if missing:
            raise ValueError(f"incomplete proxy result: missing {', '.join(missing)}")
        if data["status"] not in STATUSES:
            raise ValueError(f"unknown proxy result status {data['status']!r}")
        nan = float("nan")
        try:
            return cls(
                score=float(data["score"]) if data["score"] is not None else WORST_SCORE,
                loss=float(data["loss"]) if data["loss"] is not None else nan,
                cka=[float(c) if c is not None else nan for c in data["cka"]],
                seconds=float(data["seconds"] or 0.0),
                status=data["status"],
                raw=None if data.get("raw") is None else float(data["raw"]),
                cached=cached,
                extra=dict(data.get("extra") or {}),
            )
        except (TypeError, ValueError) as err:
            raise ValueError(f"malformed proxy result: {err}") from None


def worst_result(status: str, n_taps: int, seconds: float = 0.0) -> ProxyResult:
    """The result of a candidate that cannot be scored (degenerate cell, NaN or inf during training)."""
    return ProxyResult(WORST_SCORE, float("nan"), [float("nan")] * n_taps, seconds, status)


def of_record(result: ProxyResult, decimals: int) -> ProxyResult:
    """The result with score, raw value, loss and per-tap CKA rounded to `decimals` decimal places.

    Float64 scores of two kernel sets differ in their last few bits (METHOD.md, "Reproducibility of a score");
    rounded far above that, two machines write the same bytes unless a value lies within those bits of a
    rounding boundary, and where one does the records differ by one unit of the last decimal, inside the
    tolerance of `hwevrsnas scores verify`. Rounding twice changes nothing, so a recorded value can be rounded
    again.
    """

    def rounded(value: float | None) -> float | None:
        return value if value is None or not math.isfinite(value) else round(value, decimals)

    return ProxyResult(
        **{**result.__dict__, "score": rounded(result.score), "loss": rounded(result.loss),
           "cka": [rounded(c) for c in result.cka], "raw": rounded(result.raw)}
    )  # fmt: skip


def as_cached(result: ProxyResult) -> ProxyResult:
    """The same result, flagged as served without computing."""
    return ProxyResult(**{**result.__dict__, "cached": True})


__all__ = [
    "STATUSES", "STATUS_DEGENERATE", "STATUS_NONFINITE", "STATUS_OK", "WORST_SCORE", "ProxyResult", "as_cached",
    "of_record", "worst_result",
]  # fmt: skip

"""Named fidelity presets of the representation-similarity proxy (METHOD.md section 2)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from hwevrsnas.errors import InputError, UnknownName

SCORES = ("cka", "loss")
DTYPES = ("float32", "float64")
# Knobs added after scores were published: at these values they are left out of a preset's digest and batch
# file name, so every score computed before the knob existed keeps its identity.
_LEGACY_DEFAULTS = {"dtype": "float32"}


@dataclass(frozen=True)
class Preset:
    """Every knob that determines a proxy score; `paper` holds the faithful values."""

    name: str = "paper"
    steps: int = 150
    batch_size: int = 32
    pool_size: int = 512
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    cka_weight: float = 0.8
    ce_weight: float = 0.2
    taps: tuple[int, ...] = (0, 1, 2)
    C: int = 16
    N: int = 5
    reference: str = "resnet20"
    seed: int = 0
    class_balanced: bool = False
    score: str = "cka"
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise InputError(f"preset {self.name!r}: dtype must be one of {DTYPES}, got {self.dtype!r}")
        if self.score not in SCORES:
            raise InputError(f"preset {self.name!r}: score must be one of {SCORES}, got {self.score!r}")
        if not self.taps or any(t not in (0, 1, 2) for t in self.taps):
            raise InputError(f"preset {self.name!r}: taps must be a non-empty subset of (0, 1, 2), got {self.taps}")
        if self.batch_size > self.pool_size:
            raise InputError(f"preset {self.name!r}: batch_size {self.batch_size} exceeds pool_size {self.pool_size}")
        for key in ("steps", "batch_size", "pool_size", "C", "N"):
            if getattr(self, key) < (0 if key == "steps" else 1):
                raise InputError(f"preset {self.name!r}: {key} must be positive, got {getattr(self, key)}")

    def fields(self) -> dict[str, Any]:
        """The knobs as a plain dict (taps as a list)."""
        out = dataclasses.asdict(self)
        out["taps"] = list(self.taps)
        return out

    @property
    def float64(self) -> bool:
        """Whether the proxy trains in float64: its scores are then the same on every machine (METHOD.md)."""
        return self.dtype == "float64"

    def batch_fields(self) -> dict[str, Any]:
        """The knobs that determine the proxy batch (and so its file and checksum)."""
        fields = {k: getattr(self, k) for k in ("batch_size", "pool_size", "reference", "seed", "class_balanced", "dtype")}
        return _without_legacy_defaults(fields)

    @property
    def batch_file_name(self) -> str:
        """The file name of the preset's batch: named by the knobs that determine it, so presets sharing them share it."""
        from hwevrsnas.proxy.cache import cache_key

        return f"batch-{self.reference}-{cache_key(**self.batch_fields())[:16]}.pt"

    @property
    def digest(self) -> str:
        """A hash of every knob except the name: two presets with equal knobs share scores."""
        knobs = _without_legacy_defaults({k: v for k, v in self.fields().items() if k != "name"})
        return hashlib.sha256(json.dumps(knobs, sort_keys=True).encode()).hexdigest()[:16]


def _without_legacy_defaults(knobs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in knobs.items() if k not in _LEGACY_DEFAULTS or v != _LEGACY_DEFAULTS[k]}


PRESETS: dict[str, Preset] = {
    "paper": Preset(),
    # Chosen by the fidelity study (docs/FIDELITY.md): 10 steps on a 1-cell, 8-channel candidate ranked
    # better (Kendall tau 0.56) than 10 steps on the full C=16, N=5 network (0.38) at a tenth of the cost.
    # float64: its float32 scores move visibly between two kernel sets of one CPU, its float64 ones only in their
    # last bits (METHOD.md, "Reproducibility of a score"), so a quick score is the same on any machine.
    "quick": Preset(name="quick", steps=10, C=8, N=1, dtype="float64"),
    # The quick knobs in float32, as every quick score was computed before 2026-12-07: the tables published then
    # have this identity, and the kernel comparison measures what float32 costs in reproducibility.
    "quick-float32": Preset(name="quick-float32", steps=10, C=8, N=1),
    # For tests only: fidelity deliberately unmeasured; float64 so that a tiny workflow run is the same anywhere.
    "tiny": Preset(name="tiny", steps=2, C=8, N=1, pool_size=64, batch_size=16, dtype="float64"),
}


def get_preset(preset_name: str, **overrides: Any) -> Preset:
    """A named preset, optionally with knobs replaced; unknown names and knobs are errors listing valid ones."""
    if preset_name not in PRESETS:
        raise UnknownName(f"unknown preset {preset_name!r}; valid presets: {', '.join(PRESETS)}")
    valid = {f.name for f in dataclasses.fields(Preset)}
    unknown = sorted(set(overrides) - valid)
    if unknown:
        raise UnknownName(f"unknown preset knob(s) {unknown}; valid knobs: {sorted(valid)}")
    if "taps" in overrides:
        overrides["taps"] = tuple(overrides["taps"])
    return dataclasses.replace(PRESETS[preset_name], **overrides)

"""The knobs of a search, with their defaults in one place: `GAConfig` (METHOD.md section 3).

Everything else derives from `KNOBS`: the `hwevrsnas search` flags, the workflow's defaults and
command lines, and the config schema's defaults (a test checks that config/schema.yaml agrees).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from hwevrsnas.errors import InputError
from hwevrsnas.search.penalty import DEFAULT_FORM, FORMS, check_form


class KnobError(InputError):
    """A knob value is invalid; `knob` names it."""

    def __init__(self, knob: str, message: str) -> None:
        super().__init__(message)
        self.knob = knob


@dataclass(frozen=True)
class Knob:
    """One search knob: its type, and the help text of its command-line flag."""

    name: str
    type: type
    help: str

    @property
    def flag(self) -> str:
        """The `hwevrsnas search` flag, e.g. `--tournament-size`."""
        return "--" + self.name.replace("_", "-")


@dataclass(frozen=True)
class GAConfig:
    """Every knob of a search (GA and baselines); the defaults are METHOD.md section 3's."""

    population: int = 20
    generations: int = 50
    budget: int | None = None
    tournament_size: int = 5
    elites: int = 1
    crossover_p: float = 0.5
    mutation_p: float = 0.1
    # lambda, the weight of the cost penalty in the fitness F = phi - lambda * P(cost) (search.penalty); the short
    # name is the config key, the `--lam` flag and a key of every result's `ga_config`.
    lam: float = 1.0
    penalty: str = DEFAULT_FORM

    def __post_init__(self) -> None:
        for knob in KNOBS.values():
            value = getattr(self, knob.name)
            if value is None and knob.name == "budget":
                continue
            if knob.type is int and (isinstance(value, bool) or not isinstance(value, int)):
                raise KnobError(knob.name, f"{knob.name} must be an integer, got {value!r}")
            if knob.type is float and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise KnobError(knob.name, f"{knob.name} must be a number, got {value!r}")
        try:
            check_form(self.penalty)
        except InputError as err:
            raise KnobError("penalty", str(err)) from None
        for key in ("population", "tournament_size"):
            if getattr(self, key) < 1:
                raise KnobError(key, f"{key} must be >= 1, got {getattr(self, key)}")
        if self.generations < 0:
            raise KnobError("generations", f"generations must be >= 0, got {self.generations}")
        if not 0 <= self.elites < self.population:
            raise KnobError("elites", f"elites must lie in 0..population-1 = {self.population - 1}, got {self.elites}")
        if self.budget is not None and self.budget < 1:
            raise KnobError("budget", f"budget must be >= 1 unique evaluation, got {self.budget}")
        for key in ("crossover_p", "mutation_p"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise KnobError(key, f"{key} must lie in [0, 1], got {getattr(self, key)}")
        if not (math.isfinite(self.lam) and self.lam >= 0):
            raise KnobError("lam", f"lam must be a finite number >= 0, got {self.lam}")

    @property
    def max_requests(self) -> int:
        """The GA's largest possible number of candidate requests: population + generations * (population - elites)."""
        return self.population + self.generations * (self.population - self.elites)

    @property
    def effective_budget(self) -> int:
        """`budget`, or when unset `max_requests` (what random search and REA get by default)."""
        return self.budget if self.budget is not None else self.max_requests

    def to_json(self, knobs: frozenset[str] | None = None) -> dict[str, Any]:
        """JSON-ready dict of the knobs (only those named in `knobs` when given)."""
        values = dataclasses.asdict(self)
        return values if knobs is None else {k: v for k, v in values.items() if k in knobs}

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> "GAConfig":
        """A config from a mapping of knob values (None: the default); integral floats become ints, exactly."""
        known = {}
        for name, value in values.items():
            if name not in KNOBS:
                raise KnobError(name, f"unknown search knob {name!r}; valid knobs: {', '.join(KNOBS)}")
            if value is not None:
                known[name] = coerce(KNOBS[name], value)
        return cls(**known)


KNOBS: dict[str, Knob] = {
    knob.name: knob
    for knob in (
        Knob("population", int, "population size"),
        Knob("generations", int, "bred generations"),
        Knob("budget", int, "stop at this many unique evaluations (random/REA default: the GA's maximum)"),
        Knob("tournament_size", int, "tournament size (REA: sample size)"),
        Knob("elites", int, "elites kept per generation"),
        Knob("crossover_p", float, "uniform-crossover probability"),
        Knob("mutation_p", float, "per-gene mutation probability"),
        Knob("lam", float, "penalty weight lambda in the fitness F = phi - lambda * P(cost)"),
        Knob("penalty", str, f"penalty form: {', '.join(FORMS)}"),
    )
}
DEFAULTS: dict[str, Any] = GAConfig().to_json()


def coerce(knob: Knob, value: Any) -> Any:
    """A knob value of the knob's type: an integral float for an integer knob becomes that integer; else InputError."""
    if knob.type is int and isinstance(value, float):
        if not value.is_integer():
            raise KnobError(knob.name, f"{knob.name} must be an integer, got {value!r}")
        return int(value)
    if knob.type is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


__all__ = ["DEFAULTS", "GAConfig", "KNOBS", "Knob", "KnobError", "coerce"]

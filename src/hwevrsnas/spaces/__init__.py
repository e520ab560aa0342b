"""Search spaces, found by name in one registry: `SPACES["nb201"]`, or `get_space("fbnet")`.

A space is a `Space` (spaces.base): encoding, GA operators, isomorphism classes, representatives
and a lazily imported torch network. Adding a space is one module with a `Space` subclass plus one
`register` call (docs/EXTENDING.md). Importing this package does not import torch.
"""

from __future__ import annotations

from hwevrsnas.errors import UnknownName
from hwevrsnas.spaces.base import ArchError, Space
from hwevrsnas.spaces.fbnet import SPACE as FBNET
from hwevrsnas.spaces.nb201 import SPACE as NB201

SPACES: dict[str, Space] = {}


def register(space: Space) -> Space:
    """Add a space to the registry under its name (a name can be registered once)."""
    if space.name in SPACES and SPACES[space.name] is not space:
        raise ValueError(f"a search space named {space.name!r} is already registered")
    SPACES[space.name] = space
    return space


def get_space(name: str) -> Space:
    """The registered space of that name; UnknownName listing the valid ones."""
    try:
        return SPACES[name]
    except KeyError:
        raise UnknownName(f"unknown search space {name!r}; valid spaces: {', '.join(SPACES)}") from None


register(NB201)
register(FBNET)

__all__ = ["SPACES", "ArchError", "Space", "get_space", "register"]

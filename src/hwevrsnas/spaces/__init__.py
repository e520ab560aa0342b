"""Search spaces, found by name in one registry: `SPACES["nb201"]`, or `get_space("fbnet")`.

A space is a `Space` (spaces.base): encoding, GA operators, isomorphism classes, representatives
and a lazily imported torch network. Adding a space is one module with a `Space` subclass plus one
`register` call (docs/EXTENDING.md). Importing this package does not import torch.
"""

from __future__ import annotations

from hwevrsnas.registry import Registry
from hwevrsnas.spaces.base import ArchError, Space
from hwevrsnas.spaces.fbnet import SPACE as FBNET
from hwevrsnas.spaces.nb201 import SPACE as NB201

SPACES: Registry[Space] = Registry("search space", "spaces")


def register(space: Space) -> Space:
    """Add a space to the registry under its name (a name can be registered once)."""
    return SPACES.register(space.name, space)


def get_space(name: str) -> Space:
    """The registered space of that name; UnknownName listing the valid ones."""
    return SPACES[name]


register(NB201)
register(FBNET)

__all__ = ["SPACES", "ArchError", "Space", "get_space", "register"]

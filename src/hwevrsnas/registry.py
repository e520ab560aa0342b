"""A registry: entries found by name, in the order they were registered (spaces, proxies, search methods).

A registry reads as a mapping (`name in REGISTRY`, `REGISTRY[name]`, iteration in registration order)
whose lookup of an unknown name raises UnknownName listing the valid ones. A name can be registered
once: registering it again is allowed only with an equal entry, so a plugin imported twice is harmless
while two plugins claiming one name fail loudly.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Generic, TypeVar

from hwevrsnas.errors import UnknownName

Entry = TypeVar("Entry")

_changes = 0


def changes() -> int:
    """How many times any registry has changed in this process: what is built from registries (the command's
    parser) is built again when this moves."""
    return _changes


class Registry(Mapping[str, Entry], Generic[Entry]):
    """Named entries of one kind; `kind` and `plural` word the errors ("unknown proxy 'x'; valid proxies: ...")."""

    def __init__(self, kind: str, plural: str, *, unknown_kind: str | None = None) -> None:
        self.kind = kind
        self.plural = plural
        # How a failed lookup names the kind, where that differs from the registration error's wording.
        self.unknown_kind = unknown_kind or kind
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, entry: Entry) -> Entry:
        """Add an entry under `name`; ValueError when the name holds a different entry."""
        global _changes
        if name in self._entries and self._entries[name] != entry:
            raise ValueError(f"a {self.kind} named {name!r} is already registered")
        if name not in self._entries:
            _changes += 1
        self._entries[name] = entry
        return entry

    def unregister(self, name: str) -> Entry:
        """Remove and return the entry of `name` (a test's temporary entry)."""
        global _changes
        entry = self._entries.pop(name)
        _changes += 1
        return entry

    def __getitem__(self, name: str) -> Entry:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownName(
                f"unknown {self.unknown_kind} {name!r}; valid {self.plural}: {', '.join(self._entries)}"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


__all__ = ["Registry", "changes"]

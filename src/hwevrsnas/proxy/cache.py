"""A score cache shared by processes: one small JSON file per key, written atomically.

One file per entry (not one database) because Snakemake jobs on a cluster may share the cache
over a network file system, where file renames are atomic but SQLite locking is not reliable.
A writer renames a complete temporary file into place, so a reader sees either nothing or the
whole record, concurrent writers of the same key write the same content, and an interrupted
run loses only the entry it was writing.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from hwevrsnas.atomic import write_text


def cache_key(**parts: Any) -> str:
    """A stable hex key for everything that determines a score (space, canonical arch, preset hash, ...)."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class ScoreCache:
    """Proxy scores on disk under `root`, sharded by the first two hex digits of the key."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored record for `key`, or None."""
        try:
            return json.loads(self._path(key).read_text())
        except FileNotFoundError:
            return None

    def put(self, key: str, record: dict[str, Any]) -> None:
        """Store `record` under `key` (atomic; the last writer of identical content wins harmlessly)."""
        write_text(self._path(key), json.dumps(record, sort_keys=True))

    def __contains__(self, key: str) -> bool:
        return self._path(key).is_file()

    def __len__(self) -> int:
        return sum(1 for _ in self.root.glob("??/*.json"))

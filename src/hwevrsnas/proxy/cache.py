"""A score cache shared by processes: one small JSON file per key, written atomically, checked when read.

One file per entry (not one database) because Snakemake jobs on a cluster may share the cache
over a network file system, where file renames are atomic but SQLite locking is not reliable.
A writer renames a complete temporary file into place, so a reader sees either nothing or the
whole record, concurrent writers of the same key write the same content, and an interrupted
run loses only the entry it was writing.

Every record stores its own key and the sha256 of its canonical JSON (integrity.record_checksum).
An entry that does not parse, belongs to another key or fails its checksum is never trusted: `get`
logs a warning naming the file and answers "not cached", so the caller computes the score again
and `put` replaces the entry.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
from pathlib import Path
from typing import Any, Callable

from hwevrsnas.atomic import write_text
from hwevrsnas.integrity import record_checksum

log = logging.getLogger(__name__)


def cache_key(**parts: Any) -> str:
    """A stable hex key for everything that determines a score (space, class, preset digest, checksums, ...)."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


# (identity's text, class) -> key, for every evaluator of the process: searches one after another in a process ask
# for the keys of the same classes under the same identities again. Emptied when full.
_CLASS_KEYS: dict[tuple[str, str], str] = {}
_CLASS_KEYS_LIMIT = 1 << 16


def class_keys(identity: dict[str, Any]) -> Callable[[str], str]:
    """The keys of classes under one evaluator identity: `keys(arch) == cache_key(**identity, arch=arch)`.

    Each is remembered by the identity's canonical text; two identities of equal text give every class equal keys,
    because a key's text is the identity's with the class put in among its keys."""
    text = sys.intern(json.dumps(identity, sort_keys=True, separators=(",", ":"), default=str))

    def keys(arch: str) -> str:
        key = _CLASS_KEYS.get((text, arch))
        if key is None:
            if len(_CLASS_KEYS) >= _CLASS_KEYS_LIMIT:
                _CLASS_KEYS.clear()
            key = _CLASS_KEYS[text, arch] = cache_key(**identity, arch=arch)
        return key

    return keys


class ScoreCache:
    """Proxy scores on disk under `root`, sharded by the first two hex digits of the key."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.rejected = 0

    def path(self, key: str) -> Path:
        """The file of a key."""
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored record for `key` (without the bookkeeping keys), or None when absent or damaged."""
        path = self.path(key)
        try:
            text = path.read_text()
        except FileNotFoundError:
            return None
        problem = None
        try:
            stored = json.loads(text)
            if not isinstance(stored, dict):
                problem = "not a JSON object"
            elif stored.get("key") != key:
                problem = f"it belongs to key {stored.get('key')!r}"
            elif stored.get("checksum") != record_checksum(stored):
                problem = "its checksum does not match its content"
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as err:
            problem = f"it does not parse ({err})"
        if problem:
            return self.reject(key, problem)
        return stored["record"]

    def reject(self, key: str, problem: str) -> None:
        """Log that an entry cannot be trusted (it will be recomputed and replaced); returns None."""
        self.rejected += 1
        log.warning("score cache entry %s ignored, %s: recomputing it", self.path(key), problem)
        return None

    def put(self, key: str, record: dict[str, Any]) -> None:
        """Store `record` under `key` (atomic; the last writer of identical content wins harmlessly)."""
        stored = {"key": key, "record": record}
        stored["checksum"] = record_checksum(stored)
        write_text(self.path(key), json.dumps(stored, sort_keys=True, allow_nan=False))

    def __contains__(self, key: str) -> bool:
        return self.path(key).is_file()

    def __len__(self) -> int:
        return sum(1 for _ in self.root.glob("??/*.json"))

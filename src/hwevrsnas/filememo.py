"""Files read once per process: searches run one after another in one process read the same tables.

A file is known by the path it was named by, its resolved path, modification time, size and inode, so a file
changed or replaced since it was read is read again, and verified again by its reader. (A rewrite in place that
keeps the size within one tick of the file system's clock would go unnoticed; this package's builders never
rewrite a file, they rename a new one into place.) A reader that raises (a missing or damaged file) leaves nothing
behind, so the next open raises too. Whatever a reader returns is shared by every later caller of the same file;
callers must treat it as read-only.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, TypeVar

T = TypeVar("T")

# (reader, path as named, resolved path) -> ((mtime_ns, size, inode), what the reader returned). The name is part of
# the key because what a reader returns may keep it (a table names its file in its messages).
_OPENED: dict[tuple[Any, str, str], tuple[tuple[int, int, int], Any]] = {}


def _stamp(path: Path) -> tuple[int, int, int]:
    stat = os.stat(path)
    return stat.st_mtime_ns, stat.st_size, stat.st_ino


def read_once(path: Path | str, read: Callable[[Path], T]) -> T:
    """`read(path)`, or what it returned for this same, unchanged file earlier in this process."""
    path = Path(path)
    try:
        resolved = path.resolve()
        before = _stamp(resolved)
    except OSError:
        return read(path)  # the reader names what is missing, in its own words
    key = (read, str(path), str(resolved))
    known = _OPENED.get(key)
    if known is not None and known[0] == before:
        return known[1]
    _OPENED.pop(key, None)  # stale: dropped before reading, so that a read that fails leaves nothing behind
    value = read(path)
    try:
        unchanged = _stamp(resolved) == before
    except OSError:
        unchanged = False
    if unchanged:  # a file replaced while it was read is read again next time
        _OPENED[key] = (before, value)
    return value


def read_only(*values: Any) -> None:
    """Make the numpy arrays among `values` read-only (what a shared reader returns must not change under its
    other callers); anything else, None included, is left as it is."""
    import numpy as np

    for value in values:
        if isinstance(value, np.ndarray):
            value.flags.writeable = False


__all__ = ["read_once", "read_only"]

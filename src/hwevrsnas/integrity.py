"""Content checksums of derived files, written when a file is made and verified when it is opened.

HDF5 files (tables, score tables) reserve a 512-byte user block at their start, which the HDF5
library skips; the block holds the sha256 of every byte after it. Checking a file is then one
read of its bytes, with no HDF5 call, so a damaged file is reported by name before HDF5 sees it.

JSON records (score-cache entries) carry the sha256 of their own canonical JSON without the
`checksum` key.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from hwevrsnas.errors import DamagedFile, MissingFile

USERBLOCK_SIZE = 512
_MAGIC = b"hwevrsnas-sha256 "


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of some bytes."""
    return hashlib.sha256(data).hexdigest()


def seal_h5(path: Path | str) -> str:
    """Write the sha256 of the bytes after the user block into the user block of an HDF5 file; return it."""
    path = Path(path)
    with open(path, "r+b") as handle:
        head = handle.read(USERBLOCK_SIZE)
        if len(head) < USERBLOCK_SIZE or head.strip(b"\0"):
            raise ValueError(f"{path} has no empty {USERBLOCK_SIZE}-byte user block to seal")
        digest = sha256_bytes(handle.read())
        handle.seek(0)
        handle.write((_MAGIC + digest.encode() + b"\n").ljust(USERBLOCK_SIZE, b"\0"))
    return digest


def verify_h5(path: Path | str, rebuild: str) -> str:
    """The checksum of a sealed HDF5 file, after checking it; DamagedFile naming `rebuild` when it fails."""
    path = Path(path)
    if not path.is_file():
        raise MissingFile(f"{path} not found; {rebuild}")
    data = path.read_bytes()
    head = data[:USERBLOCK_SIZE]
    if not head.startswith(_MAGIC):
        raise DamagedFile(path, "no content checksum (damaged, or written by an older version)", rebuild)
    expected = head[len(_MAGIC) : len(_MAGIC) + 64].decode("ascii", errors="replace")
    actual = sha256_bytes(data[USERBLOCK_SIZE:])
    if actual != expected:
        raise DamagedFile(path, f"content checksum mismatch: expected {expected}, got {actual}", rebuild)
    return actual


def record_checksum(record: dict[str, Any]) -> str:
    """sha256 of a JSON record's canonical text (sorted keys, no spaces), its `checksum` key left out."""
    body = {key: value for key, value in record.items() if key != "checksum"}
    return sha256_bytes(json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False).encode())


__all__ = ["USERBLOCK_SIZE", "record_checksum", "seal_h5", "sha256_bytes", "verify_h5"]

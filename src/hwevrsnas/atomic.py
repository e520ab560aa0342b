"""Atomic file output: write to a temporary file beside the target, rename it into place only on success; and the
check, before any work, that a folder can be written."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

from hwevrsnas.errors import InputError


@contextlib.contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success rename it to `path`, else remove it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp creates the file 0600; give the result the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: Path | str, text: str) -> None:
    """Write text to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_bytes(path: Path | str, data: bytes) -> None:
    """Write bytes to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def check_writable(folder: Path | str, option: str, alternative: str = "") -> Path:
    """`folder`, once a file has been created and removed in it (or, while it does not exist, in the nearest folder
    above it, where it would be made); else InputError naming `option`, and `alternative` as another way out.

    A real write is the only reliable test (permission bits, ACLs, read-only mounts, root); made before any work,
    it turns a failure that would lose a finished result into one line.
    """
    folder = Path(folder)
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        fd, name = tempfile.mkstemp(dir=existing, prefix=".write-test.", suffix=".tmp")
        os.close(fd)
        os.unlink(name)
    except OSError as err:
        raise InputError(
            f"{option}: cannot write in {existing} ({err.strerror or err}); nothing has run: "
            f"make {existing} writable, or give {option} another folder{alternative}"
        ) from None
    return folder

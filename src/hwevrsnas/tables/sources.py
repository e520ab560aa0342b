"""Pinned upstream sources: the manifest, sha256 checks, and materialising files from a mirror or upstream."""

from __future__ import annotations

import csv
import hashlib
import os
import re
import shutil
import urllib.request
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Iterable

from hwevrsnas.atomic import atomic_path
from hwevrsnas.errors import MissingFile

MIRROR_ENV = "HWEVRSNAS_MIRROR"
SUMS_FILE = "SHA256SUMS"
_REPO_RE = re.compile(r"^[\w.-]+/[\w.-]+$")
_COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")


class SourceError(RuntimeError):
    """A pinned source is missing, unreachable or fails its checksum."""


@dataclass(frozen=True)
class Source:
    """One pinned upstream file or folder, as listed in the package manifest."""

    mirror_path: str
    kind: str
    upstream_repo: str
    commit: str
    upstream_path: str
    sha256: str
    size: str
    license: str

    @property
    def url(self) -> str | None:
        """Raw download URL at the pinned commit, or None where the source is mirror-only."""
        if self.kind != "file" or not self.upstream_path:
            return None
        if not (_REPO_RE.match(self.upstream_repo) and _COMMIT_RE.match(self.commit)):
            return None
        return f"https://raw.githubusercontent.com/{self.upstream_repo}/{self.commit}/{self.upstream_path}"


def load_manifest() -> dict[str, Source]:
    """Read the package's pinned-source manifest, keyed by mirror path."""
    text = resources.files("hwevrsnas").joinpath("data/sources.tsv").read_text()
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    return {row["mirror_path"]: Source(**row) for row in csv.DictReader(lines, delimiter="\t")}


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, streamed."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def require_sources(root: Path | str, keys: Iterable[str]) -> Path:
    """`root`, after checking that every source `keys` names is under it; MissingFile naming the fetch command."""
    root = Path(root)
    missing = [key for key in keys if not (root / key).exists()]
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise MissingFile(
            f"source(s) not found under {root}: {shown}; run `hwevrsnas fetch --dest {root}` first "
            "(or point --sources at a folder that holds them)"
        )
    return root


def existing_mirror(value: str | Path | None, origin: str) -> Path | None:
    """The mirror folder `value` set by `origin` (None when unset); MissingFile naming both when it is not a folder,
    since a misspelt mirror would otherwise send every source to the upstream downloads."""
    if not value:
        return None
    path = Path(value)
    if not path.is_dir():
        raise MissingFile(
            f"mirror {path} (set by {origin}) does not exist or is not a folder; correct {origin}, "
            "or unset it to download the sources from upstream"
        )
    return path


def default_mirror() -> Path | None:
    """The mirror named by the HWEVRSNAS_MIRROR environment variable, if any (MissingFile when it does not exist)."""
    return existing_mirror(os.environ.get(MIRROR_ENV), f"${MIRROR_ENV}")


def _atomic_copy(src: Path, dest: Path, expected: str, where: str) -> None:
    with atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)
        _check(tmp, expected, dest.name, where)


def _atomic_download(url: str, dest: Path, expected: str) -> None:
    try:
        with atomic_path(dest) as tmp:
            with open(tmp, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
                shutil.copyfileobj(response, out)
            _check(tmp, expected, dest.name, url)
    except OSError as err:
        raise SourceError(f"could not download {dest.name} from {url}: {err}") from err


def _check(path: Path, expected: str, name: str, where: str) -> None:
    actual = sha256_file(path)
    if actual != expected:
        raise SourceError(
            f"checksum mismatch for {name} (from {where}): expected sha256 {expected}, got {actual}"
        )


def _read_sums(sums: Path) -> list[tuple[str, str]]:
    entries = []
    for line in sums.read_text().splitlines():
        digest, _, rel = line.strip().partition("  ")
        entries.append((digest, rel.removeprefix("./")))
    return entries


def _materialise_file(source: Source, dest_root: Path, mirror: Path | None) -> Path:
    dest = dest_root / source.mirror_path
    if dest.is_file() and sha256_file(dest) == source.sha256:
        return dest
    if mirror is not None:
        candidate = mirror / source.mirror_path
        if candidate.is_file():
            _atomic_copy(candidate, dest, source.sha256, str(candidate))
            return dest
    if source.url is None:
        looked = f"mirror {mirror}" if mirror else f"no mirror (set {MIRROR_ENV})"
        raise SourceError(
            f"missing source {source.mirror_path}: not found in {looked}, and it has no upstream URL"
        )
    _atomic_download(source.url, dest, source.sha256)
    return dest


def _materialise_folder(source: Source, dest_root: Path, mirror: Path | None) -> Path:
    dest = dest_root / source.mirror_path
    origin = mirror / source.mirror_path if mirror is not None else None
    if origin is None or not (origin / SUMS_FILE).is_file():
        raise SourceError(
            f"missing source folder {source.mirror_path}: looked for {origin or '(no mirror)'}/"
            f"{SUMS_FILE}; image folders come from a mirror (set {MIRROR_ENV})"
        )
    _atomic_copy(origin / SUMS_FILE, dest / SUMS_FILE, source.sha256, str(origin / SUMS_FILE))
    for digest, rel in _read_sums(dest / SUMS_FILE):
        target = dest / rel
        if target.is_file() and sha256_file(target) == digest:
            continue
        if not (origin / rel).is_file():
            raise SourceError(f"missing file {rel} of source folder {source.mirror_path} in {origin}")
        _atomic_copy(origin / rel, target, digest, str(origin / rel))
    return dest


def fetch(
    dest_root: Path,
    mirror: Path | None = None,
    only: Iterable[str] | None = None,
) -> dict[str, Path]:
    """Materialise pinned sources under dest_root (mirror first, else upstream), verifying every sha256."""
    manifest = load_manifest()
    wanted = list(manifest) if only is None else list(only)
    unknown = [key for key in wanted if key not in manifest]
    if unknown:
        raise SourceError(f"unknown source(s) {unknown}; the manifest lists {sorted(manifest)}")
    out = {}
    for key in wanted:
        source = manifest[key]
        materialise = _materialise_folder if source.kind == "folder" else _materialise_file
        out[key] = materialise(source, Path(dest_root), mirror)
    return out


def source_checksums(keys: Iterable[str]) -> dict[str, str]:
    """The pinned sha256 of each named source (for provenance attributes)."""
    manifest = load_manifest()
    return {key: manifest[key].sha256 for key in sorted(keys)}

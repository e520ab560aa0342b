"""Score tables: every isomorphism class scored once by one or more proxies, in one sealed HDF5 file.

With every class of NB201 scored, a search is a table lookup. A table holds, for a list of classes
(all of them, a shard of them, or a chosen few), one group per proxy with the proxy's identity
(Evaluator.identity(): kind, space, preset digest, batch and reference checksums, seed; engine and
platform for a float32 preset, whose scores depend on them), its provenance (where it was computed, also
for a float64 preset, whose scores do not) and one row per class: score, raw value, final loss, per-tap CKA, status and the measured
seconds of its computation. An evaluator uses a table only when the identities are equal
(Evaluator.attach), so a score read from a table is bit for bit the score it would compute.

Layout (format `hwevrsnas.scores/1`):

    attrs    format, space, n_classes (of the whole space), shard ("all", "I/N" or "archs"), command
    /classes/position        row of each class in the space's class list (Space.classes())
    /classes/representative  the representative's arch string (what was scored)
    /classes/index, iso_class  NB201 only: the representative's official index and the table's class id
    /proxies/<name>/         attrs identity, provenance (JSON), description; datasets score, raw, loss, cka,
                             status, seconds

`content_checksum` (an attribute) is the sha256 of everything but the measured seconds, the provenance
and the command, so shards merged into one file and one whole build have the same content checksum; the
file itself is sealed (integrity.seal_h5) and checked on open.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import h5py
import numpy as np

from hwevrsnas.errors import DamagedFile, InputError, MissingFile
from hwevrsnas.filememo import read_once, read_only
from hwevrsnas.integrity import verify_h5
from hwevrsnas.proxy.evaluator import Evaluator, differing_keys
from hwevrsnas.proxy.result import STATUSES, ProxyResult
from hwevrsnas.spaces import Space, get_space

FORMAT = "hwevrsnas.scores/1"
REBUILD = "rebuild it with `hwevrsnas scores build` (in the workflow: `snakemake --forcerun scores`)"


def shard_rows(n: int, shard: str) -> range:
    """The rows of shard "I/N" (1 <= I <= N) of n rows: the I-th of N contiguous, near-equal parts."""
    try:
        index, count = (int(part) for part in shard.split("/"))
    except ValueError:
        raise InputError(f"--shard must look like I/N with 1 <= I <= N, got {shard!r}") from None
    if not 1 <= index <= count:
        raise InputError(f"--shard must look like I/N with 1 <= I <= N, got {shard!r}")
    return range((index - 1) * n // count, index * n // count)


@dataclass
class ProxyColumns:
    """One proxy's rows of a table, aligned with the table's classes."""

    name: str
    identity: dict[str, Any]
    description: str
    label: str
    score: np.ndarray
    raw: np.ndarray
    loss: np.ndarray
    cka: np.ndarray
    status: np.ndarray
    seconds: np.ndarray
    provenance: dict[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_results(
        cls, name: str, identity: dict[str, Any], description: str, label: str, results: Sequence[ProxyResult],
        provenance: dict[str, Any] | None = None,
    ) -> "ProxyColumns":
        """Columns from evaluator results (missing values as NaN); `label` names it in reports (e.g. rsnas:quick)."""
        taps = max((len(r.cka) for r in results), default=0)

        def number(value: float | None) -> float:
            return math.nan if value is None else float(value)

        return cls(
            name, identity, description, label,
            score=np.array([r.score for r in results], dtype=np.float64),
            raw=np.array([number(r.raw) for r in results], dtype=np.float64),
            loss=np.array([number(r.loss) for r in results], dtype=np.float64),
            cka=np.array([[*r.cka, *[math.nan] * (taps - len(r.cka))] for r in results], dtype=np.float64).reshape(len(results), taps),
            status=np.array([r.status for r in results]),
            seconds=np.array([r.seconds for r in results], dtype=np.float64),
            provenance=dict(provenance or {}),
        )  # fmt: skip

    def result(self, row: int) -> ProxyResult:
        """The stored result of one row, as an evaluator would return it (served from the table: cached)."""
        cka = [c for c in self.cka[row].tolist() if not math.isnan(c)]
        raw = float(self.raw[row])
        return ProxyResult(
            float(self.score[row]), float(self.loss[row]), cka, float(self.seconds[row]), str(self.status[row]),
            raw=None if math.isnan(raw) else raw, cached=True,
        )  # fmt: skip

    def take(self, rows: np.ndarray) -> "ProxyColumns":
        """The same proxy on a subset of rows."""
        return ProxyColumns(
            self.name, self.identity, self.description, self.label, self.score[rows], self.raw[rows], self.loss[rows],
            self.cka[rows], self.status[rows], self.seconds[rows], self.provenance,
        )  # fmt: skip


@dataclass
class ScoreTable:
    """Classes (positions in the space's class list and representatives) and the proxies' columns."""

    space: Space
    positions: np.ndarray
    representatives: np.ndarray
    proxies: dict[str, ProxyColumns]
    shard: str = "all"
    command: str = ""
    path: Path | None = None
    index: np.ndarray | None = None
    iso_class: np.ndarray | None = None

    def __post_init__(self) -> None:
        self._row = {self.space.canonical_key(ops): row for row, ops in enumerate(self.representatives)}

    @property
    def rows(self) -> int:
        """Classes in the table."""
        return len(self.positions)

    @property
    def complete(self) -> bool:
        """Whether every class of the space is in the table."""
        classes = self.space.classes()
        return classes is not None and self.rows == len(classes)

    def row_of(self, canonical: str) -> int | None:
        """The row of a class (by canonical key), or None."""
        return self._row.get(canonical)

    def source(self, name: str) -> "TableSource":
        """One proxy of the table as a score source for Evaluator.attach."""
        if name not in self.proxies:
            raise InputError(f"{self.path}: no proxy {name!r} in this score table; it holds {', '.join(self.proxies)}")
        return TableSource(self, self.proxies[name])

    def sources(self) -> list["TableSource"]:
        """Every proxy of the table as a score source."""
        return [TableSource(self, columns) for columns in self.proxies.values()]

    def content_checksum(self) -> str:
        """sha256 of the classes and of every proxy's identity and columns, the measured seconds left out."""
        digest = hashlib.sha256()
        digest.update(json.dumps({"space": self.space.name}).encode())
        for array in (self.positions, self.representatives):
            digest.update(np.ascontiguousarray(array).tobytes())
        for name in sorted(self.proxies):
            columns = self.proxies[name]
            digest.update(json.dumps({"name": name, "identity": columns.identity}, sort_keys=True).encode())
            for array in (columns.score, columns.raw, columns.loss, columns.cka):
                digest.update(np.ascontiguousarray(array, dtype=np.float64).tobytes())
            digest.update("\n".join(columns.status.tolist()).encode())
        return digest.hexdigest()

    def write(self, path: Path | str) -> Path:
        """Write the table atomically and sealed."""
        from hwevrsnas.tables.h5util import atomic_h5, group, put

        path = Path(path)
        with atomic_h5(path) as h5:
            classes = self.space.classes()
            h5.attrs.update(
                format=FORMAT, space=self.space.name, n_classes=-1 if classes is None else len(classes),
                shard=self.shard, command=self.command, content_checksum=self.content_checksum(),
            )  # fmt: skip
            g = group(h5, "classes")
            put(g, "position", self.positions.astype(np.int64))
            arch = [self.space.arch_str(ops) for ops in self.representatives]
            put(g, "representative", np.array(arch, dtype=f"S{max((len(a) for a in arch), default=1)}"))
            if self.index is not None:
                put(g, "index", self.index.astype(np.int64))
                put(g, "iso_class", self.iso_class.astype(np.int64))
            proxies = group(h5, "proxies")
            for name, columns in self.proxies.items():
                p = group(proxies, name)
                p.attrs["identity"] = json.dumps(columns.identity, sort_keys=True)
                p.attrs["provenance"] = json.dumps(columns.provenance, sort_keys=True)
                p.attrs["description"] = columns.description
                p.attrs["label"] = columns.label
                for key in ("score", "raw", "loss", "cka", "seconds"):
                    put(p, key, getattr(columns, key))
                put(p, "status", columns.status.astype("S16"))
        self.path = path
        return path

    @classmethod
    def open(cls, path: Path | str) -> "ScoreTable":
        """Read a table, after checking its seal; DamagedFile naming the file and the rebuild command."""
        path = Path(path)
        if not path.is_file():
            raise MissingFile(f"score table {path} not found; {REBUILD}")
        verify_h5(path, REBUILD)
        try:
            with h5py.File(path, "r") as h5:
                if h5.attrs.get("format") != FORMAT:
                    raise InputError(f"{path} is not a score table of format {FORMAT} (format={h5.attrs.get('format')!r})")
                space = get_space(str(h5.attrs["space"]))
                classes = h5["classes"]
                representatives = space.validate(
                    np.array([space.parse_arch(a.decode()) for a in classes["representative"][()]], dtype=np.uint8)
                ).reshape(-1, space.num_genes)
                proxies = {}
                for name, p in h5["proxies"].items():
                    proxies[name] = ProxyColumns(
                        name, json.loads(p.attrs["identity"]), str(p.attrs["description"]), str(p.attrs["label"]),
                        p["score"][()], p["raw"][()], p["loss"][()], p["cka"][()],
                        np.array([s.decode() for s in p["status"][()]]), p["seconds"][()],
                        json.loads(p.attrs.get("provenance", "{}")),
                    )  # fmt: skip
                table = cls(
                    space, classes["position"][()], representatives, proxies, str(h5.attrs["shard"]),
                    str(h5.attrs["command"]), path,
                    classes["index"][()] if "index" in classes else None,
                    classes["iso_class"][()] if "iso_class" in classes else None,
                )  # fmt: skip
                stored = str(h5.attrs["content_checksum"])
        except (OSError, KeyError) as err:
            raise DamagedFile(path, f"not a readable score table ({type(err).__name__}: {err})", REBUILD) from err
        if stored != table.content_checksum():
            raise DamagedFile(path, f"content checksum mismatch: expected {stored}, got {table.content_checksum()}", REBUILD)
        return table

    @classmethod
    def shared(cls, path: Path | str) -> "ScoreTable":
        """`open`, once per process while the file stays unchanged (hwevrsnas.filememo): one table for every caller,
        its arrays read-only."""
        return read_once(path, cls._open_read_only)

    @classmethod
    def _open_read_only(cls, path: Path) -> "ScoreTable":
        table = cls.open(path)
        read_only(table.positions, table.representatives, table.index, table.iso_class)
        for columns in table.proxies.values():
            read_only(columns.score, columns.raw, columns.loss, columns.cka, columns.status, columns.seconds)
        return table


@dataclass
class TableSource:
    """One proxy of a score table, as Evaluator.attach uses it."""

    table: ScoreTable
    columns: ProxyColumns

    @property
    def identity(self) -> dict[str, Any]:
        """The identity of the proxy that computed the rows."""
        return self.columns.identity

    def lookup(self, canonical: str) -> ProxyResult | None:
        """The stored result of a class, or None when the table does not hold it."""
        row = self.table.row_of(canonical)
        return None if row is None else self.columns.result(row)


class ServedEvaluator(Evaluator):
    """One proxy of a complete score table as an evaluator that never computes (and never imports torch).

    Its identity is the table's (where and how the scores were computed), and so is everything the
    search result records about it.
    """

    kind = "served"

    def __init__(self, table: ScoreTable, columns: ProxyColumns, preset: Any = None) -> None:
        super().__init__(table.space)
        self.table, self.columns, self.preset = table, columns, preset
        self.batch_checksum = columns.identity.get("batch")
        if "metric" in columns.identity:
            self.metric = columns.identity["metric"]
        self.sources.append(TableSource(table, columns))

    @property
    def name(self) -> str:
        return self.columns.label

    def identity(self) -> dict[str, Any]:
        return dict(self.columns.identity)

    def provenance(self) -> dict[str, Any]:
        return dict(self.columns.provenance)

    def compute(self, representative: np.ndarray) -> ProxyResult:
        raise InputError(f"{self.table.path}: class {self.space.arch_str(representative)} is missing from a table "
                         f"that claims to hold every class; {REBUILD}")  # fmt: skip


def served_proxies(tables: Sequence[ScoreTable], preset: Any) -> dict[str, ServedEvaluator]:
    """The proxies that complete tables serve at a preset, by registry name.

    The preset's batch is recognised without loading it: it is the batch of the tables' representation-similarity
    column of that preset digest. A zero-cost column serves when it was computed on that batch with the preset's
    seed (or needs no batch: params, FLOPs). Without such an rsnas column nothing is served, and the search computes
    (or looks up) scores through the proxies themselves.
    """
    complete = [table for table in tables if table.complete]
    batches = {
        columns.identity.get("batch") for table in complete for columns in table.proxies.values()
        if columns.identity.get("kind") == "rsnas" and columns.identity.get("preset") == preset.digest
    }  # fmt: skip
    if len(batches) != 1:
        return {}
    batch = batches.pop()
    served: dict[str, ServedEvaluator] = {}
    for table in complete:
        for name, columns in table.proxies.items():
            identity = columns.identity
            if identity.get("kind") == "rsnas" and identity.get("preset") != preset.digest:
                continue
            if identity.get("batch", batch) != batch or identity.get("seed", preset.seed) != preset.seed:
                continue
            served.setdefault(name, ServedEvaluator(table, columns, preset))
    return served


def open_scores(path: Path | str) -> list[TableSource]:
    """Every proxy of a score table file, as score sources."""
    return ScoreTable.open(path).sources()


def merge(tables: Sequence[ScoreTable], command: str = "") -> ScoreTable:
    """One table of several shards: refused when they mix spaces, proxies or identities, overlap, or miss classes."""
    if not tables:
        raise InputError("no score tables to merge")
    first = tables[0]
    names = {path: sorted(t.proxies) for path, t in ((t.path, t) for t in tables)}
    for table in tables[1:]:
        if table.space.name != first.space.name:
            raise InputError(f"cannot merge {table.path} ({table.space.name}) with {first.path} ({first.space.name})")
        if sorted(table.proxies) != sorted(first.proxies):
            raise InputError(f"cannot merge tables of different proxies: {names}")
        for name, columns in table.proxies.items():
            if columns.identity != first.proxies[name].identity:
                differing = differing_keys(columns.identity, first.proxies[name].identity)
                raise InputError(
                    f"cannot merge {table.path} with {first.path}: proxy {name!r} was computed with another identity "
                    f"(differs in {', '.join(differing)})"
                )
    positions = np.concatenate([t.positions for t in tables])
    unique, counts = np.unique(positions, return_counts=True)
    if (counts > 1).any():
        overlap = unique[counts > 1]
        raise InputError(f"the shards overlap: {len(overlap)} class(es) appear twice, e.g. class row {int(overlap[0])}")
    classes = first.space.classes()
    if classes is None or len(unique) != len(classes):
        total = "?" if classes is None else len(classes)
        raise InputError(f"the shards cover {len(unique)} of {total} classes; give every shard (hwevrsnas scores build --shard I/N)")
    order = np.argsort(positions, kind="stable")
    proxies = {}
    for name in first.proxies:
        parts = [t.proxies[name] for t in tables]
        taps = max(p.cka.shape[1] for p in parts)
        cka = np.concatenate([np.pad(p.cka, ((0, 0), (0, taps - p.cka.shape[1])), constant_values=np.nan) for p in parts])
        proxies[name] = ProxyColumns(
            name, first.proxies[name].identity, first.proxies[name].description, first.proxies[name].label,
            *(np.concatenate([getattr(p, key) for p in parts])[order] for key in ("score", "raw", "loss")),
            cka[order], np.concatenate([p.status for p in parts])[order], np.concatenate([p.seconds for p in parts])[order],
            merged_provenance([p.provenance for p in parts]),
        )  # fmt: skip
    stack = lambda key: None if getattr(first, key) is None else np.concatenate([getattr(t, key) for t in tables])[order]  # noqa: E731
    return ScoreTable(
        first.space, positions[order], np.concatenate([t.representatives for t in tables])[order], proxies, "all",
        command, None, stack("index"), stack("iso_class"),
    )  # fmt: skip


def merged_provenance(parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The provenance of merged shards: theirs when they agree, else each distinct one (shards of several machines)."""
    distinct = [dict(p) for p in {json.dumps(p, sort_keys=True): p for p in parts}.values()]
    return distinct[0] if len(distinct) == 1 else {"shards": distinct}


def info(table: ScoreTable) -> dict[str, Any]:
    """What `hwevrsnas scores info --json` prints (the first proxy's identity also at the top level)."""
    proxies = []
    for name, columns in table.proxies.items():
        identity, recorded = columns.identity, {**columns.provenance, **columns.identity}
        proxies.append({
            "name": name, "identity": identity, "provenance": columns.provenance, "preset": identity.get("preset"),
            "batch_checksum": identity.get("batch"), "engine": recorded.get("engine"), "platform": recorded.get("platform"),
            "seconds_per_arch": float(np.mean(columns.seconds)) if len(columns.seconds) else None,
            "statuses": {status: int((columns.status == status).sum()) for status in STATUSES if (columns.status == status).any()},
        })  # fmt: skip
    out = {
        "path": str(table.path), "space": table.space.name, "rows": table.rows, "complete": table.complete,
        "shard": table.shard, "content_checksum": table.content_checksum(), "command": table.command,
        "proxies": proxies,
    }  # fmt: skip
    if proxies:
        out.update({key: proxies[0][key] for key in ("preset", "batch_checksum", "engine", "platform", "seconds_per_arch")})
    return out


def export_rows(table: ScoreTable) -> tuple[list[str], list[list[Any]]]:
    """CSV columns and rows: index, arch, iso_class, then score, loss, seconds of a representation-similarity
    proxy, or one column of raw values per zero-cost proxy."""
    header = ["index", "arch", "iso_class"]
    columns: list[tuple[str, np.ndarray]] = []
    for name, proxy in table.proxies.items():
        if proxy.identity.get("kind") == "zc":
            columns.append((proxy.identity["metric"], proxy.raw))
        else:
            prefix = "" if len(table.proxies) == 1 else f"{name}:"
            columns += [(f"{prefix}score", proxy.score), (f"{prefix}loss", proxy.loss), (f"{prefix}seconds", proxy.seconds)]
    header += [name for name, _ in columns]
    rows = []
    for row in range(table.rows):
        rows.append([
            "" if table.index is None else int(table.index[row]), table.space.arch_str(table.representatives[row]),
            "" if table.iso_class is None else int(table.iso_class[row]),
            *(_csv_cell(values[row]) for _, values in columns),
        ])  # fmt: skip
    return header, rows


def _csv_cell(value: float) -> str:
    return "" if math.isnan(value) else repr(float(value))


__all__ = [
    "FORMAT", "ProxyColumns", "ScoreTable", "ServedEvaluator", "TableSource", "export_rows", "info", "merge", "open_scores",
    "served_proxies", "shard_rows",
]  # fmt: skip

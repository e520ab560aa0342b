"""Exact FBNet latency tables (CIFAR-100) recovered from HELP's copy of HW-NAS-Bench, and their reader.

HW-NAS-Bench prices an FBNet architecture as stem + sum over the 22 blocks of a per-(block, op)
lookup + head + pool + classifier (hw_nas_bench_api.py, `fbnet_get_metrics`). The 5,000 archs
in HELP's data/fbnet/arch.pt and their latencies therefore pin down, per device, a 22x9 table
and a constant up to a gauge: adding c to every op of one block and subtracting c from the
constant changes no sum. Gauge used here: op 0 ('k3_e1') of every block is 0, so `constant`
is the latency of the all-'k3_e1' architecture and table[l, o] is the change from swapping
block l's 'k3_e1' for op o (negative entries are normal). Pairs never seen in the fit rows
are NaN. The fit uses the first 4,000 archs of arch.pt; the last 1,000 are held out.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import h5py
import numpy as np

from hwevrsnas.errors import DamagedFile, InputError
from hwevrsnas.filememo import read_once, read_only
from hwevrsnas.integrity import verify_h5
from hwevrsnas.spaces.fbnet import LAYOUT, NUM_LAYERS, NUM_OPS, OPS, validate
from hwevrsnas.tables.h5util import atomic_h5, group, put
from hwevrsnas.tables.metrics import HWNASBENCH_KIND

SPACE = "fbnet"
DATASET = "cifar100"
SCHEMA_VERSION = 1
N_HOLDOUT = 1000
TOLERANCE_MS = 1e-9
DEVICES = ("eyeriss", "fpga", "pixel3", "raspi4")
GAUGE = "table[layer, 0] = 0 (op k3_e1); constant = latency of the all-k3_e1 architecture"
HOLDOUT = "last 1000 rows of arch.pt (fit on the rows before them)"
REBUILD = "rebuild it with `hwevrsnas tables build` (in the workflow: `snakemake --forcerun tables`)"
_RESERVED_ATTRS = ("space", "dataset", "schema_version", "gauge", "holdout", "tolerance_ms")


class TableFitError(ValueError):
    """The latencies are not additive over (block, op): a prediction misses by more than TOLERANCE_MS."""


def _load_pt(path: Path) -> object:
    import torch  # only the builder reads HELP's torch files; the table reader stays torch-free

    # HELP's files hold plain lists and dicts, so the safe loader suffices.
    return torch.load(Path(path), weights_only=True)


def load_archs(arch_pt: Path, metainfo_pt: Path) -> np.ndarray:
    """HELP's FBNet archs as (n, 22) uint8, checked against metainfo.pt's op indices, names and dataset."""
    archs = validate(np.asarray(_load_pt(arch_pt), dtype=np.int64))
    meta = _load_pt(metainfo_pt)
    if meta["dataset"] != DATASET:
        raise ValueError(f"{metainfo_pt}: dataset is {meta['dataset']!r}, expected {DATASET!r}")
    entries = meta["arch"]
    if len(entries) != len(archs):
        raise ValueError(f"{metainfo_pt} lists {len(entries)} archs, {arch_pt} holds {len(archs)}")
    meta_idx = np.array([entry["op_idx_list"] for entry in entries])
    meta_names = np.array([entry["arch_str"] for entry in entries])
    if not np.array_equal(meta_idx, archs):
        raise ValueError(f"{metainfo_pt} op indices differ from {arch_pt}")
    if not np.array_equal(meta_names, np.asarray(OPS)[archs]):
        raise ValueError(f"{metainfo_pt} op names do not follow the op order {OPS}")
    return archs


def fit_table(ops: np.ndarray, latency: np.ndarray) -> tuple[np.ndarray, float]:
    """Least-squares 22x9 table (op 0 = 0, unseen pairs NaN) and constant: entries + constant = latency."""
    ops = validate(ops)
    rows = np.arange(len(ops))[:, None]
    onehot = np.zeros((len(ops), NUM_LAYERS, NUM_OPS))
    onehot[rows, np.arange(NUM_LAYERS), ops] = 1.0
    seen = onehot.any(axis=0)
    if not seen[:, 0].all():
        raise TableFitError(
            f"op {OPS[0]} never occurs in blocks {np.flatnonzero(~seen[:, 0]).tolist()}: "
            "the gauge is undefined"
        )
    free = seen.copy()
    free[:, 0] = False  # the gauge: op 0's column is folded into the constant
    design = np.column_stack([np.ones(len(ops)), onehot[:, free]])
    solution = np.linalg.lstsq(design, np.asarray(latency, dtype=np.float64), rcond=None)[0]
    table = np.where(seen, 0.0, np.nan)
    table[free] = solution[1:]
    return table, float(solution[0])


def predict(table: np.ndarray, constant: float, ops: np.ndarray) -> np.ndarray:
    """Latency of architectures ops (..., 22): the sum of their table entries plus the constant."""
    ops = validate(ops)
    return table[np.arange(NUM_LAYERS), ops].sum(axis=-1) + constant


def _max_error(device: str, part: str, predicted: np.ndarray, actual: np.ndarray, offset: int) -> float:
    error = np.abs(predicted - actual)
    bad = ~(error <= TOLERANCE_MS)  # NaN (an unseen pair) counts as a miss
    if bad.any():
        worst = int(np.argmax(np.nan_to_num(error, nan=np.inf)))
        raise TableFitError(
            f"{device}: {int(bad.sum())} {part} archs miss the additive table "
            f"by more than {TOLERANCE_MS} ms; worst is arch {offset + worst} "
            f"(predicted {float(predicted[worst])!r}, listed {float(actual[worst])!r})"
        )
    return float(error.max())


def build_fbnet_tables(
    arch_pt: Path,
    metainfo_pt: Path,
    latency_pts: dict[str, Path],
    out_h5: Path,
    provenance: dict[str, str],
) -> None:
    """Recover each device's exact FBNet table from HELP's latencies and write them, checked, to out_h5."""
    unknown = sorted(set(latency_pts) - set(DEVICES))
    if unknown:
        raise ValueError(
            f"no additive FBNet table exists for {unknown}; supported devices: {', '.join(DEVICES)}"
        )
    clash = sorted(set(provenance) & set(_RESERVED_ATTRS))
    if clash:
        raise ValueError(f"provenance keys {clash} would overwrite the file's own attributes")
    archs = load_archs(arch_pt, metainfo_pt)
    n_fit = len(archs) - N_HOLDOUT
    if n_fit <= 1 + NUM_LAYERS * (NUM_OPS - 1):
        raise ValueError(f"{len(archs)} archs leave too few to fit after holding out {N_HOLDOUT}")
    fitted = {}
    for device in sorted(latency_pts):
        latency = np.asarray(_load_pt(latency_pts[device]), dtype=np.float64)
        if latency.shape != (len(archs),):
            raise ValueError(f"{latency_pts[device]}: {latency.shape[0]} latencies for {len(archs)} archs")
        table, constant = fit_table(archs[:n_fit], latency[:n_fit])
        predicted = predict(table, constant, archs)
        fit_error = _max_error(device, "fit", predicted[:n_fit], latency[:n_fit], 0)
        holdout_error = _max_error(device, "held-out", predicted[n_fit:], latency[n_fit:], n_fit)
        unseen = np.argwhere(np.isnan(table))
        if len(unseen):
            warnings.warn(
                f"{device}: (block, op) pairs never observed, stored as NaN: {unseen.tolist()}", stacklevel=2
            )
        fitted[device] = (table, constant, fit_error, holdout_error, len(unseen))

    with atomic_h5(Path(out_h5)) as handle:
        handle.attrs["space"] = SPACE
        handle.attrs["dataset"] = DATASET
        handle.attrs["schema_version"] = SCHEMA_VERSION
        handle.attrs["gauge"] = GAUGE
        handle.attrs["holdout"] = HOLDOUT
        handle.attrs["tolerance_ms"] = TOLERANCE_MS
        for key in sorted(provenance):
            handle.attrs[key] = provenance[key]
        put(handle, "ops", np.array(OPS, dtype=f"S{max(map(len, OPS))}"))
        put(handle, "layout", LAYOUT)
        latency_group = group(handle, "latency")
        for device, (table, constant, fit_error, holdout_error, n_unseen) in fitted.items():
            device_group = group(latency_group, device)
            put(device_group, "table", table, unit="ms")
            device_group.attrs["constant"] = constant
            device_group.attrs["max_fit_error_ms"] = fit_error
            device_group.attrs["max_holdout_error_ms"] = holdout_error
            device_group.attrs["n_fit"] = n_fit
            device_group.attrs["n_holdout"] = N_HOLDOUT
            device_group.attrs["n_unobserved"] = n_unseen
            device_group.attrs["source"] = Path(latency_pts[device]).name
            device_group.attrs["measured_or_simulated"] = HWNASBENCH_KIND[device]


class FBNetTable:
    """Per-device FBNet latency tables, read from a file written by `build_fbnet_tables`."""

    def __init__(
        self, tables: dict[str, np.ndarray], constants: dict[str, float], layout: np.ndarray
    ) -> None:
        self._tables = tables
        self._constants = constants
        self.layout = layout

    @classmethod
    def open(cls, path: Path) -> FBNetTable:
        """Load every device's table from an FBNet table file, after checking its content checksum."""
        verify_h5(path, REBUILD)
        try:
            return cls._read(path)
        except OSError as err:
            raise DamagedFile(path, f"HDF5 cannot read it ({err})", REBUILD) from err

    @classmethod
    def shared(cls, path: Path) -> FBNetTable:
        """`open`, once per process while the file stays unchanged (hwevrsnas.filememo): one table for every caller,
        its arrays read-only."""
        return read_once(path, cls._open_read_only)

    @classmethod
    def _open_read_only(cls, path: Path) -> FBNetTable:
        table = cls.open(path)
        read_only(*table._tables.values(), table.layout)
        return table

    @classmethod
    def _read(cls, path: Path) -> FBNetTable:
        with h5py.File(path, "r") as handle:
            if handle.attrs.get("space") != SPACE or handle.attrs.get("schema_version") != SCHEMA_VERSION:
                raise InputError(
                    f"{path} is not an FBNet table file of schema {SCHEMA_VERSION} (space="
                    f"{handle.attrs.get('space')!r}, schema_version={handle.attrs.get('schema_version')!r})"
                )
            ops = tuple(name.decode() for name in handle["ops"][()])
            if ops != OPS:
                raise InputError(f"{path} orders the ops as {ops}, this package as {OPS}")
            devices = handle["latency"]
            tables = {name: devices[name]["table"][()] for name in devices}
            constants = {name: float(devices[name].attrs["constant"]) for name in devices}
            layout = handle["layout"][()]
        return cls(tables, constants, layout)

    @property
    def devices(self) -> tuple[str, ...]:
        """The devices with a table, in file order."""
        return tuple(self._tables)

    def table(self, device: str) -> tuple[np.ndarray, float]:
        """A copy of one device's 22x9 table (ms) and its constant."""
        self._check(device)
        return self._tables[device].copy(), self._constants[device]

    def latency(self, device: str, ops: np.ndarray) -> np.ndarray:
        """Latency in ms of architectures ops, shape (n, 22) -> (n,) or (22,) -> ()."""
        self._check(device)
        return np.asarray(predict(self._tables[device], self._constants[device], ops))

    def _check(self, device: str) -> None:
        if device not in self._tables:
            raise KeyError(f"no FBNet table for device {device!r}; valid devices: {', '.join(self.devices)}")


FBNET_DIR = "HELP/data/fbnet"


def build_from_sources(root: Path, out_h5: Path) -> None:
    """Build fbnet.h5 from a directory holding the pinned HELP FBNet files (a mirror or resources/sources)."""
    from hwevrsnas.tables.sources import require_sources, source_checksums

    latency = {device: f"{FBNET_DIR}/latency/{device}.pt" for device in DEVICES}
    keys = [f"{FBNET_DIR}/arch.pt", f"{FBNET_DIR}/metainfo.pt", *latency.values()]
    root = require_sources(root, keys)
    provenance = {"builder": "mirror", "sources": json.dumps(source_checksums(keys), sort_keys=True)}
    build_fbnet_tables(
        root / keys[0], root / keys[1], {d: root / p for d, p in latency.items()}, Path(out_h5), provenance
    )

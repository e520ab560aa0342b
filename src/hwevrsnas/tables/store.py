"""Read-only query interface to the NB201 HDF5 table: vectorised lookups, thresholds, exact optima."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import h5py
import numpy as np

from hwevrsnas.errors import DamagedFile, InputError
from hwevrsnas.filememo import read_once, read_only
from hwevrsnas.integrity import verify_h5
from hwevrsnas.spaces.nb201 import cell_bytes
from hwevrsnas.tables.metrics import DATASETS

ACCURACY_KINDS = ("test_200ep", "valid_12ep", "test_12ep")
REBUILD = "rebuild it with `hwevrsnas tables build` (in the workflow: `snakemake --forcerun tables`)"

# Made once, not at every lookup.
_CODE_WEIGHTS = 5 ** np.arange(5, -1, -1)


def _ops_codes(ops: np.ndarray) -> np.ndarray:
    """Base-5 code of each op-index row: a dense key over all 5**6 cells."""
    return np.asarray(ops, dtype=np.int64) @ _CODE_WEIGHTS


class _LazyGroup(Mapping[str, Any]):
    """The members of one HDF5 group, each read from the file on first access (opening stays cheap)."""

    def __init__(self, path: Path, group: str, names: Sequence[str], read: Callable[[Any], Any]) -> None:
        self._path, self._group, self._names, self._read = path, group, tuple(names), read
        self._loaded: dict[str, Any] = {}
        # Set on a table shared by every search of the process (NB201Table.shared): its columns are then read-only.
        self.frozen = False

    def __getitem__(self, name: str) -> Any:
        if name not in self._loaded:
            if name not in self._names:
                raise KeyError(name)
            with h5py.File(self._path, "r") as h5:
                value = self._read(h5[f"{self._group}/{name}"])
            if self.frozen:
                read_only(value)
            self._loaded[name] = value
        return self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def _lazy(path: Path, h5: h5py.File, group: str, read: Callable[[Any], Any]) -> dict[str, _LazyGroup]:
    """Per subgroup (dataset) of `group`: its members, read lazily."""
    return {ds: _LazyGroup(path, f"{group}/{ds}", list(h5[f"{group}/{ds}"]), read) for ds in h5[group]}


def _values(dataset: h5py.Dataset) -> np.ndarray:
    return dataset[()]


def _attrs(dataset: h5py.Dataset) -> dict[str, Any]:
    return dict(dataset.attrs)


@dataclass(frozen=True)
class Optimum:
    """The best feasible architecture for one constraint, and how many were feasible."""

    index: int
    accuracy: float
    cost: float
    n_feasible: int


class NB201Table:
    """The NAS-Bench-201 table held in memory; open once with `NB201Table.open(path)`."""

    def __init__(self, path: Path, h5: h5py.File) -> None:
        self.path = Path(path)
        self.attrs = {key: h5.attrs[key] for key in h5.attrs}
        self.arch_strings = [s.decode() for s in h5["arch/string"][()]]
        self.ops = h5["arch/ops"][()]
        self.iso_class = h5["arch/iso_class"][()]
        self.degenerate = h5["arch/degenerate"][()]
        self._index = {s: i for i, s in enumerate(self.arch_strings)}
        self._code_to_index = np.empty(5**6, dtype=np.int64)
        self._code_to_index[_ops_codes(self.ops)] = np.arange(len(self.arch_strings))
        # Columns and metric attributes are read on first use: a query touches a few of ~100 columns.
        self._accuracy = _lazy(self.path, h5, "accuracy", _values)
        self._model = _lazy(self.path, h5, "model", _values)
        self._cost = _lazy(self.path, h5, "cost", _values)
        self._imputed = _lazy(self.path, h5, "cost_imputed", _values)
        self.metric_attrs = _lazy(self.path, h5, "cost", _attrs)

    @classmethod
    def open(cls, path: Path | str) -> "NB201Table":
        """Open the table at `path` after checking its content checksum: architectures now, each column on first use."""
        path = Path(path)
        verify_h5(path, REBUILD)
        try:
            with h5py.File(path, "r") as h5:
                if h5.attrs.get("space") != "nb201":
                    raise InputError(f"{path} is not an NB201 table (space={h5.attrs.get('space')!r})")
                return cls(path, h5)
        except OSError as err:  # the checksum matched, so HDF5 itself cannot read what this package wrote
            raise DamagedFile(path, f"HDF5 cannot read it ({err})", REBUILD) from err

    @classmethod
    def shared(cls, path: Path | str) -> "NB201Table":
        """`open`, once per process while the file stays unchanged (hwevrsnas.filememo): one table for every caller,
        its arrays read-only."""
        return read_once(path, cls._open_read_only)

    @classmethod
    def _open_read_only(cls, path: Path) -> "NB201Table":
        table = cls.open(path)
        read_only(table.ops, table.iso_class, table.degenerate, table._code_to_index)
        for group in (table._accuracy, table._model, table._cost, table._imputed):
            for members in group.values():
                members.frozen = True
        return table

    def __len__(self) -> int:
        return len(self.arch_strings)

    @property
    def datasets(self) -> list[str]:
        """Datasets with accuracy data."""
        return list(self._accuracy)

    @property
    def cost_datasets(self) -> list[str]:
        """Datasets with at least one cost column."""
        return list(self._cost)

    def metrics(self, dataset: str = "cifar10") -> list[str]:
        """Names of the cost metrics stored for `dataset`."""
        return list(self._cost.get(self._dataset(dataset, self._cost), {}))

    def devices(self, dataset: str = "cifar10", metric: str | None = None) -> list[str]:
        """Devices with a cost column for `dataset` (and `metric` when given)."""
        attrs = self.metric_attrs[self._dataset(dataset, self._cost)].values()
        return list(dict.fromkeys(a["device"] for a in attrs if metric is None or a["metric"] == metric))

    def index_of(self, arch: str | int) -> int:
        """Official NB201 index of an arch string, or a validated index."""
        if isinstance(arch, (int, np.integer)) or (isinstance(arch, str) and arch.strip().isdigit()):
            index = int(arch)
            if not 0 <= index < len(self):
                raise IndexError(f"arch index {index} out of range 0..{len(self) - 1}")
            return index
        if arch not in self._index:
            raise KeyError(f"unknown NB201 arch string {arch!r}; expected e.g. {self.arch_strings[0]!r}")
        return self._index[arch]

    def indices_of_ops(self, ops: np.ndarray) -> np.ndarray:
        """Vectorised op-index rows (n, 6) -> official indices, via the base-5 code of each row."""
        return self._code_to_index[_ops_codes(ops)]

    def index_of_ops(self, ops: np.ndarray | Sequence[int]) -> int:
        """The official index of one architecture's op indices (ArchError when they are not one NB201 cell)."""
        return self._index_of_cell[cell_bytes(ops)]

    @functools.cached_property
    def _index_of_cell(self) -> dict[bytes, int]:
        # A search looks up every candidate it requests: one dict look-up, not a base-5 code through numpy.
        return {cell.tobytes(): index for index, cell in enumerate(np.asarray(self.ops, dtype=np.uint8))}

    def _dataset(self, dataset: str, store: dict) -> str:
        if dataset not in store:
            raise KeyError(f"dataset {dataset!r} not in the table; valid: {sorted(store)}")
        return dataset

    def accuracy(self, index: np.ndarray | int, dataset: str = "cifar10", kind: str = "test_200ep") -> np.ndarray:
        """Accuracy in percent (200-epoch test by default) at the given indices."""
        columns = self._accuracy[self._dataset(dataset, self._accuracy)]
        if kind not in columns:
            raise KeyError(f"accuracy kind {kind!r} unknown; valid: {sorted(columns)}")
        return columns[kind][index]

    def model_size(self, index: np.ndarray | int, dataset: str = "cifar10", kind: str = "params_mb") -> np.ndarray:
        """Analytic params (M) or FLOPs (M) of the C=16, N=5 network at the given indices."""
        columns = self._model[self._dataset(dataset, self._model)]
        if kind not in columns:
            raise KeyError(f"model-size kind {kind!r} unknown; valid: {sorted(columns)}")
        return columns[kind][index]

    def cost_column(self, metric: str, dataset: str = "cifar10") -> np.ndarray:
        """The whole cost column `metric` (e.g. 'fpga_latency') for `dataset`; NaN where missing."""
        columns = self._cost[self._dataset(dataset, self._cost)]
        if metric not in columns:
            raise KeyError(f"cost metric {metric!r} not stored for {dataset}; valid: {sorted(columns)}")
        return columns[metric]

    def cost(self, index: np.ndarray | int, metric: str, dataset: str = "cifar10") -> np.ndarray:
        """Hardware cost at the given indices; NaN where missing."""
        return self.cost_column(metric, dataset)[index]

    def imputed(self, index: np.ndarray | int, metric: str, dataset: str = "cifar10") -> np.ndarray:
        """Whether the cost at the given indices was imputed from an isomorphic twin."""
        self.cost_column(metric, dataset)
        return self._imputed[dataset][metric][index]

    def thresholds(self, metric: str, quantiles: Sequence[float], dataset: str = "cifar10") -> np.ndarray:
        """Cost thresholds at the given quantiles of the present values of a metric."""
        q = np.asarray(quantiles, dtype=float)
        if np.any((q < 0) | (q > 1)):
            raise ValueError(f"quantiles must lie in [0, 1], got {list(quantiles)}")
        column = self.cost_column(metric, dataset)
        return np.quantile(column[~np.isnan(column)], q)

    def feasible_mask(self, metric: str, threshold: float, dataset: str = "cifar10") -> np.ndarray:
        """Architectures whose cost is present and <= threshold (a missing cost is never feasible)."""
        column = self.cost_column(metric, dataset)
        with np.errstate(invalid="ignore"):
            return column <= threshold

    def feasible_optimum(self, metric: str, threshold: float, dataset: str = "cifar10") -> Optimum | None:
        """Exact best feasible architecture by 200-epoch test accuracy (ties: lowest index); None if none."""
        mask = self.feasible_mask(metric, threshold, dataset)
        if not mask.any():
            return None
        accuracy = np.where(mask, self.accuracy(slice(None), dataset), -np.inf)
        index = int(np.argmax(accuracy))
        cost = float(self.cost(index, metric, dataset))
        return Optimum(index, float(accuracy[index]), cost, int(mask.sum()))

    def coverage(self) -> list[dict[str, object]]:
        """Per (dataset, metric): how many values are present, imputed and missing, with unit and source."""
        rows = []
        for dataset, columns in self._cost.items():
            for metric, values in columns.items():
                attrs = self.metric_attrs[dataset][metric]
                imputed = int(self._imputed[dataset][metric].sum())
                missing = int(np.isnan(values).sum())
                rows.append(
                    dict(
                        dataset=dataset, metric=metric, unit=attrs["unit"], kind=attrs["kind"],
                        measured=len(values) - missing - imputed, imputed=imputed, missing=missing,
                        source=attrs["source"],
                    )
                )  # fmt: skip
        return rows

    def source_checksums(self) -> dict[str, str]:
        """The pinned checksums of the sources this table was built from."""
        return json.loads(self.attrs.get("sources", "{}"))


__all__ = ["ACCURACY_KINDS", "DATASETS", "NB201Table", "Optimum"]

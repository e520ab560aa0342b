"""The hardware cost Psi_d(a) of architectures for one (space, dataset, device, metric), and thresholds.

NB201: the column `<device>_<metric>` of the NB201 table for the cost dataset (by default the
search's dataset; HW-NAS-Bench costs differ between CIFAR-10 and CIFAR-100, DATA.md). Only
`latency` (ms) and `energy` (mJ) are costs; other stored columns are not searchable.
FBNet: the exact additive latency tables (CIFAR-100 setting, latency only).

Thresholds are an absolute cost, or a quantile q in [0, 1]:
- NB201: `np.quantile` (linear interpolation) of the column's present (non-NaN) values;
- FBNet: the space is 9^22, so the quantile is taken over the latencies of a fixed sample of
  `FBNET_QUANTILE_SAMPLE` = 10,000 architectures drawn with `spaces.fbnet.sample` from
  `np.random.default_rng(FBNET_QUANTILE_SEED)` (seed 0), NaN latencies dropped. The sample is
  the same for every device and run, so a quantile names the same threshold everywhere.
A threshold under the cheapest architecture's cost (NB201: the column's minimum; FBNet: the
constant plus the sum of the per-layer minima, the cheapest achievable) is rejected, as is a
non-positive one.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hwevrsnas.errors import InputError, MissingFile
from hwevrsnas.search.penalty import feasible

SPACES = ("nb201", "fbnet")
COST_METRICS = ("latency", "energy")
FBNET_DATASET = "cifar100"
FBNET_METRICS = ("latency",)
FBNET_QUANTILE_SAMPLE = 10_000
FBNET_QUANTILE_SEED = 0
NB201_FILE = "nb201.h5"
FBNET_FILE = "fbnet.h5"


@dataclass(frozen=True)
class Threshold:
    """A resolved threshold and how it was derived: `source` is "value" or "quantile" (then `quantile` is q)."""

    value: float
    source: str
    quantile: float | None = None

    def to_json(self) -> dict[str, object]:
        """JSON-ready dict."""
        return {"value": self.value, "source": self.source, "quantile": self.quantile}


def _listing(values: object) -> str:
    return ", ".join(str(v) for v in values) or "(none)"


def _h5_sources(path: Path) -> dict[str, str]:
    import json

    import h5py

    with h5py.File(path, "r") as handle:
        return json.loads(handle.attrs.get("sources", "{}"))


class CostModel:
    """Cost lookups for one (space, dataset, device, metric); build with `nb201`, `fbnet` or `open`."""

    def __init__(self, space: str, dataset: str, device: str, metric: str, cost_dataset: str, unit: str) -> None:
        self.space = space
        self.dataset = dataset
        self.device = device
        self.metric = metric
        self.cost_dataset = cost_dataset
        self.unit = unit
        self._nb201 = None
        self._fbnet = None
        self._sources: dict[str, str] = {}

    # ---- construction and validation -------------------------------------------------------------------
    @classmethod
    def nb201(
        cls, table: object, dataset: str, device: str, metric: str, cost_dataset: str | None = None
    ) -> "CostModel":
        """Cost model on the NB201 table `table` (an NB201Table); every bad value is named with the valid ones."""
        if dataset not in table.datasets:
            raise InputError(f"unknown dataset {dataset!r} for nb201; valid datasets: {_listing(table.datasets)}")
        if metric not in COST_METRICS:
            raise InputError(f"unknown cost metric {metric!r} for nb201; valid metrics: {_listing(COST_METRICS)}")
        cost_dataset = dataset if cost_dataset is None else cost_dataset
        if cost_dataset not in table.cost_datasets:
            with_costs = _listing(table.cost_datasets)
            raise InputError(
                f"no hardware cost is stored for dataset {cost_dataset!r} in the NB201 table; "
                f"datasets with costs: {with_costs} (choose one as the cost dataset explicitly)"
            )
        every_device = sorted({d for ds in table.cost_datasets for d in table.devices(ds, metric)})
        if device not in every_device:
            raise InputError(
                f"unknown device {device!r} for nb201 {metric}; valid devices: {_listing(every_device)}"
            )
        column = f"{device}_{metric}"
        if column not in table.metrics(cost_dataset):
            where = [ds for ds in table.cost_datasets if column in table.metrics(ds)]
            raise InputError(
                f"metric {column!r} is missing for dataset {cost_dataset!r}; it exists for {_listing(where)}. "
                f"Devices with {metric} for {cost_dataset}: {_listing(table.devices(cost_dataset, metric))}"
            )
        unit = str(table.metric_attrs[cost_dataset][column].get("unit", ""))
        model = cls("nb201", dataset, device, metric, cost_dataset, unit)
        model._nb201 = table
        if not np.any(~np.isnan(model.column)):
            raise InputError(f"cost column {column!r} for {cost_dataset} holds no value")
        return model

    @classmethod
    def fbnet(
        cls, table: object, dataset: str, device: str, metric: str, cost_dataset: str | None = None
    ) -> "CostModel":
        """Cost model on the FBNet latency tables `table` (an FBNetTable): CIFAR-100, latency only."""
        if dataset != FBNET_DATASET:
            raise InputError(f"unknown dataset {dataset!r} for fbnet; valid datasets: {FBNET_DATASET}")
        if cost_dataset not in (None, FBNET_DATASET):
            raise InputError(f"unknown cost dataset {cost_dataset!r} for fbnet; valid: {FBNET_DATASET}")
        if metric not in FBNET_METRICS:
            raise InputError(
                f"unknown cost metric {metric!r} for fbnet (its tables hold latency only); "
                f"valid metrics: {_listing(FBNET_METRICS)}"
            )
        if device not in table.devices:
            raise InputError(f"unknown device {device!r} for fbnet latency; valid devices: {_listing(table.devices)}")
        model = cls("fbnet", dataset, device, metric, FBNET_DATASET, "ms")
        model._fbnet = table
        return model

    @classmethod
    def open(
        cls, space: str, tables_dir: Path | str, dataset: str, device: str, metric: str, cost_dataset: str | None = None
    ) -> "CostModel":
        """Open the space's table file under `tables_dir` (nb201.h5 / fbnet.h5) and build the cost model.

        The table is the process's shared, read-only one (`shared`): searches run one after another in one
        process read it once."""
        if space == "nb201":
            from hwevrsnas.tables.store import NB201Table

            return cls.nb201(NB201Table.shared(Path(tables_dir) / NB201_FILE), dataset, device, metric, cost_dataset)
        if space == "fbnet":
            from hwevrsnas.filememo import read_once
            from hwevrsnas.tables.fbnet import FBNetTable

            path = Path(tables_dir) / FBNET_FILE
            if not path.is_file():
                raise MissingFile(f"FBNet table not found at {path}; build it with `hwevrsnas tables build`")
            model = cls.fbnet(FBNetTable.shared(path), dataset, device, metric, cost_dataset)
            model._sources = dict(read_once(path, _h5_sources))
            return model
        raise InputError(f"unknown space {space!r}; valid spaces: {_listing(SPACES)}")

    @property
    def table(self) -> object:
        """The underlying NB201Table or FBNetTable."""
        return self._nb201 if self._nb201 is not None else self._fbnet

    def source_checksums(self) -> dict[str, str]:
        """Pinned checksums of the sources the cost table was built from (FBNet: when opened from a file)."""
        if self._nb201 is not None:
            return dict(self._nb201.source_checksums())
        return dict(self._sources)

    # ---- lookups -------------------------------------------------------------------------------------------
    @functools.cached_property
    def column(self) -> np.ndarray:
        """NB201 only: the whole cost column (NaN where missing), indexed by the official NB201 index."""
        if self._nb201 is None:
            raise TypeError("the FBNet space has no cost column (9^22 architectures)")
        return self._nb201.cost_column(self.column_name, self.cost_dataset)

    @property
    def column_name(self) -> str:
        """`<device>_<metric>`, the stored column's name."""
        return f"{self.device}_{self.metric}"

    def cost(self, ops: np.ndarray) -> np.ndarray:
        """Cost of architectures ops, (n, genes) -> (n,) or (genes,) -> () (NaN where missing)."""
        ops = np.asarray(ops)
        if self._nb201 is not None:
            from hwevrsnas.spaces.nb201 import validate

            return np.asarray(self.column[self._nb201.indices_of_ops(validate(ops))], dtype=np.float64)
        return np.asarray(self._fbnet.latency(self.device, ops), dtype=np.float64)

    def lookup(self, ops: np.ndarray) -> tuple[float, int | None]:
        """One architecture's `cost` as a float and, on NB201, its official index (what a search looks up for each
        candidate)."""
        if self._nb201 is not None:
            index = self._nb201.index_of_ops(ops)
            return float(self.column[index]), index
        return float(self.cost(ops)), None

    def imputed(self, ops: np.ndarray) -> np.ndarray:
        """Whether each architecture's cost was imputed from an isomorphic twin (NB201; FBNet costs never are)."""
        ops = np.asarray(ops)
        if self._nb201 is None:
            return np.zeros(ops.shape[:-1], dtype=bool)
        from hwevrsnas.spaces.nb201 import validate

        return np.asarray(self._nb201.imputed(self._nb201.indices_of_ops(validate(ops)), self.column_name, self.cost_dataset))

    @functools.cached_property
    def any_imputed(self) -> bool:
        """Whether the cost column holds imputed values (then quantile thresholds rest partly on them)."""
        if self._nb201 is None:
            return False
        return bool(np.any(self._nb201.imputed(slice(None), self.column_name, self.cost_dataset)))

    def feasible(self, ops: np.ndarray, threshold: float) -> np.ndarray:
        """cost <= threshold (a missing cost never is)."""
        return feasible(self.cost(ops), threshold)

    @functools.cached_property
    def min_cost(self) -> float:
        """The cheapest architecture's cost: the column minimum (NB201) or constant + per-layer minima (FBNet)."""
        if self._nb201 is not None:
            return float(np.nanmin(self.column))
        table, constant = self._fbnet.table(self.device)
        return float(constant + np.nanmin(table, axis=1).sum())

    @functools.cached_property
    def _reference_costs(self) -> np.ndarray:
        """The present costs a quantile is taken over (see the module docstring)."""
        if self._nb201 is not None:
            column = self.column
            return column[~np.isnan(column)]
        from hwevrsnas.spaces.fbnet import sample

        ops = sample(np.random.default_rng(FBNET_QUANTILE_SEED), FBNET_QUANTILE_SAMPLE)
        latency = self.cost(ops)
        return latency[~np.isnan(latency)]

    def quantile(self, q: float) -> float:
        """Cost at quantile q in [0, 1] of the reference costs."""
        q = float(q)
        if not (0.0 <= q <= 1.0):
            raise InputError(f"quantile must lie in [0, 1], got {q!r}")
        return float(np.quantile(self._reference_costs, q))

    def resolve_threshold(self, value: float | None = None, quantile: float | None = None) -> Threshold:
        """Exactly one of an absolute `value` or a `quantile`; checked to be positive and achievable."""
        if (value is None) == (quantile is None):
            raise InputError("give exactly one of a threshold value or a quantile")
        if value is not None:
            threshold = Threshold(float(value), "value")
        else:
            threshold = Threshold(self.quantile(quantile), "quantile", float(quantile))
        self.check_threshold(threshold.value)
        return threshold

    def check_threshold(self, value: float) -> float:
        """Reject a negative, zero, non-finite or unachievable threshold, naming the cheapest cost."""
        value = float(value)
        where = f"{self.space} {self.column_name} ({self.cost_dataset})"
        if not math.isfinite(value) or value <= 0:
            raise InputError(f"threshold must be a finite positive cost, got {value!r} for {where}")
        if value < self.min_cost:
            raise InputError(
                f"threshold {value!r} {self.unit} is below every architecture's cost for {where}: "
                f"the cheapest is {self.min_cost!r} {self.unit}"
            )
        return value

    def describe(self) -> dict[str, object]:
        """JSON-ready identity of the cost: space, datasets, device, metric, unit."""
        return {
            "space": self.space,
            "dataset": self.dataset,
            "cost_dataset": self.cost_dataset,
            "device": self.device,
            "metric": self.metric,
            "column": self.column_name,
            "unit": self.unit,
        }


__all__ = ["COST_METRICS", "FBNET_QUANTILE_SAMPLE", "FBNET_QUANTILE_SEED", "CostModel", "Threshold"]

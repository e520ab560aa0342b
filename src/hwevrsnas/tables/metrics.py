"""The hardware-cost metrics of the NB201 table: names, units, settings and where each comes from."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

DATASETS = ("cifar10", "cifar100", "ImageNet16-120")


@dataclass(frozen=True)
class MetricSpec:
    """One stored cost column: `<device>_<metric>` for one dataset setting."""

    device: str
    metric: str
    unit: str
    dataset: str
    source: str
    kind: str

    @property
    def name(self) -> str:
        """The column's name, HW-NAS-Bench style: device and metric joined by an underscore."""
        return f"{self.device}_{self.metric}"


HWNASBENCH_UNITS = {"latency": "ms", "energy": "mJ", "arithmetic_intensity": "ops/byte"}
HWNASBENCH_KIND = {
    "edgegpu": "measured",
    "raspi4": "measured",
    "edgetpu": "measured",
    "pixel3": "measured",
    "eyeriss": "simulated",
    "fpga": "simulated",
}
HWNASBENCH_METRICS = (
    ("edgegpu", "latency"),
    ("edgegpu", "energy"),
    ("raspi4", "latency"),
    ("edgetpu", "latency"),
    ("pixel3", "latency"),
    ("eyeriss", "latency"),
    ("eyeriss", "energy"),
    ("eyeriss", "arithmetic_intensity"),
    ("fpga", "latency"),
    ("fpga", "energy"),
)
# HELP holds these four HW-NAS-Bench CIFAR-10 latencies complete; the rest of HW-NAS-Bench only via alldata.csv.
HELP_HWNASBENCH_DEVICES = ("raspi4", "pixel3", "eyeriss", "fpga")
HELP_OTHER_DEVICES = (
    "1080ti_1", "1080ti_32", "1080ti_256",
    "2080ti_1", "2080ti_32", "2080ti_256",
    "titanx_1", "titanx_32", "titanx_256",
    "titanxp_1", "titanxp_32", "titanxp_256",
    "titan_rtx_1", "titan_rtx_32", "titan_rtx_256",
    "gold_6226", "gold_6240", "silver_4114", "silver_4210r",
    "samsung_a50", "samsung_s7", "pixel2", "essential_ph_1",
)  # fmt: skip
# HW-NAS-Bench-360 (CIFAR-100 task): Raspberry Pi 5 under three runtimes, and a Pixel under LiteRT.
HWNB360_DEVICES = (("pi5", "litert"), ("pi5", "onnx"), ("pi5", "torchmobile"), ("pixel", "litert"))

HWNASBENCH_SOURCE = "HW-NAS-Visualization/intermediateresults/alldata.csv"
HELP_LATENCY_DIR = "HELP/data/nasbench201/latency"
HWNB360_SOURCE = "HW-NAS-Bench-360/results/dataset.parquet"


def mirror_metric_specs() -> list[MetricSpec]:
    """Every cost column that the mirror's sources give, in storage order."""
    specs = []
    for device, metric in HWNASBENCH_METRICS:
        source = (
            f"{HELP_LATENCY_DIR}/{device}.pt"
            if metric == "latency" and device in HELP_HWNASBENCH_DEVICES
            else HWNASBENCH_SOURCE
        )
        specs.append(
            MetricSpec(device, metric, HWNASBENCH_UNITS[metric], "cifar10", source, HWNASBENCH_KIND[device])
        )
    for device in HELP_OTHER_DEVICES:
        specs.append(MetricSpec(device, "latency", "ms", "cifar10", f"{HELP_LATENCY_DIR}/{device}.pt", "measured"))
    for board, runtime in HWNB360_DEVICES:
        specs.append(MetricSpec(f"{board}_{runtime}", "latency", "ms", "cifar100", HWNB360_SOURCE, "measured"))
        if board == "pi5":  # the Pixel rows of HW-NAS-Bench-360 carry no energy
            specs.append(MetricSpec(f"{board}_{runtime}", "energy", "mJ", "cifar100", HWNB360_SOURCE, "measured"))
    return specs


# Cost columns added by plugins (docs/EXTENDING.md): spec -> loader(sources root) -> 15,625 values in NB201 index order.
EXTRA_COLUMNS: dict[MetricSpec, Callable[[Path], np.ndarray]] = {}


def register_cost_column(spec: MetricSpec, load: Callable[[Path], np.ndarray]) -> MetricSpec:
    """Add a device's cost column to the NB201 table (built into nb201.h5 by the next `hwevrsnas tables build`)."""
    if any(spec.name == other.name and spec.dataset == other.dataset for other in (*mirror_metric_specs(), *EXTRA_COLUMNS)):
        if EXTRA_COLUMNS.get(spec) is load:
            return spec
        raise ValueError(f"a cost column {spec.name!r} for {spec.dataset} already exists")
    EXTRA_COLUMNS[spec] = load
    return spec


def metric_specs() -> list[MetricSpec]:
    """Every cost column of the table: the mirror's, then those plugins registered."""
    return [*mirror_metric_specs(), *EXTRA_COLUMNS]

"""Analysis: run files -> tables, statistics and figures.

`DEFAULT_ENERGY` is defined here, free of pandas, so that the command line can show it as a default.
"""

# Assumptions of the energy and CO2 estimate: the search machine's average power draw (W, not
# measured) and the grid's carbon intensity (gCO2/kWh; 475: IEA 2019 world average).
DEFAULT_ENERGY = {"power_watts": 65.0, "grid_gco2_per_kwh": 475.0}


# The figures `analysis.report.aggregate` writes (the workflow declares the same files).
HISTORY_PLOT = "history"
FIDELITY_PLOT = "fidelity"
ANYTIME_PLOT = "anytime"
ANYTIME_TABLE = "anytime"
REACH_TABLE = "reach"
NINE_CONSTRAINTS_TABLE = "nine_constraints"
FRONTS_TABLE = "fronts"
REPLICATES_TABLE = "replicates"


def device_plot_stem(space: str, dataset: str, device: str, metric: str, cost_dataset: str | None = None) -> str:
    """The file stem of one slice's device plot: `device_<space>_<dataset>_<device>_<metric>[_cost-<dataset>]`."""
    stem = f"device_{space}_{dataset}_{device}_{metric}"
    return stem if cost_dataset in (None, dataset) else f"{stem}_cost-{cost_dataset}"


def front_plot_stem(space: str, dataset: str, device: str, metric: str, cost_dataset: str | None = None) -> str:
    """The file stem of one slice's front plot (exact and found Pareto fronts of its multi-threshold runs):
    `front_<space>_<dataset>_<device>_<metric>[_cost-<dataset>]`, written for NB201 slices with multi-threshold runs."""
    return "front_" + device_plot_stem(space, dataset, device, metric, cost_dataset).removeprefix("device_")

"""Analysis: run files -> tables, statistics and figures.

`DEFAULT_ENERGY` is defined here, free of pandas, so that the command line can show it as a default.
"""

# Assumptions of the energy and CO2 estimate: the search machine's average power draw (W, not
# measured) and the grid's carbon intensity (gCO2/kWh; 475: IEA 2019 world average).
DEFAULT_ENERGY = {"power_watts": 65.0, "grid_gco2_per_kwh": 475.0}

# Shared by every rule file: wildcard constraints and the prefix of shell commands.
# The grid itself (which leaves, which paths, which arguments) is hwevrsnas.workflow (imported as `pipeline`).
import glob
import os
import shlex
import sys

# Shell rules call `hwevrsnas`, the console script installed next to the Python running Snakemake
# (.venv/bin), which need not be on PATH when snakemake is started as .venv/bin/snakemake.
# (Snakemake's default prefix is "set -euo pipefail; ", kept.)
shell.prefix(f"set -euo pipefail; export PATH={shlex.quote(os.path.dirname(sys.executable))}:\"$PATH\"; ")


# The software of every rule: the package's conda environment, used with `--sdm conda` (`make install`
# builds the equivalent .venv, which the default job and CI use; without --sdm conda it is ignored).
CONDA_ENV = "../environment.yaml"


# Keep paths unambiguous: device names hold underscores (titan_rtx_32), methods hold dashes
# (rea-valid12), datasets hold neither underscores nor slashes (ImageNet16-120).
wildcard_constraints:
    **pipeline.WILDCARD_CONSTRAINTS,

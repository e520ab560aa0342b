# hwevrsnas: `make run` (the default job) and `make test` (the test suite); both install into .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The data mirror: ../shared/data when present, else whatever HWEVRSNAS_MIRROR already says.
HWEVRSNAS_MIRROR ?= $(if $(wildcard ../shared/data/MANIFEST.tsv),$(abspath ../shared/data),)
export HWEVRSNAS_MIRROR
SOURCES ?= resources/sources
TABLES ?= resources/tables
# The workflow: `make run CONFIG=config/presets/paper.yaml CORES=16`; extra snakemake options and targets in
# SNAKEFLAGS. `--configfile=FILE` (with "="): the option takes several files, so without "=" a target
# given in SNAKEFLAGS would be read as one more config file.
CORES ?= 2
CONFIG ?= config/config.yaml
SNAKEFLAGS ?=

.PHONY: install run dryrun report evidence kernels test test-fast test-slurm fetch tables bench clean

install: $(VENV)/.installed

# torch first and pinned: the CPU wheel on this machine; an unpinned torch pulls a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

fetch: install
	$(BIN)/hwevrsnas fetch --dest $(SOURCES)

tables: fetch
	$(BIN)/hwevrsnas tables build --sources $(SOURCES) --out $(TABLES)

# The workflow fetches the sources and builds the tables itself (rules fetch, tables).
run: install
	$(BIN)/snakemake --cores $(CORES) --configfile=$(CONFIG) $(SNAKEFLAGS)

# The plan only: every job and why it would run.
dryrun: install
	$(BIN)/snakemake --dry-run --cores $(CORES) --configfile=$(CONFIG) $(SNAKEFLAGS)

# A self-contained HTML report of the last run's tables and plots (run `make run` first).
report: install
	$(BIN)/snakemake --cores 1 --configfile=$(CONFIG) --report report.html $(SNAKEFLAGS)

# The generated pages of docs/ (rules/evidence.smk): the evidence grid's tables, fidelity and figures, the pages
# that read committed exports (docs/scores) where recomputing needs hours or a GPU, then the docs' generated regions.
evidence: install
	$(BIN)/snakemake --cores $(CORES) --configfile=config/presets/evidence.yaml evidence $(SNAKEFLAGS)

# This machine's kernel sensitivity, one record per preset and proxy in docs/kernels/ (make evidence tabulates every
# record): random classes scored with the default kernels, then with the next lower vector ISA forced. The float32
# zero-cost proxies and the `quick` presets take minutes, `paper` (20 classes) more than an hour on 2 cores. (Float64
# zero-cost proxies agree under both kernel sets; tests/test_kernels.py checks them.)
KERNEL_ZEROCOST ?= synflow naswot grad_norm snip meco zico az_expressivity az_progressivity az_trainability params flops
kernels: tables
	$(BIN)/hwevrsnas evidence kernels --preset quick --n 16 --out-dir docs/kernels
	$(BIN)/hwevrsnas evidence kernels --preset quick-float32 --n 16 --out-dir docs/kernels --proxy rsnas \
	  $(foreach zc,$(KERNEL_ZEROCOST),--proxy zc:$(zc))
	$(BIN)/hwevrsnas evidence kernels --preset paper --n 20 --out-dir docs/kernels

test: install
	$(BIN)/python -m pytest

# During development: everything but the tests marked slow (real training, the workflow end to end).
test-fast: install
	$(BIN)/python -m pytest -m "not slow"

# The tiny config through profiles/slurm and profiles/cluster-generic on a one-node SLURM cluster started
# here, against a local run (root; installs Debian's slurm-wlm and munge when missing; docs/CLUSTER.md).
test-slurm: install
	VENV=$(VENV) bash scripts/test_slurm.sh

bench: tables
	$(BIN)/python scripts/bench_tables.py --sources $(SOURCES)

clean:
	rm -rf resources results/* benchmarks/* .snakemake

# hwevrsnas: `make run` (the default job) and `make test` (the test suite); both install into .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The data mirror: ../shared/data when present, else whatever HWEVRSNAS_MIRROR already says.
HWEVRSNAS_MIRROR ?= $(if $(wildcard ../shared/data/MANIFEST.tsv),$(abspath ../shared/data),)
export HWEVRSNAS_MIRROR
SOURCES ?= resources/sources
TABLES ?= resources/tables

.PHONY: install run test fetch tables bench clean

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

run: tables
	$(BIN)/hwevrsnas tables info --tables $(TABLES)

test: install
	$(BIN)/python -m pytest

bench: tables
	$(BIN)/python scripts/bench_tables.py --sources $(SOURCES)

clean:
	rm -rf resources results/* benchmarks/* .snakemake

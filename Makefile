# Every target bootstraps .venv itself, so `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
export DAGSTER_HOME := $(CURDIR)/dagster_home

.PHONY: install demo test bench ui clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

demo: install
	$(BIN)/jushita-etl demo

test: install
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,bench]'
	$(BIN)/python bench/run.py

ui: install
	JUSHITA_DATA_DIR=$(CURDIR)/data $(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

clean:
	rm -rf data bench/work

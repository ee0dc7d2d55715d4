# Every target bootstraps .venv itself, so `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
export DAGSTER_HOME := $(CURDIR)/dagster_home

.PHONY: install browser postgres faketime demo test bench ui clean

NATIVE := jushita_etl/landing/_segment.so jushita_etl/mq/_landing_callback.so jushita_etl/mq/_client_mktime.so

install: $(STAMP) $(NATIVE)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

# The C helpers: the landing log's segment reader, the consumer's native landing callback and the producer's mktime
# fix (built on first use otherwise; without a C compiler segments are read and the consumer's callback runs in
# Python, and the producer runs unfixed).
$(NATIVE) &: jushita_etl/landing/segment.c jushita_etl/landing/crc32.h jushita_etl/mq/landing_callback.c jushita_etl/mq/client_mktime.c | $(STAMP)
	$(BIN)/python -m jushita_etl.native

demo: install
	$(BIN)/jushita-etl demo

# The UI test drives Debian's chromium through chromedriver; installed here when missing (needs root and apt).
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) || \
	  echo "note: chromium could not be installed; the browser test will be skipped"

# The PostgreSQL catalog test starts a throwaway server from Debian's postgresql; installed here when missing.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) || \
	  echo "note: postgresql could not be installed; the PostgreSQL catalog test will be skipped"

# The clock fault test runs landing hosts on a shifted clock with Debian's faketime; installed here when missing.
faketime:
	@command -v faketime >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq faketime >/dev/null) || \
	  echo "note: faketime could not be installed; the clock fault test will be skipped"

test: install browser postgres faketime
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,bench]'
	$(BIN)/python bench/run.py

ui: install
	$(BIN)/jushita-etl ui --data-dir $(CURDIR)/data --port 3000

clean:
	rm -rf data bench/work

# The two commands: `make reproduce` (everything from the committed snapshot)
# and `make test` (lint, unit tests, nbval re-execution of every notebook).
# Needs only Python 3.11+ and make; everything else installs from the lock.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NOTEBOOKS := $(sort $(wildcard notebooks/*.ipynb))

.PHONY: all env reproduce test lint unit nbval lab clean-derived lock help

help:
	@echo "make reproduce  - run the whole pipeline offline, execute notebooks, export figures"
	@echo "make test       - lint, unit tests and nbval re-execution of every notebook"
	@echo "make lab        - open JupyterLab on notebooks/ with the project's kernel"
	@echo "make lock       - re-resolve requirements.lock from pyproject.toml (needs network to PyPI)"

# The venv is (re)built from the pinned lock whenever the lock or pyproject changes.
$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (evidence)" >/dev/null
	touch $(STAMP)

env: $(STAMP)

reproduce: $(STAMP)
	$(BIN)/evidence fetch
	$(BIN)/evidence extract
	$(BIN)/evidence analyse
	$(BIN)/evidence grade
	$(BIN)/evidence figures
	$(BIN)/evidence report --execute --single

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

unit: $(STAMP)
	$(BIN)/pytest tests

nbval: $(STAMP)
	$(BIN)/pytest --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg -p no:randomly $(NOTEBOOKS)

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/pytest tests $(NOTEBOOKS) --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

lock:
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --no-header -o requirements.lock

clean-derived:
	rm -rf data/derived/* figures/* reports/*

# The two commands of the README's quick start: `make serve` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: serve test lint typecheck unit bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $@

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

## Install and run the main program (until the server lands: a recurrence preview).
serve: $(VENV)/.installed
	$(BIN)/jobclock preview --recurrence '{"frequency":"Month","schedule":{"hours":[17],"minutes":[30],"monthlyOccurrences":[{"day":"Friday","occurrence":-1}]}}' --count 5

## Install what the tests need and run them all: lint, format check, types, tests.
test: $(VENV)/.installed-test
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/pytest -q

bench: $(VENV)/.installed-test
	$(BIN)/python bench/recurrence.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis

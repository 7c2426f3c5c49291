# The two commands a user needs: `make demo` and `make test`. Both set themselves up.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Use a local wheel directory when the machine has one (it holds the CPU build of torch).
FIND_LINKS := $(if $(wildcard /opt/wheels),--find-links /opt/wheels,)

.PHONY: setup demo test lint bench clean

$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null || { echo "error: $(PY) not found; install Python 3.11 or run 'make PY=python3 ...'"; exit 1; }
	$(PY) -m venv $(VENV)
	# torch first: the exact CPU build, so the range in pyproject.toml installs nothing bigger.
	$(BIN)/pip install --quiet $(FIND_LINKS) torch==2.13.0
	$(BIN)/pip install --quiet $(FIND_LINKS) -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/physjepa demo --out runs/demo --data data/ball.h5

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python benchmarks/core.py

clean:
	rm -rf runs data .pytest_cache

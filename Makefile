# a3lab: `make demo` runs the main job, `make test` the test suite. Both set up .venv once.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TORCH_PINS := torch==2.14.1 torchvision==0.29.1
SHARED_DATA := $(abspath ../shared/data)

# Point the project at the read-only offline copy of the data sets when it exists.
ifneq ($(wildcard $(SHARED_DATA)/MNIST),)
export A3LAB_DATA ?= $(SHARED_DATA)
endif

.PHONY: install demo test lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH_PINS)
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/a3lab report --preset quick --out report

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

bench: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[bench]'
	$(BIN)/python benchmarks/rnn.py
	$(BIN)/python benchmarks/attention.py

clean:
	rm -rf $(VENV) report runs .pytest_cache

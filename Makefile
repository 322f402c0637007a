# The two commands: `make run` and `make test`. Both create .venv on their own.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_DEV := $(VENV)/.installed-dev
# npm tools the tests run (MCP servers, conformance suite, inspector, add-mcp), cached in tests/npm.
NPM_DIR := tests/npm
STAMP_NPM := $(NPM_DIR)/node_modules/.installed

.PHONY: run test lint typecheck pytest bench clean chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

# The example third-party source plugin is installed too: the tests prove the plugin seam with it.
EXAMPLE_PLUGIN := examples/plugins/executor-openrpc

$(STAMP_DEV): pyproject.toml $(EXAMPLE_PLUGIN)/pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet -e $(EXAMPLE_PLUGIN)
	touch $@ $(STAMP_RUN)

run: $(STAMP_RUN)
	$(BIN)/executor web --foreground

lint: $(STAMP_DEV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP_DEV)
	$(BIN)/mypy

$(STAMP_NPM): $(NPM_DIR)/package-lock.json
	npm ci --prefix $(NPM_DIR) --no-fund --no-audit --loglevel=error
	touch $@

# Browser tests use Debian's chromium through Playwright's executable_path.
chromium:
	@command -v chromium >/dev/null || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

pytest: $(STAMP_DEV) $(STAMP_NPM) chromium
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 $(BIN)/python -m pytest -q

test: lint typecheck pytest

bench: $(STAMP_DEV)
	$(BIN)/python bench/call_overhead.py
	$(BIN)/python bench/search.py
	$(BIN)/python bench/import_openapi.py
	$(BIN)/python bench/import_graphql.py
	$(BIN)/python bench/import_discovery.py
	$(BIN)/python bench/execute.py
	$(BIN)/python bench/mcp_overhead.py
	$(BIN)/python bench/throughput.py
	$(BIN)/python bench/refresh.py
	$(BIN)/python bench/cli_startup.py

clean:
	rm -rf $(VENV) $(NPM_DIR)/node_modules .pytest_cache .mypy_cache .ruff_cache

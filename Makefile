# The two commands of the README. Both create .venv and install the locked dependencies first.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: up test lint bench lock

$(BIN)/gmp-hub: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

up: $(BIN)/gmp-hub  ## start the whole hub on the embedded PostgreSQL and Kafka broker
	$(BIN)/gmp-hub up

test: $(BIN)/gmp-hub  ## run the whole test suite against real PostgreSQL and a real broker
	@command -v chromium >/dev/null || echo "chromium is missing: the portal's browser tests will be skipped (install it: apt-get install chromium)"
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(BIN)/gmp-hub  ## lint, format check and type check, as configured in pyproject.toml
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(BIN)/gmp-hub  ## the system benchmark (benchmarks/README.md); e.g. make bench BENCH_ARGS="--quick"
	$(BIN)/python -m benchmarks.system $(BENCH_ARGS)

# requirements.lock: everything a checkout installs (the project, its `dev` and `test` extras).
# requirements-runtime.lock: what the image installs, the run-time dependencies only, at the same
# versions (resolved in a throw-away venv constrained by requirements.lock).
lock:  ## re-pin both locks after changing dependencies in pyproject.toml
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev,test]'
	$(BIN)/pip freeze --exclude-editable > requirements.lock
	tmp=$$(mktemp -d) && $(PYTHON) -m venv $$tmp/venv \
	  && $$tmp/venv/bin/pip install --quiet --disable-pip-version-check -c requirements.lock -e . \
	  && $$tmp/venv/bin/pip freeze --exclude-editable > requirements-runtime.lock; \
	  status=$$?; rm -rf $$tmp; exit $$status

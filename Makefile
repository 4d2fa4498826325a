# The two commands of the README. Both create .venv and install the locked dependencies first.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: up test lock

$(BIN)/gmp-hub: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

up: $(BIN)/gmp-hub  ## start the whole hub on the embedded PostgreSQL and Kafka broker
	$(BIN)/gmp-hub up

test: $(BIN)/gmp-hub  ## run the whole test suite against real PostgreSQL and a real broker
	$(BIN)/pytest $(PYTEST_ARGS)

lock:  ## re-pin requirements.lock after changing dependencies in pyproject.toml
	$(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/pip freeze --exclude-editable > requirements.lock

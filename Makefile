# `make demo` and `make test` bootstrap their own virtualenv; only Python 3.11+ and make are needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint format clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/gancang demo $(ARGS)

test: $(STAMP)
	./scripts/ensure-services
	$(BIN)/pytest $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check dispatch couriers hospital_adapter tests bench
	$(BIN)/ruff format --check dispatch couriers hospital_adapter tests bench
	$(BIN)/mypy dispatch couriers hospital_adapter
	$(BIN)/check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml

format: $(STAMP)
	$(BIN)/ruff check --fix dispatch couriers hospital_adapter tests bench
	$(BIN)/ruff format dispatch couriers hospital_adapter tests bench

clean:
	rm -rf $(VENV) var build *.egg-info .mypy_cache .ruff_cache .pytest_cache

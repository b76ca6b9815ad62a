# Two commands on a fresh machine: `make demo` and `make test`. Both set up what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test check fmt bench clean

$(STAMP): pyproject.toml requirements.lock scripts/system-deps.sh
	scripts/system-deps.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	@$(BIN)/locker-agent demo $(DEMO_ARGS)

check: $(STAMP)
	$(BIN)/ruff check agent hardware hub_sync provisioning tests bench
	$(BIN)/ruff format --check agent hardware hub_sync provisioning tests bench
	$(BIN)/mypy

test: check
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

fmt: $(STAMP)
	$(BIN)/ruff format agent hardware hub_sync provisioning tests bench
	$(BIN)/ruff check --fix agent hardware hub_sync provisioning tests bench

bench: $(STAMP)
	$(BIN)/python bench/tokens.py
	$(BIN)/python bench/decode.py
	$(BIN)/python bench/scan_to_unlock.py
	$(BIN)/python bench/fleet.py
	$(BIN)/python bench/identity.py
	$(BIN)/python bench/evidence.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info

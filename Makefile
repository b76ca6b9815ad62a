# Two commands on a fresh machine: `make demo` and `make test`. Both set up what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test check fmt bench clean screenshots

$(STAMP): pyproject.toml requirements.lock scripts/system-deps.sh
	scripts/system-deps.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	@# the files pip just wrote sit in the page cache in large folios that the agent would map
	@# whole: drop them, so it starts as after a reboot (agent/cli/page_cache.py says why)
	$(BIN)/python -m agent.cli.page_cache $(VENV)
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	@$(BIN)/locker-agent demo $(DEMO_ARGS)

check: $(STAMP)
	$(BIN)/ruff check agent hardware hub_sync provisioning tests bench
	$(BIN)/ruff format --check agent hardware hub_sync provisioning tests bench
	$(BIN)/mypy

# axe-core for the screens' accessibility checks (tests/browser/test_axe.py), from the lock file
AXE := tests/browser/node_modules/axe-core/axe.min.js
$(AXE): tests/browser/package.json tests/browser/package-lock.json
	command -v npm >/dev/null || apt-get install -y -q npm
	npm ci --prefix tests/browser --no-audit --no-fund
	touch $(AXE)

# with a coverage report of the packages; the floor is `fail_under` in pyproject.toml. Two workers
# (pytest-xdist; `make test TEST_WORKERS=0` runs in one process), the longest tests first
TEST_WORKERS ?= 2
test: check $(AXE)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --cov --cov-report=term:skip-covered $(PYTEST_ARGS)

fmt: $(STAMP)
	$(BIN)/ruff format agent hardware hub_sync provisioning tests bench
	$(BIN)/ruff check --fix agent hardware hub_sync provisioning tests bench

# docs/screens/*.png, made by the browser tests (docs/screens.md shows them)
screenshots: $(STAMP)
	SCREENSHOTS_DIR=docs/screens $(BIN)/python -m pytest -q -p no:cacheprovider tests/browser/test_screenshots.py

bench: $(STAMP)
	$(BIN)/python bench/tokens.py
	$(BIN)/python bench/decode.py
	$(BIN)/python bench/scan_to_unlock.py
	$(BIN)/python bench/fleet.py
	$(BIN)/python bench/identity.py
	$(BIN)/python bench/evidence.py
	$(BIN)/python bench/evidence_week.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info

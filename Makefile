# make run   trains the default character model and prints generated text
# make test  installs the test extras and runs the whole suite
# make test-browser  installs Chromium (Debian's package) and renders rnnkit report in it
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: run test test-slow test-browser soak bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(PY) pyproject.toml requirements-lock.txt
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-lock.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

$(TEST_STAMP): $(STAMP) requirements-test.txt
	$(PY) -m pip install --quiet -r requirements-test.txt
	touch $@

run: $(STAMP)
	$(VENV)/bin/rnnkit train --minutes 3 --out runs/default --overwrite

test: $(TEST_STAMP)
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/ruff format --check src tests
	$(VENV)/bin/mypy
	$(PY) -m pytest -n 2 -q -m "not slow and not browser"

test-slow: $(TEST_STAMP)
	$(PY) -m pytest -q -m slow

test-browser: $(TEST_STAMP)
	command -v chromium >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)
	RNNKIT_REQUIRE_BROWSER=1 $(PY) -m pytest -q -m browser tests/browser

bench: $(STAMP)
	$(PY) -m pip install --quiet -r requirements-bench.txt
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(VENV)/bin/rnnkit bench

soak: $(STAMP)
	$(PY) -m rnnkit.bench.soak

clean:
	rm -rf $(VENV) runs

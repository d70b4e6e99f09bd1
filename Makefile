# Two commands: `make demo` runs the product with demo data, `make test` passes the tests.
# Both create .venv with uv (installed from PyPI into .tools/ when missing) from the committed uv.lock.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
export UV_PYTHON := $(PYTHON)
export UV_PYTHON_DOWNLOADS := never

.PHONY: install demo test lint format bench clean

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet "uv>=0.5"

install: $(UV)
	$(UV) sync --locked --quiet

demo: install
	.venv/bin/python manage.py run_demo

# Tests run in parallel (pytest-xdist): two processes for every core, at most 8 (a test waits on
# its live server, a subprocess or a browser part of the time: on this 2-core machine one process
# per core kept the cores busy 73 % of the run, three processes 89 to 92 % and four 96 %; the wall
# times are in the README); each has its own test database (pytest-django suffixes it per
# worker) and its own embedded-Redis database number (config/settings.py); the embedded servers
# themselves are shared. TEST_WORKERS=0 runs serially.
TEST_WORKERS ?= $(shell $(PYTHON) -c "import os; print(max(1, (os.cpu_count() or 1) * 2))")
test: install
	.venv/bin/python -m pytest -n $(TEST_WORKERS) --maxprocesses 8 --dist worksteal

lint: install
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

format: install
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .

bench: install
	.venv/bin/python -m pytest benchmarks -q -p no:warnings

clean:
	rm -rf .venv .tools staticfiles .pytest_cache

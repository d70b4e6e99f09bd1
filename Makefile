# Two commands: `make demo` runs the product with demo data, `make test` passes the tests.
# Both create .venv with uv (installed from PyPI into .tools/ when missing) from the committed uv.lock.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
export UV_PYTHON := $(PYTHON)
export UV_PYTHON_DOWNLOADS := never
# uv installs without compiling bytecode, and this machine sets PYTHONDONTWRITEBYTECODE, so every
# Python process (each test worker, Celery worker, gunicorn and manage.py the tests start, and the
# demo's) compiled Django and every library from source as it started: 2.2 s of CPU against 0.8 s.
# The installed packages are compiled once, at install.
export UV_COMPILE_BYTECODE := 1

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
# themselves are shared. TEST_WORKERS=0 runs serially. The run writes the bytecode of our own
# modules (and pytest's rewritten test modules) to __pycache__ (ignored by git) whatever
# PYTHONDONTWRITEBYTECODE says, so the processes a test starts later do not compile them again.
TEST_WORKERS ?= $(shell $(PYTHON) -c "import os; print(max(1, (os.cpu_count() or 1) * 2))")
test: install
	PYTHONDONTWRITEBYTECODE= .venv/bin/python -m pytest -n $(TEST_WORKERS) --maxprocesses 8 --dist worksteal

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

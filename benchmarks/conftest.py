"""`make bench`: each benchmark records a figure; the session prints a table and writes
`bench-results.json` at the repository root: a list of {"name", "value", "unit", "target"}."""

import json
import statistics
import time
from pathlib import Path

import pytest

from tests.conftest import (  # noqa: F401
    broker,
    make_tenant,
    platform_admin,
    sandbox_settings,
    tenant_a,
    tenant_b,
)

RESULTS: list[dict] = []


def pytest_configure(config):
    # Transactional benchmarks flush the database after each one: the flush must open the
    # append-only audit trail for its own transaction, as in the test suite (tests/flushing.py).
    from tests import flushing

    flushing.install()


ROOT = Path(__file__).resolve().parent.parent


def median_ms(fn, *, runs: int = 30, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


@pytest.fixture
def record():
    def add(name: str, value: float, unit: str, target: float | None):
        RESULTS.append({"name": name, "value": round(value, 3), "unit": unit, "target": target})
        if target is not None:
            assert value <= target, f"{name} = {value:.2f} {unit}, over its target {target}"

    return add


def pytest_sessionfinish(session, exitstatus):
    if not RESULTS:
        return
    (ROOT / "bench-results.json").write_text(json.dumps(RESULTS, indent=2) + "\n")
    lines = ["", f"{'benchmark':<40} {'value':>10} {'unit':<6} {'target':>8}", "-" * 68]
    for row in RESULTS:
        target = "" if row["target"] is None else f"≤ {row['target']}"
        lines.append(f"{row['name']:<40} {row['value']:>10.2f} {row['unit']:<6} {target:>8}")
    session.config.get_terminal_writer().write(
        "\n".join(lines) + "\n\nwritten to bench-results.json\n"
    )


def serve_gunicorn(settings, *, worker_args: list[str], extra_env: dict | None = None, log=None):
    """Starts the product's gunicorn (config/gunicorn.conf.py) on a free loopback port over the
    test database; returns (process, url) once it answers. `log`: an open file for its output."""
    import os
    import socket
    import subprocess
    import sys
    import urllib.request

    db = settings.DATABASES["default"]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@/{db['NAME']}?host={db['HOST']}",
        "REDIS_URL": settings.REDIS_URL,
        "CREDENTIALS_KEYS": ",".join(settings.CREDENTIALS_KEYS),
        "SANDBOX_MAGIC_DELAY_S": "0",
        "LOG_LEVEL": "WARNING",
        **(extra_env or {}),
    }
    gunicorn = Path(sys.executable).parent / "gunicorn"
    process = subprocess.Popen(
        [
            str(gunicorn),
            "--config",
            str(ROOT / "config" / "gunicorn.conf.py"),
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            *worker_args,
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT if log else None,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url + "/accounts/login/", timeout=1)
            return process, url
        except Exception:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError("gunicorn did not start") from None
            time.sleep(0.2)


def stop(process, timeout: float = 15) -> None:
    import subprocess

    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)


@pytest.fixture
def gunicorn_url(transactional_db, settings):
    """The product's production web server (gunicorn, gthread) on the test database, so figures are
    not the test harness's single-threaded live server. Rows the benchmark commits are visible to it."""
    process, url = serve_gunicorn(
        settings, worker_args=["--workers", "2", "--worker-class", "gthread", "--threads", "8"]
    )
    settings.SANDBOX_BASE_URL = url
    yield url
    stop(process)

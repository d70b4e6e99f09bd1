"""`manage.py run_demo` (what `make demo` runs after installing) on its own data directory: it
migrates, loads the demo, serves the login page, answers /healthz with a worker, and after Ctrl-C
leaves no process of its own running, the embedded PostgreSQL and Redis included."""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil

from config.embedded import redis_port

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ours(data_dir: str) -> list[psutil.Process]:
    # Redis rewrites its process title (and with it its environment): it is found by its port.
    redis_address = f"127.0.0.1:{redis_port(Path(data_dir))}"
    found = []
    for proc in psutil.process_iter(["cmdline", "environ", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            cmdline = " ".join(proc.info["cmdline"] or [])
            environ = proc.info["environ"] or {}
            if (
                data_dir in cmdline
                or redis_address in cmdline
                or environ.get("DASHBOARD_DATA_DIR") == data_dir
            ):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def test_run_demo_serves_reports_a_worker_and_stops_everything_on_ctrl_c(tmp_path):
    data_dir = str(tmp_path / "data")
    port = _free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_ALLOW_ASYNC_UNSAFE")
    }
    env.update(DASHBOARD_DATA_DIR=data_dir, PORT=str(port), SANDBOX_MAGIC_DELAY_S="0")
    demo = subprocess.Popen(
        [sys.executable, "manage.py", "run_demo"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    health = None
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and demo.poll() is None:
            with contextlib.suppress(OSError, ValueError):  # not answering yet
                with urllib.request.urlopen(url + "/healthz", timeout=3) as response:
                    health = json.load(response), response.status
                    if health[0]["workers"] >= 1:
                        break
            time.sleep(0.5)
        assert health and health[1] == 200 and health[0]["workers"] >= 1, health
        with urllib.request.urlopen(url + "/accounts/login/", timeout=30) as response:
            assert response.status == 200 and b"Log in" in response.read()
        names = " ".join(" ".join(p.cmdline()) for p in _ours(data_dir))
        for expected in ("postgres", "redis-server", "gunicorn", "celery", "beat"):
            assert expected in names, f"{expected} is not among the demo's processes"
    finally:
        os.killpg(demo.pid, signal.SIGINT)
        output, _ = demo.communicate(timeout=60)
    assert "admin@demo.test" in output and "demo-password-2026" in output
    assert "Demo stopped; no process left running." in output
    deadline = time.monotonic() + 10
    while _ours(data_dir) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _ours(data_dir) == []

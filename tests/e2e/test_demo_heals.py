"""The demo heals itself: `manage.py run_demo` on its own data directory starts the embedded
PostgreSQL again after its postmaster is killed, and the Celery worker after it is killed; each time
/healthz turns 200 again and the supervisor says what it did. Its output, the web server's access
log included, holds none of the demo's provider secrets."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import psutil

from home.demo_data import DEMO_PROVIDER_ACCOUNTS
from tests.e2e.test_make_demo import ROOT, _free_port, _ours

# Every secret of every demo provider account (keys, tokens, webhook secrets, Klearly's partner id).
DEMO_SECRETS = sorted(
    value
    for *_, secrets, _settings, _devices in DEMO_PROVIDER_ACCOUNTS
    for value in secrets.values()
)


def _health(url: str):
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=3) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)
    except (OSError, ValueError):
        return None, None


def _wait_for(what: str, check, *, seconds: float, output) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(f"{what} did not happen in {seconds} s; output:\n{output.read_text()}")


def _healthy(url: str) -> bool:
    status, body = _health(url)
    return status == 200 and body["workers"] >= 1


def test_the_demo_restarts_a_killed_postgres_and_a_killed_worker(tmp_path):
    data_dir = str(tmp_path / "data")
    port = _free_port()
    output = tmp_path / "demo.log"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_ALLOW_ASYNC_UNSAFE")
    }
    env.update(
        DASHBOARD_DATA_DIR=data_dir,
        PORT=str(port),
        SANDBOX_MAGIC_DELAY_S="0",
        PYTHONUNBUFFERED="1",
    )
    with output.open("w") as out:
        demo = subprocess.Popen(
            [sys.executable, "manage.py", "run_demo"],
            cwd=ROOT,
            env=env,
            start_new_session=True,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        # Deadlines are generous: the whole suite runs beside this test on two cores, and restarting
        # PostgreSQL then takes far longer than the ~10 s it takes alone.
        _wait_for("the demo answering healthy", lambda: _healthy(url), seconds=180, output=output)

        # PostgreSQL: kill its postmaster as a crash would.
        pid_file = tmp_path / "data" / "pg" / "postmaster.pid"
        postmaster = psutil.Process(int(pid_file.read_text().split()[0]))
        postmaster.kill()
        postmaster.wait(timeout=10)
        _wait_for(
            "the supervisor restarting PostgreSQL",
            lambda: "PostgreSQL is running again." in output.read_text(),
            seconds=240,
            output=output,
        )
        assert "PostgreSQL stopped; restarting it." in output.read_text()
        assert int(pid_file.read_text().split()[0]) != postmaster.pid
        _wait_for(
            "/healthz 200 after PostgreSQL", lambda: _healthy(url), seconds=120, output=output
        )

        # The worker: kill the Celery worker process.
        worker = next(
            p
            for p in psutil.Process(demo.pid).children()
            if "worker" in p.cmdline() and any("celery" in part for part in p.cmdline())
        )
        worker.kill()
        _wait_for(
            "the supervisor restarting the worker",
            lambda: (
                "worker exited with -9; restarting it." in output.read_text()
                and "worker restarted." in output.read_text()
            ),
            seconds=90,
            output=output,
        )
        _wait_for(
            "/healthz 200 after the worker", lambda: _healthy(url), seconds=120, output=output
        )
        assert demo.poll() is None, output.read_text()

        # The demo's terminal syncs reached the sandbox through the web server by now.
        _wait_for(
            "a sandbox wire call in the access log",
            lambda: "/sandbox/" in output.read_text(),
            seconds=60,
            output=output,
        )
    finally:
        os.killpg(demo.pid, signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            demo.wait(timeout=60)
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
    text = output.read_text()
    assert "Demo stopped; no process left running." in text
    leaked = [secret for secret in DEMO_SECRETS if secret in text]
    assert leaked == [], leaked
    deadline = time.monotonic() + 10
    while _ours(data_dir) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _ours(data_dir) == []

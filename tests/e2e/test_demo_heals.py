"""The demo end to end, on its own data directory, started once for cost: `manage.py run_demo`
(what `make demo` runs after installing) migrates, loads the demo, prints how to log in, serves the
login page, answers /healthz with a worker, and runs its PostgreSQL, Redis, gunicorn, Celery worker
and beat. It starts the embedded PostgreSQL again after its postmaster is killed, and the Celery
worker after it is killed; each time /healthz turns 200 again and the supervisor says what it did.
After Ctrl-C no process of its own is left running, the embedded PostgreSQL and Redis included.

The same demo makes every kind of provider call: a person's "Sync now", a probe of every terminal
and "Verify now" on every provider account over HTTP, and an operator's `manage.py provider_check`
for each provider (auth, terminals, sale, abort, refund). No process prints a secret of the demo
data: neither the supervisor, web (its access log included), worker and beat, whose output is the
demo's, nor provider_check, nor the embedded servers' log files."""

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import httpx
import psutil

from home.demo_data import DEMO_PASSWORD, DEMO_PROVIDER_ACCOUNTS
from providers.http import tls_context
from providers.registry import PROVIDER_CLASSES
from tests.e2e.demo import ROOT, free_port, ours
from tests.second_factor import enrol_over_http

# Every secret of every demo provider account (keys, tokens, webhook secrets, Klearly's partner id).
DEMO_SECRETS = sorted(
    value
    for *_, secrets, _settings, _devices in DEMO_PROVIDER_ACCOUNTS
    for value in secrets.values()
)


def _printed(secret: str, text: str) -> bool:
    """Whether `secret` is in `text`; a numeric one (USAePay's PIN) only as a number of its own, not
    as six digits inside a timing or an id that happen to match."""
    if secret.isdigit():
        return re.search(rf"(?<!\d){secret}(?!\d)", text) is not None
    return secret in text


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


def _login(client: httpx.Client, email: str) -> dict:
    """Log in through the login form; returns the CSRF field for the following POSTs."""
    client.get("/accounts/login/")
    response = client.post(
        "/accounts/login/",
        data={
            "username": email,
            "password": DEMO_PASSWORD,
            "csrfmiddlewaretoken": client.cookies["csrftoken"],
        },
    )
    assert response.status_code == 302, response.text[:2000]
    return {"csrfmiddlewaretoken": client.cookies["csrftoken"]}


def _a_person_presses_every_provider_button(url: str, *, output: Path) -> None:
    """As the platform admin (who sees everything): Sync now, followed to its end; Probe now on
    every terminal; Verify now on every provider account. Each answers in plain words."""
    with httpx.Client(base_url=url, timeout=120, verify=tls_context()) as client:
        csrf = _login(client, "admin@demo.test")
        enrol_over_http(client)  # the credentials pages ask a platform admin for a second factor

        sync = client.post("/terminals/sync/", data=csrf)
        assert sync.status_code == 302, sync.text[:2000]
        progress = sync.headers["location"]
        _wait_for(
            "Sync now finishing",
            lambda: 'data-testid="sync-outcome"' in client.get(progress).text,
            seconds=180,
            output=output,
        )

        terminals = sorted(
            set(re.findall(r'href="/terminals/(\d+)/"', client.get("/terminals/").text))
        )
        assert len(terminals) >= len(PROVIDER_CLASSES), terminals
        for pk in terminals:
            page = client.post(f"/terminals/{pk}/probe/", data=csrf, follow_redirects=True)
            assert page.status_code == 200 and " answered: " in page.text, (pk, page.text[:3000])

        accounts = sorted(
            set(re.findall(r'href="/credentials/(\d+)/"', client.get("/credentials/").text))
        )
        assert len(accounts) == len(DEMO_PROVIDER_ACCOUNTS), accounts
        for pk in accounts:
            page = client.post(f"/credentials/{pk}/verify/", data=csrf, follow_redirects=True)
            assert page.status_code == 200 and "accepted the credentials" in page.text, (
                pk,
                page.text[:3000],
            )


def _provider_check_every_provider(env: dict) -> str:
    """`manage.py provider_check` for each provider against the running demo (its embedded servers,
    its sandbox), all at once; returns their output, each asserted to have passed."""
    checks = {
        provider: subprocess.Popen(
            [sys.executable, "manage.py", "provider_check", provider],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for provider in PROVIDER_CLASSES
    }
    outputs = {provider: check.communicate(timeout=600)[0] for provider, check in checks.items()}
    failed = {p: out for p, out in outputs.items() if checks[p].returncode != 0}
    assert failed == {}, failed
    assert all("All steps passed." in out for out in outputs.values()), outputs
    return "\n".join(outputs.values())


def _embedded_server_logs(data_dir: Path) -> str:
    """What the embedded PostgreSQL and Redis wrote to their log files."""
    files = [data_dir / "redis" / "redis.log", *sorted((data_dir / "pg" / "log").glob("*"))]
    return "\n".join(f.read_text(errors="replace") for f in files if f.is_file())


def test_the_demo_serves_heals_a_killed_postgres_and_worker_and_stops_everything_on_ctrl_c(
    tmp_path,
):
    data_dir = str(tmp_path / "data")
    port = free_port()
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
        with urllib.request.urlopen(url + "/accounts/login/", timeout=30) as response:
            assert response.status == 200 and b"Log in" in response.read()
        names = " ".join(" ".join(p.cmdline()) for p in ours(data_dir))
        for expected in ("postgres", "redis-server", "gunicorn", "celery", "beat"):
            assert expected in names, f"{expected} is not among the demo's processes"
        # How to log in, printed for the person who ran it once the demo terminals are in stores.
        _wait_for(
            "the demo printing how to log in",
            lambda: "Press Ctrl-C to stop everything." in output.read_text(),
            seconds=90,
            output=output,
        )
        assert "admin@demo.test" in output.read_text()
        assert DEMO_PASSWORD in output.read_text()

        # Every kind of provider call, by a person and by an operator (before the kills: a sync the
        # killed worker was reading stays "fetching" until beat fails it ten minutes later).
        try:
            _a_person_presses_every_provider_button(url, output=output)
        except httpx.HTTPError as error:
            raise AssertionError(f"{error!r}; output:\n{output.read_text()}") from error
        check_output = _provider_check_every_provider(env)

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
    # The wire calls of the presses and the checks went through the web server's access log.
    for wire in ("/sandbox/usaepay/", "/sandbox/payroc/", "/sandbox/komoju/"):
        assert wire in text, wire
    for name, printed in (
        ("the demo (supervisor, web, worker, beat)", text),
        ("provider_check", check_output),
        ("the embedded servers' logs", _embedded_server_logs(tmp_path / "data")),
    ):
        leaked = [secret for secret in DEMO_SECRETS if _printed(secret, printed)]
        assert leaked == [], f"{name} printed {leaked}"
    deadline = time.monotonic() + 10
    while ours(data_dir) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert ours(data_dir) == []

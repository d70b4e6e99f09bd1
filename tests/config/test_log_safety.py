"""No secret and no forged line in any log: gunicorn's access log writes neither the Basic-auth user
nor the query string, every handler escapes control characters, and a 403 is one line."""

import base64
import contextlib
import io
import logging
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.urls import reverse

from dashboard.models import Role

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "config" / "gunicorn.conf.py"
SECRET_USER = "usaepay-api-key-3f9e1b"
SECRET_QUERY = "integra-access-token-7c2d"


@contextlib.contextmanager
def console_output():
    """What the configured `console` handler of LOGGING writes while the block runs."""
    handlers = [h for h in logging.getLogger().handlers if h.get_name() == "console"]
    assert handlers, "LOGGING's console handler is not on the root logger"
    buffer = io.StringIO()
    previous = [h.setStream(buffer) for h in handlers]
    try:
        yield buffer
    finally:
        for handler, stream in zip(handlers, previous, strict=True):
            handler.setStream(stream)


def test_a_message_carrying_a_newline_cr_or_nul_is_written_as_one_escaped_line():
    with console_output() as out:
        logging.getLogger("tests.probe").warning(
            "header %s", "Mozilla\r\n2026-12-01 INFO django FORGED login ok\x00\x1b[31m\x85"
        )
    lines = out.getvalue().splitlines()
    assert len(lines) == 1, lines
    assert "\\r\\n2026-12-01 INFO django FORGED login ok\\x00\\x1b[31m\\x85" in lines[0]
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f]", out.getvalue())


def test_every_handler_in_logging_escapes_control_characters():
    from django.conf import settings

    for name, handler in settings.LOGGING["handlers"].items():
        assert "escape_controls" in handler.get("filters", []), name
        assert "client_errors_one_line" in handler.get("filters", []), name


@pytest.mark.django_db
def test_a_403_is_logged_as_one_line_without_a_traceback(client, tenant_a):
    client.force_login(tenant_a.users[Role.CASHIER])
    with console_output() as out:
        assert client.get(reverse("dashboard:reseller_create")).status_code == 403
    text = out.getvalue()
    assert "Forbidden (Permission denied): /resellers/new/" in text
    assert "Traceback" not in text
    assert len(text.splitlines()) == 1, text


def test_every_starter_of_gunicorn_uses_the_shared_config():
    starters = [
        path
        for path in ROOT.glob("**/*.py")
        if ".venv" not in path.parts
        and "tests" not in path.parts
        # The gunicorn executable's path being built: `join(bin_dir, "gunicorn")`, `… / "gunicorn"`,
        # or a command line's "/gunicorn" (a mere mention of the word is not a starter).
        and re.search(
            r"(join\([^)]*,\s*|/\s*)[\"']gunicorn[\"']|[\"'][^\"']*/gunicorn[\"' ]",
            path.read_text(),
        )
    ]
    assert {p.relative_to(ROOT).as_posix() for p in starters} >= {
        "home/management/commands/run_demo.py",
        "benchmarks/conftest.py",
    }
    for path in starters:
        assert "gunicorn.conf.py" in path.read_text(), f"{path} starts gunicorn without -c"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_gunicorns_access_log_names_neither_the_basic_auth_user_nor_the_query(tmp_path, settings):
    db = settings.DATABASES["default"]
    port = _free_port()
    log = tmp_path / "gunicorn.log"
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@/{db['NAME']}?host={db['HOST']}",
        "REDIS_URL": settings.REDIS_URL,
    }
    with log.open("w") as out:
        web = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "--config",
                str(CONF),
                "config.wsgi",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "1",
                "--access-logfile",
                "-",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    auth = base64.b64encode(f"{SECRET_USER}:pin-1234".encode()).decode()
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                request = urllib.request.Request(
                    f"{url}/accounts/login/?access_token={SECRET_QUERY}",
                    headers={"Authorization": f"Basic {auth}"},
                )
                urllib.request.urlopen(request, timeout=2).close()
                break
            except (OSError, urllib.error.URLError):
                assert web.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        with contextlib.suppress(urllib.error.HTTPError):
            urllib.request.urlopen(f"{url}/nowhere%0a127.0.0.1%20FORGED%00line", timeout=5)
        deadline = time.monotonic() + 10
        while "/nowhere" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        web.terminate()
        web.wait(timeout=15)
    text = log.read_text()
    assert '"GET /accounts/login/ HTTP/1.1" 200' in text, text
    assert SECRET_USER not in text and SECRET_QUERY not in text, text
    assert not any(line.startswith("127.0.0.1 FORGED") for line in text.splitlines()), text
    assert "/nowhere\\n127.0.0.1 FORGED\\x00line" in text, text


def test_celerys_own_handlers_escape_control_characters_too():
    """Celery replaces the root logger's handlers in a worker; its signal hands them the filters."""
    from celery import signals

    import config.celery  # noqa: F401  (connects the signal handlers)

    buffer = io.StringIO()
    logger = logging.getLogger("tests.celery_probe")
    handler = logging.StreamHandler(buffer)
    logger.addHandler(handler)
    logger.propagate = False
    try:
        signals.after_setup_logger.send(sender=None, logger=logger, loglevel=logging.INFO)
        logger.warning("task %s", "sync\n[2026-12-01 12:00:00: INFO] FORGED\x00")
    finally:
        logger.removeHandler(handler)
    assert buffer.getvalue().splitlines() == ["task sync\\n[2026-12-01 12:00:00: INFO] FORGED\\x00"]


def test_a_structlog_event_keeps_its_shape_and_its_text_is_escaped():
    import logging

    from config.logsafety import EscapeControlCharacters

    record = logging.LogRecord(
        "payments", logging.INFO, __file__, 1, {"event": "a\nb", "n": 1}, None, None
    )
    assert EscapeControlCharacters().filter(record)
    assert record.msg == {"event": "a\\nb", "n": 1}

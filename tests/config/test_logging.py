"""Log lines through structlog: readable key-value lines in development, one JSON object a line in
production, each carrying the request id; secrets stay redacted in both."""

import io
import json
import logging
import subprocess
import sys

import httpx
import pytest
import structlog
from django.conf import settings

from config import logs
from providers.http import make_client
from tests.dashboard.test_accounts import ROOT, _production_env


def _handler(spec: dict) -> tuple[logging.Handler, io.StringIO]:
    spec = dict(spec)
    factory = spec.pop("()")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(factory(**spec))
    return handler, stream


@pytest.fixture
def rendered():
    """`rendered("text")` / `rendered("json")`: the lines the development formatter (as configured in
    settings.LOGGING) and the production one wrote since the test began."""
    outputs = {}
    root = logging.getLogger()
    specs = {"text": settings.LOGGING["formatters"]["plain"], "json": logs.formatter(json=True)}
    for kind, spec in specs.items():
        handler, stream = _handler(spec)
        root.addHandler(handler)
        outputs[kind] = (handler, stream)
    yield lambda kind: outputs[kind][1].getvalue().splitlines()
    for handler, _ in outputs.values():
        root.removeHandler(handler)


@pytest.mark.django_db
def test_every_line_logged_for_a_request_carries_the_id_the_response_names(client, rendered):
    response = client.get("/no-such-page/")

    request_id = response["X-Request-ID"]
    assert len(request_id) == 32
    (line,) = [line for line in rendered("text") if "Not Found: /no-such-page/" in line]
    assert f"request_id={request_id}" in line and "status_code=404" in line
    assert "warning" in line and "django.request" in line
    (record,) = [json.loads(line) for line in rendered("json") if "no-such-page" in line]
    assert record["request_id"] == request_id
    assert (record["level"], record["logger"], record["status_code"]) == (
        "warning",
        "django.request",
        404,
    )


@pytest.mark.django_db
def test_each_request_gets_its_own_id(client):
    first = client.get("/no-such-page/")["X-Request-ID"]
    second = client.get("/no-such-page/")["X-Request-ID"]
    assert first != second


@pytest.mark.django_db
def test_a_proxys_request_id_is_kept_and_a_forged_one_replaced(client, rendered):
    kept = client.get("/no-such-page/", headers={"X-Request-ID": "edge-7f3a.01_b"})
    assert kept["X-Request-ID"] == "edge-7f3a.01_b"

    for forged in ("abc\nFAKE level=error", "x" * 65, "a b", ""):
        response = client.get("/no-such-page/", headers={"X-Request-ID": forged})
        assert response["X-Request-ID"] != forged and len(response["X-Request-ID"]) == 32
    assert not [line for line in rendered("text") if "FAKE" in line]


def test_a_provider_call_is_logged_with_its_figures_and_without_its_secrets(caplog, rendered):
    caplog.set_level(logging.DEBUG, logger="providers.http")
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={}))
    with make_client("https://integra.example.test", transport=transport, label="mobilepay") as c:
        c.get(
            "/v1/pos",
            params={"bioCode": "bio-5521-secret", "page": "2"},
            headers={"Authorization": "Bearer token-8e3f-secret"},
        )

    text, objects = rendered("text"), [json.loads(line) for line in rendered("json")]
    assert len(text) == len(objects) == 2  # the exchange, then its (redacted) headers
    for line in text + rendered("json"):
        assert "bio-5521-secret" not in line and "token-8e3f-secret" not in line
    exchange = objects[0]
    assert exchange["provider"] == "mobilepay" and exchange["http_status"] == 200
    assert exchange["http_url"] == "https://integra.example.test/v1/pos?bioCode=[redacted]&page=2"
    assert "[redacted]" in objects[1]["event"]


def test_an_unvetted_extra_field_never_reaches_a_line(rendered):
    logging.getLogger("tests").warning("saved", extra={"secrets": {"api_key": "k-7d1e-secret"}})
    assert [line for line in rendered("json") if '"saved"' in line]
    assert not [line for line in rendered("text") + rendered("json") if "k-7d1e-secret" in line]


def test_structlog_loggers_share_the_handlers_and_the_bound_context(rendered):
    structlog.contextvars.bind_contextvars(payment_id="pay-123")
    try:
        # A logger of its own, at INFO: a test Celery worker earlier in the session may have set the
        # root logger to WARNING, which this logger would otherwise inherit.
        logging.getLogger("tests.structlog_probe").setLevel(logging.INFO)
        structlog.get_logger("tests.structlog_probe").info("payment approved", amount_minor=1001)
    finally:
        structlog.contextvars.unbind_contextvars("payment_id")
    (record,) = [json.loads(line) for line in rendered("json") if "payment approved" in line]
    assert record["payment_id"] == "pay-123" and record["amount_minor"] == 1001
    assert (record["level"], record["logger"]) == ("info", "tests.structlog_probe")


PRODUCTION_LINES = """
import logging
import django
import structlog
django.setup()
structlog.contextvars.bind_contextvars(request_id="req-42")
log = logging.getLogger("payments")
log.warning("card %s declined", "visa")
try:
    1 / 0
except ZeroDivisionError:
    log.exception("sync failed")
"""


def test_production_writes_one_json_object_a_line_with_the_request_id():
    result = subprocess.run(
        [sys.executable, "-c", PRODUCTION_LINES],
        cwd=ROOT,
        env=_production_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines()]  # every line is JSON
    declined, failed = [line for line in lines if line["logger"] == "payments"]
    assert declined["event"] == "card visa declined"
    assert (declined["level"], declined["logger"], declined["request_id"]) == (
        "warning",
        "payments",
        "req-42",
    )
    assert declined["timestamp"].endswith("Z")
    assert failed["event"] == "sync failed" and "ZeroDivisionError" in failed["exception"]

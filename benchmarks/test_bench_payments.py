"""The money screens and the webhook door, against the product's gunicorn (gthread, the emulators
served by the same server):

* `payments.start_ms`: a cashier's Charge, from the form's POST to the payment's page rendered (the
  redirect followed): the row, its idempotency key and the queued start are committed in it; the
  provider call itself runs in a worker afterwards (here none runs: the figure is the page's).
* `status_partial.ms` / `status_partial.queries`: one poll of the live status card (HTMX, X-Poll),
  as the page makes every second while a payment is open.
* `webhook.accept_ms`: a signed KOMOJU webhook's answer (checked, stored once, a tracker read
  queued); p95 of distinct events.

The tracking figures (1,000 open payments, calls per payment, a key's request rate) are in
benchmarks/test_bench_tracking.py."""

from __future__ import annotations

import json
import re
import statistics
import time
import uuid
from html import unescape

import httpx
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from benchmarks.conftest import median_ms
from dashboard.models import Role
from payments.models import Payment, PaymentStatus
from sandbox.emulators import EMULATORS
from sandbox.webhooks import sign
from terminals.models import Terminal, TerminalStatus
from tests.payments.engine_support import Desk

pytestmark = pytest.mark.django_db(transaction=True)

BACKEND = "dashboard.backends.PasswordBackend"
INPUT = re.compile(r"<input\b[^>]*>")
ATTR = re.compile(r'(\w+)="([^"]*)"')


def log_in(url: str, user) -> httpx.Client:
    """An httpx client of gunicorn with `user`'s session (made by the test client: the test
    database's password hasher is not the server's), and the backend a form login stores."""
    from django.test import Client

    session = Client()
    session.force_login(user, backend=BACKEND)
    client = httpx.Client(base_url=url, timeout=30)
    client.cookies.set("sessionid", session.cookies["sessionid"].value)
    return client


def form_fields(html: str) -> dict[str, str]:
    """The charge form's inputs as the browser would post them (token, reference, kind, …)."""
    fields = {}
    for tag in INPUT.findall(html):
        attrs = dict(ATTR.findall(tag))
        name = attrs.get("name")
        if not name or (attrs.get("type") in ("radio", "checkbox") and "checked" not in tag):
            continue
        fields[name] = unescape(attrs.get("value", ""))
    return fields


def terminals(desk: Desk, count: int) -> list[Terminal]:
    """`count` more free terminals of the desk's account (a terminal takes one payment at a time;
    no provider is called here, so they need no emulated device)."""
    from django.utils import timezone

    return Terminal.objects.bulk_create(
        Terminal(
            account=desk.account,
            merchant_id=desk.account.merchant_id,
            provider=desk.provider,
            store=desk.tenant.store,
            provider_ref=f"bench-{uuid.uuid4().hex[:12]}",
            name=f"Bench lane {n}",
            status=TerminalStatus.ONLINE,
            status_checked_at=timezone.now(),
        )
        for n in range(count)
    )


def test_a_cashier_charges_and_lands_on_the_payment_page(
    gunicorn_url, tenant_a, sandbox_settings, broker, record
):
    desk = Desk("usaepay", tenant_a)
    lanes = terminals(desk, 28)
    cashier = log_in(gunicorn_url, tenant_a.users[Role.CASHIER])
    samples = []
    for lane in lanes:
        page = cashier.get("/payments/new/", params={"terminal": lane.pk})
        assert page.status_code == 200, page.text[:500]
        data = {**form_fields(page.text), "terminal": str(lane.pk), "amount": "12.50"}
        started = time.perf_counter()
        answer = cashier.post("/payments/new/", data=data, follow_redirects=True)
        samples.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200 and "/payments/" in str(answer.url), answer.text[:500]
    cashier.close()
    assert Payment.objects.filter(terminal__in=lanes).count() == len(lanes)
    record("payments.start_ms", statistics.median(samples[3:]), "ms", 150)


def test_a_status_poll(gunicorn_url, tenant_a, sandbox_settings, broker, client, record):
    from tests.factories import PaymentFactory

    desk = Desk("usaepay", tenant_a)
    payment = PaymentFactory(terminal=desk.terminal, status=PaymentStatus.PENDING)
    path = f"/payments/{payment.uuid}/status/"
    headers = {"HX-Request": "true", "X-Poll": "1"}

    cashier = log_in(gunicorn_url, tenant_a.users[Role.CASHIER])

    def poll():
        assert cashier.get(path, headers=headers).status_code == 200

    record("status_partial.ms", median_ms(poll, runs=200, warmup=10), "ms", 10)
    cashier.close()

    client.force_login(tenant_a.users[Role.CASHIER], backend=BACKEND)
    client.get(path, HTTP_HX_REQUEST="true", HTTP_X_POLL="1")  # the session is cached from here
    with CaptureQueriesContext(connection) as queries:
        assert client.get(path, HTTP_HX_REQUEST="true", HTTP_X_POLL="1").status_code == 200
    record("status_partial.queries", len(queries), "count", 2)


def test_a_signed_webhook_is_accepted(gunicorn_url, tenant_a, sandbox_settings, broker, record):
    from payments.engine import payment_start_execute
    from sandbox.komoju import webhook_events
    from sandbox.models import SandboxPayment
    from sandbox.webhooks import CAPTURED

    desk = Desk("komoju", tenant_a)
    payment = desk.take(0)  # the customer has not decided: the payment stays pending
    payment_start_execute(payment_id=payment.pk)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING
    emulated = SandboxPayment.objects.get(
        device__account=desk.env.sandbox_account, order_ref=payment.reference
    )
    (event,) = webhook_events(emulated, CAPTURED)  # any event of the payment
    signing = EMULATORS["komoju"].webhook_signing
    secret = next(
        desk.env.sandbox_account.secrets[name]
        for name in signing.secrets
        if desk.env.sandbox_account.secrets.get(name)
    )
    path = f"/webhooks/komoju/{desk.account.uuid}/"
    samples = []
    with httpx.Client(base_url=gunicorn_url, timeout=30) as provider:
        for _ in range(230):
            event_id = uuid.uuid4().hex[:25]
            raw = json.dumps({**event.body, "id": event_id}, separators=(",", ":")).encode()
            headers = {
                "Content-Type": "application/json",
                "X-Komoju-ID": event_id,
                "X-Komoju-Event": event.event_type,
                signing.header: sign(secret, raw),
            }
            started = time.perf_counter()
            answer = provider.post(path, content=raw, headers=headers)
            samples.append((time.perf_counter() - started) * 1000)
            assert answer.status_code < 300, (answer.status_code, answer.text[:300])
    accepted = sorted(samples[30:])
    record("webhook.accept_ms", accepted[int(len(accepted) * 0.95) - 1], "ms", 30)

"""Signed webhooks from the KOMOJU, Klearly and USAePay emulators into the dashboard.

When a payment changes (the services call `payment_changed`), the provider's emulator module
builds its events (`webhook_events(payment, change)` in `sandbox/<provider>.py`), and each one is
written to the outbox (`SandboxWebhookDelivery`) with its exact body and headers, signed as the
provider signs (each emulator's `webhook_signing` in `sandbox/emulators.py`: the header, the account
secret that is the key, and KOMOJU's `X-Komoju-ID` (= event id) and `X-Komoju-Event` headers).
The signature is lowercase hex HMAC-SHA256 of the raw body. The target is the account's
`settings["webhook_url"]`; without one the delivery is kept (and shown) but never sent.

Sending happens after the database transaction commits, from a daemon thread of the process that
made the change (and, as a fallback, whenever a wire call or the virtual terminal finds a due
delivery and no sender running): a wire answer never waits for a webhook. A failed attempt
(connection refused, 404, any non-2xx) is recorded and retried SANDBOX_WEBHOOK_RETRY_S ×
attempts later, up to SANDBOX_WEBHOOK_MAX_ATTEMPTS. A sender claims a delivery with a
conditional UPDATE (`claimed_until`), so several processes never send one row twice.

Fault switches, per device (the virtual terminal page, or `services.device_set_switches`):
duplicate (every event twice: same event id, same bytes), late (`webhook_delay_s`), out of order
(the next event is held until the one after it was sent, at most SANDBOX_WEBHOOK_HOLD_MAX_S),
unsigned and wrongly signed (HMAC with another key).

A test event (`account_send_test_webhook`, the emulators' `POST …/_sandbox/webhook-test`, which the
dashboard's "Send a test webhook" calls) goes through the same outbox, signing and sender, names no
payment and no device, and is always signed with the account's secret: what it checks is the
secret the dashboard holds.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from urllib.parse import urlsplit

import httpx
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from sandbox import conf
from sandbox.emulators import EMULATORS
from sandbox.models import (
    SandboxAccount,
    SandboxDevice,
    SandboxPayment,
    SandboxWebhookDelivery,
)

logger = logging.getLogger(__name__)

BATCH = 100  # deliveries one pass of the sender takes
SENDERS = 16  # accounts served at once
IDLE_WAIT_S = 1.0  # longest pause of the sender between passes
USER_AGENT = "dashboard-sandbox-webhooks/1"

# What changed about a payment (the services' words).
DECIDED = "decided"  # the customer, the terminal or time decided a pending request
CANCELED = "canceled"  # the POS cancelled it over the API
VOIDED = "voided"  # an approved pre-authorisation was cancelled
CAPTURED = "captured"
REFUNDED = "refunded"  # a referenced refund was made (the payment is the refund)


@dataclass(frozen=True)
class Event:
    event_id: str
    event_type: str
    body: dict


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# -- enqueueing -----------------------------------------------------------------------------------


def payment_changed(*, payment: SandboxPayment, change: str) -> list[SandboxWebhookDelivery]:
    """Writes the provider's webhooks about this change to the outbox; they are sent after the
    current transaction commits. Never raises: a webhook problem must not fail a wire answer.
    Also wakes the status calls held on the payment (sandbox/wakeups.py)."""
    from sandbox import wakeups

    wakeups.announce(payment.pk)
    try:
        device = SandboxDevice.objects.select_related("account").get(pk=payment.device_id)
        emulator = EMULATORS[device.account.provider]
        if emulator.webhook_signing is None:
            return []
        # Imported when first needed: the emulators import the services, which import this.
        build = importlib.import_module(emulator.module).webhook_events
        events = build(payment, change)
        with transaction.atomic():
            made = [row for event in events for row in _enqueue(device, payment, event)]
    except Exception:
        logger.exception("sandbox: could not enqueue the webhooks of payment %s", payment.pk)
        return []
    if any(row.url for row in made):
        transaction.on_commit(kick)
    return made


def account_send_test_webhook(*, account: SandboxAccount, url: str) -> SandboxWebhookDelivery:
    """Writes one test event of the account's provider (`webhook_test_event(account)` of its
    emulator module: KOMOJU's `ping`, or the provider's envelope with a test type where it
    documents none) to the outbox for `url`, signed as every event of the account is, and sends
    it after the current transaction commits. LookupError for a provider that sends no webhooks."""
    emulator = EMULATORS[account.provider]
    if emulator.webhook_signing is None:
        raise LookupError(f"{emulator.label} sends no webhooks.")
    event = importlib.import_module(emulator.module).webhook_test_event(account)
    raw, headers, signature = _signed(account, event, mode="valid")
    delivery = SandboxWebhookDelivery.objects.create(
        account=account,
        event_id=event.event_id,
        event_type=event.event_type,
        url=url,
        body=raw.decode(),
        headers=headers,
        signature=signature,
        signing="valid",
        last_error="" if url else "No webhook_url configured",
    )
    if url:
        transaction.on_commit(kick)
    return delivery


URL_MAX = SandboxWebhookDelivery._meta.get_field("url").max_length


def webhook_test_url(body: dict | None) -> str | None:
    """The `url` of a `…/_sandbox/webhook-test` body when it is an http(s) address with a host,
    at most URL_MAX characters, with no white space or control character; else None."""
    url = body.get("url") if isinstance(body, dict) else None
    if not isinstance(url, str) or not 0 < len(url) <= URL_MAX:
        return None
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return url


def _signed(account: SandboxAccount, event: Event, *, mode: str) -> tuple[bytes, dict, str]:
    """The raw body, the headers and the signature of an event as the provider signs it (`mode`:
    a device's webhook_signature switch, valid, unsigned or wrong)."""
    signing = EMULATORS[account.provider].webhook_signing
    raw = json.dumps(event.body, separators=(",", ":"), ensure_ascii=False).encode()
    key = next((account.secrets[name] for name in signing.secrets if account.secrets.get(name)), "")
    signature = ""
    if mode == "valid" and key:
        signature = sign(key, raw)
    elif mode == "wrong":
        signature = sign("sandbox-wrong-key-" + key, raw)
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    if signing.event_headers:
        headers["X-Komoju-ID"] = event.event_id
        headers["X-Komoju-Event"] = event.event_type
    if signature:
        headers[signing.header] = signature
    return raw, headers, signature


def _enqueue(device: SandboxDevice, payment: SandboxPayment, event: Event):
    account = device.account
    mode = device.webhook_signature
    raw, headers, signature = _signed(account, event, mode=mode)
    now = timezone.now()
    deliver_after = now + timedelta(seconds=device.webhook_delay_s)
    held = (
        SandboxDevice.objects.filter(pk=device.pk, webhook_hold_next=True).update(
            webhook_hold_next=False
        )
        == 1
    )
    if held:
        deliver_after = max(
            deliver_after, now + timedelta(seconds=conf.setting("SANDBOX_WEBHOOK_HOLD_MAX_S"))
        )
    fields = {
        "account": account,
        "device": device,
        "payment": payment,
        "event_id": event.event_id,
        "event_type": event.event_type,
        "url": str(account.settings.get("webhook_url") or ""),
        "body": raw.decode(),
        "headers": headers,
        "signature": signature,
        "signing": mode,
        "held": held,
        "created_at": now,
        "deliver_after": deliver_after,
        "last_error": "" if account.settings.get("webhook_url") else "No webhook_url configured",
    }
    rows = [SandboxWebhookDelivery.objects.create(**fields)]
    if device.webhook_duplicate:
        rows.append(SandboxWebhookDelivery.objects.create(**fields, duplicate=True))
    return rows


# -- sending --------------------------------------------------------------------------------------


_lock = threading.Lock()
_wake = threading.Event()
_stop = threading.Event()
_sender: threading.Thread | None = None


def kick() -> None:
    """Makes sure this process has a sender running, and wakes it."""
    global _sender
    with _lock:
        _wake.set()
        if _sender is None or not _sender.is_alive():
            _stop.clear()
            _sender = threading.Thread(target=_run, name="sandbox-webhooks", daemon=True)
            _sender.start()


# The outbox is looked at on a wire call at most this often per process: a sandbox answering
# hundreds of reads a second asks the database once, not hundreds of times.
KICK_CHECK_INTERVAL_S = 0.5
_last_kick_check = 0.0


def kick_if_due() -> None:
    """The fallback "on the next read": start a sender when deliveries are due and none runs."""
    global _last_kick_check
    if _sender is not None and _sender.is_alive():
        return
    now = time.monotonic()
    if now - _last_kick_check < KICK_CHECK_INTERVAL_S:
        return
    _last_kick_check = now
    max_attempts = int(conf.setting("SANDBOX_WEBHOOK_MAX_ATTEMPTS"))
    if SandboxWebhookDelivery.objects.due(max_attempts=max_attempts).exists():
        kick()


def stop(timeout: float = 10.0) -> None:
    """Stops this process's sender (tests call it before the database goes away)."""
    global _sender
    with _lock:
        sender = _sender
        _stop.set()
        _wake.set()
    if sender is not None:
        sender.join(timeout)
    with _lock:
        if _sender is sender:
            _sender = None


def _run() -> None:
    global _sender
    try:
        while not _stop.is_set():
            _wake.clear()
            deliver_due()
            pause = _pause_until_next()
            connection.close()  # hold no database connection while waiting
            if pause is None:
                with _lock:
                    if not _wake.is_set():
                        _sender = None
                        return
                continue
            _wake.wait(pause)
    except Exception:
        logger.exception("sandbox: the webhook sender stopped")
    finally:
        connection.close()


def _pause_until_next() -> float | None:
    """Seconds until the next delivery is due (at most IDLE_WAIT_S), None when nothing is left."""
    max_attempts = int(conf.setting("SANDBOX_WEBHOOK_MAX_ATTEMPTS"))
    upcoming = (
        SandboxWebhookDelivery.objects.undelivered()
        .filter(attempts__lt=max_attempts)
        .order_by("deliver_after")
        .values_list("deliver_after", flat=True)
        .first()
    )
    if upcoming is None:
        return None
    return min(max((upcoming - timezone.now()).total_seconds(), 0.0), IDLE_WAIT_S)


@cache
def _tls_context():
    """The sender's one TLS context, httpx's default (SSL_CERT_FILE or SSL_CERT_DIR, else certifi's
    bundle), built once: building one parses the CA bundle, tens of milliseconds each time a batch
    of deliveries starts."""
    return httpx.create_ssl_context()


def deliver_due() -> int:
    """Sends every delivery that is due now, oldest first; returns how many were attempted.

    A provider sends to many merchants at once: the accounts of a batch are served side by side
    (SENDERS threads), each account's deliveries one after the other in their order, so the
    out-of-order and duplicate switches still mean what they say. (One at a time, a hundred
    approvals a second waited tens of seconds for their webhooks: benchmarks/test_bench_tracking.py.)"""
    close_old_connections()
    max_attempts = int(conf.setting("SANDBOX_WEBHOOK_MAX_ATTEMPTS"))
    timeout = float(conf.setting("SANDBOX_WEBHOOK_TIMEOUT_S"))
    attempted = 0
    with (
        httpx.Client(timeout=timeout, follow_redirects=False, verify=_tls_context()) as client,
        ThreadPoolExecutor(max_workers=SENDERS, thread_name_prefix="sandbox-webhook") as pool,
    ):
        while not _stop.is_set():
            now = timezone.now()
            batch = list(
                SandboxWebhookDelivery.objects.due(now, max_attempts=max_attempts).order_by(
                    "deliver_after", "pk"
                )[:BATCH]
            )
            if not batch:
                return attempted
            by_account: dict[int, list[SandboxWebhookDelivery]] = {}
            for delivery in batch:
                by_account.setdefault(delivery.account_id, []).append(delivery)
            sends = [
                pool.submit(_send_in_order, client, deliveries, max_attempts, timeout)
                for deliveries in by_account.values()
            ]
            attempted += sum(send.result() for send in sends)
    return attempted


def _send_in_order(
    client: httpx.Client,
    deliveries: list[SandboxWebhookDelivery],
    max_attempts: int,
    timeout: float,
) -> int:
    """One account's due deliveries, in order, each claimed first; in a sender thread, whose
    database connection is handed back when it is done."""
    attempted = 0
    try:
        for delivery in deliveries:
            if _stop.is_set():
                break
            lease = timezone.now() + timedelta(seconds=timeout + 5)
            claimed = (
                SandboxWebhookDelivery.objects.due(timezone.now(), max_attempts=max_attempts)
                .filter(pk=delivery.pk)
                .update(claimed_until=lease)
            )
            if claimed:
                _attempt(client, delivery, max_attempts)
                attempted += 1
    finally:
        connection.close()
    return attempted


def _attempt(client: httpx.Client, delivery: SandboxWebhookDelivery, max_attempts: int) -> None:
    status, error = None, ""
    try:
        response = client.post(
            delivery.url, content=delivery.body.encode(), headers=delivery.headers
        )
        status = response.status_code
        if not 200 <= status < 300:
            error = f"HTTP {status}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:200]
    now = timezone.now()
    attempts = delivery.attempts + 1
    changes = {
        "attempts": attempts,
        "last_status": status,
        "last_error": error,
        "last_attempt_at": now,
        "claimed_until": None,
        "held": False,
    }
    if not error:
        changes["delivered_at"] = now
    elif attempts < max_attempts:
        retry = conf.setting("SANDBOX_WEBHOOK_RETRY_S") * attempts
        changes["deliver_after"] = now + timedelta(seconds=retry)
    SandboxWebhookDelivery.objects.filter(pk=delivery.pk).update(**changes)
    if not delivery.held:
        # Out of order: what was held back goes right after the delivery that came next.
        SandboxWebhookDelivery.objects.filter(
            account_id=delivery.account_id, held=True, pk__lt=delivery.pk, attempts=0
        ).update(held=False, deliver_after=now)
    logger.info(
        "sandbox: webhook %s %s to %s -> %s",
        delivery.event_type,
        delivery.event_id,
        delivery.url,
        status or error,
    )

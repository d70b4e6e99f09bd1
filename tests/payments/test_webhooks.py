"""Webhooks over real HTTP: the emulators deliver signed events to /webhooks/<provider>/<uuid>/;
each is checked, stored once, and makes the tracker re-read the payment (a trigger, not the truth).
No worker runs here: the test runs the scheduled read itself, so what the webhook did is visible."""

from __future__ import annotations

import uuid

import httpx
import pytest

from payments.engine import payment_start_execute, payment_track_now
from payments.models import PaymentStatus, ReceivedWebhook
from providers.http import tls_context
from sandbox.models import SandboxPayment, SandboxWebhookDelivery
from sandbox.scenarios import APPROVE
from sandbox.services import device_set_switches, payment_decide
from tests.payments.engine_support import Desk, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

WEBHOOK_PROVIDERS = ["komoju", "klearly", "usaepay"]


@pytest.fixture(params=WEBHOOK_PROVIDERS)
def desk(request, sandbox_settings, tenant_a, live_server, broker):
    desk = Desk(request.param, tenant_a)
    sandbox_account = desk.env.sandbox_account
    sandbox_account.settings = {
        **sandbox_account.settings,
        "webhook_url": f"{live_server.url}/webhooks/{desk.provider}/{desk.account.uuid}/",
    }
    sandbox_account.save(update_fields=["settings"])
    return desk


def pending_payment(desk):
    """A payment the customer has not decided yet (amount ending 00), started by the engine."""
    payment = desk.take(0)
    payment_start_execute(payment_id=payment.pk)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING
    return payment


def customer_approves(desk, payment):
    emulated = SandboxPayment.objects.get(
        device__account=desk.env.sandbox_account, order_ref=payment.reference
    )
    assert payment_decide(payment=emulated, outcome=APPROVE)


def state_changes(payment):
    return list(payment.events.exclude(to_status="").values_list("to_status", flat=True))


def test_a_webhook_makes_the_tracker_read_the_approval(desk, broker):
    payment = pending_payment(desk)

    customer_approves(desk, payment)

    received = wait_until(lambda: ReceivedWebhook.objects.filter(account=desk.account).first())
    assert received.verdict == "valid"
    assert received.payment_id == payment.pk
    wait_until(lambda: broker.scheduled("payments.tasks.track_payment_now"))
    payment_track_now(payment_id=payment.pk, reason=f"webhook {received.pk}")
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.APPROVED
    assert payment.events.filter(to_status="approved", source="webhook").exists()


def test_a_duplicated_webhook_is_stored_once_and_changes_the_payment_once(desk, broker):
    device_set_switches(device=desk.device, webhook_duplicate=True)
    payment = pending_payment(desk)

    customer_approves(desk, payment)

    wait_until(lambda: ReceivedWebhook.objects.filter(account=desk.account).exists())
    wait_until(
        lambda: (
            SandboxPayment.objects.filter(order_ref=payment.reference)
            .first()
            .webhook_deliveries.filter(delivered_at__isnull=False)
            .count()
            >= 2
        )
    )
    ids = list(
        ReceivedWebhook.objects.filter(account=desk.account).values_list("event_id", flat=True)
    )
    assert len(ids) == len(set(ids))
    for _ in range(2):
        payment_track_now(payment_id=payment.pk, reason="webhook")
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.APPROVED
    assert state_changes(payment).count("approved") == 1


def test_an_old_event_arriving_after_the_final_one_changes_nothing(desk, broker, live_server):
    payment = pending_payment(desk)
    customer_approves(desk, payment)
    first = wait_until(lambda: ReceivedWebhook.objects.filter(account=desk.account).first())
    payment_track_now(payment_id=payment.pk, reason="webhook")
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.APPROVED

    # The same delivery again, late (its retry): acknowledged, stored once, nothing changes.
    headers = {k: v for k, v in first.headers.items() if v != "[redacted]"}
    delivery = SandboxPayment.objects.get(order_ref=payment.reference).webhook_deliveries.first()
    answer = httpx.post(
        f"{live_server.url}/webhooks/{desk.provider}/{desk.account.uuid}/",
        content=delivery.body.encode(),
        headers={**headers, **delivery.headers},
        verify=tls_context(),
    )

    assert answer.status_code == 200
    assert (
        ReceivedWebhook.objects.filter(account=desk.account, event_id=first.event_id).count() == 1
    )
    payment_track_now(payment_id=payment.pk, reason="webhook")
    assert state_changes(payment) == ["created", "pending", "approved"]


def test_a_wrongly_signed_webhook_is_refused_and_changes_nothing(desk, broker):
    device_set_switches(device=desk.device, webhook_signature="invalid")
    payment = pending_payment(desk)

    customer_approves(desk, payment)

    delivery = wait_until(
        lambda: (
            SandboxPayment.objects.get(order_ref=payment.reference)
            .webhook_deliveries.filter(last_status__isnull=False)
            .first()
        )
    )
    assert 400 <= delivery.last_status < 500
    assert not ReceivedWebhook.objects.filter(account=desk.account).exists()
    assert not broker.scheduled("payments.tasks.track_payment_now")
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING


def test_an_unknown_account_is_a_404_and_an_oversized_body_a_413(desk, live_server):
    unknown = httpx.post(
        f"{live_server.url}/webhooks/{desk.provider}/{uuid.uuid4()}/",
        content=b"{}",
        verify=tls_context(),
    )
    oversized = httpx.post(
        f"{live_server.url}/webhooks/{desk.provider}/{desk.account.uuid}/",
        content=b"x" * (65 * 1024),
        verify=tls_context(),
    )

    assert unknown.status_code == 404
    assert oversized.status_code == 413
    assert not ReceivedWebhook.objects.filter(account=desk.account).exists()


def test_a_test_event_is_stored_once_answered_and_changes_no_payment(desk, broker, live_server):
    """The emulator's test event (KOMOJU's ping, the others' webhook.test), signed like any other:
    checked, stored, answered 2xx, and it names no payment, so nothing is read or changed."""
    from sandbox.webhooks import account_send_test_webhook

    payment = pending_payment(desk)
    url = f"{live_server.url}/webhooks/{desk.provider}/{desk.account.uuid}/"

    sent = account_send_test_webhook(account=desk.env.sandbox_account, url=url)

    delivery = wait_until(
        lambda: SandboxWebhookDelivery.objects.filter(
            pk=sent.pk, delivered_at__isnull=False
        ).first()
    )
    assert 200 <= delivery.last_status < 300
    received = ReceivedWebhook.objects.get(account=desk.account)
    assert received.verdict == "valid"
    assert received.event_type == delivery.event_type
    assert received.payment_id is None
    assert received.outcome == "No payment of ours."
    # Its retry is the same delivery: stored once.
    again = httpx.post(
        url, content=delivery.body.encode(), headers=delivery.headers, verify=tls_context()
    )
    assert again.status_code == 200
    assert ReceivedWebhook.objects.filter(account=desk.account).count() == 1
    assert not broker.scheduled("payments.tasks.track_payment_now")
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING
    assert state_changes(payment) == ["created", "pending"]


def test_a_wrongly_signed_test_event_is_refused(desk, broker, live_server):
    from sandbox.webhooks import account_send_test_webhook

    sandbox_account = desk.env.sandbox_account
    field = "webhook_signature_key" if desk.provider == "usaepay" else "webhook_secret"
    sandbox_account.secrets = {**sandbox_account.secrets, field: "another-secret-than-ours"}
    sandbox_account.save(update_fields=["secrets"])

    sent = account_send_test_webhook(
        account=sandbox_account,
        url=f"{live_server.url}/webhooks/{desk.provider}/{desk.account.uuid}/",
    )

    delivery = wait_until(
        lambda: SandboxWebhookDelivery.objects.filter(pk=sent.pk, last_status__isnull=False).first()
    )
    assert 400 <= delivery.last_status < 500
    assert not ReceivedWebhook.objects.filter(account=desk.account).exists()

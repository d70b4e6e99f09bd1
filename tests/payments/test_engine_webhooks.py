"""Webhooks misbehaving on the wire, with a real Celery worker following the payments: the sandbox's
switches deliver every event twice, late, or hold one back until the next was sent (out of order).
Each event is stored once, every delivery is acknowledged, and each payment changes state once:
a webhook only makes the tracker re-read the truth from the provider."""

from __future__ import annotations

import pytest

from dashboard.models import Role
from payments import actions
from payments.models import Payment, PaymentStatus, ReceivedWebhook
from providers.registry import capabilities_for
from sandbox.models import SandboxPayment, SandboxWebhookDelivery
from sandbox.scenarios import APPROVE
from sandbox.services import device_set_switches, payment_decide
from tests.payments.engine_support import PROVIDERS, Desk, settled, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


WEBHOOK_PROVIDERS = [p for p in PROVIDERS if capabilities_for(p).has_webhooks]


@pytest.fixture(params=WEBHOOK_PROVIDERS)
def desk(request, sandbox_settings, tenant_a, live_server):
    desk = Desk(request.param, tenant_a)
    sandbox_account = desk.env.sandbox_account
    sandbox_account.settings = {
        **sandbox_account.settings,
        "webhook_url": f"{live_server.url}/webhooks/{desk.provider}/{desk.account.uuid}/",
    }
    sandbox_account.save(update_fields=["settings"])
    return desk


def emulated(desk: Desk, payment: Payment) -> SandboxPayment:
    return SandboxPayment.objects.get(
        device__account=desk.env.sandbox_account, order_ref=payment.reference
    )


def state_changes(payment: Payment) -> list[str]:
    return list(payment.events.exclude(to_status="").values_list("to_status", flat=True))


def deliveries(desk: Desk):
    return SandboxWebhookDelivery.objects.filter(account=desk.env.sandbox_account)


def all_delivered(desk: Desk, at_least: int):
    """Every delivery of the account answered 2xx by the dashboard, and at least `at_least` made;
    then no read a webhook asked for is still waiting in the broker."""

    def check():
        rows = list(deliveries(desk))
        done = len(rows) >= at_least and all(row.delivered_at for row in rows)
        return done and rows

    rows = wait_until(check, timeout=60)
    assert all(200 <= row.last_status < 300 for row in rows), [
        (row.event_type, row.last_status) for row in rows
    ]
    return rows


def reads_done(broker) -> bool:
    return not broker.scheduled("payments.tasks.track_payment_now")


def test_every_webhook_twice_and_late_is_stored_once_and_changes_the_payment_once(
    desk, worker, broker
):
    device_set_switches(device=desk.device, webhook_duplicate=True, webhook_delay_s=1)
    payment = desk.take(0)
    settled(payment, PaymentStatus.PENDING)

    assert payment_decide(payment=emulated(desk, payment), outcome=APPROVE)

    settled(payment, PaymentStatus.APPROVED, timeout=30)
    rows = all_delivered(desk, at_least=2)
    assert any(row.duplicate for row in rows)
    event_ids = {row.event_id for row in rows}
    stored = ReceivedWebhook.objects.filter(account=desk.account)
    wait_until(lambda: stored.count() == len(event_ids))
    assert sorted(stored.values_list("event_id", flat=True)) == sorted(event_ids)
    assert all(received.payment_id == payment.pk for received in stored)
    assert not stored.filter(processed_at__isnull=True).exists()
    wait_until(lambda: reads_done(broker))
    payment.refresh_from_db()
    assert state_changes(payment) == ["created", "pending", "approved"]
    assert payment.captured_minor == payment.amount_minor
    assert desk.charges(payment) == 1


def test_a_webhook_held_back_until_after_the_next_changes_each_payment_once(
    desk, worker, broker, settings
):
    settings.SANDBOX_WEBHOOK_HOLD_MAX_S = 30
    manager = desk.tenant.users[Role.MERCHANT_MANAGER]
    device_set_switches(device=desk.device, webhook_hold_next=True)
    sale = desk.take(1)
    settled(sale, PaymentStatus.APPROVED, timeout=30)  # the tracker read it; its webhook waits
    held = wait_until(lambda: deliveries(desk).filter(held=True).first())
    assert held.delivered_at is None

    refund = actions.payment_refund(sale=sale, user=manager, amount_minor=sale.amount_minor)
    settled(refund, PaymentStatus.APPROVED, timeout=30)

    rows = all_delivered(desk, at_least=2)
    held.refresh_from_db()
    overtaking = [r for r in rows if r.created_at > held.created_at]
    assert overtaking and all(r.delivered_at <= held.delivered_at for r in overtaking)
    assert ReceivedWebhook.objects.filter(account=desk.account).count() == len(
        {row.event_id for row in rows}
    )
    wait_until(lambda: reads_done(broker))
    sale.refresh_from_db()
    refund.refresh_from_db()
    assert state_changes(sale) == ["created", "pending", "approved"]
    assert state_changes(refund).count("approved") == 1
    assert sale.refunded_minor == sale.amount_minor  # counted once
    assert sale.status == PaymentStatus.APPROVED

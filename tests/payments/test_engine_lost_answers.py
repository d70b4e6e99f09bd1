"""Capture and refund calls whose answer is lost on the wire (the sandbox's "lose the next
response" switch: the provider did the work, our client got a broken answer), with a real Celery
worker and the reconciler running as beat runs it: each ends in the provider's true state, and no
money moves twice (one capture, one refund at the emulator). The switch loses no abort answers;
an abort that cannot reach the terminal is in test_actions_refund.py."""

from __future__ import annotations

import pytest

from dashboard.models import Role
from payments import actions
from payments.models import PaymentStatus
from payments.services import InvalidPayment
from providers.registry import capabilities_for
from sandbox.models import PaymentStatus as EmulatedStatus
from sandbox.models import SandboxDevice, SandboxPayment
from sandbox.services import device_set_switches
from tests.payments.engine_support import PROVIDERS, Desk, settled, wait_until
from tests.payments.test_engine_acceptance import (
    Beat,
    authorised,
    emulated,
    explain,
    state_changes,
)

pytestmark = pytest.mark.django_db(transaction=True)


PARTIAL_CAPTURES = [p for p in PROVIDERS if capabilities_for(p).partial_capture]


@pytest.fixture(params=PROVIDERS)
def desk(request, sandbox_settings, tenant_a):
    return Desk(request.param, tenant_a)


def lost(desk: Desk) -> bool:
    """The switch was used up: the emulator did the work and broke its answer."""
    return not SandboxDevice.objects.get(pk=desk.device.pk).lose_next_response


def settled_with_beat(payment, *statuses, timeout=60):
    beat = Beat()

    def check():
        beat.tick()
        payment.refresh_from_db()
        return payment.status in statuses and payment

    try:
        return wait_until(check, timeout=timeout, interval=0.1)
    except pytest.fail.Exception:
        pytest.fail(explain([payment]))


# Providers whose status read shows that an authorisation was captured. USAePay's payrequest reads
# the same before and after a capture.
CAPTURE_SHOWN = [p for p in PARTIAL_CAPTURES if p != "usaepay"]


@pytest.mark.parametrize("desk", CAPTURE_SHOWN, indirect=True)
def test_a_capture_whose_answer_is_lost_ends_captured_once_for_the_amount_captured(desk, worker):
    manager = desk.tenant.users[Role.MERCHANT_MANAGER]
    payment = authorised(desk)
    part = payment.amount_minor // 2
    device_set_switches(device=desk.device, lose_next_response=True)

    actions.payment_capture(payment=payment, user=manager, amount_minor=part)

    settled_with_beat(payment, PaymentStatus.APPROVED)
    assert lost(desk)
    assert payment.captured_minor == part
    at_terminal = emulated(desk, payment)
    assert at_terminal.captured and at_terminal.captured_amount == part
    assert state_changes(payment) == [
        "created",
        "pending",
        "authorized",
        "unknown",
        "approved",
    ]
    # What is left to refund is what was captured.
    with pytest.raises(InvalidPayment, match=f"At most {part} "):
        actions.payment_refund(sale=payment, user=manager, amount_minor=part + 1)


@pytest.mark.parametrize(
    "desk", [p for p in PARTIAL_CAPTURES if p not in CAPTURE_SHOWN], indirect=True
)
def test_a_capture_whose_answer_is_lost_stays_unknown_where_no_read_shows_it(
    desk, worker, settings
):
    settings.PAYMENTS_ATTENTION_AFTER_S = 0
    payment = authorised(desk)
    device_set_switches(device=desk.device, lose_next_response=True)

    actions.payment_capture(
        payment=payment, user=desk.tenant.users[Role.MERCHANT_MANAGER], amount_minor=500
    )

    # The reconciler reads "authorised" and cannot tell: a person settles it, nothing is guessed.
    beat = Beat()

    def flagged():
        beat.tick()
        payment.refresh_from_db()
        return payment.needs_attention

    wait_until(flagged, timeout=60, interval=0.2)
    assert lost(desk)
    assert payment.status == PaymentStatus.UNKNOWN
    assert payment.captured_minor == 0
    assert emulated(desk, payment).captured_amount == 500  # captured once, by the lost call
    assert not payment.events.filter(to_status="authorized", source="reconciler").exists()


def referenced_sale(desk: Desk):
    sale = desk.take(1)
    settled(sale, PaymentStatus.APPROVED, timeout=30)
    return sale


# A referenced refund whose answer was lost is sent again with its key where the provider has
# one; without a key nothing can look a refund up by our reference.
KEYED = [p for p in PROVIDERS if capabilities_for(p).has_idempotency_key]


@pytest.mark.parametrize("desk", KEYED, indirect=True)
def test_a_refund_whose_answer_is_lost_is_refunded_once(desk, worker):
    manager = desk.tenant.users[Role.MERCHANT_MANAGER]
    sale = referenced_sale(desk)
    device_set_switches(device=desk.device, lose_next_response=True)

    refund = actions.payment_refund(sale=sale, user=manager, amount_minor=sale.amount_minor)

    settled_with_beat(refund, PaymentStatus.APPROVED, timeout=90)
    assert lost(desk)
    sale.refresh_from_db()
    assert sale.refunded_minor == sale.amount_minor
    refunds = SandboxPayment.objects.filter(original=emulated(desk, sale), kind="refund")
    assert refunds.count() == 1
    assert refunds.get().status == EmulatedStatus.APPROVED
    assert state_changes(refund).count("approved") == 1
    assert refund.events.filter(to_status="unknown").exists()


@pytest.mark.parametrize("desk", [p for p in PROVIDERS if p not in KEYED], indirect=True)
def test_a_refund_whose_answer_is_lost_without_a_key_stays_unknown_and_is_never_sent_again(
    desk, worker, settings
):
    settings.PAYMENTS_ATTENTION_AFTER_S = 0
    manager = desk.tenant.users[Role.MERCHANT_MANAGER]
    sale = referenced_sale(desk)
    device_set_switches(device=desk.device, lose_next_response=True)

    refund = actions.payment_refund(sale=sale, user=manager, amount_minor=sale.amount_minor)

    beat = Beat()

    def flagged():
        beat.tick()
        refund.refresh_from_db()
        return refund.needs_attention

    wait_until(flagged, timeout=60, interval=0.2)
    assert lost(desk)
    assert refund.status == PaymentStatus.UNKNOWN
    assert SandboxPayment.objects.filter(original=emulated(desk, sale), kind="refund").count() == 1
    # It still counts against the sale: no second refund can be asked for meanwhile.
    with pytest.raises(InvalidPayment, match="Nothing is left to refund"):
        actions.payment_refund(sale=sale, user=manager, amount_minor=1)

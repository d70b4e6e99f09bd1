"""The money engine over real HTTP against each provider's emulator, with a real Celery worker:
a payment is started in the worker, followed by its tracker to its final state, and recorded once."""

from __future__ import annotations

import pytest

from payments.models import PaymentStatus
from sandbox.services import device_set_switches
from tests.payments.engine_support import PROVIDERS, Desk, settled

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(params=PROVIDERS)
def desk(request, sandbox_settings, tenant_a):
    return Desk(request.param, tenant_a)


def test_an_approved_sale_is_followed_to_approved_with_its_card(desk, worker):
    payment = desk.take(1)

    settled(payment, PaymentStatus.APPROVED)

    assert payment.provider_ref
    assert payment.captured_minor == payment.amount_minor
    assert payment.started_at and payment.deadline_at and payment.finished_at
    if desk.env.shows_card:
        assert len(payment.card_last4) == 4
    assert payment.message
    assert not payment.occupies_terminal
    assert desk.charges(payment) == 1
    # MobilePay stops every payment at Reserved: the engine captures the sale at once.
    reserved = ["authorized"] if desk.provider == "mobilepay" else []
    assert list(payment.events.exclude(to_status="").values_list("to_status", flat=True)) == [
        "created",
        "pending",
        *reserved,
        "approved",
    ]


def test_a_declined_sale_ends_declined_with_nothing_captured(desk, worker):
    payment = desk.take(2)

    settled(payment, PaymentStatus.DECLINED)

    assert payment.captured_minor == 0
    assert payment.message
    assert desk.charges(payment) == 0


def test_a_sale_the_customer_cancels_ends_canceled(desk, worker):
    payment = desk.take(3)

    settled(payment, PaymentStatus.CANCELED)

    assert payment.captured_minor == 0
    assert desk.charges(payment) == 0


def test_a_terminal_that_is_offline_fails_the_payment_with_the_reason_and_frees_it(desk, worker):
    device_set_switches(device=desk.device, online=False)

    payment = desk.take(1)

    settled(payment, PaymentStatus.FAILED)
    assert payment.message
    assert not payment.occupies_terminal
    assert desk.charges(payment) == 0

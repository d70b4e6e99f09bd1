"""Cancelling an authorisation nobody captured ("Cancel authorisation" on the payment page), on every
provider with auth-only payments, over real HTTP to its emulator: the money is released at the
provider (Payroc reverses the payment, USAePay voids the transaction, KOMOJU cancels the payment,
Integra the reservation) and the payment ends cancelled, capturing nothing."""

from __future__ import annotations

import pytest
from django.urls import reverse

from payments import actions
from payments.models import EventSource, Payment, PaymentStatus
from payments.state import payment_transition
from providers.base import PaymentKind, PaymentState
from providers.registry import capabilities_for
from sandbox.models import PaymentStatus as EmulatedStatus
from sandbox.models import SandboxPayment
from tests.broker import Broker
from tests.contract.conftest import PROVIDERS
from tests.payments.test_actions_refund import _env, _started
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(params=[p for p in PROVIDERS if capabilities_for(p).needs_capture])
def env(request, sandbox_settings, tenant_a):
    return _env(request, tenant_a)


@pytest.fixture(autouse=True)
def broker():
    queues = Broker()
    queues.purge()
    yield queues
    queues.purge()


def authorised(env, tenant):
    payment = _started(env, tenant, 1001, kind="auth")
    result = wait_until(
        lambda: (
            (r := env.adapter.get_payment(payment.provider_ref, kind=PaymentKind.AUTH)).state
            == PaymentState.AUTHORIZED
            and r
        )
    )
    payment_transition(
        payment_id=payment.pk,
        to=PaymentStatus.AUTHORIZED,
        source=EventSource.WORKER,
        transaction_ref=result.transaction_ref or "",
    )
    return Payment.objects.get(pk=payment.pk)


def test_a_manager_cancels_an_authorisation_and_the_provider_releases_it(client, env, tenant_a):
    payment = authorised(env, tenant_a)
    client.force_login(tenant_a.users["merchant_manager"])
    page = client.get(reverse("payments:detail", args=[payment.uuid])).content.decode()
    assert "Cancel authorisation" in page

    assert client.post(reverse("payments:void", args=[payment.uuid])).status_code == 302
    assert actions.payment_void_execute(payment_id=payment.pk) is True

    payment.refresh_from_db()
    assert (payment.status, payment.captured_minor) == (PaymentStatus.CANCELED, 0)
    emulated = SandboxPayment.objects.get(
        device__account=env.sandbox_account, order_ref=payment.reference
    )
    assert emulated.status == EmulatedStatus.CANCELED and not emulated.captured
    response = client.get(reverse("payments:status", args=[payment.uuid]))
    assert response.status_code == 286
    assert "Authorisation canceled." in response.content.decode()


def test_an_authorisation_captured_meanwhile_is_not_cancelled(env, tenant_a):
    payment = authorised(env, tenant_a)
    env.adapter.capture(
        payment.transaction_ref or payment.provider_ref,
        idempotency_key="0b8c2f3e-6a1d-4d5e-9f7a-2c3b4d5e6f70",
        amount_minor=None,
        currency=env.currency,
    )

    assert actions.payment_void_execute(payment_id=payment.pk) is False

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.AUTHORIZED  # the tracker or a person settles it
    assert payment.events.filter(action="void_failed").exists()

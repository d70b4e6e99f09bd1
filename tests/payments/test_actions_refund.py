"""Actions over real HTTP against the sandbox emulators: refunds within what was captured, aborts,
and who may do them. The worker halves (`*_execute`) are called directly, as the worker would."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from dashboard.models import Role
from payments import actions
from payments.models import EventSource, Payment, PaymentStatus
from payments.services import InvalidPayment, payment_create
from payments.state import payment_transition
from providers.base import PaymentKind, PaymentState, StartRequest
from providers.registry import capabilities_for
from sandbox.services import device_set_switches
from terminals.models import Terminal, TerminalStatus
from tests.contract.conftest import PROVIDERS, make_env
from tests.waiting import wait_until

# Klearly's refund runs on the sale's terminal and answers pending: the engine's tracker follows it
# (refund_settled when it is approved), so its completion is not tested here.
IMMEDIATE_REFUNDS = [p for p in PROVIDERS if p != "klearly"]
# A MobilePay payment whose customer paid is Reserved (authorised); aborting it cancels the
# reservation, which is never too late.
SETTLES_ON_PAYING = [p for p in PROVIDERS if p != "mobilepay"]
PARTIAL_CAPTURE = [p for p in PROVIDERS if capabilities_for(p).partial_capture]


def _terminal(env, tenant):
    return Terminal.objects.create(
        account=env.account,
        merchant_id=env.account.merchant_id,
        provider=env.provider_name,
        store=tenant.store,
        provider_ref=env.device.ref,
        name="Lane 1",
        status=TerminalStatus.ONLINE,
        status_checked_at=timezone.now(),
    )


def _started(env, tenant, amount_minor, kind="sale"):
    manager = tenant.users[Role.MERCHANT_MANAGER]
    payment = payment_create(
        user=manager,
        terminal=_terminal(env, tenant),
        kind=kind,
        amount_minor=amount_minor,
        currency=env.currency,
    )
    result = env.adapter.start_payment(
        StartRequest(
            kind=PaymentKind(kind),
            terminal_ref=env.device.ref,
            amount_minor=amount_minor,
            currency=env.currency,
            idempotency_key=str(payment.idempotency_key),
            reference=payment.reference,
        )
    )
    payment_transition(
        payment_id=payment.pk,
        to=PaymentStatus.PENDING,
        source=EventSource.WORKER,
        provider_ref=result.provider_ref,
    )
    payment.refresh_from_db()
    return payment


def _approved_sale(env, tenant, amount_minor=1001):
    """An approved, captured sale; MobilePay's customer-paid payment is Reserved, then captured."""
    kind = PaymentKind.AUTH if env.provider_name == "mobilepay" else PaymentKind.SALE
    payment = _started(env, tenant, amount_minor, kind=kind)
    final = wait_until(
        lambda: (
            (r := env.adapter.get_payment(payment.provider_ref, kind=kind)).state
            in (PaymentState.APPROVED, PaymentState.AUTHORIZED)
            and r
        )
    )
    if final.state == PaymentState.AUTHORIZED:
        payment_transition(
            payment_id=payment.pk,
            to=PaymentStatus.AUTHORIZED,
            source=EventSource.WORKER,
            transaction_ref=final.transaction_ref or "",
        )
        assert actions.payment_capture_execute(payment_id=payment.pk) is True
    else:
        payment_transition(
            payment_id=payment.pk,
            to=PaymentStatus.APPROVED,
            source=EventSource.WORKER,
            transaction_ref=final.transaction_ref or "",
            captured_minor=amount_minor,
        )
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.APPROVED
    assert payment.captured_minor == amount_minor
    return payment


def _env(request, tenant):
    env = make_env(request.param, tenant.merchant)
    request.addfinalizer(env.adapter.close)
    return env


@pytest.fixture(params=IMMEDIATE_REFUNDS)
def env(request, sandbox_settings, tenant_a):
    return _env(request, tenant_a)


@pytest.fixture(params=PROVIDERS)
def any_env(request, sandbox_settings, tenant_a):
    return _env(request, tenant_a)


@pytest.fixture(params=[p for p in SETTLES_ON_PAYING if p in IMMEDIATE_REFUNDS])
def settling_env(request, sandbox_settings, tenant_a):
    return _env(request, tenant_a)


@pytest.fixture(params=PARTIAL_CAPTURE)
def capture_env(request, sandbox_settings, tenant_a):
    return _env(request, tenant_a)


def test_two_partial_refunds_summing_to_the_captured_amount_pass_and_a_third_is_refused(
    env, tenant_a
):
    manager = tenant_a.users[Role.MERCHANT_MANAGER]
    sale = _approved_sale(env, tenant_a, 1001)
    first = actions.payment_refund(sale=sale, user=manager, amount_minor=501)
    assert actions.payment_refund_execute(refund_id=first.pk) is True
    second = actions.payment_refund(sale=sale, user=manager, amount_minor=500)
    assert actions.payment_refund_execute(refund_id=second.pk) is True
    sale.refresh_from_db()
    assert sale.refunded_minor == 1001
    assert Payment.objects.get(pk=first.pk).status == PaymentStatus.APPROVED
    with pytest.raises(InvalidPayment, match="Nothing is left"):
        actions.payment_refund(sale=sale, user=manager, amount_minor=1)


def test_a_refund_above_the_captured_total_is_refused_by_the_service_and_the_database(
    env, tenant_a
):
    manager = tenant_a.users[Role.MERCHANT_MANAGER]
    sale = _approved_sale(env, tenant_a, 1001)
    with pytest.raises(InvalidPayment, match="At most 1001"):
        actions.payment_refund(sale=sale, user=manager, amount_minor=1002)
    assert not sale.children.exists()
    with pytest.raises(IntegrityError), transaction.atomic():
        Payment.objects.filter(pk=sale.pk).update(refunded_minor=1002)


def test_a_cashier_may_not_refund(env, tenant_a):
    sale = _approved_sale(env, tenant_a, 1001)
    cashier = tenant_a.users[Role.CASHIER]
    with pytest.raises(PermissionDenied):
        actions.payment_refund(sale=sale, user=cashier, amount_minor=100)
    assert actions.refund_preflight(sale, cashier) == "Your role may not refund payments."


def test_aborting_a_pending_payment_cancels_it(any_env, tenant_a):
    env = any_env
    payment = _started(env, tenant_a, 1000)
    result = actions.payment_abort_execute(payment_id=payment.pk)
    assert result.outcome == actions.AbortOutcome.ABORTED
    assert Payment.objects.get(pk=payment.pk).status == PaymentStatus.CANCELED


def test_aborting_too_late_approves_it_and_offers_the_refund(settling_env, tenant_a):
    env = settling_env
    payment = _started(env, tenant_a, 1001)
    wait_until(
        lambda: (
            env.adapter.get_payment(payment.provider_ref, kind=PaymentKind.SALE).state
            == PaymentState.APPROVED
        )
    )
    result = actions.payment_abort_execute(payment_id=payment.pk)
    assert result.outcome == actions.AbortOutcome.TOO_LATE
    assert result.offer_refund is True
    sale = Payment.objects.get(pk=payment.pk)
    assert sale.status == PaymentStatus.APPROVED
    manager = tenant_a.users[Role.MERCHANT_MANAGER]
    refund = actions.payment_refund(sale=sale, user=manager, amount_minor=sale.refundable_minor)
    assert actions.payment_refund_execute(refund_id=refund.pk) is True
    sale.refresh_from_db()
    assert sale.refunded_minor == 1001


def test_an_authorisation_is_captured_in_part(capture_env, tenant_a):
    env = capture_env
    manager = tenant_a.users[Role.MERCHANT_MANAGER]
    payment = _started(env, tenant_a, 1001, kind="auth")
    wait_until(
        lambda: (
            env.adapter.get_payment(payment.provider_ref, kind=PaymentKind.AUTH).state
            == PaymentState.AUTHORIZED
        )
    )
    final = env.adapter.get_payment(payment.provider_ref, kind=PaymentKind.AUTH)
    payment_transition(
        payment_id=payment.pk,
        to=PaymentStatus.AUTHORIZED,
        source=EventSource.WORKER,
        transaction_ref=final.transaction_ref or "",
    )
    payment.refresh_from_db()
    cashier = tenant_a.users[Role.CASHIER]
    with pytest.raises(PermissionDenied):
        actions.payment_capture(payment=payment, user=cashier, amount_minor=501)
    assert actions.capture_preflight(payment, manager, 501) is None
    actions.payment_capture(payment=payment, user=manager, amount_minor=501)
    assert actions.payment_capture_execute(payment_id=payment.pk, amount_minor=501) is True
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.APPROVED
    assert payment.captured_minor == 501


# A 5xx on the abort (the sandbox fault switch). A lost abort response is not here: the adapters
# read the payment back after it and find it canceled, so the outcome is "aborted".
@pytest.mark.parametrize("fault", ["fail_next_5xx"])
def test_an_abort_that_cannot_reach_the_terminal_says_so_and_keeps_tracking(
    any_env, tenant_a, fault
):
    env = any_env
    payment = _started(env, tenant_a, 1000)
    device_set_switches(device=env.device, **{fault: 1 if fault == "fail_next_5xx" else True})
    result = actions.payment_abort_execute(payment_id=payment.pk)
    assert result.outcome == actions.AbortOutcome.UNREACHABLE
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING
    assert "Cancel the payment on the terminal" in payment.message
    assert payment.events.filter(action="abort_unreachable").exists()

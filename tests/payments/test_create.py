"""payment_create: the row and its key are committed in `created` before any provider call."""

from __future__ import annotations

import uuid

import pytest
from django.core.exceptions import PermissionDenied

from payments.models import Payment, PaymentEvent
from payments.services import (
    DuplicateReference,
    InvalidPayment,
    TerminalOccupied,
    payment_create,
)
from payments.state import payment_transition
from providers.base import MAX_REFERENCE_LENGTH
from tests.factories import PaymentFactory, make_payment_terminal

pytestmark = pytest.mark.django_db


def sale(user, terminal, **options):
    options = {"kind": "sale", "amount_minor": 1250, "currency": "USD", **options}
    return payment_create(user=user, terminal=terminal, **options)


def test_a_new_payment_copies_its_owners_from_the_terminal(terminal, tenant_a):
    cashier = tenant_a.users["cashier"]

    payment = sale(cashier, terminal, note="table 4")

    payment.refresh_from_db()
    assert payment.status == "created"
    assert (payment.merchant, payment.store, payment.account, payment.provider) == (
        tenant_a.merchant,
        tenant_a.store,
        terminal.account,
        "payroc",
    )
    assert (payment.amount_minor, payment.currency, payment.note) == (1250, "USD", "table 4")
    assert payment.started_by == cashier
    assert payment.occupies_terminal is True
    assert payment.provider_ref == "" and payment.started_at is None


def test_a_new_payment_has_a_uuid4_idempotency_key_and_a_generated_reference(terminal, tenant_a):
    first = sale(tenant_a.users["cashier"], terminal)
    payment_transition(payment_id=first.pk, to="failed", source="worker")
    second = sale(tenant_a.users["cashier"], terminal)

    for payment in (first, second):
        assert payment.idempotency_key.version == 4
        assert 1 <= len(payment.reference) <= MAX_REFERENCE_LENGTH
        assert payment.reference.isalnum()
    assert first.reference != second.reference
    assert first.idempotency_key != second.idempotency_key
    assert first.uuid != second.uuid


def test_the_first_event_says_who_created_it(terminal, tenant_a):
    cashier = tenant_a.users["cashier"]
    payment = sale(cashier, terminal)

    event = PaymentEvent.objects.get(payment=payment)
    assert (event.from_status, event.to_status, event.source, event.actor) == (
        "",
        "created",
        "user",
        cashier,
    )
    assert event.payload["reference"] == payment.reference


def test_a_second_payment_on_an_occupied_terminal_is_refused_in_plain_words(terminal, tenant_a):
    sale(tenant_a.users["cashier"], terminal)

    with pytest.raises(TerminalOccupied, match="Lane 1 is busy with another payment"):
        sale(tenant_a.users["merchant_manager"], terminal, amount_minor=999)
    assert Payment.objects.filter(terminal=terminal).count() == 1


def test_a_terminal_is_free_again_once_its_payment_is_final(terminal, tenant_a):
    first = sale(tenant_a.users["cashier"], terminal)
    payment_transition(payment_id=first.pk, to="pending", source="worker")
    payment_transition(payment_id=first.pk, to="approved", source="tracker")

    assert sale(tenant_a.users["cashier"], terminal).status == "created"


def test_a_typed_reference_is_kept_and_may_not_repeat_in_the_account(terminal, tenant_a):
    manager = tenant_a.users["merchant_manager"]
    first = sale(manager, terminal, reference=" ORDER-1001 ")
    assert first.reference == "ORDER-1001"
    payment_transition(payment_id=first.pk, to="failed", source="worker")

    with pytest.raises(DuplicateReference, match="ORDER-1001 was already used"):
        sale(manager, terminal, reference="ORDER-1001")


@pytest.mark.parametrize("reference", ["x" * (MAX_REFERENCE_LENGTH + 1), "order 1", "ordre#1"])
def test_a_reference_the_providers_cannot_take_is_refused(terminal, tenant_a, reference):
    with pytest.raises(InvalidPayment):
        sale(tenant_a.users["cashier"], terminal, reference=reference)
    assert not Payment.objects.exists()


@pytest.mark.parametrize("amount", [0, -5, 12.5, True, "1250"])
def test_an_amount_that_is_not_positive_minor_units_is_refused(terminal, tenant_a, amount):
    with pytest.raises(InvalidPayment, match="greater than zero"):
        sale(tenant_a.users["cashier"], terminal, amount_minor=amount)


def test_a_currency_that_is_not_a_code_is_refused(terminal, tenant_a):
    with pytest.raises(InvalidPayment, match="ISO 4217"):
        sale(tenant_a.users["cashier"], terminal, currency="dollars")


def test_the_same_form_token_twice_makes_one_payment(terminal, tenant_a):
    cashier = tenant_a.users["cashier"]
    token = uuid.uuid4()

    first = sale(cashier, terminal, idempotency_key=token)
    again = sale(cashier, terminal, idempotency_key=str(token))

    assert again.pk == first.pk
    assert Payment.objects.count() == 1


def test_another_users_form_token_is_not_replayed(terminal, tenant_a):
    token = uuid.uuid4()
    sale(tenant_a.users["cashier"], terminal, idempotency_key=token)
    with pytest.raises(InvalidPayment, match="already used"):
        sale(tenant_a.users["merchant_manager"], terminal, idempotency_key=token)


def test_a_reseller_admin_takes_no_payments(terminal, tenant_a):
    with pytest.raises(PermissionDenied):
        sale(tenant_a.users["reseller_admin"], terminal)


def test_a_cashier_cannot_start_a_refund(terminal, tenant_a):
    parent = PaymentFactory(terminal=terminal, status="approved", captured_minor=1250)
    with pytest.raises(PermissionDenied):
        sale(tenant_a.users["cashier"], terminal, kind="refund", parent=parent)


def test_a_terminal_of_another_tenant_is_out_of_scope(terminal, tenant_b):
    with pytest.raises(PermissionDenied):
        sale(tenant_b.users["merchant_manager"], terminal)
    assert not Payment.objects.exists()


def test_an_inactive_terminal_takes_no_payment(terminal, tenant_a):
    terminal.is_active = False
    terminal.save()
    with pytest.raises(InvalidPayment, match="no longer listed"):
        sale(tenant_a.users["cashier"], terminal)


def test_auth_only_is_refused_where_the_provider_has_no_capture(tenant_a):
    from tests.factories import make_account

    klearly = make_payment_terminal(make_account(tenant_a.merchant, "klearly"))
    with pytest.raises(InvalidPayment, match="no authorisations"):
        sale(tenant_a.users["merchant_manager"], klearly, kind="auth")


def test_a_reserved_mobilepay_payment_keeps_the_pos_until_captured(mobilepay_terminal, tenant_a):
    manager = tenant_a.users["merchant_manager"]
    reserved = sale(manager, mobilepay_terminal, currency="DKK")
    payment_transition(payment_id=reserved.pk, to="pending", source="worker")
    payment_transition(payment_id=reserved.pk, to="authorized", source="tracker")

    with pytest.raises(TerminalOccupied):
        sale(manager, mobilepay_terminal, currency="DKK")

    payment_transition(
        payment_id=reserved.pk, to="approved", source="worker", captured_minor=reserved.amount_minor
    )
    assert sale(manager, mobilepay_terminal, currency="DKK").status == "created"


def test_a_referenced_refund_runs_through_the_sales_account_on_no_terminal(terminal, tenant_a):
    manager = tenant_a.users["merchant_manager"]
    parent = PaymentFactory(terminal=terminal, status="approved", captured_minor=1250)
    refund = payment_create(
        user=manager, terminal=None, kind="refund", amount_minor=250, currency="USD", parent=parent
    )

    refund.refresh_from_db()
    assert (refund.parent, refund.terminal, refund.account) == (parent, None, terminal.account)
    assert (refund.merchant, refund.store) == (parent.merchant, parent.store)
    assert refund.occupies_terminal is False

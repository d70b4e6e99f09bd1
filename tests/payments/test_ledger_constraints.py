"""The database itself refuses what would lose or double money, whatever the code above it does."""

from __future__ import annotations

import uuid

import pytest
from django.db import IntegrityError, transaction

import providers.base
from payments.models import (
    FINAL_STATUSES,
    Payment,
    PaymentKind,
    PaymentStatus,
    ReceivedWebhook,
    SignatureVerdict,
)
from providers.base import FINAL_STATES, PaymentState
from tests.factories import PaymentFactory, make_account, make_payment_terminal

pytestmark = pytest.mark.django_db


def _refused(**fields) -> bool:
    try:
        with transaction.atomic():
            PaymentFactory(**fields)
    except IntegrityError:
        return True
    return False


def test_status_and_kind_words_are_the_providers_words():
    assert set(PaymentStatus.values) == {state.value for state in PaymentState}
    assert set(FINAL_STATUSES) == {state.value for state in FINAL_STATES}
    assert set(PaymentKind.values) == {kind.value for kind in providers.base.PaymentKind}


@pytest.mark.parametrize("status", ["created", "pending", "unknown"])
def test_database_refuses_a_second_payment_on_a_terminal_held_by_one_in(terminal, status):
    PaymentFactory(terminal=terminal, status=status)
    assert _refused(terminal=terminal)
    assert Payment.objects.filter(terminal=terminal).count() == 1


@pytest.mark.parametrize("status", FINAL_STATUSES)
def test_a_final_payment_frees_its_terminal(terminal, status):
    PaymentFactory(terminal=terminal, status=status)
    PaymentFactory(terminal=terminal)
    assert Payment.objects.filter(terminal=terminal).count() == 2


def test_a_payment_reads_back_whether_it_occupies_its_terminal(terminal):
    payment = PaymentFactory(terminal=terminal, status="pending")
    payment.refresh_from_db()
    assert payment.occupies_terminal is True
    Payment.objects.filter(pk=payment.pk).update(status="approved")
    payment.refresh_from_db()
    assert payment.occupies_terminal is False


def test_an_authorised_payment_frees_a_payroc_terminal(terminal):
    PaymentFactory(terminal=terminal, kind="auth", status="authorized")
    PaymentFactory(terminal=terminal)
    assert Payment.objects.filter(terminal=terminal).count() == 2


def test_a_reserved_mobilepay_payment_still_occupies_the_pos(mobilepay_terminal):
    PaymentFactory(terminal=mobilepay_terminal, status="authorized")
    assert _refused(terminal=mobilepay_terminal)


def test_an_update_to_pending_cannot_sneak_a_second_open_payment_onto_a_terminal(terminal):
    PaymentFactory(terminal=terminal, status="pending")
    done = PaymentFactory(terminal=terminal, status="declined")
    with pytest.raises(IntegrityError), transaction.atomic():
        Payment.objects.filter(pk=done.pk).update(status="pending")


def test_referenced_refunds_without_a_terminal_do_not_occupy_anything(terminal):
    sale = PaymentFactory(terminal=terminal, status="approved", captured_minor=1250)
    for _ in range(2):
        PaymentFactory(
            terminal=None,
            account=terminal.account,
            merchant=terminal.merchant,
            store=terminal.store,
            kind="refund",
            parent=sale,
            amount_minor=100,
        )
    assert sale.children.count() == 2


def test_database_refuses_refunding_more_than_was_captured(terminal):
    assert _refused(terminal=terminal, status="approved", captured_minor=1000, refunded_minor=1001)
    payment = PaymentFactory(terminal=terminal, status="approved", captured_minor=1000)
    with pytest.raises(IntegrityError), transaction.atomic():
        Payment.objects.filter(pk=payment.pk).update(refunded_minor=1001)
    Payment.objects.filter(pk=payment.pk).update(refunded_minor=1000)
    payment.refresh_from_db()
    assert payment.refunded_minor == 1000


def test_database_refuses_a_zero_amount_and_a_currency_that_is_not_a_code(terminal):
    assert _refused(terminal=terminal, amount_minor=0)
    assert _refused(terminal=terminal, currency="usd")
    assert not Payment.objects.exists()


def test_database_refuses_a_duplicate_idempotency_key(terminal, tenant_a):
    key = uuid.uuid4()
    other_terminal = make_payment_terminal(terminal.account, store=tenant_a.store)
    PaymentFactory(terminal=terminal, idempotency_key=key)
    assert _refused(terminal=other_terminal, idempotency_key=key)


def test_database_refuses_a_provider_reference_twice_in_one_account(terminal):
    PaymentFactory(terminal=terminal, status="approved", provider_ref="instr-1")
    assert _refused(terminal=terminal, status="approved", provider_ref="instr-1")


def test_many_payments_may_still_lack_a_provider_reference(terminal):
    PaymentFactory(terminal=terminal, status="failed", provider_ref="")
    PaymentFactory(terminal=terminal, status="failed", provider_ref="")
    assert Payment.objects.filter(provider_ref="").count() == 2


def test_the_same_provider_reference_may_appear_in_another_account(terminal, tenant_a):
    other = make_payment_terminal(make_account(tenant_a.merchant, "payroc"), store=tenant_a.store)
    PaymentFactory(terminal=terminal, status="approved", provider_ref="instr-1")
    PaymentFactory(terminal=other, status="approved", provider_ref="instr-1")
    assert Payment.objects.filter(provider_ref="instr-1").count() == 2


def test_database_refuses_our_reference_twice_in_one_account(terminal):
    PaymentFactory(terminal=terminal, status="approved", reference="ORDER-1")
    assert _refused(terminal=terminal, status="approved", reference="ORDER-1")


def test_a_webhook_event_is_stored_once_per_account(terminal):
    def receive(event_id, verdict=SignatureVerdict.VALID):
        from django.utils import timezone

        return ReceivedWebhook.objects.create(
            account=terminal.account,
            provider=terminal.provider,
            event_id=event_id,
            body="{}",
            verdict=verdict,
            received_at=timezone.now(),
        )

    receive("evt-1", SignatureVerdict.INVALID)  # a forgery does not take the genuine event's id
    receive("evt-1")
    with pytest.raises(IntegrityError), transaction.atomic():
        receive("evt-1")
    receive("")
    receive("")
    assert ReceivedWebhook.objects.filter(verdict="valid").count() == 3

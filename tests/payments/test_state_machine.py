"""One state machine: every change is a conditional UPDATE plus its event; a refused change is a no-op."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from payments.models import FINAL_STATUSES, Payment, PaymentEvent, PaymentStatus
from payments.state import (
    TRANSITIONS,
    IllegalTransition,
    allowed_sources,
    can_transition,
    payment_note,
    payment_transition,
)
from tests.factories import PaymentFactory

pytestmark = pytest.mark.django_db

S = PaymentStatus

# The architecture's picture, written out edge by edge.
ALLOWED = {
    ("created", "pending"),
    ("created", "failed"),
    ("created", "unknown"),
    *{("pending", to) for to in [*FINAL_STATUSES, "authorized", "unknown"]},
    ("authorized", "approved"),
    ("authorized", "canceled"),
    ("authorized", "unknown"),
    *{("unknown", to) for to in [*FINAL_STATUSES, "authorized", "pending"]},
}
ALL_PAIRS = [(a, b) for a in S.values for b in S.values]


def test_the_table_is_the_architectures_picture():
    assert {(a, b) for a, b in ALL_PAIRS if can_transition(a, b)} == ALLOWED
    assert all(not TRANSITIONS[S(final)] for final in FINAL_STATUSES)


@pytest.mark.parametrize(("from_status", "to"), sorted(ALLOWED))
def test_an_allowed_transition_changes_the_status_and_writes_one_event(
    terminal, from_status, to, tenant_a
):
    payment = PaymentFactory(terminal=terminal, status=from_status)
    actor = tenant_a.users["merchant_manager"]

    assert payment_transition(
        payment_id=payment.pk,
        to=to,
        source="tracker",
        actor=actor,
        provider_status="RAW-WORD",
        detail="read from the provider",
    )

    payment.refresh_from_db()
    assert payment.status == to
    assert payment.provider_status == "RAW-WORD"
    event = PaymentEvent.objects.get(payment=payment)
    assert (event.from_status, event.to_status, event.source) == (from_status, to, "tracker")
    assert (event.actor, event.provider_status, event.detail) == (
        actor,
        "RAW-WORD",
        "read from the provider",
    )
    assert (payment.finished_at is not None) == (to in FINAL_STATUSES)


@pytest.mark.parametrize(
    ("from_status", "to"), sorted(pair for pair in ALL_PAIRS if pair not in ALLOWED)
)
def test_a_transition_the_table_refuses_changes_nothing(terminal, from_status, to):
    payment = PaymentFactory(terminal=terminal, status=from_status, provider_status="BEFORE")

    assert not payment_transition(
        payment_id=payment.pk, to=to, source="webhook", provider_status="AFTER"
    )

    payment.refresh_from_db()
    assert (payment.status, payment.provider_status) == (from_status, "BEFORE")
    assert not PaymentEvent.objects.exists()


def test_allowed_from_narrows_what_the_caller_accepts(terminal):
    payment = PaymentFactory(terminal=terminal, status="unknown")

    assert not payment_transition(
        payment_id=payment.pk, to="timed_out", allowed_from=["pending"], source="tracker"
    )
    assert Payment.objects.get(pk=payment.pk).status == "unknown"
    assert payment_transition(
        payment_id=payment.pk,
        to="timed_out",
        allowed_from=["pending", "unknown"],
        source="reconciler",
    )
    assert Payment.objects.get(pk=payment.pk).status == "timed_out"


def test_asking_for_an_edge_the_machine_never_has_is_a_programming_error(terminal):
    payment = PaymentFactory(terminal=terminal, status="approved")
    with pytest.raises(IllegalTransition):
        payment_transition(
            payment_id=payment.pk, to="pending", allowed_from=["approved"], source="user"
        )


def test_a_transition_sets_only_the_fields_a_transition_may_set(terminal):
    payment = PaymentFactory(terminal=terminal)
    with pytest.raises(TypeError, match="amount_minor"):
        payment_transition(payment_id=payment.pk, to="pending", source="worker", amount_minor=1)
    with pytest.raises(TypeError, match="refunded_minor"):
        payment_transition(payment_id=payment.pk, to="pending", source="worker", refunded_minor=1)
    assert Payment.objects.get(pk=payment.pk).status == "created"


def test_a_start_accepted_records_the_providers_references_and_the_deadline(terminal):
    payment = PaymentFactory(terminal=terminal)
    started = timezone.now()

    assert payment_transition(
        payment_id=payment.pk,
        to="pending",
        source="worker",
        provider_ref="instr-42",
        started_at=started,
        deadline_at=started + timedelta(seconds=180),
        provider_data={"paymentToken": "tok_secret", "terminalSerial": "1850010868"},
    )

    payment.refresh_from_db()
    assert payment.provider_ref == "instr-42"
    assert payment.deadline_at == started + timedelta(seconds=180)
    assert payment.provider_data == {"paymentToken": "[redacted]", "terminalSerial": "1850010868"}
    assert payment.finished_at is None


def test_reaching_a_final_state_ends_the_lease_and_the_attention_flag(terminal):
    payment = PaymentFactory(
        terminal=terminal,
        status="unknown",
        lease_owner="worker-1",
        lease_until=timezone.now() + timedelta(minutes=1),
        needs_attention=True,
        attention_reason="Check the provider's portal",
    )

    assert payment_transition(
        payment_id=payment.pk,
        to="approved",
        source="reconciler",
        card_brand="Visa",
        card_last4="0010",
        auth_code="123456",
    )

    payment.refresh_from_db()
    assert (payment.lease_owner, payment.lease_until, payment.needs_attention) == ("", None, False)
    assert (payment.card_brand, payment.card_last4, payment.auth_code) == ("Visa", "0010", "123456")
    assert payment.finished_at is not None


def test_a_final_transition_frees_the_terminal_for_the_next_payment(terminal):
    payment = PaymentFactory(terminal=terminal, status="pending")
    assert payment_transition(payment_id=payment.pk, to="declined", source="tracker")
    PaymentFactory(terminal=terminal)
    assert Payment.objects.filter(terminal=terminal).open().count() == 1


def test_the_event_payload_is_stored_redacted(terminal):
    payment = PaymentFactory(terminal=terminal, status="pending")
    payment_transition(
        payment_id=payment.pk,
        to="approved",
        source="tracker",
        payload={"card": {"number": "4111 1111 1111 1111", "cvv": "123"}, "status": "COMPLETE"},
    )
    event = PaymentEvent.objects.get(payment=payment)
    assert event.payload == {
        "card": {"number": "••••1111", "cvv": "[redacted]"},
        "status": "COMPLETE",
    }


def test_a_note_records_a_user_action_without_changing_the_state(terminal, tenant_a):
    payment = PaymentFactory(terminal=terminal, status="pending")
    cashier = tenant_a.users["cashier"]

    event = payment_note(
        payment_id=payment.pk,
        action="abort_requested",
        source="user",
        actor=cashier,
        detail=f"Abort requested by {cashier.email}",
    )

    assert Payment.objects.get(pk=payment.pk).status == "pending"
    assert (event.action, event.actor, event.to_status) == ("abort_requested", cashier, "")
    assert not event.is_transition


def test_allowed_sources_are_read_from_the_table():
    assert allowed_sources("approved") == {S.PENDING, S.AUTHORIZED, S.UNKNOWN}
    assert allowed_sources("created") == frozenset()


def test_an_unknown_payment_id_is_an_error():
    with pytest.raises(Payment.DoesNotExist):
        payment_transition(payment_id=987654, to="pending", source="worker")

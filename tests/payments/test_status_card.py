"""The status card's words, per state and per provider, what it tells the merchant to do next,
how long the payment has run and when the terminal gives up. Read through the status partial, as
the page's poll reads it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from payments.models import PaymentStatus
from payments.state import payment_note
from providers.base import TRACKING_GRACE
from tests.factories import PaymentFactory, make_account, make_payment_terminal

pytestmark = pytest.mark.django_db

PROVIDERS = ["payroc", "usaepay", "komoju", "klearly", "mobilepay"]


def card(client, payment) -> tuple[int, str]:
    response = client.get(reverse("payments:status", args=[payment.uuid]))
    return response.status_code, response.content.decode()


@pytest.fixture
def on(tenant_a):
    """A payment in `status` on a terminal of `provider`."""

    def make(provider, status, **fields):
        account = make_account(tenant_a.merchant, provider)
        terminal = make_payment_terminal(account, store=tenant_a.store, name=f"{provider} lane")
        return PaymentFactory(terminal=terminal, status=status, **fields)

    return make


@pytest.fixture
def cashier(client, tenant_a):
    client.force_login(tenant_a.users["cashier"])
    return client


@pytest.mark.parametrize("provider", PROVIDERS)
def test_waiting_words_say_what_the_customer_does_at_that_provider(cashier, on, provider):
    payment = on(provider, PaymentStatus.PENDING)

    code, html = card(cashier, payment)

    expected = (
        "Waiting for the customer to approve in the MobilePay app"
        if provider == "mobilepay"
        else "Waiting for the customer to tap, insert or swipe"
    )
    assert code == 200 and expected in html


@pytest.mark.parametrize(
    ("status", "fields", "words", "hint"),
    [
        ("created", {}, "Sending to the terminal…", "a worker is sending it to the terminal"),
        (
            "approved",
            {"card_brand": "Visa", "card_last4": "0010", "auth_code": "123456"},
            "Approved: Visa ••••0010, authorisation 123456",
            "",
        ),
        (
            "authorized",
            {"card_brand": "Visa", "card_last4": "0010", "auth_code": "654321"},
            "Authorised (capture to take the money): Visa ••••0010, authorisation 654321",
            "capture it to take the money, or cancel the authorisation",
        ),
        (
            "declined",
            {},
            "Declined by the card issuer",
            "No money was taken. You can charge again.",
        ),
        ("canceled", {}, "Cancelled on the terminal", "No money was taken. You can charge again."),
        (
            "timed_out",
            {},
            "Timed out: nobody presented a card",
            "No money was taken. You can charge again.",
        ),
        (
            "failed",
            {"message": "The terminal is offline."},
            "Failed: The terminal is offline.",
            "the terminal is free again",
        ),
        (
            "unknown",
            {},
            "Result unknown: we are checking with the provider. Do not charge again.",
            "The terminal stays locked until the provider tells us",
        ),
    ],
)
def test_each_state_in_plain_words_with_what_to_do_next(cashier, on, status, fields, words, hint):
    payment = on("payroc", status, **fields)

    code, html = card(cashier, payment)

    assert f'data-testid="status-words">{words}</strong>' in html
    if hint:
        assert hint in html
    else:
        assert 'data-testid="status-hint"' not in html
    assert code == (286 if payment.is_final else 200)


def test_the_providers_own_decline_reason_is_shown(cashier, on):
    payment = on("usaepay", PaymentStatus.DECLINED, message="Insufficient funds")

    _, html = card(cashier, payment)

    assert 'data-testid="status-words">Insufficient funds</strong>' in html


def test_an_unknown_payment_needing_attention_shows_the_steps_to_settle_it(cashier, on):
    payment = on(
        "usaepay",
        PaymentStatus.UNKNOWN,
        needs_attention=True,
        attention_reason="Look it up in the provider's portal by the order id REF1.",
    )

    _, html = card(cashier, payment)

    assert "Do not charge again." in html
    assert "Look it up in the provider&#x27;s portal by the order id REF1." in html


def test_a_referenced_refund_waits_for_the_provider_not_for_a_customer(client, tenant_a, on):
    sale = on("komoju", PaymentStatus.APPROVED, captured_minor=1250)
    refund = PaymentFactory(
        terminal=None,
        account=sale.account,
        merchant=sale.merchant,
        store=sale.store,
        kind="refund",
        parent=sale,
        status=PaymentStatus.PENDING,
    )
    client.force_login(tenant_a.users["merchant_manager"])

    _, html = card(client, refund)

    assert "Waiting for KOMOJU to confirm the refund" in html


def test_a_failed_refund_says_the_sale_can_still_be_refunded(client, tenant_a, on):
    sale = on("payroc", PaymentStatus.APPROVED, captured_minor=1250)
    refund = PaymentFactory(
        terminal=None,
        account=sale.account,
        merchant=sale.merchant,
        store=sale.store,
        kind="refund",
        parent=sale,
        status=PaymentStatus.FAILED,
    )
    client.force_login(tenant_a.users["merchant_manager"])

    _, html = card(client, refund)

    assert "No money was refunded: the sale can still be refunded." in html
    assert "You can charge again" not in html


def test_a_waiting_payment_shows_how_long_it_has_run_and_when_the_terminal_gives_up(cashier, on):
    now = timezone.now()
    # Started 95 s ago on a terminal that waits 120 s: it gives up in 25 s; our deadline is later.
    payment = on(
        "payroc",
        PaymentStatus.PENDING,
        created_at=now - timedelta(seconds=95),
        started_at=now - timedelta(seconds=94),
        deadline_at=now - timedelta(seconds=94) + timedelta(seconds=120) + TRACKING_GRACE,
    )

    _, html = card(cashier, payment)

    assert "1 min 35 s since it began" in html
    # 26 s left when the card was read; a slow machine may render it a second or two later.
    assert any(f"the terminal gives up in {s} s" in html for s in (24, 25, 26))


def test_past_the_terminals_timeout_it_waits_for_the_last_word(cashier, on):
    now = timezone.now()
    payment = on(
        "usaepay",
        PaymentStatus.PENDING,
        created_at=now - timedelta(seconds=200),
        deadline_at=now + timedelta(seconds=30),  # inside our grace, past the terminal's timeout
    )

    _, html = card(cashier, payment)

    assert "3 min 20 s since it began" in html
    assert "the terminal&#x27;s time is up: waiting for its last word" in html


def test_a_final_payment_shows_how_long_it_took_and_no_give_up_time(cashier, on):
    now = timezone.now()
    payment = on(
        "payroc",
        PaymentStatus.APPROVED,
        created_at=now - timedelta(hours=2),
        finished_at=now - timedelta(hours=2) + timedelta(seconds=42),
        deadline_at=now - timedelta(hours=1),
    )

    _, html = card(cashier, payment)

    assert "Took 42 s" in html
    assert "since it began" not in html and "gives up" not in html


def test_an_abort_the_provider_refused_while_the_payment_runs_says_check_the_terminal(cashier, on):
    payment = on("klearly", PaymentStatus.PENDING)
    payment_note(payment_id=payment.pk, action="abort_requested", source="user")
    payment_note(payment_id=payment.pk, action="abort_refused", source="worker")

    code, html = card(cashier, payment)

    assert code == 200 and 'data-outcome="refused"' in html
    assert "The provider refused the abort" in html
    assert "cancel the payment there if it is still running" in html


def test_a_declined_payment_after_an_abort_keeps_its_own_words(cashier, on):
    payment = on("payroc", PaymentStatus.DECLINED)
    payment_note(payment_id=payment.pk, action="abort_requested", source="user")

    _, html = card(cashier, payment)

    assert 'data-testid="abort-outcome"' not in html
    assert "Declined by the card issuer" in html and "No money was taken." in html


def test_the_card_reads_its_abort_note_in_the_same_single_query(cashier, on):
    payment = on("usaepay", PaymentStatus.PENDING)
    payment_note(payment_id=payment.pk, action="abort_requested", source="user")
    payment_note(payment_id=payment.pk, action="abort_unreachable", source="worker")

    with CaptureQueriesContext(connection) as queries:
        _, html = card(cashier, payment)

    own = [
        q["sql"]
        for q in queries
        if "django_session" not in q["sql"]
        and "dashboard_" not in q["sql"]
        and "SAVEPOINT" not in q["sql"]
    ]
    assert len(own) == 1 and own[0].startswith('SELECT "payments_payment"')
    assert 'data-outcome="unreachable"' in html


def test_an_abort_of_a_payment_whose_result_is_unknown_says_cancel_it_on_the_terminal(cashier, on):
    payment = on("usaepay", PaymentStatus.UNKNOWN)
    payment_note(payment_id=payment.pk, action="abort_requested", source="user")

    _, html = card(cashier, payment)

    assert 'data-outcome="unreachable"' in html and "Press Cancel on the terminal itself" in html
    assert "Do not charge again." in html

"""The Charge form's rules beyond tests/payments/test_views_payments.py: the currency's decimals
(none for JPY, three for BHD), the merchant's maximum per payment, terminals that can no longer be
charged, and the duplicate guard's edges (only the same amount, approved, on the same terminal,
in the last 10 minutes). Each refusal is a message on the form with nothing saved."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from payments.models import Payment
from tests.factories import PaymentFactory, StoreFactory, make_payment_terminal

pytestmark = pytest.mark.django_db


def charge(client, terminal, **fields):
    data = {
        "terminal": terminal.pk,
        "token": str(uuid.uuid4()),
        "amount": "12.50",
        "kind": "sale",
        "reference": uuid.uuid4().hex[:12].upper(),
        "note": "",
        **fields,
    }
    return client.post(reverse("payments:new"), data)


def in_currency(tenant, currency):
    tenant.merchant.default_currency = currency
    tenant.merchant.save()


@pytest.mark.parametrize(
    ("currency", "typed", "message"),
    [
        ("JPY", "1000.5", "JPY has no decimals: enter a whole amount."),
        ("BHD", "1.2345", "BHD has at most 3 decimals."),
        ("USD", "-5", "The amount must be greater than zero."),
        ("USD", "0.00", "The amount must be greater than zero."),
    ],
)
def test_an_amount_the_currency_cannot_hold_is_refused_on_the_form(
    client, tenant_a, terminal, currency, typed, message
):
    in_currency(tenant_a, currency)
    client.force_login(tenant_a.users["cashier"])

    response = charge(client, terminal, amount=typed)

    assert response.status_code == 200 and message in response.content.decode()
    assert not Payment.objects.exists()


@pytest.mark.parametrize(
    ("currency", "typed", "minor"),
    [("JPY", "1,000", 1000), ("BHD", "1.234", 1234), ("USD", "1,000.50", 100050)],
)
def test_an_amount_in_the_currencys_own_decimals_is_taken(
    client, tenant_a, terminal, currency, typed, minor
):
    in_currency(tenant_a, currency)
    client.force_login(tenant_a.users["cashier"])

    response = charge(client, terminal, amount=typed)

    payment = Payment.objects.get()
    assert response.status_code == 302
    assert (payment.amount_minor, payment.currency) == (minor, currency)


def test_the_merchants_maximum_per_payment_is_the_limit(client, tenant_a, terminal, settings):
    settings.PAYMENT_MAX_MINOR = 5000
    in_currency(tenant_a, "USD")
    client.force_login(tenant_a.users["cashier"])

    refused = charge(client, terminal, amount="50.01")

    assert "The most one payment may be is 50.00 USD." in refused.content.decode()
    assert not Payment.objects.exists()
    assert charge(client, terminal, amount="50.00").status_code == 302
    assert Payment.objects.get().amount_minor == 5000


def test_a_terminal_its_provider_no_longer_lists_is_refused_on_the_form(client, tenant_a, terminal):
    terminal.is_active = False
    terminal.save()
    client.force_login(tenant_a.users["cashier"])

    response = charge(client, terminal)

    assert "no longer listed by its provider" in response.content.decode()
    assert not Payment.objects.exists()


def test_a_terminal_moved_out_of_the_cashiers_store_cannot_be_charged(client, tenant_a, terminal):
    client.force_login(tenant_a.users["cashier"])
    form = client.get(reverse("payments:new") + f"?terminal={terminal.pk}")
    assert form.status_code == 200
    terminal.store = StoreFactory(merchant=tenant_a.merchant, name="Harbour Road")
    terminal.save()

    response = charge(client, terminal)

    assert response.status_code == 404
    assert "not yours to see" in response.content.decode()
    assert not Payment.objects.exists()


def test_the_charge_page_of_an_occupied_terminal_says_so_before_anything_is_typed(
    client, tenant_a, terminal
):
    PaymentFactory(terminal=terminal, status="unknown")
    client.force_login(tenant_a.users["cashier"])

    page = client.get(reverse("payments:new") + f"?terminal={terminal.pk}").content.decode()

    assert 'data-testid="terminal-problem"' in page and "busy with another payment" in page


def test_a_terminal_whose_status_is_unknown_can_take_a_payment(client, tenant_a, terminal):
    terminal.status = "unknown"
    terminal.save()
    client.force_login(tenant_a.users["cashier"])

    assert f"?terminal={terminal.pk}" in client.get(reverse("payments:new")).content.decode()
    assert charge(client, terminal).status_code == 302


# -- the duplicate guard ----------------------------------------------------------------------------


def approved_earlier(terminal, tenant, *, minutes_ago: float, amount_minor: int = 1250, **fields):
    at = timezone.now() - timedelta(minutes=minutes_ago)
    return PaymentFactory(
        terminal=terminal,
        status=fields.pop("status", "approved"),
        amount_minor=amount_minor,
        currency=tenant.merchant.default_currency,
        created_at=at - timedelta(seconds=30),
        finished_at=at,
        **fields,
    )


def warned(response) -> bool:
    return "was approved on this terminal" in response.content.decode()


def test_an_approval_eleven_minutes_ago_is_not_a_duplicate(client, tenant_a, terminal):
    approved_earlier(terminal, tenant_a, minutes_ago=11)
    client.force_login(tenant_a.users["cashier"])

    response = charge(client, terminal, amount="12.50")

    assert not warned(response) and response.status_code == 302
    assert Payment.objects.count() == 2


def test_the_window_counts_from_the_approval_not_from_the_charge(client, tenant_a, terminal):
    # Charged 12 minutes ago, approved 9 minutes ago after a long wait on the terminal.
    earlier = approved_earlier(terminal, tenant_a, minutes_ago=9)
    earlier.created_at = timezone.now() - timedelta(minutes=12)
    earlier.save()
    client.force_login(tenant_a.users["cashier"])

    response = charge(client, terminal, amount="12.50")

    assert warned(response) and response.status_code == 200
    assert Payment.objects.count() == 1


@pytest.mark.parametrize(
    ("what", "fields"),
    [
        ("another amount", {"amount_minor": 1251}),
        ("a declined payment", {"status": "declined"}),
        ("an open authorisation", {"status": "authorized"}),
    ],
)
def test_only_the_same_amount_approved_is_a_duplicate(client, tenant_a, terminal, what, fields):
    approved_earlier(terminal, tenant_a, minutes_ago=2, **fields)
    client.force_login(tenant_a.users["cashier"])

    response = charge(client, terminal, amount="12.50")

    assert not warned(response), what
    assert response.status_code == 302


def test_the_same_amount_on_another_terminal_is_not_a_duplicate(
    client, tenant_a, terminal, payroc_account
):
    other = make_payment_terminal(payroc_account, store=tenant_a.store, name="Lane 2")
    approved_earlier(other, tenant_a, minutes_ago=2)
    client.force_login(tenant_a.users["cashier"])

    response = charge(client, terminal, amount="12.50")

    assert not warned(response) and response.status_code == 302


def test_confirming_a_duplicate_twice_still_makes_one_payment(client, tenant_a, terminal):
    approved_earlier(terminal, tenant_a, minutes_ago=2)
    client.force_login(tenant_a.users["cashier"])
    token = str(uuid.uuid4())

    first_try = charge(client, terminal, amount="12.50", token=token, reference="DUP1")
    assert warned(first_try) and f'value="{token}"' in first_try.content.decode()
    confirmed = [
        charge(
            client, terminal, amount="12.50", token=token, reference="DUP1", confirm_duplicate="on"
        )
        for _ in range(2)
    ]

    made = Payment.objects.get(reference="DUP1")
    assert [r.url for r in confirmed] == [reverse("payments:detail", args=[made.uuid])] * 2
    assert Payment.objects.count() == 2

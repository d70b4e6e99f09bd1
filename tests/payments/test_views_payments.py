"""The merchant's payment screens: the Charge form's validation, its one-time token, the duplicate
guard, the status partial (one read, 286 once final), roles and another tenant's 404."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from payments.forms import parse_amount
from payments.models import Payment
from payments.state import payment_transition
from tests.factories import PaymentFactory

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


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("12.50", "EUR", 1250),
        ("1,000", "JPY", 1000),
        ("1,000.5", "USD", 100050),
        ("12,50", "EUR", 1250),
        ("7", "USD", 700),
    ],
)
def test_amounts_are_read_as_the_merchant_types_them(text, currency, minor):
    assert parse_amount(text, currency) == minor


def test_the_new_payment_page_lists_only_terminals_that_can_take_one(
    client, tenant_a, terminal, mobilepay_terminal
):
    terminal.status = "offline"
    terminal.save()
    PaymentFactory(terminal=mobilepay_terminal, status="pending")
    client.force_login(tenant_a.users["cashier"])

    page = client.get(reverse("payments:new")).content.decode()

    assert "Lane 1" not in page and "MobilePay PoS" not in page
    assert "No terminal can take a payment now" in page


def test_an_available_terminal_is_listed_with_a_charge_link(client, tenant_a, terminal):
    client.force_login(tenant_a.users["cashier"])

    page = client.get(reverse("payments:new")).content.decode()

    assert f"?terminal={terminal.pk}" in page and "Lane 1" in page


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("0", "greater than zero"),
        ("12.505", "at most 2 decimals"),
        ("abc", "as a number"),
        ("99999999", "The most one payment may be"),
    ],
)
def test_a_wrong_amount_is_refused_with_its_message_on_the_form(
    client, tenant_a, terminal, amount, message
):
    client.force_login(tenant_a.users["cashier"])

    response = charge(client, terminal, amount=amount)

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Payment.objects.exists()


def test_an_offline_terminal_is_refused_on_the_form(client, tenant_a, terminal):
    terminal.status = "offline"
    terminal.save()
    client.force_login(tenant_a.users["cashier"])

    response = charge(client, terminal)

    assert "cannot take a payment now" in response.content.decode()
    assert not Payment.objects.exists()


def test_a_busy_terminal_is_refused_on_the_form(client, tenant_a, terminal):
    PaymentFactory(terminal=terminal, status="pending")
    client.force_login(tenant_a.users["cashier"])

    response = charge(client, terminal)

    assert "busy with another payment" in response.content.decode()
    assert Payment.objects.count() == 1


def test_a_valid_charge_makes_the_payment_and_shows_its_page(client, tenant_a, terminal):
    client.force_login(tenant_a.users["cashier"])

    response = charge(client, terminal, amount="12.50", note="table 4")

    payment = Payment.objects.get()
    assert (payment.amount_minor, payment.currency, payment.note) == (
        1250,
        tenant_a.merchant.default_currency,
        "table 4",
    )
    assert response.status_code == 302 and response.url == reverse(
        "payments:detail", args=[payment.uuid]
    )


def test_two_posts_of_one_form_make_one_payment(client, tenant_a, terminal):
    client.force_login(tenant_a.users["cashier"])
    token = str(uuid.uuid4())

    first = charge(client, terminal, token=token, reference="ONCE1")
    second = charge(client, terminal, token=token, reference="ONCE1")

    payment = Payment.objects.get()
    assert first.url == second.url == reverse("payments:detail", args=[payment.uuid])


def test_the_same_amount_approved_minutes_ago_asks_to_confirm(client, tenant_a, terminal):
    earlier = PaymentFactory(
        terminal=terminal,
        status="approved",
        amount_minor=1250,
        currency=tenant_a.merchant.default_currency,
    )
    client.force_login(tenant_a.users["cashier"])

    warned = charge(client, terminal, amount="12.50")

    assert "Charge again anyway" in warned.content.decode()
    assert "was approved on this terminal" in warned.content.decode()
    assert list(Payment.objects.all()) == [earlier]

    confirmed = charge(client, terminal, amount="12.50", confirm_duplicate="on")

    assert confirmed.status_code == 302 and Payment.objects.count() == 2


def test_the_status_partial_is_one_read_and_polls_while_open(client, tenant_a, terminal):
    payment = PaymentFactory(terminal=terminal, status="pending")
    client.force_login(tenant_a.users["cashier"])

    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("payments:status", args=[payment.uuid]))

    # The login's own reads (session, user, membership) and the session save are the middleware's;
    # the view itself makes one read of the payment and nothing else.
    own = [
        q["sql"]
        for q in queries
        if "django_session" not in q["sql"]
        and "dashboard_" not in q["sql"]
        and "SAVEPOINT" not in q["sql"]
    ]
    assert len(own) == 1 and own[0].startswith('SELECT "payments_payment"')
    assert len([q for q in queries if "SAVEPOINT" not in q["sql"]]) <= 5

    assert response.status_code == 200
    assert 'hx-trigger="every 1s"' in response.content.decode()
    assert "Waiting for the customer to tap, insert or swipe" in response.content.decode()


def test_the_status_partial_answers_286_once_final(client, tenant_a, terminal):
    payment = PaymentFactory(
        terminal=terminal,
        status="pending",
        card_brand="Visa",
        card_last4="0010",
        auth_code="123456",
    )
    payment_transition(payment_id=payment.pk, to="approved", source="tracker")
    client.force_login(tenant_a.users["cashier"])

    response = client.get(reverse("payments:status", args=[payment.uuid]))

    assert response.status_code == 286
    assert "Approved: Visa ••••0010, authorisation 123456" in response.content.decode()
    assert "hx-trigger" not in response.content.decode()


def test_the_status_partial_tells_the_page_when_the_status_changed(client, tenant_a, terminal):
    payment = PaymentFactory(terminal=terminal, status="pending")
    client.force_login(tenant_a.users["cashier"])
    url = reverse("payments:status", args=[payment.uuid])

    assert "HX-Trigger" not in client.get(url, {"shown": "pending"})
    payment_transition(payment_id=payment.pk, to="approved", source="tracker")
    changed = client.get(url, {"shown": "pending"})
    # The card says what it showed; the rest of the page reloads itself on this event.
    assert changed.status_code == 286 and changed["HX-Trigger"] == "payment-changed"
    assert "HX-Trigger" not in client.get(url, {"shown": "approved"})


@pytest.mark.parametrize(
    ("sent", "printed"),
    [
        ("master", "Mastercard"),
        ("mastercard", "Mastercard"),
        ("VISA", "Visa"),
        ("Cirrus", "Cirrus"),
    ],
)
def test_card_brands_are_printed_as_on_the_card(client, tenant_a, terminal, sent, printed):
    payment = PaymentFactory(
        terminal=terminal, status="pending", card_brand=sent, card_last4="5929"
    )
    payment_transition(payment_id=payment.pk, to="approved", source="tracker")
    client.force_login(tenant_a.users["cashier"])

    page = client.get(reverse("payments:detail", args=[payment.uuid])).content.decode()

    assert f"Approved: {printed} ••••5929" in page
    assert f"<td>{printed} ••••5929</td>" in page


def test_mobilepay_asks_the_customer_to_approve_in_the_app(client, tenant_a, mobilepay_terminal):
    payment = PaymentFactory(terminal=mobilepay_terminal, status="pending")
    client.force_login(tenant_a.users["cashier"])

    assert (
        "approve in the MobilePay app"
        in client.get(reverse("payments:status", args=[payment.uuid])).content.decode()
    )


def test_the_payment_page_shows_the_status_card_and_timeline(client, tenant_a, terminal):
    payment = PaymentFactory(terminal=terminal, status="created")
    payment_transition(payment_id=payment.pk, to="pending", source="tracker")
    client.force_login(tenant_a.users["merchant_manager"])

    page = client.get(reverse("payments:detail", args=[payment.uuid])).content.decode()

    assert 'data-testid="status-card"' in page and "Timeline" in page and "The tracker" in page


def test_a_reseller_admin_sees_payments_but_takes_none(client, tenant_a, terminal):
    payment = PaymentFactory(terminal=terminal)
    client.force_login(tenant_a.users["reseller_admin"])

    assert client.get(reverse("payments:detail", args=[payment.uuid])).status_code == 200
    assert client.get(reverse("payments:new")).status_code == 403
    assert charge(client, terminal).status_code == 403
    assert Payment.objects.count() == 1


@pytest.mark.parametrize("name", ["detail", "status", "abort", "capture", "void", "refund"])
def test_another_tenants_payment_is_a_404_on_every_payment_url(
    client, tenant_a, tenant_b, terminal, name
):
    payment = PaymentFactory(terminal=terminal)
    client.force_login(tenant_b.users["merchant_manager"])

    url = reverse(f"payments:{name}", args=[payment.uuid])
    response = client.get(url) if name in ("detail", "status") else client.post(url)

    assert response.status_code == 404


def test_another_tenants_terminal_cannot_be_charged(client, tenant_b, terminal):
    client.force_login(tenant_b.users["cashier"])

    assert client.get(reverse("payments:new") + f"?terminal={terminal.pk}").status_code == 404
    assert charge(client, terminal).status_code == 404
    assert not Payment.objects.exists()


def test_a_cashier_cannot_capture(client, tenant_a, terminal):
    payment = PaymentFactory(terminal=terminal, status="authorized")
    client.force_login(tenant_a.users["cashier"])

    assert client.post(reverse("payments:capture", args=[payment.uuid])).status_code == 403


def test_the_home_desk_shows_todays_takings_open_payments_and_flags(
    client, tenant_a, terminal, mobilepay_terminal
):
    currency = tenant_a.merchant.default_currency
    PaymentFactory(terminal=terminal, status="approved", amount_minor=1250, currency=currency)
    PaymentFactory(
        terminal=mobilepay_terminal, status="unknown", amount_minor=500, currency=currency
    )
    client.force_login(tenant_a.users["merchant_manager"])

    page = client.get(reverse("home")).content.decode()

    assert 'data-testid="takings"' in page and "12.50" in page
    assert "with an unknown result" in page
    assert 'data-testid="open-payments"' in page and "5.00 " + currency in page


def test_a_reseller_admin_home_shows_its_merchants_payments(client, tenant_a, tenant_b, terminal):
    PaymentFactory(terminal=terminal, status="approved", reference="ALPHAREF1")
    client.force_login(tenant_b.users["reseller_admin"])
    assert "ALPHAREF1" not in client.get(reverse("home")).content.decode()
    client.force_login(tenant_a.users["reseller_admin"])
    assert "ALPHAREF1" in client.get(reverse("home")).content.decode()


def test_the_charge_again_box_appears_only_after_the_warning(client, tenant_a, terminal):
    client.force_login(tenant_a.users["cashier"])

    page = client.get(reverse("payments:new") + f"?terminal={terminal.pk}").content.decode()

    assert 'type="checkbox" name="confirm_duplicate"' not in page
    assert 'name="token"' in page and 'name="reference"' in page


def test_a_cashier_cannot_refund(client, tenant_a, terminal):
    payment = PaymentFactory(terminal=terminal, status="approved", captured_minor=1250)
    client.force_login(tenant_a.users["cashier"])

    assert (
        client.post(
            reverse("payments:refund", args=[payment.uuid]), {"amount": "1.00", "confirm": "on"}
        ).status_code
        == 403
    )

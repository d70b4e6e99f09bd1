"""The three outcomes of an abort, as the merchant reads them on the payment page, over real HTTP
against the emulators: aborted; too late because the payment went through (a one-click refund,
on the sale's own terminal where the provider requires it); or the abort could not reach the
terminal (cancel it there; tracking goes on). The abort's worker half runs as the worker runs it
(`payments.actions.payment_abort_execute`), called here in the test's thread."""

from __future__ import annotations

import pytest
from django.urls import reverse

from payments import actions, engine
from payments.models import Payment, PaymentStatus
from sandbox.models import SandboxPayment
from sandbox.scenarios import APPROVE
from sandbox.services import device_set_switches, payment_decide
from tests.payments.engine_support import Desk

# The real broker's queues emptied around each test: the abort view schedules its worker half in the real broker; no worker runs here.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("broker")]


def pending(provider: str, tenant) -> tuple[Desk, Payment]:
    desk = Desk(provider, tenant)
    payment = desk.take(0)  # ends in 00: waits for the virtual terminal
    engine.payment_start_execute(payment_id=payment.pk)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING, payment.message
    return desk, payment


def customer_pays(desk: Desk, payment: Payment) -> None:
    emulated = SandboxPayment.objects.get(
        device__account=desk.env.sandbox_account, order_ref=payment.reference
    )
    assert payment_decide(payment=emulated, outcome=APPROVE)


def ask_to_abort(client, payment) -> None:
    response = client.post(reverse("payments:abort", args=[payment.uuid]))
    assert response.status_code == 302


def status_card(client, payment):
    response = client.get(reverse("payments:status", args=[payment.uuid]))
    return response.status_code, response.content.decode()


def test_an_abort_in_progress_says_so_while_the_card_keeps_polling(
    client, sandbox_settings, tenant_a
):
    _, payment = pending("payroc", tenant_a)
    client.force_login(tenant_a.users["cashier"])

    ask_to_abort(client, payment)
    code, card = status_card(client, payment)

    assert code == 200 and 'hx-trigger="every 1s"' in card
    assert 'data-outcome="requested"' in card and "Aborting…" in card


@pytest.mark.parametrize("provider", ["payroc", "usaepay", "komoju", "klearly", "mobilepay"])
def test_aborted_says_no_money_was_taken_and_the_abort_button_goes(
    client, sandbox_settings, tenant_a, provider
):
    _, payment = pending(provider, tenant_a)
    client.force_login(tenant_a.users["cashier"])
    page = client.get(reverse("payments:detail", args=[payment.uuid])).content.decode()
    assert 'data-testid="abort"' in page

    ask_to_abort(client, payment)
    assert actions.payment_abort_execute(payment_id=payment.pk).outcome == "aborted"
    code, card = status_card(client, payment)

    assert code == 286  # final: htmx stops polling
    assert 'data-outcome="aborted"' in card
    assert "Aborted" in card and "No money was taken." in card
    assert Payment.objects.get(pk=payment.pk).status == PaymentStatus.CANCELED
    # The card the page showed was pending: the rest of the page is told to follow it, and then
    # offers no Abort on a cancelled payment.
    followed = client.get(reverse("payments:status", args=[payment.uuid]) + "?shown=pending")
    assert followed["HX-Trigger"] == "payment-changed"
    page = client.get(reverse("payments:detail", args=[payment.uuid])).content.decode()
    assert 'data-testid="abort"' not in page


def test_a_payment_aborted_before_it_was_sent_says_aborted(client, tenant_a, terminal):
    from payments.services import payment_create

    payment = payment_create(
        user=tenant_a.users["cashier"],
        terminal=terminal,
        kind="sale",
        amount_minor=1250,
        currency="USD",
    )
    client.force_login(tenant_a.users["cashier"])

    ask_to_abort(client, payment)
    code, card = status_card(client, payment)

    assert code == 286 and 'data-outcome="aborted"' in card and "No money was taken." in card


# A MobilePay customer who paid leaves a Reserved payment, which an abort cancels: never too late.
@pytest.mark.parametrize("provider", ["payroc", "usaepay", "komoju"])
def test_too_late_offers_a_manager_the_one_click_refund_of_the_whole_sale(
    client, sandbox_settings, tenant_a, provider
):
    desk, payment = pending(provider, tenant_a)
    customer_pays(desk, payment)
    client.force_login(tenant_a.users["merchant_manager"])

    ask_to_abort(client, payment)
    assert actions.payment_abort_execute(payment_id=payment.pk).outcome == "too_late"
    code, card = status_card(client, payment)

    assert code == 286 and 'data-outcome="too_late"' in card
    assert "Too late to abort: the payment went through" in card
    amount = (
        f"{payment.amount_minor:,}"
        if desk.currency == "JPY"
        else f"{payment.amount_minor / 100:.2f}"
    )
    assert f"Refund {amount} {desk.currency}" in card
    assert "no terminal is needed" in card

    refunded = client.post(
        reverse("payments:refund", args=[payment.uuid]),
        {"amount": amount, "confirm": "on", "reason": "Abort came too late"},
    )

    refund = Payment.objects.get(parent=payment)
    assert refunded.status_code == 302 and refunded.url == reverse(
        "payments:detail", args=[refund.uuid]
    )
    assert (refund.kind, refund.amount_minor) == ("refund", payment.amount_minor)
    assert actions.payment_refund_execute(refund_id=refund.pk) is True
    sale = Payment.objects.get(pk=payment.pk)
    assert sale.refunded_minor == sale.captured_minor == payment.amount_minor
    # Each page links the other.
    sale_page = client.get(reverse("payments:detail", args=[sale.uuid])).content.decode()
    assert f'href="{reverse("payments:detail", args=[refund.uuid])}"' in sale_page
    refund_page = client.get(reverse("payments:detail", args=[refund.uuid])).content.decode()
    assert f'href="{reverse("payments:detail", args=[sale.uuid])}"' in refund_page


def test_too_late_on_klearly_refunds_on_the_sales_own_terminal(client, sandbox_settings, tenant_a):
    desk, payment = pending("klearly", tenant_a)
    customer_pays(desk, payment)
    client.force_login(tenant_a.users["merchant_manager"])

    ask_to_abort(client, payment)
    assert actions.payment_abort_execute(payment_id=payment.pk).outcome == "too_late"
    code, card = status_card(client, payment)

    assert code == 286 and 'data-testid="one-click-refund"' in card
    assert f"The refund runs on {desk.terminal.name}, the terminal the sale was taken on" in card


def test_too_late_tells_a_cashier_to_ask_a_manager(client, sandbox_settings, tenant_a):
    desk, payment = pending("payroc", tenant_a)
    customer_pays(desk, payment)
    client.force_login(tenant_a.users["cashier"])

    ask_to_abort(client, payment)
    actions.payment_abort_execute(payment_id=payment.pk)
    _, card = status_card(client, payment)

    assert 'data-outcome="too_late"' in card
    assert 'data-testid="one-click-refund"' not in card
    assert "Ask a manager to refund it" in card


def test_too_late_when_the_tracker_saw_the_approval_first(client, sandbox_settings, tenant_a):
    """The abort was asked for, then the tracker recorded the approval before the abort's worker
    ran: the worker finds nothing open to abort, and the page still says it was too late."""
    desk, payment = pending("usaepay", tenant_a)
    client.force_login(tenant_a.users["cashier"])
    ask_to_abort(client, payment)
    customer_pays(desk, payment)
    engine.payment_track_now(payment_id=payment.pk)
    assert Payment.objects.get(pk=payment.pk).status == PaymentStatus.APPROVED

    assert actions.payment_abort_execute(payment_id=payment.pk).outcome == "not_open"
    _, card = status_card(client, payment)

    assert 'data-outcome="too_late"' in card and "the payment went through" in card


@pytest.mark.parametrize("provider", ["payroc", "usaepay", "komoju", "klearly", "mobilepay"])
def test_an_abort_that_cannot_reach_the_terminal_says_cancel_it_there_and_keeps_following(
    client, sandbox_settings, tenant_a, provider
):
    desk, payment = pending(provider, tenant_a)
    client.force_login(tenant_a.users["cashier"])

    ask_to_abort(client, payment)
    device_set_switches(device=desk.device, fail_next_5xx=1)
    assert actions.payment_abort_execute(payment_id=payment.pk).outcome == "unreachable"
    code, card = status_card(client, payment)

    assert code == 200 and 'hx-trigger="every 1s"' in card  # tracking goes on
    assert 'data-outcome="unreachable"' in card
    assert "The abort could not reach the terminal" in card
    assert "Press Cancel on the terminal itself" in card

    # The customer pays after all: the card then says it went through, too late for the abort.
    customer_pays(desk, payment)
    engine.payment_track_now(payment_id=payment.pk)
    if provider == "mobilepay":  # Reserved first; the engine captures a sale in full
        engine.payment_capture_sale(payment_id=payment.pk)
    code, card = status_card(client, payment)
    assert code == 286 and 'data-outcome="too_late"' in card

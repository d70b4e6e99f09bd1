"""The receipt on the payment page: the card, the authorisation code and the fields the provider
reports (KOMOJU's EMV data), kept from the tracker's read; "Print the receipt on the terminal"
where the provider can (KOMOJU), over real HTTP to its emulator, which records the printed lines;
and the related payments (the refunds of a sale, the sale of a refund)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from payments import engine
from payments.forms import card_brand_display
from payments.models import Payment, PaymentStatus
from payments.services import payment_create, payment_print_receipt_execute
from sandbox.models import SandboxPayment, SandboxReceipt
from sandbox.scenarios import APPROVE
from sandbox.services import device_set_switches, payment_decide
from tests.factories import PaymentFactory
from tests.payments.engine_support import Desk

# The real broker's queues emptied around each test: the print view schedules its worker half in the real broker; no worker runs here.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("broker")]


def approved(provider: str, tenant) -> tuple[Desk, Payment]:
    desk = Desk(provider, tenant)
    payment = desk.take(0)
    engine.payment_start_execute(payment_id=payment.pk)
    emulated = SandboxPayment.objects.get(
        device__account=desk.env.sandbox_account, order_ref=payment.reference
    )
    assert payment_decide(payment=emulated, outcome=APPROVE)
    engine.payment_track_now(payment_id=payment.pk)
    if provider == "mobilepay":  # Reserved first; the engine captures a sale in full
        engine.payment_capture_sale(payment_id=payment.pk)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.APPROVED, payment.message
    return desk, payment


def page(client, payment) -> str:
    return client.get(reverse("payments:detail", args=[payment.uuid])).content.decode()


def test_a_komoju_receipt_shows_the_card_and_the_emv_fields_the_terminal_reported(
    client, sandbox_settings, tenant_a
):
    _, payment = approved("komoju", tenant_a)
    client.force_login(tenant_a.users["cashier"])

    receipt = payment.provider_data["receipt"]
    html = page(client, payment)

    assert receipt["aid"].startswith("A0000") and receipt["application_label"]
    assert f"{card_brand_display(payment.card_brand)} ••••{payment.card_last4}" in html
    assert f'<th scope="row">AID</th><td>{receipt["aid"]}</td>' in html
    assert f'<th scope="row">Application</th><td>{receipt["application_label"]}</td>' in html
    assert "Transaction counter (ATC)" in html
    assert "CARDHOLDER" not in html  # the cardholder's name is never kept


def test_the_receipt_shows_the_authorisation_code(client, sandbox_settings, tenant_a):
    _, payment = approved("usaepay", tenant_a)
    client.force_login(tenant_a.users["cashier"])

    html = page(client, payment)

    assert payment.auth_code
    assert f'<th scope="row">Authorisation code</th><td>{payment.auth_code}</td>' in html


def test_a_cashier_prints_a_komoju_receipt_on_the_terminal(client, sandbox_settings, tenant_a):
    desk, payment = approved("komoju", tenant_a)
    client.force_login(tenant_a.users["cashier"])
    assert f"Print the receipt on {desk.terminal.name}" in page(client, payment)

    response = client.post(reverse("payments:print_receipt", args=[payment.uuid]))

    assert response.status_code == 302
    assert "Printing the receipt on the terminal…" in page(client, payment)
    assert payment_print_receipt_execute(payment_id=payment.pk) is True
    printed = SandboxReceipt.objects.get(device=desk.device)
    assert any(payment.card_last4 in line for line in printed.lines)
    assert any(payment.reference in line for line in printed.lines)
    assert "Receipt printed on the terminal at" in page(client, payment)


def test_a_receipt_the_terminal_cannot_print_says_why(client, sandbox_settings, tenant_a):
    desk, payment = approved("komoju", tenant_a)
    client.force_login(tenant_a.users["cashier"])
    client.post(reverse("payments:print_receipt", args=[payment.uuid]))
    device_set_switches(device=desk.device, online=False)

    assert payment_print_receipt_execute(payment_id=payment.pk) is False

    assert not SandboxReceipt.objects.exists()
    assert "The terminal did not print the receipt: KOMOJU could not print" in page(client, payment)


@pytest.mark.parametrize("provider", ["payroc", "usaepay", "klearly", "mobilepay"])
def test_providers_that_cannot_print_offer_no_print_and_refuse_it(
    client, sandbox_settings, tenant_a, provider
):
    _, payment = approved(provider, tenant_a)
    client.force_login(tenant_a.users["cashier"])
    assert 'data-testid="print-receipt"' not in page(client, payment)

    response = client.post(reverse("payments:print_receipt", args=[payment.uuid]), follow=True)

    assert "cannot print receipts on its terminals" in response.content.decode()
    assert not payment.events.filter(action="receipt_print_requested").exists()


def test_a_reseller_admin_may_not_print_and_another_tenant_gets_404(
    client, tenant_a, tenant_b, terminal
):
    payment = PaymentFactory(terminal=terminal, status="approved")
    url = reverse("payments:print_receipt", args=[payment.uuid])

    client.force_login(tenant_a.users["reseller_admin"])
    assert client.post(url).status_code == 403
    client.force_login(tenant_b.users["cashier"])
    assert client.post(url).status_code == 404
    assert not payment.events.exists()


def test_a_sale_lists_its_refunds_and_a_refund_names_its_sale(client, tenant_a, terminal):
    manager = tenant_a.users["merchant_manager"]
    sale = PaymentFactory(
        terminal=terminal, status="approved", captured_minor=1250, reference="SALE1"
    )
    refund = payment_create(
        user=manager,
        terminal=None,
        kind="refund",
        amount_minor=500,
        currency=sale.currency,
        parent=sale,
        reference="REFUND1",
    )
    client.force_login(manager)

    sale_page = page(client, sale)
    refund_page = page(client, refund)

    assert 'data-testid="related-refund"' in sale_page and "REFUND1" in sale_page
    assert "5.00 USD" in sale_page
    assert 'data-testid="related-sale"' in refund_page and "SALE1" in refund_page
    assert "12.50 USD" in refund_page

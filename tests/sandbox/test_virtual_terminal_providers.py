"""The virtual terminal page for the providers beyond card terminals: MobilePay's PoS (QR code,
check-in, Reserved waiting for the POS), KOMOJU's printed receipts, webhook deliveries."""

import pytest
from django.urls import reverse

from sandbox import komoju, services
from sandbox.models import SandboxDevice, SandboxPaymentKind

pytestmark = pytest.mark.django_db


def mobilepay_payment(device, amount_minor=2700, **extra):
    return services.sandbox_payment_start(
        device=device,
        kind=SandboxPaymentKind.AUTH,
        amount_minor=amount_minor,
        currency="DKK",
        timeout_s=120,
        order_ref="ORDER-9",
        reserved_blocks=True,
        **extra,
    )


def screen(client, device) -> str:
    return client.get(reverse("sandbox:terminal_screen", args=[device.pk])).content.decode()


def test_a_mobilepay_payment_asks_the_customer_to_scan_then_to_swipe(client, mobilepay_device):
    mobilepay_payment(mobilepay_device)

    before = screen(client, mobilepay_device)
    services.device_set_switches(device=mobilepay_device, customer_checked_in=True)
    after = screen(client, mobilepay_device)

    assert "27.00 DKK" in before and "Scan the QR code to pay" in before
    assert "Swipe to pay in the MobilePay app" in after


def test_a_reserved_payment_stays_on_screen_waiting_for_the_pos(client, mobilepay_device):
    payment = mobilepay_payment(mobilepay_device)
    services.payment_decide(payment=payment, outcome="approve")

    body = screen(client, mobilepay_device)

    assert "Reserved" in body and "capture or cancel" in body
    assert 'data-testid="decide-approve"' not in body
    assert "reserved, not captured" in body


def test_a_prepared_payment_cannot_be_approved_before_it_has_its_amount(client, mobilepay_device):
    mobilepay_payment(mobilepay_device, amount_minor=0, awaiting_amount=True)

    body = screen(client, mobilepay_device)

    assert "waiting for the amount" in body.lower() or "Scan the QR code to check in" in body
    assert 'data-testid="decide-approve"' not in body and 'data-testid="decide-cancel"' in body


def test_the_mobilepay_page_shows_the_qr_code_and_the_check_in_switch(client, mobilepay_device):
    page = client.get(reverse("sandbox:terminal", args=[mobilepay_device.pk])).content.decode()

    assert reverse("sandbox:terminal_qr", args=[mobilepay_device.pk]) in page
    assert 'data-testid="switch-checked-in"' in page
    assert "Expire the account&#x27;s tokens" in page or "Expire the account's tokens" in page


def test_the_check_in_switch_is_saved(client, mobilepay_device):
    client.post(
        reverse("sandbox:terminal_switches", args=[mobilepay_device.pk]),
        {"online": "on", "latency_ms": "0", "fail_next_5xx": "0", "customer_checked_in": "on"},
    )

    assert SandboxDevice.objects.get(pk=mobilepay_device.pk).customer_checked_in is True


def test_the_qr_code_is_an_svg_naming_the_pos(client, mobilepay_device):
    response = client.get(reverse("sandbox:terminal_qr", args=[mobilepay_device.pk]))

    assert response["Content-Type"] == "image/svg+xml"
    assert mobilepay_device.serial in response.content.decode()


def test_the_index_lists_the_mobilepay_base_url(client, mobilepay_device):
    body = client.get(reverse("sandbox:index")).content.decode()

    assert "/sandbox/mobilepay/" in body and "Kiosk" in body


def test_komoju_receipts_are_shown_on_the_terminal_page(client, komoju_device):
    payment = services.sandbox_payment_start(
        device=komoju_device,
        kind=SandboxPaymentKind.SALE,
        amount_minor=1000,
        currency="JPY",
        timeout_s=120,
    )
    services.payment_decide(payment=payment, outcome="approve")
    services.receipt_print(
        device=komoju_device, payment=payment, lines=komoju.receipt_lines(payment)
    )

    page = client.get(reverse("sandbox:terminal", args=[komoju_device.pk])).content.decode()
    polled = screen(client, komoju_device)

    assert 'data-testid="printed-receipts"' in page and "1,000 JPY" in page
    assert payment.card_last4 in page
    assert 'id="terminal-receipts" hx-swap-oob="true"' in polled


def test_a_card_terminal_page_has_no_receipts_section(client, usaepay_device):
    page = client.get(reverse("sandbox:terminal", args=[usaepay_device.pk])).content.decode()

    assert 'id="terminal-receipts"' not in page


@pytest.mark.parametrize(
    "fixture",
    ["payroc_device", "usaepay_device", "mobilepay_device", "komoju_device", "klearly_device"],
)
def test_every_providers_terminal_page_and_screen_render(client, request, fixture):
    device = request.getfixturevalue(fixture)

    page = client.get(reverse("sandbox:terminal", args=[device.pk]))
    polled = client.get(reverse("sandbox:terminal_screen", args=[device.pk]))

    assert page.status_code == polled.status_code == 200
    has_webhooks = device.account.provider in ("komoju", "klearly", "usaepay")
    assert ('id="terminal-webhooks"' in page.content.decode()) is has_webhooks


def test_the_index_lists_every_providers_base_url(client):
    body = client.get(reverse("sandbox:index")).content.decode()

    for path in (
        "/sandbox/payroc/v1",
        "/sandbox/usaepay/api/v2",
        "/sandbox/mobilepay/",
        "/sandbox/komoju/api/v1",
        "/sandbox/klearly/v1",
    ):
        assert path in body

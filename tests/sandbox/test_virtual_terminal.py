"""The virtual terminal pages: what the customer sees, the buttons and the switches."""

import pytest
from django.urls import reverse

from sandbox import services
from sandbox.models import PaymentStatus, SandboxDevice, SandboxPayment, SandboxPaymentKind

pytestmark = pytest.mark.django_db


def pending_sale(device, amount_minor=4999, currency="USD"):
    return services.sandbox_payment_start(
        device=device,
        kind=SandboxPaymentKind.SALE,
        amount_minor=amount_minor,
        currency=currency,
        timeout_s=180,
        order_ref="Order-9",
    )


def test_the_index_lists_terminals_by_provider_and_account(client, payroc_device, usaepay_device):
    response = client.get(reverse("sandbox:index"))

    assert response.status_code == 200
    body = response.content.decode()
    assert "Payroc demo" in body and "USAePay demo" in body and "Front counter" in body
    assert reverse("sandbox:terminal", args=[usaepay_device.pk]) in body
    assert 'data-testid="magic-amounts"' in body
    assert "/sandbox/payroc/identity/authorize" in body and "/sandbox/usaepay/api/v2" in body


def test_the_index_explains_what_to_do_without_terminals(client):
    response = client.get(reverse("sandbox:index"))

    assert response.status_code == 200 and "No sandbox terminals yet" in response.content.decode()


def test_the_terminal_shows_the_pending_amount_and_the_customer_buttons(client, usaepay_device):
    pending_sale(usaepay_device)

    response = client.get(reverse("sandbox:terminal", args=[usaepay_device.pk]))

    body = response.content.decode()
    assert response.status_code == 200
    assert "49.99 USD" in body and "Tap, insert or swipe card" in body
    for outcome in ("approve", "decline", "cancel", "timeout"):
        assert f'data-testid="decide-{outcome}"' in body
    assert body.count("csrfmiddlewaretoken") >= 5


def test_a_yen_amount_has_no_decimals(client, usaepay_device):
    pending_sale(usaepay_device, amount_minor=1000, currency="JPY")

    response = client.get(reverse("sandbox:terminal_screen", args=[usaepay_device.pk]))

    assert "1,000 JPY" in response.content.decode()


def test_the_screen_polls_every_second_with_a_plain_link_fallback(client, usaepay_device):
    response = client.get(reverse("sandbox:terminal_screen", args=[usaepay_device.pk]))

    body = response.content.decode()
    assert 'hx-trigger="every 1s"' in body
    assert f'href="{reverse("sandbox:terminal", args=[usaepay_device.pk])}"' in body
    assert f'hx-get="{reverse("sandbox:terminal_screen", args=[usaepay_device.pk])}"' in body
    assert "Ready" in body


def test_the_approve_button_approves_the_pending_payment(client, usaepay_device):
    payment = pending_sale(usaepay_device)

    response = client.post(
        reverse("sandbox:terminal_decide", args=[usaepay_device.pk]),
        {"payment": payment.pk, "outcome": "approve"},
    )

    assert response.status_code == 302 and response["Location"] == reverse(
        "sandbox:terminal", args=[usaepay_device.pk]
    )
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.APPROVED and payment.authcode and payment.card_last4
    assert "Approved" in client.get(response["Location"]).content.decode()


def test_an_htmx_button_press_answers_with_the_new_screen(client, usaepay_device):
    payment = pending_sale(usaepay_device)

    response = client.post(
        reverse("sandbox:terminal_decide", args=[usaepay_device.pk]),
        {"payment": payment.pk, "outcome": "decline"},
        HTTP_HX_REQUEST="true",
    )

    assert response.status_code == 200
    assert (
        'id="terminal-screen"' in response.content.decode()
        and "Declined" in response.content.decode()
    )
    assert SandboxPayment.objects.get(pk=payment.pk).status == PaymentStatus.DECLINED


def test_a_second_button_press_changes_nothing(client, usaepay_device):
    payment = pending_sale(usaepay_device)
    url = reverse("sandbox:terminal_decide", args=[usaepay_device.pk])
    client.post(url, {"payment": payment.pk, "outcome": "approve"})

    response = client.post(url, {"payment": payment.pk, "outcome": "decline"}, follow=True)

    assert SandboxPayment.objects.get(pk=payment.pk).status == PaymentStatus.APPROVED
    assert "already decided" in response.content.decode()


def test_the_buttons_require_a_post(client, usaepay_device):
    assert (
        client.get(reverse("sandbox:terminal_decide", args=[usaepay_device.pk])).status_code == 405
    )


def test_the_switches_form_sets_every_switch(client, usaepay_device):
    response = client.post(
        reverse("sandbox:terminal_switches", args=[usaepay_device.pk]),
        {
            "busy": "on",
            "battery_low": "on",
            "latency_ms": "250",
            "fail_next_5xx": "3",
            "lose_next_response": "on",
        },
    )

    assert response.status_code == 302
    device = SandboxDevice.objects.get(pk=usaepay_device.pk)
    assert (device.online, device.busy, device.battery_low) == (False, True, True)
    assert (device.latency_ms, device.fail_next_5xx, device.lose_next_response) == (250, 3, True)
    assert (
        "Terminal offline"
        in client.get(reverse("sandbox:terminal", args=[device.pk])).content.decode()
    )


def test_invalid_switches_are_not_saved(client, usaepay_device):
    response = client.post(
        reverse("sandbox:terminal_switches", args=[usaepay_device.pk]),
        {"online": "on", "latency_ms": "-5", "fail_next_5xx": "0"},
        follow=True,
    )

    assert "Switches not saved" in response.content.decode()
    assert SandboxDevice.objects.get(pk=usaepay_device.pk).latency_ms == 0


def test_payroc_tokens_can_be_expired_from_the_terminal_page(client, payroc_device, payroc_account):
    token = services.token_issue(account=payroc_account)

    client.post(reverse("sandbox:terminal_expire_tokens", args=[payroc_device.pk]))

    assert not payroc_account.tokens.valid().filter(pk=token.pk).exists()


def test_an_unknown_terminal_is_a_404(client):
    assert client.get(reverse("sandbox:terminal", args=[999999])).status_code == 404


def test_the_polled_screen_also_refreshes_the_recent_requests_out_of_band(client, usaepay_device):
    pending_sale(usaepay_device)

    body = client.get(reverse("sandbox:terminal_screen", args=[usaepay_device.pk])).content.decode()
    page = client.get(reverse("sandbox:terminal", args=[usaepay_device.pk])).content.decode()

    assert 'id="terminal-recent" hx-swap-oob="true"' in body and "Order-9" in body
    assert page.count('id="terminal-recent"') == 1 and "hx-swap-oob" not in page

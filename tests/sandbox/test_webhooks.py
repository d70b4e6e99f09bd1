"""Signed webhooks from the KOMOJU, Klearly and USAePay emulators, received by a stand-in for the
dashboard's endpoint and checked with the adapters' own verify_webhook; and the fault switches
(duplicate, late, out of order, unsigned, wrongly signed) and failed deliveries."""

import json
import time

import pytest
from django.urls import reverse
from django.utils import timezone

from providers.base import AccountConfig, PaymentKind
from providers.errors import AuthError, InvalidRequest, InvalidSignature, UnsupportedOperation
from providers.recovery import start_exactly_once
from providers.registry import get_provider
from sandbox import conf, services, webhooks
from sandbox.models import SandboxDevice, SandboxPaymentKind, SandboxWebhookDelivery
from tests.sandbox.conftest import (
    KLEARLY_MERCHANT_ID,
    KLEARLY_SECRETS,
    KOMOJU_SECRET_KEY,
    KOMOJU_TERMINAL,
    KOMOJU_WEBHOOK_SECRET,
    USAEPAY_API_KEY,
    USAEPAY_PIN,
    adapter_for,
    follow,
    point_webhooks_at,
    start_request,
    wait_until,
)

pytestmark = pytest.mark.django_db(transaction=True)

VERIFY_SECRETS = {
    "komoju": {"secret_key": KOMOJU_SECRET_KEY, "webhook_secret": KOMOJU_WEBHOOK_SECRET},
    "klearly": KLEARLY_SECRETS,
    "usaepay": {
        "api_key": USAEPAY_API_KEY,
        "api_pin": USAEPAY_PIN,
        "webhook_signature_key": "whsec-demo",
    },
}
CURRENCY = {"komoju": "JPY", "klearly": "EUR", "usaepay": "USD"}


def due_deliveries():
    return SandboxWebhookDelivery.objects.due(
        max_attempts=conf.setting("SANDBOX_WEBHOOK_MAX_ATTEMPTS")
    )


def verifier(provider: str):
    """The dashboard's adapter for `provider`, used only for verify_webhook."""
    return adapter_for(provider, "http://127.0.0.1:9/", secrets=VERIFY_SECRETS[provider])


def decide(device, outcome="approve", amount_minor=1000, kind=SandboxPaymentKind.SALE):
    """A payment started on the device and decided: what a terminal does, without the wire."""
    provider = device.account.provider
    if provider == "komoju":
        session = services.session_create(
            account=device.account,
            amount_minor=amount_minor,
            currency="JPY",
            capture="auto" if kind == SandboxPaymentKind.SALE else "manual",
            external_order_num="ORDER-W",
        )
        payment = services.session_push(session=session, device=device, timeout_s=120)
    else:
        payment = services.sandbox_payment_start(
            device=device,
            kind=kind,
            amount_minor=amount_minor,
            currency=CURRENCY[provider],
            timeout_s=120,
            order_ref="ORDER-W",
        )
    services.payment_decide(payment=payment, outcome=outcome)
    return payment


@pytest.fixture(params=["komoju", "klearly", "usaepay"])
def webhook_device(request):
    """The device of each webhook provider, its account pointed at the receiver."""
    device = request.getfixturevalue(f"{request.param}_device")
    receiver = request.getfixturevalue("webhook_receiver")
    point_webhooks_at(device.account, receiver.url)
    device.refresh_from_db()
    return device


def test_each_provider_sends_a_signed_event_its_adapter_verifies(webhook_device, webhook_receiver):
    provider = webhook_device.account.provider
    payment = decide(webhook_device)

    (delivery,) = webhook_receiver.wait_for(1)

    with verifier(provider) as adapter:
        event = adapter.verify_webhook(delivery["headers"], delivery["body"])
    payload = json.loads(delivery["body"])
    expected_type, expected_ref = {
        "komoju": ("payment.captured", payment.provider_ref),  # the session id
        "klearly": ("payment.succeeded", payment.provider_ref),  # the payment id
        "usaepay": ("transaction.sale.success", payment.transaction_ref),  # the trankey
    }[provider]
    assert (event.event_type, event.payment_ref) == (expected_type, expected_ref)
    assert event.order_reference == "ORDER-W" or provider == "klearly"
    assert delivery["path"] == "/webhooks/sandbox/"
    row = SandboxWebhookDelivery.objects.get()
    assert row.event_id == event.event_id and row.body.encode() == delivery["body"]
    wait_until(lambda: SandboxWebhookDelivery.objects.get().delivered_at is not None)
    assert SandboxWebhookDelivery.objects.get().last_status == 200
    if provider == "komoju":
        assert delivery["headers"]["X-Komoju-ID"] == payload["id"] == event.event_id
        assert delivery["headers"]["X-Komoju-Event"] == "payment.captured"
        assert payload["data"]["metadata"]["aid"]  # the receipt data rides along


@pytest.mark.parametrize("signing", ["missing", "wrong"])
def test_unsigned_or_wrongly_signed_deliveries_fail_verification(
    webhook_device, webhook_receiver, signing
):
    services.device_set_switches(device=webhook_device, webhook_signature=signing)
    decide(webhook_device)

    (delivery,) = webhook_receiver.wait_for(1)

    with verifier(webhook_device.account.provider) as adapter, pytest.raises(InvalidSignature):
        adapter.verify_webhook(delivery["headers"], delivery["body"])
    assert SandboxWebhookDelivery.objects.get().signing == signing


def test_a_duplicate_carries_the_same_event_id_and_bytes(webhook_device, webhook_receiver):
    services.device_set_switches(device=webhook_device, webhook_duplicate=True)
    decide(webhook_device)

    first, second = webhook_receiver.wait_for(2)

    assert first["body"] == second["body"]
    with verifier(webhook_device.account.provider) as adapter:
        ids = {adapter.verify_webhook(d["headers"], d["body"]).event_id for d in (first, second)}
    assert len(ids) == 1
    assert SandboxWebhookDelivery.objects.filter(duplicate=True).count() == 1


SIGNATURE_HEADERS = {
    "usaepay": "X-Signature",
    "komoju": "X-Komoju-Signature",
    "klearly": "X-Klearly-Signature",
}


def test_the_adapter_rejects_forged_and_unsigned_deliveries_and_flags_a_replay(
    webhook_device, webhook_receiver
):
    from providers.webhooks import SeenEventsInMemory, receive_webhook

    provider = webhook_device.account.provider
    services.device_set_switches(device=webhook_device, webhook_duplicate=True)
    decide(webhook_device)
    first, replay = webhook_receiver.wait_for(2)
    header = SIGNATURE_HEADERS[provider]
    signature = next(v for k, v in first["headers"].items() if k.lower() == header.lower())
    without = {k: v for k, v in first["headers"].items() if k.lower() != header.lower()}
    forged = {**without, header: ("0" if signature[0] != "0" else "1") + signature[1:]}
    seen = SeenEventsInMemory()

    with verifier(provider) as adapter:
        with pytest.raises(InvalidSignature):
            receive_webhook(adapter, forged, first["body"], seen)
        with pytest.raises(InvalidSignature):
            receive_webhook(adapter, without, first["body"], seen)
        assert receive_webhook(adapter, first["headers"], first["body"], seen).duplicate is False
        again = receive_webhook(adapter, replay["headers"], replay["body"], seen)
    assert again.duplicate is True


def test_a_late_delivery_waits_its_delay(komoju_device, webhook_receiver):
    point_webhooks_at(komoju_device.account, webhook_receiver.url)
    services.device_set_switches(device=komoju_device, webhook_delay_s=1)
    began = time.monotonic()

    decide(komoju_device)
    (delivery,) = webhook_receiver.wait_for(1)

    assert delivery["at"] - began >= 1.0


def test_out_of_order_holds_one_event_until_the_next_was_sent(klearly_device, webhook_receiver):
    point_webhooks_at(klearly_device.account, webhook_receiver.url)
    services.device_set_switches(device=klearly_device, webhook_hold_next=True)

    first = decide(klearly_device, "approve")
    held = SandboxWebhookDelivery.objects.get()
    assert held.held and held.attempts == 0 and held.deliver_after > timezone.now()
    assert not due_deliveries().exists()  # so no sender may send it yet
    assert webhook_receiver.received == []
    second = decide(klearly_device, "decline")
    received = webhook_receiver.wait_for(2)

    order = [json.loads(d["body"])["data"]["id"] for d in received]
    assert order == [second.provider_ref, first.provider_ref]
    assert SandboxDevice.objects.get(pk=klearly_device.pk).webhook_hold_next is False


def test_a_refused_delivery_is_recorded_as_a_failed_attempt(
    klearly_device, webhook_receiver, settings
):
    settings.SANDBOX_WEBHOOK_MAX_ATTEMPTS = 1
    webhook_receiver.status = 404
    point_webhooks_at(klearly_device.account, webhook_receiver.url)

    decide(klearly_device)

    row = wait_until(lambda: SandboxWebhookDelivery.objects.filter(attempts=1).first())
    assert (row.last_status, row.last_error, row.delivered_at) == (404, "HTTP 404", None)


def test_a_refused_connection_is_recorded_and_retried(klearly_device, webhook_receiver, settings):
    settings.SANDBOX_WEBHOOK_MAX_ATTEMPTS = 2
    settings.SANDBOX_WEBHOOK_RETRY_S = 0.2
    point_webhooks_at(klearly_device.account, "http://127.0.0.1:9/webhooks/klearly/1/")

    decide(klearly_device)

    row = wait_until(lambda: SandboxWebhookDelivery.objects.filter(attempts=2).first())
    assert row.delivered_at is None and row.last_status is None
    assert "ConnectError" in row.last_error


def test_a_failed_attempt_is_retried_until_delivered(usaepay_device, webhook_receiver, settings):
    settings.SANDBOX_WEBHOOK_RETRY_S = 0.2
    webhook_receiver.status = 503
    point_webhooks_at(usaepay_device.account, webhook_receiver.url)
    decide(usaepay_device)
    webhook_receiver.wait_for(1)

    webhook_receiver.status = 200

    row = wait_until(
        lambda: SandboxWebhookDelivery.objects.filter(delivered_at__isnull=False).first()
    )
    assert row.attempts == 2 and row.last_status == 200


def test_without_a_webhook_url_nothing_is_sent_but_the_event_is_kept(
    klearly_device, webhook_receiver
):
    decide(klearly_device)

    row = SandboxWebhookDelivery.objects.get()
    assert (row.url, row.attempts, row.last_error) == ("", 0, "No webhook_url configured")
    assert not SandboxWebhookDelivery.objects.undelivered().exists()  # nothing a sender could take
    assert webhook_receiver.received == []


def test_a_slow_receiver_never_slows_a_wire_answer(komoju, komoju_device, webhook_receiver):
    point_webhooks_at(komoju_device.account, webhook_receiver.url)
    started = start_exactly_once(komoju, start_request(KOMOJU_TERMINAL, 1000, "JPY"))
    webhook_receiver.hold()  # the dashboard's endpoint answers nothing until released

    komoju.abort_payment(started.provider_ref, kind=PaymentKind.SALE)

    # The abort was answered while its webhook still waits for the receiver.
    assert webhook_receiver.received == []
    webhook_receiver.release()
    (delivery,) = webhook_receiver.wait_for(1, timeout=10)
    assert json.loads(delivery["body"])["type"] == "payment.cancelled"


def test_a_sale_through_the_adapter_is_announced_to_the_dashboard(
    komoju, komoju_device, webhook_receiver
):
    point_webhooks_at(komoju_device.account, webhook_receiver.url)

    result = follow(komoju, start_exactly_once(komoju, start_request(KOMOJU_TERMINAL, 1001, "JPY")))
    (delivery,) = webhook_receiver.wait_for(1)

    event = komoju.verify_webhook(delivery["headers"], delivery["body"])
    assert event.payment_ref == result.provider_ref
    assert komoju.get_payment(event.payment_ref, kind=PaymentKind.SALE).state == result.state


def test_capture_and_refund_are_announced(usaepay, usaepay_device, webhook_receiver):
    point_webhooks_at(usaepay_device.account, webhook_receiver.url)
    auth = decide(usaepay_device, kind=SandboxPaymentKind.AUTH, amount_minor=2000)
    services.payment_capture(payment=auth)
    services.payment_refund(payment=auth, amount_minor=500)

    received = webhook_receiver.wait_for(3)

    types = [json.loads(d["body"])["event_type"] for d in received]
    assert types == [
        "transaction.sale.success",
        "transaction.sale.captured",
        "transaction.refund.success",
    ]


def test_the_terminal_page_shows_deliveries_and_the_webhook_switches(
    client, klearly_device, webhook_receiver
):
    point_webhooks_at(klearly_device.account, webhook_receiver.url)
    decide(klearly_device)
    wait_until(lambda: SandboxWebhookDelivery.objects.filter(delivered_at__isnull=False).exists())

    page = client.get(reverse("sandbox:terminal", args=[klearly_device.pk])).content.decode()
    polled = client.get(
        reverse("sandbox:terminal_screen", args=[klearly_device.pk])
    ).content.decode()

    row = SandboxWebhookDelivery.objects.get()
    assert 'data-testid="webhook-deliveries"' in page and row.event_id in page
    assert "payment.succeeded" in page and "200" in page
    assert 'name="webhook_signature"' in page and 'name="webhook_delay_s"' in page
    assert 'id="terminal-webhooks" hx-swap-oob="true"' in polled


def test_the_webhook_switches_are_saved_from_the_page(client, klearly_device, webhook_receiver):
    response = client.post(
        reverse("sandbox:terminal_switches", args=[klearly_device.pk]),
        {
            "online": "on",
            "latency_ms": "0",
            "fail_next_5xx": "0",
            "webhook_duplicate": "on",
            "webhook_delay_s": "5",
            "webhook_hold_next": "on",
            "webhook_signature": "wrong",
        },
    )

    assert response.status_code == 302
    device = SandboxDevice.objects.get(pk=klearly_device.pk)
    assert (device.webhook_duplicate, device.webhook_delay_s, device.webhook_hold_next) == (
        True,
        5,
        True,
    )
    assert device.webhook_signature == "wrong"


def test_a_mobilepay_or_payroc_change_sends_nothing(
    mobilepay_device, payroc_device, webhook_receiver
):
    for device in (mobilepay_device, payroc_device):
        point_webhooks_at(device.account, webhook_receiver.url)
        payment = services.sandbox_payment_start(
            device=device,
            kind=SandboxPaymentKind.AUTH,
            amount_minor=1000,
            currency="DKK",
            timeout_s=60,
        )
        services.payment_decide(payment=payment, outcome="approve")

    assert SandboxWebhookDelivery.objects.count() == 0
    assert webhooks.payment_changed(payment=payment, change=webhooks.DECIDED) == []


def test_a_delivery_left_behind_goes_out_on_the_next_wire_call(
    klearly, klearly_device, webhook_receiver
):
    """As when the process that made the change stopped before sending: the next read sends it."""
    point_webhooks_at(klearly_device.account, webhook_receiver.url)
    services.device_set_switches(device=klearly_device, webhook_delay_s=1)
    started = start_exactly_once(klearly, start_request(klearly_device.ref, 1200, "EUR"))
    services.payment_decide(payment=klearly_device.payments.get(), outcome="approve")
    webhooks.stop()  # this process's sender stops before the delivery falls due

    wait_until(lambda: due_deliveries().exists(), timeout=10)
    assert SandboxWebhookDelivery.objects.get().attempts == 0
    assert webhook_receiver.received == []

    klearly.get_payment(started.provider_ref, kind=PaymentKind.SALE)

    (delivery,) = webhook_receiver.wait_for(1)
    assert json.loads(delivery["body"])["type"] == "payment.succeeded"


TEST_EVENT_TYPE = {"komoju": "ping", "klearly": "webhook.test", "usaepay": "webhook.test"}


def test_a_test_webhook_asked_through_the_adapter_is_signed_and_names_no_payment(
    request, webhook_device, webhook_receiver, live_server
):
    """The dashboard's "Send a test webhook": the adapter (authenticated as on every call) asks its
    emulator for one test event to a given address; it comes through the outbox, signed with the
    account's secret, in the provider's envelope, naming no payment and no device."""
    provider = webhook_device.account.provider
    base = request.getfixturevalue(f"{provider}_base")
    settings = {"merchant_id": KLEARLY_MERCHANT_ID} if provider == "klearly" else {}
    elsewhere = webhook_receiver.url.replace("/webhooks/sandbox/", "/webhooks/test/")

    with adapter_for(
        provider, base, secrets=VERIFY_SECRETS[provider], settings=settings
    ) as adapter:
        event_id = adapter.send_sandbox_test_webhook(elsewhere)
        (delivery,) = webhook_receiver.wait_for(1)
        event = adapter.verify_webhook(delivery["headers"], delivery["body"])

    assert delivery["path"] == "/webhooks/test/"  # the address asked for, not the account's
    assert event.event_id == event_id
    assert event.event_type == TEST_EVENT_TYPE[provider]
    assert event.payment_ref is None and event.order_reference is None
    row = SandboxWebhookDelivery.objects.get()
    assert row.device_id is None and row.payment_id is None
    wait_until(lambda: SandboxWebhookDelivery.objects.get().delivered_at is not None)


@pytest.mark.parametrize("provider", ["komoju", "klearly", "usaepay"])
def test_a_test_webhook_needs_an_http_address_and_the_accounts_own_credentials(
    request, provider, live_server
):
    request.getfixturevalue(f"{provider}_device")
    base = request.getfixturevalue(f"{provider}_base")
    settings = {"merchant_id": KLEARLY_MERCHANT_ID} if provider == "klearly" else {}
    wrong = {**VERIFY_SECRETS[provider]}
    wrong[{"komoju": "secret_key", "klearly": "partner_secret", "usaepay": "api_key"}[provider]] = (
        "not-a-key-of-the-account"
    )

    with adapter_for(provider, base, secrets=VERIFY_SECRETS[provider], settings=settings) as ok:
        for url in ("file:///etc/passwd", "no address", "http://", "http://a b/"):
            with pytest.raises(InvalidRequest):
                ok.send_sandbox_test_webhook(url)
    with adapter_for(provider, base, secrets=wrong, settings=settings) as refused:
        with pytest.raises(AuthError):
            refused.send_sandbox_test_webhook("http://127.0.0.1:9/webhooks/")
    live = AccountConfig(
        provider=provider, environment="live", base_url=base, secrets=VERIFY_SECRETS[provider]
    )
    with get_provider(live) as outside:
        with pytest.raises(UnsupportedOperation):
            outside.send_sandbox_test_webhook("http://127.0.0.1:9/webhooks/")
    assert not SandboxWebhookDelivery.objects.exists()

"""'Send a test webhook' on an account's webhook page, over real HTTP: the emulator signs one test
event with the secret it holds and delivers it to /webhooks/<provider>/<uuid>/ on the live server;
the page says whether it arrived with a signature matching the secret held here. A test event
names no payment, so no payment changes and no tracker read is queued. Platform admins only."""

from __future__ import annotations

import hashlib
import hmac
import json

import httpx
import pytest
from django.urls import reverse
from django.utils.timezone import localtime

from credentials.models import AuditAction, AuditEntry, AuditOutcome, ProviderAccount
from dashboard.models import Role
from payments.engine import payment_start_execute
from payments.models import PaymentStatus, ReceivedWebhook
from providers.base import Environment
from providers.http import tls_context
from sandbox.models import SandboxWebhookDelivery
from tests.contract.conftest import ACCOUNTS, make_env
from tests.payments.engine_support import Desk
from tests.second_factor import login_verified

pytestmark = pytest.mark.django_db(transaction=True)

WEBHOOK_PROVIDERS = ["komoju", "klearly", "usaepay"]
# The secret our account checks webhooks with, and the test event's type, per provider.
WEBHOOK_SECRET = {
    "komoju": "webhook_secret",
    "klearly": "webhook_secret",
    "usaepay": "webhook_signature_key",
}
TEST_EVENT = {"komoju": "ping", "klearly": "webhook.test", "usaepay": "webhook.test"}
DISPLAY = {"komoju": "KOMOJU", "klearly": "Klearly", "usaepay": "USAePay"}


@pytest.fixture(params=WEBHOOK_PROVIDERS)
def provider(request):
    return request.param


def _press(client, account):
    return client.post(reverse("credentials:account_webhook_test", args=[account.pk]), follow=True)


def test_a_test_webhook_arrives_signed_and_changes_no_payment(
    client, platform_admin, tenant_a, sandbox_settings, broker, provider
):
    desk = Desk(provider, tenant_a)
    pending = desk.take(0)  # a payment waiting at the terminal: the test event must not touch it
    payment_start_execute(payment_id=pending.pk)
    pending.refresh_from_db()
    assert pending.status == PaymentStatus.PENDING
    events_before = list(pending.events.values_list("pk", flat=True))
    login_verified(client, platform_admin, reauthenticated=True)

    page = _press(client, desk.account).content.decode()

    assert "Received and signature checked at" in page
    received = ReceivedWebhook.objects.get(account=desk.account)
    assert received.verdict == "valid"
    assert received.event_type == TEST_EVENT[provider]
    assert received.payment_id is None
    delivery = SandboxWebhookDelivery.objects.get(account=desk.env.sandbox_account)
    assert delivery.event_id and delivery.payment_id is None and delivery.device_id is None
    assert 200 <= delivery.last_status < 300
    # Signed as the provider signs, with the secret the emulator holds (checked independently).
    secret = ACCOUNTS[provider]["secrets"][WEBHOOK_SECRET[provider]]
    expected = hmac.new(secret.encode(), delivery.body.encode(), hashlib.sha256).hexdigest()
    assert delivery.signature == expected
    pending.refresh_from_db()
    assert pending.status == PaymentStatus.PENDING
    assert list(pending.events.values_list("pk", flat=True)) == events_before
    assert not broker.scheduled("payments.tasks.track_payment_now")
    entry = AuditEntry.objects.get(account=desk.account, action=AuditAction.WEBHOOK_TESTED)
    assert entry.outcome == AuditOutcome.SUCCESS
    assert entry.actor_label == platform_admin.email
    assert "Received and signature checked" in entry.detail
    # The page shows when the address last received a correctly signed webhook.
    account = ProviderAccount.objects.get(pk=desk.account.pk)
    assert account.webhook_received_at is not None
    assert localtime(account.webhook_received_at).strftime("%H:%M:%S") in page


def test_a_secret_that_is_not_the_providers_is_named_and_nothing_is_stored(
    client, platform_admin, tenant_a, sandbox_settings, broker, provider
):
    field = WEBHOOK_SECRET[provider]
    ours = {**ACCOUNTS[provider]["secrets"], field: "not-the-secret-at-the-provider"}
    env = make_env(provider, tenant_a.merchant, secrets=ours)
    env.adapter.close()
    login_verified(client, platform_admin, reauthenticated=True)

    page = _press(client, env.account).content.decode()

    assert (
        "It arrived but its signature did not match: the webhook secret entered here is not the "
        f"one at {DISPLAY[provider]}" in page
    )
    assert not ReceivedWebhook.objects.filter(account=env.account).exists()
    delivery = SandboxWebhookDelivery.objects.get(account=env.sandbox_account)
    assert 400 <= delivery.last_status < 500
    assert not broker.scheduled("payments.tasks.track_payment_now")
    entry = AuditEntry.objects.get(account=env.account, action=AuditAction.WEBHOOK_TESTED)
    assert entry.outcome == AuditOutcome.FAILURE
    for value in ours.values():
        assert value not in page and value not in entry.detail


def test_an_address_that_answers_nothing_is_said_after_the_wait(
    client, platform_admin, tenant_a, sandbox_settings
):
    """The account's address is gone (a deactivated account answers 404): sent, never received."""
    sandbox_settings.CREDENTIALS_WEBHOOK_TEST_WAIT_S = 1
    env = make_env("komoju", tenant_a.merchant)
    env.adapter.close()
    login_verified(client, platform_admin, reauthenticated=True)
    ProviderAccount.objects.filter(pk=env.account.pk).update(is_active=False)

    page = _press(client, env.account).content.decode()

    assert "Sent, but no webhook arrived within 1 s: check the address." in page
    delivery = SandboxWebhookDelivery.objects.get(account=env.sandbox_account)
    assert delivery.last_status == 404
    entry = AuditEntry.objects.get(account=env.account, action=AuditAction.WEBHOOK_TESTED)
    assert entry.outcome == AuditOutcome.UNANSWERED


def test_outside_our_sandbox_the_page_points_to_the_providers_dashboard_and_shows_its_test(
    client, platform_admin, tenant_a, sandbox_settings, live_server
):
    """A KOMOJU account at KOMOJU's test system: no button (only our sandbox sends on request), and
    a ping sent from KOMOJU's side shows as the last webhook received."""
    env = make_env("komoju", tenant_a.merchant)
    env.adapter.close()
    ProviderAccount.objects.filter(pk=env.account.pk).update(environment=Environment.PROVIDER_TEST)
    login_verified(client, platform_admin, reauthenticated=True)
    url = reverse("credentials:account_webhook", args=[env.account.pk])

    before = client.get(url).content.decode()
    assert "Send a test event from KOMOJU's dashboard: it appears here." in before
    assert "Send a test webhook" not in before
    assert "none yet" in before

    body = json.dumps({"id": "evt1", "type": "ping", "resource": "event", "data": {}}).encode()
    secret = ACCOUNTS["komoju"]["secrets"]["webhook_secret"]
    answer = httpx.post(
        f"{live_server.url}/webhooks/komoju/{env.account.uuid}/",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-Komoju-ID": "evt1",
            "X-Komoju-Event": "ping",
            "X-Komoju-Signature": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
        },
        verify=tls_context(),
    )
    assert answer.status_code == 200

    after = client.get(url).content.decode()
    received_at = ProviderAccount.objects.get(pk=env.account.pk).webhook_received_at
    assert localtime(received_at).strftime("%H:%M:%S") in after
    assert "none yet" not in after
    pressed = _press(client, env.account).content.decode()
    assert "Send a test event from KOMOJU's dashboard: it appears here." in pressed
    assert not SandboxWebhookDelivery.objects.exists()
    assert not AuditEntry.objects.filter(action=AuditAction.WEBHOOK_TESTED).exists()


@pytest.mark.parametrize("role", [Role.RESELLER_ADMIN, Role.MERCHANT_MANAGER, Role.CASHIER])
def test_only_platform_admins_send_a_test_webhook(client, tenant_a, role, sandbox_settings):
    env = make_env("komoju", tenant_a.merchant)
    env.adapter.close()
    login_verified(client, tenant_a.users[role], reauthenticated=True)

    response = client.post(reverse("credentials:account_webhook_test", args=[env.account.pk]))

    assert response.status_code == 403
    assert not SandboxWebhookDelivery.objects.exists()
    assert not AuditEntry.objects.filter(action=AuditAction.WEBHOOK_TESTED).exists()


def test_a_second_press_at_once_sends_nothing_and_says_so(
    client, platform_admin, tenant_a, sandbox_settings
):
    """A press comes out of the account's press budget, like "Verify now": one every 10 s."""
    env = make_env("klearly", tenant_a.merchant)
    env.adapter.close()
    login_verified(client, platform_admin, reauthenticated=True)
    assert "Received and signature checked at" in _press(client, env.account).content.decode()

    again = _press(client, env.account).content.decode()

    assert "Sent a test webhook" in again and "s ago, try again in a moment." in again
    assert SandboxWebhookDelivery.objects.filter(account=env.sandbox_account).count() == 1
    assert AuditEntry.objects.filter(action=AuditAction.WEBHOOK_TESTED).count() == 1

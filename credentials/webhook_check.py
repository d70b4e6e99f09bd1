"""The webhook page's check: "Send a test webhook", and when the account's address last received one.

Every delivery to `/webhooks/<provider>/<account uuid>/` is checked by payments/webhooks.py, which
stamps the account through `webhook_seen`: `webhook_received_at` when its signature matched the
webhook secret held here, `webhook_refused_at` when it did not. (The deliveries themselves are
payments' ReceivedWebhook, which this app may not read: credentials sits below payments.)

`webhook_test_send` is for an account in our sandbox of a provider with webhooks: it asks the
emulator (over HTTP, through the adapter's `send_sandbox_test_webhook`) for one signed test event
to the account's address on this server, then waits at most `CREDENTIALS_WEBHOOK_TEST_WAIT_S` (5 s)
for the address to receive it, and says in plain words what happened. A real provider sends its
test events from its own dashboard: the page says so, and shows the last delivery received, so a
test sent from there can be checked too. The press comes out of the account's press budget
(credentials/budget.py), like "Verify now", and is audited (`webhook_tested`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from credentials import budget
from credentials.audit import audit_record
from credentials.models import AuditAction, AuditOutcome, ProviderAccount
from credentials.services import provider_for
from providers.base import Environment
from providers.errors import ProviderError
from providers.registry import capabilities_for, display_name

WAIT_S = 5.0  # settings.CREDENTIALS_WEBHOOK_TEST_WAIT_S overrides it
POLL_S = 0.1  # how often the wait looks at the account's stamps


@dataclass(frozen=True)
class WebhookCheck:
    ok: bool
    message: str
    refused: bool = False  # over the press budget, or not offered: nothing was sent


def webhook_seen(*, account_id: int, valid: bool) -> None:
    """A delivery reached the account's webhook address: correctly signed (`valid`) or refused for
    its signature. One UPDATE; payments/webhooks.py calls it for every checked delivery."""
    field = "webhook_received_at" if valid else "webhook_refused_at"
    ProviderAccount.objects.filter(pk=account_id).update(**{field: timezone.now()})


def webhook_test_offered(account: ProviderAccount) -> bool:
    """Whether the page offers "Send a test webhook": our sandbox, a provider with webhooks."""
    return (
        capabilities_for(account.provider).has_webhooks
        and account.environment == Environment.SANDBOX
    )


def sandbox_webhook_address(account: ProviderAccount) -> str:
    """The account's webhook address as the sandbox reaches this server (`SANDBOX_BASE_URL`: the
    sandbox is served by the same server)."""
    path = reverse("webhooks:receive", args=[account.provider, account.uuid])
    return settings.SANDBOX_BASE_URL.rstrip("/") + path


def webhook_test_send(*, account: ProviderAccount, actor=None, request=None) -> WebhookCheck:
    """Ask the sandbox for a test webhook to the account's address and wait for it (see the
    module docstring). Never raises for what the emulator or the delivery does."""
    provider = display_name(account.provider)
    if not webhook_test_offered(account):
        return WebhookCheck(
            False, f"Send a test event from {provider}'s dashboard: it appears here.", refused=True
        )
    try:
        budget.press_take(
            account.pk,
            target="webhook-test",
            requests_per_minute=capabilities_for(account.provider).requests_per_minute,
        )
    except budget.PressRefused as refused:
        return WebhookCheck(
            False, refused.message(done="Sent a test webhook", api=provider), refused=True
        )
    before = _stamps(account.pk)
    requests: list = []
    try:
        with provider_for(account) as adapter:
            adapter.client.event_hooks["request"].append(requests.append)
            try:
                adapter.send_sandbox_test_webhook(sandbox_webhook_address(account))
            finally:
                budget.budget_record(account.pk, len(requests) - 1)  # a token first, say
    except (ProviderError, LookupError) as exc:
        reason = getattr(exc, "message", "") or str(exc)
        message = f"The test webhook was not sent: {reason}"
        _audit(account, AuditOutcome.FAILURE, message, actor=actor, request=request)
        return WebhookCheck(False, message)

    wait_s = float(getattr(settings, "CREDENTIALS_WEBHOOK_TEST_WAIT_S", WAIT_S))
    deadline = time.monotonic() + wait_s
    while True:
        received_at, refused_at = _stamps(account.pk)
        if received_at != before[0]:
            at = timezone.localtime(received_at).strftime("%H:%M:%S")
            message = f"Received and signature checked at {at}."
            _audit(account, AuditOutcome.SUCCESS, message, actor=actor, request=request)
            return WebhookCheck(True, message)
        if refused_at != before[1]:
            message = (
                "It arrived but its signature did not match: the webhook secret entered here is "
                f"not the one at {provider}."
            )
            _audit(account, AuditOutcome.FAILURE, message, actor=actor, request=request)
            return WebhookCheck(False, message)
        if time.monotonic() >= deadline:
            break
        time.sleep(POLL_S)
    message = f"Sent, but no webhook arrived within {wait_s:g} s: check the address."
    _audit(account, AuditOutcome.UNANSWERED, message, actor=actor, request=request)
    return WebhookCheck(False, message)


def _stamps(account_id: int):
    return (
        ProviderAccount.objects.filter(pk=account_id)
        .values_list("webhook_received_at", "webhook_refused_at")
        .get()
    )


def _audit(account, outcome: str, detail: str, *, actor, request) -> None:
    audit_record(
        action=AuditAction.WEBHOOK_TESTED,
        outcome=outcome,
        actor=actor,
        account=account,
        request=request,
        detail=detail,
    )

"""Webhook deliveries: checked on the raw body, stored once, and turned into a tracker read.

A webhook is a trigger, never the truth: the delivery is verified with the account's secret
(`ProviderAdapter.verify_webhook`), stored once per (account, provider event id) in ReceivedWebhook,
and the payment it names is re-read from the provider by the tracker (`payment_track_soon`). No
provider call happens while the delivery waits for its answer. Each checked delivery also stamps
the account (`credentials.webhook_check.webhook_seen`: received, or refused for its signature)
for the account's webhook page and its "Send a test webhook".
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from credentials.models import ProviderAccount
from credentials.services import provider_for
from credentials.webhook_check import webhook_seen
from payments import engine
from payments.models import Payment, ReceivedWebhook, SignatureVerdict
from payments.redaction import redact
from providers.errors import InvalidRequest, InvalidSignature, UnsupportedOperation

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024


@dataclass(frozen=True)
class WebhookAnswer:
    status: int
    text: str


def webhook_account(*, provider: str, account_uuid: uuid.UUID | str) -> ProviderAccount | None:
    """The active account a webhook address names, or None (the view answers 404)."""
    return ProviderAccount.objects.filter(
        uuid=account_uuid, provider=provider, is_active=True
    ).first()


def _event_id(provider: str, event) -> str:
    # KOMOJU documents X-Komoju-ID as the id of a delivery: a retry may carry a new one, so the
    # event's own id in the body is what identifies it.
    body_id = event.raw.get("id") if isinstance(event.raw, Mapping) else None
    if provider == "komoju" and isinstance(body_id, str) and body_id:
        return body_id[:200]
    return (event.event_id or "")[:200]


def webhook_receive(
    *, account: ProviderAccount, headers: Mapping[str, str], body: bytes
) -> WebhookAnswer:
    """Verify, store once and trigger a read. 400 for a bad signature or body (nothing stored,
    nothing changes), 404 for a provider that sends no webhooks, 200 otherwise (a duplicate too)."""
    if len(body) > MAX_BODY_BYTES:
        return WebhookAnswer(413, "Too large.")
    adapter = provider_for(account)
    try:
        event = adapter.verify_webhook(headers, body)
    except InvalidSignature:
        logger.warning("webhook for account %s refused: bad signature", account.pk)
        webhook_seen(account_id=account.pk, valid=False)
        return WebhookAnswer(400, "Bad signature.")
    except InvalidRequest:
        return WebhookAnswer(400, "Bad body.")
    except UnsupportedOperation:
        return WebhookAnswer(404, "This provider sends no webhooks.")
    finally:
        adapter.close()

    # A test event (KOMOJU's `ping`, the sandbox's `webhook.test`) names no payment: it is stored
    # like any other and read by nobody.
    refs = Q()
    if event.payment_ref:
        refs |= Q(provider_ref=event.payment_ref)
    if event.order_reference:
        refs |= Q(reference=event.order_reference)
    payment_id = (
        Payment.objects.filter(refs, account=account).values_list("pk", flat=True).first()
        if refs
        else None
    )
    now = timezone.now()
    try:
        with transaction.atomic():
            received = ReceivedWebhook.objects.create(
                account=account,
                provider=account.provider,
                event_id=_event_id(account.provider, event),
                event_type=(event.event_type or "")[:100],
                headers=redact(dict(headers)),
                body=body.decode("utf-8", errors="replace"),
                verdict=SignatureVerdict.VALID,
                payment_id=payment_id,
                received_at=now,
            )
    except IntegrityError:
        webhook_seen(account_id=account.pk, valid=True)
        return WebhookAnswer(200, "Already received.")
    webhook_seen(account_id=account.pk, valid=True)  # the webhook page's "last received"
    if payment_id is None:
        ReceivedWebhook.objects.filter(pk=received.pk).update(
            processed_at=now, outcome="No payment of ours."
        )
        return WebhookAnswer(200, "Received.")
    engine.payment_track_soon(payment_id=payment_id, reason=f"webhook {received.pk}")
    ReceivedWebhook.objects.filter(pk=received.pk).update(
        processed_at=now, outcome="The tracker re-reads the payment from the provider."
    )
    return WebhookAnswer(200, "Received.")

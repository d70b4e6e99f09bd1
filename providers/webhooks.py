"""Checking a webhook delivery before anything in it is believed.

USAePay, KOMOJU and Klearly sign a delivery the same way: the lowercase hex
HMAC-SHA256 of the raw body with the account's webhook secret, in a header each
names differently. The signature is checked over the raw bytes, before parsing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from providers.base import ProviderWebhook, header_value
from providers.errors import InvalidRequest, InvalidSignature

if TYPE_CHECKING:
    from providers.base import ProviderAdapter


def verify_hmac_sha256_hex(signature: str | None, body: bytes, secret: str) -> None:
    """InvalidSignature unless ``signature`` is the hex HMAC-SHA256 of ``body`` with ``secret``.

    Surrounding white space and the case of the hex digits are ignored; a missing
    or empty signature never matches. Compared in constant time.
    """
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest().encode()
    received = (signature or "").strip().lower().encode()
    if not received or not hmac.compare_digest(expected, received):
        raise InvalidSignature()


def signed_json_body(
    headers: Mapping[str, str],
    body: bytes,
    *,
    signature_header: str,
    secret: str,
    api_name: str,
) -> Any:
    """The delivery's JSON body, once the signature in ``signature_header`` matched it.

    InvalidSignature when it does not; InvalidRequest naming ``api_name`` when the
    correctly signed body is not JSON. The caller checks the payload's shape.
    """
    verify_hmac_sha256_hex(header_value(headers, signature_header), body, secret)
    try:
        return json.loads(body)
    except ValueError:
        raise InvalidRequest(f"The {api_name} webhook body is not JSON.") from None


class SeenEvents(Protocol):
    """Where an account's delivered event ids are remembered (the dashboard keeps them in a table
    with a unique constraint; tests use SeenEventsInMemory)."""

    def add(self, event_id: str) -> bool:
        """Remember ``event_id``; True if it is new, False if it was seen before."""


class SeenEventsInMemory:
    def __init__(self) -> None:
        self._ids: set[str] = set()

    def add(self, event_id: str) -> bool:
        if event_id in self._ids:
            return False
        self._ids.add(event_id)
        return True


def receive_webhook(
    provider: ProviderAdapter, headers: Mapping[str, str], body: bytes, seen: SeenEvents
) -> ProviderWebhook:
    """Verify a delivery and flag a replay: providers deliver at least once, and an attacker may
    replay a captured delivery (none of the three signs a timestamp), so an event id seen before is
    a duplicate to acknowledge and ignore. Forged or unsigned deliveries raise InvalidSignature and
    are never remembered."""
    event = provider.verify_webhook(headers, body)
    return dataclasses.replace(event, duplicate=not seen.add(event.event_id))

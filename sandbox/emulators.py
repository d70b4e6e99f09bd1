"""The sandbox's one list of emulators, with every fact the pages and services need about each.

The sandbox never imports `providers/` (they meet only over HTTP), so it keeps its own registry:
`EMULATORS` maps an emulator's name, the same word a `ProviderAccount.provider` stores, to its
label, its wire module `sandbox/<name>.py` and how it differs from the others. Views and services
ask the record (`emulator_for(account)`), never "is this MobilePay?". Adding an emulator means a
wire module, its URL patterns in `sandbox/urls.py` and one entry here.
"""

from __future__ import annotations

import secrets
import string
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

_ALNUM_LOWER = string.ascii_lowercase + string.digits


class EmulatorName(StrEnum):
    PAYROC = "payroc"
    USAEPAY = "usaepay"
    KLEARLY = "klearly"
    MOBILEPAY = "mobilepay"
    KOMOJU = "komoju"


@dataclass(frozen=True)
class Signing:
    """How an emulator signs its webhooks."""

    header: str
    secrets: tuple[str, ...]  # the first the account has is the key
    event_headers: bool = False  # KOMOJU's X-Komoju-ID and X-Komoju-Event


@dataclass(frozen=True)
class Endpoint:
    """One URL an adapter is configured with, as the sandbox index lists it: the adapter's
    setting (`base_url`, `identity_url`), a URL name of the emulator, and what to cut off it."""

    setting: str
    url_name: str
    suffix: str = ""


@dataclass(frozen=True)
class Emulator:
    name: EmulatorName
    label: str  # the same words as the dashboard's provider display name
    module: str  # the wire API: views, and `webhook_events` when it sends webhooks
    endpoints: tuple[Endpoint, ...]
    # provider_ref, transaction_ref and refnum of a new payment, in the provider's own formats.
    new_refs: Callable[..., dict]
    token_note: str = ""  # what the "expire tokens" fault does to it; "" = it hands out no tokens
    # Integra: the account's `access_token` secret is its first long-lived token.
    token_from_secret: bool = False
    # MobilePay: the screen is the customer's phone, and an approved payment stays on it as
    # Reserved until the POS captures or cancels it.
    pays_in_app: bool = False
    prints_receipts: bool = False  # KOMOJU's terminals print receipts
    webhook_signing: Signing | None = None  # None: it sends no webhooks


def _random_text(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _payroc_refs(*, with_instruction: bool) -> dict:
    # Instruction ids are 32 hex digits, payment and refund ids 10 upper-case letters/digits.
    return {
        "provider_ref": uuid.uuid4().hex if with_instruction else "",
        "transaction_ref": _random_text(string.ascii_uppercase + string.digits, 10),
        "refnum": "",
    }


def _usaepay_refs(*, with_instruction: bool) -> dict:
    return {
        "provider_ref": ("pr_" + _random_text(string.ascii_letters + string.digits, 29))
        if with_instruction
        else "",
        "transaction_ref": _random_text(_ALNUM_LOWER, 15),
        "refnum": str(secrets.randbelow(9 * 10**9) + 10**9),
    }


def _mobilepay_refs(*, with_instruction: bool) -> dict:
    # paymentId / refundId are UUIDs; transaction_ref holds the same UUID as 32 hex digits.
    ref = uuid.uuid4()
    return {"provider_ref": str(ref), "transaction_ref": ref.hex, "refnum": ""}


def _komoju_refs(*, with_instruction: bool) -> dict:
    # KOMOJU ids are 25 lower-case letters and digits (the session id is set by the caller).
    return {"provider_ref": "", "transaction_ref": _random_text(_ALNUM_LOWER, 25), "refnum": ""}


def _klearly_refs(*, with_instruction: bool) -> dict:
    # One id for the payment and its transaction: a refund names the sale by it.
    ref = "pay_" + _random_text(_ALNUM_LOWER, 20)
    return {"provider_ref": ref, "transaction_ref": ref, "refnum": ""}


EMULATORS: dict[str, Emulator] = {
    EmulatorName.PAYROC: Emulator(
        name=EmulatorName.PAYROC,
        label="Payroc Cloud",
        module="sandbox.payroc",
        endpoints=(
            Endpoint("identity_url", "sandbox:payroc_authorize"),
            Endpoint("base_url", "sandbox:payroc_devices", "/devices"),
        ),
        new_refs=_payroc_refs,
        token_note="The next Payroc call with an old bearer token gets a 401.",
    ),
    EmulatorName.USAEPAY: Emulator(
        name=EmulatorName.USAEPAY,
        label="USAePay",
        module="sandbox.usaepay",
        endpoints=(Endpoint("base_url", "sandbox:usaepay_transactions", "/transactions"),),
        new_refs=_usaepay_refs,
        webhook_signing=Signing("X-Signature", ("webhook_signature_key", "api_key")),
    ),
    EmulatorName.MOBILEPAY: Emulator(
        name=EmulatorName.MOBILEPAY,
        label="MobilePay PoS (Integra)",
        module="sandbox.mobilepay",
        endpoints=(Endpoint("base_url", "sandbox:mobilepay_payments", "api/pos/payments"),),
        new_refs=_mobilepay_refs,
        token_note="The account's Integra accessToken stops working; api/pos/manage/token "
        "may then create a new one.",
        token_from_secret=True,
        pays_in_app=True,
    ),
    EmulatorName.KOMOJU: Emulator(
        name=EmulatorName.KOMOJU,
        label="KOMOJU",
        module="sandbox.komoju",
        endpoints=(Endpoint("base_url", "sandbox:komoju_sessions", "/sessions"),),
        new_refs=_komoju_refs,
        prints_receipts=True,
        webhook_signing=Signing("X-Komoju-Signature", ("webhook_secret",), event_headers=True),
    ),
    EmulatorName.KLEARLY: Emulator(
        name=EmulatorName.KLEARLY,
        label="Klearly",
        module="sandbox.klearly",
        endpoints=(Endpoint("base_url", "sandbox:klearly_payments", "/payments"),),
        new_refs=_klearly_refs,
        token_note="The next Klearly call with an old merchant token gets a 401.",
        webhook_signing=Signing("X-Klearly-Signature", ("webhook_secret",)),
    ),
}


def emulator_choices() -> list[tuple[str, str]]:
    """(name, label) of every emulator: SandboxAccount.provider's choices."""
    return [(emulator.name.value, emulator.label) for emulator in EMULATORS.values()]


def emulator_for(account) -> Emulator:
    """The emulator of a SandboxAccount (or anything with a `provider`)."""
    return EMULATORS[account.provider]

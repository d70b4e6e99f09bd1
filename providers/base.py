"""The contract between the dashboard and one cloud-terminal provider.

One ``ProviderAdapter`` subclass per provider (``providers/<name>.py``) speaks that
provider's wire API over httpx and answers in the types below. Services call
these methods; they never look at a provider's HTTP, status words or error
codes. ``Capabilities`` tell the UI and the trackers what a provider can do, so
no template or task asks "is this Payroc?".

Amounts are integer minor units plus an ISO 4217 currency (see ``money.py``).
Timestamps are timezone-aware UTC.

How the tracker follows a payment (the adapters do not loop):

* ``status_channel == "long_poll"`` (Payroc): call ``get_payment(wait=True)``
  back to back; the provider holds each call until the status changes.
* ``status_channel == "poll"`` (USAePay…): call ``get_payment()`` every
  ``poll_interval_s`` seconds, within ``requests_per_minute``.
* Keep following until the state is in ``FINAL_STATES`` or
  ``deadline_for(started_at, timeout_s)`` passes (the time the terminal waits for
  the customer plus ``TRACKING_GRACE``); then the payment becomes ``unknown`` and
  the reconciler takes over. Giving up earlier risks a duplicate charge: the
  terminal may still approve after the POS stopped looking.
"""

from __future__ import annotations

import logging
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar, Literal, Protocol, Self

import httpx

from providers.errors import (
    AuthError,
    InvalidRequest,
    NotFound,
    OutcomeUnknown,
    ProviderError,
    UnsupportedOperation,
)
from providers.http import json_object, make_client, transport_errors
from providers.money import check_amount

# The official Payroc SDK re-fetches its bearer token 2 minutes before expiry.
TOKEN_REFRESH_MARGIN = timedelta(minutes=2)

# Added to the terminal's own timeout before a tracker gives up: covers one
# Payroc long-poll hold (up to 60 s) and clock skew between us and the provider.
TRACKING_GRACE = timedelta(seconds=60)

# Payroc limits orderId to 24 characters; we use the same limit everywhere.
MAX_REFERENCE_LENGTH = 24


class Environment(StrEnum):
    """Where an account's calls go: our sandbox, the provider's test system, or live."""

    SANDBOX = "sandbox"
    PROVIDER_TEST = "test"
    LIVE = "live"


@dataclass(frozen=True)
class Endpoints:
    """The URLs an adapter calls: its API root and, for Payroc, the identity service."""

    base_url: str
    identity_url: str | None = None


@dataclass(frozen=True)
class AccountField:
    """One secret or setting an account of this provider needs: its key and the form's label."""

    name: str
    label: str


class PaymentState(StrEnum):
    CREATED = "created"
    PENDING = "pending"
    AUTHORIZED = "authorized"
    APPROVED = "approved"
    DECLINED = "declined"
    CANCELED = "canceled"
    TIMED_OUT = "timed_out"
    FAILED = "failed"
    UNKNOWN = "unknown"


FINAL_STATES: frozenset[PaymentState] = frozenset(
    {
        PaymentState.APPROVED,
        PaymentState.DECLINED,
        PaymentState.CANCELED,
        PaymentState.TIMED_OUT,
        PaymentState.FAILED,
    }
)


class PaymentKind(StrEnum):
    SALE = "sale"
    AUTH = "auth"  # authorise only; money moves on capture
    REFUND = "refund"  # unreferenced refund taken on the terminal


RefundMode = Literal["device", "referenced", "both"]
StatusChannel = Literal["long_poll", "poll"]


@dataclass(frozen=True)
class Capabilities:
    """What a provider's API offers; drives the UI and the trackers."""

    can_rename: bool
    can_abort: bool
    needs_capture: bool  # supports auth-only payments that are captured later
    has_webhooks: bool
    refund_mode: RefundMode  # "device": card present on a terminal; "referenced": by transaction
    reports_online: bool  # TerminalInfo.online is meaningful
    has_idempotency_key: bool  # start_payment may simply be repeated with the same key
    status_channel: StatusChannel
    poll_interval_s: float  # pause between status calls
    default_timeout_s: int  # how long the terminal waits for the customer
    requests_per_minute: int | None  # rate budget of one credential; None = not documented
    # An authorised payment still blocks the terminal until it is captured or cancelled (Integra:
    # a Reserved payment keeps the PoS occupied, and the PoS refuses a new start meanwhile).
    # Created, pending and unknown payments always occupy their terminal.
    authorized_occupies_terminal: bool = False
    # capture() takes an amount below the authorised one (the rest of the authorisation is released).
    partial_capture: bool = False
    # print_receipt() prints a finished payment's receipt on its terminal (KOMOJU alone documents it).
    can_print_receipt: bool = False
    # A referenced refund still runs on the sale's own terminal, which must be connected and free
    # (Klearly: "The transaction must be refunded on the terminal where the original sale occurred").
    refund_on_original_terminal: bool = False
    # Where the adapter sends ``PaymentMetadata`` (a phrase for the README and the payment page):
    # the provider's own metadata field, else folded into a description, else "" (nowhere).
    metadata_field: str = ""
    # What the customer does while a payment waits, for "Waiting for the customer to …".
    customer_prompt: str = "tap, insert or swipe"
    # Every final outcome of a payment (approved, declined, cancelled, expired) is pushed by a
    # webhook (KOMOJU, Klearly; not USAePay, whose cancelled or timed-out payment request sends
    # nothing). Where the account holds its webhook secret, a tracker then reads only as a
    # backstop, every `webhook_backstop_s`, and the webhook's immediate read finds the outcome.
    webhooks_tell_every_outcome: bool = False
    webhook_backstop_s: float = 15.0
    # Webhooks that tell some outcomes but not all (USAePay: a sale approved or declined, not a
    # payment request cancelled or timed out on the terminal): where the account holds its webhook
    # secret, the pause between reads. What a webhook tells is read at once (its immediate read);
    # what none tells is seen within this pause. None: read at `poll_interval_s` all the same.
    webhook_poll_interval_s: float | None = None


@dataclass(frozen=True)
class AccountConfig:
    """One provider account as the credentials app hands it to an adapter.

    ``secrets`` (e.g. Payroc ``api_key``; USAePay ``api_key``, ``api_pin``,
    ``webhook_signature_key``) never appear in ``repr`` and never in logs.
    ``settings`` holds non-secret options (Payroc ``processing_terminal_id``).
    """

    provider: str
    environment: str
    base_url: str
    identity_url: str | None = None
    secrets: Mapping[str, str] = field(default_factory=dict)
    settings: Mapping[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return (
            f"AccountConfig(provider={self.provider!r}, environment={self.environment!r}, "
            f"base_url={self.base_url!r}, identity_url={self.identity_url!r}, "
            f"secrets=<{len(self.secrets)} redacted: {', '.join(sorted(self.secrets))}>, "
            f"settings={dict(self.settings)!r})"
        )

    __str__ = __repr__

    def secret(self, name: str) -> str:
        """The secret ``name``; AuthError if the account lacks it."""
        value = self.secrets.get(name)
        if not value:
            raise AuthError(
                f"The {self.provider} account has no {name.replace('_', ' ')} configured."
            )
        return value


@dataclass(frozen=True)
class Token:
    """A bearer token and the moment it expires."""

    access_token: str = field(repr=False)
    expires_at: datetime

    def __post_init__(self) -> None:
        if self.expires_at.tzinfo is None:
            raise ValueError("Token.expires_at must be timezone-aware")

    def needs_refresh(self, now: datetime, margin: timedelta = TOKEN_REFRESH_MARGIN) -> bool:
        """True once ``now`` is within ``margin`` of expiry (or past it)."""
        return now >= self.expires_at - margin


class TokenStore(Protocol):
    """Where an adapter keeps its current token between calls and processes.

    The credentials app implements a database-backed store (encrypted); tests
    and one-off scripts use ``MemoryTokenStore``.
    """

    def load(self) -> Token | None: ...

    def save(self, token: Token) -> None: ...


class MemoryTokenStore:
    def __init__(self, token: Token | None = None) -> None:
        self._token = token

    def load(self) -> Token | None:
        return self._token

    def save(self, token: Token) -> None:
        self._token = token


@dataclass(frozen=True)
class TerminalInfo:
    ref: str  # the provider's id for the terminal (Payroc serial number, USAePay device key)
    name: str
    model: str
    serial: str
    online: bool | None  # None: the provider cannot tell
    status_text: str
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    # True: the provider's read says the terminal is busy with another transaction; None: its
    # read does not say (USAePay, Payroc, KOMOJU and Integra document no busy word on a read).
    busy: bool | None = None


@dataclass(frozen=True)
class PaymentResult:
    """The provider's view of one payment, refund or capture.

    ``provider_ref`` identifies what ``get_payment``/``abort_payment`` take (Payroc
    instruction id, USAePay request key); for ``capture``/``refund`` results it is
    the provider's transaction or refund id. ``transaction_ref`` is the processed
    transaction (Payroc paymentId/refundId, USAePay trankey) once there is one:
    the handle for ``capture`` and ``refund``.
    """

    provider_ref: str
    state: PaymentState
    raw_status: str
    transaction_ref: str | None = None
    amount_minor: int | None = None
    currency: str | None = None
    card_brand: str | None = None
    card_last4: str | None = None
    auth_code: str | None = None
    message: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    # What a receipt shows beyond brand, last four and authorisation code (KOMOJU: the EMV fields
    # its terminal reports: AID, application label, entry method, counters), as text by name.
    # Never the cardholder's name or a card number.
    receipt: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES


# Our metadata values are ids (a UUID is 36 characters); 64 keeps them under every provider's
# smallest field (USAePay documents no limit; Payroc's custom fields take 100).
METADATA_VALUE_MAX = 64


@dataclass(frozen=True)
class PaymentMetadata:
    """Our identifiers of a payment, for the provider's own metadata field where it has one.

    Klearly recommends exactly these three ("store ID, POS payment id, POS merchant id"); KOMOJU
    keeps a session's ``metadata`` object, USAePay numbered ``custom_fields``, Payroc's payment
    instructions have no such field (the adapter folds them into ``order.description``) and
    Integra takes nothing but the order id. Each value is at most ``METADATA_VALUE_MAX`` characters.
    """

    payment_id: str = ""  # our payment's UUID (never the integer key)
    store_id: str = ""
    merchant_id: str = ""

    def __post_init__(self) -> None:
        for name in ("payment_id", "store_id", "merchant_id"):
            value = getattr(self, name)
            if not isinstance(value, str) or len(value) > METADATA_VALUE_MAX:
                raise InvalidRequest(
                    f"The metadata {name.replace('_', ' ')} must be text of at most "
                    f"{METADATA_VALUE_MAX} characters."
                )

    def __bool__(self) -> bool:
        return bool(self.payment_id or self.store_id or self.merchant_id)

    def as_dict(self) -> dict[str, str]:
        """The values that are set, by name: ``{"store_id": "3", "payment_id": "…", …}``."""
        values = {
            "store_id": self.store_id,
            "payment_id": self.payment_id,
            "merchant_id": self.merchant_id,
        }
        return {name: value for name, value in values.items() if value}

    def as_text(self) -> str:
        """One line for a provider that has only a free-text field: "store:3 payment:… merchant:7"."""
        return " ".join(
            f"{name.removesuffix('_id')}:{value}" for name, value in self.as_dict().items()
        )


@dataclass(frozen=True)
class StartRequest:
    """Start a sale, auth-only or card-present refund on a terminal.

    ``idempotency_key`` is the payment's UUID4, stored before the first call and
    reused on every retry. ``reference`` is our order id (at most 24 characters,
    Payroc's orderId limit); providers echo it back, so it also finds a start
    whose answer was lost. ``metadata`` carries our store, payment and merchant ids to the
    provider's own field for them (``Capabilities.metadata_field``); ``description`` is the
    merchant's note.
    """

    kind: PaymentKind
    terminal_ref: str
    amount_minor: int
    currency: str
    idempotency_key: str
    reference: str
    description: str = ""
    timeout_s: int | None = None
    metadata: PaymentMetadata = field(default_factory=PaymentMetadata)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", PaymentKind(self.kind))
        _check_money(self.amount_minor, self.currency)
        _check_idempotency_key(self.idempotency_key)
        _check_reference(self.reference)
        if not self.terminal_ref:
            raise InvalidRequest("A terminal must be chosen.")
        if not isinstance(self.metadata, PaymentMetadata):
            raise InvalidRequest("The metadata must be a PaymentMetadata.")
        if self.timeout_s is not None and (
            isinstance(self.timeout_s, bool)
            or not isinstance(self.timeout_s, int)
            or self.timeout_s <= 0
        ):
            raise InvalidRequest("The timeout must be a positive number of seconds.")


@dataclass(frozen=True)
class RefundRequest:
    """Refund (part of) an earlier transaction without the card ("referenced")."""

    original_transaction_ref: str
    amount_minor: int
    currency: str
    idempotency_key: str
    reference: str
    description: str = ""
    metadata: PaymentMetadata = field(default_factory=PaymentMetadata)

    def __post_init__(self) -> None:
        _check_money(self.amount_minor, self.currency)
        _check_idempotency_key(self.idempotency_key)
        _check_reference(self.reference)
        if not self.original_transaction_ref:
            raise InvalidRequest("A refund needs the original transaction.")


@dataclass(frozen=True)
class ProviderWebhook:
    """A verified webhook delivery. A trigger to re-read the truth, never the truth itself.

    ``payment_ref`` is the provider reference the event is about, as the provider
    sends it (USAePay: the transaction key, i.e. a ``transaction_ref``);
    ``order_reference`` is our ``reference`` when the provider echoes it.
    """

    event_id: str
    event_type: str
    payment_ref: str | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)
    order_reference: str | None = None
    duplicate: bool = False  # set by providers.webhooks.receive_webhook when the id was seen before


def _utcnow() -> datetime:
    return datetime.now(UTC)


# Below an emulator's base URL: the sandbox's "send a test webhook" (no provider has it).
SANDBOX_TEST_WEBHOOK_PATH = "_sandbox/webhook-test"


class ProviderAdapter(ABC):
    """One provider's wire API behind the common contract.

    Every method either returns the documented result or raises a
    ``providers.errors.ProviderError`` subclass; httpx exceptions never escape.
    Nothing here touches a database or holds a lock; callers must not hold
    database locks across these calls either.
    """

    # Every fact about a provider lives on its adapter class; the registry, the credentials forms
    # and the fleet page read them from here.
    name: ClassVar[str]  # the registry key, stored in ProviderAccount.provider ("payroc")
    display_name: ClassVar[str]  # how pages name the provider ("Payroc Cloud")
    # How messages name the API this adapter calls ("Payroc", "KOMOJU"; MobilePay's is "Integra").
    api_name: ClassVar[str]
    terminal_ref_label: ClassVar[str]  # what the provider calls a terminal's id ("Serial number")
    secret_fields: ClassVar[tuple[AccountField, ...]]  # AccountConfig.secrets keys, encrypted
    setting_fields: ClassVar[tuple[AccountField, ...]] = ()  # AccountConfig.settings keys
    # The provider's real hosts by Environment (LIVE, PROVIDER_TEST); none for a provider whose
    # hosts are not public, which then runs against our sandbox only.
    environments: ClassVar[Mapping[str, Endpoints]] = {}
    # The emulator's paths below settings.SANDBOX_BASE_URL (sandbox/emulators.py serves them).
    sandbox_endpoints: ClassVar[Endpoints | None] = None
    capabilities: ClassVar[Capabilities]
    # The secret its webhooks are signed with (an AccountConfig.secrets key), "" without webhooks.
    webhook_secret_field: ClassVar[str] = ""

    def __init__(
        self,
        account: AccountConfig,
        *,
        token_store: TokenStore | None = None,
        client: httpx.Client | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.account = account
        self.token_store: TokenStore = (
            token_store if token_store is not None else MemoryTokenStore()
        )
        self._owns_client = client is None
        self.client = (
            client if client is not None else make_client(account.base_url, label=self.name)
        )
        self._clock = clock or _utcnow

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.account!r})"

    def close(self) -> None:
        """Close the HTTP client if this adapter created it."""
        if self._owns_client:
            self.client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def now(self) -> datetime:
        return self._clock()

    def deadline_for(self, started_at: datetime, timeout_s: int | None = None) -> datetime:
        """When a tracker stops waiting for a payment started at ``started_at``.

        The terminal's own timeout (``timeout_s`` as sent, else
        ``capabilities.default_timeout_s``) plus ``TRACKING_GRACE``.
        """
        timeout = timeout_s if timeout_s is not None else self.capabilities.default_timeout_s
        return started_at + timedelta(seconds=timeout) + TRACKING_GRACE

    # -- credentials -------------------------------------------------------

    def obtain_token(self) -> Token | None:
        """Fetch a fresh access token from the provider and save it in the token store.

        Returns None for providers without expiring tokens. Raises AuthError when the
        provider refuses the long-lived secret. Adapters with tokens call this
        themselves before expiry and once after a 401; the credentials app calls it
        to verify a new secret.
        """
        return None

    # -- terminals ---------------------------------------------------------

    @abstractmethod
    def list_terminals(self) -> list[TerminalInfo]:
        """Every terminal of the account, following the provider's pagination to the end."""

    @abstractmethod
    def get_terminal(self, ref: str) -> TerminalInfo:
        """One terminal by its ``ref``; NotFound if the provider does not know it."""

    def rename_terminal(self, ref: str, *, name: str) -> TerminalInfo:
        """Rename the terminal at the provider and return it as the provider now has it.

        Raises UnsupportedOperation when ``capabilities.can_rename`` is False.
        """
        raise UnsupportedOperation(f"{self.name} has no API to rename terminals.")

    # -- payments ----------------------------------------------------------

    @abstractmethod
    def start_payment(self, req: StartRequest) -> PaymentResult:
        """Ask the terminal to take ``req``; return as soon as the provider accepted it.

        The result is normally ``pending`` with ``provider_ref`` set. A refusal where
        nothing ran on the terminal raises a permanent ProviderError (TerminalOffline,
        TerminalBusy, BatteryLow, InvalidRequest, NotFound…). If the exchange broke
        after sending (read timeout, reset, a gateway 5xx), raises OutcomeUnknown: the
        start may have run or may still land later, so the caller must go through
        ``providers.recovery`` (look it up by our order id, never start again blindly).
        Only an error with ``sent`` False (it never reached the provider) or an explicit
        refusal (429, 503) proves nothing ran.

        Safe to call again with the same request when the provider has an
        idempotency key (``capabilities.has_idempotency_key``): the provider replays
        the first answer instead of starting a second payment.
        """

    @abstractmethod
    def find_started_payment(self, req: StartRequest) -> PaymentResult | None:
        """After a lost start answer: the provider's record of that start.

        Returns the payment if the provider has it, None when the provider does not
        list it now, and raises OutcomeUnknown whenever it cannot tell (never any
        other error). None is not proof that it never started: a start still in
        flight may appear later (``providers.recovery.look_for_start`` keeps looking).
        """

    @abstractmethod
    def get_payment(
        self, provider_ref: str, *, kind: PaymentKind, wait: bool = False
    ) -> PaymentResult:
        """The payment's current state, with card and transaction details once final.

        ``wait=True`` lets a long-poll provider hold the call until the state changes
        (up to about a minute); polling providers ignore it. A status word the table
        does not know maps to ``unknown``, never to a guess.
        """

    @abstractmethod
    def abort_payment(self, provider_ref: str, *, kind: PaymentKind) -> str | None:
        """Cancel the payment on the terminal while it is still in progress.

        Returns once the provider accepted the abort (follow with ``get_payment`` to
        see ``canceled``): None, or a sentence for the merchant when the abort did
        something else than stop it on the terminal (KOMOJU: a session that was never
        pushed to the terminal is cancelled at KOMOJU, so it can never be paid). Raises NotAbortable when the provider refuses because the
        payment already finished: the caller must then read its final state and
        refund if it was approved. Raises OutcomeUnknown when the exchange broke after
        sending (the abort may or may not have reached the terminal): read the state
        with ``get_payment`` before telling the merchant anything.
        """

    def capture(
        self,
        transaction_ref: str,
        *,
        idempotency_key: str,
        amount_minor: int | None = None,
        currency: str | None = None,
    ) -> PaymentResult:
        """Capture an authorised payment (all of it when ``amount_minor`` is None).

        Returns ``approved`` when captured. Raises UnsupportedOperation when
        ``capabilities.needs_capture`` is False; OutcomeUnknown when the exchange broke
        after sending (it may have been captured): read the payment before capturing
        again, or repeat with the same ``idempotency_key`` where the provider has one.
        """
        raise UnsupportedOperation(f"{self.name} has no auth-only payments to capture.")

    @abstractmethod
    def refund(self, req: RefundRequest) -> PaymentResult:
        """Refund an earlier transaction by reference, without the card.

        Returns the refund's final state (approved or declined). Raises
        UnsupportedOperation when ``capabilities.refund_mode == "device"``;
        OutcomeUnknown when the exchange broke after sending (the money may have moved):
        never refund again until the provider shows whether this one went through,
        unless the provider has an idempotency key and the same key is sent.
        """

    def print_receipt(self, provider_ref: str, terminal_ref: str) -> None:
        """Print the receipt of the finished payment ``provider_ref`` on ``terminal_ref``.

        Returns once the provider accepted the print. Raises UnsupportedOperation when
        ``capabilities.can_print_receipt`` is False; InvalidRequest when the provider cannot print
        it now (the payment is not finished, the terminal is unavailable). Moves no money, so a
        lost answer may simply be tried again.
        """
        raise UnsupportedOperation(f"{self.name} cannot print receipts on its terminals.")

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> ProviderWebhook:
        """Check a delivery's signature over the raw ``body`` and parse it.

        Raises InvalidSignature when the signature is missing or wrong, InvalidRequest
        when a correctly signed body cannot be parsed, UnsupportedOperation when
        ``capabilities.has_webhooks`` is False.
        """
        raise UnsupportedOperation(f"{self.name} sends no payment webhooks.")

    def send_sandbox_test_webhook(self, url: str) -> str:
        """Ask our sandbox's emulator of this provider to send one signed test event to ``url``;
        returns its event id.

        Only for an account in ``Environment.SANDBOX`` of a provider with webhooks, else
        UnsupportedOperation: ``SANDBOX_TEST_WEBHOOK_PATH`` is the sandbox's own endpoint (each
        emulator's docstring, "Test webhook"), no provider's. Real providers send their test
        events from their own dashboards. The call is authenticated like every other call of the
        adapter (its ``_send``), moves no money and may be tried again.
        """
        if not self.capabilities.has_webhooks or self.account.environment != Environment.SANDBOX:
            raise UnsupportedOperation(
                f"Only our sandbox sends test webhooks of {self.display_name} on request."
            )
        # Each adapter of a provider with webhooks has its own authenticated `_send`.
        response = self._send("POST", SANDBOX_TEST_WEBHOOK_PATH, json={"url": url})
        event_id = self._json_object(response).get("event_id")
        return event_id if isinstance(event_id, str) else ""

    # -- helpers for adapters ----------------------------------------------

    def _scrub(self, text: str) -> str:
        """``text`` with any of this account's secrets or its current token removed."""
        if not text:
            return text  # most status reads carry no message: no token to look up
        sensitive = [value for value in self.account.secrets.values() if value and len(value) >= 4]
        token = self.token_store.load()
        if token is not None:
            sensitive.append(token.access_token)
        for value in sensitive:
            text = text.replace(value, "[redacted]")
        return text

    def _json_object(self, response: httpx.Response) -> dict[str, Any]:
        """The answer's JSON object; UnexpectedResponse naming ``api_name`` otherwise."""
        return json_object(response, self.api_name)

    def _start_again(self, req: StartRequest) -> PaymentResult:
        """``find_started_payment`` of a provider with an idempotency key.

        Sends the start again with the same key: the provider replays its first
        answer, or starts the payment now, exactly once, if the first attempt never
        arrived. It therefore never returns None. Any failure becomes OutcomeUnknown.
        """
        try:
            return self.start_payment(req)
        except OutcomeUnknown:
            raise
        except ProviderError as exc:
            raise OutcomeUnknown(
                f"Could not confirm with {self.api_name} whether the payment started: {exc.message}"
            ) from exc

    def _configured_terminal_ids(self) -> list[str]:
        """``settings["terminal_ids"]``: a list, or a comma-separated string."""
        value = self.account.settings.get("terminal_ids") or []
        if isinstance(value, str):
            value = value.split(",")
        return [str(item).strip() for item in value if str(item).strip()]

    def _configured_terminals(self) -> list[TerminalInfo]:
        """``list_terminals`` of a provider without a list endpoint: each configured id.

        An id the provider does not know (NotFound) is left out with a warning.
        """
        terminals: list[TerminalInfo] = []
        for terminal_id in self._configured_terminal_ids():
            try:
                terminals.append(self.get_terminal(terminal_id))
            except NotFound:
                _adapter_logger(self).warning(
                    "%s does not know the configured terminal %s", self.api_name, terminal_id
                )
        return terminals


class BearerTokenAdapter(ProviderAdapter):
    """A provider whose API takes a short-lived bearer token (Payroc, Klearly).

    The token is kept in the token store and fetched again (``obtain_token()``)
    ``TOKEN_REFRESH_MARGIN`` before it expires, and once after a 401. Subclasses
    implement ``obtain_token()``, saving what they got with ``_keep_token()``, and
    send every API call through ``_request_with_token()``.
    """

    @abstractmethod
    def obtain_token(self) -> Token:
        """Fetch a fresh token (see ``ProviderAdapter.obtain_token``); never None here."""

    @abstractmethod
    def _raise_for_response(self, response: httpx.Response, *, moves_money: bool) -> None:
        """The provider's failed answers -> the error taxonomy."""

    def _keep_token(self, access_token: str, expires_in: int) -> Token:
        """Save a token that expires ``expires_in`` seconds from now, and return it."""
        token = Token(
            access_token=access_token, expires_at=self.now() + timedelta(seconds=expires_in)
        )
        self.token_store.save(token)
        return token

    def _bearer_token(self, *, force_refresh: bool = False) -> str:
        token = self.token_store.load()
        if force_refresh or token is None or token.needs_refresh(self.now()):
            token = self.obtain_token()
        return token.access_token

    def _request_with_token(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str],
        moves_money: bool,
        **options: Any,
    ) -> httpx.Response:
        """One API call with the bearer token; on a 401, a new token and one retry.

        The retry after a 401 is safe for money-moving calls: the provider refused
        the first one, and the retry carries the same idempotency key (in
        ``headers``). ``options`` go to ``httpx.Client.request`` (json, params,
        timeout). Failures are raised by ``_raise_for_response()``.
        """
        for attempt in (1, 2):
            token = self._bearer_token(force_refresh=attempt == 2)
            sent_headers = {**headers, "Authorization": f"Bearer {token}"}
            with transport_errors(f"{method} /{path}", moves_money=moves_money):
                response = self.client.request(method, path, headers=sent_headers, **options)
            if response.status_code == 401 and attempt == 1:
                _adapter_logger(self).info(
                    "%s answered 401 to %s /%s; fetching a new token", self.api_name, method, path
                )
                continue
            self._raise_for_response(response, moves_money=moves_money)
            return response
        raise AssertionError("unreachable")  # pragma: no cover


def _adapter_logger(provider: ProviderAdapter) -> logging.Logger:
    """The logger of the adapter's own module, so its records keep their name."""
    return logging.getLogger(type(provider).__module__)


def last4(masked_number: Any) -> str | None:
    """The last four digits of a masked card number ("XXXX1111" -> "1111"), else None."""
    if isinstance(masked_number, str) and len(masked_number) >= 4 and masked_number[-4:].isdigit():
        return masked_number[-4:]
    return None


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive header lookup that works for plain dicts too."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def _check_money(amount_minor: int, currency: str) -> None:
    """The one validator of ``providers.money``, its refusal as an InvalidRequest."""
    try:
        check_amount(amount_minor, currency)
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(str(exc)) from None


def _check_idempotency_key(key: str) -> None:
    try:
        parsed = uuid.UUID(key)
    except (TypeError, ValueError, AttributeError):
        raise InvalidRequest("The idempotency key must be a UUID4.") from None
    if parsed.version != 4 or str(parsed) != key.lower():
        raise InvalidRequest("The idempotency key must be a UUID4 in its canonical form.")


def _check_reference(reference: str) -> None:
    if not reference or len(reference) > MAX_REFERENCE_LENGTH:
        raise InvalidRequest(f"The reference must be 1 to {MAX_REFERENCE_LENGTH} characters.")

"""USAePay Payment Engine: cloud "payrequests" sent to a paired device.

Wire facts, from USAePay's REST v2 docs (``usaepay.md``, seed ``004``):

* Base URL ``https://usaepay.com/api/v2`` (sandbox ``https://sandbox.usaepay.com/api/v2``);
  every path below is relative to it.
* Auth on every request, no tokens: ``Authorization: Basic base64(apikey + ":" +
  "s2/" + seed + "/" + sha256_hex(apikey + seed + pin))`` with a fresh random seed.
* The default endpoint key allows 45 requests a minute and 5000 a day per key and
  IP; beyond that, 429 ``{"error": "API Rate Limit Exceed", "errorcode": 155}``.
* Devices: ``GET /paymentengine/devices`` (``limit``/``offset`` list), ``GET`` and
  ``PUT /paymentengine/devices/{devicekey}`` (``{"name": …}`` renames). A device is
  online when its ``status`` is ``connected`` or ``online``.
* Start: ``POST /paymentengine/payrequests`` ``{devicekey, command: sale|authonly|refund,
  amount: "8.88", timeout, block_offline, orderid, description}`` ->
  ``{type: "request", key, expiration, status}``. Only one active request per device.
* Status: ``GET /paymentengine/payrequests/{requestkey}``, polled for the whole
  ``timeout`` (default 180 s): the docs warn that giving up early causes duplicate
  charges. Once processed, ``transaction`` holds the transaction (``result_code``
  A approved / D declined / E error, ``key``, ``authcode``, masked ``creditcard``).
* Abort: ``DELETE /paymentengine/payrequests/{requestkey}`` -> ``{"status": "success"}``.
* Capture and referenced refund: ``POST /transactions`` with ``{"command":
  "cc:capture" | "refund", "trankey": …, "amount"?: "x.xx"}``.
* Errors: ``{"error": message, "errorcode": n}``. Declines are not errors.
* Webhooks: ``X-Signature`` = hex HMAC-SHA256 of the raw body with the webhook
  "Signature Key"; events are transaction events, not payrequest events.
* No idempotency key: duplicate protection is the gateway's duplicate folding.

Assumptions (OUR ASSUMPTION where USAePay documents nothing; the sandbox follows them):

* ``GET /paymentengine/payrequests?devicekey={key}`` lists that device's payment
  requests in the standard list format ``{type: "list", limit, offset, data:
  [request…], total}``, and each request carries the ``orderid`` it was started
  with. USAePay does NOT document this listing. ``find_started_payment`` uses it
  to find a start whose answer was lost instead of starting a second charge.
* Cancelling a request that already finished: no error code is documented. Any
  error answer to the DELETE other than auth, rate limit or not found, and any
  2xx whose ``status`` is not ``success``, means NotAbortable.
* HTTP statuses per error code are not documented: the ``errorcode`` decides
  first, the HTTP status second, and an error body on a 2xx is still an error.
* Amounts in USAePay's answers are read in the account's ``currency`` setting
  (default USD), since USAePay answers carry no ISO currency.
* Without a ``webhook_signature_key`` secret, webhooks are checked with the API
  key, which the docs name as the fallback signing key.
* The PIN is required: refunds and voids need it (error 84) and we do not run
  PIN-less keys.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import string
import unicodedata
from collections.abc import Callable, Generator, Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import httpx

from providers.base import (
    AccountConfig,
    AccountField,
    Capabilities,
    Endpoints,
    Environment,
    PaymentKind,
    PaymentMetadata,
    PaymentResult,
    PaymentState,
    ProviderAdapter,
    ProviderWebhook,
    RefundRequest,
    StartRequest,
    TerminalInfo,
    last4,
)
from providers.errors import (
    AuthError,
    BatteryLow,
    InvalidRequest,
    NotAbortable,
    NotFound,
    OutcomeUnknown,
    PaymentTimedOut,
    ProviderError,
    RateLimited,
    TerminalBusy,
    TerminalOffline,
    UnexpectedResponse,
)
from providers.http import json_or_none, raise_for_common_status, retry_after, transport_errors
from providers.money import read_decimal_amount, to_decimal_string
from providers.webhooks import signed_json_body

PAGE_SIZE = 100
SEED_LENGTH = 32  # the official SDK's seed: 32 characters of [A-Za-z0-9]
_SEED_ALPHABET = string.ascii_letters + string.digits

ONLINE_DEVICE_STATUSES = frozenset({"connected", "online"})

COMMANDS: dict[PaymentKind, str] = {
    PaymentKind.SALE: "sale",
    PaymentKind.AUTH: "authonly",
    PaymentKind.REFUND: "refund",
}

# USAePay's status words -> our states, in one table. Keys are (field, word):
#   status       payrequest status, compared lower-case; None = decided by the transaction
#   result_code  transaction.result_code
STATUS_WORDS: dict[tuple[str, str], PaymentState | None] = {
    ("status", "sending to device"): PaymentState.PENDING,
    ("status", "sent to device"): PaymentState.PENDING,
    ("status", "waiting for card dip"): PaymentState.PENDING,
    ("status", "changing interfaces"): PaymentState.PENDING,
    ("status", "customer see phone and tap again"): PaymentState.PENDING,
    ("status", "processing payment"): PaymentState.PENDING,
    ("status", "completing payment"): PaymentState.PENDING,
    ("status", "capturing signature"): PaymentState.PENDING,
    ("status", "transaction complete"): None,
    ("status", "signature capture error"): None,  # docs unclear; the transaction decides
    ("status", "canceled"): PaymentState.CANCELED,
    ("status", "transaction canceled"): PaymentState.CANCELED,
    ("status", "transaction failed"): PaymentState.FAILED,
    ("status", "error"): PaymentState.FAILED,
    ("status", "timeout"): PaymentState.TIMED_OUT,
    ("result_code", "A"): PaymentState.APPROVED,
    ("result_code", "D"): PaymentState.DECLINED,
    ("result_code", "E"): PaymentState.FAILED,
}

# USAePay errorcode -> (error class, message for the merchant), in one table.
ERROR_CODES: dict[int, tuple[type[ProviderError], str]] = {
    21121: (
        NotFound,
        (
            "Unknown terminal: USAePay does not know this device key. "
            "If the terminal was still waiting for pairing, pair it again."
        ),
    ),
    21143: (BatteryLow, "Terminal battery too low; charge it before taking payments."),
    21144: (
        PaymentTimedOut,
        (
            "The payment request timed out before the customer finished. "
            "Start a new payment, with a longer timeout if needed."
        ),
    ),
    21145: (
        TerminalOffline,
        "The terminal is offline. Check that it is on and connected, then try again.",
    ),
    21146: (
        TerminalBusy,
        "The terminal is busy with another transaction. Wait until it finishes, then try again.",
    ),
    155: (RateLimited, "Too many requests to USAePay for this API key; slowing down."),
    156: (
        AuthError,
        "USAePay denied access: this server's address is not allowed for the API key.",
    ),
}


def usaepay_authorization(api_key: str, api_pin: str, seed: str) -> str:
    """The ``Authorization`` header value for one request, from USAePay's documented recipe."""
    api_hash = f"s2/{seed}/{hashlib.sha256((api_key + seed + api_pin).encode()).hexdigest()}"
    return "Basic " + base64.b64encode(f"{api_key}:{api_hash}".encode()).decode("ascii")


def random_seed() -> str:
    return "".join(secrets.choice(_SEED_ALPHABET) for _ in range(SEED_LENGTH))


class UsaepayHashAuth(httpx.Auth):
    """Signs each request (and each retry) with a fresh seed."""

    def __init__(self, api_key: str, api_pin: str, seed_factory: Callable[[], str]) -> None:
        self._api_key = api_key
        self._api_pin = api_pin
        self._seed_factory = seed_factory

    def __repr__(self) -> str:
        return "UsaepayHashAuth(<redacted>)"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = usaepay_authorization(
            self._api_key, self._api_pin, self._seed_factory()
        )
        yield request


class UsaepayProvider(ProviderAdapter):
    name = "usaepay"
    api_name = "USAePay"
    display_name = "USAePay"
    terminal_ref_label = "Device key"
    secret_fields = (
        AccountField("api_key", "API key"),
        AccountField("api_pin", "API PIN"),
        AccountField("webhook_signature_key", "Webhook signature key"),
    )
    setting_fields = ()
    environments = {
        Environment.LIVE: Endpoints("https://usaepay.com/api/v2"),
        Environment.PROVIDER_TEST: Endpoints("https://sandbox.usaepay.com/api/v2"),
    }
    sandbox_endpoints = Endpoints("/sandbox/usaepay/api/v2")
    webhook_secret_field = "webhook_signature_key"
    capabilities = Capabilities(
        can_rename=True,
        can_abort=True,
        needs_capture=True,  # command "authonly", then cc:capture
        partial_capture=True,
        has_webhooks=True,  # transaction events only; the tracker re-reads the payrequest
        refund_mode="both",
        reports_online=True,
        has_idempotency_key=False,
        status_channel="poll",
        # 30 status calls a minute leaves room under the default 45/min key budget.
        poll_interval_s=2.0,
        # With the webhook's signature key held, an approved or declined sale is read as its
        # webhook arrives; a request cancelled or timed out on the terminal (no transaction, no
        # webhook) is seen within 5 s, at 12 calls a minute.
        webhook_poll_interval_s=5.0,
        metadata_field='custom_fields {"1": store, "2": payment, "3": merchant}',
        default_timeout_s=180,  # USAePay's default payrequest timeout
        requests_per_minute=45,
    )

    def __init__(
        self,
        account: AccountConfig,
        *,
        seed_factory: Callable[[], str] = random_seed,
        **kwargs: Any,
    ) -> None:
        super().__init__(account, **kwargs)
        self._seed_factory = seed_factory

    @property
    def _auth(self) -> UsaepayHashAuth:
        return UsaepayHashAuth(
            self.account.secret("api_key"), self.account.secret("api_pin"), self._seed_factory
        )

    @property
    def _currency(self) -> str:
        return str(self.account.settings.get("currency") or "USD")

    # -- terminals ---------------------------------------------------------

    def list_terminals(self) -> list[TerminalInfo]:
        return [_terminal_info(device) for device in self._all_pages("paymentengine/devices")]

    def get_terminal(self, ref: str) -> TerminalInfo:
        response = self._send("GET", f"paymentengine/devices/{quote(ref, safe='')}")
        return _terminal_info(self._json_object(response))

    def rename_terminal(self, ref: str, *, name: str) -> TerminalInfo:
        # USAePay keeps only letters, digits, spaces and dashes of the name and drops the rest
        # without a word (usaepay.md 3.1): a name that would lose a letter is refused here.
        if not name.strip():
            raise InvalidRequest("The terminal needs a name.")
        refusal = _name_refusal(name.strip())
        if refusal:
            raise InvalidRequest(refusal)
        response = self._send(
            "PUT", f"paymentengine/devices/{quote(ref, safe='')}", json={"name": name.strip()}
        )
        return _terminal_info(self._json_object(response))

    # -- payments ----------------------------------------------------------

    def start_payment(self, req: StartRequest) -> PaymentResult:
        """Start a payrequest. There is no idempotency key: after OutcomeUnknown,
        call ``find_started_payment`` before anything else, never this again."""
        body: dict[str, Any] = {
            "devicekey": req.terminal_ref,
            "command": COMMANDS[req.kind],
            "amount": to_decimal_string(req.amount_minor, req.currency),
            "timeout": req.timeout_s or self.capabilities.default_timeout_s,
            "block_offline": True,  # fail at once (21145) instead of waiting for the device
            "orderid": req.reference,
        }
        # USAePay documents a limit only for `invoice` (11 characters), which is not sent;
        # `orderid` is our reference (at most 24) and `description` has no documented limit.
        if req.description:
            body["description"] = req.description
        if fields := _custom_fields(req.metadata):
            body["custom_fields"] = fields
        response = self._send("POST", "paymentengine/payrequests", json=body, moves_money=True)
        result = self._request_result(self._json_object(response), kind=req.kind)
        if result.amount_minor is None:
            result = replace(result, amount_minor=req.amount_minor, currency=req.currency)
        return result

    def find_started_payment(self, req: StartRequest) -> PaymentResult | None:
        """Look the start up by its orderid among the device's payment requests.

        Uses the undocumented ``GET /paymentengine/payrequests?devicekey=`` listing
        (see "Assumptions" above).
        """
        try:
            requests = self._all_pages(
                "paymentengine/payrequests", params={"devicekey": req.terminal_ref}
            )
            matches = [request for request in requests if request.get("orderid") == req.reference]
            if len(matches) > 1:
                raise OutcomeUnknown(
                    "USAePay lists several payment requests for this order; "
                    "someone must check them."
                )
            if not matches:
                return None
            result = self._request_result(matches[0], kind=req.kind)
        except OutcomeUnknown:
            raise
        except ProviderError as exc:
            raise OutcomeUnknown(
                f"Could not check with USAePay whether the payment started: {exc.message}"
            ) from exc
        if result.amount_minor is None:
            result = replace(result, amount_minor=req.amount_minor, currency=req.currency)
        return result

    def get_payment(
        self, provider_ref: str, *, kind: PaymentKind, wait: bool = False
    ) -> PaymentResult:
        # USAePay has no long poll: `wait` changes nothing.
        response = self._send("GET", f"paymentengine/payrequests/{quote(provider_ref, safe='')}")
        return self._request_result(self._json_object(response), kind=PaymentKind(kind))

    def abort_payment(self, provider_ref: str, *, kind: PaymentKind) -> None:
        """Cancel the payrequest while it runs; for an authonly request that already completed
        and was not captured, void its transaction instead (usaepay.md §3.5: "Before settlement
        use {"command":"void","trankey":…}")."""
        try:
            response = self._send(
                "DELETE",
                f"paymentengine/payrequests/{quote(provider_ref, safe='')}",
                moves_money=True,  # a lost answer: the abort may have stopped the payment
            )
            body = self._json_object(response)
            if str(body.get("status", "")).lower() != "success":
                raise NotAbortable(
                    "USAePay would not cancel the request; it has probably finished.",
                    http_status=response.status_code,
                )
        except NotAbortable as exc:
            refused = exc
        except InvalidRequest as exc:
            refused = NotAbortable.replacing(
                exc,
                f"USAePay would not cancel the request; it has probably finished ({exc.message}).",
            )
            refused.__cause__ = exc
        else:
            return
        if PaymentKind(kind) != PaymentKind.AUTH:
            raise refused
        self._void_authorisation(provider_ref, refused)

    def _void_authorisation(self, provider_ref: str, refused: NotAbortable) -> None:
        result = self.get_payment(provider_ref, kind=PaymentKind.AUTH)
        if result.state != PaymentState.AUTHORIZED or not result.transaction_ref:
            raise refused
        body = {"command": "void", "trankey": result.transaction_ref}
        try:
            voided = self._json_object(
                self._send("POST", "transactions", json=body, moves_money=True)
            )
        except InvalidRequest as exc:
            raise NotAbortable.replacing(
                exc, f"USAePay would not void the authorisation ({exc.message})."
            ) from exc
        if str(voided.get("result_code", "")).upper() != "A":
            raise NotAbortable(f"USAePay would not void the authorisation ({voided.get('error')}).")

    def capture(
        self,
        transaction_ref: str,
        *,
        idempotency_key: str,
        amount_minor: int | None = None,
        currency: str | None = None,
    ) -> PaymentResult:
        # USAePay has no idempotency key; `idempotency_key` is not sent.
        body: dict[str, Any] = {"command": "cc:capture", "trankey": transaction_ref}
        if amount_minor is not None:
            body["amount"] = to_decimal_string(amount_minor, currency or self._currency)
        response = self._send("POST", "transactions", json=body, moves_money=True)
        return self._transaction_result(self._json_object(response), provider_ref=transaction_ref)

    def refund(self, req: RefundRequest) -> PaymentResult:
        body: dict[str, Any] = {
            "command": "refund",
            "trankey": req.original_transaction_ref,
            "amount": to_decimal_string(req.amount_minor, req.currency),
            "orderid": req.reference,
        }
        if req.description:
            body["description"] = req.description
        if fields := _custom_fields(req.metadata):
            body["custom_fields"] = fields
        response = self._send("POST", "transactions", json=body, moves_money=True)
        return self._transaction_result(self._json_object(response), provider_ref=None)

    # -- webhooks ----------------------------------------------------------

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> ProviderWebhook:
        signing_key = self.account.secrets.get("webhook_signature_key") or self.account.secret(
            "api_key"
        )
        payload = signed_json_body(
            headers,
            body,
            signature_header="X-Signature",
            secret=signing_key,
            api_name=self.api_name,
        )
        if not isinstance(payload, dict) or not isinstance(payload.get("event_id"), str):
            raise InvalidRequest("The USAePay webhook has no event_id.")
        event_body = (
            payload.get("event_body") if isinstance(payload.get("event_body"), dict) else {}
        )
        subject = event_body.get("object") if isinstance(event_body.get("object"), dict) else {}
        return ProviderWebhook(
            event_id=payload["event_id"],
            event_type=str(payload.get("event_type") or ""),
            payment_ref=subject.get("key"),  # the transaction key (trankey)
            raw=payload,
            order_reference=subject.get("orderid"),
        )

    # -- wire --------------------------------------------------------------

    def _request_result(self, request: dict[str, Any], *, kind: PaymentKind) -> PaymentResult:
        key = request.get("key")
        status = request.get("status")
        if not isinstance(key, str) or not isinstance(status, str):
            raise UnexpectedResponse("USAePay sent a payment request without key or status.")
        transaction = request.get("transaction")
        details = self._transaction_details(transaction) if isinstance(transaction, dict) else {}
        word = status.strip().lower()
        if ("status", word) not in STATUS_WORDS:
            return PaymentResult(
                provider_ref=key,
                state=PaymentState.UNKNOWN,
                raw_status=status,
                message=f"USAePay reported a status we do not know: {status!r}.",
                raw=request,
            )
        state = STATUS_WORDS[("status", word)]
        raw_status = status
        if state is None:  # the transaction decides
            if not isinstance(transaction, dict):
                return PaymentResult(
                    provider_ref=key,
                    state=PaymentState.PENDING,
                    raw_status=status,
                    message="USAePay finished but has not sent the transaction details yet.",
                    raw=request,
                )
            result_code = transaction.get("result_code")
            state = STATUS_WORDS.get(("result_code", result_code)) or PaymentState.UNKNOWN
            if state is PaymentState.APPROVED and kind is PaymentKind.AUTH:
                state = PaymentState.AUTHORIZED
            raw_status = f"{status}/{result_code}"
        return PaymentResult(
            provider_ref=key, state=state, raw_status=raw_status, raw=request, **details
        )

    def _transaction_result(
        self, transaction: dict[str, Any], *, provider_ref: str | None
    ) -> PaymentResult:
        """A transaction answered by POST /transactions (capture, refund) -> its result."""
        details = self._transaction_details(transaction)
        result_code = transaction.get("result_code")
        return PaymentResult(
            provider_ref=provider_ref or details["transaction_ref"] or "",
            state=STATUS_WORDS.get(("result_code", result_code)) or PaymentState.UNKNOWN,
            raw_status=f"transaction/{result_code}",
            raw=transaction,
            **details,
        )

    def _transaction_details(self, transaction: dict[str, Any]) -> dict[str, Any]:
        """PaymentResult fields found on a USAePay transaction object."""
        card = (
            transaction.get("creditcard") if isinstance(transaction.get("creditcard"), dict) else {}
        )
        amount = read_decimal_amount(transaction.get("auth_amount"), self._currency)
        return {
            "transaction_ref": transaction.get("key"),
            "amount_minor": amount,
            "currency": self._currency if amount is not None else None,
            "card_brand": card.get("type"),
            "card_last4": last4(card.get("number")),
            "auth_code": transaction.get("authcode") or None,
            "message": self._scrub(
                str(transaction.get("error") or transaction.get("result") or "")
            ),
        }

    def _all_pages(
        self, path: str, *, params: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        offset = 0
        while True:
            page = self._json_object(
                self._send(
                    "GET", path, params={**(params or {}), "limit": PAGE_SIZE, "offset": offset}
                )
            )
            data = [item for item in page.get("data") or [] if isinstance(item, dict)]
            items.extend(data)
            offset += len(data)
            total = _as_int(page.get("total"))  # an int on some lists, a string on others
            if (
                not data
                or (total is not None and offset >= total)
                or (total is None and len(data) < PAGE_SIZE)
            ):
                return items

    def _send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        moves_money: bool = False,
    ) -> httpx.Response:
        auth = self._auth
        with transport_errors(f"{method} /{path}", moves_money=moves_money):
            response = self.client.request(method, path, json=json, params=params, auth=auth)
        self._raise_for_response(response, moves_money=moves_money)
        return response

    def _raise_for_response(self, response: httpx.Response, *, moves_money: bool) -> None:
        """USAePay's ``{"error", "errorcode"}`` answers -> the error taxonomy."""
        body = json_or_none(response)
        is_error_body = isinstance(body, dict) and "errorcode" in body and "type" not in body
        if response.is_success and not is_error_body:
            return
        status = response.status_code
        error_code = _as_int(body.get("errorcode")) if is_error_body else None
        text = self._scrub(str(body.get("error") or "")) if is_error_body else ""
        text = text or response.reason_phrase or f"HTTP {status}"
        codes = {"provider_code": error_code, "http_status": status}
        if error_code in ERROR_CODES:
            error_class, message = ERROR_CODES[error_code]
            if error_class is RateLimited:
                raise RateLimited(message, retry_after=retry_after(response), **codes)
            raise error_class(message, **codes)
        if status == 429:  # worded like error code 155
            raise RateLimited(ERROR_CODES[155][1], retry_after=retry_after(response), **codes)
        if status in (401, 403):
            raise AuthError(f"USAePay refused our API key or PIN: {text}", **codes)
        if status == 404:
            raise NotFound(f"USAePay could not find it: {text}", **codes)
        raise_for_common_status(
            response, self.api_name, text, moves_money=moves_money, provider_code=error_code
        )


# The characters USAePay keeps in a device name: ASCII letters, digits, spaces and dashes.
_NAME_CHARACTERS = frozenset(string.ascii_letters + string.digits + " -")


def _name_refusal(name: str) -> str | None:
    """Why USAePay cannot store `name`, or None when it can.

    USAePay drops every other character without a word. Dropped punctuation ("Patio #2!" is
    saved as "Patio 2") is said after the rename; a dropped letter or digit of another script
    ("Café", "מסוף") would change the name itself, so such a name is refused before the call.
    """
    kept = "".join(ch for ch in name if ch in _NAME_CHARACTERS).strip()
    if not kept:
        return (
            "USAePay keeps only the letters A to Z, digits, spaces and dashes of a terminal name, "
            "and none would remain of this one. Choose a name written with them."
        )
    lost = list(
        dict.fromkeys(
            ch for ch in name if ch not in _NAME_CHARACTERS and unicodedata.category(ch)[0] in "LN"
        )
    )
    if not lost:
        return None
    shown = ", ".join(f"“{ch}”" for ch in lost[:5]) + (" …" if len(lost) > 5 else "")
    return (
        "USAePay keeps only the letters A to Z, digits, spaces and dashes of a terminal name "
        f"and would drop {shown}. Choose a name without them."
    )


def _terminal_info(device: dict[str, Any]) -> TerminalInfo:
    key = device.get("key")
    if not isinstance(key, str):
        raise UnexpectedResponse("USAePay sent a device without a key.")
    info = device.get("terminal_info") if isinstance(device.get("terminal_info"), dict) else {}
    model = " ".join(str(part) for part in (info.get("make"), info.get("model")) if part)
    status = str(device.get("status") or "")
    return TerminalInfo(
        ref=key,
        name=str(device.get("name") or ""),
        model=model,
        serial=str(info.get("serial") or ""),
        online=status.lower() in ONLINE_DEVICE_STATUSES,
        status_text=status,
        raw=device,
    )


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


# Our PaymentMetadata in USAePay's numbered custom fields (`custom_fields{"1": …}` on payrequests
# and transactions). The numbers are ours; a merchant names them in the USAePay console.
CUSTOM_FIELD_NUMBERS = {"store_id": "1", "payment_id": "2", "merchant_id": "3"}


def _custom_fields(metadata: PaymentMetadata) -> dict[str, str]:
    """``{"1": store id, "2": our payment id, "3": merchant id}``, the ones that are set."""
    return {CUSTOM_FIELD_NUMBERS[name]: value for name, value in metadata.as_dict().items()}

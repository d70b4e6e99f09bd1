"""USAePay Payment Engine emulator (REST v2) under `/sandbox/usaepay/api/v2/`.

Adapters use `base_url = <root>/sandbox/usaepay/api/v2`. Paths, bodies, status words and error
codes follow `usaepay.md` and seed 004 (the "POST /payrequests" page):

* Auth on every request: `Authorization: Basic base64(apikey + ":" + "s2/" + seed + "/" +
  sha256_hex(apikey + seed + pin))`, checked against the account's stored key and PIN.
* `GET /paymentengine/devices` (`{type: "list", limit, offset, data, total}`), `GET` and
  `PUT /paymentengine/devices/{devicekey}` (`{"name"}`; letters, digits, spaces and dashes kept).
  A device's `status` is "connected" when online, "offline" otherwise.
* `POST /paymentengine/payrequests` `{devicekey, command: sale|authonly|refund (or "cc:…"),
  amount: "8.88", timeout (default 180), block_offline, orderid, description, …}` ->
  `{type: "request", key: "pr_…", expiration, status: "sent to device"}`. Errors from seed 004:
  21121 unknown devicekey, 21143 battery too low, 21145 device offline (at once with
  `block_offline: true`; otherwise the request waits for the device until its timeout),
  21146 device busy (one active request per device).
* `GET /paymentengine/payrequests/{key}` -> `{type, key, expiration, status, transaction?, complete?}`
  with usaepay.md §4's status words; "timeout" once the request's timeout passed.
* `DELETE /paymentengine/payrequests/{key}` -> `{"status": "success"}` while not final.
* `POST /transactions` `{"command": "refund" | "cc:refund", "trankey", "amount"?}` (referenced refund)
  and `{"command": "cc:capture" | "capture", "trankey", "amount"?}`, `{"command": "void", "trankey"}`;
  `GET /transactions/{trankey}`.
* Errors are `{"error": message, "errorcode": n}`; declines are transactions with `result_code: "D"`.

## Where the real API is unknown

USAePay documents none of these; the sandbox chooses, and the dashboard's adapter may rely on it:

* **`GET /paymentengine/payrequests?devicekey=…` is OUR ASSUMPTION, not a documented USAePay
  endpoint.** It lists the account's payment requests (of that device when `devicekey` is given),
  newest first, in the standard list shape `{type: "list", limit, offset, data, total}`; each
  entry is the request object plus `orderid` and `devicekey`. The dashboard uses it to find a
  request whose start answer was lost instead of starting a second charge.
* **`custom_fields`** on a payrequest: an object of numbered text fields (`{"1": "…"}`, numbers
  1 to 20); anything else is refused as invalid data. Kept with the request as received.
* **Bad credentials** (HTTP 401, codes from USAePay's error catalogue): a missing or unknown API
  key -> `{"error": "Specified source key not found.", "errorcode": 23}`; a key without a PIN hash
  -> 20007 "A pin is required to use this source key."; a hash that does not match the PIN ->
  20008 "Unable to validate request. Check pin and try again.". Seeds may be reused.
* **HTTP statuses**: USAePay tabulates none. The payrequest refusals (21121, 21143, 21145, 21146),
  validation errors and refund/capture refusals are HTTP 400; unknown request or transaction keys
  are 404 (`{"error": "Invalid record locator key", "errorcode": 47}` for payrequests,
  20001 "Specified transactions was not found." for `GET /transactions/{key}`, 10105 "Unable to
  find original transaction." for a refund/capture of an unknown trankey).
* **Cancel after the end**: `DELETE` of a request that is already final answers HTTP 400
  `{"error": "Payment request already finished; it can no longer be canceled", "errorcode": 21147}`
  (21147 is a sandbox-invented code next to the documented 2114x family).
* **21144** ("Transaction request has timed out."): the seed lists it without saying when it is
  sent; the sandbox adds `"error"` and `"errorcode": 21144` to a request object whose status is
  "timeout" (its `type` stays "request").
* **Status words**: a pending request is "sending to device" while the device is offline and
  "sent to device" otherwise; approved/declined -> "transaction complete" with `transaction` and
  `complete: true`; canceled over the API -> "canceled"; canceled by the customer ->
  "transaction canceled"; terminal error -> "error"; timed out -> "timeout".
* **Amounts** are read and written in the account's `currency` setting (default USD), since
  USAePay's wire carries no currency. `expiration` is UTC.
* **Refunds** never exceed what remains (10133 "Amount exceeds original transaction amount.");
  only approved sales and captured pre-authorisations can be refunded (10134). Without `amount`,
  the rest is refunded. An amount ending in 02 is declined.
* **Void**: `{"command": "void" | "cc:void", "trankey"}` voids an approved pre-authorisation nobody
  captured (answered with the transaction, `result_code` "A"); anything else -> 10125.
* **Capture**: `cc:capture` of an already captured pre-authorisation answers the same transaction
  again (a retry after a lost answer is harmless); of a sale or a declined transaction -> 10125
  "Original transaction not approved."; more than authorised -> 10133.
* **Validation**: a missing field -> 19001 "The field '<name>' is required."; an unparseable body,
  amount or timeout -> 10129 "Invalid transaction data."; an unknown command -> 3 "Transaction
  type [<command>] not supported.". Without `devicekey`, the account's only device is used.
* **Faults**: the 5xx switch answers HTTP 503 `{"error": "Gateway temporarily offline. Please try
  again shortly.", "errorcode": 18}`. There is no rate limiting.
* **Test webhook**: `POST /_sandbox/webhook-test` `{"url"}` with the usual auth hash (the sandbox's
  own endpoint: webhooks are configured in USAePay's console, which documents no test event) ->
  202 `{"event_id", "event_type": "webhook.test"}`; the event is USAePay's event object with
  `event_type` `webhook.test` and only the merchant in `event_body`. A `url` that is not an
  http(s) address: 400 10129 "Invalid transaction data.".
* **Webhooks** (`sandbox/webhooks.py`): `transaction.sale.success` / `.failure` when a sale or
  pre-authorisation is decided, `transaction.sale.captured` on capture,
  `transaction.refund.success` for an approved refund; `event_body.object` is the transaction
  object of `GET /transactions/{key}`, `merch_key` a hash of the account, `event_id` 64 hex.
  Payment requests that end without a transaction (cancelled, timed out, error) send nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from functools import wraps

from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from dashboard.access import public
from sandbox import amounts, faults, services, webhooks, wire
from sandbox.emulators import EmulatorName
from sandbox.models import (
    CanceledBy,
    PaymentStatus,
    SandboxAccount,
    SandboxPayment,
    SandboxPaymentKind,
)

DEFAULT_TIMEOUT_S = 180  # documented default of POST /payrequests
MAX_TIMEOUT_S = 3600  # USAePay documents no maximum; the emulator refuses more than an hour
PAGE_DEFAULT = 20  # documented default page size
PAGE_MAX = 1000
NAME_FILTER = re.compile(r"[^A-Za-z0-9 \-]")

COMMANDS = {
    "sale": SandboxPaymentKind.SALE,
    "cc:sale": SandboxPaymentKind.SALE,
    "authonly": SandboxPaymentKind.AUTH,
    "cc:authonly": SandboxPaymentKind.AUTH,
    "refund": SandboxPaymentKind.REFUND,
    "cc:refund": SandboxPaymentKind.REFUND,
}
REFUND_COMMANDS = {"refund", "cc:refund"}
CAPTURE_COMMANDS = {"cc:capture", "capture"}
VOID_COMMANDS = {"void", "cc:void"}

# (HTTP status, errorcode, message)
UNKNOWN_KEY = (401, 23, "Specified source key not found.")
PIN_REQUIRED = (401, 20007, "A pin is required to use this source key.")
BAD_HASH = (401, 20008, "Unable to validate request. Check pin and try again.")
UNKNOWN_DEVICE = (400, 21121, "Unknown devicekey {key}")
BATTERY_LOW = (400, 21143, "Request failed (Payment terminal battery too low)")
TIMED_OUT = (400, 21144, "Transaction request has timed out.")
DEVICE_OFFLINE = (400, 21145, "Device is currently offline.")
DEVICE_BUSY = (400, 21146, "Device is currently processing another transaction.")
NOT_CANCELABLE = (400, 21147, "Payment request already finished; it can no longer be canceled")
RECORD_NOT_FOUND = (404, 47, "Invalid record locator key")
TRANSACTION_NOT_FOUND = (404, 20001, "Specified transactions was not found.")
ORIGINAL_NOT_FOUND = (404, 10105, "Unable to find original transaction.")
UNSUPPORTED_COMMAND = (400, 3, "Transaction type [{command}] not supported.")
FIELD_REQUIRED = (400, 19001, "The field '{field}' is required.")
INVALID_DATA = (400, 10129, "Invalid transaction data.")
AMOUNT_EXCEEDS = (400, 10133, "Amount exceeds original transaction amount.")
NOT_APPROVED_SALE = (400, 10134, "Original transaction not an approved sale")
NOT_APPROVED = (400, 10125, "Original transaction not approved.")
GATEWAY_OFFLINE = (503, 18, "Gateway temporarily offline. Please try again shortly.")
NOT_ALLOWED = (405, 10129, "Invalid transaction data.")

REFUSALS = {
    services.Refused.BATTERY_LOW: BATTERY_LOW,
    services.Refused.DEVICE_OFFLINE: DEVICE_OFFLINE,
    services.Refused.DEVICE_BUSY: DEVICE_BUSY,
    services.Refused.INVALID_AMOUNT: INVALID_DATA,
    services.Refused.REFUND_EXCEEDS: AMOUNT_EXCEEDS,
    services.Refused.CAPTURE_EXCEEDS: AMOUNT_EXCEEDS,
    services.Refused.NOT_REFUNDABLE: NOT_APPROVED_SALE,
    services.Refused.NOT_CAPTURABLE: NOT_APPROVED,
}

ENTRY_MODES = {
    "contactlessIcc": "Contactless",
    "icc": "EMV Chip Read",
    "swiped": "Swiped",
    "keyed": "Keyed",
}


def _error(error: tuple, **fields) -> JsonResponse:
    status, code, message = error
    return JsonResponse({"error": message.format(**fields), "errorcode": code}, status=status)


def _json(body: dict, status: int = 200) -> JsonResponse:
    return JsonResponse(body, status=status)


# -- auth -----------------------------------------------------------------------------------------


def usaepay_api(view):
    """Checks the per-request Basic auth hash and passes the account to the view."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        webhooks.kick_if_due()
        account, error = _authenticate(request.headers.get("Authorization", ""))
        if error:
            return _error(error)
        fault = faults.credential_fault(account)
        if fault == "5xx":
            return _error(GATEWAY_OFFLINE)
        if fault == "refuse":
            return _error(UNKNOWN_KEY)
        if wire.has_nul(kwargs.values()):
            return _error(RECORD_NOT_FOUND)  # no key of ours has one
        if wire.query_has_nul(request):
            return _error(INVALID_DATA)
        return faults.deliver_credential(request, account, view(request, account, *args, **kwargs))

    return public("USAePay emulator wire API; the API key hash is checked by the view")(
        csrf_exempt(wrapped)
    )


def _authenticate(header: str) -> tuple[SandboxAccount | None, tuple | None]:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        return None, UNKNOWN_KEY
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None, UNKNOWN_KEY
    api_key, _, api_hash = decoded.partition(":")
    if wire.has_nul(api_key):
        return None, UNKNOWN_KEY  # no key of ours has one
    account, matched = services.account_by_secret(
        provider=EmulatorName.USAEPAY, name="api_key", value=api_key
    )
    if account is None:
        return None, UNKNOWN_KEY
    pin = str(matched.get("api_pin") or "")
    if not api_hash:
        return (account, None) if not pin else (None, PIN_REQUIRED)
    method, _, rest = api_hash.partition("/")
    seed, _, digest = rest.partition("/")
    if method != "s2" or not seed or not digest:
        return None, BAD_HASH
    expected = hashlib.sha256((api_key + seed + pin).encode()).hexdigest()
    if not hmac.compare_digest(expected, digest.lower()):
        return None, BAD_HASH
    return account, None


# -- parsing --------------------------------------------------------------------------------------


def _body(request) -> dict | None:
    if not request.body.strip():
        return {}
    try:
        body = wire.parse_json(request.body)
    except wire.WireValueError:
        return None
    return body if isinstance(body, dict) else None


def _page(request) -> tuple[int, int] | None:
    limit, offset = request.GET.get("limit", str(PAGE_DEFAULT)), request.GET.get("offset", "0")
    if not wire.is_digits(limit) or not wire.is_digits(offset, max_digits=9):
        return None
    limit, offset = int(limit), int(offset)
    if not 1 <= limit <= PAGE_MAX or offset < 0:
        return None
    return limit, offset


def _flag(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes", "y")
    return bool(value)


def _currency(account: SandboxAccount) -> str:
    return str(account.settings.get("currency") or "USD")


def _expiration(payment: SandboxPayment) -> str:
    return payment.timeout_at.strftime("%Y-%m-%d %H:%M:%S")


# -- devices --------------------------------------------------------------------------------------


def _device_object(device) -> dict:
    api_key = str(device.account.secrets.get("api_key") or "")
    return {
        "type": "device",
        "key": device.ref,
        "apikeyid": hashlib.sha256(api_key.encode()).hexdigest()[:17],
        "terminal_type": "standalone",
        "status": "connected" if device.online else "offline",
        "name": device.name,
        "settings": {"timeout": 30, "enable_standalone": False, "share_device": False},
        "terminal_info": {
            "make": device.manufacturer,
            "model": device.model,
            "revision": None,
            "serial": device.serial,
        },
        "terminal_config": {
            "enable_emv": True,
            "enable_debit_msr": True,
            "enable_tip_adjust": False,
            "enable_contactless": True,
        },
    }


@usaepay_api
def devices(request, account):
    if request.method != "GET":
        return _error(NOT_ALLOWED)
    page = _page(request)
    if page is None:
        return _error(INVALID_DATA)
    limit, offset = page
    listed = account.devices.select_related("account").order_by("pk")
    return _json(
        {
            "type": "list",
            "limit": limit,
            "offset": offset,
            "data": [_device_object(device) for device in listed[offset : offset + limit]],
            "total": listed.count(),
        }
    )


@usaepay_api
def device(request, account, key):
    if request.method not in ("GET", "PUT"):
        return _error(NOT_ALLOWED)
    found = account.devices.select_related("account").filter(ref=key).first()
    if found is None:
        return _error(UNKNOWN_DEVICE, key=key)
    if faults.device_faults(found):
        return _error(GATEWAY_OFFLINE)
    if request.method == "PUT":
        body = _body(request)
        if body is None:
            return _error(INVALID_DATA)
        if "name" in body:
            if not isinstance(body["name"], str):
                return _error(INVALID_DATA)
            found = services.device_rename(
                device=found, name=NAME_FILTER.sub("", body["name"])[:100]
            )
    return _json(_device_object(found))


# -- payment requests -----------------------------------------------------------------------------


def _status_word(payment: SandboxPayment) -> str:
    if payment.status == PaymentStatus.PENDING:
        return "sent to device" if payment.device.online else "sending to device"
    if payment.status in (PaymentStatus.APPROVED, PaymentStatus.DECLINED):
        return "transaction complete"
    if payment.status == PaymentStatus.CANCELED:
        return "canceled" if payment.canceled_by == CanceledBy.MERCHANT else "transaction canceled"
    if payment.status == PaymentStatus.TIMED_OUT:
        return "timeout"
    return "error"


def _request_object(payment: SandboxPayment, *, listed: bool = False) -> dict:
    body = {
        "type": "request",
        "key": payment.provider_ref,
        "expiration": _expiration(payment),
        "status": _status_word(payment),
    }
    if payment.status in (PaymentStatus.APPROVED, PaymentStatus.DECLINED):
        body["transaction"] = _transaction_object(payment)
        body["complete"] = True
    elif payment.status == PaymentStatus.TIMED_OUT:
        body["error"], body["errorcode"] = TIMED_OUT[2], TIMED_OUT[1]
    if listed:
        body["orderid"] = payment.order_ref
        body["devicekey"] = payment.device.ref
    return body


def _transaction_object(payment: SandboxPayment, *, full: bool = False) -> dict:
    currency = payment.currency
    approved = payment.status == PaymentStatus.APPROVED
    body = {
        "type": "transaction",
        "key": payment.transaction_ref,
        "refnum": payment.refnum,
        "is_duplicate": "N",
        "result_code": "A" if approved else "D",
        "result": "Approved" if approved else "Declined",
        "authcode": payment.authcode if approved else "000000",
        "error": "Approved" if approved else "Card Declined",
        "proc_refnum": "",
        "auth_amount": amounts.to_decimal_string(payment.amount_minor if approved else 0, currency),
        "creditcard": {
            "number": f"{payment.card_bin[:4]}xxxxxxxx{payment.card_last4}",
            "type": payment.card_brand,
            "entry_mode": ENTRY_MODES.get(payment.entry_method, "Card Present"),
        },
    }
    if payment.order_ref:
        body["orderid"] = payment.order_ref
    if full:
        body["amount"] = amounts.to_decimal_string(payment.amount_minor, currency)
        if payment.description:
            body["description"] = payment.description
    return body


def _custom_fields_valid(fields) -> bool:
    """`custom_fields` is an object of numbered text fields (`{"1": "…"}`), or absent. USAePay
    documents no count or length; the sandbox takes numbers 1 to 20 (OUR ASSUMPTION)."""
    if fields is None:
        return True
    return isinstance(fields, dict) and all(
        isinstance(key, str) and key.isdigit() and 1 <= int(key) <= 20 and isinstance(value, str)
        for key, value in fields.items()
    )


def _find_request(account, key: str) -> SandboxPayment | None:
    """The account's payment request `key` (every call of a tracker asks): `[:1]`, not `.first()`,
    so no ORDER BY to compile; the device's account is the one the caller authenticated as."""
    if not key:
        return None
    payment = next(
        iter(
            SandboxPayment.objects.for_account(account)
            .select_related("device")
            .filter(provider_ref=key)[:1]
        ),
        None,
    )
    if payment is not None:
        payment.device.account = account
    return payment


@usaepay_api
def payrequests(request, account):
    if request.method == "GET":
        return _list_payrequests(request, account)
    if request.method != "POST":
        return _error(NOT_ALLOWED)
    body = _body(request)
    if body is None:
        return _error(INVALID_DATA)
    devicekey = body.get("devicekey")
    if devicekey:
        device = account.devices.filter(ref=str(devicekey)).first()
    else:
        only = list(account.devices.all()[:2])
        device = only[0] if len(only) == 1 else None
        if device is None:
            return _error(FIELD_REQUIRED, field="devicekey")
    if device is None:
        return _error(UNKNOWN_DEVICE, key=devicekey)
    if faults.device_faults(device):
        return _error(GATEWAY_OFFLINE)
    for field in ("command", "amount"):
        if body.get(field) in (None, ""):
            return _error(FIELD_REQUIRED, field=field)
    command = str(body["command"]).strip().lower()
    if command not in COMMANDS:
        return _error(UNSUPPORTED_COMMAND, command=command)
    if not _custom_fields_valid(body.get("custom_fields")):
        return _error(INVALID_DATA)
    currency = _currency(account)
    try:
        amount_minor = amounts.to_minor(body["amount"], currency)
        timeout_s = int(body.get("timeout") or DEFAULT_TIMEOUT_S)
    except (TypeError, ValueError, OverflowError):
        return _error(INVALID_DATA)
    if amount_minor <= 0 or not 0 < timeout_s <= MAX_TIMEOUT_S:
        return _error(INVALID_DATA)
    try:
        payment = services.sandbox_payment_start(
            device=device,
            kind=COMMANDS[command],
            amount_minor=amount_minor,
            currency=currency,
            timeout_s=timeout_s,
            order_ref=str(body.get("orderid") or "")[:64],
            description=str(body.get("description") or ""),
            operator=str(body.get("clerk") or "")[:50],
            request=body,
            when_offline="refuse" if _flag(body.get("block_offline")) else "wait",
            when_battery_low="refuse",
        )
    except services.Refused as refusal:
        return _error(REFUSALS[refusal.reason])
    payment = SandboxPayment.objects.select_related("device").get(pk=payment.pk)
    answer = {
        "type": "request",
        "key": payment.provider_ref,
        "expiration": _expiration(payment),
        "status": _status_word(payment),
    }
    return faults.deliver(request, device, _json(answer))


def _list_payrequests(request, account):
    """OUR ASSUMPTION (see the module docstring): USAePay documents no such listing."""
    page = _page(request)
    if page is None:
        return _error(INVALID_DATA)
    limit, offset = page
    listed = (
        SandboxPayment.objects.for_account(account)
        .exclude(provider_ref="")
        .select_related("device")
    )
    devicekey = request.GET.get("devicekey")
    if devicekey:
        device = account.devices.filter(ref=devicekey).first()
        if device is None:
            return _error(UNKNOWN_DEVICE, key=devicekey)
        if faults.device_faults(device):
            return _error(GATEWAY_OFFLINE)
        services.device_active_payment(device=device)
        listed = listed.filter(device=device)
    else:
        for pending in listed.pending():
            services.payment_refresh(payment=pending)
    listed = listed.order_by("-created_at", "-pk")
    return _json(
        {
            "type": "list",
            "limit": limit,
            "offset": offset,
            "data": [
                _request_object(payment, listed=True) for payment in listed[offset : offset + limit]
            ],
            "total": listed.count(),
        }
    )


@usaepay_api
def payrequest(request, account, key):
    if request.method not in ("GET", "DELETE"):
        return _error(NOT_ALLOWED)
    payment = _find_request(account, key)
    if payment is None:
        return _error(RECORD_NOT_FOUND)
    if faults.device_faults(payment.device):
        return _error(GATEWAY_OFFLINE)
    if request.method == "DELETE":
        if services.payment_cancel(payment=payment):
            return _json({"status": "success"})
        return _error(NOT_CANCELABLE)
    payment = services.payment_refresh(payment=payment)
    return _json(_request_object(payment))


# -- transactions ---------------------------------------------------------------------------------


def _find_transaction(
    account, trankey: str, *, refnum: str = "", kinds=None
) -> SandboxPayment | None:
    found = (
        SandboxPayment.objects.for_account(account)
        .select_related("device__account")
        .filter(status__in=[PaymentStatus.APPROVED, PaymentStatus.DECLINED])
    )
    if kinds:
        found = found.filter(kind__in=kinds)
    if trankey:
        return found.filter(transaction_ref=trankey).first()
    if refnum:
        return found.filter(refnum=refnum).first()
    return None


@usaepay_api
def transactions(request, account):
    if request.method != "POST":
        return _error(NOT_ALLOWED)
    body = _body(request)
    if body is None:
        return _error(INVALID_DATA)
    command = str(body.get("command") or "").strip().lower()
    if not command:
        return _error(FIELD_REQUIRED, field="command")
    if command not in REFUND_COMMANDS | CAPTURE_COMMANDS | VOID_COMMANDS:
        return _error(UNSUPPORTED_COMMAND, command=command)
    trankey, refnum = str(body.get("trankey") or ""), str(body.get("refnum") or "")
    if not trankey and not refnum:
        return _error(FIELD_REQUIRED, field="trankey")
    original = _find_transaction(
        account, trankey, refnum=refnum, kinds=(SandboxPaymentKind.SALE, SandboxPaymentKind.AUTH)
    )
    if original is None:
        return _error(ORIGINAL_NOT_FOUND)
    if faults.device_faults(original.device):
        return _error(GATEWAY_OFFLINE)
    amount_minor = None
    if body.get("amount") not in (None, ""):
        try:
            amount_minor = amounts.to_minor(body["amount"], original.currency)
        except ValueError:
            return _error(INVALID_DATA)
    if command in VOID_COMMANDS:
        # Only an approved pre-authorisation nobody captured is voided here (the sandbox has no
        # batches); anything else -> 10125 "Original transaction not approved.".
        if not services.payment_void(payment=original):
            return _error(NOT_APPROVED)
        answer = {**_transaction_object(original), "result_code": "A", "result": "Approved"}
        return faults.deliver(request, original.device, _json(answer))
    try:
        if command in REFUND_COMMANDS:
            result = services.payment_refund(
                payment=original,
                amount_minor=amount_minor,
                description=str(body.get("description") or ""),
                order_ref=str(body.get("orderid") or "")[:64],
                request=body,
            )
        else:
            try:
                result = services.payment_capture(payment=original, amount_minor=amount_minor)
            except services.Refused as refusal:
                if refusal.reason != services.Refused.ALREADY_CAPTURED:
                    raise
                result = original  # captured before: answer it again
    except services.Refused as refusal:
        return _error(REFUSALS[refusal.reason])
    return faults.deliver(request, original.device, _json(_transaction_object(result)))


@usaepay_api
def transaction(request, account, trankey):
    if request.method != "GET":
        return _error(NOT_ALLOWED)
    found = _find_transaction(account, trankey)
    if found is None:
        return _error(TRANSACTION_NOT_FOUND)
    if faults.device_faults(found.device):
        return _error(GATEWAY_OFFLINE)
    return _json(_transaction_object(found, full=True))


# -- webhooks -------------------------------------------------------------------------------------


def webhook_events(payment: SandboxPayment, change: str) -> list:
    """USAePay's transaction events (usaepay.md §5): `{"type": "event", "event_triggered",
    "event_type", "event_body": {"merchant": {"merch_key"}, "object": <transaction>},
    "event_id": <64 hex>}`. Payment requests themselves have no events: a cancelled or timed-out
    request sends nothing."""
    if payment.status not in (PaymentStatus.APPROVED, PaymentStatus.DECLINED):
        return []
    refund = payment.kind == SandboxPaymentKind.REFUND
    if change == webhooks.CAPTURED:
        event_type = "transaction.sale.captured"
    elif change in (webhooks.DECIDED, webhooks.REFUNDED) and refund:
        if payment.status != PaymentStatus.APPROVED:
            return []
        event_type = "transaction.refund.success"
    elif change == webhooks.DECIDED:
        approved = payment.status == PaymentStatus.APPROVED
        event_type = "transaction.sale.success" if approved else "transaction.sale.failure"
    else:
        return []
    account = payment.device.account
    event_id = secrets.token_hex(32)
    happened = payment.captured_at if change == webhooks.CAPTURED else payment.decided_at
    body = {
        "type": "event",
        "event_triggered": (happened or payment.created_at).strftime("%Y-%m-%d %H:%M:%S"),
        "event_type": event_type,
        "event_body": {
            "merchant": {"merch_key": hashlib.sha256(account.label.encode()).hexdigest()[:16]},
            "object": _transaction_object(payment, full=True),
        },
        "event_id": event_id,
    }
    return [webhooks.Event(event_id, event_type, body)]


def webhook_test_event(account: SandboxAccount) -> webhooks.Event:
    """USAePay documents no test event: its event object (usaepay.md §5) with the `event_type`
    `webhook.test`, the merchant and no transaction in `event_body`."""
    event_id = secrets.token_hex(32)
    body = {
        "type": "event",
        "event_triggered": timezone.now().strftime("%Y-%m-%d %H:%M:%S"),
        "event_type": "webhook.test",
        "event_body": {
            "merchant": {"merch_key": hashlib.sha256(account.label.encode()).hexdigest()[:16]}
        },
        "event_id": event_id,
    }
    return webhooks.Event(event_id, "webhook.test", body)


@usaepay_api
def webhook_test(request, account):
    """The sandbox's "send a test webhook" (see the module docstring)."""
    if request.method != "POST":
        return _error(NOT_ALLOWED)
    url = webhooks.webhook_test_url(_body(request))
    if url is None:
        return _error(INVALID_DATA)
    delivery = webhooks.account_send_test_webhook(account=account, url=url)
    return _json({"event_id": delivery.event_id, "event_type": delivery.event_type}, status=202)

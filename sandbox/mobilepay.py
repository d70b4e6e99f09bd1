"""MobilePay PoS emulator, as Integra's wrapper serves it, under `/sandbox/mobilepay/`.

Adapters use `base_url = <root>/sandbox/mobilepay/`; every path below is relative to it, as on
Integra's help index (seed 002, `mobilepay-integra.md`):

* Auth: no headers. Every call carries the query parameters (or, for a POST, body fields)
  `accessToken` and `bioCode`; `bioCode` names the merchant (the sandbox account whose
  `bio_code` secret it is), `accessToken` must be that merchant's current token.
* `api/pos/manage/token?bioCode` (GET or POST `{"bioCode"}`) creates the long-lived token, only
  while the merchant has none; `api/pos/manage/token/reset?bioCode&previousAccessToken` replaces
  it, and the previous token stops working at once.
* Every answer is the envelope `{…, "success": bool, "errors": [string]}`. JSON unless the Accept
  header asks for XML (`application/xml`, `text/xml`), then the DataContract XML of ASP.NET.
  Amounts are decimal strings with a dot ("27.00"); `currencyCode` defaults to DKK.
* Direct flow: `api/pos/payment/start?orderId&amount&terminalId&currencyCode` (or
  `start/byPosId?…&posId`, GET or POST) -> `{paymentId}`; `api/pos/payment/status?paymentId`;
  when Reserved, `api/pos/payment/capture?paymentId&amount`. Prepared flow:
  `api/pos/payment/prepare?orderId&terminalId` then
  `api/pos/payment/ready?orderId&amount&terminalId&currencyCode&paymentId`.
* One active payment per PoS: a start or prepare is refused while one is active (any state but
  Captured, cancelled, rejected or expired: Reserved counts).
* `api/pos/payment/cancel?paymentId` works in any state but Captured.
* `api/pos/payments?state&orderId&terminalId` lists the active payments (or, with a state, the
  payments in that state, e.g. Captured); `api/pos/payment/id/retrieve/bystate?orderId&state`
  (state must be Captured), `…/byterminal?orderId&terminalId&paymentState` and
  `…/byposId?paymentState&orderId&posId` find a lost paymentId.
* Refunds: `api/pos/refund/create?amount&currencyCode&paymentId&refundOrderId` (GET or POST),
  `refund/details?refundId`, `api/pos/refunds?paymentId`, `refund/capture?refundId`,
  `refund/cancel?refundId`.
* Management: `api/pos/manage/create?terminalId` (only while the terminal has no PoS),
  `manage/delete?terminalId` (GET or DELETE), `manage/terminal/information?terminalId`,
  `manage/stores`, `manage/store?storeId`, `manage/checkInStatus/byposId?posId` and
  `…/byterminalId?terminalId`; `api/pos/terminal/qrcode?terminalId` gives the QR code link.
* The eleven payment states: Initiated, Prepared, Paired, IssuedToUser, Reserved, Captured,
  CancelledByUser, CancelledByClient, CancelledByMobilePay, ExpiredAndCancelled,
  RejectedByMobilePayDueToAgeRestrictions. No webhooks.

A sandbox device is one Integra terminal: `ref` is its terminalId, `serial` its MobilePay posId
(empty once the PoS is deleted), `name` the PoS name.

## Where the real API is unknown

Integra's pages for status, details, payments, refunds, QR code, check-in, stores and terminal
information were not retrievable; the sandbox follows the names in the ASSUMED block of the
dashboard's adapter (`providers/mobilepay.py`), copied into `ASSUMED` below, and chooses:

* **Payloads** (all inside the envelope): payment/status `{paymentId, status, amount,
  currencyCode}`; payment/details adds `orderId, terminalId, posId, capturedAmount,
  refundedAmount`; `payments` -> `{paymentIds: […]}`; prepare -> `{paymentId}` like start;
  capture and cancel -> `{paymentId, status}`; refund/create -> `{refundId}`; refund/details,
  capture and cancel -> `{refundId, paymentId, refundOrderId, status, amount, currencyCode}`;
  `refunds` -> `{refundIds: […]}`; manage/token and token/reset -> the new token in `message`;
  manage/create -> the new posId in `message`; terminal/qrcode -> `{qrCodeLink}` (an SVG served
  by the sandbox); checkInStatus -> `{checkedIn, posId}`; terminal/information -> `{terminalId,
  posId, name, storeId}`; manage/stores -> `{storeIds}`; manage/store -> `{storeId, name}`
  (account settings `store_id` / `store_name`, default `store-<bioCode>`).
* **Failures** are in-band: HTTP 200 with `success: false` and one English sentence in
  `errors`, never a code. Wrong credentials: "Invalid accessToken or bioCode." (a missing one:
  "The accessToken is required."). A start on a PoS with an active payment: "There is an active
  payment on the PoS. Cancel it before starting a new one." Unknown ids: "… not found." A token
  create while one exists: "An accessToken already exists for this bioCode; …". A reset with the
  wrong previous token: "previousAccessToken does not match …". Only the 5xx switch answers
  HTTP 503 (with the envelope), and a method a path does not allow answers 405.
* **Retrieve** that matches nothing: `success: false`, "Payment not found for orderId … in state …".
* **Status words while pending**: Initiated (direct flow) or Prepared (prepared flow, no amount
  yet); once a customer checked in at the PoS (the virtual terminal's check-in switch)
  IssuedToUser, or Paired while the amount is still missing. A customer's approval makes the
  payment Reserved (a magic 01 or the Approve button), the POS's capture makes it Captured.
  Decline = RejectedByMobilePayDueToAgeRestrictions (MobilePay's one rejection word); the
  customer's cancel = CancelledByUser; the POS's cancel = CancelledByClient (also of a Reserved
  payment); terminal error = CancelledByMobilePay; nobody acts within SANDBOX_MOBILEPAY_TIMEOUT_S
  (120 s) = ExpiredAndCancelled. A Reserved payment never expires in the sandbox (MobilePay keeps
  reservations at least 7 days).
* **Cancel** of a payment that already ended without capture answers success and changes
  nothing; of a Captured one it is refused.
* **Capture** without `amount` captures the reserved amount; a partial capture is allowed, more
  than reserved is refused.
* **Refunds** use the payment words: created = Reserved (it already counts against the payment),
  refund/capture = Captured, refund/cancel = CancelledByClient; a magic 02 amount is created as
  CancelledByMobilePay and cannot be captured. Only a Captured payment can be refunded, never more
  than what was captured and not yet refunded.
* **Device switches**: offline -> start refused "The PoS is offline: MobilePay cannot reach it.";
  low battery -> "The PoS beacon's battery is too low."; busy -> the active-payment refusal.
* **Tokens**: the account's `access_token` secret is its first token; "expire tokens" on the
  virtual terminal page expires it, after which `manage/token` may create a new one.
"""

from __future__ import annotations

import uuid
from functools import wraps
from xml.sax.saxutils import escape

from django.http import HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt

from dashboard.access import public
from sandbox import amounts, conf, faults, services, wire
from sandbox.emulators import EmulatorName
from sandbox.models import (
    CanceledBy,
    PaymentStatus,
    SandboxAccount,
    SandboxDevice,
    SandboxPayment,
    SandboxPaymentKind,
)

CREDENTIALS = frozenset({"accesstoken", "biocode", "previousaccesstoken"})
DEFAULT_CURRENCY = "DKK"  # Integra: "Default is DKK"
XML_NAMESPACE = "http://schemas.datacontract.org/2004/07/_1SA_MobilePay_POS_ViewModels"
ARRAYS_NAMESPACE = "http://schemas.microsoft.com/2003/10/Serialization/Arrays"

# Response field names Integra's retrievable pages do not show: the same names as the ASSUMED
# block of providers/mobilepay.py (the sandbox may not import providers/; a test compares them).
ASSUMED: dict[str, str] = {
    "status": "status",
    "amount": "amount",
    "currency": "currencyCode",
    "order_id": "orderId",
    "payment_ids": "paymentIds",
    "refund_ids": "refundIds",
    "refund_id": "refundId",
    "prepared_payment_id": "paymentId",
    "token": "message",
    "qr_code_link": "qrCodeLink",
    "checked_in": "checkedIn",
    "pos_id": "posId",
    "pos_name": "name",
    "store_id": "storeId",
}

# The eleven payment states of seed 002.
INITIATED = "Initiated"
PREPARED = "Prepared"
PAIRED = "Paired"
ISSUED_TO_USER = "IssuedToUser"
RESERVED = "Reserved"
CAPTURED = "Captured"
CANCELLED_BY_USER = "CancelledByUser"
CANCELLED_BY_CLIENT = "CancelledByClient"
CANCELLED_BY_MOBILEPAY = "CancelledByMobilePay"
EXPIRED_AND_CANCELLED = "ExpiredAndCancelled"
REJECTED = "RejectedByMobilePayDueToAgeRestrictions"
STATES = (
    INITIATED,
    PREPARED,
    PAIRED,
    ISSUED_TO_USER,
    RESERVED,
    CAPTURED,
    CANCELLED_BY_USER,
    CANCELLED_BY_CLIENT,
    CANCELLED_BY_MOBILEPAY,
    EXPIRED_AND_CANCELLED,
    REJECTED,
)
ACTIVE_STATES = frozenset({INITIATED, PREPARED, PAIRED, ISSUED_TO_USER, RESERVED})
_STATE_BY_LOWER = {state.lower(): state for state in STATES}

# In-band failures (errors[0]).
INVALID_CREDENTIALS = "Invalid accessToken or bioCode."
REQUIRED = "The {name} is required."
INVALID_CHARACTERS = "A parameter contains an invalid character."
UNKNOWN_BIO_CODE = "Unknown bioCode {value}."
TERMINAL_NOT_FOUND = "Terminal {value} not found."
POS_NOT_FOUND = "PoS {value} not found."
NO_POS = "Terminal {value} has no PoS at MobilePay; create it with api/pos/manage/create first."
POS_EXISTS = "Terminal {value} already has a PoS ({pos_id}); delete it first."
PAYMENT_NOT_FOUND = "Payment {value} not found."
REFUND_NOT_FOUND = "Refund {value} not found."
STORE_NOT_FOUND = "Store {value} not found."
ACTIVE_PAYMENT = "There is an active payment on the PoS. Cancel it before starting a new one."
OFFLINE = "The PoS is offline: MobilePay cannot reach it."
BATTERY_LOW = "The PoS beacon's battery is too low."
INVALID_AMOUNT = "The amount must be a positive decimal with a dot, e.g. 27.00."
INVALID_CURRENCY = "The currencyCode must be an ISO 4217 code such as DKK."
NOT_PREPARED = "A payment will only be ready if it has been prepared first."
ORDER_MISMATCH = "The orderId {value} does not belong to payment {payment_id}."
TERMINAL_MISMATCH = "Payment {payment_id} is not on terminal {value}."
NOT_RESERVED = "You can only capture a payment with status Reserved; it is {state}."
CAPTURE_EXCEEDS = "The capture amount exceeds the reserved amount."
CAPTURED_NOT_CANCELLABLE = "A Captured payment cannot be cancelled; refund it instead."
NOT_REFUNDABLE = "Only a Captured payment can be refunded; it is {state}."
REFUND_EXCEEDS = "The refund amount exceeds the captured amount not yet refunded."
REFUND_CURRENCY = "The refund currencyCode must be the payment's ({currency})."
REFUND_NOT_RESERVED = "You can only capture a refund with status Reserved; it is {state}."
REFUND_NOT_CANCELLABLE = "A {state} refund cannot be cancelled."
TOKEN_EXISTS = (
    "An accessToken already exists for this bioCode; reset it with the previous accessToken."
)
TOKEN_MISMATCH = "previousAccessToken does not match the merchant's accessToken."
UNKNOWN_STATE = "Unknown payment state {value}."
CAPTURED_ONLY = "This works only if the state you supply is Captured."
NOT_FOUND_FOR_ORDER = "Payment not found for orderId {value} in state {state}."
UNAVAILABLE = "The service is temporarily unavailable. Please try again later."
NOT_ALLOWED = "The requested resource does not support http method '{method}'."

REFUSALS = {
    services.Refused.DEVICE_BUSY: ACTIVE_PAYMENT,
    services.Refused.DEVICE_OFFLINE: OFFLINE,
    services.Refused.BATTERY_LOW: BATTERY_LOW,
}


class Failure(Exception):
    """An in-band failure: the envelope with success false and this sentence."""

    def __init__(self, message: str, **fields):
        super().__init__(message.format(**fields))
        self.message = message.format(**fields)


# -- the envelope ---------------------------------------------------------------------------------


def _wants_xml(request) -> bool:
    accept = request.headers.get("Accept", "").lower()
    return "xml" in accept and "json" not in accept


def _envelope(request, model: str, payload: dict | None = None, *, errors=(), status=200):
    body = {**(payload or {}), "success": not errors, "errors": list(errors)}
    if _wants_xml(request):
        return HttpResponse(_xml(model, body), status=status, content_type="application/xml")
    return JsonResponse(body, status=status)


def _xml(model: str, body: dict) -> str:
    """ASP.NET's DataContract XML: members in alphabetical order, nulls as i:nil."""
    parts = [
        f'<{model} xmlns:i="http://www.w3.org/2001/XMLSchema-instance" xmlns="{XML_NAMESPACE}">'
    ]
    for name in sorted(body):
        value = body[name]
        if value is None:
            parts.append(f'<{name} i:nil="true"/>')
        elif isinstance(value, list):
            items = "".join(f"<d2p1:string>{escape(str(item))}</d2p1:string>" for item in value)
            parts.append(f'<{name} xmlns:d2p1="{ARRAYS_NAMESPACE}">{items}</{name}>')
        elif isinstance(value, bool):
            parts.append(f"<{name}>{'true' if value else 'false'}</{name}>")
        else:
            parts.append(f"<{name}>{escape(str(value))}</{name}>")
    parts.append(f"</{model}>")
    return "".join(parts)


# -- requests -------------------------------------------------------------------------------------


class Params:
    """Query parameters, plus a POST's JSON or form fields; names are case-insensitive, as in
    ASP.NET's model binding."""

    def __init__(self, request):
        """Raises Failure for a parameter with a NUL: no id or credential of ours has one."""
        self.values: dict[str, str] = {}
        if wire.query_has_nul(request):
            raise Failure(INVALID_CHARACTERS)
        for name, value in request.GET.items():
            self.values[name.lower()] = value
        if request.method == "POST" and request.body.strip():
            if "json" in request.content_type:
                try:
                    body = wire.parse_json(request.body)
                except wire.WireValueError:
                    body = None
                if isinstance(body, dict):
                    for name, value in body.items():
                        if value is not None:
                            self.values[name.lower()] = str(value)
            else:
                for name, value in request.POST.items():
                    self.values[name.lower()] = value

    def recorded(self) -> dict:
        """What the payment row keeps of the request: everything but the credentials."""
        return {name: value for name, value in self.values.items() if name not in CREDENTIALS}

    def get(self, name: str, default: str = "") -> str:
        return self.values.get(name.lower(), default).strip()

    def require(self, name: str) -> str:
        value = self.get(name)
        if not value:
            raise Failure(REQUIRED, name=name)
        return value


def integra(model: str, *, methods=("GET",), authenticated=True):
    """An Integra endpoint: method check, parameters, accessToken + bioCode, in-band failures.

    The view gets (request, account, params) and returns an envelope payload dict, or an
    HttpResponse it built itself (to lose it on purpose).
    """

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if request.method not in methods:
                return _envelope(
                    request, model, errors=[NOT_ALLOWED.format(method=request.method)], status=405
                )
            try:
                params = Params(request)
                account = _authenticate(params, with_token=authenticated)
                result = view(request, account, params, *args, **kwargs)
            except Failure as failure:
                return _envelope(request, model, errors=[failure.message])
            except _Unavailable:
                return _envelope(request, model, errors=[UNAVAILABLE], status=503)
            if isinstance(result, HttpResponseBase):
                return result
            return _envelope(request, model, result)

        return public(
            "MobilePay (Integra) emulator wire API; accessToken and bioCode checked by the view"
        )(csrf_exempt(wrapped))

    return decorator


class _Unavailable(Exception):
    """The device's 5xx switch: answer 503, process nothing."""


def _authenticate(params: Params, *, with_token: bool) -> SandboxAccount:
    bio_code = params.require("bioCode")
    accounts = SandboxAccount.objects.filter(
        provider=EmulatorName.MOBILEPAY, secrets__bio_code=bio_code
    )
    if not with_token:
        account = accounts.first()
        if account is None:
            raise Failure(UNKNOWN_BIO_CODE, value=bio_code)
        return account
    token = params.require("accessToken")
    # The bioCode's account and its valid accessToken in one query (every call of a tracker asks).
    account = (
        next(iter(services.integra_accounts_with_token(accounts, token=token)[:1]), None)
        if token
        else None
    )
    if account is None:
        raise Failure(INVALID_CREDENTIALS)
    return account


def _faults(device: SandboxDevice) -> None:
    if faults.device_faults(device):
        raise _Unavailable()


def _terminal(account, params: Params, *, needs_pos: bool = True) -> SandboxDevice:
    terminal_id = params.require("terminalId")
    device = account.devices.select_related("account").filter(ref=terminal_id).first()
    if device is None:
        raise Failure(TERMINAL_NOT_FOUND, value=terminal_id)
    _faults(device)
    if needs_pos and not device.serial:
        raise Failure(NO_POS, value=terminal_id)
    return device


def _pos(account, params: Params) -> SandboxDevice:
    pos_id = params.require("posId")
    device = account.devices.select_related("account").filter(serial=pos_id).first()
    if device is None:
        raise Failure(POS_NOT_FOUND, value=pos_id)
    _faults(device)
    return device


def _uuid_hex(value: str) -> str | None:
    try:
        return uuid.UUID(value).hex
    except ValueError:
        return None


def _payment(account, params: Params, name: str = "paymentId") -> SandboxPayment:
    payment_id = params.require(name)
    hex_id = _uuid_hex(payment_id)
    # `[:1]`, not `.first()`: no ORDER BY to compile (every call of a tracker asks); the device's
    # account is the one the caller authenticated as.
    payment = (
        next(
            iter(
                SandboxPayment.objects.for_account(account)
                .select_related("device")
                .filter(
                    transaction_ref=hex_id,
                    kind__in=[SandboxPaymentKind.SALE, SandboxPaymentKind.AUTH],
                )[:1]
            ),
            None,
        )
        if hex_id
        else None
    )
    if payment is None:
        raise Failure(PAYMENT_NOT_FOUND, value=payment_id)
    payment.device.account = account
    _faults(payment.device)
    return services.payment_refresh(payment=payment)


def _refund(account, params: Params) -> SandboxPayment:
    refund_id = params.require("refundId")
    hex_id = _uuid_hex(refund_id)
    refund = (
        SandboxPayment.objects.for_account(account)
        .select_related("device__account", "original")
        .filter(transaction_ref=hex_id, kind=SandboxPaymentKind.REFUND)
        .first()
        if hex_id
        else None
    )
    if refund is None:
        raise Failure(REFUND_NOT_FOUND, value=refund_id)
    _faults(refund.device)
    return refund


def _amount(params: Params, currency: str, *, required: bool = True) -> int | None:
    text = params.require("amount") if required else params.get("amount")
    if not text:
        return None
    try:
        amount = amounts.to_minor(text, currency)
    except ValueError:
        raise Failure(INVALID_AMOUNT) from None
    if amount <= 0 or "," in text:
        raise Failure(INVALID_AMOUNT)
    return amount


def _currency(params: Params) -> str:
    currency = params.get("currencyCode") or DEFAULT_CURRENCY
    if not amounts.is_currency(currency):
        raise Failure(INVALID_CURRENCY)
    return currency


def _state(value: str) -> str:
    state = _STATE_BY_LOWER.get(value.lower())
    if state is None:
        raise Failure(UNKNOWN_STATE, value=value)
    return state


def wire_id(payment: SandboxPayment) -> str:
    """The paymentId or refundId on the wire: the UUID kept as 32 hex digits."""
    return str(uuid.UUID(payment.transaction_ref))


# -- status words ---------------------------------------------------------------------------------


def status_word(payment: SandboxPayment) -> str:
    """The payment's (or refund's) MobilePay state; see the module docstring."""
    if payment.kind == SandboxPaymentKind.REFUND:
        if payment.status == PaymentStatus.APPROVED:
            return CAPTURED if payment.captured else RESERVED
        if payment.status == PaymentStatus.CANCELED:
            return CANCELLED_BY_CLIENT
        if payment.status == PaymentStatus.TIMED_OUT:
            return EXPIRED_AND_CANCELLED
        return CANCELLED_BY_MOBILEPAY if payment.is_final else INITIATED
    if payment.status == PaymentStatus.PENDING:
        checked_in = payment.device.customer_checked_in
        if payment.awaiting_amount:
            return PAIRED if checked_in else PREPARED
        return ISSUED_TO_USER if checked_in else INITIATED
    if payment.status == PaymentStatus.APPROVED:
        return CAPTURED if payment.captured else RESERVED
    if payment.status == PaymentStatus.DECLINED:
        return REJECTED
    if payment.status == PaymentStatus.CANCELED:
        return (
            CANCELLED_BY_USER if payment.canceled_by == CanceledBy.CUSTOMER else CANCELLED_BY_CLIENT
        )
    if payment.status == PaymentStatus.TIMED_OUT:
        return EXPIRED_AND_CANCELLED
    return CANCELLED_BY_MOBILEPAY


def _money(payment: SandboxPayment, amount_minor: int | None) -> str | None:
    if amount_minor is None:
        return None
    return amounts.to_decimal_string(amount_minor, payment.currency)


def _status_payload(payment: SandboxPayment) -> dict:
    return {
        "paymentId": wire_id(payment),
        ASSUMED["status"]: status_word(payment),
        ASSUMED["amount"]: None
        if payment.awaiting_amount
        else _money(payment, payment.amount_minor),
        ASSUMED["currency"]: payment.currency,
    }


def _refund_payload(refund: SandboxPayment) -> dict:
    return {
        ASSUMED["refund_id"]: wire_id(refund),
        "paymentId": wire_id(refund.original) if refund.original else None,
        "refundOrderId": refund.order_ref,
        ASSUMED["status"]: status_word(refund),
        ASSUMED["amount"]: _money(refund, refund.amount_minor),
        ASSUMED["currency"]: refund.currency,
    }


def _timeout_s() -> int:
    return int(conf.setting("SANDBOX_MOBILEPAY_TIMEOUT_S"))


# -- payments -------------------------------------------------------------------------------------


def _start(request, device: SandboxDevice, params: Params, *, prepared: bool):
    order_id = params.require("orderId")
    if prepared:
        amount_minor, currency = 0, _currency(params)
    else:
        currency = _currency(params)
        amount_minor = _amount(params, currency)
    try:
        payment = services.sandbox_payment_start(
            device=device,
            kind=SandboxPaymentKind.AUTH,  # every MobilePay payment is reserved, then captured
            amount_minor=amount_minor,
            currency=currency,
            timeout_s=_timeout_s(),
            order_ref=order_id[:64],
            request=params.recorded(),
            when_offline="refuse",
            when_battery_low="refuse",
            awaiting_amount=prepared,
            reserved_blocks=True,
        )
    except services.Refused as refusal:
        raise Failure(REFUSALS.get(refusal.reason, refusal.message)) from None
    model = "PosPaymentPrepareViewModel" if prepared else "PaymentStartViewModel"
    key = ASSUMED["prepared_payment_id"] if prepared else "paymentId"
    answer = _envelope(request, model, {key: wire_id(payment)})
    return faults.deliver(request, device, answer)


@integra("PaymentStartViewModel", methods=("GET", "POST"))
def payment_start(request, account, params):
    return _start(request, _terminal(account, params), params, prepared=False)


@integra("PaymentStartViewModel", methods=("GET", "POST"))
def payment_start_by_pos(request, account, params):
    return _start(request, _pos(account, params), params, prepared=False)


@integra("PosPaymentPrepareViewModel", methods=("GET", "POST"))
def payment_prepare(request, account, params):
    return _start(request, _terminal(account, params), params, prepared=True)


@integra("PosPaymentReadyViewModel", methods=("GET", "POST"))
def payment_ready(request, account, params):
    device = _terminal(account, params)
    payment = _payment(account, params)
    if payment.device_id != device.pk:
        raise Failure(TERMINAL_MISMATCH, value=device.ref, payment_id=wire_id(payment))
    order_id = params.require("orderId")
    if order_id != payment.order_ref:
        raise Failure(ORDER_MISMATCH, value=order_id, payment_id=wire_id(payment))
    currency = _currency(params)
    amount_minor = _amount(params, currency)
    try:
        services.payment_ready(payment=payment, amount_minor=amount_minor, currency=currency)
    except services.Refused:
        raise Failure(NOT_PREPARED) from None
    answer = _envelope(request, "PosPaymentReadyViewModel", {"message": "Payment is ready"})
    return faults.deliver(request, device, answer)


@integra("PosPaymentStatusViewModel")
def payment_status(request, account, params):
    return _status_payload(_payment(account, params))


@integra("PosPaymentDetailsViewModel")
def payment_details(request, account, params):
    payment = _payment(account, params)
    return {
        **_status_payload(payment),
        ASSUMED["order_id"]: payment.order_ref,
        "terminalId": payment.device.ref,
        "posId": payment.device.serial,
        "capturedAmount": _money(payment, payment.captured_amount if payment.captured else 0),
        "refundedAmount": _money(payment, payment.refunded_amount),
    }


@integra("PosPaymentCaptureViewModel")
def payment_capture(request, account, params):
    payment = _payment(account, params)
    state = status_word(payment)
    if state != RESERVED:
        raise Failure(NOT_RESERVED, state=state)
    amount_minor = _amount(params, payment.currency, required=False)
    try:
        payment = services.payment_capture(payment=payment, amount_minor=amount_minor)
    except services.Refused as refusal:
        if refusal.reason == services.Refused.CAPTURE_EXCEEDS:
            raise Failure(CAPTURE_EXCEEDS) from None
        raise Failure(NOT_RESERVED, state=status_word(payment)) from None
    answer = _envelope(
        request,
        "PosPaymentCaptureViewModel",
        {"paymentId": wire_id(payment), ASSUMED["status"]: status_word(payment)},
    )
    return faults.deliver(request, payment.device, answer)


@integra("PosPaymentCancelViewModel")
def payment_cancel(request, account, params):
    payment = _payment(account, params)
    if payment.status == PaymentStatus.PENDING:
        services.payment_cancel(payment=payment)
    # Reserved, also when the customer approved between our read and our cancel: void it.
    if payment.is_reserved:
        services.payment_void(payment=payment)
    if payment.status == PaymentStatus.APPROVED:
        raise Failure(CAPTURED_NOT_CANCELLABLE)
    return {"paymentId": wire_id(payment), ASSUMED["status"]: status_word(payment)}


def _account_payments(account, params: Params):
    """The account's payments, narrowed to the orderId and terminalId given; pending ones are
    brought up to date first (a magic outcome or a timeout may be due)."""
    found = (
        SandboxPayment.objects.for_account(account)
        .filter(kind__in=[SandboxPaymentKind.SALE, SandboxPaymentKind.AUTH])
        .select_related("device__account")
        .order_by("-created_at", "-pk")
    )
    if params.get("orderId"):
        found = found.filter(order_ref=params.get("orderId"))
    if params.get("terminalId"):
        found = found.filter(device=_terminal(account, params, needs_pos=False))
    for pending in found.pending():
        services.payment_refresh(payment=pending)
    return found


@integra("PosPaymentsViewModel")
def payments(request, account, params):
    wanted = {_state(params.get("state"))} if params.get("state") else ACTIVE_STATES
    listed = [
        wire_id(payment)
        for payment in _account_payments(account, params)
        if status_word(payment) in wanted
    ]
    return {ASSUMED["payment_ids"]: listed}


def _retrieve(account, params: Params, state: str, devices=None) -> dict:
    order_id = params.require("orderId")
    found = (
        SandboxPayment.objects.for_account(account)
        .filter(kind__in=[SandboxPaymentKind.SALE, SandboxPaymentKind.AUTH], order_ref=order_id)
        .select_related("device__account")
        .order_by("-created_at", "-pk")
    )
    if devices is not None:
        found = found.filter(device__in=devices)
    for payment in found:
        services.payment_refresh(payment=payment)
        if status_word(payment) == state:
            return {"paymentId": wire_id(payment)}
    raise Failure(NOT_FOUND_FOR_ORDER, value=order_id, state=state)


@integra("PosPaymentRetrieveViewModel")
def retrieve_by_state(request, account, params):
    state = _state(params.require("state"))
    if state != CAPTURED:
        raise Failure(CAPTURED_ONLY)
    return _retrieve(account, params, state)


@integra("PosPaymentRetrieveViewModel")
def retrieve_by_terminal(request, account, params):
    device = _terminal(account, params, needs_pos=False)
    return _retrieve(account, params, _state(params.require("paymentState")), [device])


@integra("PosPaymentRetrieveViewModel")
def retrieve_by_pos(request, account, params):
    device = _pos(account, params)
    return _retrieve(account, params, _state(params.require("paymentState")), [device])


@integra("PosQrCodeViewModel")
def terminal_qrcode(request, account, params):
    device = _terminal(account, params)
    link = request.build_absolute_uri(reverse("sandbox:terminal_qr", args=[device.pk]))
    return {ASSUMED["qr_code_link"]: link}


# -- refunds --------------------------------------------------------------------------------------


@integra("PosRefundCreateViewModel", methods=("GET", "POST"))
def refund_create(request, account, params):
    payment = _payment(account, params)
    state = status_word(payment)
    if state != CAPTURED:
        raise Failure(NOT_REFUNDABLE, state=state)
    currency = _currency(params)
    if currency != payment.currency:
        raise Failure(REFUND_CURRENCY, currency=payment.currency)
    amount_minor = _amount(params, currency)
    try:
        refund = services.payment_refund(
            payment=payment,
            amount_minor=amount_minor,
            order_ref=params.get("refundOrderId")[:64],
            request=params.recorded(),
            reserve=True,
        )
    except services.Refused as refusal:
        if refusal.reason == services.Refused.NOT_REFUNDABLE:
            raise Failure(NOT_REFUNDABLE, state=status_word(payment)) from None
        raise Failure(REFUND_EXCEEDS) from None
    answer = _envelope(request, "PosRefundCreateViewModel", {ASSUMED["refund_id"]: wire_id(refund)})
    return faults.deliver(request, payment.device, answer)


@integra("PosRefundDetailsViewModel")
def refund_details(request, account, params):
    return _refund_payload(_refund(account, params))


@integra("PosRefundsViewModel")
def refunds(request, account, params):
    payment = _payment(account, params)
    listed = payment.refunds.order_by("created_at", "pk")
    return {ASSUMED["refund_ids"]: [wire_id(refund) for refund in listed]}


@integra("PosRefundCaptureViewModel")
def refund_capture(request, account, params):
    refund = _refund(account, params)
    try:
        refund = services.refund_capture(refund=refund)
    except services.Refused:
        raise Failure(REFUND_NOT_RESERVED, state=status_word(refund)) from None
    answer = _envelope(request, "PosRefundCaptureViewModel", _refund_payload(refund))
    return faults.deliver(request, refund.device, answer)


@integra("PosRefundCancelViewModel")
def refund_cancel(request, account, params):
    refund = _refund(account, params)
    try:
        refund = services.refund_cancel(refund=refund)
    except services.Refused:
        raise Failure(REFUND_NOT_CANCELLABLE, state=status_word(refund)) from None
    return _refund_payload(refund)


# -- management -----------------------------------------------------------------------------------


def _credential_fault(account, refusal: str) -> None:
    """The account's credential fault switches, before a token is created or reset."""
    fault = faults.credential_fault(account)
    if fault == "5xx":
        raise _Unavailable()
    if fault == "refuse":
        raise Failure(refusal)


@integra("PosManageViewModel", methods=("GET", "POST"), authenticated=False)
def manage_token(request, account, params):
    _credential_fault(account, TOKEN_EXISTS)
    try:
        token = services.integra_token_create(account=account)
    except services.Refused:
        raise Failure(TOKEN_EXISTS) from None
    answer = _envelope(request, "PosManageViewModel", {ASSUMED["token"]: token.token})
    return faults.deliver_credential(request, account, answer)


@integra("PosManageViewModel", authenticated=False)
def manage_token_reset(request, account, params):
    previous = params.require("previousAccessToken")
    _credential_fault(account, TOKEN_MISMATCH)
    try:
        token = services.integra_token_reset(account=account, previous=previous)
    except services.Refused:
        raise Failure(TOKEN_MISMATCH) from None
    # The previous token stopped working in the same transaction: a lost answer leaves the merchant
    # with a token only Integra knows.
    answer = _envelope(request, "PosManageViewModel", {ASSUMED["token"]: token.token})
    return faults.deliver_credential(request, account, answer)


@integra("PosManageViewModel", methods=("GET", "POST"))
def manage_create(request, account, params):
    device = _terminal(account, params, needs_pos=False)
    pos_id = str(uuid.uuid4())
    created = SandboxDevice.objects.filter(pk=device.pk, serial="").update(serial=pos_id)
    if not created:
        device.refresh_from_db()
        raise Failure(POS_EXISTS, value=device.ref, pos_id=device.serial)
    return {"message": pos_id}


@integra("PosManageViewModel", methods=("GET", "DELETE"))
def manage_delete(request, account, params):
    device = _terminal(account, params)
    if services.device_active_payment(device=device) is not None or (
        SandboxPayment.objects.reserved().filter(device=device).exists()
    ):
        raise Failure(ACTIVE_PAYMENT)
    SandboxDevice.objects.filter(pk=device.pk).update(serial="")
    return {"message": f"PoS {device.serial} deleted"}


@integra("PosTerminalInformationViewModel")
def terminal_information(request, account, params):
    device = _terminal(account, params, needs_pos=False)
    if not device.serial:
        raise Failure(POS_NOT_FOUND, value=device.ref)
    return {
        "terminalId": device.ref,
        ASSUMED["pos_id"]: device.serial,
        ASSUMED["pos_name"]: device.display_name,
        ASSUMED["store_id"]: _store_id(account),
    }


def _store_id(account) -> str:
    return str(account.settings.get("store_id") or f"store-{account.secrets.get('bio_code')}")


@integra("PosStoresViewModel")
def manage_stores(request, account, params):
    return {"storeIds": [_store_id(account)]}


@integra("PosStoreViewModel")
def manage_store(request, account, params):
    store_id = params.require("storeId")
    if store_id != _store_id(account):
        raise Failure(STORE_NOT_FOUND, value=store_id)
    return {
        ASSUMED["store_id"]: store_id,
        "name": account.settings.get("store_name") or account.label,
    }


def _check_in(device: SandboxDevice) -> dict:
    return {ASSUMED["checked_in"]: device.customer_checked_in, ASSUMED["pos_id"]: device.serial}


@integra("PosCheckInStatusViewModel")
def check_in_by_pos(request, account, params):
    return _check_in(_pos(account, params))


@integra("PosCheckInStatusViewModel")
def check_in_by_terminal(request, account, params):
    return _check_in(_terminal(account, params))

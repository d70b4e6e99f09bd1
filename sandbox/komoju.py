"""KOMOJU Cloud Terminal emulator: sessions pushed to terminals, payments, refunds, receipts,
under `/sandbox/komoju/api/v1/`.

Adapters use `base_url = <root>/sandbox/komoju/api/v1`. Paths, bodies and status words follow
KOMOJU's Cloud Terminal page (seed 003) and REST docs (`komoju.md`):

* Auth on every request: HTTP Basic, the secret key as user name and an empty password
  (`Authorization: Basic base64("sk_…:")`), checked against the account's `secret_key` secret.
  A missing or unknown key is 401 `unauthorized`.
* `POST /sessions` `{mode: "payment", amount, currency, default_locale, payment_types:
  ["credit_card_terminal"], payment_data: {capture: "auto" | "manual", external_order_num},
  metadata}` -> the Session (the seed's shape: `id`, `resource: "session"`, `status: "pending"`,
  `expired: false`, `payment: null`, `payment_methods`, `payment_data`, …). Amounts are integers
  in minor units (whole yen for JPY).
* `POST /terminals/{terminal_id}/sessions/{session_id}/push` (no body) -> `{"status": "success"}`,
  or `{"error": {"code": "error", "message": "Session must be pending to be pushed to the
  device."}}`; `…/cancel` -> success or "Could not cancel session."; `…/print` (a completed
  session) -> success or "Could not print session on device.".
* `GET /sessions/{id}` -> Session: `pending` until the customer finishes, then `completed` with
  its `payment` (`captured` for a sale, `authorized` for auth-only) or `cancelled`.
  `POST /sessions/{id}/cancel` -> Session.
* `GET /payments/{id}` -> Payment with `payment_details` {type: "credit_card_terminal", brand,
  last_four_digits, month, year} and the terminal's EMV `metadata` {action, aid,
  application_label, arc, atc, cardholderName, cardholderVerification, cryptogramType,
  cryptogramValue, method, origin: "terminal", terminalSeqCounter, tsi, tvr}, as in the seed's
  webhook. `POST /payments/{id}/cancel` (a pending or authorized payment), `/capture`
  `{amount?}`, `/refund` `{amount?, description?}` -> Payment (`refunds[]`, `amount_refunded`,
  `status: "refunded"` once fully refunded).
* `GET /pos_terminals/{id}` -> `{id, enabled, …}` (Degica's terminal tester reads `enabled`).
* `X-KOMOJU-IDEMPOTENCY` on a POST: the same key with the same body replays the first answer;
  a retry while the first request has not answered yet is a 409.
* Errors: `{"error": {"code", "message", "param"}}` with 400/401/404/409/422/503.

## Where the real API is unknown

KOMOJU documents none of these; the sandbox chooses, and the dashboard's adapter relies on it:

* **Terminal object**: `GET /pos_terminals/{id}` -> `{id, resource: "pos_terminal", enabled,
  name, model, serial_number}`; `enabled` is the device's online switch. There is no list.
* **Push refusals** (HTTP 422, `code: "error"`): an offline terminal "Could not push session to
  device." (the adapter then reads `enabled: false`); low battery "Could not push session to
  device: the terminal's battery is too low."; busy (the busy switch, or another session on
  it) "Terminal is busy with another session."; a session pending on another terminal "Session
  is in progress on another terminal.". Pushing a session again to the terminal that shows it
  answers success. Unknown session or terminal ids: 404 `not_found`.
* **Outcomes**: a declined card and a terminal error complete the session with
  `payment.status: "failed"`; the customer's cancel and the terminal cancel make the session
  `cancelled` (payment null); nobody paying within SANDBOX_KOMOJU_TIMEOUT_S (120 s) leaves the
  session `pending` with `expired: true`. A session never pushed does not expire.
* **Cancel**: the terminal cancel of a session already cancelled answers success; of a session
  that is not pending, or pushed to another terminal, "Could not cancel session.".
  `POST /sessions/{id}/cancel` of a completed session: 422 `unprocessable_entity`.
* **Payments** (`GET /payments/{id}`): `pending` while on the terminal, `captured`, `authorized`
  (auth-only, uncaptured), `cancelled` (voided or cancelled), `failed`, `expired`, `refunded`
  (fully refunded). `brand` is `visa`, `master` or `discover`. EMV metadata is stable per
  payment; `cardholderName` is "<BRAND> CREDIT/CARDHOLDER".
* **Capture** of anything but an authorized payment, or of more than authorised: 422
  `unprocessable_entity`. **Refund** of a payment that is not captured, or of more than remains:
  422 `unprocessable_entity`; an amount ending in 02 is declined: 422 `refund_declined` (kept on
  the terminal page). Refund ids are 25 characters like payment ids; each `refunds[]` entry is
  `{id, resource: "refund", amount, currency, payment, description, created_at}`.
* **Receipts**: print works on any online, idle terminal of the account, for a session whose
  payment was decided (captured, authorized or failed); the printed lines appear on the virtual
  terminal page.
* **Idempotency**: keys are per account and never expire; the same key with another body is a
  422 `idempotency_key_reused`; only answers are stored (a refusal raised before an answer is
  not). The terminal endpoints ignore the header.
* **Faults**: the 5xx switch answers 503 `{"error": {"code": "service_unavailable", …}}` on
  every call that names a terminal, session or payment of the device (not on `POST /sessions`,
  which names none); a lost response is the push (or capture, refund) answer, after the work.
* **Test webhook**: `POST /_sandbox/webhook-test` `{"url"}` (the sandbox's own endpoint, not
  KOMOJU's: KOMOJU sends its `ping` event from the dashboard) -> 202 `{"event_id", "event_type":
  "ping"}`; the `ping` event is the Event envelope with empty `data` (KOMOJU lists `ping` among
  its events without showing its body). A `url` that is not an http(s) address: 400
  `bad_request`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from functools import wraps

from django.http import JsonResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from dashboard.access import public
from sandbox import amounts, conf, faults, services, webhooks, wire
from sandbox.emulators import EmulatorName
from sandbox.models import (
    PaymentStatus,
    SandboxAccount,
    SandboxDevice,
    SandboxPayment,
    SandboxPaymentKind,
    SandboxSession,
)

IDEMPOTENCY_HEADER = "X-KOMOJU-IDEMPOTENCY"
PAYMENT_TYPE = "credit_card_terminal"
SUCCESS = {"status": "success"}

PUSH_NOT_PENDING = "Session must be pending to be pushed to the device."
PUSH_OFFLINE = "Could not push session to device."
PUSH_BATTERY = "Could not push session to device: the terminal's battery is too low."
PUSH_BUSY = "Terminal is busy with another session."
PUSH_ELSEWHERE = "Session is in progress on another terminal."
CANCEL_FAILED = "Could not cancel session."
PRINT_FAILED = "Could not print session on device."

PUSH_REFUSALS = {
    services.Refused.SESSION_NOT_PENDING: PUSH_NOT_PENDING,
    services.Refused.SESSION_ELSEWHERE: PUSH_ELSEWHERE,
    services.Refused.DEVICE_OFFLINE: PUSH_OFFLINE,
    services.Refused.BATTERY_LOW: PUSH_BATTERY,
    services.Refused.DEVICE_BUSY: PUSH_BUSY,
}

# Card brand (sandbox test cards) -> KOMOJU's brand word, EMV application id and label.
BRANDS = {
    "Visa": ("visa", "A0000000031010", "VISA CREDIT"),
    "MasterCard": ("master", "A0000000041010", "MASTERCARD"),
    "Discover": ("discover", "A0000001523010", "DISCOVER"),
}
ENTRY_METHODS = {"contactlessIcc": "CL", "icc": "IC", "swiped": "MS"}


def _error(status: int, code: str, message: str, param: str | None = None) -> JsonResponse:
    return JsonResponse(
        {"error": {"code": code, "message": message, "param": param}}, status=status
    )


def _terminal_error(message: str) -> JsonResponse:
    """The terminal endpoints' refusal: code "error" and KOMOJU's words (HTTP 422)."""
    return _error(422, "error", message)


def _unavailable() -> JsonResponse:
    return _error(503, "service_unavailable", "The service is temporarily unavailable.")


def _not_found(what: str) -> JsonResponse:
    return _error(404, "not_found", f"{what} not found.")


def _unprocessable(message: str, code: str = "unprocessable_entity", param=None) -> JsonResponse:
    return _error(422, code, message, param)


def _iso(moment) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


# -- auth -----------------------------------------------------------------------------------------


def komoju_api(view):
    """Basic auth with the secret key; the view gets the account."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        webhooks.kick_if_due()
        account = _authenticate(request.headers.get("Authorization", ""))
        fault = faults.credential_fault(account) if account is not None else ""
        if fault == "5xx":
            return _unavailable()
        if account is None or fault == "refuse":
            return _error(
                401, "unauthorized", "Unauthorized request, please make sure your API key is valid."
            )
        if wire.has_nul(kwargs.values()):
            return _not_found("Resource")  # no id of ours has one
        if wire.query_has_nul(request):
            return _error(400, "bad_request", "A parameter carries a NUL character.")
        return faults.deliver_credential(request, account, view(request, account, *args, **kwargs))

    return public("KOMOJU emulator wire API; the secret key is checked by the view")(
        csrf_exempt(wrapped)
    )


def _authenticate(header: str) -> SandboxAccount | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    secret_key = decoded.partition(":")[0]
    if not secret_key or wire.has_nul(secret_key):
        return None
    return services.account_by_secret(
        provider=EmulatorName.KOMOJU, name="secret_key", value=secret_key
    )[0]


def _body(request) -> dict | None:
    if not request.body.strip():
        return {}
    try:
        body = wire.parse_json(request.body)
    except wire.WireValueError:
        return None
    return body if isinstance(body, dict) else None


def _idempotent(request, account, body: dict, operation) -> JsonResponse:
    """Runs `operation` (-> (status, answer, payment)) once per X-KOMOJU-IDEMPOTENCY key."""
    key = request.headers.get(IDEMPOTENCY_HEADER, "").strip()
    if not key:
        status, answer, _ = operation()
        return JsonResponse(answer, status=status)
    if len(key) > 100 or not key.isascii():
        return _error(400, "bad_request", "The idempotency key must be 1 to 100 ASCII characters.")
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    fingerprint = hashlib.sha256(f"{request.path}\n{canonical}".encode()).hexdigest()
    try:
        status, answer = services.idempotent_call(
            account=account,
            key=key,
            fingerprint=fingerprint,
            operation=operation,
            in_flight="refuse",
        )
    except services.IdempotencyKeyInFlight:
        return _error(409, "conflict", "A request with this idempotency key is in progress.")
    except services.IdempotencyKeyInUse:
        return _unprocessable(
            "This idempotency key was used with different parameters.", "idempotency_key_reused"
        )
    return JsonResponse(answer, status=status)


class _Answer(Exception):
    """Ends an operation with an error answer. Like any refusal it is not stored under the
    idempotency key: a retry runs the operation again."""

    def __init__(self, response: JsonResponse):
        super().__init__()
        self.response = response


# -- objects --------------------------------------------------------------------------------------


def payment_status(payment: SandboxPayment) -> str:
    """KOMOJU's word for the payment (see the module docstring)."""
    if payment.status == PaymentStatus.PENDING:
        return "pending"
    if payment.status == PaymentStatus.APPROVED:
        if payment.kind == SandboxPaymentKind.AUTH and not payment.captured:
            return "authorized"
        if payment.refunded_amount and payment.refunded_amount >= payment.settled_amount:
            return "refunded"
        return "captured"
    if payment.status == PaymentStatus.CANCELED:
        return "cancelled"
    if payment.status == PaymentStatus.TIMED_OUT:
        return "expired"
    return "failed"


def _digits(payment: SandboxPayment, salt: str, length: int) -> str:
    return hashlib.sha256(f"{payment.transaction_ref}:{salt}".encode()).hexdigest()[:length].upper()


def _emv(payment: SandboxPayment) -> dict:
    """The terminal's EMV data, as the seed's webhook shows it (stable for one payment)."""
    if not payment.card_last4:
        return {}
    _, aid, label = BRANDS.get(payment.card_brand, ("visa", "A0000000031010", "VISA CREDIT"))
    approved = payment.status == PaymentStatus.APPROVED
    return {
        "action": "sale" if payment.kind == SandboxPaymentKind.SALE else "auth",
        "aid": aid,
        "application_label": label,
        "arc": "00" if approved else "05",
        "atc": f"{payment.pk % 0x10000:04X}",
        "cardholderName": f"{label}/CARDHOLDER",
        "cardholderVerification": "",
        "cryptogramType": "ARQC",
        "cryptogramValue": _digits(payment, "cryptogram", 16),
        "method": ENTRY_METHODS.get(payment.entry_method, "CL"),
        "origin": "terminal",
        "terminalSeqCounter": f"{payment.pk:08d}"[-8:],
        "tsi": "0000" if approved else "6800",
        "tvr": "0000000000" if approved else "0000008000",
    }


def _refund_object(refund: SandboxPayment) -> dict:
    return {
        "id": refund.transaction_ref,
        "resource": "refund",
        "amount": refund.amount_minor,
        "currency": refund.currency,
        "payment": refund.original.transaction_ref if refund.original else None,
        "description": refund.description or None,
        "created_at": _iso(refund.created_at),
    }


def payment_object(payment: SandboxPayment) -> dict:
    """A KOMOJU Payment, shaped as the seed's webhook `data`."""
    brand = BRANDS.get(payment.card_brand, ("", "", ""))[0]
    expiry = payment.card_expiry or ""
    details = {
        "type": PAYMENT_TYPE,
        "email": None,
        "brand": brand or None,
        "last_four_digits": payment.card_last4 or None,
        "month": int(expiry[:2]) if len(expiry) == 4 else None,
        "year": 2000 + int(expiry[2:]) if len(expiry) == 4 else None,
    }
    refunds = [
        _refund_object(refund)
        for refund in payment.refunds.filter(status=PaymentStatus.APPROVED).order_by(
            "created_at", "pk"
        )
    ]
    session = getattr(payment, "session", None) if payment.provider_ref else None
    captured_at = None
    if payment.status == PaymentStatus.APPROVED:
        captured_at = (
            payment.captured_at if payment.kind == SandboxPaymentKind.AUTH else payment.decided_at
        )
    return {
        "id": payment.transaction_ref,
        "resource": "payment",
        "status": payment_status(payment),
        "amount": payment.amount_minor,
        "tax": 0,
        "customer": None,
        "payment_deadline": _iso(payment.timeout_at),
        "payment_details": details,
        "payment_method_fee": 0,
        "total": payment.amount_minor,
        "currency": payment.currency,
        "description": payment.description or None,
        "captured_at": _iso(captured_at),
        "external_order_num": payment.order_ref or None,
        "metadata": _emv(payment),
        "created_at": _iso(payment.created_at),
        "amount_refunded": payment.refunded_amount,
        "locale": session.default_locale if session else "ja",
        "session": payment.provider_ref or None,
        "customer_family_name": None,
        "customer_given_name": None,
        "mcc": None,
        "statement_descriptor": None,
        "refunds": refunds,
        "refund_requests": [],
    }


def session_status(session: SandboxSession) -> tuple[str, bool]:
    """(status, expired) of the session."""
    if session.payment is None:
        return ("cancelled" if session.cancelled_at else "pending"), False
    payment = session.payment
    if payment.status == PaymentStatus.PENDING:
        return "pending", False
    if payment.status == PaymentStatus.TIMED_OUT:
        return "pending", True
    if payment.status == PaymentStatus.CANCELED and not payment.authcode:
        # Cancelled on the terminal; a voided authorisation (it has an auth code) had completed.
        return "cancelled", False
    return "completed", False


def session_object(request, session: SandboxSession) -> dict:
    status, expired = session_status(session)
    payment = session.payment if status == "completed" else None
    return {
        "id": session.ref,
        "resource": "session",
        "mode": "payment",
        "amount": session.amount_minor,
        "currency": session.currency,
        "session_url": request.build_absolute_uri(
            reverse("sandbox:komoju_session", args=[session.ref])
        ),
        "return_url": None,
        "default_locale": session.default_locale,
        "payment_methods": [
            {
                "type": PAYMENT_TYPE,
                "amount": session.amount_minor,
                "currency": session.currency,
                "exchange_rate": 1.0,
                "hashed_gateway": hashlib.sha256(session.account.label.encode()).hexdigest()[:16],
            }
        ],
        "created_at": _iso(session.created_at),
        "cancelled_at": _iso(
            session.cancelled_at
            or (session.payment.decided_at if status == "cancelled" and session.payment else None)
        ),
        "completed_at": _iso(session.payment.decided_at if payment else None),
        "status": status,
        "expired": expired,
        "metadata": session.metadata,
        "payment": payment_object(payment) if payment else None,
        "secure_token": None,
        "payment_data": {
            "external_order_num": session.external_order_num or None,
            "capture": session.capture,
        },
    }


def _terminal_object(device: SandboxDevice) -> dict:
    return {
        "id": device.ref,
        "resource": "pos_terminal",
        "enabled": device.online,
        "name": device.name or None,
        "model": device.model or None,
        "serial_number": device.serial or None,
    }


def _timeout_s() -> int:
    return int(conf.setting("SANDBOX_KOMOJU_TIMEOUT_S"))


# -- look-ups -------------------------------------------------------------------------------------


def _session(account, session_id: str) -> SandboxSession | None:
    session = (
        SandboxSession.objects.select_related("account", "payment__device")
        .filter(account=account, ref=session_id)
        .first()
    )
    if session is not None and session.payment is not None:
        services.payment_refresh(payment=session.payment)
    return session


def _reachable_session(account, session_id: str):
    """(session, None), or (None, the answer KOMOJU gives instead): 404 for an unknown session,
    503 while the 5xx fault switch of the session's terminal is on."""
    found = _session(account, session_id)
    if found is None:
        return None, _not_found("Session")
    if found.payment is not None and faults.device_faults(found.payment.device):
        return None, _unavailable()
    return found, None


def _device(account, terminal_id: str) -> SandboxDevice | None:
    return account.devices.select_related("account").filter(ref=terminal_id).first()


def _payment(account, payment_id: str) -> SandboxPayment | None:
    payment = (
        SandboxPayment.objects.for_account(account)
        .select_related("device__account", "session")
        .filter(
            transaction_ref=payment_id, kind__in=[SandboxPaymentKind.SALE, SandboxPaymentKind.AUTH]
        )
        .first()
    )
    return services.payment_refresh(payment=payment) if payment else None


# -- sessions -------------------------------------------------------------------------------------


@komoju_api
def sessions(request, account):
    if request.method != "POST":
        return _error(405, "method_not_allowed", "Method not allowed.")
    body = _body(request)
    if body is None:
        return _error(400, "bad_request", "The request body must be a JSON object.")
    for field in ("amount", "currency"):
        if body.get(field) in (None, ""):
            return _unprocessable("A required parameter is missing", "missing_parameter", field)
    amount, currency = body["amount"], body["currency"]
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        return _unprocessable(
            "The amount must be a positive integer.", "invalid_parameter", "amount"
        )
    if not amounts.is_currency(currency):
        return _unprocessable("Unknown currency.", "invalid_parameter", "currency")
    if body.get("mode", "payment") != "payment":
        return _unprocessable(
            "The sandbox emulates payment sessions only.", "invalid_parameter", "mode"
        )
    types = body.get("payment_types") or [PAYMENT_TYPE]
    if not isinstance(types, list) or PAYMENT_TYPE not in types:
        return _unprocessable(
            "The sandbox emulates credit_card_terminal sessions only.",
            "invalid_parameter",
            "payment_types",
        )
    data = body.get("payment_data") or {}
    metadata = body.get("metadata") or {}
    if not isinstance(data, dict) or not isinstance(metadata, dict):
        return _error(400, "bad_request", "payment_data and metadata must be objects.")
    capture = data.get("capture", "auto")
    if capture not in ("auto", "manual"):
        return _unprocessable("capture must be auto or manual.", "invalid_parameter", "capture")

    def create():
        session = services.session_create(
            account=account,
            amount_minor=amount,
            currency=currency,
            capture=capture,
            external_order_num=str(data.get("external_order_num") or "")[:64],
            default_locale=str(body.get("default_locale") or "ja")[:10],
            metadata=metadata,
            request=body,
        )
        return 200, session_object(request, _session(account, session.ref)), None

    return _idempotent(request, account, body, create)


@komoju_api
def session(request, account, session_id):
    if request.method != "GET":
        return _error(405, "method_not_allowed", "Method not allowed.")
    found, refusal = _reachable_session(account, session_id)
    if refusal is not None:
        return refusal
    return JsonResponse(session_object(request, found))


@komoju_api
def session_cancel(request, account, session_id):
    if request.method != "POST":
        return _error(405, "method_not_allowed", "Method not allowed.")
    found, refusal = _reachable_session(account, session_id)
    if refusal is not None:
        return refusal

    def cancel():
        if not services.session_cancel(session=found):
            raise _Answer(_unprocessable("Session cannot be cancelled in its current state."))
        return 200, session_object(request, _session(account, session_id)), None

    try:
        return _idempotent(request, account, _body(request) or {}, cancel)
    except _Answer as answer:
        return answer.response


# -- terminals ------------------------------------------------------------------------------------


@komoju_api
def pos_terminal(request, account, terminal_id):
    if request.method != "GET":
        return _error(405, "method_not_allowed", "Method not allowed.")
    device = _device(account, terminal_id)
    if device is None:
        return _not_found("Terminal")
    if faults.device_faults(device):
        return _unavailable()
    return JsonResponse(_terminal_object(device))


@komoju_api
def terminal_session(request, account, terminal_id, session_id, action):
    if request.method != "POST":
        return _error(405, "method_not_allowed", "Method not allowed.")
    device = _device(account, terminal_id)
    if device is None:
        return _not_found("Terminal")
    found = _session(account, session_id)
    if found is None:
        return _not_found("Session")
    if faults.device_faults(device):
        return _unavailable()
    if action == "push":
        try:
            services.session_push(session=found, device=device, timeout_s=_timeout_s())
        except services.Refused as refusal:
            return _terminal_error(PUSH_REFUSALS[refusal.reason])
        return faults.deliver(request, device, JsonResponse(SUCCESS))
    if action == "cancel":
        payment = found.payment
        if payment is None or payment.device_id != device.pk:
            return _terminal_error(CANCEL_FAILED)
        services.payment_cancel(payment=payment)
        if payment.status != PaymentStatus.CANCELED or session_status(found)[0] != "cancelled":
            return _terminal_error(CANCEL_FAILED)
        return JsonResponse(SUCCESS)
    # print
    status, _ = session_status(found)
    if status != "completed":
        return _terminal_error(PRINT_FAILED)
    try:
        services.receipt_print(
            device=device, payment=found.payment, lines=receipt_lines(found.payment)
        )
    except services.Refused:
        return _terminal_error(PRINT_FAILED)
    return JsonResponse(SUCCESS)


def receipt_lines(payment: SandboxPayment) -> list[str]:
    """The customer receipt a KOMOJU terminal prints, from the payment's receipt data."""
    emv = _emv(payment)
    word = payment_status(payment)
    approved = payment.status == PaymentStatus.APPROVED
    kind = "SALE" if payment.kind == SandboxPaymentKind.SALE else "AUTHORISATION"
    lines = [
        payment.device.account.label,
        payment.device.display_name,
        (payment.decided_at or payment.created_at).strftime("%Y-%m-%d %H:%M:%S UTC"),
        f"{kind}  {payment.amount_display}",
        f"{payment.card_brand} **** **** **** {payment.card_last4}" if payment.card_last4 else "",
        f"{emv.get('application_label', '')}  AID {emv.get('aid', '')}".strip(),
        f"Entry {emv.get('method', '')}  ATC {emv.get('atc', '')}  TSI {emv.get('tsi', '')}",
        f"Auth code {payment.authcode}" if approved else "",
        f"Order {payment.order_ref}" if payment.order_ref else "",
        "APPROVED" if approved else f"NOT APPROVED ({word})",
        f"Refunded {payment.refunded_display}" if payment.refunded_amount else "",
        "Payment ID " + payment.transaction_ref,
    ]
    return [line for line in lines if line]


# -- payments -------------------------------------------------------------------------------------


@komoju_api
def payment(request, account, payment_id):
    if request.method != "GET":
        return _error(405, "method_not_allowed", "Method not allowed.")
    found = _payment(account, payment_id)
    if found is None:
        return _not_found("Payment")
    if faults.device_faults(found.device):
        return _unavailable()
    return JsonResponse(payment_object(found))


@komoju_api
def payment_action(request, account, payment_id, action):
    if request.method != "POST":
        return _error(405, "method_not_allowed", "Method not allowed.")
    found = _payment(account, payment_id)
    if found is None:
        return _not_found("Payment")
    if faults.device_faults(found.device):
        return _unavailable()
    body = _body(request)
    if body is None:
        return _error(400, "bad_request", "The request body must be a JSON object.")
    amount = body.get("amount")
    if amount is not None and (
        isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0
    ):
        return _unprocessable(
            "The amount must be a positive integer.", "invalid_parameter", "amount"
        )

    def answer():
        found.refresh_from_db()
        return 200, payment_object(found), found

    def cancel():
        if found.status == PaymentStatus.PENDING:
            services.payment_cancel(payment=found)
        elif found.is_reserved:
            services.payment_void(payment=found)
        if found.status != PaymentStatus.CANCELED:
            raise _Answer(_unprocessable("Only a pending or authorized payment can be cancelled."))
        return answer()

    def capture():
        try:
            services.payment_capture(payment=found, amount_minor=amount)
        except services.Refused as refusal:
            raise _Answer(_unprocessable(refusal.message)) from None
        return answer()

    def refund():
        description = body.get("description")
        try:
            made = services.payment_refund(
                payment=found,
                amount_minor=amount,
                description=str(description or "")[:200],
                request=body,
            )
        except services.Refused as refusal:
            raise _Answer(_unprocessable(refusal.message)) from None
        if made.status != PaymentStatus.APPROVED:
            raise _Answer(_unprocessable("The refund was declined.", "refund_declined"))
        return answer()

    operation = {"cancel": cancel, "capture": capture, "refund": refund}[action]
    try:
        response = _idempotent(request, account, body, operation)
    except _Answer as refused:
        return refused.response
    if action == "cancel":
        return response
    return faults.deliver(request, found.device, response)


# -- webhooks -------------------------------------------------------------------------------------

# Payment word after a decision -> KOMOJU's event type.
DECIDED_EVENTS = {
    "captured": "payment.captured",
    "authorized": "payment.authorized",
    "failed": "payment.failed",
    "cancelled": "payment.cancelled",
    "expired": "payment.expired",
}


def webhook_events(payment: SandboxPayment, change: str) -> list:
    """KOMOJU's events about a change: `{id, type, resource: "event", data: <Payment>,
    created_at, reason: null}` as in the seed; a refund's events carry the refunded payment."""
    if change == webhooks.REFUNDED:
        if payment.status != PaymentStatus.APPROVED or payment.original_id is None:
            return []
        subject = SandboxPayment.objects.select_related("device__account").get(
            pk=payment.original_id
        )
        types = ["payment.refund.created"]
        if payment_status(subject) == "refunded":
            types.append("payment.refunded")
    elif change == webhooks.DECIDED:
        subject = payment
        types = [DECIDED_EVENTS[payment_status(payment)]]
    elif change in (webhooks.CANCELED, webhooks.VOIDED):
        subject, types = payment, ["payment.cancelled"]
    elif change == webhooks.CAPTURED:
        subject, types = payment, ["payment.captured"]
    else:
        return []
    data = payment_object(subject)
    events = []
    for event_type in types:
        event_id = services.random_id(25)
        events.append(
            webhooks.Event(
                event_id,
                event_type,
                {
                    "id": event_id,
                    "type": event_type,
                    "resource": "event",
                    "data": data,
                    "created_at": _iso(subject.decided_at or subject.created_at),
                    "reason": None,
                },
            )
        )
    return events


def webhook_test_event(account: SandboxAccount) -> webhooks.Event:
    """KOMOJU's `ping` (komoju.md §5 lists it; its body is not shown): the Event envelope with no
    payment in `data`."""
    event_id = services.random_id(25)
    body = {
        "id": event_id,
        "type": "ping",
        "resource": "event",
        "data": {},
        "created_at": _iso(timezone.now()),
        "reason": None,
    }
    return webhooks.Event(event_id, "ping", body)


@komoju_api
def webhook_test(request, account):
    """The sandbox's "send a test webhook" (see the module docstring)."""
    if request.method != "POST":
        return _error(405, "method_not_allowed", "Method not allowed.")
    url = webhooks.webhook_test_url(_body(request))
    if url is None:
        return _error(400, "bad_request", "url must be an http(s) address.", "url")
    delivery = webhooks.account_send_test_webhook(account=account, url=url)
    return JsonResponse(
        {"event_id": delivery.event_id, "event_type": delivery.event_type}, status=202
    )

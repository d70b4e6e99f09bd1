"""Klearly partner API emulator: merchant tokens, connected devices, payments and refunds on the
Klearly app's terminal, under `/sandbox/klearly/v1/`.

Adapters use `base_url = <root>/sandbox/klearly/v1`. Klearly publishes only its flow guide
(seed 000, `klearly.md`); what the sandbox takes from it:

* A partner generates a **merchant token** and uses it on the partner API.
* "Get terminals" lists **all active devices**; a payment is addressed by the device id. Names
  are changed in Klearly's hub only (here: the sandbox's device name), never over the API.
* "Initiate Payment" takes the device id and metadata (store id, POS payment id, POS merchant
  id recommended), and an `Idempotency-Key` makes a repeat safe.
* A refund is the same call with the `transactionId` query parameter naming the original
  transaction; it must run on the terminal of the original sale, which must be connected.
* "Abort Payment" cancels a pending payment, and can fail (already paid, or on another
  terminal). The cardholder can also press cancel on the tap-card screen.
* In the sandbox the terminal shows an emulator to choose a successful or failed transaction:
  here the virtual terminal page (Approve / Decline …) or a magic amount.
* The result is polled ("GET payment status") or pushed by the payment notification webhook.

## Where the real API is unknown

Everything at wire level. The sandbox speaks exactly the format the dashboard's adapter assumes
(the WIRE block and STATUS_WORDS of `providers/klearly.py`, copied into `WIRE` below):

* **Token**: `POST partner/merchant-token`, `Authorization: Basic base64(partner_id:
  partner_secret)`, body `{"merchantId"}` -> 200 `{"token", "expiresIn"}` (seconds,
  SANDBOX_KLEARLY_TOKEN_TTL_S, 3600). Unknown partner credentials: 401
  `invalid_partner_credentials`; a merchantId the partner is not linked to (the account's
  `merchant_id` setting): 403 `merchant_not_linked`. Every other call needs `Authorization: Bearer <token>`; a missing,
  unknown or expired token is 401 `unauthorized`.
* **Terminals**: `GET terminals` -> `{"data": [terminal…]}` of the connected (online) devices
  only; `GET terminals/{id}` -> `{id, name, model, serialNumber, status}` whether connected or not,
  `status` "active" while connected, "busy" while connected with the busy switch on (a payment
  started elsewhere; assumed, as every Klearly word), "inactive" otherwise; unknown: 404
  `terminal_not_found`.
* **Payments**: `POST payments` with `{deviceId, type: "sale" | "refund", amount (integer minor
  units), currency, description?, metadata: {storeId, posPaymentId, posMerchantId, posOrderId}}`
  (metadata values strings of at most 64 characters; the order id is `posOrderId`, else
  `posPaymentId`) -> 201
  payment; `GET payments/{id}` -> `{id, deviceId, type, status, amount, currency, description,
  card: {brand, last4} | null, authorizationCode, statusMessage, metadata, transactionId,
  createdAt, updatedAt}`. Ids are "pay_" + 20 letters and digits; a payment's id is its
  transactionId for refunds. `brand` is visa, mastercard or discover.
* **Status words**: pending -> succeeded (approved) | failed (declined: statusMessage "Declined
  by the card issuer"; terminal error: its message) | cancelled (the customer) | aborted (the
  API) | expired (nobody paid within SANDBOX_KLEARLY_TIMEOUT_S, 120 s).
* **Refusals** (`{"error": {"code", "message", "deviceId"?}}`): 409 `terminal_not_connected`
  (offline), `terminal_busy` (the busy switch or another payment on it), `terminal_battery_low`;
  404 `terminal_not_found`, `payment_not_found`; 400 `invalid_request` (validation).
* **Refunds**: `POST payments?transactionId=<sale id>` with `type: "refund"` runs on the sale's
  device and must name it as `deviceId` (another device: 400 `refund_on_other_terminal` with
  the sale's `deviceId`); the sale must have succeeded (400 `payment_not_refundable`); never more
  than remains (400 `refund_exceeds_payment`, checked at the start and again when approved).
  The refund is a pending payment on the terminal like a sale, decided by the customer.
* **Abort**: `POST payments/{id}/abort` (optional body `{"deviceId"}`) -> 200 the aborted payment,
  also when it was aborted before. Refused with 409: `payment_already_succeeded`,
  `payment_already_finished` (failed, cancelled, expired), `payment_on_other_terminal` with the
  payment's `deviceId` when the body names another device.
* **Idempotency**: optional `Idempotency-Key` on `POST payments`; the same key and body replay
  the first answer; while the first is unanswered: 409 `idempotency_key_in_use`; with another
  body: 400 `idempotency_key_reused`. Keys are per account and never expire; refusals are not
  stored.
* **Webhooks**: see `sandbox/webhooks.py` (`X-Klearly-Signature`, `{"id": "evt_…", "type",
  "data": <payment>}`).
* **Faults**: the 5xx switch answers 503 `{"error": {"code": "service_unavailable"}}` on calls
  that name a device or payment of it; a lost response is the `POST payments` answer, after the
  payment started.
* **Test webhook**: `POST _sandbox/webhook-test` `{"url"}` with the merchant token (the sandbox's
  own endpoint: Klearly documents no way to send a test notification) -> 202 `{"event_id",
  "event_type": "webhook.test"}`; the event is the notification envelope with type
  `webhook.test` and empty `data` (no test event of Klearly's is known). A `url` that is not an
  http(s) address: 400 `invalid_request`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from functools import wraps

from django.db.models import Q
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from dashboard.access import public
from sandbox import amounts, conf, faults, services, webhooks, wire
from sandbox.emulators import EmulatorName
from sandbox.models import (
    CanceledBy,
    PaymentStatus,
    SandboxAccount,
    SandboxDevice,
    SandboxPayment,
    SandboxPaymentKind,
    SandboxToken,
)

# The names of the adapter's WIRE block (providers/klearly.py) the emulator speaks; the sandbox
# may not import providers/, so a test compares the two.
WIRE: dict[str, str] = {
    "token.path": "partner/merchant-token",
    "token.request.merchant_id": "merchantId",
    "token.response.token": "token",
    "token.response.expires_in": "expiresIn",
    "terminals.path": "terminals",
    "terminal.path": "terminals/{id}",
    "list.items": "data",
    "terminal.id": "id",
    "terminal.name": "name",
    "terminal.model": "model",
    "terminal.serial": "serialNumber",
    "terminal.status": "status",
    "terminal.status.connected": "active",
    # assumed like every Klearly word: connected, but busy with a payment started elsewhere
    "terminal.status.busy": "busy",
    "payments.path": "payments",
    "payment.path": "payments/{id}",
    "abort.path": "payments/{id}/abort",
    "idempotency.header": "Idempotency-Key",
    "refund.query.transaction": "transactionId",
    "request.device": "deviceId",
    "request.type": "type",
    "request.amount": "amount",
    "request.currency": "currency",
    "request.description": "description",
    "request.metadata": "metadata",
    "type.sale": "sale",
    "type.refund": "refund",
    # Klearly recommends these three: the store, the POS payment and the POS merchant.
    "metadata.store": "storeId",  # our store's id (else the account's Klearly store id)
    "metadata.pos_payment": "posPaymentId",  # our payment's UUID (else our order id)
    "metadata.pos_merchant": "posMerchantId",  # our merchant's id
    "metadata.pos_order": "posOrderId",  # our order id (the reference), echoed in webhooks
    "payment.id": "id",
    "payment.status": "status",
    "payment.device": "deviceId",
    "payment.type": "type",
    "payment.amount": "amount",
    "payment.currency": "currency",
    "payment.card": "card",
    "card.brand": "brand",
    "card.last4": "last4",
    "payment.auth_code": "authorizationCode",
    "payment.message": "statusMessage",
    "payment.metadata": "metadata",
    "error": "error",
    "error.code": "code",
    "error.message": "message",
    "error.device": "deviceId",
    "error.terminal_not_connected": "terminal_not_connected",
    "error.terminal_busy": "terminal_busy",
    "error.battery_low": "terminal_battery_low",
    "error.payment_succeeded": "payment_already_succeeded",
    "error.payment_finished": "payment_already_finished",
    "error.other_terminal": "payment_on_other_terminal",
    "error.idempotency_in_flight": "idempotency_key_in_use",
    "webhook.signature_header": "X-Klearly-Signature",
    "event.id": "id",
    "event.type": "type",
    "event.data": "data",
}

PENDING = "pending"
SUCCEEDED = "succeeded"
FAILED = "failed"
CANCELLED = "cancelled"
ABORTED = "aborted"
EXPIRED = "expired"
STATUS_WORDS = (PENDING, SUCCEEDED, FAILED, CANCELLED, ABORTED, EXPIRED)

BRANDS = {"Visa": "visa", "MasterCard": "mastercard", "Discover": "discover"}
DECLINED_MESSAGE = "Declined by the card issuer"
# Assumed like every Klearly rule: metadata values are strings of at most 64 characters.
METADATA_VALUE_MAX = 64

REFUSALS = {
    services.Refused.DEVICE_OFFLINE: (
        409,
        WIRE["error.terminal_not_connected"],
        "The terminal is not connected.",
    ),
    services.Refused.DEVICE_BUSY: (
        409,
        WIRE["error.terminal_busy"],
        "The terminal is busy with another payment.",
    ),
    services.Refused.BATTERY_LOW: (
        409,
        WIRE["error.battery_low"],
        "The terminal's battery is too low.",
    ),
    services.Refused.REFUND_EXCEEDS: (
        400,
        "refund_exceeds_payment",
        "The amount exceeds what remains to be refunded.",
    ),
}


def _error(status: int, code: str, message: str, **extra) -> JsonResponse:
    error = {WIRE["error.code"]: code, WIRE["error.message"]: message, **extra}
    return JsonResponse({WIRE["error"]: error}, status=status)


def _unavailable() -> JsonResponse:
    return _error(503, "service_unavailable", "The service is temporarily unavailable.")


def _invalid(message: str) -> JsonResponse:
    return _error(400, "invalid_request", message)


def _not_allowed() -> JsonResponse:
    return _error(405, "method_not_allowed", "Method not allowed.")


def _iso(moment) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def _body(request) -> dict | None:
    if not request.body.strip():
        return {}
    try:
        body = wire.parse_json(request.body)
    except wire.WireValueError:
        return None
    return body if isinstance(body, dict) else None


# -- auth -----------------------------------------------------------------------------------------


@public("Klearly emulator partner token endpoint; partner credentials checked by the view")
@csrf_exempt
def merchant_token(request):
    if request.method != "POST":
        return _not_allowed()
    partner_id, partner_secret = _basic(request.headers.get("Authorization", ""))
    if wire.has_nul(partner_id):
        partner_id = ""  # no partner id of ours has one
    candidates = (
        SandboxAccount.objects.filter(provider=EmulatorName.KLEARLY).filter(
            Q(secrets__partner_id=partner_id)
            | Q(issued_secrets__contains=[{"partner_id": partner_id}])
        )
        if partner_id
        else SandboxAccount.objects.none()
    )
    partner = [a for a in candidates if _partner_matches(a, partner_id, partner_secret)]
    if not partner:
        return _error(401, "invalid_partner_credentials", "The partner credentials are not valid.")
    body = _body(request)
    if body is None:
        return _invalid("The request body must be a JSON object.")
    merchant_id = body.get(WIRE["token.request.merchant_id"])
    account = next(
        (a for a in partner if str(a.settings.get("merchant_id") or "") == str(merchant_id or "")),
        None,
    )
    if not merchant_id or account is None:
        return _error(403, "merchant_not_linked", "The partner is not linked to this merchant.")
    fault = faults.credential_fault(account)
    if fault == "5xx":
        return _unavailable()
    if fault == "refuse":
        return _error(401, "invalid_partner_credentials", "The partner credentials are not valid.")
    ttl = int(conf.setting("SANDBOX_KLEARLY_TOKEN_TTL_S"))
    token = services.token_issue(account=account, ttl_s=ttl)
    answer = JsonResponse(
        {WIRE["token.response.token"]: token.token, WIRE["token.response.expires_in"]: ttl}
    )
    return faults.deliver_credential(request, account, answer)


def _partner_matches(account, partner_id: str, partner_secret: str) -> bool:
    """The account's partner credentials, or a set Klearly issued beside them, are these."""
    sets = [account.secrets, *account.issued_secrets]
    return any(
        s.get("partner_id", account.secrets.get("partner_id")) == partner_id
        and s.get("partner_secret") == partner_secret
        for s in sets
    )


def _basic(header: str) -> tuple[str, str]:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        return "", ""
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    user, _, password = decoded.partition(":")
    return user, password


def klearly_api(view):
    """Bearer merchant token; the view gets the account."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        webhooks.kick_if_due()
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        found = (
            SandboxToken.objects.valid()
            .select_related("account")
            .filter(token=token.strip())
            .first()
            if scheme.lower() == "bearer" and token.strip() and not wire.has_nul(token)
            else None
        )
        if found is None or found.account.provider != EmulatorName.KLEARLY:
            return _error(401, "unauthorized", "The merchant token is missing, unknown or expired.")
        if wire.has_nul(kwargs.values()):
            return _error(404, "not_found", "Not found.")  # no id of ours has one
        if wire.query_has_nul(request):
            return _invalid("A parameter carries a NUL character.")
        return view(request, found.account, *args, **kwargs)

    return public("Klearly emulator partner API; the merchant token is checked by the view")(
        csrf_exempt(wrapped)
    )


# -- objects --------------------------------------------------------------------------------------


def status_word(payment: SandboxPayment) -> str:
    if payment.status == PaymentStatus.PENDING:
        return PENDING
    if payment.status == PaymentStatus.APPROVED:
        return SUCCEEDED
    if payment.status == PaymentStatus.CANCELED:
        return CANCELLED if payment.canceled_by == CanceledBy.CUSTOMER else ABORTED
    if payment.status == PaymentStatus.TIMED_OUT:
        return EXPIRED
    return FAILED


def payment_object(payment: SandboxPayment) -> dict:
    word = status_word(payment)
    card = (
        {
            WIRE["card.brand"]: BRANDS.get(payment.card_brand, payment.card_brand.lower()),
            WIRE["card.last4"]: payment.card_last4,
        }
        if payment.card_last4
        else None
    )
    message = ""
    if payment.status == PaymentStatus.DECLINED:
        message = payment.error_message or DECLINED_MESSAGE
    elif payment.status == PaymentStatus.FAILED:
        message = payment.error_message
    metadata = payment.request.get(WIRE["request.metadata"])
    return {
        WIRE["payment.id"]: payment.provider_ref,
        WIRE["payment.device"]: payment.device.ref,
        WIRE["payment.type"]: WIRE["type.refund"]
        if payment.kind == SandboxPaymentKind.REFUND
        else WIRE["type.sale"],
        WIRE["payment.status"]: word,
        WIRE["payment.amount"]: payment.amount_minor,
        WIRE["payment.currency"]: payment.currency,
        WIRE["request.description"]: payment.description or None,
        WIRE["payment.card"]: card,
        WIRE["payment.auth_code"]: payment.authcode or None,
        WIRE["payment.message"]: message or None,
        WIRE["payment.metadata"]: metadata if isinstance(metadata, dict) else {},
        WIRE["refund.query.transaction"]: payment.original.provider_ref
        if payment.original_id
        else None,
        "createdAt": _iso(payment.created_at),
        "updatedAt": _iso(payment.decided_at or payment.created_at),
    }


def _terminal_object(device: SandboxDevice) -> dict:
    return {
        WIRE["terminal.id"]: device.ref,
        WIRE["terminal.name"]: device.display_name,
        WIRE["terminal.model"]: " ".join(
            part for part in (device.manufacturer, device.model) if part
        ),
        WIRE["terminal.serial"]: device.serial,
        WIRE["terminal.status"]: (
            "inactive"
            if not device.online
            else WIRE["terminal.status.busy"]
            if device.busy
            else WIRE["terminal.status.connected"]
        ),
    }


def _payment(account, payment_id: str) -> SandboxPayment | None:
    payment = (
        SandboxPayment.objects.for_account(account)
        .select_related("device__account", "original")
        .filter(provider_ref=payment_id)
        .first()
        if payment_id
        else None
    )
    return services.payment_refresh(payment=payment) if payment else None


# -- terminals ------------------------------------------------------------------------------------


@klearly_api
def terminals(request, account):
    if request.method != "GET":
        return _not_allowed()
    connected = account.devices.select_related("account").filter(online=True).order_by("pk")
    return JsonResponse({WIRE["list.items"]: [_terminal_object(device) for device in connected]})


@klearly_api
def terminal(request, account, terminal_id):
    if request.method != "GET":
        return _not_allowed()
    device = account.devices.select_related("account").filter(ref=terminal_id).first()
    if device is None:
        return _error(404, "terminal_not_found", f"No terminal {terminal_id}.")
    if faults.device_faults(device):
        return _unavailable()
    return JsonResponse(_terminal_object(device))


# -- payments -------------------------------------------------------------------------------------


def _validate(body: dict) -> str:
    """The first problem with a payment body, or ""."""
    amount = body.get(WIRE["request.amount"])
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        return "amount must be a positive integer in minor units."
    currency = body.get(WIRE["request.currency"])
    if not amounts.is_currency(currency):
        return "currency must be an ISO 4217 code."
    if body.get(WIRE["request.type"], WIRE["type.sale"]) not in (
        WIRE["type.sale"],
        WIRE["type.refund"],
    ):
        return "type must be sale or refund."
    metadata = body.get(WIRE["request.metadata"], {})
    if not isinstance(metadata, dict):
        return "metadata must be an object."
    for name, value in metadata.items():
        if not isinstance(value, str) or len(value) > METADATA_VALUE_MAX:
            return f"metadata.{name} must be a string of at most {METADATA_VALUE_MAX} characters."
    description = body.get(WIRE["request.description"])
    if description is not None and not isinstance(description, str):
        return "description must be a string."
    return ""


def _order_ref(metadata: dict) -> str:
    """The POS's order id: `posOrderId`, else `posPaymentId` (a POS may send only that)."""
    return str(
        metadata.get(WIRE["metadata.pos_order"]) or metadata.get(WIRE["metadata.pos_payment"]) or ""
    )[:64]


@klearly_api
def payments(request, account):
    if request.method != "POST":
        return _not_allowed()
    body = _body(request)
    if body is None:
        return _invalid("The request body must be a JSON object.")
    problem = _validate(body)
    if problem:
        return _invalid(problem)
    device_id = str(body.get(WIRE["request.device"]) or "")
    if not device_id:
        return _invalid("deviceId is required.")
    device = account.devices.select_related("account").filter(ref=device_id).first()
    if device is None:
        return _error(404, "terminal_not_found", f"No terminal {device_id}.")
    original = None
    transaction_id = request.GET.get(WIRE["refund.query.transaction"], "")
    is_refund = body.get(WIRE["request.type"]) == WIRE["type.refund"]
    if is_refund != bool(transaction_id):
        return _invalid(
            "A refund needs the transactionId query parameter, and only a refund takes it."
        )
    if is_refund:
        original = _payment(account, transaction_id)
        if original is None or original.kind != SandboxPaymentKind.SALE:
            return _error(404, "payment_not_found", f"No payment {transaction_id}.")
        if original.device_id != device.pk:
            return _error(
                400,
                "refund_on_other_terminal",
                "A refund must run on the terminal of the original sale.",
                **{WIRE["error.device"]: original.device.ref},
            )
        if original.status != PaymentStatus.APPROVED:
            return _error(400, "payment_not_refundable", "Only a succeeded sale can be refunded.")
        if body.get(WIRE["request.currency"]) != original.currency:
            return _invalid(f"currency must be the sale's ({original.currency}).")
    if faults.device_faults(device):
        return _unavailable()

    def start():
        payment = services.sandbox_payment_start(
            device=device,
            kind=SandboxPaymentKind.REFUND if is_refund else SandboxPaymentKind.SALE,
            amount_minor=body[WIRE["request.amount"]],
            currency=body[WIRE["request.currency"]],
            timeout_s=int(conf.setting("SANDBOX_KLEARLY_TIMEOUT_S")),
            order_ref=_order_ref(body.get(WIRE["request.metadata"], {})),
            description=body.get(WIRE["request.description"]) or "",
            request=body,
            when_offline="refuse",
            when_battery_low="refuse",
            original=original,
        )
        return 201, payment_object(payment), payment

    key = request.headers.get(WIRE["idempotency.header"], "").strip()
    try:
        if key:
            canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
            fingerprint = hashlib.sha256(
                f"{request.get_full_path()}\n{canonical}".encode()
            ).hexdigest()
            status, answer = services.idempotent_call(
                account=account,
                key=key,
                fingerprint=fingerprint,
                operation=start,
                in_flight="refuse",
            )
        else:
            status, answer, _ = start()
    except services.IdempotencyKeyInFlight:
        return _error(
            409, WIRE["error.idempotency_in_flight"], "A request with this key is in progress."
        )
    except services.IdempotencyKeyInUse:
        return _error(400, "idempotency_key_reused", "This key was used with another request.")
    except services.Refused as refusal:
        status_code, code, message = REFUSALS[refusal.reason]
        return _error(status_code, code, message, **{WIRE["error.device"]: device.ref})
    return faults.deliver(request, device, JsonResponse(answer, status=status))


@klearly_api
def payment(request, account, payment_id):
    if request.method != "GET":
        return _not_allowed()
    found = _payment(account, payment_id)
    if found is None:
        return _error(404, "payment_not_found", f"No payment {payment_id}.")
    if faults.device_faults(found.device):
        return _unavailable()
    return JsonResponse(payment_object(found))


@klearly_api
def payment_abort(request, account, payment_id):
    if request.method != "POST":
        return _not_allowed()
    found = _payment(account, payment_id)
    if found is None:
        return _error(404, "payment_not_found", f"No payment {payment_id}.")
    if faults.device_faults(found.device):
        return _unavailable()
    body = _body(request) or {}
    named = body.get(WIRE["request.device"])
    if named and named != found.device.ref:
        return _error(
            409,
            WIRE["error.other_terminal"],
            "The payment is on another terminal.",
            **{WIRE["error.device"]: found.device.ref},
        )
    services.payment_cancel(payment=found)
    word = status_word(found)
    if word == ABORTED:
        return JsonResponse(payment_object(found))
    if word == SUCCEEDED:
        return _error(409, WIRE["error.payment_succeeded"], "The payment already succeeded.")
    return _error(409, WIRE["error.payment_finished"], f"The payment already ended ({word}).")


# -- webhooks -------------------------------------------------------------------------------------


def webhook_events(payment: SandboxPayment, change: str) -> list:
    """Klearly's payment notification (OUR ASSUMPTION): `{"id": "evt_…", "type":
    "payment.<status word>", "data": <payment>, "createdAt"}`, for every change of a sale or a
    refund on the terminal."""
    if change not in (webhooks.DECIDED, webhooks.CANCELED):
        return []
    event_id = "evt_" + services.random_id(24)
    event_type = f"payment.{status_word(payment)}"
    body = {
        WIRE["event.id"]: event_id,
        WIRE["event.type"]: event_type,
        WIRE["event.data"]: payment_object(payment),
        "createdAt": _iso(payment.decided_at or payment.created_at),
    }
    return [webhooks.Event(event_id, event_type, body)]


def webhook_test_event(account: SandboxAccount) -> webhooks.Event:
    """Klearly documents no test notification (OUR ASSUMPTION): the payment notification's
    envelope with the type `webhook.test` and no payment in `data`."""
    event_id = "evt_" + services.random_id(24)
    body = {
        WIRE["event.id"]: event_id,
        WIRE["event.type"]: "webhook.test",
        WIRE["event.data"]: {},
        "createdAt": _iso(timezone.now()),
    }
    return webhooks.Event(event_id, "webhook.test", body)


@klearly_api
def webhook_test(request, account):
    """The sandbox's "send a test webhook" (see the module docstring)."""
    if request.method != "POST":
        return _not_allowed()
    url = webhooks.webhook_test_url(_body(request))
    if url is None:
        return _invalid("url must be an http(s) address.")
    delivery = webhooks.account_send_test_webhook(account=account, url=url)
    return JsonResponse(
        {"event_id": delivery.event_id, "event_type": delivery.event_type}, status=202
    )

"""Payroc Cloud emulator: identity service, devices, payment and refund instructions, payments,
refunds and captures, under `/sandbox/payroc/`.

Adapters use `identity_url = <root>/sandbox/payroc/identity/authorize` and
`base_url = <root>/sandbox/payroc/v1`. Paths, bodies, status words and problem+json errors follow
Payroc's official OpenAPI v1.0.227 (`payroc-openapi.yaml`) and `payroc.md`:

* `POST identity/authorize` with `x-api-key` -> `{access_token, expires_in, token_type, scope}`.
  Every `/v1/` call needs `Authorization: Bearer …`; an unknown or expired token is a 401.
* `GET /devices` (paginated list), `POST /devices/{serialNumber}/payment-instructions` and
  `/refund-instructions` -> 202 `{…InstructionId, status: "inProgress", link rel self}`.
* `GET /payment-instructions/{id}` holds up to SANDBOX_PAYROC_LONG_POLL_S (30 s) while the
  instruction is `inProgress` and answers at once when it changes; `completed` links the payment
  (`rel: payment`) or refund (`rel: refund`); `failure` carries `errorMessage`.
* `DELETE /payment-instructions/{id}` -> 204 while `inProgress`, else 409 `cannot-be-deleted`.
* `GET /payments/{paymentId}`, `GET /refunds/{refundId}`, `POST /payments/{paymentId}/refund`
  (referenced refund, 200 with the payment and its grown `refunds[]`), `POST /payments/{paymentId}/capture`,
  `POST /payments/{paymentId}/reverse` (the whole of an uncaptured pre-authorisation only).
* Money-moving POSTs need `Idempotency-Key`: missing -> 400 `idempotency-key-missing`, the same key
  with the same body replays the first answer, with another body -> 409 `idempotency-key-in-use`.

## Where the real API is unknown

Payroc documents none of these; the sandbox chooses, and the dashboard's adapter may rely on it:

* **Offline device**: the instruction is accepted (202 `inProgress`) and is `failure` with
  errorMessage "Device is offline" when next read. No money moves.
* **Low battery**: the same, errorMessage "Device battery is too low".
* **Busy device** (the Busy switch, or another instruction `inProgress` on it): 409 problem+json
  `resource-already-exists`, detail "The device is processing another instruction", with
  `instance` = that instruction's URL when it is one of ours.
* **Nobody presents a card**: Payroc documents no device timeout. After
  SANDBOX_PAYROC_INSTRUCTION_TIMEOUT_S (120 s) the instruction is `failure` with errorMessage
  "The device timed out waiting for the card".
* **Customer cancels on the terminal**: the instruction is `canceled`, as after a DELETE.
* **Terminal error**: `failure` with errorMessage "Terminal error: the card could not be read".
* **Declined card**: the instruction is `completed`; the payment's transactionResult has
  `status: "declined"`, `responseCode: "D"`.
* **Transaction words**: an approved sale is `{type: sale, status: ready, responseCode: A}`; an
  approved pre-authorisation (`autoCapture: false`) is `type: preAuthorization`, and
  `preAuthorizationCompletion` once captured. `supportedOperations` lists only what the sandbox
  implements (`capture`, `refund`).
* **Refunds**: refundSummary and refund `authorizedAmount` are negative, as in the spec's examples.
  The sandbox has no batches: a referenced refund always adds a refund, never reverses.
  Refunding more than remains, or a payment that is not an approved sale or captured
  pre-authorisation: 400 `bad-request` with `errors[{parameter: "amount" | "paymentId"}]`.
* **Capture** of anything but an approved, uncaptured pre-authorisation, or of more than
  authorised: 400 `bad-request` with `errors[]`.
* **Idempotency**: only successful answers are stored and replayed; an error answer (busy,
  validation) is not, so a retry with the same key after the device frees up starts the
  instruction once. Keys never expire and are per account; the same key on another path counts as
  another request (409). The key must be a UUID (400 `bad-request` otherwise).
* **processingTerminalId** must equal the account's `processing_terminal_id` setting when the
  account has one (400 `bad-request` otherwise).
* **GET /devices**: `deviceId` is the sandbox's row id; results are ordered by it and `after` /
  `before` are deviceIds; `links` carry `next` / `previous` (method `get`) when there is such a
  page. `active=false` lists nothing (sandbox devices are never deactivated).
* **Faults**: the 5xx switch answers 503 with the spec's `api-error` problem body; the token is
  opaque (not a JWT); an unknown method on a known path is a 405 problem.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from functools import wraps
from urllib.parse import urlencode

from django.http import HttpResponse, JsonResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from dashboard.access import public
from sandbox import amounts, conf, faults, services, wakeups, wire
from sandbox.emulators import EmulatorName
from sandbox.models import (
    CanceledBy,
    PaymentStatus,
    SandboxAccount,
    SandboxPayment,
    SandboxPaymentKind,
    SandboxToken,
)

ERRORS_URL = "https://docs.payroc.com/api/errors#"
SCOPE = "payroc-cloud devices payments refunds"
POLL_INTERVAL_S = 0.2  # how often a held status call re-reads the database
DEVICE_PAGE_MAX = 100  # GET /devices `limit` maximum (docs)
DEVICE_PAGE_DEFAULT = 10
TIMED_OUT_MESSAGE = "The device timed out waiting for the card"
ENTRY_METHODS = ("deviceRead", "manualEntry", "deviceReadOrManualEntry")

# (status, type, title, detail) of the problems the spec documents.
NOT_AUTHORIZED = (401, "not-authorized", "Not Authorized", "Your identity could not be verified")
NOT_FOUND = (404, "not-found", "Not found", "Resource not found")
BAD_REQUEST = (
    400,
    "bad-request",
    "Bad request",
    "One or more validation errors occurred, see error section for more info",
)
KEY_MISSING = (
    400,
    "idempotency-key-missing",
    "Idempotency-Key header missing",
    "An 'Idempotency-Key' must be supplied for this request",
)
KEY_IN_USE = (
    409,
    "idempotency-key-in-use",
    "Idempotency-Key in use",
    "'Idempotency-Key' is already in use against a different request",
)
CANNOT_DELETE = (
    409,
    "cannot-be-deleted",
    "Cannot be deleted",
    "You cannot delete this resource in its current state",
)
RESOURCE_EXISTS = (
    409,
    "resource-already-exists",
    "Resource already exists",
    "The device is processing another instruction",
)
UNSUPPORTED_MEDIA = (
    415,
    "unsupported-media-type",
    "Unsupported media type",
    "You submitted a payload in an unsupported format",
)
UNAVAILABLE = (503, "api-error", "Api error", "We are unable to process your request at this time")
NOT_ALLOWED = (
    405,
    "method-not-allowed",
    "Method not allowed",
    "This resource does not support the method",
)

# Sandbox payment status -> deviceInstruction.status
INSTRUCTION_STATUS = {
    PaymentStatus.PENDING: "inProgress",
    PaymentStatus.APPROVED: "completed",
    PaymentStatus.DECLINED: "completed",
    PaymentStatus.CANCELED: "canceled",
    PaymentStatus.TIMED_OUT: "failure",
    PaymentStatus.FAILED: "failure",
}
CANNOT_DELETE_MESSAGES = {
    "completed": "Completed instruction cannot be deleted",
    "failure": "Failed instruction cannot be deleted",
    "canceled": "Canceled instruction cannot be deleted",
}


class Instructions:
    """What differs between payment instructions and refund instructions."""

    def __init__(self, *, id_field, url_name, kinds, link_rel, link_url_name, resource):
        self.id_field = id_field
        self.url_name = url_name
        self.kinds = kinds
        self.link_rel = link_rel
        self.link_url_name = link_url_name
        self.resource = resource


PAYMENT_INSTRUCTIONS = Instructions(
    id_field="paymentInstructionId",
    url_name="sandbox:payroc_payment_instruction",
    kinds=(SandboxPaymentKind.SALE, SandboxPaymentKind.AUTH),
    link_rel="payment",
    link_url_name="sandbox:payroc_payment",
    resource="paymentInstruction",
)
REFUND_INSTRUCTIONS = Instructions(
    id_field="refundInstructionId",
    url_name="sandbox:payroc_refund_instruction",
    kinds=(SandboxPaymentKind.REFUND,),
    link_rel="refund",
    link_url_name="sandbox:payroc_refund",
    resource="refundInstruction",
)


# -- answers --------------------------------------------------------------------------------------


def _json(body: dict, status: int = 200) -> JsonResponse:
    return JsonResponse(body, status=status)


def _problem(problem: tuple, *, detail: str | None = None, **extra) -> JsonResponse:
    status, kind, title, default_detail = problem
    body = {
        "type": ERRORS_URL + kind,
        "title": title,
        "status": status,
        "detail": detail or default_detail,
    }
    body.update({key: value for key, value in extra.items() if value is not None})
    return JsonResponse(body, status=status, content_type="application/problem+json")


def _invalid(*errors: tuple[str, str, str]) -> JsonResponse:
    """400 bad-request with errors[{parameter, detail, message}]."""
    return _problem(
        BAD_REQUEST,
        errors=[
            {"parameter": parameter, "detail": detail, "message": message}
            for parameter, detail, message in errors
        ],
    )


def _unavailable() -> JsonResponse:
    return _problem(UNAVAILABLE, errors=[{"message": "Service offline"}])


def _link(request, rel: str, url_name: str, ref: str, method: str = "GET") -> dict:
    return {
        "rel": rel,
        "method": method,
        "href": request.build_absolute_uri(reverse(url_name, args=[ref])),
    }


def _iso(moment) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


# -- auth -----------------------------------------------------------------------------------------


@public("Payroc emulator identity service; checks the x-api-key itself")
@csrf_exempt
def authorize(request):
    if request.method != "POST":
        return _problem(NOT_ALLOWED)
    api_key = request.headers.get("x-api-key", "")
    if wire.has_nul(api_key):
        return _problem(NOT_AUTHORIZED)  # no key of ours has one
    account, _ = services.account_by_secret(
        provider=EmulatorName.PAYROC, name="api_key", value=api_key
    )
    if account is None:
        return _problem(NOT_AUTHORIZED)
    fault = faults.credential_fault(account)
    if fault == "5xx":
        return _unavailable()
    if fault == "refuse":
        return _problem(NOT_AUTHORIZED)
    token = services.token_issue(account=account)
    answer = _json(
        {
            "access_token": token.token,
            "expires_in": int(conf.setting("SANDBOX_PAYROC_TOKEN_TTL_S")),
            "scope": SCOPE,
            "token_type": "Bearer",
        }
    )
    return faults.deliver_credential(request, account, answer)


def _bearer(view):
    """Passes the bearer token's account to the view; a missing, unknown or expired token is a 401."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        found = (
            SandboxToken.objects.valid()
            .select_related("account")
            .filter(token=token.strip())
            .first()
            if scheme.lower() == "bearer" and token.strip() and not wire.has_nul(token)
            else None
        )
        if found is None or found.account.provider != EmulatorName.PAYROC:
            return _problem(NOT_AUTHORIZED)
        if wire.has_nul(kwargs.values()):
            return _problem(NOT_FOUND)  # no id of ours has one
        if wire.query_has_nul(request):
            return _invalid(("query", "invalid value", "A parameter carries a NUL character"))
        return view(request, found.account, *args, **kwargs)

    return wrapped


# -- request parsing ------------------------------------------------------------------------------


def _body(request) -> tuple[dict | None, JsonResponse | None]:
    """The JSON object sent, or the error answer. An empty body reads as {}."""
    if not request.body.strip():
        return {}, None
    if "json" not in request.content_type:
        return None, _problem(UNSUPPORTED_MEDIA)
    try:
        body = wire.parse_json(request.body)
    except wire.WireValueError as exc:
        return None, _invalid(("body", "invalid json", f"The request body is not valid: {exc}"))
    if not isinstance(body, dict):
        return None, _invalid(("body", "invalid type", "The request body must be a JSON object"))
    return body, None


def _idempotency_key(request) -> tuple[str | None, JsonResponse | None]:
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
        return None, _problem(KEY_MISSING)
    try:
        uuid.UUID(key)
    except ValueError:
        return None, _invalid(
            ("Idempotency-Key", "invalid format", f"Expected a UUID v4, got '{key[:60]}'")
        )
    return key, None


def _fingerprint(request, body: dict) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{request.method} {request.path}\n{canonical}".encode()).hexdigest()


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_string(
    errors: list, body: dict, field: str, name: str, *, low: int, high: int, required: bool
) -> None:
    value = body.get(field)
    if value is None:
        if required:
            errors.append((name, "required", f"{name} is required"))
        return
    if not isinstance(value, str) or not low <= len(value) <= high:
        errors.append(
            (name, "invalid value", f"Expected a string of {low} to {high} characters for {name}")
        )


def _check_terminal(errors: list, body: dict, account: SandboxAccount, *, required: bool) -> None:
    _check_string(
        errors,
        body,
        "processingTerminalId",
        "processingTerminalId",
        low=4,
        high=50,
        required=required,
    )
    expected = account.settings.get("processing_terminal_id")
    value = body.get("processingTerminalId")
    if expected and isinstance(value, str) and value != expected and not errors:
        errors.append(("processingTerminalId", "unknown", f"Unknown processing terminal '{value}'"))


def _instruction_errors(body: dict, account: SandboxAccount, *, refund: bool) -> list:
    errors: list = []
    _check_terminal(errors, body, account, required=True)
    _check_string(errors, body, "operator", "operator", low=0, high=50, required=False)
    order = body.get("order")
    if not isinstance(order, dict):
        errors.append(("order", "required", "order is required"))
        return errors
    _check_string(errors, order, "orderId", "order.orderId", low=1, high=24, required=True)
    _check_string(
        errors,
        order,
        "description",
        "order.description",
        low=1 if refund else 0,
        high=1024,
        required=refund,
    )
    amount = order.get("amount")
    if not _is_int(amount) or amount <= 0:
        errors.append(
            (
                "order.amount",
                "invalid value",
                f"Expected a positive integer, got '{amount}' for order.amount",
            )
        )
    currency = order.get("currency")
    if not amounts.is_currency(currency):
        errors.append(
            (
                "order.currency",
                "invalid value",
                f"Expected an ISO 4217 code, got '{currency}' for order.currency",
            )
        )
    for flag in ("autoCapture", "processAsSale"):
        if flag in body and not isinstance(body[flag], bool):
            errors.append((flag, "invalid type", f"Expected a boolean for {flag}"))
    options = body.get("customizationOptions")
    if options is not None:
        if (
            not isinstance(options, dict)
            or options.get("entryMethod", "deviceRead") not in ENTRY_METHODS
        ):
            errors.append(
                ("customizationOptions.entryMethod", "invalid value", "Unknown entry method")
            )
    return errors


# -- devices --------------------------------------------------------------------------------------


def _device_object(device) -> dict:
    body = {
        "deviceId": str(device.pk),
        "serialNumber": device.ref,
        "tender": "creditDebit",
        "deviceType": {"model": device.model, "manufacturer": device.manufacturer},
        "createdDate": _iso(device.created_at),
    }
    last = (
        SandboxPayment.objects.filter(
            device=device, status__in=[PaymentStatus.APPROVED, PaymentStatus.DECLINED]
        )
        .exclude(kind=SandboxPaymentKind.REFUND)
        .order_by("-decided_at")
        .first()
    )
    if last is not None:
        body["lastTransaction"] = {
            "orderId": last.order_ref,
            "dateTime": _iso(last.decided_at),
            "processingTerminalId": _terminal_id(last),
        }
    body["links"] = []
    return body


@public("Payroc emulator wire API; bearer token checked by the view")
@csrf_exempt
@_bearer
def devices(request, account):
    if request.method != "GET":
        return _problem(NOT_ALLOWED)
    query = request.GET
    errors = []
    try:
        limit = int(query.get("limit", DEVICE_PAGE_DEFAULT))
        if not wire.is_digits(query.get("limit", "1")) or not 1 <= limit <= DEVICE_PAGE_MAX:
            raise ValueError
    except ValueError:
        errors.append(
            ("limit", "invalid value", f"limit must be an integer from 1 to {DEVICE_PAGE_MAX}")
        )
        limit = DEVICE_PAGE_DEFAULT
    after, before = query.get("after"), query.get("before")
    if after and before:
        errors.append(
            ("before", "invalid combination", "You can't send before and after in the same request")
        )
    for cursor_name, cursor in (("after", after), ("before", before)):
        if cursor is not None and not wire.is_digits(cursor):
            errors.append((cursor_name, "invalid value", f"Unknown cursor '{cursor[:40]}'"))
    active = query.get("active")
    if active is not None and active not in ("true", "false"):
        errors.append(("active", "invalid value", "Expected true or false for active"))
    if errors:
        return _invalid(*errors)

    matching = account.devices.order_by("pk")
    device = None
    if "serialNumber" in query:
        matching = matching.filter(ref=query["serialNumber"])
        device = matching.first()
    if "model" in query:
        matching = matching.filter(model__iexact=query["model"])
    if active == "false":
        matching = matching.none()
    if device is not None and faults.device_faults(device):
        return _unavailable()

    if before:
        page = list(matching.filter(pk__lt=int(before)).order_by("-pk")[: limit + 1])
        has_more = len(page) > limit
        page = list(reversed(page[:limit]))
        has_previous, has_next = has_more, True
    else:
        window = matching.filter(pk__gt=int(after)) if after else matching
        page = list(window[: limit + 1])
        has_more = len(page) > limit
        page = page[:limit]
        has_previous, has_next = bool(after), has_more

    filters = {key: query[key] for key in ("serialNumber", "model", "active") if key in query}
    links = []
    if page and has_previous:
        links.append(
            _page_link(request, "previous", {**filters, "limit": limit, "before": page[0].pk})
        )
    if page and has_next:
        links.append(_page_link(request, "next", {**filters, "limit": limit, "after": page[-1].pk}))
    return _json(
        {
            "limit": limit,
            "count": len(page),
            "hasMore": has_more,
            "links": links,
            "data": [_device_object(device) for device in page],
        }
    )


def _page_link(request, rel: str, params: dict) -> dict:
    return {
        "rel": rel,
        "method": "get",
        "href": request.build_absolute_uri(f"{request.path}?{urlencode(params)}"),
    }


# -- instructions ---------------------------------------------------------------------------------


def _instruction_object(
    request, payment: SandboxPayment, instructions: Instructions, *, status: str | None = None
) -> dict:
    status = status or INSTRUCTION_STATUS[payment.status]
    body: dict = {instructions.id_field: payment.provider_ref, "status": status}
    if status == "inProgress":
        body["link"] = _link(request, "self", instructions.url_name, payment.provider_ref)
    elif status == "completed":
        body["link"] = _link(
            request, instructions.link_rel, instructions.link_url_name, payment.transaction_ref
        )
    elif status == "failure":
        body["errorMessage"] = (
            TIMED_OUT_MESSAGE
            if payment.status == PaymentStatus.TIMED_OUT
            else payment.error_message
        )
    return body


def _submit(request, account, serial: str, instructions: Instructions):
    if request.method != "POST":
        return _problem(NOT_ALLOWED)
    key, error = _idempotency_key(request)
    if error:
        return error
    device = account.devices.filter(ref=serial).first()
    if device is None:
        return _problem(NOT_FOUND, resource="device")
    if faults.device_faults(device):
        return _unavailable()
    body, error = _body(request)
    if error:
        return error
    refund = instructions is REFUND_INSTRUCTIONS
    errors = _instruction_errors(body, account, refund=refund)
    if errors:
        return _invalid(*errors)
    order = body["order"]
    if refund:
        kind = SandboxPaymentKind.REFUND
    else:
        # autoCapture false = pre-authorisation; processAsSale true overrides it.
        kind = (
            SandboxPaymentKind.SALE
            if body.get("processAsSale") or body.get("autoCapture", True)
            else SandboxPaymentKind.AUTH
        )
    fingerprint = _fingerprint(request, body)

    def start():
        payment = services.sandbox_payment_start(
            device=device,
            kind=kind,
            amount_minor=order["amount"],
            currency=order["currency"],
            timeout_s=int(conf.setting("SANDBOX_PAYROC_INSTRUCTION_TIMEOUT_S")),
            order_ref=order["orderId"],
            description=order.get("description") or "",
            operator=body.get("operator") or "",
            request=body,
            idempotency_key=key,
            request_fingerprint=fingerprint,
            when_offline="fail",
            when_battery_low="fail",
        )
        # The start's answer always says inProgress: the device learns of it afterwards.
        return (
            202,
            _instruction_object(request, payment, instructions, status="inProgress"),
            payment,
        )

    try:
        status, answer = services.idempotent_call(
            account=account, key=key, fingerprint=fingerprint, operation=start
        )
    except services.IdempotencyKeyInUse:
        return _problem(KEY_IN_USE)
    except services.Refused as refusal:
        blocking = refusal.blocking
        instance = None
        if blocking is not None and blocking.provider_ref:
            blocking_kind = (
                REFUND_INSTRUCTIONS
                if blocking.kind == SandboxPaymentKind.REFUND
                else PAYMENT_INSTRUCTIONS
            )
            instance = _link(request, "self", blocking_kind.url_name, blocking.provider_ref)["href"]
        return _problem(RESOURCE_EXISTS, instance=instance)
    return faults.deliver(request, device, _json(answer, status))


def _find_instruction(
    account, instruction_id: str, instructions: Instructions
) -> SandboxPayment | None:
    if not instruction_id:
        return None
    return (
        SandboxPayment.objects.for_account(account)
        .select_related("device")
        .filter(provider_ref=instruction_id, kind__in=instructions.kinds)
        .first()
    )


def _instruction(request, account, instruction_id: str, instructions: Instructions):
    if request.method not in ("GET", "DELETE"):
        return _problem(NOT_ALLOWED)
    payment = _find_instruction(account, instruction_id, instructions)
    if payment is None:
        return _problem(NOT_FOUND, resource=instructions.resource)
    if faults.device_faults(payment.device):
        return _unavailable()
    if request.method == "DELETE":
        if services.payment_cancel(payment=payment):
            return HttpResponse(status=204)
        status = INSTRUCTION_STATUS[payment.status]
        link = None
        if status == "completed":
            link = _link(
                request, instructions.link_rel, instructions.link_url_name, payment.transaction_ref
            )
        return _problem(
            CANNOT_DELETE,
            errors=[
                {"parameter": instructions.id_field, "message": CANNOT_DELETE_MESSAGES[status]}
            ],
            link=link,
        )
    return _json(_instruction_object(request, _long_poll(payment), instructions))


def _long_poll(payment: SandboxPayment) -> SandboxPayment:
    """Holds while the instruction is inProgress, up to SANDBOX_PAYROC_LONG_POLL_S. Waits for the
    payment's change to be announced (sandbox/wakeups.py: no database connection held meanwhile),
    and re-reads it then, when time decides it (a magic outcome or its timeout is due), and at least
    every SANDBOX_HELD_CALL_READ_S (each read its own autocommit query: no transaction is held)."""
    deadline = time.monotonic() + float(conf.setting("SANDBOX_PAYROC_LONG_POLL_S"))
    payment = services.payment_refresh(payment=payment)
    while payment.status == PaymentStatus.PENDING:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        wakeups.wait(payment.pk, min(remaining, _until_time_decides(payment)))
        payment = services.payment_refresh(payment=SandboxPayment.objects.get(pk=payment.pk))
    return payment


def _until_time_decides(payment: SandboxPayment) -> float:
    """Seconds until a read would find the payment decided by time (its magic outcome, its
    timeout), a little after that moment."""
    now = timezone.now()
    due = [payment.timeout_at]
    if payment.magic_outcome and payment.outcome_at is not None and not payment.awaiting_amount:
        due.append(payment.outcome_at)
    return max(POLL_INTERVAL_S, min((d - now).total_seconds() for d in due if d) + 0.05)


@public("Payroc emulator wire API; bearer token checked by the view")
@csrf_exempt
@_bearer
def payment_instructions(request, account, serial):
    return _submit(request, account, serial, PAYMENT_INSTRUCTIONS)


@public("Payroc emulator wire API; bearer token checked by the view")
@csrf_exempt
@_bearer
def refund_instructions(request, account, serial):
    return _submit(request, account, serial, REFUND_INSTRUCTIONS)


@public("Payroc emulator wire API; bearer token checked by the view")
@csrf_exempt
@_bearer
def payment_instruction(request, account, instruction_id):
    return _instruction(request, account, instruction_id, PAYMENT_INSTRUCTIONS)


@public("Payroc emulator wire API; bearer token checked by the view")
@csrf_exempt
@_bearer
def refund_instruction(request, account, instruction_id):
    return _instruction(request, account, instruction_id, REFUND_INSTRUCTIONS)


# -- payments and refunds -------------------------------------------------------------------------


def _terminal_id(payment: SandboxPayment) -> str:
    source = payment.original or payment
    return str(
        source.request.get("processingTerminalId")
        or source.device.account.settings.get("processing_terminal_id")
        or ""
    )


def _card_object(payment: SandboxPayment) -> dict:
    return {
        "type": payment.card_brand,
        "entryMethod": payment.entry_method,
        "cardNumber": f"{payment.card_bin}******{payment.card_last4}",
        "expiryDate": payment.card_expiry,
    }


def _payment_object(request, payment: SandboxPayment) -> dict:
    approved = payment.status == PaymentStatus.APPROVED
    if payment.kind == SandboxPaymentKind.SALE:
        result_type = "sale"
    else:
        result_type = "preAuthorizationCompletion" if payment.captured else "preAuthorization"
    authorized = (
        (payment.captured_amount if payment.captured else payment.amount_minor) if approved else 0
    )
    result = {
        "type": result_type,
        "status": "ready" if approved else "declined",
        "approvalCode": payment.authcode if approved else None,
        "authorizedAmount": authorized,
        "currency": payment.currency,
        "responseCode": "A" if approved else "D",
        "responseMessage": "Approved" if approved else "Declined",
    }
    order = {
        "orderId": payment.order_ref,
        "dateTime": _iso(payment.decided_at),
        "amount": payment.amount_minor,
        "currency": payment.currency,
    }
    if payment.description:
        order["description"] = payment.description[:256]
    body: dict = {
        "paymentId": payment.transaction_ref,
        "processingTerminalId": _terminal_id(payment),
    }
    if payment.operator:
        body["operator"] = payment.operator
    body["order"] = order
    body["card"] = _card_object(payment)
    refunds = payment.refunds.filter(
        status__in=[PaymentStatus.APPROVED, PaymentStatus.DECLINED]
    ).order_by("created_at", "pk")
    summaries = [_refund_summary(request, refund) for refund in refunds]
    if summaries:
        body["refunds"] = summaries
    operations = []
    if approved and payment.kind == SandboxPaymentKind.AUTH and not payment.captured:
        operations.append("capture")
    if payment.refundable_amount > 0:
        operations.append("refund")
    body["supportedOperations"] = operations
    if _reversed(payment):
        result.update(
            status="reversal",
            approvalCode=payment.authcode,
            authorizedAmount=payment.amount_minor,
            responseCode="A",
            responseMessage="Approved",
        )
    body["transactionResult"] = {key: value for key, value in result.items() if value is not None}
    return body


def _reversed(payment: SandboxPayment) -> bool:
    """A pre-authorisation approved, then reversed (voided) over `POST /payments/{id}/reverse`."""
    return (
        payment.kind == SandboxPaymentKind.AUTH
        and payment.status == PaymentStatus.CANCELED
        and payment.canceled_by == CanceledBy.MERCHANT
        and bool(payment.authcode)
        and not payment.captured
    )


def _refund_summary(request, refund: SandboxPayment) -> dict:
    approved = refund.status == PaymentStatus.APPROVED
    return {
        "refundId": refund.transaction_ref,
        "dateTime": _iso(refund.decided_at),
        "currency": refund.currency,
        "amount": -refund.amount_minor,
        "status": "ready" if approved else "declined",
        "responseCode": "A" if approved else "D",
        "responseMessage": "Transaction refunded" if approved else "Declined",
        "link": _link(request, "self", "sandbox:payroc_refund", refund.transaction_ref),
    }


def _refund_object(request, refund: SandboxPayment) -> dict:
    approved = refund.status == PaymentStatus.APPROVED
    order = {
        "orderId": refund.order_ref,
        "dateTime": _iso(refund.decided_at),
        "description": (refund.description or f"Refund for order {refund.order_ref}")[:256],
        "amount": refund.amount_minor,
        "currency": refund.currency,
    }
    body: dict = {"refundId": refund.transaction_ref, "processingTerminalId": _terminal_id(refund)}
    if refund.operator:
        body["operator"] = refund.operator
    body["order"] = order
    body["card"] = _card_object(refund)
    original = refund.original
    if original is not None:
        original_approved = original.status == PaymentStatus.APPROVED
        body["payment"] = {
            "paymentId": original.transaction_ref,
            "dateTime": _iso(original.decided_at),
            "currency": original.currency,
            "amount": original.amount_minor,
            "status": "ready" if original_approved else "declined",
            "responseCode": "A" if original_approved else "D",
            "responseMessage": "Approved" if original_approved else "Declined",
            "link": _link(request, "payment", "sandbox:payroc_payment", original.transaction_ref),
        }
    body["supportedOperations"] = []
    result = {
        "type": "refund",
        "status": "ready" if approved else "declined",
        "authorizedAmount": -refund.amount_minor if approved else 0,
        "currency": refund.currency,
        "responseCode": "A" if approved else "D",
        "responseMessage": "Transaction refunded" if approved else "Declined",
    }
    if approved:
        result["approvalCode"] = refund.authcode
    body["transactionResult"] = result
    return body


def _find_transaction(account, transaction_ref: str, kinds) -> SandboxPayment | None:
    return (
        SandboxPayment.objects.for_account(account)
        .select_related("device__account", "original")
        .filter(
            transaction_ref=transaction_ref,
            kind__in=kinds,
            status__in=[PaymentStatus.APPROVED, PaymentStatus.DECLINED],
        )
        .first()
    )


@public("Payroc emulator wire API; bearer token checked by the view")
@csrf_exempt
@_bearer
def payment(request, account, payment_id):
    if request.method != "GET":
        return _problem(NOT_ALLOWED)
    found = _find_transaction(
        account, payment_id, (SandboxPaymentKind.SALE, SandboxPaymentKind.AUTH)
    )
    if found is None:
        return _problem(NOT_FOUND, resource="payment")
    if faults.device_faults(found.device):
        return _unavailable()
    return _json(_payment_object(request, found))


@public("Payroc emulator wire API; bearer token checked by the view")
@csrf_exempt
@_bearer
def refund(request, account, refund_id):
    if request.method != "GET":
        return _problem(NOT_ALLOWED)
    found = _find_transaction(account, refund_id, (SandboxPaymentKind.REFUND,))
    if found is None:
        return _problem(NOT_FOUND, resource="refund")
    if faults.device_faults(found.device):
        return _unavailable()
    return _json(_refund_object(request, found))


def _follow_up(request, account, payment_id: str, *, validate, operate):
    """A money-moving POST on a payment (refund, capture): key, device faults, validation, idempotency."""
    if request.method != "POST":
        return _problem(NOT_ALLOWED)
    key, error = _idempotency_key(request)
    if error:
        return error
    found = _find_transaction(
        account, payment_id, (SandboxPaymentKind.SALE, SandboxPaymentKind.AUTH)
    )
    if found is None:
        return _problem(NOT_FOUND, resource="payment")
    if faults.device_faults(found.device):
        return _unavailable()
    body, error = _body(request)
    if error:
        return error
    errors = validate(body)
    if errors:
        return _invalid(*errors)
    fingerprint = _fingerprint(request, body)

    def run():
        created = operate(found, body, key, fingerprint)
        found.refresh_from_db()
        return 200, _payment_object(request, found), created

    try:
        status, answer = services.idempotent_call(
            account=account, key=key, fingerprint=fingerprint, operation=run
        )
    except services.IdempotencyKeyInUse:
        return _problem(KEY_IN_USE)
    except services.Refused as refusal:
        parameter = "amount" if refusal.reason in _AMOUNT_REFUSALS else "paymentId"
        return _invalid((parameter, refusal.reason.replace("_", " "), refusal.message))
    return faults.deliver(request, found.device, _json(answer, status))


_AMOUNT_REFUSALS = {
    services.Refused.INVALID_AMOUNT,
    services.Refused.REFUND_EXCEEDS,
    services.Refused.CAPTURE_EXCEEDS,
}


@public("Payroc emulator wire API; bearer token checked by the view")
@csrf_exempt
@_bearer
def payment_refund(request, account, payment_id):
    def validate(body):
        errors = []
        amount = body.get("amount")
        if not _is_int(amount) or amount <= 0:
            errors.append(
                (
                    "amount",
                    "invalid value",
                    f"Expected a positive integer, got '{amount}' for amount",
                )
            )
        _check_string(errors, body, "description", "description", low=1, high=100, required=True)
        _check_string(errors, body, "operator", "operator", low=0, high=50, required=False)
        return errors

    def operate(original, body, key, fingerprint):
        return services.payment_refund(
            payment=original,
            amount_minor=body["amount"],
            description=body["description"],
            operator=body.get("operator") or "",
            idempotency_key=key,
            request_fingerprint=fingerprint,
            request=body,
        )

    return _follow_up(request, account, payment_id, validate=validate, operate=operate)


@public("Payroc emulator wire API; bearer token checked by the view")
@csrf_exempt
@_bearer
def payment_capture(request, account, payment_id):
    def validate(body):
        errors = []
        if "processingTerminalId" in body:
            _check_terminal(errors, body, account, required=False)
        _check_string(errors, body, "operator", "operator", low=0, high=50, required=False)
        amount = body.get("amount")
        if amount is not None and (not _is_int(amount) or amount <= 0):
            errors.append(
                (
                    "amount",
                    "invalid value",
                    f"Expected a positive integer, got '{amount}' for amount",
                )
            )
        return errors

    def operate(original, body, key, fingerprint):
        services.payment_capture(payment=original, amount_minor=body.get("amount"))
        return None

    return _follow_up(request, account, payment_id, validate=validate, operate=operate)


@public("Payroc emulator wire API; bearer token checked by the view")
@csrf_exempt
@_bearer
def payment_reverse(request, account, payment_id):
    """`POST /payments/{paymentId}/reverse`: the whole of an approved pre-authorisation nobody
    captured (the sandbox has no batches, and reverses nothing else: 400 `paymentId`)."""

    def validate(body):
        errors = []
        _check_string(errors, body, "operator", "operator", low=0, high=50, required=False)
        amount = body.get("amount")
        if amount is not None and (not _is_int(amount) or amount <= 0):
            errors.append(
                (
                    "amount",
                    "invalid value",
                    f"Expected a positive integer, got '{amount}' for amount",
                )
            )
        return errors

    def operate(original, body, key, fingerprint):
        amount = body.get("amount")
        if amount is not None and amount != original.amount_minor:
            raise services.Refused(
                services.Refused.INVALID_AMOUNT, "The sandbox reverses the whole amount only"
            )
        if not services.payment_void(payment=original):
            raise services.Refused(
                services.Refused.NOT_CANCELABLE,
                "Only an approved pre-authorisation that was not captured can be reversed",
            )
        return None

    return _follow_up(request, account, payment_id, validate=validate, operate=operate)

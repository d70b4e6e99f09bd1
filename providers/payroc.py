"""Payroc Cloud: payment and refund instructions sent to a device by serial number.

Wire facts, from Payroc's official OpenAPI v1.0.227 (``payroc-openapi.yaml``) and
``payroc.md``:

* Auth: ``POST {identity_url}`` (e.g. ``https://identity.payroc.com/authorize``)
  with header ``x-api-key`` and no body returns ``{access_token, expires_in,
  token_type, scope}``. Every API call sends ``Authorization: Bearer …``. There
  is no refresh token; a new bearer is fetched 2 minutes before expiry (as the
  official SDK does) and once after a 401.
* Every instruction/refund/capture POST carries ``Idempotency-Key`` (UUID4).
  The same key with the same body replays the original answer; with another body
  it is a 409 ``idempotency-key-in-use``.
* Sale/pre-auth: ``POST /devices/{serialNumber}/payment-instructions`` -> 202
  ``{paymentInstructionId, status: "inProgress", link}``; ``autoCapture: false``
  makes it a pre-authorisation, captured by ``POST /payments/{paymentId}/capture``.
  Card-present refund: ``POST /devices/{serialNumber}/refund-instructions`` (the
  order needs a ``description``).
* Status: ``GET /payment-instructions/{id}`` (or ``/refund-instructions/{id}``).
  While ``inProgress`` the gateway holds the call up to a minute for a change.
  ``completed`` carries ``link {rel: payment|refund, href}``; approval or decline
  is only on ``GET /payments/{id}`` / ``GET /refunds/{id}`` in
  ``transactionResult``.
* Abort: ``DELETE /payment-instructions/{id}`` -> 204; 409 ``cannot-be-deleted``
  once the instruction is no longer ``inProgress``.
* Referenced refund: ``POST /payments/{paymentId}/refund`` ``{amount,
  description}`` -> 200 with the payment, whose ``refunds[]`` gains the new
  ``refundSummary``. In an open batch the gateway reverses the payment instead.
* Errors are RFC 7807 ``application/problem+json`` ``{type, title, status,
  detail, errors[]}``; the part of ``type`` after ``#`` names the problem.
* Devices have no online status and no name, and there is no rename API.

Assumptions (not in the OpenAPI file):

* ``GET /devices`` (docs.payroc.com "Search devices" only): ``limit`` <= 100, and
  the ``after`` cursor for the next page is taken from the ``next`` link, as in
  Payroc's other paginated lists; without such a link we continue after the last
  device's ``deviceId``.
* ``default_timeout_s``: Payroc does not document how long a device waits for the
  card; 120 s is our budget before the tracker's grace starts.
* ``find_started_payment`` re-sends the start with the same Idempotency-Key: Payroc
  replays the original answer, or starts the instruction now if the first attempt
  never arrived. It therefore never returns None.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx

from providers.base import (
    AccountField,
    BearerTokenAdapter,
    Capabilities,
    Endpoints,
    Environment,
    PaymentKind,
    PaymentMetadata,
    PaymentResult,
    PaymentState,
    RefundRequest,
    StartRequest,
    TerminalInfo,
    Token,
    last4,
)
from providers.errors import (
    AuthError,
    InvalidRequest,
    NotAbortable,
    NotFound,
    OutcomeUnknown,
    ProviderUnavailable,
    TerminalBusy,
    UnexpectedResponse,
)
from providers.http import json_or_none, raise_for_common_status, transport_errors
from providers.money import read_integer_amount, to_integer_minor_units

# Payroc holds a status call up to a minute while the instruction is inProgress,
# so the read timeout of a waiting call must outlast that hold.
LONG_POLL_TIMEOUT = httpx.Timeout(connect=5.0, read=65.0, write=10.0, pool=5.0)
# A quick look that must not wait for the hold: a read timeout means "still held".
QUICK_LOOK_TIMEOUT = httpx.Timeout(connect=5.0, read=5.0, write=10.0, pool=5.0)

DEVICE_PAGE_SIZE = 100  # the documented maximum of GET /devices
# Free-text limits of the OpenAPI file (maxLength, in characters). A description is a note for
# receipts and reports, so a longer one is cut at the limit rather than failing the payment; the
# orderId (24) is our reference and is refused when longer (StartRequest / RefundRequest check it).
ORDER_DESCRIPTION_MAX = 1024  # paymentInstructionOrder / refundInstructionOrder .description
REFERENCED_REFUND_DESCRIPTION_MAX = 100  # referencedRefund.description (minLength 1)

# Payroc's status words -> our states, in one table. Keys are (field, word):
#   instruction       deviceInstruction.status; None = the linked payment or refund decides
#   responseCode      transactionResult.responseCode / refundSummary.responseCode
#   transactionStatus transactionResult.status / refundSummary.status words that decide on their own
STATUS_WORDS: dict[tuple[str, str], PaymentState | None] = {
    ("instruction", "inProgress"): PaymentState.PENDING,
    ("instruction", "completed"): None,
    ("instruction", "failure"): PaymentState.FAILED,
    ("instruction", "canceled"): PaymentState.CANCELED,
    ("responseCode", "A"): PaymentState.APPROVED,
    (
        "responseCode",
        "P",
    ): PaymentState.APPROVED,  # partial approval: amount_minor is what was authorised
    ("responseCode", "D"): PaymentState.DECLINED,
    ("responseCode", "R"): PaymentState.DECLINED,  # referral: the customer must call the bank
    ("responseCode", "C"): PaymentState.DECLINED,  # issuer says keep the card
    ("responseCode", "E"): PaymentState.UNKNOWN,  # deferred: the processor decides later
    ("transactionStatus", "declined"): PaymentState.DECLINED,
    ("transactionStatus", "reversal"): PaymentState.CANCELED,  # voided in the open batch
}

# kind -> (instruction collection, id field of the instruction)
_INSTRUCTIONS: dict[PaymentKind, tuple[str, str]] = {
    PaymentKind.SALE: ("payment-instructions", "paymentInstructionId"),
    PaymentKind.AUTH: ("payment-instructions", "paymentInstructionId"),
    PaymentKind.REFUND: ("refund-instructions", "refundInstructionId"),
}

# Only these resources may be followed from a `completed` instruction's link.
_LINKED_COLLECTIONS = ("payments/", "refunds/")


class PayrocProvider(BearerTokenAdapter):
    name = "payroc"
    api_name = "Payroc"
    display_name = "Payroc Cloud"
    terminal_ref_label = "Serial number"
    secret_fields = (AccountField("api_key", "API key"),)
    setting_fields = (AccountField("processing_terminal_id", "Processing terminal ID"),)
    environments = {
        Environment.LIVE: Endpoints(
            "https://api.payroc.com/v1", "https://identity.payroc.com/authorize"
        ),
        Environment.PROVIDER_TEST: Endpoints(
            "https://api.uat.payroc.com/v1", "https://identity.uat.payroc.com/authorize"
        ),
    }
    sandbox_endpoints = Endpoints("/sandbox/payroc/v1", "/sandbox/payroc/identity/authorize")
    capabilities = Capabilities(
        can_rename=False,
        can_abort=True,
        needs_capture=True,
        partial_capture=True,
        has_webhooks=False,  # event subscriptions cover boarding only, not payments
        refund_mode="both",
        reports_online=False,
        has_idempotency_key=True,
        status_channel="long_poll",
        poll_interval_s=1.0,  # pause between long polls that came back unchanged
        default_timeout_s=120,
        # paymentInstructionRequest has no customFields (only the payment made of it has them).
        metadata_field="folded into order.description (no metadata field)",
        requests_per_minute=None,
    )

    # -- credentials -------------------------------------------------------

    def obtain_token(self) -> Token:
        identity_url = self.account.identity_url
        if not identity_url:
            raise AuthError("The Payroc account has no identity service URL configured.")
        api_key = self.account.secret("api_key")
        with transport_errors("POST identity authorize", moves_money=False):
            response = self.client.post(identity_url, headers={"x-api-key": api_key})
        if response.status_code in (401, 403):
            raise AuthError(
                "Payroc's identity service refused the API key.", http_status=response.status_code
            )
        self._raise_for_response(response, moves_money=False)
        body = self._json_object(response)
        access_token = body.get("access_token")
        expires_in = body.get("expires_in")
        if not isinstance(access_token, str) or not access_token or not isinstance(expires_in, int):
            raise UnexpectedResponse("Payroc's identity service sent no usable bearer token.")
        return self._keep_token(access_token, expires_in)

    # -- terminals ---------------------------------------------------------

    def list_terminals(self) -> list[TerminalInfo]:
        terminals: list[TerminalInfo] = []
        params: dict[str, Any] = {"limit": DEVICE_PAGE_SIZE}
        used_cursors: set[str] = set()
        while True:
            page = self._json_object(self._send("GET", "devices", params=params))
            devices = page.get("data") or []
            terminals.extend(_terminal_info(device) for device in devices)
            if not page.get("hasMore") or not devices:
                return terminals
            cursor = _next_page_cursor(page)
            if cursor is None or cursor in used_cursors:
                raise UnexpectedResponse("Payroc said more devices exist but gave no next page.")
            used_cursors.add(cursor)
            params = {"limit": DEVICE_PAGE_SIZE, "after": cursor}

    def get_terminal(self, ref: str) -> TerminalInfo:
        page = self._json_object(self._send("GET", "devices", params={"serialNumber": ref}))
        for device in page.get("data") or []:
            if device.get("serialNumber") == ref:
                return _terminal_info(device)
        raise NotFound(f"Payroc knows no device with serial number {ref}.")

    # -- payments ----------------------------------------------------------

    def start_payment(self, req: StartRequest) -> PaymentResult:
        collection, _ = _INSTRUCTIONS[req.kind]
        response = self._send(
            "POST",
            f"devices/{quote(req.terminal_ref, safe='')}/{collection}",
            json=self._instruction_body(req),
            idempotency_key=req.idempotency_key,
            moves_money=True,
        )
        result = self._instruction_result(self._json_object(response), kind=req.kind)
        if result.amount_minor is None:
            result = replace(result, amount_minor=req.amount_minor, currency=req.currency)
        return result

    def find_started_payment(self, req: StartRequest) -> PaymentResult | None:
        """Re-send the start with the same Idempotency-Key; Payroc replays its first answer.

        If the first attempt never reached Payroc, this starts the instruction now,
        exactly once; either way the caller gets the one instruction for this key.
        """
        return self._start_again(req)

    def get_payment(
        self, provider_ref: str, *, kind: PaymentKind, wait: bool = False
    ) -> PaymentResult:
        collection, _ = _INSTRUCTIONS[PaymentKind(kind)]
        try:
            response = self._send(
                "GET",
                f"{collection}/{quote(provider_ref, safe='')}",
                timeout=LONG_POLL_TIMEOUT if wait else QUICK_LOOK_TIMEOUT,
            )
        except ProviderUnavailable as exc:
            # Payroc only holds the call while the instruction is inProgress.
            if not wait and isinstance(exc.__cause__, httpx.ReadTimeout):
                return PaymentResult(
                    provider_ref=provider_ref,
                    state=PaymentState.PENDING,
                    raw_status="inProgress",
                    message="Payroc is holding the status call: the payment is still in progress.",
                )
            raise
        return self._instruction_result(self._json_object(response), kind=PaymentKind(kind))

    def abort_payment(self, provider_ref: str, *, kind: PaymentKind) -> None:
        """Delete the instruction while it is in progress; for a pre-authorisation that already
        completed and was not captured, reverse (void) its payment instead."""
        collection, _ = _INSTRUCTIONS[PaymentKind(kind)]
        try:
            # A lost answer to the abort is OutcomeUnknown: it may have stopped the payment.
            self._send("DELETE", f"{collection}/{quote(provider_ref, safe='')}", moves_money=True)
            return
        except NotAbortable as exc:
            if PaymentKind(kind) != PaymentKind.AUTH:
                raise
            refused = exc
        result = self.get_payment(provider_ref, kind=PaymentKind.AUTH)
        if result.state != PaymentState.AUTHORIZED or not result.transaction_ref:
            raise refused
        # `POST /payments/{paymentId}/reverse` without an amount reverses all of it. A new key:
        # a second reversal of a reversed payment is refused, it never moves money.
        self._send(
            "POST",
            f"payments/{quote(result.transaction_ref, safe='')}/reverse",
            json={},
            idempotency_key=str(uuid.uuid4()),
            moves_money=True,
        )

    def capture(
        self,
        transaction_ref: str,
        *,
        idempotency_key: str,
        amount_minor: int | None = None,
        currency: str | None = None,
    ) -> PaymentResult:
        body: dict[str, Any] = {}
        terminal_id = self.account.settings.get("processing_terminal_id")
        if terminal_id:
            body["processingTerminalId"] = terminal_id
        if amount_minor is not None:
            if currency is None:
                raise InvalidRequest("A partial capture needs the currency.")
            body["amount"] = to_integer_minor_units(amount_minor, currency)
        response = self._send(
            "POST",
            f"payments/{quote(transaction_ref, safe='')}/capture",
            json=body,
            idempotency_key=idempotency_key,
            moves_money=True,
        )
        payment = self._json_object(response)
        return _transaction_result(
            provider_ref=transaction_ref,
            transaction=payment,
            kind=PaymentKind.SALE,
            instruction_status="captured",
            raw={"payment": payment},
        )

    def refund(self, req: RefundRequest) -> PaymentResult:
        description = req.description.strip() or f"Refund for order {req.reference}"
        body = {
            "amount": to_integer_minor_units(req.amount_minor, req.currency),
            "description": description[:REFERENCED_REFUND_DESCRIPTION_MAX],
        }
        response = self._send(
            "POST",
            f"payments/{quote(req.original_transaction_ref, safe='')}/refund",
            json=body,
            idempotency_key=req.idempotency_key,
            moves_money=True,
        )
        return _referenced_refund_result(self._json_object(response), req)

    # -- wire --------------------------------------------------------------

    def _instruction_body(self, req: StartRequest) -> dict[str, Any]:
        terminal_id = self.account.settings.get("processing_terminal_id")
        if not terminal_id:
            raise InvalidRequest("The Payroc account has no processing terminal ID configured.")
        order: dict[str, Any] = {
            "orderId": req.reference,
            "amount": to_integer_minor_units(req.amount_minor, req.currency),
            "currency": req.currency,
        }
        card_read_on_device = {"entryMethod": "deviceRead"}
        if req.kind is PaymentKind.REFUND:
            description = _with_metadata(
                req.description or f"Refund for order {req.reference}", req.metadata
            )
            order["description"] = description[:ORDER_DESCRIPTION_MAX]
            return {
                "processingTerminalId": terminal_id,
                "order": order,
                "customizationOptions": card_read_on_device,
            }
        if description := _with_metadata(req.description, req.metadata):
            order["description"] = description[:ORDER_DESCRIPTION_MAX]
        return {
            "processingTerminalId": terminal_id,
            "order": order,
            "customizationOptions": card_read_on_device,
            "autoCapture": req.kind is PaymentKind.SALE,  # false = pre-authorisation
        }

    def _instruction_result(
        self, instruction: dict[str, Any], *, kind: PaymentKind
    ) -> PaymentResult:
        _, id_field = _INSTRUCTIONS[kind]
        provider_ref = instruction.get(id_field)
        status = instruction.get("status")
        if not isinstance(provider_ref, str) or not isinstance(status, str):
            raise UnexpectedResponse(f"Payroc sent an instruction without {id_field} or status.")
        state = STATUS_WORDS.get(("instruction", status), PaymentState.UNKNOWN)
        if state is None:
            return self._completed_result(provider_ref, instruction, kind=kind)
        return PaymentResult(
            provider_ref=provider_ref,
            state=state,
            raw_status=status,
            message=self._scrub(instruction.get("errorMessage") or ""),
            raw={"instruction": instruction},
        )

    def _completed_result(
        self, provider_ref: str, instruction: dict[str, Any], *, kind: PaymentKind
    ) -> PaymentResult:
        link = instruction.get("link") or {}
        if link.get("rel") not in ("payment", "refund") or not link.get("href"):
            raise UnexpectedResponse("Payroc completed the instruction but sent no payment link.")
        transaction = self._json_object(self._send("GET", _linked_resource_path(link["href"])))
        return _transaction_result(
            provider_ref=provider_ref,
            transaction=transaction,
            kind=kind,
            instruction_status="completed",
            raw={"instruction": instruction, link["rel"]: transaction},
        )

    def _send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        moves_money: bool = False,
        timeout: httpx.Timeout | None = None,
    ) -> httpx.Response:
        """One API call with the bearer token (a new one and one retry after a 401)."""
        headers: dict[str, str] = {}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        options: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        return self._request_with_token(
            method,
            path,
            headers=headers,
            moves_money=moves_money,
            json=json,
            params=params,
            **options,
        )

    def _raise_for_response(self, response: httpx.Response, *, moves_money: bool) -> None:
        """Payroc's RFC 7807 problem answers -> the error taxonomy."""
        if response.is_success:
            return
        status = response.status_code
        problem = _problem(response)
        problem_type = str(problem.get("type") or "").rpartition("#")[2] or None
        detail = self._scrub(_problem_text(problem) or response.reason_phrase or f"HTTP {status}")
        codes = {"provider_code": problem_type, "http_status": status}
        if status == 401:
            raise AuthError(f"Payroc did not accept our credentials: {detail}", **codes)
        if status == 403:
            raise AuthError(f"Payroc does not allow this account to do that: {detail}", **codes)
        if status == 404:
            raise NotFound(f"Payroc could not find it: {detail}", **codes)
        if status == 409:
            if problem_type == "cannot-be-deleted" or response.request.method == "DELETE":
                raise NotAbortable(
                    f"The payment can no longer be aborted; it has already finished ({detail}).",
                    **codes,
                )
            if problem_type == "resource-already-exists" and response.request.method == "POST":
                # Another instruction is in progress on the device: one payment at a time.
                raise TerminalBusy(
                    "The terminal is busy with another payment. Wait until it finishes and try again.",
                    **codes,
                )
            raise InvalidRequest(f"Payroc refused a conflicting request: {detail}", **codes)
        raise_for_common_status(
            response, self.api_name, detail, moves_money=moves_money, provider_code=problem_type
        )


# -- answers -> results ------------------------------------------------------


def _transaction_result(
    *,
    provider_ref: str,
    transaction: dict[str, Any],
    kind: PaymentKind,
    instruction_status: str,
    raw: dict[str, Any],
) -> PaymentResult:
    """A payment or refund object (GET /payments/{id}, /refunds/{id}) -> PaymentResult."""
    outcome = transaction.get("transactionResult") or {}
    response_code = outcome.get("responseCode")
    transaction_status = outcome.get("status")
    state = _processor_state(transaction_status, response_code)
    # An approved pre-authorisation (or a sale left pending because the terminal
    # cannot pre-authorise) still needs its capture.
    if (
        state is PaymentState.APPROVED
        and kind is PaymentKind.AUTH
        and outcome.get("type") != "preAuthorizationCompletion"
    ):
        state = PaymentState.AUTHORIZED
    order = transaction.get("order") or {}
    currency = outcome.get("currency") or order.get("currency")
    amount = outcome.get("authorizedAmount", order.get("amount"))
    card = transaction.get("card") or {}
    return PaymentResult(
        provider_ref=provider_ref,
        state=state,
        raw_status=f"{instruction_status}/{transaction_status}/{response_code}",
        transaction_ref=transaction.get("paymentId") or transaction.get("refundId"),
        amount_minor=read_integer_amount(amount, currency),
        currency=currency,
        card_brand=card.get("type"),
        card_last4=last4(card.get("cardNumber")),
        auth_code=outcome.get("approvalCode"),
        message=outcome.get("responseMessage") or "",
        raw=raw,
    )


def _referenced_refund_result(payment: dict[str, Any], req: RefundRequest) -> PaymentResult:
    """The payment returned by POST /payments/{id}/refund -> the refund's result.

    The new refund is the latest refundSummary for the refunded amount (Payroc
    lists refund amounts negative). Without one, an answer whose transaction was
    reversed means Payroc voided the payment in its open batch instead.
    """
    summaries = [
        summary
        for summary in payment.get("refunds") or []
        if read_integer_amount(summary.get("amount"), summary.get("currency")) == req.amount_minor
    ]
    raw = {"payment": payment}
    if summaries:
        summary = summaries[-1]
        return PaymentResult(
            provider_ref=summary.get("refundId") or req.original_transaction_ref,
            state=_processor_state(summary.get("status"), summary.get("responseCode")),
            raw_status=f"refund/{summary.get('status')}/{summary.get('responseCode')}",
            transaction_ref=summary.get("refundId"),
            amount_minor=req.amount_minor,
            currency=summary.get("currency") or req.currency,
            message=summary.get("responseMessage") or "",
            raw=raw,
        )
    outcome = payment.get("transactionResult") or {}
    if outcome.get("status") == "reversal":
        approved = outcome.get("responseCode") in ("A", "P")
        return PaymentResult(
            provider_ref=payment.get("paymentId") or req.original_transaction_ref,
            state=PaymentState.APPROVED if approved else PaymentState.DECLINED,
            raw_status=f"reversal/{outcome.get('responseCode')}",
            transaction_ref=payment.get("paymentId"),
            amount_minor=req.amount_minor,
            currency=req.currency,
            message="Payroc reversed the payment because its batch was still open.",
            raw=raw,
        )
    raise OutcomeUnknown(
        "Payroc accepted the refund but its answer lists no matching refund; "
        "checking before any retry."
    )


def _processor_state(status: Any, response_code: Any) -> PaymentState:
    """The processor's verdict: a deciding status word, else the response code."""
    return (
        STATUS_WORDS.get(("transactionStatus", status))
        or STATUS_WORDS.get(("responseCode", response_code))
        or PaymentState.UNKNOWN
    )


def _terminal_info(device: dict[str, Any]) -> TerminalInfo:
    device_type = device.get("deviceType") or {}
    model = " ".join(
        part for part in (device_type.get("manufacturer"), device_type.get("model")) if part
    )
    serial = device.get("serialNumber") or ""
    return TerminalInfo(
        ref=serial,
        name=model or serial,  # Payroc devices have no name
        model=model,
        serial=serial,
        online=None,  # Payroc reports no online status
        status_text="deactivated" if device.get("deactivatedDate") else "active",
        raw=device,
    )


def _linked_resource_path(href: str) -> str:
    """The part of a HATEOAS link after ``/v1/``, to be requested relative to our base URL.

    Real links are absolute ``https://api.payroc.com/v1/...`` URLs, the sandbox's
    point at the sandbox; we trust only the path, never the link's host.
    """
    path = urlsplit(href).path
    marker = path.rfind("/v1/")
    relative = path[marker + len("/v1/") :] if marker >= 0 else ""
    if not relative.startswith(_LINKED_COLLECTIONS) or ".." in relative or relative.count("/") != 1:
        raise UnexpectedResponse("Payroc sent a payment link we do not follow.")
    return relative


def _next_page_cursor(page: dict[str, Any]) -> str | None:
    for link in page.get("links") or []:
        if link.get("rel") == "next" and link.get("href"):
            after = parse_qs(urlsplit(link["href"]).query).get("after")
            if after:
                return after[0]
    devices = page.get("data") or []
    return devices[-1].get("deviceId") if devices else None


def _problem(response: httpx.Response) -> dict[str, Any]:
    body = json_or_none(response)
    return body if isinstance(body, dict) else {}


def _problem_text(problem: dict[str, Any]) -> str:
    parts = [str(problem[key]) for key in ("title", "detail") if problem.get(key)]
    text = ": ".join(parts)
    messages = [
        str(error.get("message") or error.get("detail"))
        for error in problem.get("errors") or []
        if isinstance(error, dict) and (error.get("message") or error.get("detail"))
    ]
    if messages:
        text = f"{text} ({'; '.join(messages)})" if text else "; ".join(messages)
    return text


def _with_metadata(description: str, metadata: PaymentMetadata) -> str:
    """A payment instruction has no metadata field (its ``customFields`` exist only on the payment
    Payroc makes of it): our ids go after the description, "table 4 · store:3 payment:… merchant:7".
    The metadata comes first in the cut to ``ORDER_DESCRIPTION_MAX``: a note never pushes it out."""
    text = metadata.as_text()
    if not text:
        return description
    room = ORDER_DESCRIPTION_MAX - len(text) - 3
    note = description[: max(room, 0)]
    return f"{note} · {text}" if note else text

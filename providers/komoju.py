"""KOMOJU Cloud Terminal: a payment session created by the Sessions API, then pushed to a terminal.

Wire facts, from KOMOJU's Cloud Terminal API page (seed ``003``), its REST docs and
Degica's own terminal tester (``komoju.md``):

* Base URL ``https://komoju.com/api/v1``; every path below is relative to it.
* Auth on every request: HTTP Basic with the secret key as user name and an empty
  password (``Authorization: Basic base64("sk_…:")``). No tokens.
* Sale / auth-only: ``POST /sessions`` ``{mode: "payment", amount, currency,
  default_locale, payment_types: ["credit_card_terminal"], payment_data: {capture:
  "auto" | "manual", external_order_num}, metadata}`` -> Session ``{id, status:
  "pending", payment: null, …}``; then ``POST /terminals/{tid}/sessions/{sid}/push``
  (no body) -> ``{"status": "success"}``. Amounts are integers in the currency's
  unit (whole yen: JPY has no minor unit).
* Status: poll ``GET /sessions/{id}`` until ``completed`` or ``cancelled``; a
  completed session carries its ``payment`` (``captured`` for a sale,
  ``authorized`` for auth-only) with ``payment_details`` (brand, last four digits)
  and EMV ``metadata`` (AID, application label, counters) for receipts.
* Abort: ``POST /terminals/{tid}/sessions/{sid}/cancel`` -> ``{"status": "success"}``;
  "Once a session is cancelled it cannot be paid." Generic cancels: ``POST
  /sessions/{id}/cancel`` -> Session; ``POST /payments/{id}/cancel`` (only a pending
  or authorized payment) -> Payment, which voids an uncaptured authorisation.
* Print the receipt of a completed session on the terminal:
  ``POST /terminals/{tid}/sessions/{sid}/print`` -> ``{"status": "success"}``.
* Capture (auth-only): ``POST /payments/{id}/capture`` ``{amount?}`` -> Payment.
  Refund (server-side, no terminal): ``POST /payments/{id}/refund`` ``{amount?,
  description?}`` -> Payment whose ``refunds[]`` gains the refund.
* Idempotency: ``X-KOMOJU-IDEMPOTENCY`` on POSTs; the same key with the same body
  replays the first answer for 24 h; a retry while the first is in flight is a 409.
* Terminal: ``GET /pos_terminals/{id}`` -> ``{…, enabled: bool}``. There is no list
  endpoint and no rename.
* Errors: ``{"error": {"code", "message", "param"?}}`` with 400/401/403/404/409/422/5xx;
  the terminal endpoints answer ``code: "error"`` with free text.
* Webhooks: ``X-Komoju-Signature`` = lowercase hex HMAC-SHA256(webhook secret, raw
  body); ``X-Komoju-ID`` names the event, ``X-Komoju-Event`` its type. Payload
  ``{id, type, resource: "event", data: <Payment>, created_at}``.

Assumptions (OUR ASSUMPTION where KOMOJU documents nothing; the sandbox follows them):

* Terminals: ``list_terminals`` reads each id in ``account.settings["terminal_ids"]``
  (a list, or a comma-separated string) via ``GET /pos_terminals/{id}``; an id KOMOJU
  does not know (404) is left out with a warning. ``enabled`` is reported as
  ``TerminalInfo.online`` (KOMOJU's own tester labels it "Connected"); ``name``,
  ``model`` and ``serial_number`` are read if present, else the id stands in.
* We put ``metadata: {"terminal_id", "order_reference"}`` on every session, so
  ``abort_payment`` (which only gets the session id) finds the terminal to cancel on, and
  beside them our ``store_id``, ``payment_id`` and ``merchant_id`` (``PaymentMetadata``).
  KOMOJU documents no limit on the metadata object.
* The terminal endpoints (push, cancel, print) are sent without an idempotency key;
  pushing a session again to the terminal that already shows it answers success, so
  a retried start (same idempotency key -> same session) re-pushes harmlessly.
* A refused push answers ``{"error": {"code": "error", "message": …}}``: a message
  containing one of ``BUSY_PHRASES`` means the terminal is busy with another session,
  and a terminal whose ``enabled`` is false is offline. Any other refusal is an
  InvalidRequest. After a refusal the pending session is cancelled
  (``POST /sessions/{id}/cancel``) so it can never be paid.
* A card declined on the terminal completes the session with ``payment.status``
  ``failed``; while the session is ``pending`` the customer may still pay, so a
  pending session is pending whatever its payment says. A ``pending`` session
  with ``expired: true`` timed out.
* The terminal endpoints may answer an error body with HTTP 200; it is an error.
* ``default_timeout_s``: KOMOJU documents no terminal timeout; 120 s is our budget.
* ``X-Komoju-ID`` is the same on every delivery of one event (it is the event's id),
  so it is the deduplication key; without the header the payload's ``id`` is used.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import httpx

from providers.base import (
    AccountField,
    Capabilities,
    Endpoints,
    Environment,
    PaymentKind,
    PaymentResult,
    PaymentState,
    ProviderAdapter,
    ProviderWebhook,
    RefundRequest,
    StartRequest,
    TerminalInfo,
    header_value,
)
from providers.errors import (
    AuthError,
    InvalidRequest,
    NotAbortable,
    NotFound,
    OutcomeUnknown,
    ProviderError,
    ProviderUnavailable,
    TerminalBusy,
    TerminalOffline,
    UnexpectedResponse,
    UnsupportedOperation,
)
from providers.http import json_or_none, raise_for_common_status, transport_errors
from providers.money import read_integer_amount, to_integer_minor_units
from providers.webhooks import signed_json_body

logger = logging.getLogger(__name__)

IDEMPOTENCY_HEADER = "X-KOMOJU-IDEMPOTENCY"
SIGNATURE_HEADER = "X-Komoju-Signature"
EVENT_ID_HEADER = "X-Komoju-ID"
EVENT_TYPE_HEADER = "X-Komoju-Event"

PAYMENT_TYPE = "credit_card_terminal"
DEFAULT_LOCALE = "ja"

CAPTURE_MODES: dict[PaymentKind, str] = {
    PaymentKind.SALE: "auto",
    PaymentKind.AUTH: "manual",  # auth-only: captured later with POST /payments/{id}/capture
}

# Words in a refused push's message that mean another session holds the terminal (assumed).
BUSY_PHRASES = ("busy", "another session", "in progress")

# KOMOJU's status words -> our states, in one table. Keys are (field, word):
#   session  Session.status; None = the session's payment decides
#   payment  Payment.status
STATUS_WORDS: dict[tuple[str, str], PaymentState | None] = {
    ("session", "pending"): PaymentState.PENDING,
    ("session", "completed"): None,
    ("session", "cancelled"): PaymentState.CANCELED,
    ("payment", "pending"): PaymentState.PENDING,
    # Final for auth-only; a sale (capture "auto") is still to be captured.
    ("payment", "authorized"): PaymentState.AUTHORIZED,
    ("payment", "captured"): PaymentState.APPROVED,
    # It was approved; a refund is its own payment on our side.
    ("payment", "refunded"): PaymentState.APPROVED,
    ("payment", "cancelled"): PaymentState.CANCELED,
    ("payment", "expired"): PaymentState.TIMED_OUT,
    ("payment", "failed"): PaymentState.DECLINED,
}


class KomojuProvider(ProviderAdapter):
    """KOMOJU adapter. Beyond the contract it prints receipts: ``print_receipt()``.

    Account secrets: ``secret_key`` (``sk_…``), ``webhook_secret``. Settings:
    ``terminal_ids`` (the terminals to list), optional ``default_locale`` ("ja").
    """

    name = "komoju"
    api_name = "KOMOJU"
    display_name = "KOMOJU"
    terminal_ref_label = "Terminal ID"
    secret_fields = (
        AccountField("secret_key", "Secret key"),
        AccountField("webhook_secret", "Webhook secret"),
    )
    setting_fields = (AccountField("terminal_ids", "Terminal IDs"),)
    environments = {
        # KOMOJU selects test or live by the key pair, on one host.
        Environment.LIVE: Endpoints("https://komoju.com/api/v1"),
        Environment.PROVIDER_TEST: Endpoints("https://komoju.com/api/v1"),
    }
    sandbox_endpoints = Endpoints("/sandbox/komoju/api/v1")
    webhook_secret_field = "webhook_secret"
    capabilities = Capabilities(
        can_rename=False,
        can_abort=True,
        needs_capture=True,  # payment_data.capture "manual", then POST /payments/{id}/capture
        partial_capture=True,
        has_webhooks=True,
        refund_mode="referenced",  # refunds are server-side; no card-present refund
        reports_online=True,  # the terminal's `enabled` flag
        has_idempotency_key=True,
        status_channel="poll",
        poll_interval_s=2.0,  # KOMOJU documents no rate budget; its tester polls every second
        default_timeout_s=120,
        requests_per_minute=None,
        can_print_receipt=True,  # POST /terminals/{tid}/sessions/{sid}/print
        metadata_field="session metadata {store_id, payment_id, merchant_id}",
        webhooks_tell_every_outcome=True,
    )
    # Kept for callers that read it from the class: the capability above says the same.
    can_print_receipt = True

    # -- terminals ---------------------------------------------------------

    def list_terminals(self) -> list[TerminalInfo]:
        """The terminals named in ``settings["terminal_ids"]``: KOMOJU has no list endpoint."""
        return self._configured_terminals()

    def get_terminal(self, ref: str) -> TerminalInfo:
        response = self._send("GET", f"pos_terminals/{quote(ref, safe='')}")
        return _terminal_info(self._json_object(response), ref)

    # -- payments ----------------------------------------------------------

    def start_payment(self, req: StartRequest) -> PaymentResult:
        """Create the session (idempotent by ``req.idempotency_key``), then push it.

        Sent again with the same key, KOMOJU replays the same session, so a retry
        pushes the one session again instead of creating a second one.
        """
        if req.kind not in CAPTURE_MODES:
            raise UnsupportedOperation(
                "KOMOJU refunds are made from the original payment, not on the terminal."
            )
        session = self._create_session(req)
        session_id = _session_id(session)
        path = _terminal_session_path(req.terminal_ref, session_id, "push")
        try:
            response = self._send("POST", path, moves_money=True)
            _expect_success(response, "push")
        except InvalidRequest as refusal:
            return self._after_refused_push(req, session_id, refusal)
        result = self._session_result(session, kind=req.kind)
        return replace(
            result,
            amount_minor=result.amount_minor or req.amount_minor,
            currency=result.currency or req.currency,
        )

    def find_started_payment(self, req: StartRequest) -> PaymentResult | None:
        """Re-send the start with the same idempotency key: KOMOJU replays the session.

        If the session was never created, this creates and pushes it now, exactly
        once; otherwise the one session is re-read and re-pushed if still pending.
        Never returns None.
        """
        return self._start_again(req)

    def get_payment(
        self, provider_ref: str, *, kind: PaymentKind, wait: bool = False
    ) -> PaymentResult:
        # KOMOJU has no long poll: `wait` changes nothing.
        session = self._get_session(provider_ref)
        return self._session_result(session, kind=PaymentKind(kind))

    def abort_payment(self, provider_ref: str, *, kind: PaymentKind) -> str | None:
        """Cancel a pushed session on its terminal, or void an authorised, uncaptured payment.

        A pending session that is not on the terminal (it was never pushed: its push was
        refused, or lost before it reached KOMOJU) is cancelled at KOMOJU instead, so it can
        never be paid; nothing ran on the terminal, and the abort has done its job. A lost
        answer to any cancel is OutcomeUnknown.
        """
        session = self._get_session(provider_ref)
        status = session.get("status")
        if status == "cancelled":
            return  # already what the caller wants
        payment = self._expanded_payment(session)
        if status == "completed" and payment and payment.get("status") == "authorized":
            # Auth-only, not captured: KOMOJU cancels pending or authorized payments.
            try:
                self._send(
                    "POST",
                    f"payments/{quote(str(payment.get('id')), safe='')}/cancel",
                    moves_money=True,
                )
            except InvalidRequest as exc:
                raise NotAbortable.replacing(
                    exc, f"KOMOJU would not cancel the authorisation ({exc.message})."
                ) from exc
            return
        if status != "pending":
            raise _already_completed()
        terminal_id = _metadata(session).get("terminal_id")
        if not terminal_id:  # a session we did not start: the generic session cancel stops it
            self._cancel_unpushed(provider_ref)
            return
        path = _terminal_session_path(str(terminal_id), provider_ref, "cancel")
        try:
            _expect_success(self._send("POST", path, moves_money=True), "cancel")
            return
        except InvalidRequest as exc:
            refusal = exc
        # The terminal would not cancel it: the session itself says why.
        session = self._get_session(provider_ref)
        status = session.get("status")
        if status == "cancelled":
            return
        if status != "pending" or session.get("expired") is True:
            raise _already_completed() from refusal
        # Still pending and payable, yet not on the terminal: it was never pushed there.
        logger.info(
            "KOMOJU session %s was never pushed to terminal %s; cancelling it at KOMOJU",
            provider_ref,
            terminal_id,
        )
        self._cancel_unpushed(provider_ref)
        return NEVER_PUSHED

    def _cancel_unpushed(self, session_id: str) -> None:
        """Cancel a session that is not on any terminal, so that it can never be paid."""
        try:
            self._send("POST", f"sessions/{quote(session_id, safe='')}/cancel", moves_money=True)
        except InvalidRequest as exc:
            raise NotAbortable.replacing(
                exc,
                "The payment was never pushed to the terminal, and KOMOJU would not cancel it "
                f"({exc.message}). Check its result at KOMOJU before charging again.",
            ) from exc

    def print_receipt(self, provider_ref: str, terminal_ref: str) -> None:
        """Print the receipt of the completed session ``provider_ref`` on ``terminal_ref``.

        KOMOJU-only (``can_print_receipt``). Raises InvalidRequest when KOMOJU cannot
        print it (session not completed, terminal unavailable).
        """
        path = _terminal_session_path(terminal_ref, provider_ref, "print")
        try:
            _expect_success(self._send("POST", path), "print")
        except InvalidRequest as exc:
            raise InvalidRequest.replacing(
                exc,
                f"KOMOJU could not print the receipt on the terminal: {exc.message}",
            ) from exc

    def capture(
        self,
        transaction_ref: str,
        *,
        idempotency_key: str,
        amount_minor: int | None = None,
        currency: str | None = None,
    ) -> PaymentResult:
        body: dict[str, Any] = {}
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
        return self._payment_result(
            payment, provider_ref=transaction_ref, kind=PaymentKind.AUTH, raw={"payment": payment}
        )

    def refund(self, req: RefundRequest) -> PaymentResult:
        body: dict[str, Any] = {"amount": to_integer_minor_units(req.amount_minor, req.currency)}
        if req.description:
            body["description"] = req.description
        response = self._send(
            "POST",
            f"payments/{quote(req.original_transaction_ref, safe='')}/refund",
            json=body,
            idempotency_key=req.idempotency_key,
            moves_money=True,
        )
        return _refund_result(self._json_object(response), req)

    # -- webhooks ----------------------------------------------------------

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> ProviderWebhook:
        payload = signed_json_body(
            headers,
            body,
            signature_header=SIGNATURE_HEADER,
            secret=self.account.secret("webhook_secret"),
            api_name=self.api_name,
        )
        if not isinstance(payload, dict):
            raise InvalidRequest("The KOMOJU webhook body is not an event.")
        event_id = header_value(headers, EVENT_ID_HEADER) or payload.get("id")
        if not isinstance(event_id, str) or not event_id:
            raise InvalidRequest("The KOMOJU webhook has no event id.")
        data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
        return ProviderWebhook(
            event_id=event_id,
            event_type=header_value(headers, EVENT_TYPE_HEADER) or str(payload.get("type") or ""),
            # The session id, which is our provider_ref; the payment id is in raw.
            payment_ref=data.get("session") or data.get("id"),
            raw=payload,
            order_reference=data.get("external_order_num"),
        )

    # -- wire --------------------------------------------------------------

    def _create_session(self, req: StartRequest) -> dict[str, Any]:
        # The body must be the same on every retry: KOMOJU replays an answer only
        # for the same key *and* the same body.
        metadata = {
            "terminal_id": req.terminal_ref,
            "order_reference": req.reference,
            **req.metadata.as_dict(),  # our store_id, payment_id and merchant_id
        }
        if req.description:
            metadata["description"] = req.description
        body = {
            "mode": "payment",
            "amount": to_integer_minor_units(req.amount_minor, req.currency),
            "currency": req.currency,
            "default_locale": str(self.account.settings.get("default_locale") or DEFAULT_LOCALE),
            "payment_types": [PAYMENT_TYPE],
            "payment_data": {
                "capture": CAPTURE_MODES[req.kind],
                "external_order_num": req.reference,
            },
            "metadata": metadata,
        }
        response = self._send(
            "POST", "sessions", json=body, idempotency_key=req.idempotency_key, moves_money=True
        )
        return self._json_object(response)

    def _get_session(self, session_id: str) -> dict[str, Any]:
        return self._json_object(self._send("GET", f"sessions/{quote(session_id, safe='')}"))

    def _expanded_payment(self, session: dict[str, Any]) -> dict[str, Any] | None:
        """The session's payment object, fetched when the session names it by id only."""
        payment = session.get("payment")
        if isinstance(payment, str) and payment:
            payment = self._json_object(self._send("GET", f"payments/{quote(payment, safe='')}"))
        return payment if isinstance(payment, dict) else None

    def _after_refused_push(
        self, req: StartRequest, session_id: str, refusal: InvalidRequest
    ) -> PaymentResult:
        """KOMOJU refused to push: the session's own state decides what happened.

        A retry may find the session already completed (the first push went through
        and its answer was lost): that is the result, never an error. A session
        still pending is cancelled so it can never be paid, then the refusal is
        reported as busy, offline or invalid.
        """
        try:
            session = self._get_session(session_id)
        except ProviderError as exc:
            raise OutcomeUnknown(
                "KOMOJU refused to push the payment to the terminal and we could not read "
                "the session back; checking before any retry."
            ) from exc
        if session.get("status") != "pending":
            return self._session_result(session, kind=req.kind)
        try:
            self._send("POST", f"sessions/{quote(session_id, safe='')}/cancel")
        except ProviderError:
            logger.warning("Could not cancel the unpushed KOMOJU session %s", session_id)
        codes = {"provider_code": refusal.provider_code, "http_status": refusal.http_status}
        text = refusal.message
        if any(phrase in text.lower() for phrase in BUSY_PHRASES):
            raise TerminalBusy(
                "The terminal is busy with another payment. Wait until it finishes, then try "
                "again.",
                **codes,
            )
        try:
            terminal = self.get_terminal(req.terminal_ref)
        except ProviderError:
            terminal = None
        if terminal is not None and terminal.online is False:
            raise TerminalOffline(
                "The terminal is offline (disabled at KOMOJU). Check that it is switched on "
                "and enabled, then try again.",
                **codes,
            )
        raise InvalidRequest(f"KOMOJU could not push the payment to the terminal: {text}", **codes)

    def _session_result(self, session: dict[str, Any], *, kind: PaymentKind) -> PaymentResult:
        session_id = _session_id(session)
        status = session.get("status")
        if not isinstance(status, str):
            raise UnexpectedResponse("KOMOJU sent a session without a status.")
        if ("session", status) not in STATUS_WORDS:
            return PaymentResult(
                provider_ref=session_id,
                state=PaymentState.UNKNOWN,
                raw_status=status,
                message=f"KOMOJU reported a session status we do not know: {status!r}.",
                raw={"session": session},
            )
        state = STATUS_WORDS[("session", status)]
        payment = self._expanded_payment(session) if state is None else None
        if state is None:  # completed: the payment decides
            if payment is None:
                return PaymentResult(
                    provider_ref=session_id,
                    state=PaymentState.PENDING,
                    raw_status=status,
                    message="KOMOJU completed the session but has not attached its payment yet.",
                    raw={"session": session},
                )
            return self._payment_result(
                payment,
                provider_ref=session_id,
                kind=kind,
                raw={"session": session},
                session_status=status,
            )
        if state is PaymentState.PENDING and session.get("expired") is True:
            state = PaymentState.TIMED_OUT
            status = "pending/expired"
        amount, currency = _amount(session.get("amount"), session.get("currency"))
        return PaymentResult(
            provider_ref=session_id,
            state=state,
            raw_status=status,
            amount_minor=amount,
            currency=currency,
            raw={"session": session},
        )

    def _payment_result(
        self,
        payment: dict[str, Any],
        *,
        provider_ref: str,
        kind: PaymentKind,
        raw: dict[str, Any],
        session_status: str | None = None,
    ) -> PaymentResult:
        status = payment.get("status")
        state = STATUS_WORDS.get(("payment", str(status))) or PaymentState.UNKNOWN
        message = ""
        if state is PaymentState.AUTHORIZED and kind is PaymentKind.SALE:
            # capture "auto": KOMOJU captures right after authorising.
            state = PaymentState.PENDING
            message = "Authorised; KOMOJU has not finished capturing it yet."
        amount, currency = _amount(payment.get("amount"), payment.get("currency"))
        details = (
            payment.get("payment_details")
            if isinstance(payment.get("payment_details"), dict)
            else {}
        )
        receipt = receipt_from_payment(payment)
        return PaymentResult(
            provider_ref=provider_ref,
            state=state,
            raw_status=f"{session_status}/{status}" if session_status else f"payment/{status}",
            transaction_ref=payment.get("id") if isinstance(payment.get("id"), str) else None,
            amount_minor=amount,
            currency=currency,
            card_brand=details.get("brand"),
            card_last4=details.get("last_four_digits"),
            message=message or self._scrub(str(payment.get("description") or "")),
            raw={**raw, "payment": payment, "receipt": receipt},
            receipt={key: str(value) for key, value in receipt.items()},
        )

    def _send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        idempotency_key: str | None = None,
        moves_money: bool = False,
    ) -> httpx.Response:
        headers: dict[str, str] = {"Accept": "application/json"}
        if idempotency_key is not None:
            headers[IDEMPOTENCY_HEADER] = idempotency_key
        auth = (self.account.secret("secret_key"), "")  # Basic: secret key, empty password
        with transport_errors(f"{method} /{path}", moves_money=moves_money):
            response = self.client.request(method, path, json=json, headers=headers, auth=auth)
        self._raise_for_response(response, moves_money=moves_money)
        return response

    def _raise_for_response(self, response: httpx.Response, *, moves_money: bool) -> None:
        """KOMOJU's ``{"error": {code, message, param}}`` answers -> the error taxonomy."""
        body = json_or_none(response)
        error = body.get("error") if isinstance(body, dict) else None
        if response.is_success and not isinstance(error, dict):
            return
        status = response.status_code
        error = error if isinstance(error, dict) else {}
        code = error.get("code")
        text = self._scrub(str(error.get("message") or "")) or response.reason_phrase
        text = text or f"HTTP {status}"
        if error.get("param"):
            text = f"{text} ({error['param']})"
        codes = {"provider_code": code, "http_status": status}
        if status == 401:
            raise AuthError(f"KOMOJU did not accept the secret key: {text}", **codes)
        if status == 403:
            raise AuthError(f"KOMOJU does not allow this key to do that: {text}", **codes)
        if status == 404:
            raise NotFound(f"KOMOJU could not find it: {text}", **codes)
        if status == 409:
            # The same idempotency key is still being processed: ask again later.
            if moves_money:
                raise OutcomeUnknown(
                    f"KOMOJU is still processing an earlier attempt of this request ({text}).",
                    **codes,
                )
            raise ProviderUnavailable(f"KOMOJU is busy with this request: {text}", **codes)
        raise_for_common_status(
            response, self.api_name, text, moves_money=moves_money, provider_code=code
        )


def receipt_from_payment(payment: Mapping[str, Any]) -> dict[str, Any]:
    """The receipt fields of a KOMOJU Payment (API answer or webhook ``data``).

    Card brand and last four digits from ``payment_details``; the EMV data the
    terminal reports in ``metadata``. The cardholder's name is left out.
    """
    details = payment.get("payment_details")
    details = details if isinstance(details, Mapping) else {}
    emv = payment.get("metadata")
    emv = emv if isinstance(emv, Mapping) else {}
    receipt = {
        "brand": details.get("brand"),
        "last4": details.get("last_four_digits"),
        "aid": emv.get("aid"),
        "application_label": emv.get("application_label"),
        "entry_method": emv.get("method"),  # CL contactless, IC chip…
        "cardholder_verification": emv.get("cardholderVerification"),
        "cryptogram_type": emv.get("cryptogramType"),
        "atc": emv.get("atc"),
        "terminal_sequence": emv.get("terminalSeqCounter"),
        "captured_at": payment.get("captured_at"),
    }
    return {key: value for key, value in receipt.items() if value not in (None, "")}


def _refund_result(payment: dict[str, Any], req: RefundRequest) -> PaymentResult:
    """The Payment answered by POST /payments/{id}/refund -> the new refund's result."""
    raw = {"payment": payment}
    refunds = [
        refund
        for refund in payment.get("refunds") or []
        if isinstance(refund, dict)
        and _amount(refund.get("amount"), refund.get("currency") or req.currency)[0]
        == req.amount_minor
    ]
    if refunds:
        refund = refunds[-1]
        return PaymentResult(
            provider_ref=str(refund.get("id") or req.original_transaction_ref),
            state=PaymentState.APPROVED,
            raw_status=f"refund/{payment.get('status')}",
            transaction_ref=refund.get("id"),
            amount_minor=req.amount_minor,
            currency=refund.get("currency") or req.currency,
            message=str(refund.get("description") or ""),
            raw=raw,
        )
    if payment.get("status") == "refunded":
        return PaymentResult(
            provider_ref=req.original_transaction_ref,
            state=PaymentState.APPROVED,
            raw_status="refund/refunded",
            transaction_ref=payment.get("id"),
            amount_minor=req.amount_minor,
            currency=req.currency,
            raw=raw,
        )
    raise OutcomeUnknown(
        "KOMOJU accepted the refund but its answer lists no matching refund; "
        "checking before any retry."
    )


def _terminal_info(terminal: dict[str, Any], ref: str) -> TerminalInfo:
    enabled = terminal.get("enabled")
    terminal_id = str(terminal.get("id") or ref)
    return TerminalInfo(
        ref=terminal_id,
        name=str(terminal.get("name") or terminal_id),
        model=str(terminal.get("model") or ""),
        serial=str(terminal.get("serial_number") or ""),
        online=enabled if isinstance(enabled, bool) else None,
        status_text=("enabled" if enabled else "disabled") if isinstance(enabled, bool) else "",
        raw=terminal,
    )


NEVER_PUSHED = (
    "Aborted: the payment never reached the terminal, and KOMOJU cancelled it, so it can never be "
    "paid. Nothing was charged."
)


def _already_completed() -> NotAbortable:
    return NotAbortable(
        "KOMOJU cannot cancel this payment: the customer already completed it on the "
        "terminal. Check its result and refund it if it was approved."
    )


def _terminal_session_path(terminal_id: str, session_id: str, action: str) -> str:
    return f"terminals/{quote(terminal_id, safe='')}/sessions/{quote(session_id, safe='')}/{action}"


def _expect_success(response: httpx.Response, action: str) -> None:
    """Terminal endpoints answer ``{"status": "success"}``; anything else is a refusal."""
    body = json_or_none(response)
    if not isinstance(body, dict) or body.get("status") != "success":
        raise InvalidRequest(
            f"KOMOJU did not confirm the {action}.", http_status=response.status_code
        )


def _session_id(session: dict[str, Any]) -> str:
    session_id = session.get("id")
    if not isinstance(session_id, str) or not session_id:
        raise UnexpectedResponse("KOMOJU sent a session without an id.")
    return session_id


def _metadata(session: dict[str, Any]) -> dict[str, Any]:
    metadata = session.get("metadata")
    return metadata if isinstance(metadata, dict) else {}


def _amount(value: Any, currency: Any) -> tuple[int | None, str | None]:
    """The amount and its currency, or (None, None) when either is unreadable."""
    amount = read_integer_amount(value, currency)
    return (amount, currency) if amount is not None else (None, None)

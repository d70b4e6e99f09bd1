"""Klearly partner API: payments pushed to the Klearly app on a merchant's Android terminal.

Wire facts, from Klearly's "Initiate a payment" guide (seed ``000``, ``klearly.md``);
they are all Klearly publishes reachably:

* A partner obtains a **merchant token** ("Generate merchant token") and uses it on
  the partner API.
* "Get terminals" lists **all active devices**; a payment is addressed by the
  device id from that list. Terminals are renamed only in Klearly's partner hub or
  merchant dashboard, never through the API.
* "Initiate Payment" takes the device id and a metadata field; Klearly recommends
  sending the store id, the POS payment id and the POS merchant id. An
  ``Idempotency-Key`` makes a repeated request safe.
* A refund uses the same "Initiate Payment" API with the ``transactionId`` query
  parameter naming the original transaction; it must run on the terminal of the
  original sale, and that terminal must be connected.
* "Abort Payment" cancels a pending payment; it can fail (the payment already went
  through, or it is on another terminal), and the merchant must then refund it or
  cancel it on the right device.
* The result is polled ("GET payment status") or pushed by a payment notification
  webhook.

Assumptions: everything at wire level. Every path, field, header, status word and
error code is in the ``WIRE`` block and the ``STATUS_WORDS`` table below (OUR
ASSUMPTION; the sandbox emulator and the README copy them from there), plus:

* The merchant token is fetched with the partner credentials as HTTP Basic and the
  merchant id in the body; it expires after ``expiresIn`` seconds and is fetched
  again 2 minutes before expiry and once after a 401, like Payroc's bearer.
* Amounts are integer minor units (cents), as in Stripe, whose wording Klearly's
  idempotency text copies; an idempotency key replays the first answer, and a key
  still being processed answers 409 ``idempotency_key_in_use``.
* A payment's ``transactionId`` (what a refund names) is the payment's own ``id``:
  ``PaymentResult.transaction_ref`` is that id once the payment succeeded.
* ``GET terminals`` returns only connected devices (so being listed means online);
  ``GET terminals/{id}`` returns one device whether connected or not, its ``status``
  being ``active`` while connected.
* Webhooks are signed like KOMOJU's and USAePay's: lowercase hex HMAC-SHA256 of the
  raw body with the account's webhook secret, in ``X-Klearly-Signature``. The event's
  ``id`` is the same on every delivery of one event.
* Refunds run on the terminal, so ``refund()`` answers ``pending`` as Klearly accepts
  it; the tracker follows it with ``get_payment(kind=REFUND)`` like any payment.
* ``default_timeout_s``: Klearly documents no terminal timeout; 120 s is our budget.

Account secrets: ``partner_id``, ``partner_secret``, ``webhook_secret``. Settings:
``merchant_id`` (the Klearly merchant the token is for), optional ``store_id`` and
``pos_merchant_id``: the metadata's store and merchant when the request's
``PaymentMetadata`` has none (``merchant_id`` if both are absent).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from providers.base import (
    AccountField,
    BearerTokenAdapter,
    Capabilities,
    Endpoints,
    PaymentKind,
    PaymentMetadata,
    PaymentResult,
    PaymentState,
    ProviderWebhook,
    RefundRequest,
    StartRequest,
    TerminalInfo,
    Token,
)
from providers.errors import (
    AuthError,
    BatteryLow,
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

# =============================================================================
# ASSUMED WIRE FORMAT (OUR ASSUMPTION, not Klearly's documentation).
# Klearly publishes only the flow guide; the sandbox emulator and the README take
# every name below from this block. Change a name here and nowhere else.
# =============================================================================
WIRE: dict[str, str] = {
    # -- merchant token -------------------------------------------------------
    # POST token.path, Authorization: Basic base64(partner_id:partner_secret),
    # body {"merchantId": settings.merchant_id} -> {"token": "…", "expiresIn": 3600}
    "token.path": "partner/merchant-token",
    "token.request.merchant_id": "merchantId",
    "token.response.token": "token",
    "token.response.expires_in": "expiresIn",  # seconds
    # Every other call: Authorization: Bearer <merchant token>
    # -- terminals ------------------------------------------------------------
    "terminals.path": "terminals",  # GET -> {"data": [terminal…]}, connected devices only
    "terminal.path": "terminals/{id}",  # GET -> terminal, connected or not; 404 unknown
    "list.items": "data",
    "terminal.id": "id",
    "terminal.name": "name",
    "terminal.model": "model",
    "terminal.serial": "serialNumber",
    "terminal.status": "status",
    "terminal.status.connected": "active",  # connected; "busy" too, any other word: not
    # assumed like every Klearly word: connected, but busy with a payment started elsewhere
    "terminal.status.busy": "busy",
    # -- payments -------------------------------------------------------------
    # POST payments.path with Idempotency-Key -> payment (a refund adds ?transactionId=)
    # body {"deviceId", "type", "amount", "currency", "description"?, "metadata"}
    "payments.path": "payments",
    "payment.path": "payments/{id}",  # GET -> payment
    "abort.path": "payments/{id}/abort",  # POST, no body -> payment (or 204)
    "idempotency.header": "Idempotency-Key",
    "refund.query.transaction": "transactionId",  # the original payment's id
    "request.device": "deviceId",
    "request.type": "type",
    "request.amount": "amount",  # integer minor units
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
    "payment.status": "status",  # a word of STATUS_WORDS
    "payment.device": "deviceId",
    "payment.type": "type",
    "payment.amount": "amount",
    "payment.currency": "currency",
    "payment.card": "card",  # {"brand": "visa", "last4": "4242"}
    "card.brand": "brand",
    "card.last4": "last4",
    "payment.auth_code": "authorizationCode",
    "payment.message": "statusMessage",  # why it failed, in words
    "payment.metadata": "metadata",
    # -- errors: HTTP 4xx/5xx {"error": {"code": …, "message": …, "deviceId"?: …}} ----------
    "error": "error",
    "error.code": "code",
    "error.message": "message",
    "error.device": "deviceId",  # with payment_on_other_terminal: where the payment is
    "error.terminal_not_connected": "terminal_not_connected",
    "error.terminal_busy": "terminal_busy",
    "error.battery_low": "terminal_battery_low",
    "error.payment_succeeded": "payment_already_succeeded",  # abort refused: it went through
    "error.payment_finished": "payment_already_finished",  # abort refused: failed/cancelled
    "error.other_terminal": "payment_on_other_terminal",  # abort refused: another device
    "error.idempotency_in_flight": "idempotency_key_in_use",  # 409, first attempt in flight
    # -- webhooks: {"id": "evt_…", "type": "payment.updated", "data": <payment>} -------------
    "webhook.signature_header": "X-Klearly-Signature",  # hex HMAC-SHA256(secret, raw body)
    "event.id": "id",
    "event.type": "type",
    "event.data": "data",
}

# Klearly's payment status words -> our states, in one table (OUR ASSUMPTION).
STATUS_WORDS: dict[str, PaymentState] = {
    "pending": PaymentState.PENDING,  # on the terminal's tap-card screen
    "succeeded": PaymentState.APPROVED,
    "failed": PaymentState.DECLINED,  # the card or the issuer refused it
    "cancelled": PaymentState.CANCELED,  # the customer pressed cancel on the terminal
    "aborted": PaymentState.CANCELED,  # aborted through the API
    "expired": PaymentState.TIMED_OUT,  # nobody paid before the terminal gave up
}
# =============================================================================


class OriginalTerminalOffline(TerminalOffline):
    """A Klearly refund must run on the sale's own terminal, and that terminal is not connected."""

    default_message = (
        "This refund must be made on the terminal where the sale was taken, and that terminal "
        "is offline. Switch it on and open the Klearly app, then try again."
    )


class KlearlyProvider(BearerTokenAdapter):
    name = "klearly"
    api_name = "Klearly"
    display_name = "Klearly"
    terminal_ref_label = "Device ID"
    secret_fields = (
        AccountField("partner_id", "Partner ID"),
        AccountField("partner_secret", "Partner secret"),
        AccountField("webhook_secret", "Webhook secret"),
    )
    setting_fields = (
        AccountField("merchant_id", "Klearly merchant ID"),
        AccountField("store_id", "Klearly store ID"),
    )
    # Klearly's API host is not public (klearly.md): our sandbox only, until a partner account
    # tells us; a merchant can never type one in.
    environments = {}
    sandbox_endpoints = Endpoints("/sandbox/klearly/v1")
    webhook_secret_field = "webhook_secret"
    capabilities = Capabilities(
        can_rename=False,  # only in Klearly's partner hub or merchant dashboard
        can_abort=True,
        needs_capture=False,
        partial_capture=False,
        has_webhooks=True,
        refund_mode="referenced",  # by the original transactionId, run on its terminal
        refund_on_original_terminal=True,
        metadata_field="metadata {storeId, posPaymentId, posMerchantId, posOrderId}",
        reports_online=True,  # being listed by GET terminals
        has_idempotency_key=True,
        status_channel="poll",
        poll_interval_s=2.0,
        default_timeout_s=120,
        requests_per_minute=None,
        webhooks_tell_every_outcome=True,
    )

    # -- credentials -------------------------------------------------------

    def obtain_token(self) -> Token:
        merchant_id = self._merchant_id()
        auth = (self.account.secret("partner_id"), self.account.secret("partner_secret"))
        path = WIRE["token.path"]
        with transport_errors(f"POST /{path}", moves_money=False):
            response = self.client.post(
                path,
                json={WIRE["token.request.merchant_id"]: merchant_id},
                headers={"Accept": "application/json"},
                auth=auth,
            )
        if response.status_code in (401, 403):
            raise AuthError(
                "Klearly refused our partner credentials for this merchant.",
                http_status=response.status_code,
            )
        self._raise_for_response(response, moves_money=False)
        body = self._json_object(response)
        token = body.get(WIRE["token.response.token"])
        expires_in = body.get(WIRE["token.response.expires_in"])
        if (
            not isinstance(token, str)
            or not token
            or isinstance(expires_in, bool)
            or not isinstance(expires_in, int)
        ):
            raise UnexpectedResponse("Klearly sent no usable merchant token.")
        return self._keep_token(token, expires_in)

    def _merchant_id(self) -> str:
        merchant_id = self.account.settings.get("merchant_id")
        if not merchant_id:
            raise AuthError("The Klearly account has no merchant id configured.")
        return str(merchant_id)

    # -- terminals ---------------------------------------------------------

    def list_terminals(self) -> list[TerminalInfo]:
        """The connected terminals: Klearly lists only active devices."""
        body = self._json_object(self._send("GET", WIRE["terminals.path"]))
        items = body.get(WIRE["list.items"])
        if not isinstance(items, list):
            raise UnexpectedResponse("Klearly sent a terminal list without its items.")
        return [_terminal_info(item, listed=True) for item in items if isinstance(item, dict)]

    def get_terminal(self, ref: str) -> TerminalInfo:
        path = WIRE["terminal.path"].format(id=quote(ref, safe=""))
        return _terminal_info(self._json_object(self._send("GET", path)), listed=False)

    # -- payments ----------------------------------------------------------

    def start_payment(self, req: StartRequest) -> PaymentResult:
        if req.kind is not PaymentKind.SALE:
            raise UnsupportedOperation(
                "Klearly takes sales only; refund a sale from the payment itself."
            )
        body = self._payment_body(
            device_id=req.terminal_ref,
            payment_type=WIRE["type.sale"],
            amount_minor=req.amount_minor,
            currency=req.currency,
            reference=req.reference,
            description=req.description,
            metadata=req.metadata,
        )
        response = self._send(
            "POST",
            WIRE["payments.path"],
            json=body,
            idempotency_key=req.idempotency_key,
            moves_money=True,
        )
        return self._payment_result(self._json_object(response), req.amount_minor, req.currency)

    def find_started_payment(self, req: StartRequest) -> PaymentResult | None:
        """Re-send the start with the same Idempotency-Key; Klearly replays its first answer.

        If the first attempt never arrived, this starts the payment now, exactly once.
        Never returns None.
        """
        return self._start_again(req)

    def get_payment(
        self, provider_ref: str, *, kind: PaymentKind, wait: bool = False
    ) -> PaymentResult:
        # Klearly has no long poll: `wait` changes nothing.
        return self._payment_result(self._payment_object(provider_ref))

    def abort_payment(self, provider_ref: str, *, kind: PaymentKind) -> None:
        """Abort on the terminal. NotAbortable says whether the payment already went
        through (refund it) or is on another terminal (cancel it on that device)."""
        path = WIRE["abort.path"].format(id=quote(provider_ref, safe=""))
        try:
            self._send("POST", path, moves_money=True)  # a lost answer: it may have aborted
        except InvalidRequest as exc:  # a refusal without one of our codes
            raise NotAbortable.replacing(
                exc,
                f"Klearly could not abort the payment ({exc.message}). Check its result on the "
                "terminal: refund it if it went through.",
            ) from exc

    def refund(self, req: RefundRequest) -> PaymentResult:
        """Refund a sale on the terminal where it was taken, which must be connected.

        Answers ``pending`` as Klearly accepts it; follow it with
        ``get_payment(provider_ref, kind=REFUND)``. Raises OriginalTerminalOffline
        when the sale's terminal is not connected: nothing is sent then.
        """
        original = self._payment_object(req.original_transaction_ref)
        device_id = original.get(WIRE["payment.device"])
        if not isinstance(device_id, str) or not device_id:
            raise UnexpectedResponse("Klearly sent the original payment without its device.")
        connected = {terminal.ref for terminal in self.list_terminals() if terminal.online}
        if device_id not in connected:
            raise OriginalTerminalOffline(self._original_terminal_offline_message(device_id))
        body = self._payment_body(
            device_id=device_id,
            payment_type=WIRE["type.refund"],
            amount_minor=req.amount_minor,
            currency=req.currency,
            reference=req.reference,
            description=req.description,
            metadata=req.metadata,
        )
        response = self._send(
            "POST",
            WIRE["payments.path"],
            params={WIRE["refund.query.transaction"]: req.original_transaction_ref},
            json=body,
            idempotency_key=req.idempotency_key,
            moves_money=True,
        )
        return self._payment_result(self._json_object(response), req.amount_minor, req.currency)

    # -- webhooks ----------------------------------------------------------

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> ProviderWebhook:
        payload = signed_json_body(
            headers,
            body,
            signature_header=WIRE["webhook.signature_header"],
            secret=self.account.secret("webhook_secret"),
            api_name=self.api_name,
        )
        if not isinstance(payload, dict):
            raise InvalidRequest("The Klearly webhook body is not an event.")
        event_id = payload.get(WIRE["event.id"])
        if not isinstance(event_id, str) or not event_id:
            raise InvalidRequest("The Klearly webhook has no event id.")
        data = payload.get(WIRE["event.data"])
        data = data if isinstance(data, dict) else {}
        metadata = data.get(WIRE["payment.metadata"])
        metadata = metadata if isinstance(metadata, dict) else {}
        return ProviderWebhook(
            event_id=event_id,
            event_type=str(payload.get(WIRE["event.type"]) or ""),
            payment_ref=data.get(WIRE["payment.id"]),
            raw=payload,
            order_reference=metadata.get(WIRE["metadata.pos_order"])
            or metadata.get(WIRE["metadata.pos_payment"]),
        )

    # -- wire --------------------------------------------------------------

    def _payment_body(
        self,
        *,
        device_id: str,
        payment_type: str,
        amount_minor: int,
        currency: str,
        reference: str,
        description: str,
        metadata: PaymentMetadata,
    ) -> dict[str, Any]:
        settings = self.account.settings
        sent = {
            WIRE["metadata.store"]: metadata.store_id or settings.get("store_id"),
            WIRE["metadata.pos_payment"]: metadata.payment_id or reference,
            WIRE["metadata.pos_merchant"]: metadata.merchant_id
            or settings.get("pos_merchant_id")
            or settings.get("merchant_id"),
            # Our order id, where posPaymentId does not already carry it.
            WIRE["metadata.pos_order"]: reference if metadata.payment_id else None,
        }
        body: dict[str, Any] = {
            WIRE["request.device"]: device_id,
            WIRE["request.type"]: payment_type,
            WIRE["request.amount"]: to_integer_minor_units(amount_minor, currency),
            WIRE["request.currency"]: currency,
            WIRE["request.metadata"]: {name: str(value) for name, value in sent.items() if value},
        }
        if description:
            body[WIRE["request.description"]] = description
        return body

    def _payment_object(self, payment_id: str) -> dict[str, Any]:
        path = WIRE["payment.path"].format(id=quote(payment_id, safe=""))
        return self._json_object(self._send("GET", path))

    def _payment_result(
        self,
        payment: dict[str, Any],
        amount_minor: int | None = None,
        currency: str | None = None,
    ) -> PaymentResult:
        payment_id = payment.get(WIRE["payment.id"])
        status = payment.get(WIRE["payment.status"])
        if not isinstance(payment_id, str) or not isinstance(status, str):
            raise UnexpectedResponse("Klearly sent a payment without id or status.")
        state = STATUS_WORDS.get(status, PaymentState.UNKNOWN)
        card = payment.get(WIRE["payment.card"])
        card = card if isinstance(card, dict) else {}
        wire_currency = payment.get(WIRE["payment.currency"])
        amount = read_integer_amount(payment.get(WIRE["payment.amount"]), wire_currency)
        message = self._scrub(str(payment.get(WIRE["payment.message"]) or ""))
        if state is PaymentState.UNKNOWN:
            message = f"Klearly reported a status we do not know: {status!r}."
        return PaymentResult(
            provider_ref=payment_id,
            state=state,
            raw_status=status,
            # A refund names the sale by its id (Klearly's transactionId).
            transaction_ref=payment_id if state is PaymentState.APPROVED else None,
            amount_minor=amount if amount is not None else amount_minor,
            currency=wire_currency if amount is not None else currency,
            card_brand=card.get(WIRE["card.brand"]),
            card_last4=card.get(WIRE["card.last4"]),
            auth_code=payment.get(WIRE["payment.auth_code"]) or None,
            message=message,
            raw=payment,
        )

    def _original_terminal_offline_message(self, device_id: str) -> str:
        name = device_id
        try:
            terminal = self.get_terminal(device_id)
            if terminal.name:
                name = f"{terminal.name} ({device_id})"
        except ProviderError:
            pass
        return (
            f"This refund must be made on terminal {name}, where the sale was taken, and that "
            "terminal is offline. Switch it on and open the Klearly app, then try again."
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
    ) -> httpx.Response:
        """One API call with the merchant token (a new one and one retry after a 401)."""
        headers: dict[str, str] = {"Accept": "application/json"}
        if idempotency_key is not None:
            headers[WIRE["idempotency.header"]] = idempotency_key
        return self._request_with_token(
            method, path, headers=headers, moves_money=moves_money, json=json, params=params
        )

    def _raise_for_response(self, response: httpx.Response, *, moves_money: bool) -> None:
        """Klearly's (assumed) ``{"error": {code, message}}`` answers -> the error taxonomy."""
        if response.is_success:
            return
        status = response.status_code
        body = json_or_none(response)
        error = body.get(WIRE["error"]) if isinstance(body, dict) else None
        error = error if isinstance(error, dict) else {}
        code = error.get(WIRE["error.code"])
        text = self._scrub(str(error.get(WIRE["error.message"]) or ""))
        text = text or response.reason_phrase or f"HTTP {status}"
        codes = {"provider_code": code, "http_status": status}
        is_refund = WIRE["refund.query.transaction"] in response.request.url.params
        if code == WIRE["error.terminal_not_connected"]:
            if is_refund:
                raise OriginalTerminalOffline(**codes)
            raise TerminalOffline(
                "The terminal is offline. Check that it is switched on and the Klearly app is "
                "open, then try again.",
                **codes,
            )
        if code == WIRE["error.terminal_busy"]:
            raise TerminalBusy(
                "The terminal is busy with another payment. Wait until it finishes, then try "
                "again.",
                **codes,
            )
        if code == WIRE["error.battery_low"]:
            raise BatteryLow(**codes)
        if code == WIRE["error.payment_succeeded"]:
            raise NotAbortable(
                "The payment could not be aborted: it already went through on the terminal. "
                "Refund it if it should not stand.",
                **codes,
            )
        if code == WIRE["error.payment_finished"]:
            raise NotAbortable(
                "The payment could not be aborted: it already ended on the terminal without "
                "being paid.",
                **codes,
            )
        if code == WIRE["error.other_terminal"]:
            device = error.get(WIRE["error.device"])
            where = f"terminal {device}" if device else "another terminal"
            raise NotAbortable(
                f"The payment could not be aborted: it is on {where}. Cancel it on that terminal.",
                **codes,
            )
        if status in (401, 403):
            raise AuthError(f"Klearly refused our merchant token: {text}", **codes)
        if status == 404:
            raise NotFound(f"Klearly could not find it: {text}", **codes)
        if status == 409 and code == WIRE["error.idempotency_in_flight"]:
            if moves_money:
                raise OutcomeUnknown(
                    "Klearly is still processing an earlier attempt of this request.", **codes
                )
            raise ProviderUnavailable(f"Klearly is busy with this request: {text}", **codes)
        raise_for_common_status(
            response, self.api_name, text, moves_money=moves_money, provider_code=code
        )


def _terminal_info(terminal: dict[str, Any], *, listed: bool) -> TerminalInfo:
    terminal_id = terminal.get(WIRE["terminal.id"])
    if not isinstance(terminal_id, str) or not terminal_id:
        raise UnexpectedResponse("Klearly sent a terminal without an id.")
    status = terminal.get(WIRE["terminal.status"])
    busy = status == WIRE["terminal.status.busy"]
    if isinstance(status, str):
        online = status in (WIRE["terminal.status.connected"], WIRE["terminal.status.busy"])
    else:
        online = listed  # GET terminals lists connected devices only
    return TerminalInfo(
        ref=terminal_id,
        name=str(terminal.get(WIRE["terminal.name"]) or terminal_id),
        model=str(terminal.get(WIRE["terminal.model"]) or ""),
        serial=str(terminal.get(WIRE["terminal.serial"]) or ""),
        online=online,
        status_text=status if isinstance(status, str) else ("active" if online else ""),
        raw=terminal,
        busy=busy,
    )

"""MobilePay PoS through Integra's wrapper: payments on a PoS (a till's QR code/beacon).

Wire facts, from Integra's ASP.NET help pages (seed ``002``, ``mobilepay-integra.md``):

* Base URL ``https://mobilepay-pos.poweredbyintegra.dk/``; every path below is
  relative to it and documented with its query parameters. We use the GET forms.
* Auth: no headers. Every call carries the query parameters ``accessToken`` (a
  long-lived merchant token) and ``bioCode`` (Integra's id of the merchant, a
  cinema). The token is created once (``GET api/pos/manage/token?bioCode=``, only
  while the merchant has none) and replaced by ``GET api/pos/manage/token/reset?
  bioCode=&previousAccessToken=`` (the previous token is mandatory).
* Every answer is an envelope ``{…, "success": bool, "errors": [string]}``; failures
  are reported in it. ``Accept: application/json`` selects JSON (the default is XML).
  Confirmed payload fields: ``paymentId`` (start, id retrieval), ``message``
  (manage calls, ready).
* Amounts are decimal strings with a dot (``"27.00"``); ``currencyCode`` defaults to DKK.
* Direct flow: ``api/pos/payment/start?orderId&amount&terminalId&currencyCode`` ->
  ``{paymentId}``; poll ``api/pos/payment/status?paymentId``; when ``Reserved`` the
  POS must ``api/pos/payment/capture?paymentId&amount``. Prepared flow:
  ``api/pos/payment/prepare?orderId&terminalId`` then
  ``api/pos/payment/ready?orderId&amount&terminalId&currencyCode&paymentId``.
* Only one active payment per PoS: a second start is refused while one is active,
  and the POS must cancel what it started and did not finish.
* ``api/pos/payment/cancel?paymentId`` works in any state but Captured.
* No idempotency key. After a lost answer, ``api/pos/payments?state&orderId&terminalId``
  lists the active payments (or the captured ones with ``state=Captured``), and
  ``api/pos/payment/id/retrieve/byterminal?orderId&terminalId&paymentState`` finds
  a paymentId by order and state.
* Refunds: ``api/pos/refund/create?amount&currencyCode&paymentId&refundOrderId``,
  then ``refund/capture?refundId`` or ``refund/cancel?refundId``;
  ``refund/details?refundId``; ``api/pos/refunds?paymentId`` lists refund ids.
* ``api/pos/terminal/qrcode?terminalId`` gives the QR code image link;
  ``api/pos/manage/checkInStatus/byterminalId?terminalId`` whether a customer is
  checked in; ``api/pos/manage/terminal/information?terminalId`` the PoS.
* No webhooks, no terminal list, no online status, no rename.

Assumptions (OUR ASSUMPTION where Integra's pages were not retrievable; the names
are in the ``ASSUMED`` block below, the status words in ``STATUS_WORDS``):

* Response fields of status, details, payments, refunds, refund/create, qrcode,
  checkInStatus and terminal/information, and that the created or reset token is
  returned in ``message``.
* A failure may come with any HTTP status; an envelope with ``success: false`` is a
  failure even on HTTP 200. Error texts are matched on the phrases in
  ``ERROR_PHRASES``: wrong credentials mention the access token or bioCode; a start
  refused because the PoS has an active payment mentions "active payment".
* An id retrieval that matches nothing answers ``success: true`` with an empty
  ``paymentId``, or ``success: false`` with a "not found" error.
* Refund statuses use the payment words (Initiated, Reserved, Captured,
  CancelledByClient, ExpiredAndCancelled), and a refund can be captured right after
  it was created.
* Terminals: ``list_terminals`` reads each id in ``account.settings["terminal_ids"]``
  via terminal/information; an id Integra does not know is left out with a warning.
* ``default_timeout_s``: MobilePay cancels payments nobody acts on, after a time it
  does not document through Integra; 180 s is our budget.

Account secrets: ``access_token``, ``bio_code``. Settings: ``terminal_ids``, optional
``currency`` (default DKK) for amounts read without a currency.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from providers.base import (
    FINAL_STATES,
    AccountField,
    Capabilities,
    Endpoints,
    Environment,
    PaymentKind,
    PaymentResult,
    PaymentState,
    ProviderAdapter,
    RefundRequest,
    StartRequest,
    TerminalInfo,
)
from providers.errors import (
    AuthError,
    BatteryLow,
    InvalidRequest,
    NotAbortable,
    NotFound,
    OutcomeUnknown,
    ProviderError,
    TerminalBusy,
    TerminalOffline,
    UnexpectedResponse,
    UnsupportedOperation,
)
from providers.http import (
    json_or_none,
    raise_for_common_status,
    raise_for_transient_status,
    transport_errors,
)
from providers.money import read_decimal_amount, to_decimal_string

logger = logging.getLogger(__name__)

DEFAULT_CURRENCY = "DKK"  # Integra's default currencyCode

# Documented paths (Integra's help index).
PATHS: dict[str, str] = {
    "start": "api/pos/payment/start",
    "prepare": "api/pos/payment/prepare",
    "ready": "api/pos/payment/ready",
    "status": "api/pos/payment/status",
    "details": "api/pos/payment/details",
    "capture": "api/pos/payment/capture",
    "cancel": "api/pos/payment/cancel",
    "payments": "api/pos/payments",
    "retrieve_by_terminal": "api/pos/payment/id/retrieve/byterminal",
    "refund_create": "api/pos/refund/create",
    "refund_details": "api/pos/refund/details",
    "refund_capture": "api/pos/refund/capture",
    "refund_cancel": "api/pos/refund/cancel",
    "refunds": "api/pos/refunds",
    "qrcode": "api/pos/terminal/qrcode",
    "token_create": "api/pos/manage/token",
    "token_reset": "api/pos/manage/token/reset",
    "terminal_information": "api/pos/manage/terminal/information",
    "check_in": "api/pos/manage/checkInStatus/byterminalId",
}

# =============================================================================
# ASSUMED RESPONSE NAMES (OUR ASSUMPTION, not Integra's documentation). The paths,
# query parameters, the {"success", "errors"} envelope, "paymentId" and "message"
# are documented; these are not. The sandbox emulator and the README copy them.
# =============================================================================
ASSUMED: dict[str, str] = {
    "status": "status",  # payment/status, payment/details, refund/details: a STATUS_WORDS word
    "amount": "amount",  # payment/details, refund/details: "27.00"
    "currency": "currencyCode",  # payment/details, refund/details
    "order_id": "orderId",  # payment/details
    "payment_ids": "paymentIds",  # api/pos/payments -> {"paymentIds": ["…"]}
    "refund_ids": "refundIds",  # api/pos/refunds -> {"refundIds": ["…"]}
    "refund_id": "refundId",  # refund/create -> {"refundId": "…"}
    "prepared_payment_id": "paymentId",  # payment/prepare -> {"paymentId": "…"}, like start
    "token": "message",  # manage/token and manage/token/reset -> the new token
    "qr_code_link": "qrCodeLink",  # terminal/qrcode -> {"qrCodeLink": "https://…"}
    "checked_in": "checkedIn",  # checkInStatus/byterminalId -> {"checkedIn": true}
    "pos_id": "posId",  # terminal/information -> {"posId", "name", "storeId"}
    "pos_name": "name",
    "store_id": "storeId",
}

# Lower-case phrases looked for in an envelope's `errors`, in this order.
ERROR_PHRASES: dict[str, tuple[str, ...]] = {
    "auth": ("accesstoken", "access token", "biocode", "unauthori"),
    "busy": ("active payment",),
    "offline": ("offline", "cannot reach"),
    "battery": ("battery",),
    "not_found": ("not found", "does not exist"),
}

# MobilePay's eleven payment states (seed 002) -> our states, in one table.
# Refunds use the same words.
STATUS_WORDS: dict[str, PaymentState] = {
    "Initiated": PaymentState.PENDING,
    "Prepared": PaymentState.PENDING,  # waiting for payment/ready with the amount
    "Paired": PaymentState.PENDING,  # the customer checked in
    "IssuedToUser": PaymentState.PENDING,  # on the customer's phone
    # The customer approved: not final, the POS must capture or cancel it.
    "Reserved": PaymentState.AUTHORIZED,
    "Captured": PaymentState.APPROVED,
    "CancelledByUser": PaymentState.CANCELED,
    "CancelledByClient": PaymentState.CANCELED,
    "CancelledByMobilePay": PaymentState.CANCELED,
    "ExpiredAndCancelled": PaymentState.TIMED_OUT,
    "RejectedByMobilePayDueToAgeRestrictions": PaymentState.DECLINED,
}
# =============================================================================

_STATUS_BY_LOWER = {word.lower(): (word, state) for word, state in STATUS_WORDS.items()}
# States a payment leaves the active list in; find_started_payment looks in each.
NOT_ACTIVE_WORDS = tuple(word for word, state in STATUS_WORDS.items() if state in FINAL_STATES)


@dataclass(frozen=True)
class CheckInStatus:
    """Whether a customer is checked in at a PoS (None: Integra did not say)."""

    checked_in: bool | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


class MobilepayProvider(ProviderAdapter):
    """MobilePay via Integra. Beyond the contract: the prepared flow
    (``prepare_payment``, ``ready_payment``), token creation and reset
    (``token_create``, ``token_reset``), refund steps, payment look-ups, the QR
    code link and the check-in status."""

    name = "mobilepay"
    api_name = "Integra"
    display_name = "MobilePay PoS (Integra)"
    terminal_ref_label = "PoS ID"
    secret_fields = (
        AccountField("access_token", "Access token"),
        AccountField("bio_code", "bioCode"),
    )
    setting_fields = (AccountField("terminal_ids", "PoS IDs"),)
    environments = {Environment.LIVE: Endpoints("https://mobilepay-pos.poweredbyintegra.dk")}
    sandbox_endpoints = Endpoints("/sandbox/mobilepay")
    capabilities = Capabilities(
        can_rename=False,  # a PoS is deleted and created again instead
        can_abort=True,
        # Every payment stops at Reserved (authorized): a sale is captured by the POS.
        needs_capture=True,
        partial_capture=True,
        has_webhooks=False,
        refund_mode="referenced",
        reports_online=False,  # only the check-in status exists
        has_idempotency_key=False,
        status_channel="poll",
        poll_interval_s=2.0,
        default_timeout_s=180,
        requests_per_minute=None,
        authorized_occupies_terminal=True,  # a Reserved payment keeps the PoS occupied
        customer_prompt="approve in the MobilePay app",  # the customer pays from the phone
    )

    # -- credentials -------------------------------------------------------

    def token_create(self) -> str:
        """Create the merchant's long-lived access token and return it.

        Integra creates one only while the merchant has none; afterwards use
        ``token_reset``. The caller stores it as pending and verifies it first.
        """
        body = self._call(PATHS["token_create"], {}, with_token=False)
        return _new_token(body)

    def token_reset(self, previous: str) -> str:
        """Replace the access token ``previous`` and return the new one.

        Integra needs the previous token, so the caller keeps it until the new one
        verifies.
        """
        if not previous:
            raise InvalidRequest("Resetting the MobilePay token needs the previous token.")
        body = self._call(PATHS["token_reset"], {"previousAccessToken": previous}, with_token=False)
        return _new_token(body)

    # -- terminals ---------------------------------------------------------

    def list_terminals(self) -> list[TerminalInfo]:
        """The terminals named in ``settings["terminal_ids"]``: Integra has no list."""
        return self._configured_terminals()

    def get_terminal(self, ref: str) -> TerminalInfo:
        body = self._call(PATHS["terminal_information"], {"terminalId": ref})
        pos_id = body.get(ASSUMED["pos_id"])
        return TerminalInfo(
            ref=ref,
            name=str(body.get(ASSUMED["pos_name"]) or ref),
            model="MobilePay PoS",
            serial=str(pos_id or ""),
            online=None,  # Integra reports no online status
            status_text=f"PoS {pos_id}" if pos_id else "",
            raw=body,
        )

    def qr_code_link(self, terminal_ref: str) -> str:
        """The link to the QR code image the customer scans at this terminal."""
        body = self._call(PATHS["qrcode"], {"terminalId": terminal_ref})
        link = body.get(ASSUMED["qr_code_link"])
        if not isinstance(link, str) or not link:
            raise UnexpectedResponse("Integra sent no QR code link.")
        return link

    def check_in_status(self, terminal_ref: str) -> CheckInStatus:
        """Whether a customer is checked in at this terminal's PoS right now."""
        body = self._call(PATHS["check_in"], {"terminalId": terminal_ref})
        checked_in = body.get(ASSUMED["checked_in"])
        return CheckInStatus(
            checked_in=checked_in if isinstance(checked_in, bool) else None, raw=body
        )

    # -- payments ----------------------------------------------------------

    def start_payment(self, req: StartRequest) -> PaymentResult:
        """Start a payment on the PoS (direct flow). It stops at Reserved (authorized),
        to be captured. No idempotency key: after OutcomeUnknown, call
        ``find_started_payment`` before anything else, never this again."""
        self._check_kind(req.kind)
        params = {
            "orderId": req.reference,
            "amount": to_decimal_string(req.amount_minor, req.currency),
            "terminalId": req.terminal_ref,
            "currencyCode": req.currency,
        }
        try:
            body = self._call(PATHS["start"], params, moves_money=True)
        except (InvalidRequest, TerminalBusy) as refusal:
            return self._after_refused_start(req.terminal_ref, req.reference, refusal)
        return _started(_payment_id(body), "Initiated", req.amount_minor, req.currency, body)

    def prepare_payment(self, *, terminal_ref: str, reference: str) -> PaymentResult:
        """Prepared flow, step 1: open a payment on the PoS before the amount is known.

        The customer can check in but not approve until ``ready_payment``.
        """
        params = {"orderId": reference, "terminalId": terminal_ref}
        try:
            body = self._call(PATHS["prepare"], params, moves_money=True)
        except (InvalidRequest, TerminalBusy) as refusal:
            return self._after_refused_start(terminal_ref, reference, refusal)
        payment_id = body.get(ASSUMED["prepared_payment_id"])
        if not isinstance(payment_id, str) or not payment_id:
            raise UnexpectedResponse("Integra prepared a payment but sent no paymentId.")
        return _started(payment_id, "Prepared", None, None, body)

    def ready_payment(
        self,
        provider_ref: str,
        *,
        terminal_ref: str,
        reference: str,
        amount_minor: int,
        currency: str,
    ) -> PaymentResult:
        """Prepared flow, step 2: give the prepared payment its amount, for approval."""
        params = {
            "orderId": reference,
            "amount": to_decimal_string(amount_minor, currency),
            "terminalId": terminal_ref,
            "currencyCode": currency,
            "paymentId": provider_ref,
        }
        body = self._call(PATHS["ready"], params, moves_money=True)
        return _started(provider_ref, "Prepared", amount_minor, currency, body)

    def find_started_payment(self, req: StartRequest) -> PaymentResult | None:
        """After a lost start: the payment with our orderId on that terminal, if any.

        Looks in the active payments, then retrieves the paymentId in each state a
        payment leaves the active list in, then in the active payments again (one
        may have started meanwhile). None only when all of these say it does not
        exist.
        """
        try:
            found = set(self.list_payments(terminal_ref=req.terminal_ref, reference=req.reference))
            if not found:
                for word in NOT_ACTIVE_WORDS:
                    payment_id = self.retrieve_payment_id(
                        reference=req.reference, terminal_ref=req.terminal_ref, state=word
                    )
                    if payment_id:
                        found.add(payment_id)
            if not found:
                found.update(
                    self.list_payments(terminal_ref=req.terminal_ref, reference=req.reference)
                )
            if len(found) > 1:
                raise OutcomeUnknown(
                    "Integra lists several payments for this order; someone must check them."
                )
            if not found:
                return None
            result = self.get_payment(found.pop(), kind=req.kind)
        except OutcomeUnknown:
            raise
        except ProviderError as exc:
            raise OutcomeUnknown(
                f"Could not check with Integra whether the payment started: {exc.message}"
            ) from exc
        if result.amount_minor is None:
            return _with_amount(result, req.amount_minor, req.currency)
        return result

    def get_payment(
        self, provider_ref: str, *, kind: PaymentKind, wait: bool = False
    ) -> PaymentResult:
        # Integra has no long poll: `wait` changes nothing.
        if PaymentKind(kind) is PaymentKind.REFUND:
            return self.get_refund(provider_ref)
        body = self._call(PATHS["status"], {"paymentId": provider_ref})
        return self._status_result(provider_ref, body)

    def abort_payment(self, provider_ref: str, *, kind: PaymentKind) -> None:
        """Cancel the payment (also a Reserved one); refused once it is Captured."""
        if PaymentKind(kind) is PaymentKind.REFUND:
            self.refund_cancel(provider_ref)
            return
        try:
            # A lost answer is OutcomeUnknown: the cancel may have gone through.
            self._call(PATHS["cancel"], {"paymentId": provider_ref}, moves_money=True)
        except InvalidRequest as exc:
            raise NotAbortable.replacing(
                exc,
                "MobilePay would not cancel the payment; it has probably been captured already "
                f"and can only be refunded ({exc.message}).",
            ) from exc

    def capture(
        self,
        transaction_ref: str,
        *,
        idempotency_key: str,
        amount_minor: int | None = None,
        currency: str | None = None,
    ) -> PaymentResult:
        """Capture a Reserved payment. Integra needs the amount: without one, the
        reserved amount is read from the payment's details. No idempotency key is
        sent; capturing twice is refused, so a repeat never moves money twice."""
        if amount_minor is None:
            details = self._call(PATHS["details"], {"paymentId": transaction_ref})
            currency = str(details.get(ASSUMED["currency"]) or currency or self._currency)
            amount_minor = read_decimal_amount(details.get(ASSUMED["amount"]), currency)
            if amount_minor is None:
                raise UnexpectedResponse("Integra sent the payment without its amount.")
        currency = currency or self._currency
        params = {
            "paymentId": transaction_ref,
            "amount": to_decimal_string(amount_minor, currency),
        }
        try:
            body = self._call(PATHS["capture"], params, moves_money=True)
        except InvalidRequest as exc:
            raise InvalidRequest.replacing(
                exc,
                f"MobilePay captures only a Reserved payment: {exc.message}",
            ) from exc
        return PaymentResult(
            provider_ref=transaction_ref,
            state=PaymentState.APPROVED,
            raw_status="Captured",
            transaction_ref=transaction_ref,
            amount_minor=amount_minor,
            currency=currency,
            raw=body,
        )

    def list_payments(
        self,
        *,
        terminal_ref: str | None = None,
        reference: str | None = None,
        state: str | None = None,
    ) -> list[str]:
        """paymentIds of the active payments (or, with ``state="Captured"``, the captured
        ones), narrowed to a terminal and an orderId when given."""
        params = {
            name: value
            for name, value in (
                ("state", state),
                ("orderId", reference),
                ("terminalId", terminal_ref),
            )
            if value
        }
        body = self._call(PATHS["payments"], params)
        return _ids(body, ASSUMED["payment_ids"])

    def retrieve_payment_id(self, *, reference: str, terminal_ref: str, state: str) -> str | None:
        """The paymentId of the order ``reference`` on the terminal in ``state``, or None."""
        params = {"orderId": reference, "terminalId": terminal_ref, "paymentState": state}
        try:
            body = self._call(PATHS["retrieve_by_terminal"], params)
        except NotFound:
            return None
        payment_id = body.get("paymentId")
        return payment_id if isinstance(payment_id, str) and payment_id else None

    # -- refunds -----------------------------------------------------------

    def refund(self, req: RefundRequest) -> PaymentResult:
        """Create the refund, then capture it; a refused capture cancels the refund.

        No idempotency key: if an answer is lost this raises OutcomeUnknown, and
        ``list_refunds`` / ``get_refund`` tell what exists before any retry.
        """
        refund_id = self.refund_create(
            payment_id=req.original_transaction_ref,
            amount_minor=req.amount_minor,
            currency=req.currency,
            refund_reference=req.reference,
        )
        try:
            body = self.refund_capture(refund_id)
        except InvalidRequest as exc:
            try:
                self.refund_cancel(refund_id)
            except ProviderError:
                logger.warning("Could not cancel the uncaptured MobilePay refund %s", refund_id)
            raise InvalidRequest.replacing(
                exc,
                f"MobilePay did not complete the refund: {exc.message}",
            ) from exc
        return PaymentResult(
            provider_ref=refund_id,
            state=PaymentState.APPROVED,
            raw_status="Captured",
            transaction_ref=refund_id,
            amount_minor=req.amount_minor,
            currency=req.currency,
            raw=body,
        )

    def refund_create(
        self, *, payment_id: str, amount_minor: int, currency: str, refund_reference: str
    ) -> str:
        """Create a refund of ``payment_id`` and return its refundId (not yet captured)."""
        params = {
            "amount": to_decimal_string(amount_minor, currency),
            "currencyCode": currency,
            "paymentId": payment_id,
            "refundOrderId": refund_reference,
        }
        body = self._call(PATHS["refund_create"], params, moves_money=True)
        refund_id = body.get(ASSUMED["refund_id"])
        if not isinstance(refund_id, str) or not refund_id:
            raise OutcomeUnknown("Integra accepted the refund but sent no refundId.")
        return refund_id

    def refund_capture(self, refund_id: str) -> dict[str, Any]:
        """Capture (pay out) a created refund."""
        return self._call(PATHS["refund_capture"], {"refundId": refund_id}, moves_money=True)

    def refund_cancel(self, refund_id: str) -> None:
        """Cancel a refund that is not captured."""
        try:
            self._call(PATHS["refund_cancel"], {"refundId": refund_id}, moves_money=True)
        except InvalidRequest as exc:
            raise NotAbortable.replacing(
                exc,
                "MobilePay would not cancel the refund; it has probably been paid "
                f"({exc.message}).",
            ) from exc

    def get_refund(self, refund_id: str) -> PaymentResult:
        body = self._call(PATHS["refund_details"], {"refundId": refund_id})
        return self._status_result(refund_id, body)

    def list_refunds(self, payment_id: str) -> list[str]:
        """The refundIds of a payment."""
        body = self._call(PATHS["refunds"], {"paymentId": payment_id})
        return _ids(body, ASSUMED["refund_ids"])

    # -- wire --------------------------------------------------------------

    @property
    def _currency(self) -> str:
        return str(self.account.settings.get("currency") or DEFAULT_CURRENCY)

    def _check_kind(self, kind: PaymentKind) -> None:
        if kind is PaymentKind.REFUND:
            raise UnsupportedOperation(
                "MobilePay refunds are made from the original payment, not on the terminal."
            )

    def _after_refused_start(
        self, terminal_ref: str, reference: str, refusal: ProviderError
    ) -> PaymentResult:
        """Integra refused the start: ours already running, another one active, or invalid.

        One active payment per PoS: if the active one is ours (same orderId), that is
        the start; if another is active, the terminal is busy.
        """
        try:
            ours = self.list_payments(terminal_ref=terminal_ref, reference=reference)
            if len(ours) == 1:
                return self.get_payment(ours[0], kind=PaymentKind.SALE)
            active = self.list_payments(terminal_ref=terminal_ref)
        except ProviderError:
            raise refusal from None
        if active or isinstance(refusal, TerminalBusy):
            raise TerminalBusy.replacing(
                refusal,
                "The terminal already has an active MobilePay payment. Wait until it finishes "
                "or cancel it, then try again.",
            )
        raise refusal

    def _status_result(self, provider_ref: str, body: dict[str, Any]) -> PaymentResult:
        status = body.get(ASSUMED["status"])
        if not isinstance(status, str):
            raise UnexpectedResponse("Integra sent a status answer without a status.")
        word, state = _STATUS_BY_LOWER.get(status.lower(), (status, PaymentState.UNKNOWN))
        currency = body.get(ASSUMED["currency"])
        currency = currency if isinstance(currency, str) else self._currency
        amount = read_decimal_amount(body.get(ASSUMED["amount"]), currency)
        return PaymentResult(
            provider_ref=provider_ref,
            state=state,
            raw_status=word,
            # capture and refund take the paymentId itself
            transaction_ref=provider_ref
            if state in (PaymentState.AUTHORIZED, PaymentState.APPROVED)
            else None,
            amount_minor=amount,
            currency=currency if amount is not None else None,
            message=""
            if state is not PaymentState.UNKNOWN
            else f"MobilePay reported a status we do not know: {status!r}.",
            raw=body,
        )

    def _call(
        self,
        path: str,
        params: dict[str, str],
        *,
        moves_money: bool = False,
        with_token: bool = True,
    ) -> dict[str, Any]:
        """One GET with ``accessToken`` and ``bioCode`` in the query; the envelope's payload."""
        query = dict(params)
        if with_token:
            query["accessToken"] = self.account.secret("access_token")
        query["bioCode"] = self.account.secret("bio_code")
        with transport_errors(f"GET /{path}", moves_money=moves_money):
            response = self.client.get(path, params=query, headers={"Accept": "application/json"})
        self._raise_for_response(response, moves_money=moves_money)
        return self._json_object(response)

    def _raise_for_response(self, response: httpx.Response, *, moves_money: bool) -> None:
        """Integra's ``{"success": false, "errors": […]}`` envelope (any HTTP status) and
        HTTP failures -> the error taxonomy."""
        body = json_or_none(response)
        envelope = body if isinstance(body, dict) else {}
        if response.is_success and envelope.get("success") is not False:
            return
        status = response.status_code
        errors = envelope.get("errors")
        texts = [str(item) for item in errors if item] if isinstance(errors, list) else []
        text = self._scrub("; ".join(texts)) or response.reason_phrase or f"HTTP {status}"
        lowered = text.lower()
        codes = {"http_status": status}
        # 429 and 5xx decide before the error texts do.
        raise_for_transient_status(response, self.api_name, text, moves_money=moves_money)
        if status in (401, 403) or _mentions(lowered, "auth"):
            raise AuthError(f"Integra refused the access token or bioCode: {text}", **codes)
        if _mentions(lowered, "busy"):
            raise TerminalBusy(
                "The terminal already has an active MobilePay payment. Wait until it finishes "
                f"or cancel it, then try again ({text}).",
                **codes,
            )
        if _mentions(lowered, "offline"):
            raise TerminalOffline(f"The MobilePay PoS is offline ({text}).", **codes)
        if _mentions(lowered, "battery"):
            raise BatteryLow(f"The MobilePay PoS beacon's battery is too low ({text}).", **codes)
        if status == 404 or _mentions(lowered, "not_found"):
            raise NotFound(f"Integra could not find it: {text}", **codes)
        raise_for_common_status(response, self.api_name, text, moves_money=moves_money)


def _mentions(lowered_text: str, kind: str) -> bool:
    return any(phrase in lowered_text for phrase in ERROR_PHRASES[kind])


def _started(
    payment_id: str,
    raw_status: str,
    amount_minor: int | None,
    currency: str | None,
    body: dict[str, Any],
) -> PaymentResult:
    return PaymentResult(
        provider_ref=payment_id,
        state=PaymentState.PENDING,
        raw_status=raw_status,
        amount_minor=amount_minor,
        currency=currency,
        raw=body,
    )


def _with_amount(result: PaymentResult, amount_minor: int, currency: str) -> PaymentResult:
    return replace(result, amount_minor=amount_minor, currency=currency)


def _payment_id(body: dict[str, Any]) -> str:
    payment_id = body.get("paymentId")
    if not isinstance(payment_id, str) or not payment_id:
        # The start was accepted, so a payment may exist: look it up before any retry.
        raise OutcomeUnknown("Integra accepted the payment but sent no paymentId.")
    return payment_id


def _new_token(body: dict[str, Any]) -> str:
    token = body.get(ASSUMED["token"])
    if not isinstance(token, str) or not token.strip():
        raise UnexpectedResponse("Integra sent no access token.")
    return token.strip()


def _ids(body: dict[str, Any], name: str) -> list[str]:
    ids = body.get(name)
    if ids is None:
        return []
    if not isinstance(ids, list):
        raise UnexpectedResponse(f"Integra sent {name} that is not a list.")
    return [str(item) for item in ids if item]

"""KOMOJU adapter at the wire: Basic auth, sessions pushed to a terminal, idempotency,
status words, receipts, errors and signed webhooks, as komoju.md and seed 003 show them."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging

import httpx
import pytest

from providers.base import AccountConfig, PaymentKind, PaymentState, RefundRequest, StartRequest
from providers.errors import (
    AuthError,
    InvalidRequest,
    InvalidSignature,
    NotAbortable,
    NotFound,
    OutcomeUnknown,
    ProviderUnavailable,
    RateLimited,
    TerminalBusy,
    TerminalOffline,
    UnsupportedOperation,
)
from providers.komoju import KomojuProvider, receipt_from_payment
from tests.providers.accounts import IDEMPOTENCY_KEY, fixed_clock

KOMOJU_BASE = "https://sandbox.test/sandbox/komoju/api/v1"
SECRET_KEY = "sk_test_3b5f0c9a7e21d4c8"
WEBHOOK_SECRET = "komoju-whsec-9d2e7a41"
# Basic base64("sk_test_3b5f0c9a7e21d4c8:"): the secret key as user, an empty password.
DOCUMENTED_AUTHORIZATION = "Basic c2tfdGVzdF8zYjVmMGM5YTdlMjFkNGM4Og=="

TERMINAL_ID = "tm_0f3c9a2b"
SESSION_ID = "6k4xs4rah6k8bt4ebnufqwhcb"
PAYMENT_ID = "28e3dhxc8gdr3zdnsdzea17qf"

SESSIONS_URL = f"{KOMOJU_BASE}/sessions"
SESSION_URL = f"{SESSIONS_URL}/{SESSION_ID}"
PUSH_URL = f"{KOMOJU_BASE}/terminals/{TERMINAL_ID}/sessions/{SESSION_ID}/push"
CANCEL_URL = f"{KOMOJU_BASE}/terminals/{TERMINAL_ID}/sessions/{SESSION_ID}/cancel"
PRINT_URL = f"{KOMOJU_BASE}/terminals/{TERMINAL_ID}/sessions/{SESSION_ID}/print"
TERMINAL_URL = f"{KOMOJU_BASE}/pos_terminals/{TERMINAL_ID}"

# The seed's session answer, with our metadata echoed back.
SESSION = {
    "id": SESSION_ID,
    "resource": "session",
    "mode": "payment",
    "amount": 1000,
    "currency": "JPY",
    "session_url": f"https://komoju.com/sessions/{SESSION_ID}",
    "return_url": None,
    "default_locale": "ja",
    "payment_methods": [
        {
            "type": "credit_card_terminal",
            "amount": 1000,
            "currency": "JPY",
            "exchange_rate": 1.0,
            "hashed_gateway": "e6212ad60e88dbd0",
        }
    ],
    "created_at": "2023-12-12T11:55:46.000+09:00",
    "cancelled_at": None,
    "completed_at": None,
    "status": "pending",
    "expired": False,
    "metadata": {"terminal_id": TERMINAL_ID, "order_reference": "12345678"},
    "payment": None,
    "secure_token": None,
    "payment_data": {"external_order_num": "12345678", "capture": "auto"},
}

# The seed's webhook payment (data of a payment.updated event).
PAYMENT = {
    "id": PAYMENT_ID,
    "resource": "payment",
    "status": "captured",
    "amount": 1000,
    "tax": 0,
    "customer": None,
    "payment_deadline": "2023-12-14T14:59:59Z",
    "payment_details": {
        "type": "credit_card_terminal",
        "email": None,
        "brand": "visa",
        "last_four_digits": "0010",
        "month": 11,
        "year": 2024,
    },
    "payment_method_fee": 0,
    "total": 1000,
    "currency": "JPY",
    "description": None,
    "captured_at": "2023-12-12T03:07:29Z",
    "external_order_num": "12345678",
    "metadata": {
        "action": "sale",
        "aid": "A0000000031010",
        "application_label": "VISA CREDIT",
        "arc": "00",
        "atc": "02D4",
        "cardholderName": "VISA CREDIT/CARDHOLDER",
        "cardholderVerification": "",
        "cryptogramType": "ARQC",
        "cryptogramValue": "12067CDEAEC09F26",
        "method": "CL",
        "origin": "terminal",
        "terminalSeqCounter": "00000002",
        "tsi": "0000",
        "tvr": "0000000000",
    },
    "created_at": "2023-12-12T03:07:28Z",
    "amount_refunded": 0,
    "locale": "ja",
    "session": SESSION_ID,
    "customer_family_name": None,
    "customer_given_name": None,
    "mcc": None,
    "statement_descriptor": None,
    "refunds": [],
    "refund_requests": [],
}

SUCCESS = {"status": "success"}


@pytest.fixture
def komoju_account() -> AccountConfig:
    return AccountConfig(
        provider="komoju",
        environment="sandbox",
        base_url=KOMOJU_BASE,
        secrets={"secret_key": SECRET_KEY, "webhook_secret": WEBHOOK_SECRET},
        settings={"terminal_ids": [TERMINAL_ID, "tm_gone"]},
    )


@pytest.fixture
def komoju(router, komoju_account):
    provider = KomojuProvider(komoju_account, clock=fixed_clock)
    yield provider
    provider.close()


def sale(kind: PaymentKind = PaymentKind.SALE, **overrides) -> StartRequest:
    fields = {
        "kind": kind,
        "terminal_ref": TERMINAL_ID,
        "amount_minor": 1000,
        "currency": "JPY",
        "idempotency_key": IDEMPOTENCY_KEY,
        "reference": "12345678",
    }
    return StartRequest(**(fields | overrides))


def session(status: str = "pending", payment=None, **extra) -> dict:
    return {**SESSION, "status": status, "payment": payment, **extra}


def refusal(message: str, status: int = 422) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": "error", "message": message}})


def sent_json(call) -> dict:
    return json.loads(call.request.content)


# -- starting payments ------------------------------------------------------------


def test_sale_creates_a_terminal_session_then_pushes_it(komoju, router):
    create = router.post(SESSIONS_URL).respond(200, json=SESSION)
    push = router.post(PUSH_URL).respond(200, json=SUCCESS)

    result = komoju.start_payment(sale())

    request = create.calls.last.request
    assert request.headers["Authorization"] == DOCUMENTED_AUTHORIZATION
    assert request.headers["X-KOMOJU-IDEMPOTENCY"] == IDEMPOTENCY_KEY
    assert sent_json(create.calls.last) == {
        "mode": "payment",
        "amount": 1000,  # whole yen: JPY has no minor unit
        "currency": "JPY",
        "default_locale": "ja",
        "payment_types": ["credit_card_terminal"],
        "payment_data": {"capture": "auto", "external_order_num": "12345678"},
        "metadata": {"terminal_id": TERMINAL_ID, "order_reference": "12345678"},
    }
    assert push.calls.last.request.content == b""
    assert push.calls.last.request.headers["Authorization"] == DOCUMENTED_AUTHORIZATION
    assert (result.provider_ref, result.state, result.raw_status) == (
        SESSION_ID,
        PaymentState.PENDING,
        "pending",
    )
    assert (result.amount_minor, result.currency) == (1000, "JPY")


def test_auth_only_is_a_manual_capture_session(komoju, router):
    create = router.post(SESSIONS_URL).respond(200, json=SESSION)
    router.post(PUSH_URL).respond(200, json=SUCCESS)

    komoju.start_payment(sale(PaymentKind.AUTH, description="Deposit"))

    body = sent_json(create.calls.last)
    assert body["payment_data"]["capture"] == "manual"
    assert body["metadata"]["description"] == "Deposit"


def test_a_usd_amount_is_sent_in_cents(komoju, router):
    create = router.post(SESSIONS_URL).respond(200, json={**SESSION, "currency": "USD"})
    router.post(PUSH_URL).respond(200, json=SUCCESS)

    komoju.start_payment(sale(amount_minor=1999, currency="USD"))

    assert sent_json(create.calls.last)["amount"] == 1999


def test_card_present_refunds_are_not_offered(komoju, router):
    with pytest.raises(UnsupportedOperation):
        komoju.start_payment(sale(PaymentKind.REFUND))
    assert not router.calls


def test_a_lost_push_answer_is_recovered_with_the_same_session_not_a_second_one(komoju, router):
    create = router.post(SESSIONS_URL).respond(200, json=SESSION)  # KOMOJU replays the key
    push = router.post(PUSH_URL)
    push.side_effect = [httpx.ReadTimeout("answer lost"), httpx.Response(200, json=SUCCESS)]

    with pytest.raises(OutcomeUnknown):
        komoju.start_payment(sale())
    found = komoju.find_started_payment(sale())

    first, second = (call.request for call in create.calls)
    assert first.headers["X-KOMOJU-IDEMPOTENCY"] == second.headers["X-KOMOJU-IDEMPOTENCY"]
    assert first.content == second.content  # same key and same body: a replay
    assert [call.request.url for call in push.calls] == [httpx.URL(PUSH_URL)] * 2
    assert found is not None
    assert (found.provider_ref, found.state) == (SESSION_ID, PaymentState.PENDING)


def test_a_retry_that_finds_the_session_already_paid_reports_it_instead_of_an_error(komoju, router):
    router.post(SESSIONS_URL).respond(200, json=SESSION)
    router.post(PUSH_URL).mock(
        return_value=refusal("Session must be pending to be pushed to the device.")
    )
    router.get(SESSION_URL).respond(200, json=session("completed", PAYMENT))
    cancel = router.post(f"{SESSION_URL}/cancel")

    result = komoju.find_started_payment(sale())

    assert result.state is PaymentState.APPROVED
    assert result.transaction_ref == PAYMENT_ID
    assert not cancel.called


def test_a_lost_create_answer_is_outcome_unknown(komoju, router):
    router.post(SESSIONS_URL).mock(side_effect=httpx.RemoteProtocolError("server hung up"))

    with pytest.raises(OutcomeUnknown):
        komoju.start_payment(sale())


def test_a_create_still_in_flight_is_a_transient_unknown_outcome(komoju, router):
    router.post(SESSIONS_URL).mock(
        return_value=httpx.Response(
            409, json={"error": {"code": "conflict", "message": "Request in progress"}}
        )
    )

    with pytest.raises(OutcomeUnknown) as caught:
        komoju.start_payment(sale())
    assert not caught.value.permanent


def test_a_push_refused_because_the_terminal_is_busy_cancels_the_session(komoju, router):
    router.post(SESSIONS_URL).respond(200, json=SESSION)
    router.post(PUSH_URL).mock(return_value=refusal("Terminal is busy with another session."))
    router.get(SESSION_URL).respond(200, json=SESSION)
    cancel = router.post(f"{SESSION_URL}/cancel").respond(200, json=session("cancelled"))

    with pytest.raises(TerminalBusy) as caught:
        komoju.start_payment(sale())

    assert caught.value.permanent
    assert cancel.called  # the unpushed session can never be paid


def test_a_push_to_a_disabled_terminal_is_terminal_offline(komoju, router):
    router.post(SESSIONS_URL).respond(200, json=SESSION)
    router.post(PUSH_URL).mock(return_value=refusal("Could not push session to device."))
    router.get(SESSION_URL).respond(200, json=SESSION)
    router.post(f"{SESSION_URL}/cancel").respond(200, json=session("cancelled"))
    router.get(TERMINAL_URL).respond(200, json={"id": TERMINAL_ID, "enabled": False})

    with pytest.raises(TerminalOffline) as caught:
        komoju.start_payment(sale())

    assert "offline" in caught.value.message.lower()


def test_any_other_push_refusal_is_an_invalid_request_with_komojus_words(komoju, router):
    router.post(SESSIONS_URL).respond(200, json=SESSION)
    router.post(PUSH_URL).mock(return_value=refusal("Terminal not paired.", status=200))
    router.get(SESSION_URL).respond(200, json=SESSION)
    router.post(f"{SESSION_URL}/cancel").respond(200, json=session("cancelled"))
    router.get(TERMINAL_URL).respond(200, json={"id": TERMINAL_ID, "enabled": True})

    with pytest.raises(InvalidRequest, match="Terminal not paired"):
        komoju.start_payment(sale())


# -- status ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "session_body", "state", "raw_status"),
    [
        (PaymentKind.SALE, session("pending"), PaymentState.PENDING, "pending"),
        (
            PaymentKind.SALE,
            session("pending", expired=True),
            PaymentState.TIMED_OUT,
            "pending/expired",
        ),
        (PaymentKind.SALE, session("cancelled"), PaymentState.CANCELED, "cancelled"),
        (
            PaymentKind.SALE,
            session("completed", PAYMENT),
            PaymentState.APPROVED,
            "completed/captured",
        ),
        (
            PaymentKind.AUTH,
            session("completed", {**PAYMENT, "status": "authorized"}),
            PaymentState.AUTHORIZED,
            "completed/authorized",
        ),
        (
            PaymentKind.SALE,
            session("completed", {**PAYMENT, "status": "authorized"}),
            PaymentState.PENDING,
            "completed/authorized",
        ),
        (
            PaymentKind.SALE,
            session("completed", {**PAYMENT, "status": "failed"}),
            PaymentState.DECLINED,
            "completed/failed",
        ),
        (
            PaymentKind.SALE,
            session("completed", {**PAYMENT, "status": "expired"}),
            PaymentState.TIMED_OUT,
            "completed/expired",
        ),
        (
            PaymentKind.SALE,
            session("completed", {**PAYMENT, "status": "cancelled"}),
            PaymentState.CANCELED,
            "completed/cancelled",
        ),
        (
            PaymentKind.SALE,
            session("completed", {**PAYMENT, "status": "refunded"}),
            PaymentState.APPROVED,
            "completed/refunded",
        ),
        (
            PaymentKind.SALE,
            session("completed", {**PAYMENT, "status": "sparkling"}),
            PaymentState.UNKNOWN,
            "completed/sparkling",
        ),
        (PaymentKind.SALE, session("completed", None), PaymentState.PENDING, "completed"),
        (PaymentKind.SALE, session("hovering"), PaymentState.UNKNOWN, "hovering"),
    ],
)
def test_session_and_payment_status_words(komoju, router, kind, session_body, state, raw_status):
    router.get(SESSION_URL).respond(200, json=session_body)

    result = komoju.get_payment(SESSION_ID, kind=kind)

    assert (result.state, result.raw_status) == (state, raw_status)


def test_a_completed_session_carries_card_and_receipt_data(komoju, router):
    router.get(SESSION_URL).respond(200, json=session("completed", PAYMENT))

    result = komoju.get_payment(SESSION_ID, kind=PaymentKind.SALE)

    assert result.provider_ref == SESSION_ID
    assert result.transaction_ref == PAYMENT_ID
    assert (result.amount_minor, result.currency) == (1000, "JPY")
    assert (result.card_brand, result.card_last4) == ("visa", "0010")
    assert result.raw["receipt"] == {
        "brand": "visa",
        "last4": "0010",
        "aid": "A0000000031010",
        "application_label": "VISA CREDIT",
        "entry_method": "CL",
        "cryptogram_type": "ARQC",
        "atc": "02D4",
        "terminal_sequence": "00000002",
        "captured_at": "2023-12-12T03:07:29Z",
    }
    assert "VISA CREDIT/CARDHOLDER" not in json.dumps(result.raw["receipt"])


def test_a_session_naming_its_payment_by_id_is_followed_to_the_payment(komoju, router):
    router.get(SESSION_URL).respond(200, json=session("completed", PAYMENT_ID))
    router.get(f"{KOMOJU_BASE}/payments/{PAYMENT_ID}").respond(200, json=PAYMENT)

    assert komoju.get_payment(SESSION_ID, kind=PaymentKind.SALE).state is PaymentState.APPROVED


# -- abort, print ----------------------------------------------------------------------


def test_abort_cancels_the_session_on_the_terminal_it_was_pushed_to(komoju, router):
    router.get(SESSION_URL).respond(200, json=SESSION)
    cancel = router.post(CANCEL_URL).respond(200, json=SUCCESS)

    komoju.abort_payment(SESSION_ID, kind=PaymentKind.SALE)

    assert cancel.called
    assert cancel.calls.last.request.headers["Authorization"] == DOCUMENTED_AUTHORIZATION


def test_abort_of_a_completed_session_is_not_abortable(komoju, router):
    router.get(SESSION_URL).respond(200, json=session("completed", PAYMENT))
    cancel = router.post(CANCEL_URL)

    with pytest.raises(NotAbortable, match="refund"):
        komoju.abort_payment(SESSION_ID, kind=PaymentKind.SALE)
    assert not cancel.called


def test_abort_of_an_uncaptured_authorisation_voids_the_payment(komoju, router):
    router.get(SESSION_URL).respond(
        200, json=session("completed", {**PAYMENT, "status": "authorized"})
    )
    void = router.post(f"{KOMOJU_BASE}/payments/{PAYMENT_ID}/cancel").respond(
        200, json={**PAYMENT, "status": "cancelled"}
    )
    terminal_cancel = router.post(CANCEL_URL)

    komoju.abort_payment(SESSION_ID, kind=PaymentKind.AUTH)

    assert void.called
    assert not terminal_cancel.called


def test_a_cancel_refused_because_the_customer_just_paid_is_not_abortable(komoju, router):
    router.get(SESSION_URL).mock(
        side_effect=[
            httpx.Response(200, json=SESSION),
            httpx.Response(200, json=session("completed", PAYMENT)),
        ]
    )
    router.post(CANCEL_URL).mock(return_value=refusal("Could not cancel session."))
    generic_cancel = router.post(f"{SESSION_URL}/cancel")

    with pytest.raises(NotAbortable, match="already completed it on the terminal"):
        komoju.abort_payment(SESSION_ID, kind=PaymentKind.SALE)
    assert not generic_cancel.called


def test_abort_of_a_session_never_pushed_to_the_terminal_cancels_it_at_komoju(komoju, router):
    # The terminal has nothing to cancel (its push was refused or lost), yet the session is payable.
    router.get(SESSION_URL).respond(200, json=SESSION)
    terminal_cancel = router.post(CANCEL_URL).mock(
        return_value=refusal("Could not cancel session.")
    )
    generic_cancel = router.post(f"{SESSION_URL}/cancel").respond(200, json=session("cancelled"))

    komoju.abort_payment(SESSION_ID, kind=PaymentKind.SALE)  # aborted: it can never be paid now

    assert terminal_cancel.call_count == 1 and generic_cancel.call_count == 1


def test_a_never_pushed_session_komoju_will_not_cancel_says_it_never_reached_the_terminal(
    komoju, router
):
    router.get(SESSION_URL).respond(200, json=SESSION)
    router.post(CANCEL_URL).mock(return_value=refusal("Could not cancel session."))
    router.post(f"{SESSION_URL}/cancel").mock(
        return_value=refusal("Session cannot be cancelled in its current state.")
    )

    with pytest.raises(NotAbortable) as caught:
        komoju.abort_payment(SESSION_ID, kind=PaymentKind.SALE)

    assert "never pushed to the terminal" in caught.value.message
    assert "probably finished" not in caught.value.message


def test_a_lost_answer_to_the_terminal_cancel_is_outcome_unknown(komoju, router):
    router.get(SESSION_URL).respond(200, json=SESSION)
    router.post(CANCEL_URL).mock(side_effect=httpx.ReadTimeout("answer lost"))

    with pytest.raises(OutcomeUnknown):
        komoju.abort_payment(SESSION_ID, kind=PaymentKind.SALE)


def test_abort_of_a_cancelled_session_is_already_done(komoju, router):
    router.get(SESSION_URL).respond(200, json=session("cancelled"))
    cancel = router.post(CANCEL_URL)

    komoju.abort_payment(SESSION_ID, kind=PaymentKind.SALE)

    assert not cancel.called


def test_print_receipt_asks_the_terminal_to_print_the_completed_session(komoju, router):
    route = router.post(PRINT_URL).respond(200, json=SUCCESS)

    komoju.print_receipt(SESSION_ID, TERMINAL_ID)

    assert route.called
    assert KomojuProvider.can_print_receipt


def test_a_refused_print_says_so(komoju, router):
    router.post(PRINT_URL).mock(return_value=refusal("Could not print session on device."))

    with pytest.raises(InvalidRequest, match="could not print the receipt"):
        komoju.print_receipt(SESSION_ID, TERMINAL_ID)


# -- capture and refund ----------------------------------------------------------------


def test_capture_posts_to_the_payment_with_an_idempotency_key(komoju, router):
    route = router.post(f"{KOMOJU_BASE}/payments/{PAYMENT_ID}/capture").respond(
        200, json={**PAYMENT, "amount": 800}
    )

    result = komoju.capture(
        PAYMENT_ID, idempotency_key=IDEMPOTENCY_KEY, amount_minor=800, currency="JPY"
    )

    assert sent_json(route.calls.last) == {"amount": 800}
    assert route.calls.last.request.headers["X-KOMOJU-IDEMPOTENCY"] == IDEMPOTENCY_KEY
    assert (result.state, result.transaction_ref, result.amount_minor) == (
        PaymentState.APPROVED,
        PAYMENT_ID,
        800,
    )


def test_refund_posts_amount_and_description_and_reads_the_new_refund(komoju, router):
    refunded = {
        **PAYMENT,
        "status": "refunded",
        "amount_refunded": 1000,
        "refunds": [
            {
                "id": "rf_7d0a1c",
                "resource": "refund",
                "amount": 1000,
                "currency": "JPY",
                "payment": PAYMENT_ID,
                "description": "Returned",
            }
        ],
    }
    route = router.post(f"{KOMOJU_BASE}/payments/{PAYMENT_ID}/refund").respond(200, json=refunded)

    result = komoju.refund(
        RefundRequest(PAYMENT_ID, 1000, "JPY", IDEMPOTENCY_KEY, "R-12345678", "Returned")
    )

    assert sent_json(route.calls.last) == {"amount": 1000, "description": "Returned"}
    assert route.calls.last.request.headers["X-KOMOJU-IDEMPOTENCY"] == IDEMPOTENCY_KEY
    assert (result.provider_ref, result.state) == ("rf_7d0a1c", PaymentState.APPROVED)


def test_a_refund_answer_without_the_refund_is_outcome_unknown(komoju, router):
    router.post(f"{KOMOJU_BASE}/payments/{PAYMENT_ID}/refund").respond(200, json=PAYMENT)

    with pytest.raises(OutcomeUnknown):
        komoju.refund(RefundRequest(PAYMENT_ID, 500, "JPY", IDEMPOTENCY_KEY, "R-1"))


# -- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (400, "bad_request", InvalidRequest),
        (401, "unauthorized", AuthError),
        (403, "forbidden", AuthError),
        (404, "not_found", NotFound),
        (422, "missing_parameter", InvalidRequest),
        (429, "too_many_requests", RateLimited),
        (500, "internal_server_error", ProviderUnavailable),
        (503, "service_unavailable", ProviderUnavailable),
    ],
)
def test_error_objects_map_to_the_taxonomy(komoju, router, status, code, error):
    router.get(SESSION_URL).mock(
        return_value=httpx.Response(
            status, json={"error": {"code": code, "message": "Nope", "param": None}}
        )
    )

    with pytest.raises(error) as caught:
        komoju.get_payment(SESSION_ID, kind=PaymentKind.SALE)

    assert type(caught.value) is error
    assert (caught.value.provider_code, caught.value.http_status) == (code, status)


@pytest.mark.parametrize(("status", "error"), [(500, OutcomeUnknown), (503, ProviderUnavailable)])
def test_a_server_error_on_create_may_have_moved_money(komoju, router, status, error):
    router.post(SESSIONS_URL).respond(status)

    with pytest.raises(error):
        komoju.start_payment(sale())


def test_a_missing_parameter_is_named(komoju, router):
    router.post(SESSIONS_URL).respond(
        422,
        json={
            "error": {
                "code": "missing_parameter",
                "message": "A required parameter is missing",
                "param": "currency",
            }
        },
    )

    with pytest.raises(InvalidRequest, match=r"missing \(currency\)"):
        komoju.start_payment(sale())


# -- terminals ---------------------------------------------------------------------------


def test_the_enabled_flag_is_the_terminals_availability(komoju, router):
    route = router.get(TERMINAL_URL).respond(
        200, json={"id": TERMINAL_ID, "enabled": True, "name": "Front desk"}
    )

    terminal = komoju.get_terminal(TERMINAL_ID)

    assert route.calls.last.request.headers["Authorization"] == DOCUMENTED_AUTHORIZATION
    assert (terminal.ref, terminal.name, terminal.online, terminal.status_text) == (
        TERMINAL_ID,
        "Front desk",
        True,
        "enabled",
    )


def test_terminals_are_the_configured_ids_and_unknown_ones_are_left_out(komoju, router):
    router.get(TERMINAL_URL).respond(200, json={"id": TERMINAL_ID, "enabled": False})
    router.get(f"{KOMOJU_BASE}/pos_terminals/tm_gone").respond(
        404, json={"error": {"code": "not_found", "message": "Not found"}}
    )

    terminals = komoju.list_terminals()

    assert [(t.ref, t.name, t.online) for t in terminals] == [(TERMINAL_ID, TERMINAL_ID, False)]


def test_terminal_ids_may_be_a_comma_separated_setting(router, komoju_account):
    account = AccountConfig(
        "komoju",
        "sandbox",
        KOMOJU_BASE,
        secrets=komoju_account.secrets,
        settings={"terminal_ids": f" {TERMINAL_ID} , "},
    )
    router.get(TERMINAL_URL).respond(200, json={"id": TERMINAL_ID, "enabled": True})

    with KomojuProvider(account, clock=fixed_clock) as provider:
        assert [t.ref for t in provider.list_terminals()] == [TERMINAL_ID]


def test_komoju_capabilities(komoju):
    caps = komoju.capabilities
    assert (caps.can_rename, caps.can_abort, caps.needs_capture, caps.has_webhooks) == (
        False,
        True,
        True,
        True,
    )
    assert (caps.refund_mode, caps.has_idempotency_key, caps.status_channel) == (
        "referenced",
        True,
        "poll",
    )
    with pytest.raises(UnsupportedOperation):
        komoju.rename_terminal(TERMINAL_ID, name="Front desk")


# -- webhooks ----------------------------------------------------------------------------

WEBHOOK_BODY = json.dumps(
    {
        "id": "4jo7t14vumnhu5cmretrugxiw",
        "type": "payment.updated",
        "resource": "event",
        "data": PAYMENT,
        "created_at": "2023-12-12T03:07:30Z",
        "reason": None,
    }
).encode()


def sign(body: bytes, secret: str = WEBHOOK_SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def delivery(body: bytes = WEBHOOK_BODY, **overrides) -> dict[str, str]:
    headers = {
        "X-Komoju-Signature": sign(body),
        "X-Komoju-ID": "4jo7t14vumnhu5cmretrugxiw",
        "X-Komoju-Event": "payment.updated",
    }
    return {name: value for name, value in (headers | overrides).items() if value is not None}


def test_a_signed_webhook_is_verified_and_names_the_session(komoju):
    event = komoju.verify_webhook(delivery(), WEBHOOK_BODY)

    assert event.event_id == "4jo7t14vumnhu5cmretrugxiw"
    assert event.event_type == "payment.updated"
    assert event.payment_ref == SESSION_ID  # what get_payment takes
    assert event.order_reference == "12345678"
    assert receipt_from_payment(event.raw["data"])["aid"] == "A0000000031010"


def test_the_same_event_delivered_twice_has_the_same_event_id(komoju):
    first = komoju.verify_webhook(delivery(), WEBHOOK_BODY)
    again = komoju.verify_webhook(
        {name.lower(): value for name, value in delivery().items()}, WEBHOOK_BODY
    )

    assert first.event_id == again.event_id


def test_the_event_id_falls_back_to_the_payload_id(komoju):
    event = komoju.verify_webhook(delivery(**{"X-Komoju-ID": None}), WEBHOOK_BODY)

    assert event.event_id == "4jo7t14vumnhu5cmretrugxiw"


@pytest.mark.parametrize(
    "signature",
    [None, "", sign(WEBHOOK_BODY, "wrong-secret"), sign(WEBHOOK_BODY + b" "), "é" * 64],
)
def test_a_forged_or_unsigned_webhook_is_refused(komoju, signature):
    with pytest.raises(InvalidSignature):
        komoju.verify_webhook(delivery(**{"X-Komoju-Signature": signature}), WEBHOOK_BODY)


def test_a_tampered_body_is_refused(komoju):
    tampered = WEBHOOK_BODY.replace(b"captured", b"cancelled")

    with pytest.raises(InvalidSignature):
        komoju.verify_webhook(delivery(), tampered)


def test_an_uppercase_hex_signature_is_accepted(komoju):
    headers = delivery(**{"X-Komoju-Signature": sign(WEBHOOK_BODY).upper()})

    assert komoju.verify_webhook(headers, WEBHOOK_BODY).event_id


# -- redaction ---------------------------------------------------------------------------


def test_no_secret_reaches_a_log_record(router, komoju_account, caplog):
    caplog.set_level(logging.DEBUG)
    router.post(SESSIONS_URL).respond(200, json=SESSION)
    router.post(PUSH_URL).respond(200, json=SUCCESS)
    router.get(SESSION_URL).respond(
        401, json={"error": {"code": "unauthorized", "message": f"Bad key {SECRET_KEY}"}}
    )

    with KomojuProvider(komoju_account, clock=fixed_clock) as provider:
        provider.start_payment(sale())
        with pytest.raises(AuthError) as caught:
            provider.get_payment(SESSION_ID, kind=PaymentKind.SALE)
        with pytest.raises(InvalidSignature):
            provider.verify_webhook({"X-Komoju-Signature": "00"}, WEBHOOK_BODY)
        text = repr(provider)

    logged = "\n".join(f"{r.getMessage()} {r.__dict__!r}" for r in caplog.records)
    assert f"POST {SESSIONS_URL} -> 200" in logged
    for secret in (SECRET_KEY, WEBHOOK_SECRET, DOCUMENTED_AUTHORIZATION.split()[1]):
        assert secret not in logged
        assert secret not in caught.value.message
        assert secret not in text

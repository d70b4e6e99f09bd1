"""Klearly adapter at the wire. Klearly documents no wire format: these tests pin OUR
assumed one (the WIRE block of providers/klearly.py), which the sandbox emulator follows."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from datetime import timedelta

import httpx
import pytest

from providers.base import (
    AccountConfig,
    MemoryTokenStore,
    PaymentKind,
    PaymentState,
    RefundRequest,
    StartRequest,
    Token,
)
from providers.errors import (
    AuthError,
    BatteryLow,
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
from providers.klearly import STATUS_WORDS, WIRE, KlearlyProvider, OriginalTerminalOffline
from tests.providers.accounts import IDEMPOTENCY_KEY, NOW, fixed_clock

KLEARLY_BASE = "https://sandbox.test/sandbox/klearly/v1"
PARTNER_ID = "partner-7f3a"
PARTNER_SECRET = "partner-secret-c41d9e0b"
WEBHOOK_SECRET = "klearly-whsec-20b7"
MERCHANT_ID = "mer_4411"
CACHED_TOKEN = "klearly-merchant-token-cached-91ab"
FRESH_TOKEN = "klearly-merchant-token-fresh-77cd"

DEVICE_ID = "dev_a1b2c3"
OTHER_DEVICE = "dev_z9y8x7"
PAYMENT_ID = "pay_5f2e9d"
REFUND_ID = "pay_r_0c1d"
TOKEN_ANSWER = {"token": FRESH_TOKEN, "expiresIn": 3600}

TOKEN_URL = f"{KLEARLY_BASE}/partner/merchant-token"
TERMINALS_URL = f"{KLEARLY_BASE}/terminals"
PAYMENTS_URL = f"{KLEARLY_BASE}/payments"
PAYMENT_URL = f"{PAYMENTS_URL}/{PAYMENT_ID}"
ABORT_URL = f"{PAYMENT_URL}/abort"

TERMINAL = {
    "id": DEVICE_ID,
    "name": "Bar 1",
    "model": "PAX A920",
    "serialNumber": "0820123456",
    "status": "active",
}


def payment(status: str = "pending", **extra) -> dict:
    return {
        "id": PAYMENT_ID,
        "deviceId": DEVICE_ID,
        "type": "sale",
        "status": status,
        "amount": 1250,
        "currency": "EUR",
        "metadata": {"storeId": "store-9", "posPaymentId": "ORDER-42", "posMerchantId": "m-17"},
        **extra,
    }


def error(status: int, code: str, message: str = "Refused", **extra) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": message, **extra}})


@pytest.fixture
def klearly_account() -> AccountConfig:
    return AccountConfig(
        provider="klearly",
        environment="sandbox",
        base_url=KLEARLY_BASE,
        secrets={
            "partner_id": PARTNER_ID,
            "partner_secret": PARTNER_SECRET,
            "webhook_secret": WEBHOOK_SECRET,
        },
        settings={"merchant_id": MERCHANT_ID, "store_id": "store-9", "pos_merchant_id": "m-17"},
    )


@pytest.fixture
def klearly_tokens() -> MemoryTokenStore:
    return MemoryTokenStore(Token(CACHED_TOKEN, NOW + timedelta(hours=1)))


@pytest.fixture
def klearly(router, klearly_account, klearly_tokens):
    provider = KlearlyProvider(klearly_account, token_store=klearly_tokens, clock=fixed_clock)
    yield provider
    provider.close()


def sale(kind: PaymentKind = PaymentKind.SALE, **overrides) -> StartRequest:
    fields = {
        "kind": kind,
        "terminal_ref": DEVICE_ID,
        "amount_minor": 1250,
        "currency": "EUR",
        "idempotency_key": IDEMPOTENCY_KEY,
        "reference": "ORDER-42",
        "description": "Table 7",
    }
    return StartRequest(**(fields | overrides))


def refund_request(**overrides) -> RefundRequest:
    fields = {
        "original_transaction_ref": PAYMENT_ID,
        "amount_minor": 1250,
        "currency": "EUR",
        "idempotency_key": IDEMPOTENCY_KEY,
        "reference": "R-ORDER-42",
    }
    return RefundRequest(**(fields | overrides))


def sent_json(call) -> dict:
    return json.loads(call.request.content)


# -- the assumed wire block ------------------------------------------------------------


def test_every_assumed_name_lives_in_the_one_wire_block():
    assert WIRE["idempotency.header"] == "Idempotency-Key"  # the one name the seed gives
    assert WIRE["refund.query.transaction"] == "transactionId"  # the seed's query parameter
    assert WIRE["webhook.signature_header"] == "X-Klearly-Signature"
    assert set(STATUS_WORDS) == {
        "pending",
        "succeeded",
        "failed",
        "cancelled",
        "aborted",
        "expired",
    }


# -- merchant token ------------------------------------------------------------------------


def test_the_merchant_token_comes_from_partner_credentials_and_is_reused(router, klearly_account):
    token_route = router.post(TOKEN_URL).respond(200, json=TOKEN_ANSWER)
    terminals = router.get(TERMINALS_URL).respond(200, json={"data": [TERMINAL]})
    store = MemoryTokenStore()

    with KlearlyProvider(klearly_account, token_store=store, clock=fixed_clock) as provider:
        provider.list_terminals()
        provider.list_terminals()

    request = token_route.calls.last.request
    partner = base64.b64encode(f"{PARTNER_ID}:{PARTNER_SECRET}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {partner}"
    assert sent_json(token_route.calls.last) == {"merchantId": MERCHANT_ID}
    assert token_route.call_count == 1
    bearers = {call.request.headers["Authorization"] for call in terminals.calls}
    assert bearers == {f"Bearer {FRESH_TOKEN}"}
    assert store.load().expires_at == NOW + timedelta(seconds=3600)


def test_the_token_is_refreshed_two_minutes_before_it_expires(router, klearly_account):
    token_route = router.post(TOKEN_URL).respond(200, json=TOKEN_ANSWER)
    router.get(TERMINALS_URL).respond(200, json={"data": []})
    store = MemoryTokenStore(Token(CACHED_TOKEN, NOW + timedelta(seconds=119)))

    with KlearlyProvider(klearly_account, token_store=store, clock=fixed_clock) as provider:
        provider.list_terminals()

    assert token_route.call_count == 1
    assert store.load().access_token == FRESH_TOKEN


def test_a_401_fetches_a_new_token_once_and_retries_with_the_same_key(klearly, router):
    router.post(TOKEN_URL).respond(200, json={"token": FRESH_TOKEN, "expiresIn": 3600})
    start = router.post(PAYMENTS_URL)
    start.side_effect = [error(401, "token_expired"), httpx.Response(201, json=payment())]

    klearly.start_payment(sale())

    first, second = (call.request for call in start.calls)
    assert first.headers["Authorization"] == f"Bearer {CACHED_TOKEN}"
    assert second.headers["Authorization"] == f"Bearer {FRESH_TOKEN}"
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"] == IDEMPOTENCY_KEY


def test_a_second_401_is_an_auth_error(klearly, router):
    router.post(TOKEN_URL).respond(200, json={"token": FRESH_TOKEN, "expiresIn": 3600})
    router.get(TERMINALS_URL).mock(return_value=error(401, "unauthorized"))

    with pytest.raises(AuthError):
        klearly.list_terminals()


def test_refused_partner_credentials_are_an_auth_error(router, klearly_account):
    router.post(TOKEN_URL).mock(return_value=error(401, "invalid_partner"))

    with KlearlyProvider(klearly_account, clock=fixed_clock) as provider:
        with pytest.raises(AuthError) as caught:
            provider.obtain_token()
    assert PARTNER_SECRET not in caught.value.message


# -- terminals ------------------------------------------------------------------------------


def test_listed_terminals_are_the_connected_ones(klearly, router):
    route = router.get(TERMINALS_URL).respond(
        200, json={"data": [TERMINAL, {"id": OTHER_DEVICE, "name": "Terrace"}]}
    )

    terminals = klearly.list_terminals()

    assert route.calls.last.request.headers["Authorization"] == f"Bearer {CACHED_TOKEN}"
    assert [(t.ref, t.name, t.model, t.serial, t.online) for t in terminals] == [
        (DEVICE_ID, "Bar 1", "PAX A920", "0820123456", True),
        (OTHER_DEVICE, "Terrace", "", "", True),
    ]


def test_one_terminal_is_online_only_while_active(klearly, router):
    router.get(f"{TERMINALS_URL}/{OTHER_DEVICE}").respond(
        200, json={"id": OTHER_DEVICE, "name": "Terrace", "status": "inactive"}
    )

    terminal = klearly.get_terminal(OTHER_DEVICE)

    assert (terminal.online, terminal.status_text) == (False, "inactive")


def test_terminals_are_renamed_only_in_klearlys_hub(klearly):
    assert not klearly.capabilities.can_rename
    with pytest.raises(UnsupportedOperation):
        klearly.rename_terminal(DEVICE_ID, name="Bar 2")


# -- sales -------------------------------------------------------------------------------------


def test_a_sale_goes_to_the_device_with_the_recommended_metadata_and_a_key(klearly, router):
    route = router.post(PAYMENTS_URL).respond(201, json=payment())

    result = klearly.start_payment(sale())

    request = route.calls.last.request
    assert request.headers["Idempotency-Key"] == IDEMPOTENCY_KEY
    assert request.headers["Authorization"] == f"Bearer {CACHED_TOKEN}"
    assert not request.url.params
    assert sent_json(route.calls.last) == {
        "deviceId": DEVICE_ID,
        "type": "sale",
        "amount": 1250,
        "currency": "EUR",
        "description": "Table 7",
        "metadata": {"storeId": "store-9", "posPaymentId": "ORDER-42", "posMerchantId": "m-17"},
    }
    assert (result.provider_ref, result.state, result.raw_status) == (
        PAYMENT_ID,
        PaymentState.PENDING,
        "pending",
    )
    assert result.transaction_ref is None
    assert (result.amount_minor, result.currency) == (1250, "EUR")


def test_the_pos_merchant_id_defaults_to_the_klearly_merchant(router, klearly_tokens):
    account = AccountConfig(
        "klearly",
        "sandbox",
        KLEARLY_BASE,
        secrets={"partner_id": PARTNER_ID, "partner_secret": PARTNER_SECRET},
        settings={"merchant_id": MERCHANT_ID},
    )
    route = router.post(PAYMENTS_URL).respond(201, json=payment())

    with KlearlyProvider(account, token_store=klearly_tokens, clock=fixed_clock) as provider:
        provider.start_payment(sale(description=""))

    body = sent_json(route.calls.last)
    assert body["metadata"] == {"posPaymentId": "ORDER-42", "posMerchantId": MERCHANT_ID}
    assert "description" not in body


@pytest.mark.parametrize("kind", [PaymentKind.AUTH, PaymentKind.REFUND])
def test_only_sales_are_started_on_the_terminal(klearly, router, kind):
    with pytest.raises(UnsupportedOperation):
        klearly.start_payment(sale(kind))
    assert not router.calls


def test_a_lost_answer_is_outcome_unknown_and_the_lookup_resends_the_same_key(klearly, router):
    route = router.post(PAYMENTS_URL)
    route.side_effect = [httpx.ReadTimeout("lost"), httpx.Response(201, json=payment())]

    with pytest.raises(OutcomeUnknown):
        klearly.start_payment(sale())
    found = klearly.find_started_payment(sale())

    first, second = (call.request for call in route.calls)
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"] == IDEMPOTENCY_KEY
    assert first.content == second.content
    assert found is not None and found.provider_ref == PAYMENT_ID


def test_find_started_payment_reports_any_failure_as_outcome_unknown(klearly, router):
    router.post(PAYMENTS_URL).mock(return_value=error(400, "invalid_amount"))

    with pytest.raises(OutcomeUnknown):
        klearly.find_started_payment(sale())


# -- status -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "state"),
    [
        ("pending", PaymentState.PENDING),
        ("succeeded", PaymentState.APPROVED),
        ("failed", PaymentState.DECLINED),
        ("cancelled", PaymentState.CANCELED),
        ("aborted", PaymentState.CANCELED),
        ("expired", PaymentState.TIMED_OUT),
        ("beamed_up", PaymentState.UNKNOWN),
    ],
)
def test_status_words(klearly, router, word, state):
    router.get(PAYMENT_URL).respond(200, json=payment(word))

    result = klearly.get_payment(PAYMENT_ID, kind=PaymentKind.SALE)

    assert (result.state, result.raw_status) == (state, word)


def test_a_succeeded_payment_carries_card_details_and_its_transaction_id(klearly, router):
    router.get(PAYMENT_URL).respond(
        200,
        json=payment(
            "succeeded", card={"brand": "mastercard", "last4": "4444"}, authorizationCode="A1B2C3"
        ),
    )

    result = klearly.get_payment(PAYMENT_ID, kind=PaymentKind.SALE)

    assert result.transaction_ref == PAYMENT_ID  # what a refund's transactionId names
    assert (result.card_brand, result.card_last4, result.auth_code) == (
        "mastercard",
        "4444",
        "A1B2C3",
    )


def test_a_failed_payment_says_why(klearly, router):
    router.get(PAYMENT_URL).respond(200, json=payment("failed", statusMessage="Insufficient funds"))

    assert klearly.get_payment(PAYMENT_ID, kind=PaymentKind.SALE).message == "Insufficient funds"


# -- abort ---------------------------------------------------------------------------------------


def test_abort_posts_to_the_payment(klearly, router):
    route = router.post(ABORT_URL).respond(200, json=payment("aborted"))

    klearly.abort_payment(PAYMENT_ID, kind=PaymentKind.SALE)

    assert route.calls.last.request.headers["Authorization"] == f"Bearer {CACHED_TOKEN}"


def test_an_abort_after_the_payment_went_through_says_to_refund(klearly, router):
    router.post(ABORT_URL).mock(return_value=error(409, "payment_already_succeeded"))

    with pytest.raises(NotAbortable) as caught:
        klearly.abort_payment(PAYMENT_ID, kind=PaymentKind.SALE)

    assert "went through" in caught.value.message
    assert "Refund" in caught.value.message
    assert caught.value.provider_code == "payment_already_succeeded"


def test_an_abort_of_a_payment_on_another_terminal_names_that_terminal(klearly, router):
    router.post(ABORT_URL).mock(
        return_value=error(409, "payment_on_other_terminal", deviceId=OTHER_DEVICE)
    )

    with pytest.raises(NotAbortable) as caught:
        klearly.abort_payment(PAYMENT_ID, kind=PaymentKind.SALE)

    assert f"on terminal {OTHER_DEVICE}" in caught.value.message
    assert "Cancel it on that terminal" in caught.value.message


def test_an_abort_of_a_payment_that_ended_unpaid_says_so(klearly, router):
    router.post(ABORT_URL).mock(return_value=error(409, "payment_already_finished"))

    with pytest.raises(NotAbortable, match="without being paid"):
        klearly.abort_payment(PAYMENT_ID, kind=PaymentKind.SALE)


def test_any_other_abort_refusal_is_not_abortable(klearly, router):
    router.post(ABORT_URL).mock(return_value=error(400, "something_else", "No can do"))

    with pytest.raises(NotAbortable, match="No can do"):
        klearly.abort_payment(PAYMENT_ID, kind=PaymentKind.SALE)


# -- refunds -----------------------------------------------------------------------------------


def test_a_refund_runs_on_the_original_terminal_with_the_transaction_id(klearly, router):
    router.get(PAYMENT_URL).respond(200, json=payment("succeeded"))
    router.get(TERMINALS_URL).respond(200, json={"data": [TERMINAL]})
    route = router.post(PAYMENTS_URL).respond(
        201, json={**payment(), "id": REFUND_ID, "type": "refund"}
    )

    result = klearly.refund(refund_request(description="Wrong dish"))

    request = route.calls.last.request
    assert dict(request.url.params) == {"transactionId": PAYMENT_ID}
    assert request.headers["Idempotency-Key"] == IDEMPOTENCY_KEY
    assert sent_json(route.calls.last) == {
        "deviceId": DEVICE_ID,
        "type": "refund",
        "amount": 1250,
        "currency": "EUR",
        "description": "Wrong dish",
        "metadata": {
            "storeId": "store-9",
            "posPaymentId": "R-ORDER-42",
            "posMerchantId": "m-17",
        },
    }
    # It runs on the terminal: the tracker follows it like any payment.
    assert (result.provider_ref, result.state) == (REFUND_ID, PaymentState.PENDING)


def test_a_refund_whose_terminal_is_not_connected_is_refused_before_sending(klearly, router):
    router.get(PAYMENT_URL).respond(200, json=payment("succeeded"))
    router.get(TERMINALS_URL).respond(200, json={"data": [{**TERMINAL, "id": OTHER_DEVICE}]})
    router.get(f"{TERMINALS_URL}/{DEVICE_ID}").respond(200, json={**TERMINAL, "status": "inactive"})
    start = router.post(PAYMENTS_URL)

    with pytest.raises(OriginalTerminalOffline) as caught:
        klearly.refund(refund_request())

    assert isinstance(caught.value, TerminalOffline) and caught.value.permanent
    assert f"terminal Bar 1 ({DEVICE_ID}), where the sale was taken" in caught.value.message
    assert "offline" in caught.value.message
    assert not start.called


def test_klearly_refusing_a_refund_for_an_unconnected_terminal_says_the_same(klearly, router):
    router.get(PAYMENT_URL).respond(200, json=payment("succeeded"))
    router.get(TERMINALS_URL).respond(200, json={"data": [TERMINAL]})
    router.post(PAYMENTS_URL).mock(return_value=error(409, "terminal_not_connected"))

    with pytest.raises(OriginalTerminalOffline, match="where the sale was taken"):
        klearly.refund(refund_request())


# -- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "error_class", "words"),
    [
        (error(409, "terminal_not_connected"), TerminalOffline, "offline"),
        (error(409, "terminal_busy"), TerminalBusy, "busy"),
        (error(409, "terminal_battery_low"), BatteryLow, "battery"),
        (error(404, "not_found", "No such device"), NotFound, "No such device"),
        (error(409, "idempotency_key_in_use"), OutcomeUnknown, "still processing"),
        (error(429, "rate_limited"), RateLimited, "rate limiting"),
        (httpx.Response(500), OutcomeUnknown, "may have been processed"),
        (httpx.Response(503), ProviderUnavailable, "problems"),
    ],
)
def test_errors_on_a_sale_map_to_the_taxonomy(klearly, router, response, error_class, words):
    router.post(PAYMENTS_URL).mock(return_value=response)

    with pytest.raises(error_class) as caught:
        klearly.start_payment(sale())

    assert type(caught.value) is error_class
    assert words in caught.value.message


def test_a_server_error_on_a_read_is_provider_unavailable(klearly, router):
    router.get(PAYMENT_URL).respond(502)

    with pytest.raises(ProviderUnavailable):
        klearly.get_payment(PAYMENT_ID, kind=PaymentKind.SALE)


def test_klearly_capabilities(klearly):
    caps = klearly.capabilities
    assert (caps.can_abort, caps.needs_capture, caps.has_webhooks, caps.refund_mode) == (
        True,
        False,
        True,
        "referenced",
    )
    assert (caps.has_idempotency_key, caps.reports_online, caps.status_channel) == (
        True,
        True,
        "poll",
    )


# -- webhooks ----------------------------------------------------------------------------------

WEBHOOK_BODY = json.dumps(
    {"id": "evt_91c2", "type": "payment.updated", "data": payment("succeeded")}
).encode()


def sign(body: bytes, secret: str = WEBHOOK_SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_a_signed_webhook_is_verified_and_parsed(klearly):
    event = klearly.verify_webhook({"X-Klearly-Signature": sign(WEBHOOK_BODY)}, WEBHOOK_BODY)

    assert (event.event_id, event.event_type, event.payment_ref, event.order_reference) == (
        "evt_91c2",
        "payment.updated",
        PAYMENT_ID,
        "ORDER-42",
    )


def test_the_same_event_delivered_twice_has_the_same_event_id(klearly):
    headers = {"x-klearly-signature": sign(WEBHOOK_BODY)}

    first = klearly.verify_webhook(headers, WEBHOOK_BODY)
    again = klearly.verify_webhook(headers, WEBHOOK_BODY)

    assert first.event_id == again.event_id == "evt_91c2"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Klearly-Signature": ""},
        {"X-Klearly-Signature": sign(WEBHOOK_BODY, "wrong-secret")},
        {"X-Klearly-Signature": sign(WEBHOOK_BODY + b"\n")},
        {"X-Signature": sign(WEBHOOK_BODY)},  # the right signature under another header
    ],
)
def test_a_forged_or_unsigned_webhook_is_refused(klearly, headers):
    with pytest.raises(InvalidSignature):
        klearly.verify_webhook(headers, WEBHOOK_BODY)


def test_a_tampered_body_is_refused(klearly):
    tampered = WEBHOOK_BODY.replace(b"succeeded", b"failed")

    with pytest.raises(InvalidSignature):
        klearly.verify_webhook({"X-Klearly-Signature": sign(WEBHOOK_BODY)}, tampered)


# -- redaction ---------------------------------------------------------------------------------


def test_no_secret_or_token_reaches_a_log_record(router, klearly_account, caplog):
    caplog.set_level(logging.DEBUG)
    router.post(TOKEN_URL).respond(200, json={"token": FRESH_TOKEN, "expiresIn": 3600})
    router.post(PAYMENTS_URL).respond(201, json=payment())
    router.get(PAYMENT_URL).mock(
        return_value=error(400, "bad", f"token {FRESH_TOKEN} partner {PARTNER_SECRET}")
    )

    with KlearlyProvider(klearly_account, clock=fixed_clock) as provider:
        provider.start_payment(sale())
        with pytest.raises(Exception) as caught:
            provider.get_payment(PAYMENT_ID, kind=PaymentKind.SALE)
        text = repr(provider)

    logged = "\n".join(f"{r.getMessage()} {r.__dict__!r}" for r in caplog.records)
    partner_basic = base64.b64encode(f"{PARTNER_ID}:{PARTNER_SECRET}".encode()).decode()
    assert f"POST {PAYMENTS_URL} -> 201" in logged
    for secret in (PARTNER_SECRET, WEBHOOK_SECRET, FRESH_TOKEN, partner_basic):
        assert secret not in logged
        assert secret not in caught.value.message
        assert secret not in text

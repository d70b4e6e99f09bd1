"""USAePay adapter at the wire: auth hash, paths, bodies, status words and error codes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import httpx
import pytest

from providers.base import PaymentKind, PaymentState, RefundRequest, StartRequest
from providers.errors import (
    AuthError,
    BatteryLow,
    InvalidRequest,
    InvalidSignature,
    NotAbortable,
    NotFound,
    OutcomeUnknown,
    PaymentTimedOut,
    ProviderUnavailable,
    RateLimited,
    TerminalBusy,
    TerminalOffline,
)
from providers.usaepay import UsaepayProvider, random_seed, usaepay_authorization
from tests.providers.accounts import (
    DEVICE_KEY,
    IDEMPOTENCY_KEY,
    USAEPAY_API_KEY,
    USAEPAY_BASE,
    USAEPAY_PIN,
    USAEPAY_SIGNATURE_KEY,
    fixed_clock,
)

# From USAePay's REST docs: key _V87Q…p7, seed "abcdefghijklmnop", PIN 123456.
DOCUMENTED_AUTHORIZATION = (
    "Basic X1Y4N1F0YjUxM0NkM3ZhYk03UkMwVGJ0SldlU284cDc6czIvYWJjZGVmZ2hpamtsbW5v"
    "cC9iNzRjMmZhOTFmYjBhMDk3NTVlMzc3ZWU4ZTIwYWE4NmQyYjkyYzNkMmYyNzcyODBkYjU5NWY2MzZiYjE5MGU2"
)

PAYREQUESTS_URL = f"{USAEPAY_BASE}/paymentengine/payrequests"
REQUEST_KEY = "pr_3mW7rstrdA0Sp32LW9MN3djCITAhx"
REQUEST_URL = f"{PAYREQUESTS_URL}/{REQUEST_KEY}"
DEVICES_URL = f"{USAEPAY_BASE}/paymentengine/devices"

DEVICE = {
    "type": "device",
    "key": DEVICE_KEY,
    "apikeyid": "ntC8nP31Moh0wtvYT",
    "terminal_type": "standalone",
    "status": "connected",
    "name": "Example",
    "settings": {"timeout": 30, "enable_standalone": False, "share_device": False},
    "terminal_info": {
        "make": "Castles",
        "model": "MP200",
        "revision": None,
        "serial": "000313162200473",
    },
    "terminal_config": {
        "enable_emv": False,
        "enable_debit_msr": False,
        "enable_tip_adjust": False,
        "enable_contactless": True,
    },
}

STARTED = {
    "type": "request",
    "key": REQUEST_KEY,
    "expiration": "2016-07-08 16:40:48",
    "status": "sent to device",
}

TRANSACTION = {
    "type": "transaction",
    "key": "bnf17whjvqqpj2s",
    "refnum": "124444201",
    "is_duplicate": "N",
    "result_code": "A",
    "result": "Approved",
    "authcode": "147598",
    "creditcard": {"number": "4000xxxxxxxx2224", "type": "Visa", "category_code": "A"},
    "batch": {"type": "batch", "key": "0t1k3yx5xs37cvb", "sequence": "1"},
    "auth_amount": "8.88",
}


def sale(kind: PaymentKind = PaymentKind.SALE, **overrides) -> StartRequest:
    fields = {
        "kind": kind,
        "terminal_ref": DEVICE_KEY,
        "amount_minor": 888,
        "currency": "USD",
        "idempotency_key": IDEMPOTENCY_KEY,
        "reference": "ORDER-1001",
        "description": "Two coffees",
    }
    return StartRequest(**(fields | overrides))


def request_status(status: str, transaction: dict | None = None, **extra) -> dict:
    body = {
        "type": "request",
        "key": REQUEST_KEY,
        "expiration": "2016-07-08 16:40:48",
        "status": status,
        **extra,
    }
    if transaction is not None:
        body["transaction"] = transaction
    return body


def error_answer(status: int, errorcode: int, error: str) -> httpx.Response:
    return httpx.Response(status, json={"error": error, "errorcode": errorcode})


# -- authentication --------------------------------------------------------------


def test_the_documented_auth_vector_is_reproduced_byte_for_byte():
    assert (
        usaepay_authorization(USAEPAY_API_KEY, USAEPAY_PIN, "abcdefghijklmnop")
        == DOCUMENTED_AUTHORIZATION
    )
    decoded = base64.b64decode(DOCUMENTED_AUTHORIZATION.removeprefix("Basic ")).decode()
    assert decoded == (
        "_V87Qtb513Cd3vabM7RC0TbtJWeSo8p7:s2/abcdefghijklmnop/"
        "b74c2fa91fb0a09755e377ee8e20aa86d2b92c3d2f277280db595f636bb190e6"
    )


def test_requests_carry_the_documented_header_for_the_documented_seed(usaepay, router):
    route = router.get(f"{DEVICES_URL}/{DEVICE_KEY}").respond(200, json=DEVICE)

    usaepay.get_terminal(DEVICE_KEY)

    assert route.calls.last.request.headers["Authorization"] == DOCUMENTED_AUTHORIZATION


def test_every_request_gets_a_fresh_seed(router, usaepay_account):
    route = router.get(f"{DEVICES_URL}/{DEVICE_KEY}").respond(200, json=DEVICE)

    with UsaepayProvider(usaepay_account, clock=fixed_clock) as provider:
        provider.get_terminal(DEVICE_KEY)
        provider.get_terminal(DEVICE_KEY)

    first, second = (call.request.headers["Authorization"] for call in route.calls)
    assert first != second
    for header in (first, second):
        key, api_hash = base64.b64decode(header.removeprefix("Basic ")).decode().split(":", 1)
        _, seed, digest = api_hash.split("/")
        assert key == USAEPAY_API_KEY and len(seed) >= 16
        assert digest == hashlib.sha256((USAEPAY_API_KEY + seed + USAEPAY_PIN).encode()).hexdigest()


def test_random_seeds_are_32_alphanumerics():
    seeds = {random_seed() for _ in range(50)}
    assert len(seeds) == 50
    assert all(len(seed) == 32 and seed.isalnum() for seed in seeds)


# -- terminals --------------------------------------------------------------------


def test_devices_are_listed_with_limit_and_offset_until_total(usaepay, router):
    offline = {**DEVICE, "key": "sa_offline", "status": "offline", "name": "Back office"}
    pairing = {**DEVICE, "key": "sa_pairing", "status": "waiting for device pairing", "name": "New"}
    route = router.get(DEVICES_URL)
    route.side_effect = [
        httpx.Response(
            200,
            json={
                "type": "list",
                "limit": 100,
                "offset": 0,
                "data": [DEVICE] * 100,
                "total": "102",
            },
        ),
        httpx.Response(
            200,
            json={
                "type": "list",
                "limit": 100,
                "offset": 100,
                "data": [offline, pairing],
                "total": "102",
            },
        ),
    ]

    terminals = usaepay.list_terminals()

    assert [dict(call.request.url.params) for call in route.calls] == [
        {"limit": "100", "offset": "0"},
        {"limit": "100", "offset": "100"},
    ]
    assert len(terminals) == 102
    first = terminals[0]
    assert (first.ref, first.name, first.model, first.serial, first.online, first.status_text) == (
        DEVICE_KEY,
        "Example",
        "Castles MP200",
        "000313162200473",
        True,
        "connected",
    )
    assert [(t.online, t.status_text) for t in terminals[100:]] == [
        (False, "offline"),
        (False, "waiting for device pairing"),
    ]


def test_a_device_reported_online_is_online(usaepay, router):
    router.get(f"{DEVICES_URL}/{DEVICE_KEY}").respond(200, json={**DEVICE, "status": "online"})

    assert usaepay.get_terminal(DEVICE_KEY).online is True


def test_rename_puts_only_the_name(usaepay, router):
    route = router.put(f"{DEVICES_URL}/{DEVICE_KEY}").respond(
        200, json={**DEVICE, "name": "Till 2"}
    )

    terminal = usaepay.rename_terminal(DEVICE_KEY, name="Till 2")

    assert json.loads(route.calls.last.request.content) == {"name": "Till 2"}
    assert terminal.name == "Till 2"


# -- starting payments -------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "command"),
    [(PaymentKind.SALE, "sale"), (PaymentKind.AUTH, "authonly"), (PaymentKind.REFUND, "refund")],
)
def test_start_posts_a_payrequest_with_a_decimal_amount(usaepay, router, kind, command):
    route = router.post(PAYREQUESTS_URL).respond(200, json=STARTED)

    result = usaepay.start_payment(sale(kind))

    assert json.loads(route.calls.last.request.content) == {
        "devicekey": DEVICE_KEY,
        "command": command,
        "amount": "8.88",
        "timeout": 180,
        "block_offline": True,
        "orderid": "ORDER-1001",
        "description": "Two coffees",
    }
    assert "Idempotency-Key" not in route.calls.last.request.headers
    assert result.provider_ref == REQUEST_KEY
    assert result.state is PaymentState.PENDING
    assert result.raw_status == "sent to device"
    assert (result.amount_minor, result.currency) == (888, "USD")


def test_start_sends_the_requested_timeout(usaepay, router):
    route = router.post(PAYREQUESTS_URL).respond(200, json=STARTED)

    usaepay.start_payment(sale(timeout_s=300, description=""))

    body = json.loads(route.calls.last.request.content)
    assert body["timeout"] == 300
    assert "description" not in body


def test_a_lost_start_answer_is_outcome_unknown(usaepay, router):
    router.post(PAYREQUESTS_URL).mock(side_effect=httpx.RemoteProtocolError("server hung up"))

    with pytest.raises(OutcomeUnknown):
        usaepay.start_payment(sale())


def test_a_refused_connection_on_start_is_provider_unavailable(usaepay, router):
    router.post(PAYREQUESTS_URL).mock(side_effect=httpx.ConnectTimeout("no route"))

    with pytest.raises(ProviderUnavailable):
        usaepay.start_payment(sale())


# -- error codes -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("http_status", "errorcode", "text", "error", "message_part"),
    [
        (400, 21121, "Unknown devicekey sa_xxxx", NotFound, "Unknown terminal"),
        (
            400,
            21143,
            "Request failed (Payment terminal battery too low)",
            BatteryLow,
            "Terminal battery too low; charge it before taking payments",
        ),
        (400, 21144, "Transaction request has timed out.", PaymentTimedOut, "timed out"),
        (400, 21145, "Device is currently offline.", TerminalOffline, "offline"),
        (400, 21146, "Device is currently processing another transaction.", TerminalBusy, "busy"),
        (429, 155, "API Rate Limit Exceed", RateLimited, "Too many requests"),
        (401, 156, "Access Denied", AuthError, "denied access"),
        (200, 21146, "Device is currently processing another transaction.", TerminalBusy, "busy"),
    ],
)
def test_error_codes_map_to_the_taxonomy(
    usaepay, router, http_status, errorcode, text, error, message_part
):
    router.post(PAYREQUESTS_URL).mock(return_value=error_answer(http_status, errorcode, text))

    with pytest.raises(error) as caught:
        usaepay.start_payment(sale())

    assert type(caught.value) is error
    assert caught.value.provider_code == errorcode
    assert caught.value.http_status == http_status
    assert message_part in caught.value.message


def test_terminal_refusals_are_permanent_and_rate_limits_are_not(usaepay, router):
    router.post(PAYREQUESTS_URL).mock(
        return_value=error_answer(400, 21145, "Device is currently offline.")
    )
    with pytest.raises(TerminalOffline) as offline:
        usaepay.start_payment(sale())
    router.get(REQUEST_URL).mock(
        return_value=httpx.Response(
            429,
            json={"error": "API Rate Limit Exceed", "errorcode": 155},
            headers={"X-Rate-Limit": "46 of 45/min; 46 of 5000/day", "Retry-After": "30"},
        )
    )
    with pytest.raises(RateLimited) as limited:
        usaepay.get_payment(REQUEST_KEY, kind=PaymentKind.SALE)

    assert offline.value.permanent
    assert not limited.value.permanent
    assert limited.value.retry_after == 30.0


@pytest.mark.parametrize(
    ("status", "error"), [(401, AuthError), (404, NotFound), (400, InvalidRequest)]
)
def test_other_errors_fall_back_to_the_http_status(usaepay, router, status, error):
    router.get(REQUEST_URL).mock(
        return_value=error_answer(status, 47, "Invalid record locator key")
    )

    with pytest.raises(error, match="Invalid record locator key"):
        usaepay.get_payment(REQUEST_KEY, kind=PaymentKind.SALE)


def test_server_errors_are_unknown_outcomes_only_for_money_calls(usaepay, router):
    router.post(PAYREQUESTS_URL).respond(500)
    router.get(REQUEST_URL).respond(500)

    with pytest.raises(OutcomeUnknown):
        usaepay.start_payment(sale())
    with pytest.raises(ProviderUnavailable):
        usaepay.get_payment(REQUEST_KEY, kind=PaymentKind.SALE)


# -- status words ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "word",
    [
        "sending to device",
        "sent to device",
        "waiting for card dip",
        "changing interfaces",
        "customer see phone and tap again",
        "processing payment",
        "completing payment",
        "capturing signature",
    ],
)
def test_in_flight_status_words_are_pending(usaepay, router, word):
    router.get(REQUEST_URL).respond(200, json=request_status(word))

    result = usaepay.get_payment(REQUEST_KEY, kind=PaymentKind.SALE)

    assert result.state is PaymentState.PENDING
    assert result.raw_status == word


@pytest.mark.parametrize(
    ("word", "state"),
    [
        ("canceled", PaymentState.CANCELED),
        ("transaction canceled", PaymentState.CANCELED),
        ("transaction failed", PaymentState.FAILED),
        ("error", PaymentState.FAILED),
        ("timeout", PaymentState.TIMED_OUT),
        ("Timeout", PaymentState.TIMED_OUT),
        ("a word nobody documented", PaymentState.UNKNOWN),
    ],
)
def test_final_status_words(usaepay, router, word, state):
    router.get(REQUEST_URL).respond(200, json=request_status(word))

    assert usaepay.get_payment(REQUEST_KEY, kind=PaymentKind.SALE).state is state


@pytest.mark.parametrize(
    ("kind", "result_code", "state"),
    [
        (PaymentKind.SALE, "A", PaymentState.APPROVED),
        (PaymentKind.AUTH, "A", PaymentState.AUTHORIZED),
        (PaymentKind.REFUND, "A", PaymentState.APPROVED),
        (PaymentKind.SALE, "D", PaymentState.DECLINED),
        (PaymentKind.SALE, "E", PaymentState.FAILED),
        (PaymentKind.SALE, "Z", PaymentState.UNKNOWN),
    ],
)
def test_a_complete_request_is_decided_by_its_transaction(
    usaepay, router, kind, result_code, state
):
    router.get(REQUEST_URL).respond(
        200,
        json=request_status(
            "transaction complete", {**TRANSACTION, "result_code": result_code}, complete=True
        ),
    )

    result = usaepay.get_payment(REQUEST_KEY, kind=kind, wait=True)

    assert result.state is state
    assert result.raw_status == f"transaction complete/{result_code}"


def test_a_complete_request_carries_the_transaction_details(usaepay, router):
    router.get(REQUEST_URL).respond(200, json=request_status("transaction complete", TRANSACTION))

    result = usaepay.get_payment(REQUEST_KEY, kind=PaymentKind.SALE)

    assert result.provider_ref == REQUEST_KEY
    assert result.transaction_ref == "bnf17whjvqqpj2s"
    assert (result.amount_minor, result.currency) == (888, "USD")
    assert (result.card_brand, result.card_last4, result.auth_code) == ("Visa", "2224", "147598")
    assert result.message == "Approved"


def test_a_numeric_auth_amount_is_read_without_float_rounding(usaepay, router):
    router.get(REQUEST_URL).respond(
        200, json=request_status("transaction complete", {**TRANSACTION, "auth_amount": 19.99})
    )

    assert usaepay.get_payment(REQUEST_KEY, kind=PaymentKind.SALE).amount_minor == 1999


def test_complete_without_transaction_details_is_still_pending(usaepay, router):
    router.get(REQUEST_URL).respond(200, json=request_status("transaction complete"))

    assert usaepay.get_payment(REQUEST_KEY, kind=PaymentKind.SALE).state is PaymentState.PENDING


def test_usaepay_budget_and_timeout_capabilities(usaepay):
    assert usaepay.capabilities.default_timeout_s == 180
    assert usaepay.capabilities.requests_per_minute == 45
    assert 60 / usaepay.capabilities.poll_interval_s < 45


def test_the_tracker_deadline_covers_the_whole_terminal_timeout(usaepay):
    from datetime import timedelta

    from providers.base import TRACKING_GRACE
    from tests.providers.accounts import NOW

    assert usaepay.deadline_for(NOW) == NOW + timedelta(seconds=180) + TRACKING_GRACE
    assert usaepay.deadline_for(NOW, 300) == NOW + timedelta(seconds=300) + TRACKING_GRACE


# -- aborting -----------------------------------------------------------------------


def test_abort_deletes_the_payrequest(usaepay, router):
    route = router.delete(REQUEST_URL).respond(200, json={"status": "success"})

    usaepay.abort_payment(REQUEST_KEY, kind=PaymentKind.SALE)

    assert route.called


@pytest.mark.parametrize(
    "answer",
    [
        error_answer(400, 21150, "Request already completed"),
        httpx.Response(200, json={"status": "failed"}),
    ],
)
def test_abort_of_a_finished_request_is_not_abortable(usaepay, router, answer):
    router.delete(REQUEST_URL).mock(return_value=answer)

    with pytest.raises(NotAbortable):
        usaepay.abort_payment(REQUEST_KEY, kind=PaymentKind.SALE)


# -- capture and referenced refund ------------------------------------------------------


def test_capture_sends_cc_capture_with_the_transaction_key(usaepay, router):
    route = router.post(f"{USAEPAY_BASE}/transactions").respond(
        200, json={**TRANSACTION, "key": "4nftw5kqd7bjy82", "auth_amount": "5.00"}
    )

    result = usaepay.capture(
        "4nftw5kqd7bjy82", idempotency_key=IDEMPOTENCY_KEY, amount_minor=500, currency="USD"
    )

    assert json.loads(route.calls.last.request.content) == {
        "command": "cc:capture",
        "trankey": "4nftw5kqd7bjy82",
        "amount": "5.00",
    }
    assert result.state is PaymentState.APPROVED
    assert result.amount_minor == 500


def test_referenced_refund_sends_refund_with_the_transaction_key(usaepay, router):
    route = router.post(f"{USAEPAY_BASE}/transactions").respond(
        200, json={**TRANSACTION, "key": "refund-key-1", "auth_amount": "8.88"}
    )

    result = usaepay.refund(
        RefundRequest(
            original_transaction_ref="hnftkyjj2r93ft2",
            amount_minor=888,
            currency="USD",
            idempotency_key=IDEMPOTENCY_KEY,
            reference="R-ORDER-1001",
        )
    )

    assert json.loads(route.calls.last.request.content) == {
        "command": "refund",
        "trankey": "hnftkyjj2r93ft2",
        "amount": "8.88",
        "orderid": "R-ORDER-1001",
    }
    assert (result.provider_ref, result.transaction_ref, result.state) == (
        "refund-key-1",
        "refund-key-1",
        PaymentState.APPROVED,
    )


def test_a_declined_refund_is_declined(usaepay, router):
    router.post(f"{USAEPAY_BASE}/transactions").respond(
        200, json={**TRANSACTION, "result_code": "D", "result": "Declined"}
    )

    result = usaepay.refund(RefundRequest("hnftkyjj2r93ft2", 888, "USD", IDEMPOTENCY_KEY, "R-1"))

    assert result.state is PaymentState.DECLINED


# -- finding a start whose answer was lost -----------------------------------------------


def test_find_started_payment_matches_the_orderid_among_the_device_requests(usaepay, router):
    other = {
        **STARTED,
        "key": "pr_other",
        "orderid": "ORDER-0999",
        "status": "transaction complete",
    }
    ours = {**STARTED, "orderid": "ORDER-1001", "status": "waiting for card dip"}
    route = router.get(PAYREQUESTS_URL).respond(
        200, json={"type": "list", "limit": 100, "offset": 0, "data": [other, ours], "total": 2}
    )

    found = usaepay.find_started_payment(sale())

    assert dict(route.calls.last.request.url.params) == {
        "devicekey": DEVICE_KEY,
        "limit": "100",
        "offset": "0",
    }
    assert found is not None
    assert (found.provider_ref, found.state) == (REQUEST_KEY, PaymentState.PENDING)


def test_find_started_payment_is_none_when_the_device_has_no_such_order(usaepay, router):
    router.get(PAYREQUESTS_URL).respond(
        200, json={"type": "list", "limit": 100, "offset": 0, "data": [], "total": 0}
    )

    assert usaepay.find_started_payment(sale()) is None


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(500),
        error_answer(429, 155, "API Rate Limit Exceed"),
        httpx.ConnectError("down"),
        httpx.Response(
            200,
            json={"type": "list", "data": [{**STARTED, "orderid": "ORDER-1001"}] * 2, "total": 2},
        ),
    ],
)
def test_find_started_payment_that_cannot_tell_is_outcome_unknown(usaepay, router, answer):
    route = router.get(PAYREQUESTS_URL)
    if isinstance(answer, Exception):
        route.mock(side_effect=answer)
    else:
        route.mock(return_value=answer)

    with pytest.raises(OutcomeUnknown):
        usaepay.find_started_payment(sale())


# -- webhooks ------------------------------------------------------------------------------

WEBHOOK_BODY = json.dumps(
    {
        "type": "event",
        "event_triggered": "2021-05-19 05:20:34",
        "event_type": "transaction.sale.success",
        "event_body": {
            "merchant": {"merch_key": "m-1"},
            "object": {**TRANSACTION, "orderid": "ORDER-1001"},
        },
        "event_id": "8d4b7c1f" * 8,
    }
).encode()


def sign(body: bytes, key: str = USAEPAY_SIGNATURE_KEY) -> str:
    return hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def test_a_correctly_signed_webhook_is_verified_and_parsed(usaepay):
    event = usaepay.verify_webhook({"x-signature": sign(WEBHOOK_BODY)}, WEBHOOK_BODY)

    assert event.event_id == "8d4b7c1f" * 8
    assert event.event_type == "transaction.sale.success"
    assert event.payment_ref == "bnf17whjvqqpj2s"
    assert event.order_reference == "ORDER-1001"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Signature": ""},
        {"X-Signature": sign(WEBHOOK_BODY, "wrong-key")},
        {"X-Signature": sign(WEBHOOK_BODY + b" ")},
        {"X-Signature": "é" * 64},
    ],
)
def test_a_forged_or_unsigned_webhook_is_refused(usaepay, headers):
    with pytest.raises(InvalidSignature) as caught:
        usaepay.verify_webhook(headers, WEBHOOK_BODY)
    assert caught.value.permanent


def test_a_tampered_body_is_refused(usaepay):
    tampered = WEBHOOK_BODY.replace(b"ORDER-1001", b"ORDER-6666")

    with pytest.raises(InvalidSignature):
        usaepay.verify_webhook({"X-Signature": sign(WEBHOOK_BODY)}, tampered)


def test_a_signed_body_without_event_id_is_invalid(usaepay):
    body = b'{"type": "event"}'

    with pytest.raises(InvalidRequest):
        usaepay.verify_webhook({"X-Signature": sign(body)}, body)

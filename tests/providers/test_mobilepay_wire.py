"""MobilePay via Integra at the wire: accessToken and bioCode on every call, the
{success, errors} envelope, the eleven payment states, both payment flows, look-ups after
a lost answer, refunds and token rotation, as seed 002 and mobilepay-integra.md show them."""

from __future__ import annotations

import logging

import httpx
import pytest

from providers.base import AccountConfig, PaymentKind, PaymentState, RefundRequest, StartRequest
from providers.errors import (
    AuthError,
    InvalidRequest,
    NotAbortable,
    NotFound,
    OutcomeUnknown,
    ProviderUnavailable,
    TerminalBusy,
    UnsupportedOperation,
)
from providers.mobilepay import NOT_ACTIVE_WORDS, STATUS_WORDS, MobilepayProvider
from providers.recovery import start_exactly_once
from tests.providers.accounts import IDEMPOTENCY_KEY, fixed_clock

INTEGRA_BASE = "https://sandbox.test/sandbox/mobilepay/"
ACCESS_TOKEN = "integra-token-6c0f8e2a91"
BIO_CODE = "bio-4471"
TERMINAL_ID = "T-101"
PAYMENT_ID = "2c9d1f3e-7a55-4f0b-9a61-5d3b1c0e8f42"
REFUND_ID = "9f1e0a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
AUTH = {"accessToken": ACCESS_TOKEN, "bioCode": BIO_CODE}

START_URL = f"{INTEGRA_BASE}api/pos/payment/start"
STATUS_URL = f"{INTEGRA_BASE}api/pos/payment/status"
PAYMENTS_URL = f"{INTEGRA_BASE}api/pos/payments"
RETRIEVE_URL = f"{INTEGRA_BASE}api/pos/payment/id/retrieve/byterminal"

ALL_ELEVEN = [
    "Initiated",
    "Prepared",
    "Paired",
    "IssuedToUser",
    "Reserved",
    "Captured",
    "CancelledByUser",
    "CancelledByClient",
    "CancelledByMobilePay",
    "ExpiredAndCancelled",
    "RejectedByMobilePayDueToAgeRestrictions",
]


def ok(**payload) -> dict:
    return {**payload, "success": True, "errors": []}


def refused(*errors: str, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json={"success": False, "errors": list(errors)})


def params(call) -> dict[str, str]:
    return dict(call.request.url.params)


@pytest.fixture
def mobilepay_account() -> AccountConfig:
    return AccountConfig(
        provider="mobilepay",
        environment="sandbox",
        base_url=INTEGRA_BASE,
        secrets={"access_token": ACCESS_TOKEN, "bio_code": BIO_CODE},
        settings={"terminal_ids": [TERMINAL_ID, "T-gone"]},
    )


@pytest.fixture
def mobilepay(router, mobilepay_account):
    provider = MobilepayProvider(mobilepay_account, clock=fixed_clock)
    yield provider
    provider.close()


def sale(kind: PaymentKind = PaymentKind.SALE, **overrides) -> StartRequest:
    fields = {
        "kind": kind,
        "terminal_ref": TERMINAL_ID,
        "amount_minor": 2700,
        "currency": "DKK",
        "idempotency_key": IDEMPOTENCY_KEY,
        "reference": "ORDER-77",
    }
    return StartRequest(**(fields | overrides))


# -- auth and the start --------------------------------------------------------------


def test_a_direct_start_carries_the_documented_query_parameters(mobilepay, router):
    route = router.get(START_URL).respond(200, json=ok(paymentId=PAYMENT_ID))

    result = mobilepay.start_payment(sale())

    request = route.calls.last.request
    # GET api/pos/payment/start?orderId&amount&terminalId&currencyCode&accessToken&bioCode
    assert params(route.calls.last) == {
        "orderId": "ORDER-77",
        "amount": "27.00",
        "terminalId": TERMINAL_ID,
        "currencyCode": "DKK",
        **AUTH,
    }
    assert request.headers["Accept"] == "application/json"
    assert "Authorization" not in request.headers
    assert (result.provider_ref, result.state, result.raw_status) == (
        PAYMENT_ID,
        PaymentState.PENDING,
        "Initiated",
    )
    assert (result.amount_minor, result.currency) == (2700, "DKK")


def test_an_auth_only_start_is_the_same_start(mobilepay, router):
    router.get(START_URL).respond(200, json=ok(paymentId=PAYMENT_ID))

    assert mobilepay.start_payment(sale(PaymentKind.AUTH)).provider_ref == PAYMENT_ID


def test_card_present_refunds_are_not_offered(mobilepay, router):
    with pytest.raises(UnsupportedOperation):
        mobilepay.start_payment(sale(PaymentKind.REFUND))
    assert not router.calls


def test_a_second_start_on_a_pos_with_an_active_payment_is_terminal_busy(mobilepay, router):
    router.get(START_URL).mock(
        return_value=refused("There is an active payment on the PoS. Cancel it first.")
    )
    lookups = router.get(PAYMENTS_URL).mock(
        side_effect=lambda request: httpx.Response(
            200,
            json=ok(paymentIds=[] if "orderId" in request.url.params else ["someone-else"]),
        )
    )

    with pytest.raises(TerminalBusy) as caught:
        mobilepay.start_payment(sale())

    assert caught.value.permanent
    assert [params(call) for call in lookups.calls] == [
        {"orderId": "ORDER-77", "terminalId": TERMINAL_ID, **AUTH},
        {"terminalId": TERMINAL_ID, **AUTH},
    ]


def test_a_refusal_in_other_words_while_a_payment_is_active_is_still_terminal_busy(
    mobilepay, router
):
    router.get(START_URL).mock(return_value=refused("Payment could not be initiated"))
    router.get(PAYMENTS_URL).mock(
        side_effect=lambda request: httpx.Response(
            200, json=ok(paymentIds=[] if "orderId" in request.url.params else ["other"])
        )
    )

    with pytest.raises(TerminalBusy):
        mobilepay.start_payment(sale())


def test_a_refusal_with_no_active_payment_is_an_invalid_request(mobilepay, router):
    router.get(START_URL).mock(return_value=refused("Amount must be positive", status=400))
    router.get(PAYMENTS_URL).respond(200, json=ok(paymentIds=[]))

    with pytest.raises(InvalidRequest, match="Amount must be positive"):
        mobilepay.start_payment(sale())


def test_a_refused_start_whose_active_payment_is_ours_is_that_payment(mobilepay, router):
    router.get(START_URL).mock(return_value=refused("There is an active payment on the PoS."))
    router.get(PAYMENTS_URL).respond(200, json=ok(paymentIds=[PAYMENT_ID]))
    router.get(STATUS_URL).respond(200, json=ok(status="IssuedToUser"))

    result = mobilepay.start_payment(sale())

    assert (result.provider_ref, result.state) == (PAYMENT_ID, PaymentState.PENDING)


@pytest.mark.parametrize(
    "answer",
    [
        refused("Invalid accessToken or bioCode"),
        refused("Unauthorized", status=401),
        httpx.Response(403),
    ],
)
def test_refused_credentials_are_an_auth_error(mobilepay, router, answer):
    router.get(STATUS_URL).mock(return_value=answer)

    with pytest.raises(AuthError):
        mobilepay.get_payment(PAYMENT_ID, kind=PaymentKind.SALE)


def test_a_lost_start_answer_is_outcome_unknown(mobilepay, router):
    router.get(START_URL).mock(side_effect=httpx.ReadTimeout("lost"))

    with pytest.raises(OutcomeUnknown):
        mobilepay.start_payment(sale())


def test_a_server_error_on_start_may_have_moved_money_but_not_on_a_read(mobilepay, router):
    router.get(START_URL).respond(500)
    router.get(STATUS_URL).respond(500)

    with pytest.raises(OutcomeUnknown):
        mobilepay.start_payment(sale())
    with pytest.raises(ProviderUnavailable):
        mobilepay.get_payment(PAYMENT_ID, kind=PaymentKind.SALE)


def test_an_accepted_start_without_payment_id_is_outcome_unknown(mobilepay, router):
    router.get(START_URL).respond(200, json=ok(paymentId=None))

    with pytest.raises(OutcomeUnknown):
        mobilepay.start_payment(sale())


# -- the prepared flow ------------------------------------------------------------------


def test_prepare_then_ready_with_the_amount(mobilepay, router):
    prepare = router.get(f"{INTEGRA_BASE}api/pos/payment/prepare").respond(
        200, json=ok(paymentId=PAYMENT_ID)
    )
    ready = router.get(f"{INTEGRA_BASE}api/pos/payment/ready").respond(
        200, json=ok(message="Payment is ready")
    )

    prepared = mobilepay.prepare_payment(terminal_ref=TERMINAL_ID, reference="ORDER-77")
    readied = mobilepay.ready_payment(
        prepared.provider_ref,
        terminal_ref=TERMINAL_ID,
        reference="ORDER-77",
        amount_minor=2700,
        currency="DKK",
    )

    assert params(prepare.calls.last) == {"orderId": "ORDER-77", "terminalId": TERMINAL_ID, **AUTH}
    assert params(ready.calls.last) == {
        "orderId": "ORDER-77",
        "amount": "27.00",
        "terminalId": TERMINAL_ID,
        "currencyCode": "DKK",
        "paymentId": PAYMENT_ID,
        **AUTH,
    }
    assert (prepared.state, prepared.raw_status) == (PaymentState.PENDING, "Prepared")
    assert (readied.provider_ref, readied.amount_minor) == (PAYMENT_ID, 2700)


def test_ready_before_prepare_is_refused(mobilepay, router):
    router.get(f"{INTEGRA_BASE}api/pos/payment/ready").mock(
        return_value=refused("Payment must be prepared first")
    )

    with pytest.raises(InvalidRequest, match="prepared first"):
        mobilepay.ready_payment(
            PAYMENT_ID, terminal_ref=TERMINAL_ID, reference="O", amount_minor=1, currency="DKK"
        )


# -- status ----------------------------------------------------------------------------


def test_the_table_holds_all_eleven_states_of_seed_002():
    assert list(STATUS_WORDS) == ALL_ELEVEN
    assert set(NOT_ACTIVE_WORDS) == set(ALL_ELEVEN[5:])


@pytest.mark.parametrize(
    ("word", "state"),
    [
        ("Initiated", PaymentState.PENDING),
        ("Prepared", PaymentState.PENDING),
        ("Paired", PaymentState.PENDING),
        ("IssuedToUser", PaymentState.PENDING),
        ("Reserved", PaymentState.AUTHORIZED),
        ("Captured", PaymentState.APPROVED),
        ("CancelledByUser", PaymentState.CANCELED),
        ("CancelledByClient", PaymentState.CANCELED),
        ("CancelledByMobilePay", PaymentState.CANCELED),
        ("ExpiredAndCancelled", PaymentState.TIMED_OUT),
        ("RejectedByMobilePayDueToAgeRestrictions", PaymentState.DECLINED),
        ("reserved", PaymentState.AUTHORIZED),
        ("Teleported", PaymentState.UNKNOWN),
    ],
)
def test_status_words(mobilepay, router, word, state):
    route = router.get(STATUS_URL).respond(200, json=ok(status=word))

    result = mobilepay.get_payment(PAYMENT_ID, kind=PaymentKind.SALE)

    assert params(route.calls.last) == {"paymentId": PAYMENT_ID, **AUTH}
    assert result.state is state


def test_reserved_is_not_final_and_names_the_payment_to_capture(mobilepay, router):
    router.get(STATUS_URL).respond(
        200, json=ok(status="Reserved", amount="27.00", currencyCode="DKK")
    )

    result = mobilepay.get_payment(PAYMENT_ID, kind=PaymentKind.SALE)

    assert not result.is_final
    assert (result.transaction_ref, result.amount_minor, result.raw_status) == (
        PAYMENT_ID,
        2700,
        "Reserved",
    )


# -- capture and cancel ----------------------------------------------------------------


def test_capture_sends_the_payment_and_amount(mobilepay, router):
    route = router.get(f"{INTEGRA_BASE}api/pos/payment/capture").respond(200, json=ok())

    result = mobilepay.capture(
        PAYMENT_ID, idempotency_key=IDEMPOTENCY_KEY, amount_minor=2500, currency="DKK"
    )

    assert params(route.calls.last) == {"paymentId": PAYMENT_ID, "amount": "25.00", **AUTH}
    assert (result.state, result.raw_status, result.amount_minor) == (
        PaymentState.APPROVED,
        "Captured",
        2500,
    )


def test_a_full_capture_reads_the_reserved_amount_first(mobilepay, router):
    details = router.get(f"{INTEGRA_BASE}api/pos/payment/details").respond(
        200, json=ok(paymentId=PAYMENT_ID, amount="27.00", currencyCode="DKK", status="Reserved")
    )
    capture = router.get(f"{INTEGRA_BASE}api/pos/payment/capture").respond(200, json=ok())

    mobilepay.capture(PAYMENT_ID, idempotency_key=IDEMPOTENCY_KEY)

    assert params(details.calls.last) == {"paymentId": PAYMENT_ID, **AUTH}
    assert params(capture.calls.last)["amount"] == "27.00"


def test_capturing_a_payment_that_is_not_reserved_is_refused(mobilepay, router):
    router.get(f"{INTEGRA_BASE}api/pos/payment/capture").mock(
        return_value=refused("Payment is not in Reserved state")
    )

    with pytest.raises(InvalidRequest, match="only a Reserved payment"):
        mobilepay.capture(
            PAYMENT_ID, idempotency_key=IDEMPOTENCY_KEY, amount_minor=1, currency="DKK"
        )


def test_cancel_works_until_captured(mobilepay, router):
    route = router.get(f"{INTEGRA_BASE}api/pos/payment/cancel").respond(200, json=ok())

    mobilepay.abort_payment(PAYMENT_ID, kind=PaymentKind.SALE)

    assert params(route.calls.last) == {"paymentId": PAYMENT_ID, **AUTH}


def test_cancelling_a_captured_payment_is_not_abortable(mobilepay, router):
    router.get(f"{INTEGRA_BASE}api/pos/payment/cancel").mock(
        return_value=refused("A captured payment cannot be cancelled")
    )

    with pytest.raises(NotAbortable, match="refunded"):
        mobilepay.abort_payment(PAYMENT_ID, kind=PaymentKind.SALE)


# -- finding a start whose answer was lost -----------------------------------------------


def test_find_started_payment_finds_our_active_payment_by_order_id(mobilepay, router):
    lookup = router.get(PAYMENTS_URL).respond(200, json=ok(paymentIds=[PAYMENT_ID]))
    router.get(STATUS_URL).respond(200, json=ok(status="Paired"))

    found = mobilepay.find_started_payment(sale())

    assert params(lookup.calls.last) == {"orderId": "ORDER-77", "terminalId": TERMINAL_ID, **AUTH}
    assert (found.provider_ref, found.state) == (PAYMENT_ID, PaymentState.PENDING)
    assert (found.amount_minor, found.currency) == (2700, "DKK")


def test_find_started_payment_retrieves_a_payment_that_already_ended(mobilepay, router):
    router.get(PAYMENTS_URL).respond(200, json=ok(paymentIds=[]))
    retrieve = router.get(RETRIEVE_URL).mock(
        side_effect=lambda request: httpx.Response(
            200,
            json=ok(
                paymentId=PAYMENT_ID if request.url.params["paymentState"] == "Captured" else None
            ),
        )
    )
    router.get(STATUS_URL).respond(200, json=ok(status="Captured"))

    found = mobilepay.find_started_payment(sale())

    assert {
        "orderId": "ORDER-77",
        "terminalId": TERMINAL_ID,
        "paymentState": "Captured",
        **AUTH,
    } in [params(call) for call in retrieve.calls]
    assert (found.provider_ref, found.state) == (PAYMENT_ID, PaymentState.APPROVED)


def test_find_started_payment_is_none_only_when_no_state_has_it(mobilepay, router):
    lists = router.get(PAYMENTS_URL).respond(200, json=ok(paymentIds=[]))
    retrieve = router.get(RETRIEVE_URL).mock(
        side_effect=[
            refused("Payment not found") if i % 2 else httpx.Response(200, json=ok(paymentId=""))
            for i in range(len(NOT_ACTIVE_WORDS))
        ]
    )

    assert mobilepay.find_started_payment(sale()) is None
    assert sorted(call.request.url.params["paymentState"] for call in retrieve.calls) == sorted(
        NOT_ACTIVE_WORDS
    )
    assert lists.call_count == 2  # before and after the retrievals


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, json=ok(paymentIds=["p-1", "p-2"])),
        httpx.Response(500),
        httpx.ConnectError("down"),
        refused("Invalid accessToken"),
    ],
)
def test_find_started_payment_that_cannot_tell_is_outcome_unknown(mobilepay, router, answer):
    route = router.get(PAYMENTS_URL)
    if isinstance(answer, Exception):
        route.mock(side_effect=answer)
    else:
        route.mock(return_value=answer)

    with pytest.raises(OutcomeUnknown):
        mobilepay.find_started_payment(sale())


def test_a_lost_start_is_looked_up_and_never_sent_twice(mobilepay, router):
    start = router.get(START_URL).mock(side_effect=httpx.ReadTimeout("answer lost"))
    router.get(PAYMENTS_URL).respond(200, json=ok(paymentIds=[PAYMENT_ID]))
    router.get(STATUS_URL).respond(200, json=ok(status="Initiated"))

    result = start_exactly_once(mobilepay, sale())

    assert start.call_count == 1
    assert result.provider_ref == PAYMENT_ID


# -- refunds ----------------------------------------------------------------------------


def test_a_refund_is_created_then_captured(mobilepay, router):
    create = router.get(f"{INTEGRA_BASE}api/pos/refund/create").respond(
        200, json=ok(refundId=REFUND_ID)
    )
    capture = router.get(f"{INTEGRA_BASE}api/pos/refund/capture").respond(200, json=ok())

    result = mobilepay.refund(RefundRequest(PAYMENT_ID, 1000, "DKK", IDEMPOTENCY_KEY, "R-77"))

    assert params(create.calls.last) == {
        "amount": "10.00",
        "currencyCode": "DKK",
        "paymentId": PAYMENT_ID,
        "refundOrderId": "R-77",
        **AUTH,
    }
    assert params(capture.calls.last) == {"refundId": REFUND_ID, **AUTH}
    assert (result.provider_ref, result.transaction_ref, result.state) == (
        REFUND_ID,
        REFUND_ID,
        PaymentState.APPROVED,
    )


def test_a_refund_whose_capture_is_refused_is_cancelled(mobilepay, router):
    router.get(f"{INTEGRA_BASE}api/pos/refund/create").respond(200, json=ok(refundId=REFUND_ID))
    router.get(f"{INTEGRA_BASE}api/pos/refund/capture").mock(
        return_value=refused("Refund exceeds captured amount")
    )
    cancel = router.get(f"{INTEGRA_BASE}api/pos/refund/cancel").respond(200, json=ok())

    with pytest.raises(InvalidRequest, match="exceeds captured amount"):
        mobilepay.refund(RefundRequest(PAYMENT_ID, 1000, "DKK", IDEMPOTENCY_KEY, "R-77"))

    assert params(cancel.calls.last) == {"refundId": REFUND_ID, **AUTH}


def test_a_lost_refund_capture_is_outcome_unknown(mobilepay, router):
    router.get(f"{INTEGRA_BASE}api/pos/refund/create").respond(200, json=ok(refundId=REFUND_ID))
    router.get(f"{INTEGRA_BASE}api/pos/refund/capture").mock(side_effect=httpx.ReadTimeout("x"))

    with pytest.raises(OutcomeUnknown):
        mobilepay.refund(RefundRequest(PAYMENT_ID, 1000, "DKK", IDEMPOTENCY_KEY, "R-77"))


def test_refunds_are_listed_by_payment_and_read_by_id(mobilepay, router):
    listed = router.get(f"{INTEGRA_BASE}api/pos/refunds").respond(
        200, json=ok(refundIds=[REFUND_ID])
    )
    details = router.get(f"{INTEGRA_BASE}api/pos/refund/details").respond(
        200, json=ok(refundId=REFUND_ID, status="Captured", amount="10.00", currencyCode="DKK")
    )

    assert mobilepay.list_refunds(PAYMENT_ID) == [REFUND_ID]
    refund = mobilepay.get_payment(REFUND_ID, kind=PaymentKind.REFUND)

    assert params(listed.calls.last) == {"paymentId": PAYMENT_ID, **AUTH}
    assert params(details.calls.last) == {"refundId": REFUND_ID, **AUTH}
    assert (refund.state, refund.amount_minor) == (PaymentState.APPROVED, 1000)


# -- tokens ------------------------------------------------------------------------------


def test_token_create_sends_only_the_bio_code_and_returns_the_new_token(mobilepay, router):
    route = router.get(f"{INTEGRA_BASE}api/pos/manage/token").respond(
        200, json=ok(message="new-long-lived-token-1")
    )

    assert mobilepay.token_create() == "new-long-lived-token-1"
    assert params(route.calls.last) == {"bioCode": BIO_CODE}


def test_token_reset_needs_the_previous_token(mobilepay, router):
    route = router.get(f"{INTEGRA_BASE}api/pos/manage/token/reset").respond(
        200, json=ok(message="new-long-lived-token-2")
    )

    assert mobilepay.token_reset(ACCESS_TOKEN) == "new-long-lived-token-2"
    assert params(route.calls.last) == {"bioCode": BIO_CODE, "previousAccessToken": ACCESS_TOKEN}
    with pytest.raises(InvalidRequest):
        mobilepay.token_reset("")


def test_a_refused_token_reset_is_an_auth_error(mobilepay, router):
    router.get(f"{INTEGRA_BASE}api/pos/manage/token/reset").mock(
        return_value=refused("previousAccessToken does not match")
    )

    with pytest.raises(AuthError):
        mobilepay.token_reset("stale-token")


# -- terminals, QR code, check-in ----------------------------------------------------------


def test_terminals_are_the_configured_ids_read_from_integra(mobilepay, router):
    route = router.get(f"{INTEGRA_BASE}api/pos/manage/terminal/information").mock(
        side_effect=lambda request: (
            httpx.Response(200, json=ok(posId="pos-9", name="Kiosk", storeId="s-1"))
            if request.url.params["terminalId"] == TERMINAL_ID
            else refused("Terminal not found")
        )
    )

    terminals = mobilepay.list_terminals()

    assert [(t.ref, t.name, t.serial, t.online) for t in terminals] == [
        (TERMINAL_ID, "Kiosk", "pos-9", None)
    ]
    assert params(route.calls[0]) == {"terminalId": TERMINAL_ID, **AUTH}


def test_an_unknown_terminal_is_not_found(mobilepay, router):
    router.get(f"{INTEGRA_BASE}api/pos/manage/terminal/information").mock(
        return_value=refused("Terminal not found")
    )

    with pytest.raises(NotFound):
        mobilepay.get_terminal("T-gone")


def test_the_qr_code_link_and_check_in_status(mobilepay, router):
    qr = router.get(f"{INTEGRA_BASE}api/pos/terminal/qrcode").respond(
        200, json=ok(qrCodeLink="https://example.test/qr/T-101.png")
    )
    check_in = router.get(f"{INTEGRA_BASE}api/pos/manage/checkInStatus/byterminalId").respond(
        200, json=ok(checkedIn=True)
    )

    assert mobilepay.qr_code_link(TERMINAL_ID) == "https://example.test/qr/T-101.png"
    assert mobilepay.check_in_status(TERMINAL_ID).checked_in is True
    assert (
        params(qr.calls.last)
        == params(check_in.calls.last)
        == {
            "terminalId": TERMINAL_ID,
            **AUTH,
        }
    )


def test_mobilepay_capabilities(mobilepay):
    caps = mobilepay.capabilities
    assert (caps.has_idempotency_key, caps.needs_capture, caps.has_webhooks) == (False, True, False)
    assert (caps.can_rename, caps.can_abort, caps.reports_online, caps.refund_mode) == (
        False,
        True,
        False,
        "referenced",
    )
    with pytest.raises(UnsupportedOperation):
        mobilepay.verify_webhook({}, b"{}")


# -- redaction ------------------------------------------------------------------------------


def test_no_token_or_bio_code_reaches_a_log_record(router, mobilepay_account, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")
    router.get(START_URL).respond(200, json=ok(paymentId=PAYMENT_ID))
    router.get(f"{INTEGRA_BASE}api/pos/manage/token/reset").respond(
        200, json=ok(message="brand-new-secret-token")
    )
    router.get(STATUS_URL).mock(
        return_value=refused(f"accessToken {ACCESS_TOKEN} is not valid for bioCode {BIO_CODE}")
    )

    with MobilepayProvider(mobilepay_account, clock=fixed_clock) as provider:
        provider.start_payment(sale())
        provider.token_reset(ACCESS_TOKEN)
        with pytest.raises(AuthError) as caught:
            provider.get_payment(PAYMENT_ID, kind=PaymentKind.SALE)
        text = repr(provider)

    logged = "\n".join(f"{r.getMessage()} {r.__dict__!r}" for r in caplog.records)
    assert "orderId=ORDER-77" in logged
    assert "accessToken=[redacted]" in logged
    for secret in (ACCESS_TOKEN, BIO_CODE, "brand-new-secret-token"):
        assert secret not in logged
        assert secret not in caught.value.message
        assert secret not in text

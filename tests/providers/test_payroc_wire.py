"""Payroc adapter at the wire: paths, headers, bodies and answers as Payroc documents them."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest

from providers.base import (
    MemoryTokenStore,
    PaymentKind,
    PaymentState,
    RefundRequest,
    StartRequest,
    Token,
)
from providers.errors import (
    AuthError,
    InvalidRequest,
    NotAbortable,
    NotFound,
    OutcomeUnknown,
    ProviderUnavailable,
    RateLimited,
    UnexpectedResponse,
    UnsupportedOperation,
)
from providers.payroc import PayrocProvider
from tests.providers import payroc_examples as examples
from tests.providers.accounts import (
    IDEMPOTENCY_KEY,
    NOW,
    PAYROC_API_KEY,
    PAYROC_BASE,
    PAYROC_IDENTITY,
    PAYROC_TOKEN,
    SERIAL,
    fixed_clock,
)

INSTRUCTIONS_URL = f"{PAYROC_BASE}/devices/{SERIAL}/payment-instructions"
INSTRUCTION_URL = f"{PAYROC_BASE}/payment-instructions/{examples.INSTRUCTION_ID}"
PAYMENT_URL = f"{PAYROC_BASE}/payments/{examples.PAYMENT_ID}"


def sale(kind: PaymentKind = PaymentKind.SALE, **overrides) -> StartRequest:
    fields = {
        "kind": kind,
        "terminal_ref": SERIAL,
        "amount_minor": 4999,
        "currency": "USD",
        "idempotency_key": IDEMPOTENCY_KEY,
        "reference": "OrderRef6543",
    }
    return StartRequest(**(fields | overrides))


def sent_json(call) -> dict:
    return json.loads(call.request.content)


def identity_answer(token: str = "fresh-bearer", expires_in: int = 3600) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "access_token": token,
            "expires_in": expires_in,
            "scope": "service_a",
            "token_type": "Bearer",
        },
    )


# -- starting payments ----------------------------------------------------------


def test_sale_posts_the_documented_instruction_with_bearer_and_idempotency_key(payroc, router):
    route = router.post(INSTRUCTIONS_URL).respond(202, json=examples.INSTRUCTION_IN_PROGRESS)

    result = payroc.start_payment(sale())

    request = route.calls.last.request
    assert request.headers["Authorization"] == f"Bearer {PAYROC_TOKEN}"
    assert request.headers["Idempotency-Key"] == IDEMPOTENCY_KEY
    assert request.headers["Content-Type"] == "application/json"
    assert sent_json(route.calls.last) == {
        "processingTerminalId": "1234001",
        "order": {"orderId": "OrderRef6543", "amount": 4999, "currency": "USD"},
        "customizationOptions": {"entryMethod": "deviceRead"},
        "autoCapture": True,
    }
    assert result.provider_ref == examples.INSTRUCTION_ID
    assert result.state is PaymentState.PENDING
    assert result.raw_status == "inProgress"
    assert (result.amount_minor, result.currency) == (4999, "USD")


def test_auth_only_is_a_pre_authorisation_without_auto_capture(payroc, router):
    route = router.post(INSTRUCTIONS_URL).respond(202, json=examples.INSTRUCTION_IN_PROGRESS)

    payroc.start_payment(sale(PaymentKind.AUTH, description="Deposit"))

    body = sent_json(route.calls.last)
    assert body["autoCapture"] is False
    assert body["order"]["description"] == "Deposit"


def test_device_refund_posts_a_refund_instruction_whose_order_has_a_description(payroc, router):
    route = router.post(f"{PAYROC_BASE}/devices/{SERIAL}/refund-instructions").respond(
        202, json=examples.REFUND_INSTRUCTION_IN_PROGRESS
    )

    result = payroc.start_payment(sale(PaymentKind.REFUND))

    assert sent_json(route.calls.last) == {
        "processingTerminalId": "1234001",
        "order": {
            "orderId": "OrderRef6543",
            "amount": 4999,
            "currency": "USD",
            "description": "Refund for order OrderRef6543",
        },
        "customizationOptions": {"entryMethod": "deviceRead"},
    }
    assert route.calls.last.request.headers["Idempotency-Key"] == IDEMPOTENCY_KEY
    assert result.provider_ref == examples.INSTRUCTION_ID
    assert result.state is PaymentState.PENDING


def test_a_lost_start_answer_is_outcome_unknown_and_the_lookup_resends_the_same_key(payroc, router):
    route = router.post(INSTRUCTIONS_URL)
    route.side_effect = [
        httpx.ReadTimeout("answer lost"),
        httpx.Response(202, json=examples.INSTRUCTION_IN_PROGRESS),
    ]

    with pytest.raises(OutcomeUnknown):
        payroc.start_payment(sale())
    found = payroc.find_started_payment(sale())

    first, second = (call.request for call in route.calls)
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"] == IDEMPOTENCY_KEY
    assert first.content == second.content
    assert found is not None and found.provider_ref == examples.INSTRUCTION_ID


def test_find_started_payment_reports_any_other_failure_as_outcome_unknown(payroc, router):
    router.post(INSTRUCTIONS_URL).respond(
        409,
        json=examples.IDEMPOTENCY_KEY_IN_USE,
        headers={"Content-Type": "application/problem+json"},
    )

    with pytest.raises(OutcomeUnknown):
        payroc.find_started_payment(sale())


def test_a_refused_connection_on_start_is_provider_unavailable(payroc, router):
    router.post(INSTRUCTIONS_URL).mock(side_effect=httpx.ConnectError("refused"))

    with pytest.raises(ProviderUnavailable):
        payroc.start_payment(sale())


@pytest.mark.parametrize(
    ("status", "error"), [(500, OutcomeUnknown), (502, OutcomeUnknown), (503, ProviderUnavailable)]
)
def test_a_server_error_on_start_may_have_moved_money(payroc, router, status, error):
    router.post(INSTRUCTIONS_URL).respond(status)

    with pytest.raises(error):
        payroc.start_payment(sale())


def test_start_without_processing_terminal_id_is_refused_before_any_call(router, payroc_tokens):
    from providers.base import AccountConfig

    account = AccountConfig(
        "payroc", "sandbox", PAYROC_BASE, PAYROC_IDENTITY, {"api_key": PAYROC_API_KEY}
    )
    provider = PayrocProvider(account, token_store=payroc_tokens, clock=fixed_clock)
    with provider, pytest.raises(InvalidRequest, match="processing terminal"):
        provider.start_payment(sale())
    assert not router.calls


# -- bearer tokens ---------------------------------------------------------------


def test_token_is_fetched_with_the_api_key_header_and_no_body_then_reused(router, payroc_account):
    identity = router.post(PAYROC_IDENTITY).mock(return_value=identity_answer())
    api = router.get(INSTRUCTION_URL).respond(200, json=examples.INSTRUCTION_IN_PROGRESS)
    store = MemoryTokenStore()

    with PayrocProvider(payroc_account, token_store=store, clock=fixed_clock) as provider:
        provider.get_payment(examples.INSTRUCTION_ID, kind=PaymentKind.SALE)
        provider.get_payment(examples.INSTRUCTION_ID, kind=PaymentKind.SALE)

    assert identity.call_count == 1
    identity_request = identity.calls.last.request
    assert identity_request.headers["x-api-key"] == PAYROC_API_KEY
    assert identity_request.content == b""
    assert "Authorization" not in identity_request.headers
    assert [call.request.headers["Authorization"] for call in api.calls] == [
        "Bearer fresh-bearer"
    ] * 2
    assert store.load() == Token("fresh-bearer", NOW + timedelta(seconds=3600))


@pytest.mark.parametrize(
    ("expires_in", "refetched"),
    [
        (timedelta(minutes=1, seconds=59), True),
        (timedelta(minutes=2), True),
        (timedelta(minutes=3), False),
    ],
)
def test_token_is_refreshed_two_minutes_before_it_expires(
    router, payroc_account, expires_in, refetched
):
    identity = router.post(PAYROC_IDENTITY).mock(return_value=identity_answer())
    router.get(INSTRUCTION_URL).respond(200, json=examples.INSTRUCTION_IN_PROGRESS)
    store = MemoryTokenStore(Token("old-bearer", NOW + expires_in))

    with PayrocProvider(payroc_account, token_store=store, clock=fixed_clock) as provider:
        provider.get_payment(examples.INSTRUCTION_ID, kind=PaymentKind.SALE)

    assert identity.called is refetched


def test_a_401_fetches_a_new_token_once_and_retries_once_with_the_same_key(payroc, router):
    identity = router.post(PAYROC_IDENTITY).mock(return_value=identity_answer())
    route = router.post(INSTRUCTIONS_URL)
    route.side_effect = [
        httpx.Response(401, json=examples.NOT_AUTHORIZED),
        httpx.Response(202, json=examples.INSTRUCTION_IN_PROGRESS),
    ]

    result = payroc.start_payment(sale())

    assert identity.call_count == 1
    first, second = (call.request for call in route.calls)
    assert first.headers["Authorization"] == f"Bearer {PAYROC_TOKEN}"
    assert second.headers["Authorization"] == "Bearer fresh-bearer"
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"]
    assert result.state is PaymentState.PENDING


def test_a_second_401_is_an_auth_error(payroc, router):
    identity = router.post(PAYROC_IDENTITY).mock(return_value=identity_answer())
    route = router.get(INSTRUCTION_URL).respond(401, json=examples.NOT_AUTHORIZED)

    with pytest.raises(AuthError) as caught:
        payroc.get_payment(examples.INSTRUCTION_ID, kind=PaymentKind.SALE)

    assert route.call_count == 2
    assert identity.call_count == 1
    assert caught.value.permanent
    assert "Your identity could not be verified" in caught.value.message


def test_identity_service_refusing_the_api_key_is_an_auth_error(router, payroc_account):
    router.post(PAYROC_IDENTITY).respond(401, json=examples.NOT_AUTHORIZED)

    provider = PayrocProvider(payroc_account, clock=fixed_clock)
    with provider, pytest.raises(AuthError):
        provider.obtain_token()


# -- following a payment ---------------------------------------------------------


def test_in_progress_is_pending_and_a_waiting_call_outlasts_the_one_minute_hold(payroc, router):
    route = router.get(INSTRUCTION_URL).respond(200, json=examples.INSTRUCTION_IN_PROGRESS)

    result = payroc.get_payment(examples.INSTRUCTION_ID, kind=PaymentKind.SALE, wait=True)

    assert result.state is PaymentState.PENDING
    assert route.calls.last.request.extensions["timeout"]["read"] > 60


def test_a_quick_look_that_is_held_counts_as_still_pending(payroc, router):
    route = router.get(INSTRUCTION_URL).mock(side_effect=httpx.ReadTimeout("held"))

    result = payroc.get_payment(examples.INSTRUCTION_ID, kind=PaymentKind.SALE)

    assert result.state is PaymentState.PENDING
    assert route.calls.last.request.extensions["timeout"]["read"] <= 10


def test_a_waiting_call_that_times_out_is_provider_unavailable(payroc, router):
    router.get(INSTRUCTION_URL).mock(side_effect=httpx.ReadTimeout("no answer"))

    with pytest.raises(ProviderUnavailable):
        payroc.get_payment(examples.INSTRUCTION_ID, kind=PaymentKind.SALE, wait=True)


def test_completed_follows_the_payment_link_path_under_our_base_url(payroc, router):
    router.get(INSTRUCTION_URL).respond(200, json=examples.INSTRUCTION_COMPLETED)
    payment_route = router.get(PAYMENT_URL).respond(200, json=examples.payment())

    result = payroc.get_payment(examples.INSTRUCTION_ID, kind=PaymentKind.SALE, wait=True)

    assert payment_route.called
    assert payment_route.calls.last.request.headers["Authorization"] == f"Bearer {PAYROC_TOKEN}"
    assert result.provider_ref == examples.INSTRUCTION_ID
    assert result.state is PaymentState.APPROVED
    assert result.transaction_ref == examples.PAYMENT_ID
    assert (result.amount_minor, result.currency) == (4999, "USD")
    assert (result.card_brand, result.card_last4, result.auth_code) == ("MasterCard", "7062", "OK3")
    assert result.raw_status == "completed/ready/A"
    assert result.is_final


@pytest.mark.parametrize(
    ("kind", "transaction_result", "state"),
    [
        (PaymentKind.SALE, {"responseCode": "D", "status": "declined"}, PaymentState.DECLINED),
        (PaymentKind.SALE, {"responseCode": "R", "status": "referral"}, PaymentState.DECLINED),
        (PaymentKind.SALE, {"responseCode": "P", "authorizedAmount": 2500}, PaymentState.APPROVED),
        (PaymentKind.SALE, {"responseCode": "E", "status": "pending"}, PaymentState.UNKNOWN),
        (PaymentKind.SALE, {"responseCode": "A", "status": "reversal"}, PaymentState.CANCELED),
        (
            PaymentKind.AUTH,
            {"type": "preAuthorization", "status": "pending"},
            PaymentState.AUTHORIZED,
        ),
        (PaymentKind.AUTH, {"type": "sale", "status": "pending"}, PaymentState.AUTHORIZED),
    ],
)
def test_the_payment_result_decides_the_state(payroc, router, kind, transaction_result, state):
    router.get(INSTRUCTION_URL).respond(200, json=examples.INSTRUCTION_COMPLETED)
    router.get(PAYMENT_URL).respond(200, json=examples.payment(**transaction_result))

    assert payroc.get_payment(examples.INSTRUCTION_ID, kind=kind).state is state


def test_partial_approval_reports_the_authorised_amount(payroc, router):
    router.get(INSTRUCTION_URL).respond(200, json=examples.INSTRUCTION_COMPLETED)
    router.get(PAYMENT_URL).respond(
        200, json=examples.payment(responseCode="P", authorizedAmount=2500)
    )

    assert payroc.get_payment(examples.INSTRUCTION_ID, kind=PaymentKind.SALE).amount_minor == 2500


@pytest.mark.parametrize(
    ("instruction", "state", "message"),
    [
        (
            {"status": "failure", "errorMessage": "Device declined the instruction"},
            PaymentState.FAILED,
            "Device declined the instruction",
        ),
        ({"status": "canceled"}, PaymentState.CANCELED, ""),
        ({"status": "somethingNew"}, PaymentState.UNKNOWN, ""),
    ],
)
def test_instruction_status_words(payroc, router, instruction, state, message):
    router.get(INSTRUCTION_URL).respond(
        200, json={"paymentInstructionId": examples.INSTRUCTION_ID, **instruction}
    )

    result = payroc.get_payment(examples.INSTRUCTION_ID, kind=PaymentKind.SALE)

    assert (result.state, result.message) == (state, message)


def test_completed_refund_instruction_follows_the_refund_link(payroc, router):
    router.get(f"{PAYROC_BASE}/refund-instructions/{examples.INSTRUCTION_ID}").respond(
        200, json=examples.REFUND_INSTRUCTION_COMPLETED
    )
    router.get(f"{PAYROC_BASE}/refunds/{examples.REFUND_ID}").respond(200, json=examples.refund())

    result = payroc.get_payment(examples.INSTRUCTION_ID, kind=PaymentKind.REFUND)

    assert result.state is PaymentState.APPROVED
    assert result.transaction_ref == examples.REFUND_ID
    assert result.amount_minor == 4999


@pytest.mark.parametrize(
    "href",
    [
        "https://api.payroc.com/v1/payments/../devices/1",
        "https://api.payroc.com/v1/processing-terminals/1234001",
        "https://elsewhere.test/admin",
    ],
)
def test_links_outside_payments_and_refunds_are_not_followed(payroc, router, href):
    completed = {
        **examples.INSTRUCTION_COMPLETED,
        "link": {"rel": "payment", "method": "GET", "href": href},
    }
    router.get(INSTRUCTION_URL).respond(200, json=completed)

    with pytest.raises(UnexpectedResponse):
        payroc.get_payment(examples.INSTRUCTION_ID, kind=PaymentKind.SALE)
    assert len(router.calls) == 1


# -- aborting ------------------------------------------------------------------------


def test_abort_deletes_the_instruction(payroc, router):
    route = router.delete(INSTRUCTION_URL).respond(204)

    assert payroc.abort_payment(examples.INSTRUCTION_ID, kind=PaymentKind.SALE) is None
    assert "Idempotency-Key" not in route.calls.last.request.headers


def test_abort_of_a_finished_instruction_is_not_abortable(payroc, router):
    router.delete(INSTRUCTION_URL).respond(
        409, json=examples.CANNOT_BE_DELETED, headers={"Content-Type": "application/problem+json"}
    )

    with pytest.raises(NotAbortable) as caught:
        payroc.abort_payment(examples.INSTRUCTION_ID, kind=PaymentKind.SALE)

    assert caught.value.provider_code == "cannot-be-deleted"
    assert caught.value.http_status == 409
    assert "Completed instruction cannot be deleted" in caught.value.message


# -- problem+json -> taxonomy ---------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "error", "provider_code"),
    [
        (
            400,
            examples.problem(
                400,
                "bad-request",
                "Bad request",
                "One or more validation errors occurred",
                errors=[{"parameter": "order.amount", "message": "must be positive"}],
            ),
            InvalidRequest,
            "bad-request",
        ),
        (
            400,
            examples.problem(
                400,
                "idempotency-key-missing",
                "Idempotency-Key header missing",
                "An 'Idempotency-Key' must be supplied for this request",
            ),
            InvalidRequest,
            "idempotency-key-missing",
        ),
        (
            403,
            examples.problem(403, "forbidden", "Forbidden", "Not allowed"),
            AuthError,
            "forbidden",
        ),
        (
            404,
            examples.problem(404, "not-found", "Not found", "Resource not found"),
            NotFound,
            "not-found",
        ),
        (409, examples.IDEMPOTENCY_KEY_IN_USE, InvalidRequest, "idempotency-key-in-use"),
        (
            415,
            examples.problem(415, "unsupported-media-type", "Unsupported", "Use JSON"),
            InvalidRequest,
            "unsupported-media-type",
        ),
    ],
)
def test_problem_answers_map_to_the_taxonomy(payroc, router, status, body, error, provider_code):
    router.post(INSTRUCTIONS_URL).respond(
        status, json=body, headers={"Content-Type": "application/problem+json"}
    )

    with pytest.raises(error) as caught:
        payroc.start_payment(sale())

    assert type(caught.value) is error
    assert caught.value.permanent
    assert caught.value.provider_code == provider_code
    assert caught.value.http_status == status
    assert body["detail"] in caught.value.message


def test_validation_details_reach_the_message(payroc, router):
    body = examples.problem(
        400,
        "bad-request",
        "Bad request",
        "One or more validation errors occurred",
        errors=[{"parameter": "order.amount", "message": "must be positive"}],
    )
    router.post(INSTRUCTIONS_URL).respond(400, json=body)

    with pytest.raises(InvalidRequest, match="must be positive"):
        payroc.start_payment(sale())


def test_too_many_requests_is_rate_limited_with_retry_after(payroc, router):
    router.get(INSTRUCTION_URL).respond(429, headers={"Retry-After": "7"})

    with pytest.raises(RateLimited) as caught:
        payroc.get_payment(examples.INSTRUCTION_ID, kind=PaymentKind.SALE)

    assert caught.value.retry_after == 7.0
    assert not caught.value.permanent


def test_a_server_error_on_a_read_is_provider_unavailable(payroc, router):
    router.get(INSTRUCTION_URL).respond(500)

    with pytest.raises(ProviderUnavailable):
        payroc.get_payment(examples.INSTRUCTION_ID, kind=PaymentKind.SALE)


# -- terminals --------------------------------------------------------------------


def test_devices_are_listed_page_by_page_with_the_after_cursor(payroc, router):
    second_device = {
        **examples.DEVICE,
        "deviceId": "dev-0002",
        "serialNumber": "1850010869",
        "deactivatedDate": "2024-09-01T00:00:00Z",
    }
    route = router.get(f"{PAYROC_BASE}/devices")
    route.side_effect = [
        httpx.Response(
            200,
            json={
                "limit": 100,
                "count": 1,
                "hasMore": True,
                "data": [examples.DEVICE],
                "links": [
                    {
                        "rel": "next",
                        "method": "get",
                        "href": "https://api.payroc.com/v1/devices?after=c-1&limit=100",
                    }
                ],
            },
        ),
        httpx.Response(
            200,
            json={"limit": 100, "count": 1, "hasMore": False, "data": [second_device], "links": []},
        ),
    ]

    terminals = payroc.list_terminals()

    first, second = (dict(call.request.url.params) for call in route.calls)
    assert first == {"limit": "100"}
    assert second == {"limit": "100", "after": "c-1"}
    assert [(t.ref, t.serial, t.model, t.online, t.status_text) for t in terminals] == [
        ("1850010868", "1850010868", "PAX A920Pro", None, "active"),
        ("1850010869", "1850010869", "PAX A920Pro", None, "deactivated"),
    ]


def test_get_terminal_searches_by_serial_number(payroc, router):
    route = router.get(f"{PAYROC_BASE}/devices").respond(
        200, json={"limit": 10, "count": 1, "hasMore": False, "data": [examples.DEVICE]}
    )

    terminal = payroc.get_terminal(SERIAL)

    assert dict(route.calls.last.request.url.params) == {"serialNumber": SERIAL}
    assert terminal.ref == SERIAL


def test_get_terminal_of_an_unknown_serial_is_not_found(payroc, router):
    router.get(f"{PAYROC_BASE}/devices").respond(
        200, json={"limit": 10, "count": 0, "hasMore": False, "data": []}
    )

    with pytest.raises(NotFound):
        payroc.get_terminal("nope")


def test_payroc_cannot_rename_terminals_or_verify_webhooks(payroc):
    assert not payroc.capabilities.can_rename
    with pytest.raises(UnsupportedOperation):
        payroc.rename_terminal(SERIAL, name="Till 2")
    with pytest.raises(UnsupportedOperation):
        payroc.verify_webhook({}, b"{}")


# -- capture and referenced refund ---------------------------------------------------


def test_capture_posts_to_the_payment_with_an_idempotency_key(payroc, router):
    route = router.post(f"{PAYMENT_URL}/capture").respond(200, json=examples.payment())

    result = payroc.capture(
        examples.PAYMENT_ID, idempotency_key=IDEMPOTENCY_KEY, amount_minor=4000, currency="USD"
    )

    assert route.calls.last.request.headers["Idempotency-Key"] == IDEMPOTENCY_KEY
    assert sent_json(route.calls.last) == {"processingTerminalId": "1234001", "amount": 4000}
    assert result.state is PaymentState.APPROVED
    assert result.transaction_ref == examples.PAYMENT_ID


def test_capture_of_the_full_amount_sends_no_amount(payroc, router):
    route = router.post(f"{PAYMENT_URL}/capture").respond(200, json=examples.payment())

    payroc.capture(examples.PAYMENT_ID, idempotency_key=IDEMPOTENCY_KEY)

    assert sent_json(route.calls.last) == {"processingTerminalId": "1234001"}


def test_referenced_refund_posts_amount_and_description_and_reads_the_new_refund(payroc, router):
    route = router.post(f"{PAYMENT_URL}/refund").respond(200, json=examples.refunded_payment())

    result = payroc.refund(
        RefundRequest(
            original_transaction_ref=examples.PAYMENT_ID,
            amount_minor=4999,
            currency="USD",
            idempotency_key=IDEMPOTENCY_KEY,
            reference="R-OrderRef6543",
            description="Refund for order OrderRef6543",
        )
    )

    assert route.calls.last.request.headers["Idempotency-Key"] == IDEMPOTENCY_KEY
    assert sent_json(route.calls.last) == {
        "amount": 4999,
        "description": "Refund for order OrderRef6543",
    }
    assert result.state is PaymentState.APPROVED
    assert result.transaction_ref == examples.REFUND_ID
    assert result.message == "Transaction refunded"


def test_referenced_refund_in_an_open_batch_is_a_reversal(payroc, router):
    reversed_payment = examples.payment(status="reversal")
    router.post(f"{PAYMENT_URL}/refund").respond(200, json=reversed_payment)

    result = payroc.refund(RefundRequest(examples.PAYMENT_ID, 4999, "USD", IDEMPOTENCY_KEY, "R-1"))

    assert result.state is PaymentState.APPROVED
    assert "reversed" in result.message


def test_referenced_refund_answer_without_the_refund_is_outcome_unknown(payroc, router):
    router.post(f"{PAYMENT_URL}/refund").respond(200, json=examples.payment())

    with pytest.raises(OutcomeUnknown):
        payroc.refund(RefundRequest(examples.PAYMENT_ID, 4999, "USD", IDEMPOTENCY_KEY, "R-1"))

"""Every request the Payroc adapter sends, checked against Payroc's official OpenAPI spec.

Each scenario drives the adapter against respx routes that answer with the
spec's own examples; then every request sent (and every answer used) must pass
openapi-core validation, except the calls listed in ``NOT_IN_SPEC``.
"""

from __future__ import annotations

import json

import httpx
import pytest

from providers.base import MemoryTokenStore, PaymentKind, RefundRequest, StartRequest
from providers.errors import NotAbortable
from providers.payroc import PayrocProvider
from tests.providers import payroc_examples as examples
from tests.providers.accounts import (
    IDEMPOTENCY_KEY,
    PAYROC_BASE,
    PAYROC_IDENTITY,
    SERIAL,
    fixed_clock,
)
from tests.providers.payroc_openapi import (
    NOT_IN_SPEC,
    api_path,
    payroc_spec_available,
    validate_payroc_request,
    validate_payroc_response,
)


def test_the_payroc_spec_is_in_the_repository():
    assert payroc_spec_available(), "tests/providers/data/payroc-openapi.yaml is missing"


def start(kind: PaymentKind) -> StartRequest:
    return StartRequest(
        kind=kind,
        terminal_ref=SERIAL,
        amount_minor=4999,
        currency="USD",
        idempotency_key=IDEMPOTENCY_KEY,
        reference="OrderRef6543",
        description="Dinner",
    )


def token_answer() -> httpx.Response:
    return httpx.Response(
        200,
        json={"access_token": "bearer-1", "expires_in": 3600, "scope": "s", "token_type": "Bearer"},
    )


def fetch_token_and_list_devices(provider, router):
    router.post(PAYROC_IDENTITY).mock(return_value=token_answer())
    router.get(f"{PAYROC_BASE}/devices").respond(
        200, json={"limit": 100, "count": 1, "hasMore": False, "data": [examples.DEVICE]}
    )
    provider.list_terminals()


def start_sale(provider, router):
    router.post(f"{PAYROC_BASE}/devices/{SERIAL}/payment-instructions").respond(
        202, json=examples.INSTRUCTION_IN_PROGRESS
    )
    provider.start_payment(start(PaymentKind.SALE))


def start_pre_authorisation(provider, router):
    router.post(f"{PAYROC_BASE}/devices/{SERIAL}/payment-instructions").respond(
        202, json=examples.INSTRUCTION_IN_PROGRESS
    )
    provider.start_payment(start(PaymentKind.AUTH))


def start_device_refund(provider, router):
    router.post(f"{PAYROC_BASE}/devices/{SERIAL}/refund-instructions").respond(
        202, json=examples.REFUND_INSTRUCTION_IN_PROGRESS
    )
    provider.start_payment(start(PaymentKind.REFUND))


def retry_after_401(provider, router):
    router.post(PAYROC_IDENTITY).mock(return_value=token_answer())
    router.post(f"{PAYROC_BASE}/devices/{SERIAL}/payment-instructions").mock(
        side_effect=[
            httpx.Response(
                401,
                json=examples.NOT_AUTHORIZED,
                headers={"Content-Type": "application/problem+json"},
            ),
            httpx.Response(202, json=examples.INSTRUCTION_IN_PROGRESS),
        ]
    )
    provider.start_payment(start(PaymentKind.SALE))


def follow_payment_to_its_result(provider, router):
    router.get(f"{PAYROC_BASE}/payment-instructions/{examples.INSTRUCTION_ID}").respond(
        200, json=examples.INSTRUCTION_COMPLETED
    )
    router.get(f"{PAYROC_BASE}/payments/{examples.PAYMENT_ID}").respond(
        200, json=examples.payment()
    )
    provider.get_payment(examples.INSTRUCTION_ID, kind=PaymentKind.SALE, wait=True)


def follow_device_refund_to_its_result(provider, router):
    router.get(f"{PAYROC_BASE}/refund-instructions/{examples.INSTRUCTION_ID}").respond(
        200, json=examples.REFUND_INSTRUCTION_COMPLETED
    )
    router.get(f"{PAYROC_BASE}/refunds/{examples.REFUND_ID}").respond(200, json=examples.refund())
    provider.get_payment(examples.INSTRUCTION_ID, kind=PaymentKind.REFUND, wait=True)


def abort_payment(provider, router):
    router.delete(f"{PAYROC_BASE}/payment-instructions/{examples.INSTRUCTION_ID}").respond(204)
    provider.abort_payment(examples.INSTRUCTION_ID, kind=PaymentKind.SALE)


def abort_finished_payment(provider, router):
    router.delete(f"{PAYROC_BASE}/payment-instructions/{examples.INSTRUCTION_ID}").respond(
        409, json=examples.CANNOT_BE_DELETED, headers={"Content-Type": "application/problem+json"}
    )
    with pytest.raises(NotAbortable):
        provider.abort_payment(examples.INSTRUCTION_ID, kind=PaymentKind.SALE)


def abort_device_refund(provider, router):
    router.delete(f"{PAYROC_BASE}/refund-instructions/{examples.INSTRUCTION_ID}").respond(204)
    provider.abort_payment(examples.INSTRUCTION_ID, kind=PaymentKind.REFUND)


def capture_part(provider, router):
    router.post(f"{PAYROC_BASE}/payments/{examples.PAYMENT_ID}/capture").respond(
        200, json=examples.payment()
    )
    provider.capture(
        examples.PAYMENT_ID, idempotency_key=IDEMPOTENCY_KEY, amount_minor=4000, currency="USD"
    )


def capture_all(provider, router):
    router.post(f"{PAYROC_BASE}/payments/{examples.PAYMENT_ID}/capture").respond(
        200, json=examples.payment()
    )
    provider.capture(examples.PAYMENT_ID, idempotency_key=IDEMPOTENCY_KEY)


def referenced_refund(provider, router):
    router.post(f"{PAYROC_BASE}/payments/{examples.PAYMENT_ID}/refund").respond(
        200, json=examples.refunded_payment()
    )
    provider.refund(
        RefundRequest(
            original_transaction_ref=examples.PAYMENT_ID,
            amount_minor=4999,
            currency="USD",
            idempotency_key=IDEMPOTENCY_KEY,
            reference="R-OrderRef6543",
        )
    )


SCENARIOS = [
    fetch_token_and_list_devices,
    start_sale,
    start_pre_authorisation,
    start_device_refund,
    retry_after_401,
    follow_payment_to_its_result,
    follow_device_refund_to_its_result,
    abort_payment,
    abort_finished_payment,
    abort_device_refund,
    capture_part,
    capture_all,
    referenced_refund,
]


@pytest.fixture
def fresh_payroc(router, payroc_account):
    """A Payroc adapter with an empty token store, so the token fetch is part of the flow."""
    with PayrocProvider(
        payroc_account, token_store=MemoryTokenStore(), clock=fixed_clock
    ) as provider:
        yield provider


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda scenario: scenario.__name__)
def test_every_request_the_adapter_sends_matches_the_spec(fresh_payroc, router, scenario):
    router.post(PAYROC_IDENTITY).mock(return_value=token_answer())

    scenario(fresh_payroc, router)

    requests = [call.request for call in router.calls]
    assert requests, "the scenario sent nothing"
    checked = [validate_payroc_request(request) for request in requests]
    skipped = {
        (request.method, api_path(request.url))
        for request, ok in zip(requests, checked, strict=False)
        if not ok
    }
    assert skipped <= set(NOT_IN_SPEC)
    assert any(checked) or scenario is fetch_token_and_list_devices


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda scenario: scenario.__name__)
def test_the_answers_used_in_these_tests_match_the_spec(fresh_payroc, router, scenario):
    router.post(PAYROC_IDENTITY).mock(return_value=token_answer())

    scenario(fresh_payroc, router)

    for call in router.calls:
        validate_payroc_response(call.response)


# -- the checker itself catches violations ------------------------------------------------

INSTRUCTION_URL = f"{PAYROC_BASE}/devices/{SERIAL}/payment-instructions"
GOOD_BODY = {
    "processingTerminalId": "1234001",
    "order": {"orderId": "OrderRef6543", "amount": 4999, "currency": "USD"},
}
GOOD_HEADERS = {"Authorization": "Bearer bearer-1", "Idempotency-Key": IDEMPOTENCY_KEY}


def test_a_valid_request_passes():
    assert validate_payroc_request(
        httpx.Request("POST", INSTRUCTION_URL, json=GOOD_BODY, headers=GOOD_HEADERS)
    )


def test_a_missing_idempotency_key_is_reported():
    request = httpx.Request(
        "POST", INSTRUCTION_URL, json=GOOD_BODY, headers={"Authorization": "Bearer b"}
    )

    with pytest.raises(AssertionError, match="Idempotency-Key"):
        validate_payroc_request(request)


@pytest.mark.parametrize(
    "body",
    [
        {"order": GOOD_BODY["order"]},
        {**GOOD_BODY, "order": {**GOOD_BODY["order"], "amount": "49.99"}},
        {**GOOD_BODY, "order": {**GOOD_BODY["order"], "orderId": "x" * 25}},
        {**GOOD_BODY, "customizationOptions": {"entryMethod": "tap"}},
    ],
)
def test_a_body_outside_the_schema_is_reported(body):
    request = httpx.Request(
        "POST",
        INSTRUCTION_URL,
        content=json.dumps(body).encode(),
        headers={**GOOD_HEADERS, "Content-Type": "application/json"},
    )

    with pytest.raises(AssertionError, match="breaks Payroc's OpenAPI spec"):
        validate_payroc_request(request)


def test_a_missing_bearer_token_is_reported():
    request = httpx.Request(
        "POST", INSTRUCTION_URL, json=GOOD_BODY, headers={"Idempotency-Key": IDEMPOTENCY_KEY}
    )

    with pytest.raises(AssertionError):
        validate_payroc_request(request)


def test_only_the_listed_calls_are_skipped():
    assert (
        validate_payroc_request(httpx.Request("GET", f"{PAYROC_BASE}/devices?limit=100")) is False
    )
    assert validate_payroc_request(httpx.Request("POST", PAYROC_IDENTITY)) is False
    with pytest.raises(AssertionError):
        validate_payroc_request(
            httpx.Request("GET", f"{PAYROC_BASE}/devices/{SERIAL}/everything", headers=GOOD_HEADERS)
        )


def test_our_base_url_and_the_real_one_map_to_the_same_spec_path():
    assert api_path(httpx.URL(f"{PAYROC_BASE}/payments/M2MJOG6O2Y")) == "/payments/M2MJOG6O2Y"
    assert (
        api_path(httpx.URL("https://api.uat.payroc.com/v1/payments/M2MJOG6O2Y"))
        == "/payments/M2MJOG6O2Y"
    )

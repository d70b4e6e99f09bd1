"""Every free-text field an adapter sends stops at its provider's documented limit: a description
at the limit goes whole, one character more is cut to the limit, and a reference over its limit is
refused with a clear error before any HTTP call.

Documented limits (`shared/providers/payroc-openapi.yaml` maxLength, `usaepay.md`, `komoju.md`):
Payroc order.description 1,024, referencedRefund.description 100, orderId 24; USAePay documents
only `invoice` (11), which we never send; KOMOJU only its idempotency key (<= 100 ASCII: ours is a
UUID4); Klearly and Integra document none.
"""

from __future__ import annotations

import json

import pytest

from providers.base import MAX_REFERENCE_LENGTH, PaymentKind, RefundRequest, StartRequest
from providers.errors import InvalidRequest
from providers.payroc import ORDER_DESCRIPTION_MAX, REFERENCED_REFUND_DESCRIPTION_MAX
from tests.providers import payroc_examples as examples
from tests.providers.accounts import IDEMPOTENCY_KEY, PAYROC_BASE, SERIAL

INSTRUCTIONS_URL = f"{PAYROC_BASE}/devices/{SERIAL}/payment-instructions"
REFUND_INSTRUCTIONS_URL = f"{PAYROC_BASE}/devices/{SERIAL}/refund-instructions"
REFUND_URL = f"{PAYROC_BASE}/payments/{examples.PAYMENT_ID}/refund"


def start(kind: PaymentKind, description: str) -> StartRequest:
    return StartRequest(
        kind=kind,
        terminal_ref=SERIAL,
        amount_minor=4999,
        currency="USD",
        idempotency_key=IDEMPOTENCY_KEY,
        reference="OrderRef6543",
        description=description,
    )


def referenced_refund(description: str) -> RefundRequest:
    return RefundRequest(
        original_transaction_ref=examples.PAYMENT_ID,
        amount_minor=4999,
        currency="USD",
        idempotency_key=IDEMPOTENCY_KEY,
        reference="R-OrderRef6543",
        description=description,
    )


def test_payrocs_documented_limits_are_the_adapters():
    assert ORDER_DESCRIPTION_MAX == 1024
    assert REFERENCED_REFUND_DESCRIPTION_MAX == 100
    assert MAX_REFERENCE_LENGTH == 24


@pytest.mark.parametrize(
    ("kind", "url", "answer"),
    [
        (PaymentKind.SALE, INSTRUCTIONS_URL, examples.INSTRUCTION_IN_PROGRESS),
        (PaymentKind.AUTH, INSTRUCTIONS_URL, examples.INSTRUCTION_IN_PROGRESS),
        (PaymentKind.REFUND, REFUND_INSTRUCTIONS_URL, examples.REFUND_INSTRUCTION_IN_PROGRESS),
    ],
)
@pytest.mark.parametrize(("length", "sent"), [(1024, 1024), (1025, 1024), (5000, 1024), (1, 1)])
def test_a_payroc_order_description_is_sent_up_to_1024_characters(
    payroc, router, kind, url, answer, length, sent
):
    route = router.post(url).respond(202, json=answer)
    description = ("Café ☕ " * 1000)[:length]

    payroc.start_payment(start(kind, description))

    order = json.loads(route.calls.last.request.content)["order"]
    assert order["description"] == description[:sent]
    assert len(order["description"]) == sent


@pytest.mark.parametrize(("length", "sent"), [(100, 100), (101, 100), (1024, 100)])
def test_a_payroc_referenced_refund_description_is_sent_up_to_100_characters(
    payroc, router, length, sent
):
    route = router.post(REFUND_URL).respond(200, json=examples.refunded_payment())
    description = "x" * length

    payroc.refund(referenced_refund(description))

    assert json.loads(route.calls.last.request.content)["description"] == "x" * sent


def test_a_blank_referenced_refund_description_becomes_the_default_since_payroc_needs_one(
    payroc, router
):
    route = router.post(REFUND_URL).respond(200, json=examples.refunded_payment())

    payroc.refund(referenced_refund("   "))

    assert json.loads(route.calls.last.request.content)["description"] == (
        "Refund for order R-OrderRef6543"
    )


def test_a_reference_of_24_characters_is_sent_and_25_refused_before_any_call(payroc, router):
    route = router.post(INSTRUCTIONS_URL).respond(202, json=examples.INSTRUCTION_IN_PROGRESS)
    fields = {
        "kind": PaymentKind.SALE,
        "terminal_ref": SERIAL,
        "amount_minor": 4999,
        "currency": "USD",
        "idempotency_key": IDEMPOTENCY_KEY,
    }

    payroc.start_payment(StartRequest(**fields, reference="R" * 24))
    assert json.loads(route.calls.last.request.content)["order"]["orderId"] == "R" * 24

    with pytest.raises(InvalidRequest, match="1 to 24 characters"):
        payroc.start_payment(StartRequest(**fields, reference="R" * 25))
    assert route.call_count == 1

"""Exactly-once starts at the wire: which transport failures allow sending a start again.

Only a failure before anything was sent (connection refused, name or TLS failure, connect timeout)
lets a start go out again to a provider without an idempotency key (USAePay, Integra). After a read
timeout or a broken exchange the first start may still land, so it is looked up by our order id and
never sent a second time; nothing here sleeps. respx stands in for the transport.
"""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from providers.base import AccountConfig, PaymentKind, PaymentState, StartRequest
from providers.errors import OutcomeUnknown, ProviderUnavailable, StartInFlight
from providers.mobilepay import MobilepayProvider
from providers.recovery import IN_FLIGHT_WINDOW, look_for_start, nothing_ran, start_exactly_once
from tests.providers import payroc_examples
from tests.providers.accounts import (
    DEVICE_KEY,
    IDEMPOTENCY_KEY,
    NOW,
    PAYROC_BASE,
    SERIAL,
    USAEPAY_BASE,
    fixed_clock,
)

PAYREQUESTS_URL = f"{USAEPAY_BASE}/paymentengine/payrequests"
REQUEST_KEY = "pr_3mW7rstrdA0Sp32LW9MN3djCITAhx"
STARTED = {"type": "request", "key": REQUEST_KEY, "status": "sent to device"}

INTEGRA_BASE = "https://sandbox.test/sandbox/mobilepay/"
START_URL = f"{INTEGRA_BASE}api/pos/payment/start"
STATUS_URL = f"{INTEGRA_BASE}api/pos/payment/status"
PAYMENTS_URL = f"{INTEGRA_BASE}api/pos/payments"
RETRIEVE_URL = f"{INTEGRA_BASE}api/pos/payment/id/retrieve/byterminal"
PAYMENT_ID = "2c9d1f3e-7a55-4f0b-9a61-5d3b1c0e8f42"

NEVER_SENT = [
    httpx.ConnectError("connection refused"),
    httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED]"),
    httpx.ConnectError("[Errno -2] Name or service not known"),
    httpx.ConnectTimeout("no route to host"),
]
MAYBE_IN_FLIGHT = [
    httpx.ReadTimeout("no answer within the read timeout"),
    httpx.WriteTimeout("request body not fully sent"),
    httpx.RemoteProtocolError("server hung up mid-answer"),
    httpx.ReadError("connection reset by peer"),
]


def ids(errors):
    return [f"{type(e).__name__}:{e}" for e in errors]


def usaepay_sale(**overrides) -> StartRequest:
    fields = {
        "kind": PaymentKind.SALE,
        "terminal_ref": DEVICE_KEY,
        "amount_minor": 888,
        "currency": "USD",
        "idempotency_key": IDEMPOTENCY_KEY,
        "reference": "ORDER-1001",
    }
    return StartRequest(**(fields | overrides))


def usaepay_listing(*requests) -> dict:
    return {
        "type": "list",
        "limit": 100,
        "offset": 0,
        "data": list(requests),
        "total": len(requests),
    }


@pytest.fixture
def mobilepay(router):
    provider = MobilepayProvider(
        AccountConfig(
            provider="mobilepay",
            environment="sandbox",
            base_url=INTEGRA_BASE,
            secrets={"access_token": "integra-token-6c0f8e2a91", "bio_code": "bio-4471"},
            settings={"terminal_ids": ["T-101"]},
        ),
        clock=fixed_clock,
    )
    yield provider
    provider.close()


def mobilepay_sale() -> StartRequest:
    return StartRequest(
        kind=PaymentKind.SALE,
        terminal_ref="T-101",
        amount_minor=2700,
        currency="DKK",
        idempotency_key=IDEMPOTENCY_KEY,
        reference="ORDER-77",
    )


def ok(**payload) -> dict:
    return {**payload, "success": True, "errors": []}


def integra_lists_nothing(router) -> None:
    router.get(PAYMENTS_URL).respond(200, json=ok(paymentIds=[]))
    router.get(RETRIEVE_URL).respond(404, json={"success": False, "errors": ["not_found"]})


# -- how transport failures are classified ------------------------------------------------------


@pytest.mark.parametrize("failure", NEVER_SENT, ids=ids(NEVER_SENT))
def test_a_failure_before_sending_is_marked_never_sent(usaepay, router, failure):
    router.post(PAYREQUESTS_URL).mock(side_effect=failure)

    with pytest.raises(ProviderUnavailable) as caught:
        usaepay.start_payment(usaepay_sale())

    assert caught.value.sent is False and nothing_ran(caught.value)


@pytest.mark.parametrize("failure", MAYBE_IN_FLIGHT, ids=ids(MAYBE_IN_FLIGHT))
def test_a_failure_after_sending_a_start_may_have_reached_the_provider(usaepay, router, failure):
    router.post(PAYREQUESTS_URL).mock(side_effect=failure)

    with pytest.raises(OutcomeUnknown) as caught:
        usaepay.start_payment(usaepay_sale())

    assert caught.value.sent is True and not nothing_ran(caught.value)


def test_a_503_answer_is_a_refusal_and_a_502_may_have_run(usaepay, router):
    router.post(PAYREQUESTS_URL).mock(
        side_effect=[
            httpx.Response(503, json={"error": "Gateway temporarily offline.", "errorcode": 18}),
            httpx.Response(502, text="Bad Gateway"),
        ]
    )

    with pytest.raises(ProviderUnavailable) as refused:
        usaepay.start_payment(usaepay_sale())
    with pytest.raises(OutcomeUnknown) as broken:
        usaepay.start_payment(usaepay_sale())

    assert nothing_ran(refused.value) and not nothing_ran(broken.value)


# -- starts without an idempotency key ------------------------------------------------------------


@pytest.mark.parametrize("failure", NEVER_SENT, ids=ids(NEVER_SENT))
def test_a_start_that_never_left_us_is_reported_as_nothing_ran(usaepay, router, failure):
    start = router.post(PAYREQUESTS_URL).mock(side_effect=failure)
    lookup = router.get(PAYREQUESTS_URL)

    with pytest.raises(ProviderUnavailable) as caught:
        start_exactly_once(usaepay, usaepay_sale())

    # Safe to send again later (the caller decides when): this one never reached USAePay.
    assert start.call_count == 1 and not lookup.called
    assert caught.value.sent is False


def test_a_start_that_never_left_us_may_be_sent_again_and_then_runs_once(usaepay, router):
    start = router.post(PAYREQUESTS_URL).mock(
        side_effect=[httpx.ConnectError("connection refused"), httpx.Response(200, json=STARTED)]
    )

    with pytest.raises(ProviderUnavailable):
        start_exactly_once(usaepay, usaepay_sale())
    result = start_exactly_once(usaepay, usaepay_sale())

    assert result.provider_ref == REQUEST_KEY and start.call_count == 2


@pytest.mark.parametrize("failure", MAYBE_IN_FLIGHT, ids=ids(MAYBE_IN_FLIGHT))
def test_a_usaepay_start_that_may_be_in_flight_is_never_posted_twice(usaepay, router, failure):
    start = router.post(PAYREQUESTS_URL).mock(side_effect=failure)
    lookup = router.get(PAYREQUESTS_URL).respond(200, json=usaepay_listing())  # not listed yet

    with pytest.raises(StartInFlight) as caught:
        start_exactly_once(usaepay, usaepay_sale())

    assert start.call_count == 1  # no second POST
    assert lookup.call_count == 1  # looked once, without sleeping
    assert caught.value.retry_after == usaepay.capabilities.poll_interval_s
    assert caught.value.look_until == NOW + IN_FLIGHT_WINDOW


def test_a_stalled_usaepay_start_that_lands_later_is_found_by_its_order_id(usaepay, router):
    start = router.post(PAYREQUESTS_URL).mock(side_effect=httpx.ReadTimeout("stalled"))
    landed = {**STARTED, "orderid": "ORDER-1001"}
    router.get(PAYREQUESTS_URL).mock(
        side_effect=[
            httpx.Response(200, json=usaepay_listing()),  # start_exactly_once: not there yet
            httpx.Response(200, json=usaepay_listing()),  # the caller's first look: still not
            httpx.Response(200, json=usaepay_listing(landed)),  # it landed
        ]
    )
    req = usaepay_sale()

    with pytest.raises(StartInFlight) as caught:
        start_exactly_once(usaepay, req)
    with pytest.raises(StartInFlight):
        look_for_start(usaepay, req, look_until=caught.value.look_until)
    found = look_for_start(usaepay, req, look_until=caught.value.look_until)

    assert found.provider_ref == REQUEST_KEY and found.state is PaymentState.PENDING
    assert start.call_count == 1


def test_a_start_that_never_appears_by_the_deadline_stays_unknown_and_is_not_sent(usaepay, router):
    start = router.post(PAYREQUESTS_URL)
    router.get(PAYREQUESTS_URL).respond(200, json=usaepay_listing())

    with pytest.raises(OutcomeUnknown) as caught:
        look_for_start(usaepay, usaepay_sale(), look_until=NOW - timedelta(seconds=1))

    assert not isinstance(caught.value, StartInFlight)
    assert "Do not charge again" in caught.value.message
    assert not start.called


def test_a_lookup_that_cannot_tell_keeps_the_start_in_flight(usaepay, router):
    router.post(PAYREQUESTS_URL).mock(side_effect=httpx.ReadTimeout("stalled"))
    router.get(PAYREQUESTS_URL).mock(side_effect=httpx.ReadTimeout("the listing stalls too"))

    with pytest.raises(StartInFlight):
        start_exactly_once(usaepay, usaepay_sale())
    with pytest.raises(StartInFlight):
        look_for_start(usaepay, usaepay_sale(), look_until=NOW + timedelta(seconds=30))


def test_a_stalled_integra_start_is_never_sent_twice_and_found_once_it_lands(mobilepay, router):
    start = router.get(START_URL).mock(side_effect=httpx.ReadTimeout("stalled"))
    listing = router.get(PAYMENTS_URL).mock(
        side_effect=[
            httpx.Response(200, json=ok(paymentIds=[])),
            httpx.Response(200, json=ok(paymentIds=[])),
            httpx.Response(200, json=ok(paymentIds=[PAYMENT_ID])),
        ]
    )
    router.get(RETRIEVE_URL).respond(404, json={"success": False, "errors": ["not_found"]})
    router.get(STATUS_URL).respond(200, json=ok(status="Initiated"))
    req = mobilepay_sale()

    with pytest.raises(StartInFlight) as caught:
        start_exactly_once(mobilepay, req)
    found = look_for_start(mobilepay, req, look_until=caught.value.look_until)

    assert start.call_count == 1
    assert listing.call_count == 3
    assert found.provider_ref == PAYMENT_ID


def test_an_integra_start_refused_before_the_connection_is_safe_to_send_again(mobilepay, router):
    start = router.get(START_URL).mock(side_effect=httpx.ConnectError("connection refused"))
    integra_lists_nothing(router)

    with pytest.raises(ProviderUnavailable) as caught:
        start_exactly_once(mobilepay, mobilepay_sale())

    assert start.call_count == 1 and caught.value.sent is False


# -- starts with an idempotency key --------------------------------------------------------------


def test_a_keyed_start_whose_answer_was_lost_is_sent_again_with_the_same_key(payroc, router):
    url = f"{PAYROC_BASE}/devices/{SERIAL}/payment-instructions"
    route = router.post(url).mock(
        side_effect=[
            httpx.ReadTimeout("stalled"),
            httpx.Response(202, json=payroc_examples.INSTRUCTION_IN_PROGRESS),
        ]
    )

    result = start_exactly_once(payroc, payroc_sale())

    assert result.provider_ref == payroc_examples.INSTRUCTION_ID
    keys = {call.request.headers["Idempotency-Key"] for call in route.calls}
    assert route.call_count == 2 and keys == {IDEMPOTENCY_KEY}


def test_a_keyed_start_lost_every_time_is_in_flight_not_failed(payroc, router):
    url = f"{PAYROC_BASE}/devices/{SERIAL}/payment-instructions"
    route = router.post(url).mock(side_effect=httpx.ReadTimeout("stalled"))

    with pytest.raises(StartInFlight):
        start_exactly_once(payroc, payroc_sale(), attempts=2)

    assert route.call_count == 2  # back to back, same key, no pause


def payroc_sale() -> StartRequest:
    return StartRequest(
        kind=PaymentKind.SALE,
        terminal_ref=SERIAL,
        amount_minor=1001,
        currency="USD",
        idempotency_key=IDEMPOTENCY_KEY,
        reference="ORDER-5",
    )

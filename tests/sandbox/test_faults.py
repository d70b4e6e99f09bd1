"""Fault switches as a client meets them over real HTTP: lost responses, 5xx answers, latency."""

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from sandbox import services
from sandbox.models import SandboxDevice, SandboxPayment
from tests.sandbox.conftest import new_key, start_instruction, start_payrequest, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

LOST = (httpx.RemoteProtocolError, httpx.ReadError)


def test_a_lost_payroc_response_is_a_client_error_and_the_retry_replays_one_instruction(
    payroc, payroc_device
):
    services.device_set_switches(device=payroc_device, lose_next_response=True)
    key = new_key()

    with pytest.raises(LOST):
        start_instruction(payroc, payroc_device.ref, 1001, key=key, order_id="Order-lost")

    assert SandboxPayment.objects.filter(device=payroc_device, order_ref="Order-lost").count() == 1
    assert SandboxDevice.objects.get(pk=payroc_device.pk).lose_next_response is False
    retry = start_instruction(payroc, payroc_device.ref, 1001, key=key, order_id="Order-lost")
    assert retry.status_code == 202
    instruction_id = retry.json()["paymentInstructionId"]
    assert instruction_id == SandboxPayment.objects.get(order_ref="Order-lost").provider_ref
    wait_until(
        lambda: payroc.get(f"payment-instructions/{instruction_id}").json()["status"] == "completed"
    )
    assert (
        SandboxPayment.objects.charges()
        .filter(device=payroc_device, order_ref="Order-lost")
        .count()
        == 1
    )


def test_a_lost_usaepay_response_leaves_the_request_findable_by_its_orderid(
    usaepay, usaepay_device
):
    services.device_set_switches(device=usaepay_device, lose_next_response=True)

    with pytest.raises(LOST):
        start_payrequest(usaepay, usaepay_device.ref, "10.01", orderid="Order-lost")

    listing = usaepay.get(
        "paymentengine/payrequests", params={"devicekey": usaepay_device.ref}
    ).json()
    assert [entry["orderid"] for entry in listing["data"]] == ["Order-lost"]
    wait_until(
        lambda: (
            usaepay.get(f"paymentengine/payrequests/{listing['data'][0]['key']}").json()["status"]
            == "transaction complete"
        )
    )
    assert SandboxPayment.objects.charges().filter(order_ref="Order-lost").count() == 1


def test_only_the_next_response_is_lost(usaepay, usaepay_device):
    services.device_set_switches(device=usaepay_device, lose_next_response=True)
    with pytest.raises(LOST):
        start_payrequest(usaepay, usaepay_device.ref, "10.01")

    key = usaepay.get("paymentengine/payrequests", params={"devicekey": usaepay_device.ref}).json()[
        "data"
    ][0]["key"]
    assert usaepay.get(f"paymentengine/payrequests/{key}").status_code == 200


def test_the_5xx_switch_answers_503_without_processing_then_recovers(payroc, payroc_device):
    services.device_set_switches(device=payroc_device, fail_next_5xx=2)
    key = new_key()

    first = start_instruction(payroc, payroc_device.ref, 1001, key=key)
    second = start_instruction(payroc, payroc_device.ref, 1001, key=key)
    third = start_instruction(payroc, payroc_device.ref, 1001, key=key)

    assert (first.status_code, second.status_code, third.status_code) == (503, 503, 202)
    assert first.headers["content-type"] == "application/problem+json"
    assert first.json()["type"] == "https://docs.payroc.com/api/errors#api-error"
    assert SandboxPayment.objects.count() == 1


def test_the_usaepay_5xx_switch_answers_a_gateway_error(usaepay, usaepay_device):
    services.device_set_switches(device=usaepay_device, fail_next_5xx=1)

    response = start_payrequest(usaepay, usaepay_device.ref, "10.01")

    assert response.status_code == 503
    assert response.json() == {
        "error": "Gateway temporarily offline. Please try again shortly.",
        "errorcode": 18,
    }
    assert SandboxPayment.objects.count() == 0
    assert start_payrequest(usaepay, usaepay_device.ref, "10.01").status_code == 200


def test_latency_delays_every_answer_for_the_device(usaepay, usaepay_device):
    services.device_set_switches(device=usaepay_device, latency_ms=400)

    began = time.monotonic()
    response = usaepay.get(f"paymentengine/devices/{usaepay_device.ref}")

    assert response.status_code == 200
    assert time.monotonic() - began >= 0.4


def test_concurrent_starts_with_one_idempotency_key_make_one_instruction(payroc, payroc_device):
    key = new_key()

    with ThreadPoolExecutor(max_workers=5) as pool:
        responses = list(
            pool.map(
                lambda _: start_instruction(payroc, payroc_device.ref, 1000, key=key), range(5)
            )
        )

    assert {response.status_code for response in responses} == {202}
    assert len({response.json()["paymentInstructionId"] for response in responses}) == 1
    assert SandboxPayment.objects.count() == 1


def test_concurrent_starts_on_one_device_let_exactly_one_through(usaepay, usaepay_device):
    with ThreadPoolExecutor(max_workers=5) as pool:
        responses = list(
            pool.map(lambda _: start_payrequest(usaepay, usaepay_device.ref, "10.00"), range(5))
        )

    codes = sorted(response.json().get("errorcode", 0) for response in responses)
    assert codes == [0, 21146, 21146, 21146, 21146]
    assert SandboxPayment.objects.count() == 1


def test_a_device_without_a_fault_switch_is_not_written_to_by_a_wire_call(usaepay_device):
    """Every wire call asks the device's switches: with none set that costs no query."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        assert services.device_take_5xx(device=usaepay_device) is False
        assert services.device_take_lost_response(device=usaepay_device) is False
    assert queries.captured_queries == []

    services.device_set_switches(device=usaepay_device, fail_next_5xx=1, lose_next_response=True)
    usaepay_device.refresh_from_db()
    assert services.device_take_5xx(device=usaepay_device) is True
    assert services.device_take_lost_response(device=usaepay_device) is True
    usaepay_device.refresh_from_db()
    assert services.device_take_5xx(device=usaepay_device) is False
    assert services.device_take_lost_response(device=usaepay_device) is False

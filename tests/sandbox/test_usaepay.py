"""The USAePay Payment Engine emulator over real HTTP, checked against usaepay.md and seed 004."""

import re

import httpx
import pytest

from providers.http import tls_context
from sandbox import services
from sandbox.models import PaymentStatus, SandboxPayment
from tests.sandbox.conftest import (
    USAEPAY_API_KEY,
    USAEPAY_PIN,
    start_payrequest,
    usaepay_header,
    wait_until,
)

pytestmark = pytest.mark.django_db(transaction=True)

# usaepay.md §2: the documented header for this key, seed "abcdefghijklmnop" and PIN 123456.
DOCUMENTED_HEADER = (
    "Basic X1Y4N1F0YjUxM0NkM3ZhYk03UkMwVGJ0SldlU284cDc6czIvYWJjZGVmZ2hpamtsbW5vcC9iNzRjMmZhOTFmYjBhMDk3NTVlMzc3"
    "ZWU4ZTIwYWE4NmQyYjkyYzNkMmYyNzcyODBkYjU5NWY2MzZiYjE5MGU2"
)


def status_of(client, key) -> dict:
    return client.get(f"paymentengine/payrequests/{key}").json()


def finished(client, key) -> dict:
    return wait_until(
        lambda: (
            (body := status_of(client, key))["status"]
            not in ("sent to device", "sending to device")
            and body
        )
    )


# -- auth -----------------------------------------------------------------------------------------


def test_the_documented_example_header_authenticates(usaepay_account, usaepay_base):
    assert (
        usaepay_header(USAEPAY_API_KEY, USAEPAY_PIN, seed="abcdefghijklmnop") == DOCUMENTED_HEADER
    )

    response = httpx.get(
        usaepay_base + "/paymentengine/devices",
        headers={"Authorization": DOCUMENTED_HEADER},
        verify=tls_context(),
    )

    assert response.status_code == 200


def test_a_hash_made_with_the_wrong_pin_is_refused(usaepay_account, usaepay_base):
    response = httpx.get(
        usaepay_base + "/paymentengine/devices",
        headers={"Authorization": usaepay_header(USAEPAY_API_KEY, "999999")},
        verify=tls_context(),
    )

    assert response.status_code == 401
    assert response.json() == {
        "error": "Unable to validate request. Check pin and try again.",
        "errorcode": 20008,
    }


def test_an_unknown_key_or_no_credentials_are_refused(usaepay_account, usaepay_base):
    unknown = httpx.get(
        usaepay_base + "/paymentengine/devices",
        headers={"Authorization": usaepay_header("nope", USAEPAY_PIN)},
        verify=tls_context(),
    )
    anonymous = httpx.get(usaepay_base + "/paymentengine/devices", verify=tls_context())

    assert unknown.status_code == anonymous.status_code == 401
    assert (
        unknown.json()
        == anonymous.json()
        == {"error": "Specified source key not found.", "errorcode": 23}
    )


# -- devices --------------------------------------------------------------------------------------


def test_devices_are_listed_with_their_connection_status(usaepay, usaepay_device, usaepay_account):
    services.sandbox_device_ensure(
        account=usaepay_account,
        ref="sa_second",
        name="Back office",
        model="MP200",
        serial="2",
        online=False,
    )

    body = usaepay.get("paymentengine/devices").json()

    assert (body["type"], body["limit"], body["offset"], body["total"]) == ("list", 20, 0, 2)
    first, second = body["data"]
    assert first["type"] == "device" and first["key"] == usaepay_device.ref
    assert first["status"] == "connected" and second["status"] == "offline"
    assert first["terminal_info"] == {
        "make": "Castles",
        "model": "MP200",
        "revision": None,
        "serial": "000313162200473",
    }


def test_a_device_is_renamed_keeping_letters_digits_spaces_and_dashes(usaepay, usaepay_device):
    response = usaepay.put(
        f"paymentengine/devices/{usaepay_device.ref}", json={"name": "Front-desk #1!"}
    )

    assert response.status_code == 200 and response.json()["name"] == "Front-desk 1"
    assert (
        usaepay.get(f"paymentengine/devices/{usaepay_device.ref}").json()["name"] == "Front-desk 1"
    )


# -- payment requests -----------------------------------------------------------------------------


def test_a_magic_approve_amount_ends_in_an_approved_transaction(usaepay, usaepay_device):
    response = start_payrequest(usaepay, usaepay_device.ref, "10.01", orderid="Order-1")

    assert response.status_code == 200
    started = response.json()
    assert started["type"] == "request" and started["status"] == "sent to device"
    assert re.fullmatch(r"pr_[A-Za-z0-9]{29}", started["key"])
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", started["expiration"])
    done = finished(usaepay, started["key"])
    assert done["status"] == "transaction complete" and done["complete"] is True
    transaction = done["transaction"]
    assert (transaction["type"], transaction["result_code"], transaction["result"]) == (
        "transaction",
        "A",
        "Approved",
    )
    assert transaction["auth_amount"] == "10.01" and transaction["authcode"]
    assert re.fullmatch(r"\d{4}x{8}\d{4}", transaction["creditcard"]["number"])
    assert (
        SandboxPayment.objects.charges().filter(device=usaepay_device, order_ref="Order-1").count()
        == 1
    )


def test_the_cc_prefixed_command_and_a_decline(usaepay, usaepay_device):
    started = usaepay.post(
        "paymentengine/payrequests",
        json={"devicekey": usaepay_device.ref, "command": "cc:sale", "amount": "8.02"},
    ).json()

    done = finished(usaepay, started["key"])

    assert done["status"] == "transaction complete"
    assert done["transaction"]["result_code"] == "D" and done["transaction"]["result"] == "Declined"
    assert SandboxPayment.objects.charges().count() == 0


def test_an_unknown_devicekey_is_error_21121(usaepay, usaepay_device):
    response = start_payrequest(usaepay, "sa_unknown", "10.01")

    assert response.status_code == 400
    assert response.json() == {"error": "Unknown devicekey sa_unknown", "errorcode": 21121}


def test_a_low_battery_is_error_21143(usaepay, usaepay_device):
    services.device_set_switches(device=usaepay_device, battery_low=True)

    response = start_payrequest(usaepay, usaepay_device.ref, "10.01")

    assert response.json() == {
        "error": "Request failed (Payment terminal battery too low)",
        "errorcode": 21143,
    }
    assert SandboxPayment.objects.count() == 0


def test_an_offline_device_with_block_offline_is_error_21145_at_once(usaepay, usaepay_device):
    services.device_set_switches(device=usaepay_device, online=False)

    response = start_payrequest(usaepay, usaepay_device.ref, "10.01", block_offline=True)

    assert response.status_code == 400
    assert response.json() == {"error": "Device is currently offline.", "errorcode": 21145}
    assert SandboxPayment.objects.count() == 0


def test_without_block_offline_the_request_waits_for_the_device(usaepay, usaepay_device):
    services.device_set_switches(device=usaepay_device, online=False)

    started = start_payrequest(usaepay, usaepay_device.ref, "10.01").json()

    assert started["status"] == "sending to device"
    assert status_of(usaepay, started["key"])["status"] == "sending to device"
    services.device_set_switches(device=usaepay_device, online=True)
    assert finished(usaepay, started["key"])["transaction"]["result_code"] == "A"


def test_a_device_with_an_active_request_is_busy_21146(usaepay, usaepay_device):
    start_payrequest(usaepay, usaepay_device.ref, "10.00")

    response = start_payrequest(usaepay, usaepay_device.ref, "10.00")

    assert response.json() == {
        "error": "Device is currently processing another transaction.",
        "errorcode": 21146,
    }
    assert SandboxPayment.objects.count() == 1


def test_the_busy_switch_is_error_21146(usaepay, usaepay_device):
    services.device_set_switches(device=usaepay_device, busy=True)

    assert start_payrequest(usaepay, usaepay_device.ref, "10.00").json()["errorcode"] == 21146


def test_a_request_nobody_answers_becomes_timeout(usaepay, usaepay_device):
    started = start_payrequest(usaepay, usaepay_device.ref, "10.00", timeout=1).json()

    done = finished(usaepay, started["key"])

    assert done["status"] == "timeout"
    assert "transaction" not in done
    assert SandboxPayment.objects.get().status == PaymentStatus.TIMED_OUT


def test_delete_cancels_a_pending_request_and_refuses_a_finished_one(usaepay, usaepay_device):
    started = start_payrequest(usaepay, usaepay_device.ref, "10.00").json()
    path = f"paymentengine/payrequests/{started['key']}"

    first = usaepay.delete(path)
    second = usaepay.delete(path)

    assert first.status_code == 200 and first.json() == {"status": "success"}
    assert status_of(usaepay, started["key"])["status"] == "canceled"
    assert second.status_code == 400 and second.json()["errorcode"] == 21147


def test_a_customer_cancel_reads_transaction_canceled(usaepay, usaepay_device):
    started = start_payrequest(usaepay, usaepay_device.ref, "10.03").json()

    assert finished(usaepay, started["key"])["status"] == "transaction canceled"


def test_an_unknown_request_key_is_a_404(usaepay, usaepay_device):
    response = usaepay.get("paymentengine/payrequests/pr_nope")

    assert response.status_code == 404
    assert response.json() == {"error": "Invalid record locator key", "errorcode": 47}


def test_the_devicekey_listing_shows_requests_newest_first_with_their_orderid(
    usaepay, usaepay_device, usaepay_account
):
    other = services.sandbox_device_ensure(
        account=usaepay_account, ref="sa_other", name="Other", model="MP200", serial="9"
    )
    first = start_payrequest(usaepay, usaepay_device.ref, "10.01", orderid="Order-A").json()
    finished(usaepay, first["key"])
    second = start_payrequest(usaepay, usaepay_device.ref, "10.00", orderid="Order-B").json()
    start_payrequest(usaepay, other.ref, "10.00", orderid="Order-C")

    body = usaepay.get("paymentengine/payrequests", params={"devicekey": usaepay_device.ref}).json()

    assert (body["type"], body["total"]) == ("list", 2)
    assert [(entry["key"], entry["orderid"]) for entry in body["data"]] == [
        (second["key"], "Order-B"),
        (first["key"], "Order-A"),
    ]
    assert body["data"][1]["status"] == "transaction complete"


# -- transactions ---------------------------------------------------------------------------------


def approved(client, devicekey, amount, command="sale") -> dict:
    started = client.post(
        "paymentengine/payrequests",
        json={"devicekey": devicekey, "command": command, "amount": amount},
    ).json()
    return finished(client, started["key"])["transaction"]


def test_a_referenced_refund_never_exceeds_the_sale(usaepay, usaepay_device):
    sale = approved(usaepay, usaepay_device.ref, "10.01")

    refund = usaepay.post(
        "transactions", json={"command": "refund", "trankey": sale["key"], "amount": "5.00"}
    )
    too_much = usaepay.post(
        "transactions", json={"command": "refund", "trankey": sale["key"], "amount": "6.00"}
    )
    rest = usaepay.post("transactions", json={"command": "refund", "trankey": sale["key"]})

    assert refund.status_code == 200
    assert refund.json()["result_code"] == "A" and refund.json()["auth_amount"] == "5.00"
    assert refund.json()["key"] != sale["key"]
    assert too_much.status_code == 400 and too_much.json()["errorcode"] == 10133
    assert rest.json()["auth_amount"] == "5.01"
    assert usaepay.get(f"transactions/{refund.json()['key']}").json()["amount"] == "5.00"


def test_an_authorisation_is_captured(usaepay, usaepay_device):
    auth = approved(usaepay, usaepay_device.ref, "20.01", command="authonly")

    captured = usaepay.post(
        "transactions", json={"command": "cc:capture", "trankey": auth["key"], "amount": "15.00"}
    )
    again = usaepay.post("transactions", json={"command": "cc:capture", "trankey": auth["key"]})

    assert captured.status_code == 200 and captured.json()["key"] == auth["key"]
    assert again.status_code == 200
    payment = SandboxPayment.objects.get(transaction_ref=auth["key"])
    assert payment.captured and payment.captured_amount == 1500


def test_an_unknown_trankey_cannot_be_refunded(usaepay, usaepay_device):
    response = usaepay.post("transactions", json={"command": "refund", "trankey": "nope"})

    assert response.status_code == 404 and response.json()["errorcode"] == 10105

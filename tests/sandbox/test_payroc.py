"""The Payroc emulator over real HTTP, checked against Payroc's documented wire shapes."""

import re
import time

import httpx
import pytest

from providers.http import tls_context
from sandbox import services
from sandbox.models import PaymentStatus, SandboxPayment
from sandbox.payroc import TIMED_OUT_MESSAGE
from tests.sandbox.conftest import PAYROC_API_KEY, new_key, sale_body, start_instruction, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

NOT_AUTHORIZED = {
    "type": "https://docs.payroc.com/api/errors#not-authorized",
    "title": "Not Authorized",
    "status": 401,
    "detail": "Your identity could not be verified",
}


def finished(client, instruction_id, collection="payment-instructions"):
    """Long-polls the instruction until it leaves inProgress."""
    return wait_until(
        lambda: (
            (body := client.get(f"{collection}/{instruction_id}").json())["status"] != "inProgress"
            and body
        )
    )


# -- identity and auth ----------------------------------------------------------------------------


def test_identity_issues_a_bearer_token_for_a_known_api_key(payroc_account, payroc_urls):
    response = httpx.post(
        payroc_urls["identity"], headers={"x-api-key": PAYROC_API_KEY}, verify=tls_context()
    )

    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600 and body["scope"]
    devices = httpx.get(
        payroc_urls["base"] + "/devices",
        headers={"Authorization": f"Bearer {body['access_token']}"},
        verify=tls_context(),
    )
    assert devices.status_code == 200


def test_the_token_lifetime_follows_the_setting(payroc_account, payroc_urls, settings):
    settings.SANDBOX_PAYROC_TOKEN_TTL_S = 60

    body = httpx.post(
        payroc_urls["identity"], headers={"x-api-key": PAYROC_API_KEY}, verify=tls_context()
    ).json()

    assert body["expires_in"] == 60


def test_identity_refuses_an_unknown_api_key_with_the_documented_problem(
    payroc_account, payroc_urls
):
    response = httpx.post(
        payroc_urls["identity"], headers={"x-api-key": "not-the-key"}, verify=tls_context()
    )

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == NOT_AUTHORIZED


def test_the_api_refuses_a_missing_unknown_or_expired_token(payroc, payroc_account, payroc_urls):
    assert (
        httpx.get(payroc_urls["base"] + "/devices", verify=tls_context()).json() == NOT_AUTHORIZED
    )
    assert (
        httpx.get(
            payroc_urls["base"] + "/devices",
            headers={"Authorization": "Bearer nope"},
            verify=tls_context(),
        ).status_code
        == 401
    )
    assert payroc.get("devices").status_code == 200

    services.account_expire_tokens(account=payroc_account)

    response = payroc.get("devices")
    assert response.status_code == 401 and response.json() == NOT_AUTHORIZED


# -- devices --------------------------------------------------------------------------------------


def test_devices_are_listed_in_pages_that_link_to_the_next(payroc, payroc_account):
    for serial in ("S-1", "S-2", "S-3"):
        services.sandbox_device_ensure(
            account=payroc_account,
            ref=serial,
            name="",
            model="A920",
            serial=serial,
            manufacturer="PAX",
        )

    first = payroc.get("devices", params={"limit": 2}).json()

    assert (first["limit"], first["count"], first["hasMore"]) == (2, 2, True)
    assert [device["serialNumber"] for device in first["data"]] == ["S-1", "S-2"]
    assert first["data"][0]["deviceType"] == {"model": "A920", "manufacturer": "PAX"}
    next_link = next(link for link in first["links"] if link["rel"] == "next")
    second = httpx.get(next_link["href"], headers=payroc.headers, verify=tls_context()).json()
    assert (second["count"], second["hasMore"]) == (1, False)
    assert [device["serialNumber"] for device in second["data"]] == ["S-3"]
    assert [link["rel"] for link in second["links"]] == ["previous"]


def test_devices_can_be_found_by_serial_number(payroc, payroc_device):
    found = payroc.get("devices", params={"serialNumber": payroc_device.ref}).json()
    missing = payroc.get("devices", params={"serialNumber": "nope"}).json()

    assert [device["serialNumber"] for device in found["data"]] == [payroc_device.ref]
    assert missing["data"] == [] and missing["count"] == 0


def test_a_limit_above_one_hundred_is_a_validation_error(payroc, payroc_device):
    response = payroc.get("devices", params={"limit": 101})

    assert response.status_code == 400
    assert response.json()["errors"][0]["parameter"] == "limit"


# -- sales ----------------------------------------------------------------------------------------


def test_a_magic_approve_amount_ends_in_an_approved_sale(payroc, payroc_device, live_server):
    response = start_instruction(payroc, payroc_device.ref, 1001, order_id="Order-approve")

    assert response.status_code == 202
    started = response.json()
    assert re.fullmatch(r"[0-9a-f]{32}", started["paymentInstructionId"])
    assert started["status"] == "inProgress"
    assert started["link"] == {
        "rel": "self",
        "method": "GET",
        "href": f"{live_server.url}/sandbox/payroc/v1/payment-instructions/{started['paymentInstructionId']}",
    }
    completed = finished(payroc, started["paymentInstructionId"])
    assert completed["status"] == "completed"
    assert completed["link"]["rel"] == "payment" and completed["link"]["method"] == "GET"
    payment = httpx.get(
        completed["link"]["href"], headers=payroc.headers, verify=tls_context()
    ).json()
    assert re.fullmatch(r"[A-Z0-9]{10}", payment["paymentId"])
    assert payment["processingTerminalId"] == "1234001"
    assert payment["order"]["orderId"] == "Order-approve" and payment["order"]["amount"] == 1001
    result = payment["transactionResult"]
    assert (result["type"], result["status"], result["responseCode"]) == ("sale", "ready", "A")
    assert (
        result["authorizedAmount"] == 1001
        and result["currency"] == "USD"
        and result["approvalCode"]
    )
    assert re.fullmatch(r"\d{6}\*{6}\d{4}", payment["card"]["cardNumber"])
    assert re.fullmatch(r"\d{4}", payment["card"]["expiryDate"])
    assert payment["supportedOperations"] == ["refund"]
    assert (
        SandboxPayment.objects.charges()
        .filter(device=payroc_device, order_ref="Order-approve")
        .count()
        == 1
    )


def test_a_magic_decline_amount_completes_with_a_declined_payment(payroc, payroc_device):
    started = start_instruction(payroc, payroc_device.ref, 1002).json()

    completed = finished(payroc, started["paymentInstructionId"])

    assert completed["status"] == "completed"
    payment = httpx.get(
        completed["link"]["href"], headers=payroc.headers, verify=tls_context()
    ).json()
    assert payment["transactionResult"]["responseCode"] == "D"
    assert payment["transactionResult"]["status"] == "declined"
    assert SandboxPayment.objects.charges().count() == 0


@pytest.mark.parametrize(
    "amount,status,error_message",
    [(1003, "canceled", None), (1005, "failure", "Terminal error: the card could not be read")],
)
def test_a_customer_cancel_or_a_terminal_error_ends_the_instruction(
    payroc, payroc_device, amount, status, error_message
):
    started = start_instruction(payroc, payroc_device.ref, amount).json()

    ended = finished(payroc, started["paymentInstructionId"])

    assert ended["status"] == status
    assert ended.get("errorMessage") == error_message
    assert "link" not in ended


def test_the_status_call_holds_while_the_instruction_is_in_progress(
    payroc, payroc_device, settings
):
    settings.SANDBOX_PAYROC_LONG_POLL_S = 1.0
    started = start_instruction(payroc, payroc_device.ref, 1000).json()

    began = time.monotonic()
    body = payroc.get(f"payment-instructions/{started['paymentInstructionId']}").json()

    assert body["status"] == "inProgress"
    assert time.monotonic() - began >= 0.9


def test_the_status_call_answers_as_soon_as_the_instruction_changes(
    payroc, payroc_device, settings
):
    settings.SANDBOX_PAYROC_LONG_POLL_S = 120
    settings.SANDBOX_MAGIC_DELAY_S = 0.6
    started = start_instruction(payroc, payroc_device.ref, 1001).json()

    # Held to the end, the call would outlast its own 20 s timeout (httpx.ReadTimeout).
    url = f"payment-instructions/{started['paymentInstructionId']}"
    body = payroc.get(url, timeout=20).json()

    assert body["status"] == "completed"


def test_an_instruction_nobody_answers_fails_after_the_device_timeout(
    payroc, payroc_device, settings
):
    settings.SANDBOX_PAYROC_INSTRUCTION_TIMEOUT_S = 1
    started = start_instruction(payroc, payroc_device.ref, 1004).json()

    ended = finished(payroc, started["paymentInstructionId"])

    assert ended == {
        "paymentInstructionId": started["paymentInstructionId"],
        "status": "failure",
        "errorMessage": TIMED_OUT_MESSAGE,
    }
    assert SandboxPayment.objects.get().status == PaymentStatus.TIMED_OUT


def test_an_offline_device_fails_the_instruction_without_a_charge(payroc, payroc_device):
    services.device_set_switches(device=payroc_device, online=False)

    started = start_instruction(payroc, payroc_device.ref, 1001)

    assert started.status_code == 202
    ended = finished(payroc, started.json()["paymentInstructionId"])
    assert ended["status"] == "failure" and ended["errorMessage"] == "Device is offline"
    assert SandboxPayment.objects.charges().count() == 0


def test_a_busy_device_refuses_a_second_instruction(payroc, payroc_device, live_server):
    first = start_instruction(payroc, payroc_device.ref, 1000).json()

    second = start_instruction(payroc, payroc_device.ref, 1000)

    assert second.status_code == 409
    assert second.json()["type"] == "https://docs.payroc.com/api/errors#resource-already-exists"
    assert second.json()["instance"].endswith(
        f"/sandbox/payroc/v1/payment-instructions/{first['paymentInstructionId']}"
    )
    assert SandboxPayment.objects.count() == 1


def test_the_busy_switch_refuses_instructions(payroc, payroc_device):
    services.device_set_switches(device=payroc_device, busy=True)

    response = start_instruction(payroc, payroc_device.ref, 1001)

    assert response.status_code == 409 and "instance" not in response.json()


def test_an_unknown_device_is_a_404(payroc, payroc_device):
    response = start_instruction(payroc, "no-such-serial", 1001)

    assert response.status_code == 404
    assert response.json()["type"] == "https://docs.payroc.com/api/errors#not-found"


# -- idempotency and validation -------------------------------------------------------------------


def test_the_same_idempotency_key_and_body_replays_the_first_answer(payroc, payroc_device):
    key = new_key()

    first = start_instruction(payroc, payroc_device.ref, 1001, key=key)
    again = start_instruction(payroc, payroc_device.ref, 1001, key=key)

    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json() == first.json()
    assert SandboxPayment.objects.count() == 1


def test_the_same_idempotency_key_with_another_body_is_a_409(payroc, payroc_device):
    key = new_key()
    start_instruction(payroc, payroc_device.ref, 1001, key=key)

    response = start_instruction(payroc, payroc_device.ref, 2001, key=key)

    assert response.status_code == 409
    assert response.json() == {
        "type": "https://docs.payroc.com/api/errors#idempotency-key-in-use",
        "title": "Idempotency-Key in use",
        "status": 409,
        "detail": "'Idempotency-Key' is already in use against a different request",
    }
    assert SandboxPayment.objects.count() == 1


def test_a_missing_idempotency_key_is_a_400(payroc, payroc_device):
    response = payroc.post(
        f"devices/{payroc_device.ref}/payment-instructions", json=sale_body(1001)
    )

    assert response.status_code == 400
    assert response.json() == {
        "type": "https://docs.payroc.com/api/errors#idempotency-key-missing",
        "title": "Idempotency-Key header missing",
        "status": 400,
        "detail": "An 'Idempotency-Key' must be supplied for this request",
    }
    assert SandboxPayment.objects.count() == 0


def test_validation_errors_name_each_bad_parameter(payroc, payroc_device):
    response = payroc.post(
        f"devices/{payroc_device.ref}/payment-instructions",
        json={
            "processingTerminalId": "12",
            "order": {"orderId": "", "amount": "ten", "currency": "usd"},
        },
        headers={"Idempotency-Key": new_key()},
    )

    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "https://docs.payroc.com/api/errors#bad-request"
    assert {error["parameter"] for error in body["errors"]} == {
        "processingTerminalId",
        "order.orderId",
        "order.amount",
        "order.currency",
    }


# -- cancel ---------------------------------------------------------------------------------------


def test_cancel_answers_204_then_409_cannot_be_deleted(payroc, payroc_device):
    started = start_instruction(payroc, payroc_device.ref, 1000).json()
    instruction = f"payment-instructions/{started['paymentInstructionId']}"

    first = payroc.delete(instruction)
    second = payroc.delete(instruction)

    assert first.status_code == 204 and first.content == b""
    assert payroc.get(instruction).json()["status"] == "canceled"
    assert second.status_code == 409
    assert second.json() == {
        "type": "https://docs.payroc.com/api/errors#cannot-be-deleted",
        "title": "Cannot be deleted",
        "status": 409,
        "detail": "You cannot delete this resource in its current state",
        "errors": [
            {
                "parameter": "paymentInstructionId",
                "message": "Canceled instruction cannot be deleted",
            }
        ],
    }


def test_a_completed_instruction_cannot_be_deleted_and_links_its_payment(payroc, payroc_device):
    started = start_instruction(payroc, payroc_device.ref, 1001).json()
    completed = finished(payroc, started["paymentInstructionId"])

    response = payroc.delete(f"payment-instructions/{started['paymentInstructionId']}")

    assert response.status_code == 409
    assert response.json()["errors"] == [
        {"parameter": "paymentInstructionId", "message": "Completed instruction cannot be deleted"}
    ]
    assert response.json()["link"] == completed["link"]


# -- refunds and captures -------------------------------------------------------------------------


def approved_sale(client, serial, amount=1001) -> dict:
    started = start_instruction(client, serial, amount).json()
    completed = finished(client, started["paymentInstructionId"])
    return httpx.get(completed["link"]["href"], headers=client.headers, verify=tls_context()).json()


def test_a_referenced_refund_grows_refunds_and_never_exceeds_the_payment(payroc, payroc_device):
    payment = approved_sale(payroc, payroc_device.ref, 1001)
    refund_path = f"payments/{payment['paymentId']}/refund"

    first = payroc.post(
        refund_path,
        json={"amount": 500, "description": "Wrong size"},
        headers={"Idempotency-Key": new_key()},
    )
    too_much = payroc.post(
        refund_path,
        json={"amount": 600, "description": "Again"},
        headers={"Idempotency-Key": new_key()},
    )
    rest = payroc.post(
        refund_path,
        json={"amount": 501, "description": "The rest"},
        headers={"Idempotency-Key": new_key()},
    )

    assert first.status_code == 200
    assert [(r["amount"], r["status"], r["responseCode"]) for r in first.json()["refunds"]] == [
        (-500, "ready", "A")
    ]
    assert too_much.status_code == 400 and too_much.json()["errors"][0]["parameter"] == "amount"
    assert rest.status_code == 200 and len(rest.json()["refunds"]) == 2
    assert rest.json()["supportedOperations"] == []
    refund = httpx.get(
        rest.json()["refunds"][-1]["link"]["href"], headers=payroc.headers, verify=tls_context()
    ).json()
    assert refund["transactionResult"]["type"] == "refund"
    assert refund["transactionResult"]["authorizedAmount"] == -501
    assert refund["payment"]["paymentId"] == payment["paymentId"]


def test_a_refund_replayed_with_its_idempotency_key_refunds_once(payroc, payroc_device):
    payment = approved_sale(payroc, payroc_device.ref, 1001)
    key = new_key()

    first = payroc.post(
        f"payments/{payment['paymentId']}/refund",
        json={"amount": 300, "description": "x"},
        headers={"Idempotency-Key": key},
    )
    again = payroc.post(
        f"payments/{payment['paymentId']}/refund",
        json={"amount": 300, "description": "x"},
        headers={"Idempotency-Key": key},
    )

    assert again.json() == first.json()
    assert SandboxPayment.objects.get(transaction_ref=payment["paymentId"]).refunded_amount == 300


def test_a_pre_authorisation_is_captured_once(payroc, payroc_device):
    started = start_instruction(payroc, payroc_device.ref, 2001, autoCapture=False).json()
    completed = finished(payroc, started["paymentInstructionId"])
    authorised = httpx.get(
        completed["link"]["href"], headers=payroc.headers, verify=tls_context()
    ).json()
    capture_path = f"payments/{authorised['paymentId']}/capture"

    captured = payroc.post(
        capture_path,
        json={"processingTerminalId": "1234001", "amount": 1500},
        headers={"Idempotency-Key": new_key()},
    )
    again = payroc.post(capture_path, json={}, headers={"Idempotency-Key": new_key()})

    assert authorised["transactionResult"]["type"] == "preAuthorization"
    assert authorised["supportedOperations"] == ["capture"]
    assert captured.status_code == 200
    assert captured.json()["transactionResult"]["type"] == "preAuthorizationCompletion"
    assert captured.json()["transactionResult"]["authorizedAmount"] == 1500
    assert again.status_code == 400
    assert (
        SandboxPayment.objects.get(transaction_ref=authorised["paymentId"]).captured_amount == 1500
    )


def test_a_refund_instruction_runs_on_the_device(payroc, payroc_device):
    body = sale_body(1001)
    body.pop("autoCapture")
    body["order"]["description"] = "Refund for order Order-1"
    started = payroc.post(
        f"devices/{payroc_device.ref}/refund-instructions",
        json=body,
        headers={"Idempotency-Key": new_key()},
    )

    assert started.status_code == 202 and "refundInstructionId" in started.json()
    completed = finished(payroc, started.json()["refundInstructionId"], "refund-instructions")
    assert completed["status"] == "completed" and completed["link"]["rel"] == "refund"
    refund = httpx.get(
        completed["link"]["href"], headers=payroc.headers, verify=tls_context()
    ).json()
    assert (
        refund["transactionResult"]["type"] == "refund"
        and refund["transactionResult"]["responseCode"] == "A"
    )
    assert refund["order"]["description"] == "Refund for order Order-1"


def test_a_held_status_call_wakes_when_another_process_decides_the_instruction(
    payroc, payroc_device, settings
):
    """The decision is announced through Redis (sandbox/wakeups.py): the held call answers at once,
    not at its next read (here a minute away, past the client's own 20 s timeout)."""
    import threading

    from sandbox.scenarios import APPROVE

    settings.SANDBOX_PAYROC_LONG_POLL_S = 120
    settings.SANDBOX_HELD_CALL_READ_S = 60
    started = start_instruction(payroc, payroc_device.ref, 1000).json()  # no magic outcome
    url = f"payment-instructions/{started['paymentInstructionId']}"
    answers = []
    held = threading.Thread(target=lambda: answers.append(payroc.get(url, timeout=20).json()))
    held.start()
    emulated = SandboxPayment.objects.get()
    time.sleep(0.5)  # the call is held by now (if not, it reads the decision at once: same answer)

    assert services.payment_decide(payment=emulated, outcome=APPROVE)
    held.join(timeout=30)

    assert answers and answers[0]["status"] == "completed", answers

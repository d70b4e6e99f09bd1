"""The Payroc emulator answers in the shapes of Payroc's official OpenAPI spec (v1.0.227).

Every answer below goes through `validate_payroc_response`, which checks status, content type and
body against the spec's schema for that operation. (`GET /devices` and the identity service are
not in the spec; the 503 of the 5xx switch is the sandbox's own and is not checked here.)
"""

import httpx
import pytest

from providers.http import tls_context
from sandbox import services
from tests.providers.payroc_openapi import validate_payroc_response
from tests.sandbox.conftest import new_key, sale_body, start_instruction, wait_until

# The spec is vendored (tests/providers/data/): these never skip.
pytestmark = [pytest.mark.django_db(transaction=True)]


def checked(response: httpx.Response) -> httpx.Response:
    assert validate_payroc_response(response), f"{response.request.url} is not covered by the spec"
    return response


def completed_instruction(client, instruction_id, collection="payment-instructions") -> dict:
    return wait_until(
        lambda: (
            (body := checked(client.get(f"{collection}/{instruction_id}")).json())["status"]
            != "inProgress"
            and body
        )
    )


def test_a_sale_its_status_and_its_payment_match_the_spec(payroc, payroc_device):
    started = checked(start_instruction(payroc, payroc_device.ref, 1001)).json()
    in_progress = checked(payroc.get(f"payment-instructions/{started['paymentInstructionId']}"))
    completed = completed_instruction(payroc, started["paymentInstructionId"])
    checked(httpx.get(completed["link"]["href"], headers=payroc.headers, verify=tls_context()))

    assert in_progress.status_code == 200 and completed["status"] == "completed"


def test_declines_failures_and_cancels_match_the_spec(payroc, payroc_device):
    declined = completed_instruction(
        payroc, start_instruction(payroc, payroc_device.ref, 1002).json()["paymentInstructionId"]
    )
    checked(httpx.get(declined["link"]["href"], headers=payroc.headers, verify=tls_context()))
    failed = completed_instruction(
        payroc, start_instruction(payroc, payroc_device.ref, 1005).json()["paymentInstructionId"]
    )
    pending = start_instruction(payroc, payroc_device.ref, 1000).json()["paymentInstructionId"]

    deleted = checked(payroc.delete(f"payment-instructions/{pending}"))
    canceled = checked(payroc.get(f"payment-instructions/{pending}")).json()
    not_again = checked(payroc.delete(f"payment-instructions/{pending}"))
    failed_delete = checked(payroc.delete(f"payment-instructions/{failed['paymentInstructionId']}"))

    assert failed["status"] == "failure" and canceled["status"] == "canceled"
    assert (deleted.status_code, not_again.status_code, failed_delete.status_code) == (
        204,
        409,
        409,
    )


def test_error_answers_match_the_spec(payroc, payroc_device, payroc_urls):
    key = new_key()
    start_instruction(payroc, payroc_device.ref, 1001, key=key)
    path = f"devices/{payroc_device.ref}/payment-instructions"

    in_use = checked(start_instruction(payroc, payroc_device.ref, 2001, key=key))
    missing = checked(payroc.post(path, json=sale_body(1001)))
    invalid = checked(payroc.post(path, json={"order": {}}, headers={"Idempotency-Key": new_key()}))
    unknown_device = checked(start_instruction(payroc, "nope", 1001))
    unknown_payment = checked(payroc.get("payments/NOPE000000"))
    unauthorised = checked(
        httpx.get(payroc_urls["base"] + "/payments/NOPE000000", verify=tls_context())
    )

    assert [
        r.status_code
        for r in (in_use, missing, invalid, unknown_device, unknown_payment, unauthorised)
    ] == [
        409,
        400,
        400,
        404,
        404,
        401,
    ]


def test_a_busy_device_answers_a_documented_409(payroc, payroc_device):
    services.device_set_switches(device=payroc_device, busy=True)

    assert checked(start_instruction(payroc, payroc_device.ref, 1001)).status_code == 409


def test_refunds_and_captures_match_the_spec(payroc, payroc_device):
    sale = completed_instruction(
        payroc, start_instruction(payroc, payroc_device.ref, 1001).json()["paymentInstructionId"]
    )
    payment_id = sale["link"]["href"].rsplit("/", 1)[-1]
    refunded = checked(
        payroc.post(
            f"payments/{payment_id}/refund",
            json={"amount": 400, "description": "Wrong size"},
            headers={"Idempotency-Key": new_key()},
        )
    ).json()
    checked(
        httpx.get(
            refunded["refunds"][0]["link"]["href"], headers=payroc.headers, verify=tls_context()
        )
    )
    too_much = checked(
        payroc.post(
            f"payments/{payment_id}/refund",
            json={"amount": 9999, "description": "Too much"},
            headers={"Idempotency-Key": new_key()},
        )
    )
    authorised = completed_instruction(
        payroc,
        start_instruction(payroc, payroc_device.ref, 3001, autoCapture=False).json()[
            "paymentInstructionId"
        ],
    )
    capture = checked(
        payroc.post(
            f"payments/{authorised['link']['href'].rsplit('/', 1)[-1]}/capture",
            json={"processingTerminalId": "1234001", "amount": 3000},
            headers={"Idempotency-Key": new_key()},
        )
    )

    assert too_much.status_code == 400 and capture.status_code == 200


def test_a_refund_instruction_and_its_refund_match_the_spec(payroc, payroc_device):
    body = {
        "processingTerminalId": "1234001",
        "order": {"orderId": "R-1", "amount": 1001, "currency": "USD", "description": "Refund R-1"},
    }
    started = checked(
        payroc.post(
            f"devices/{payroc_device.ref}/refund-instructions",
            json=body,
            headers={"Idempotency-Key": new_key()},
        )
    ).json()
    completed = completed_instruction(payroc, started["refundInstructionId"], "refund-instructions")

    assert (
        checked(
            httpx.get(completed["link"]["href"], headers=payroc.headers, verify=tls_context())
        ).status_code
        == 200
    )

"""The KOMOJU emulator over real HTTP: sessions pushed to a terminal, the seed's shapes, the
terminal endpoints' success/error bodies, idempotency, payments, refunds and receipts."""

import hashlib
import json
import re
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from providers.http import tls_context
from sandbox import services
from sandbox.models import (
    PaymentStatus,
    SandboxIdempotencyKey,
    SandboxPayment,
    SandboxPaymentKind,
    SandboxReceipt,
    SandboxSession,
)
from tests.sandbox.conftest import KOMOJU_TERMINAL, new_key, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

SUCCESS = {"status": "success"}


def session_body(amount=1000, capture="auto", order="12345678", **extra) -> dict:
    return {
        "default_locale": "ja",
        "payment_data": {"capture": capture, "external_order_num": order},
        "mode": "payment",
        "amount": amount,
        "currency": "JPY",
        "payment_types": ["credit_card_terminal"],
        **extra,
    }


def create(client, amount=1000, key=None, **extra) -> httpx.Response:
    headers = {"X-KOMOJU-IDEMPOTENCY": key} if key else {}
    return client.post("sessions", json=session_body(amount, **extra), headers=headers)


def push(client, session_id, terminal=KOMOJU_TERMINAL) -> httpx.Response:
    return client.post(f"terminals/{terminal}/sessions/{session_id}/push")


def pushed(client, amount=1000, **extra) -> str:
    session_id = create(client, amount, **extra).json()["id"]
    assert push(client, session_id).json() == SUCCESS
    return session_id


def finished(client, session_id) -> dict:
    return wait_until(
        lambda: (
            (body := client.get(f"sessions/{session_id}").json())["status"] != "pending" and body
        )
    )


# -- auth -----------------------------------------------------------------------------------------


def test_an_unknown_or_missing_secret_key_is_401(komoju_account, komoju_base):
    wrong = httpx.post(
        komoju_base + "/sessions",
        json=session_body(),
        auth=("sk_test_nope", ""),
        verify=tls_context(),
    )
    missing = httpx.get(komoju_base + "/sessions/x", verify=tls_context())

    assert wrong.status_code == missing.status_code == 401
    assert wrong.json()["error"]["code"] == "unauthorized"


# -- sessions -------------------------------------------------------------------------------------


def test_a_session_is_created_in_the_seeds_shape(komoju_client, komoju_device):
    response = create(komoju_client, metadata={"terminal_id": KOMOJU_TERMINAL})

    assert response.status_code == 200
    body = response.json()
    assert re.fullmatch(r"[a-z0-9]{25}", body["id"])
    assert (body["resource"], body["mode"], body["amount"], body["currency"]) == (
        "session",
        "payment",
        1000,
        "JPY",
    )
    assert (body["status"], body["expired"], body["payment"]) == ("pending", False, None)
    assert body["payment_methods"][0]["type"] == "credit_card_terminal"
    assert body["payment_data"] == {"external_order_num": "12345678", "capture": "auto"}
    assert body["metadata"] == {"terminal_id": KOMOJU_TERMINAL}
    assert SandboxPayment.objects.count() == 0  # nothing on a terminal before the push


def test_a_missing_parameter_is_named(komoju_client, komoju_device):
    body = session_body()
    del body["currency"]

    response = komoju_client.post("sessions", json=body)

    assert response.status_code == 422
    assert response.json()["error"] == {
        "code": "missing_parameter",
        "message": "A required parameter is missing",
        "param": "currency",
    }


def test_the_same_idempotency_key_and_body_replays_the_session(komoju_client, komoju_device):
    key = new_key()

    first = create(komoju_client, key=key)
    again = create(komoju_client, key=key)
    other_body = create(komoju_client, 2000, key=key)

    assert first.json() == again.json()
    assert SandboxSession.objects.count() == 1
    assert other_body.status_code == 422
    assert other_body.json()["error"]["code"] == "idempotency_key_reused"


def test_a_retry_while_the_first_request_is_in_flight_is_409(komoju_client, komoju_account):
    key, body = new_key(), session_body()
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    # What a first request with this key leaves while it has not answered yet: an unanswered claim.
    SandboxIdempotencyKey.objects.create(
        account=komoju_account,
        key=key,
        fingerprint=hashlib.sha256(
            f"/sandbox/komoju/api/v1/sessions\n{canonical}".encode()
        ).hexdigest(),
        status_code=0,
        body={},
    )

    response = komoju_client.post("sessions", json=body, headers={"X-KOMOJU-IDEMPOTENCY": key})

    assert response.status_code == 409 and response.json()["error"]["code"] == "conflict"
    assert SandboxSession.objects.count() == 0


def test_concurrent_creates_with_one_key_make_one_session(komoju_client, komoju_device):
    key = new_key()

    with ThreadPoolExecutor(max_workers=5) as pool:
        responses = list(pool.map(lambda _: create(komoju_client, key=key), range(5)))

    assert {r.status_code for r in responses} <= {200, 409}
    assert len({r.json()["id"] for r in responses if r.status_code == 200}) == 1
    assert SandboxSession.objects.count() == 1


# -- push, status, cancel -------------------------------------------------------------------------


def test_a_pushed_sale_completes_with_a_captured_payment_and_receipt_data(
    komoju_client, komoju_device
):
    session_id = pushed(komoju_client, 1001)

    body = finished(komoju_client, session_id)

    assert body["status"] == "completed" and body["completed_at"]
    payment = body["payment"]
    assert (payment["status"], payment["amount"], payment["currency"]) == ("captured", 1001, "JPY")
    assert payment["session"] == session_id and payment["external_order_num"] == "12345678"
    assert payment["payment_details"]["type"] == "credit_card_terminal"
    assert payment["payment_details"]["brand"] in ("visa", "master", "discover")
    assert re.fullmatch(r"\d{4}", payment["payment_details"]["last_four_digits"])
    emv = payment["metadata"]
    assert emv["origin"] == "terminal" and emv["aid"].startswith("A0000")
    assert set(emv) >= {"application_label", "atc", "tsi", "tvr", "terminalSeqCounter", "method"}
    assert komoju_client.get(f"payments/{payment['id']}").json() == payment


def test_an_auth_only_session_completes_authorized_and_is_captured(komoju_client, komoju_device):
    session_id = pushed(komoju_client, 5001, capture="manual")
    payment_id = finished(komoju_client, session_id)["payment"]["id"]

    assert komoju_client.get(f"payments/{payment_id}").json()["status"] == "authorized"
    captured = komoju_client.post(
        f"payments/{payment_id}/capture",
        json={"amount": 4000},
        headers={"X-KOMOJU-IDEMPOTENCY": new_key()},
    )
    twice = komoju_client.post(f"payments/{payment_id}/capture", json={})

    assert captured.status_code == 200 and captured.json()["status"] == "captured"
    assert twice.status_code == 422
    assert SandboxPayment.objects.get(kind=SandboxPaymentKind.AUTH).captured_amount == 4000


@pytest.mark.parametrize(
    "amount,status,payment_status",
    [(1002, "completed", "failed"), (1003, "cancelled", None), (1005, "completed", "failed")],
)
def test_declines_cancels_and_errors(komoju_client, komoju_device, amount, status, payment_status):
    body = finished(komoju_client, pushed(komoju_client, amount))

    assert body["status"] == status
    assert (body["payment"] or {}).get("status") == payment_status


def test_a_session_nobody_pays_is_pending_and_expired(komoju_client, komoju_device, settings):
    settings.SANDBOX_KOMOJU_TIMEOUT_S = 1
    session_id = pushed(komoju_client, 1000)

    body = wait_until(
        lambda: (b := komoju_client.get(f"sessions/{session_id}").json())["expired"] and b
    )

    assert body["status"] == "pending" and body["payment"] is None


def test_pushing_again_to_the_same_terminal_is_harmless(komoju_client, komoju_device):
    session_id = pushed(komoju_client, 1000)

    again = push(komoju_client, session_id)

    assert again.status_code == 200 and again.json() == SUCCESS
    assert SandboxPayment.objects.count() == 1


def test_a_completed_session_cannot_be_pushed(komoju_client, komoju_device):
    session_id = pushed(komoju_client, 1001)
    finished(komoju_client, session_id)

    response = push(komoju_client, session_id)

    assert response.status_code == 422
    assert response.json() == {
        "error": {
            "code": "error",
            "message": "Session must be pending to be pushed to the device.",
            "param": None,
        }
    }


@pytest.mark.parametrize(
    "switch,message",
    [
        ({"online": False}, "Could not push session to device."),
        (
            {"battery_low": True},
            "Could not push session to device: the terminal's battery is too low.",
        ),
        ({"busy": True}, "Terminal is busy with another session."),
    ],
)
def test_push_refusals(komoju_client, komoju_device, switch, message):
    services.device_set_switches(device=komoju_device, **switch)
    session_id = create(komoju_client).json()["id"]

    response = push(komoju_client, session_id)

    assert response.status_code == 422 and response.json()["error"]["message"] == message
    assert SandboxPayment.objects.count() == 0


def test_a_terminal_with_a_session_on_screen_is_busy(komoju_client, komoju_device):
    pushed(komoju_client, 1000)
    second = create(komoju_client).json()["id"]

    assert (
        push(komoju_client, second).json()["error"]["message"]
        == "Terminal is busy with another session."
    )


def test_the_terminal_reports_enabled_as_its_online_switch(komoju_client, komoju_device):
    before = komoju_client.get(f"pos_terminals/{KOMOJU_TERMINAL}").json()
    services.device_set_switches(device=komoju_device, online=False)
    after = komoju_client.get(f"pos_terminals/{KOMOJU_TERMINAL}").json()

    assert before == {
        "id": KOMOJU_TERMINAL,
        "resource": "pos_terminal",
        "enabled": True,
        "name": "Front desk",
        "model": "S1F2",
        "serial_number": "S1F2-000123",
    }
    assert after["enabled"] is False
    assert komoju_client.get("pos_terminals/tm_unknown").status_code == 404


def test_the_terminal_cancel_stops_a_pending_session_for_good(komoju_client, komoju_device):
    session_id = pushed(komoju_client, 1000)
    path = f"terminals/{KOMOJU_TERMINAL}/sessions/{session_id}/cancel"

    first = komoju_client.post(path)
    again = komoju_client.post(path)

    assert first.json() == again.json() == SUCCESS
    assert komoju_client.get(f"sessions/{session_id}").json()["status"] == "cancelled"
    assert push(komoju_client, session_id).status_code == 422


def test_the_terminal_cancel_of_a_completed_session_is_refused(komoju_client, komoju_device):
    session_id = pushed(komoju_client, 1001)
    finished(komoju_client, session_id)

    response = komoju_client.post(f"terminals/{KOMOJU_TERMINAL}/sessions/{session_id}/cancel")

    assert response.status_code == 422
    assert response.json()["error"]["message"] == "Could not cancel session."


def test_a_session_cancelled_before_its_push_can_never_be_paid(komoju_client, komoju_device):
    session_id = create(komoju_client).json()["id"]

    cancelled = komoju_client.post(f"sessions/{session_id}/cancel")

    assert cancelled.json()["status"] == "cancelled"
    assert push(komoju_client, session_id).json()["error"]["message"] == (
        "Session must be pending to be pushed to the device."
    )


def test_an_authorized_payment_is_voided_by_its_cancel(komoju_client, komoju_device):
    payment_id = finished(komoju_client, pushed(komoju_client, 5001, capture="manual"))["payment"][
        "id"
    ]

    voided = komoju_client.post(f"payments/{payment_id}/cancel")
    captured_one = finished(komoju_client, pushed(komoju_client, 1001, order="2"))["payment"]["id"]
    refused = komoju_client.post(f"payments/{captured_one}/cancel")

    assert voided.json()["status"] == "cancelled"
    assert refused.status_code == 422


# -- refunds --------------------------------------------------------------------------------------


def test_a_refund_grows_the_payments_refunds_and_never_exceeds_it(komoju_client, komoju_device):
    payment_id = finished(komoju_client, pushed(komoju_client, 1001))["payment"]["id"]

    partial = komoju_client.post(
        f"payments/{payment_id}/refund",
        json={"amount": 400, "description": "Returned"},
        headers={"X-KOMOJU-IDEMPOTENCY": new_key()},
    )
    too_much = komoju_client.post(f"payments/{payment_id}/refund", json={"amount": 700})
    rest = komoju_client.post(f"payments/{payment_id}/refund", json={})

    body = partial.json()
    assert partial.status_code == 200 and body["status"] == "captured"
    assert body["amount_refunded"] == 400
    (refund,) = body["refunds"]
    assert (refund["resource"], refund["amount"], refund["currency"], refund["payment"]) == (
        "refund",
        400,
        "JPY",
        payment_id,
    )
    assert refund["description"] == "Returned" and re.fullmatch(r"[a-z0-9]{25}", refund["id"])
    assert too_much.status_code == 422
    assert rest.json()["status"] == "refunded" and rest.json()["amount_refunded"] == 1001


def test_a_refund_replayed_with_its_key_refunds_once(komoju_client, komoju_device):
    payment_id = finished(komoju_client, pushed(komoju_client, 1001))["payment"]["id"]
    key = new_key()

    first = komoju_client.post(
        f"payments/{payment_id}/refund", json={"amount": 300}, headers={"X-KOMOJU-IDEMPOTENCY": key}
    )
    again = komoju_client.post(
        f"payments/{payment_id}/refund", json={"amount": 300}, headers={"X-KOMOJU-IDEMPOTENCY": key}
    )

    assert first.json() == again.json()
    assert SandboxPayment.objects.filter(kind=SandboxPaymentKind.REFUND).count() == 1


def test_a_magic_02_refund_is_declined(komoju_client, komoju_device):
    payment_id = finished(komoju_client, pushed(komoju_client, 1001))["payment"]["id"]

    response = komoju_client.post(f"payments/{payment_id}/refund", json={"amount": 102})

    assert response.status_code == 422 and response.json()["error"]["code"] == "refund_declined"


# -- receipts -------------------------------------------------------------------------------------


def test_a_completed_session_prints_its_receipt_on_the_terminal(komoju_client, komoju_device):
    session_id = pushed(komoju_client, 1001)
    payment = finished(komoju_client, session_id)["payment"]

    response = komoju_client.post(f"terminals/{KOMOJU_TERMINAL}/sessions/{session_id}/print")

    assert response.json() == SUCCESS
    receipt = SandboxReceipt.objects.get()
    text = "\n".join(receipt.lines)
    assert "1,001 JPY" in text and payment["payment_details"]["last_four_digits"] in text
    assert payment["metadata"]["aid"] in text and "APPROVED" in text


def test_a_pending_session_or_an_offline_terminal_prints_nothing(komoju_client, komoju_device):
    pending = pushed(komoju_client, 1000)
    refused_pending = komoju_client.post(f"terminals/{KOMOJU_TERMINAL}/sessions/{pending}/print")
    komoju_client.post(f"terminals/{KOMOJU_TERMINAL}/sessions/{pending}/cancel")
    done = pushed(komoju_client, 1001, order="2")
    finished(komoju_client, done)
    services.device_set_switches(device=komoju_device, online=False)
    refused_offline = komoju_client.post(f"terminals/{KOMOJU_TERMINAL}/sessions/{done}/print")

    for refused in (refused_pending, refused_offline):
        assert refused.status_code == 422
        assert refused.json()["error"]["message"] == "Could not print session on device."
    assert SandboxReceipt.objects.count() == 0


# -- faults ---------------------------------------------------------------------------------------


def test_the_5xx_switch_answers_503_on_terminal_calls(komoju_client, komoju_device):
    session_id = create(komoju_client).json()["id"]
    services.device_set_switches(device=komoju_device, fail_next_5xx=1)

    failed = push(komoju_client, session_id)

    assert failed.status_code == 503 and failed.json()["error"]["code"] == "service_unavailable"
    assert SandboxPayment.objects.count() == 0
    assert push(komoju_client, session_id).json() == SUCCESS


def test_a_lost_push_answer_still_put_the_session_on_the_terminal(komoju_client, komoju_device):
    services.device_set_switches(device=komoju_device, lose_next_response=True)
    session_id = create(komoju_client).json()["id"]

    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        push(komoju_client, session_id)

    payment = SandboxPayment.objects.get()
    assert payment.provider_ref == session_id and payment.status == PaymentStatus.PENDING
    assert push(komoju_client, session_id).json() == SUCCESS

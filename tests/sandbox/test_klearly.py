"""The Klearly emulator over real HTTP: the assumed wire format of providers/klearly.py (merchant
token, connected devices, payments, refunds on the original terminal, abort refusals)."""

import httpx
import pytest

import providers.klearly
import sandbox.klearly
from providers.http import tls_context
from sandbox import services
from sandbox.models import SandboxPayment, SandboxPaymentKind, SandboxToken
from tests.sandbox.conftest import (
    KLEARLY_DEVICE,
    KLEARLY_MERCHANT_ID,
    KLEARLY_OTHER_DEVICE,
    KLEARLY_PARTNER_ID,
    KLEARLY_PARTNER_SECRET,
    new_key,
    wait_until,
)

pytestmark = pytest.mark.django_db(transaction=True)

METADATA = {"storeId": "store-9", "posPaymentId": "ORDER-42", "posMerchantId": "m-17"}


def sale_body(amount=1250, device=KLEARLY_DEVICE, **extra) -> dict:
    return {
        "deviceId": device,
        "type": "sale",
        "amount": amount,
        "currency": "EUR",
        "description": "Table 7",
        "metadata": METADATA,
        **extra,
    }


def start(client, amount=1250, key=None, **extra) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return client.post("payments", json=sale_body(amount, **extra), headers=headers)


def finished(client, payment_id) -> dict:
    return wait_until(
        lambda: (
            (body := client.get(f"payments/{payment_id}").json())["status"] != "pending" and body
        )
    )


def succeeded(client, amount=1201) -> dict:
    body = finished(client, start(client, amount).json()["id"])
    assert body["status"] == "succeeded"
    return body


def refund(client, sale: dict, amount: int, **extra) -> httpx.Response:
    body = {**sale_body(amount, device=sale["deviceId"]), "type": "refund", **extra}
    return client.post("payments", params={"transactionId": sale["id"]}, json=body)


def test_the_emulator_speaks_the_adapters_assumed_wire_format():
    assert sandbox.klearly.WIRE == providers.klearly.WIRE
    assert set(sandbox.klearly.STATUS_WORDS) == set(providers.klearly.STATUS_WORDS)


# -- the merchant token ---------------------------------------------------------------------------


def test_partner_credentials_get_a_merchant_token(klearly_account, klearly_base):
    response = httpx.post(
        klearly_base + "/partner/merchant-token",
        json={"merchantId": KLEARLY_MERCHANT_ID},
        auth=(KLEARLY_PARTNER_ID, KLEARLY_PARTNER_SECRET),
        verify=tls_context(),
    )

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token", "expiresIn"} and body["expiresIn"] == 3600
    assert (
        SandboxToken.objects.valid().filter(account=klearly_account, token=body["token"]).exists()
    )


def test_wrong_partner_credentials_or_merchant_are_refused(klearly_account, klearly_base):
    wrong = httpx.post(
        klearly_base + "/partner/merchant-token",
        json={"merchantId": KLEARLY_MERCHANT_ID},
        auth=(KLEARLY_PARTNER_ID, "nope"),
        verify=tls_context(),
    )
    other_merchant = httpx.post(
        klearly_base + "/partner/merchant-token",
        json={"merchantId": "mer_other"},
        auth=(KLEARLY_PARTNER_ID, KLEARLY_PARTNER_SECRET),
        verify=tls_context(),
    )

    assert (
        wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_partner_credentials"
    )
    assert other_merchant.status_code == 403


def test_a_missing_or_expired_token_is_401(klearly_client, klearly_account, klearly_base):
    assert httpx.get(klearly_base + "/terminals", verify=tls_context()).status_code == 401
    assert klearly_client.get("terminals").status_code == 200

    services.account_expire_tokens(account=klearly_account)

    response = klearly_client.get("terminals")
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"


# -- terminals ------------------------------------------------------------------------------------


def test_only_connected_devices_are_listed(klearly_client, klearly_device, klearly_other_device):
    services.device_set_switches(device=klearly_other_device, online=False)

    listed = klearly_client.get("terminals").json()
    other = klearly_client.get(f"terminals/{KLEARLY_OTHER_DEVICE}").json()

    assert listed == {
        "data": [
            {
                "id": KLEARLY_DEVICE,
                "name": "Bar 1",
                "model": "PAX A920",
                "serialNumber": "0820123456",
                "status": "active",
            }
        ]
    }
    assert other["status"] == "inactive"
    assert klearly_client.get("terminals/dev_nope").status_code == 404


# -- sales ----------------------------------------------------------------------------------------


def test_a_sale_starts_pending_and_succeeds_with_card_details(klearly_client, klearly_device):
    response = start(klearly_client, 1201)

    assert response.status_code == 201
    started = response.json()
    assert started["id"].startswith("pay_") and started["status"] == "pending"
    assert (started["deviceId"], started["type"], started["amount"], started["currency"]) == (
        KLEARLY_DEVICE,
        "sale",
        1201,
        "EUR",
    )
    assert started["metadata"] == METADATA and started["card"] is None
    done = finished(klearly_client, started["id"])
    assert done["status"] == "succeeded" and done["authorizationCode"]
    assert done["card"]["brand"] in ("visa", "mastercard", "discover")
    assert len(done["card"]["last4"]) == 4
    assert SandboxPayment.objects.get().order_ref == "ORDER-42"


@pytest.mark.parametrize(
    "amount,status,message",
    [
        (1202, "failed", "Declined by the card issuer"),
        (1203, "cancelled", None),
        (1205, "failed", "Terminal error: the card could not be read"),
    ],
)
def test_outcomes_and_their_words(klearly_client, klearly_device, amount, status, message):
    done = finished(klearly_client, start(klearly_client, amount).json()["id"])

    assert (done["status"], done["statusMessage"]) == (status, message)


def test_a_payment_nobody_pays_expires(klearly_client, klearly_device, settings):
    settings.SANDBOX_KLEARLY_TIMEOUT_S = 1

    assert finished(klearly_client, start(klearly_client, 1250).json()["id"])["status"] == "expired"


@pytest.mark.parametrize(
    "switch,code",
    [
        ({"online": False}, "terminal_not_connected"),
        ({"busy": True}, "terminal_busy"),
        ({"battery_low": True}, "terminal_battery_low"),
    ],
)
def test_device_switches_refuse_the_sale(klearly_client, klearly_device, switch, code):
    services.device_set_switches(device=klearly_device, **switch)

    response = start(klearly_client)

    assert response.status_code == 409
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["deviceId"] == KLEARLY_DEVICE
    assert SandboxPayment.objects.count() == 0


def test_a_second_sale_on_a_device_with_a_pending_one_is_busy(klearly_client, klearly_device):
    start(klearly_client)

    assert start(klearly_client).json()["error"]["code"] == "terminal_busy"


def test_an_invalid_body_is_a_400(klearly_client, klearly_device):
    response = start(klearly_client, amount=12.5)

    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_request"


# -- idempotency ----------------------------------------------------------------------------------


def test_the_same_key_and_body_replay_the_first_answer(klearly_client, klearly_device):
    key = new_key()

    first = start(klearly_client, key=key)
    again = start(klearly_client, key=key)
    other = start(klearly_client, 999, key=key)

    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert other.status_code == 400 and other.json()["error"]["code"] == "idempotency_key_reused"
    assert SandboxPayment.objects.count() == 1


def test_a_refusal_is_not_stored_under_the_key(klearly_client, klearly_device):
    key = new_key()
    services.device_set_switches(device=klearly_device, busy=True)
    refused = start(klearly_client, key=key)
    services.device_set_switches(device=klearly_device, busy=False)

    accepted = start(klearly_client, key=key)

    assert refused.status_code == 409 and accepted.status_code == 201


# -- abort ----------------------------------------------------------------------------------------


def test_abort_of_a_pending_payment_and_its_refusals(klearly_client, klearly_device):
    pending = start(klearly_client, 1250).json()["id"]
    aborted = klearly_client.post(f"payments/{pending}/abort")
    again = klearly_client.post(f"payments/{pending}/abort")
    paid = succeeded(klearly_client)["id"]
    too_late = klearly_client.post(f"payments/{paid}/abort")
    declined = finished(klearly_client, start(klearly_client, 1202).json()["id"])["id"]
    over = klearly_client.post(f"payments/{declined}/abort")

    assert aborted.status_code == again.status_code == 200
    assert aborted.json()["status"] == "aborted"
    assert (too_late.status_code, too_late.json()["error"]["code"]) == (
        409,
        "payment_already_succeeded",
    )
    assert over.json()["error"]["code"] == "payment_already_finished"


def test_abort_naming_another_device_says_where_the_payment_is(
    klearly_client, klearly_device, klearly_other_device
):
    pending = start(klearly_client, 1250).json()["id"]

    response = klearly_client.post(
        f"payments/{pending}/abort", json={"deviceId": KLEARLY_OTHER_DEVICE}
    )

    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "payment_on_other_terminal",
        "message": "The payment is on another terminal.",
        "deviceId": KLEARLY_DEVICE,
    }


# -- refunds --------------------------------------------------------------------------------------


def test_a_refund_runs_on_the_original_terminal_and_counts_against_the_sale(
    klearly_client, klearly_device
):
    sale = succeeded(klearly_client, 1201)

    response = refund(klearly_client, sale, 1001)

    assert response.status_code == 201
    body = response.json()
    assert (body["type"], body["status"], body["deviceId"], body["transactionId"]) == (
        "refund",
        "pending",
        KLEARLY_DEVICE,
        sale["id"],
    )
    assert finished(klearly_client, body["id"])["status"] == "succeeded"
    assert SandboxPayment.objects.get(kind=SandboxPaymentKind.SALE).refunded_amount == 1001
    too_much = refund(klearly_client, sale, 300)
    assert (
        too_much.status_code == 400 and too_much.json()["error"]["code"] == "refund_exceeds_payment"
    )


def test_a_refund_on_another_terminal_is_refused(
    klearly_client, klearly_device, klearly_other_device
):
    sale = succeeded(klearly_client)

    response = refund(klearly_client, sale, 100, deviceId=KLEARLY_OTHER_DEVICE)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "refund_on_other_terminal"
    assert response.json()["error"]["deviceId"] == KLEARLY_DEVICE


def test_a_refund_while_the_original_terminal_is_offline_is_refused(klearly_client, klearly_device):
    sale = succeeded(klearly_client)
    services.device_set_switches(device=klearly_device, online=False)

    response = refund(klearly_client, sale, 100)

    assert (
        response.status_code == 409 and response.json()["error"]["code"] == "terminal_not_connected"
    )


def test_a_refund_needs_its_transaction_id(klearly_client, klearly_device):
    response = klearly_client.post("payments", json={**sale_body(), "type": "refund"})

    assert response.status_code == 400


# -- faults ---------------------------------------------------------------------------------------


def test_the_5xx_switch_and_a_lost_answer(klearly_client, klearly_device):
    services.device_set_switches(device=klearly_device, fail_next_5xx=1, lose_next_response=True)
    key = new_key()

    unavailable = start(klearly_client, key=key)
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        start(klearly_client, key=key)
    replayed = start(klearly_client, key=key)

    assert unavailable.status_code == 503
    assert replayed.status_code == 201
    assert replayed.json()["id"] == SandboxPayment.objects.get().provider_ref

"""The MobilePay (Integra) emulator over real HTTP: the envelope, both payment flows, the eleven
states, one active payment per PoS, look-ups, refunds and token rotation, as seed 002 shows them."""

import uuid

import httpx
import pytest

import providers.mobilepay
import sandbox.mobilepay
from providers.http import tls_context
from sandbox import services
from sandbox.models import PaymentStatus, SandboxPayment, SandboxPaymentKind
from tests.sandbox.conftest import (
    MOBILEPAY_BIO_CODE,
    MOBILEPAY_TERMINAL,
    MOBILEPAY_TOKEN,
    wait_until,
)

pytestmark = pytest.mark.django_db(transaction=True)


def start(client, amount="27.00", order_id="ORDER-77", **extra):
    return client.get(
        "api/pos/payment/start",
        params={
            "orderId": order_id,
            "amount": amount,
            "terminalId": MOBILEPAY_TERMINAL,
            "currencyCode": "DKK",
            **extra,
        },
    )


def status_of(client, payment_id) -> dict:
    return client.get("api/pos/payment/status", params={"paymentId": payment_id}).json()


def reserved(client, amount="27.01", order_id="ORDER-77") -> str:
    payment_id = start(client, amount, order_id).json()["paymentId"]
    wait_until(lambda: status_of(client, payment_id)["status"] == "Reserved")
    return payment_id


def captured(client, amount="27.01", order_id="ORDER-77") -> str:
    payment_id = reserved(client, amount, order_id)
    answer = client.get(
        "api/pos/payment/capture", params={"paymentId": payment_id, "amount": amount}
    )
    assert answer.json()["success"] is True
    return payment_id


# -- the adapter's assumptions are the emulator's -------------------------------------------------


def test_the_assumed_names_and_status_words_are_the_adapters():
    assert sandbox.mobilepay.ASSUMED == providers.mobilepay.ASSUMED
    assert list(sandbox.mobilepay.STATES) == list(providers.mobilepay.STATUS_WORDS)


# -- auth and the envelope ------------------------------------------------------------------------


def test_a_start_answers_the_documented_envelope(integra, mobilepay_device):
    response = start(integra)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"paymentId", "success", "errors"}
    assert body["success"] is True and body["errors"] == []
    assert str(uuid.UUID(body["paymentId"])) == body["paymentId"]
    payment = SandboxPayment.objects.get()
    assert (payment.kind, payment.amount_minor, payment.currency, payment.order_ref) == (
        SandboxPaymentKind.AUTH,
        2700,
        "DKK",
        "ORDER-77",
    )
    assert "accesstoken" not in payment.request and "biocode" not in payment.request


@pytest.mark.parametrize(
    "credentials",
    [
        {"accessToken": "wrong", "bioCode": MOBILEPAY_BIO_CODE},
        {"accessToken": MOBILEPAY_TOKEN, "bioCode": "bio-unknown"},
        {"bioCode": MOBILEPAY_BIO_CODE},
    ],
)
def test_wrong_or_missing_credentials_fail_in_band(mobilepay_base, mobilepay_device, credentials):
    response = httpx.get(
        mobilepay_base + "api/pos/payment/start",
        params={"orderId": "O", "amount": "1.00", "terminalId": MOBILEPAY_TERMINAL, **credentials},
        headers={"Accept": "application/json"},
        verify=tls_context(),
    )

    assert response.status_code == 200
    body = response.json()
    assert body["success"] is False
    assert "accesstoken" in body["errors"][0].lower()
    assert SandboxPayment.objects.count() == 0


def test_xml_is_answered_when_asked_for(integra, mobilepay_device):
    response = integra.get(
        "api/pos/payment/start",
        params={"orderId": "O-1", "amount": "1.00", "terminalId": MOBILEPAY_TERMINAL},
        headers={"Accept": "application/xml"},
    )

    assert response.headers["content-type"] == "application/xml"
    assert response.text.startswith("<PaymentStartViewModel ")
    assert "<success>true</success>" in response.text and "<paymentId>" in response.text


def test_a_post_start_reads_the_body_fields(mobilepay_base, mobilepay_device):
    response = httpx.post(
        mobilepay_base + "api/pos/payment/start",
        json={
            "orderId": "ORDER-POST",
            "amount": "12.50",
            "terminalId": MOBILEPAY_TERMINAL,
            "currencyCode": "DKK",
            "accessToken": MOBILEPAY_TOKEN,
            "bioCode": MOBILEPAY_BIO_CODE,
        },
        headers={"Accept": "application/json"},
        verify=tls_context(),
    )

    assert response.json()["success"] is True
    assert SandboxPayment.objects.get().amount_minor == 1250


def test_a_method_the_path_does_not_allow_is_405(integra, mobilepay_device):
    response = integra.post("api/pos/payment/status", params={"paymentId": str(uuid.uuid4())})

    assert response.status_code == 405 and response.json()["success"] is False


@pytest.mark.parametrize("amount", ["0.00", "-1.00", "27,00", "abc", "1.234"])
def test_an_amount_that_is_not_a_positive_dot_decimal_is_refused(integra, mobilepay_device, amount):
    body = start(integra, amount).json()

    assert body["success"] is False and "amount" in body["errors"][0]


def test_an_unknown_terminal_is_not_found(integra, mobilepay_device):
    body = integra.get(
        "api/pos/payment/start", params={"orderId": "O", "amount": "1.00", "terminalId": "T-x"}
    ).json()

    assert body == {"success": False, "errors": ["Terminal T-x not found."]}


# -- the direct flow and its states ---------------------------------------------------------------


def test_the_direct_flow_goes_initiated_issued_reserved_captured(integra, mobilepay_device):
    payment_id = start(integra, "27.00").json()["paymentId"]

    assert status_of(integra, payment_id) == {
        "paymentId": payment_id,
        "status": "Initiated",
        "amount": "27.00",
        "currencyCode": "DKK",
        "success": True,
        "errors": [],
    }
    services.device_set_switches(device=mobilepay_device, customer_checked_in=True)
    assert status_of(integra, payment_id)["status"] == "IssuedToUser"
    services.payment_decide(payment=SandboxPayment.objects.get(), outcome="approve")
    assert status_of(integra, payment_id)["status"] == "Reserved"

    capture = integra.get(
        "api/pos/payment/capture", params={"paymentId": payment_id, "amount": "25.00"}
    ).json()

    assert capture == {"paymentId": payment_id, "status": "Captured", "success": True, "errors": []}
    details = integra.get("api/pos/payment/details", params={"paymentId": payment_id}).json()
    assert (details["status"], details["amount"], details["capturedAmount"]) == (
        "Captured",
        "27.00",
        "25.00",
    )
    assert details["orderId"] == "ORDER-77" and details["terminalId"] == MOBILEPAY_TERMINAL


@pytest.mark.parametrize(
    "amount,state",
    [
        ("10.02", "RejectedByMobilePayDueToAgeRestrictions"),
        ("10.03", "CancelledByUser"),
        ("10.05", "CancelledByMobilePay"),
    ],
)
def test_magic_amounts_end_in_mobilepays_words(integra, mobilepay_device, amount, state):
    payment_id = start(integra, amount).json()["paymentId"]

    assert wait_until(lambda: status_of(integra, payment_id)["status"] == state)


def test_a_payment_nobody_approves_expires_and_is_cancelled(integra, mobilepay_device, settings):
    settings.SANDBOX_MOBILEPAY_TIMEOUT_S = 1
    payment_id = start(integra, "10.00").json()["paymentId"]

    assert wait_until(lambda: status_of(integra, payment_id)["status"] == "ExpiredAndCancelled")


def test_only_a_reserved_payment_can_be_captured(integra, mobilepay_device):
    payment_id = start(integra, "10.00").json()["paymentId"]

    body = integra.get("api/pos/payment/capture", params={"paymentId": payment_id}).json()

    assert body["success"] is False
    assert body["errors"] == [
        "You can only capture a payment with status Reserved; it is Initiated."
    ]


def test_capturing_more_than_reserved_is_refused(integra, mobilepay_device):
    payment_id = reserved(integra, "10.01")

    body = integra.get(
        "api/pos/payment/capture", params={"paymentId": payment_id, "amount": "10.02"}
    ).json()

    assert body["success"] is False and "exceeds" in body["errors"][0]


def test_a_capture_without_amount_takes_the_reserved_amount(integra, mobilepay_device):
    payment_id = reserved(integra, "10.01")

    integra.get("api/pos/payment/capture", params={"paymentId": payment_id})

    assert SandboxPayment.objects.get().captured_amount == 1001


# -- one active payment per PoS -------------------------------------------------------------------


def test_a_second_start_is_refused_while_one_is_active(integra, mobilepay_device):
    start(integra, "10.00", "ORDER-1")

    body = start(integra, "10.00", "ORDER-2").json()

    assert body["success"] is False and "active payment" in body["errors"][0]
    assert SandboxPayment.objects.count() == 1


def test_a_reserved_payment_keeps_the_pos_busy_until_captured(integra, mobilepay_device):
    payment_id = reserved(integra, "10.01", "ORDER-1")

    refused = start(integra, "10.00", "ORDER-2").json()
    integra.get("api/pos/payment/capture", params={"paymentId": payment_id})
    accepted = start(integra, "10.00", "ORDER-3").json()

    assert refused["success"] is False and "active payment" in refused["errors"][0]
    assert accepted["success"] is True


def test_cancel_works_in_any_state_but_captured(integra, mobilepay_device):
    pending = start(integra, "10.00", "ORDER-1").json()["paymentId"]
    cancelled = integra.get("api/pos/payment/cancel", params={"paymentId": pending}).json()
    to_void = reserved(integra, "10.01", "ORDER-2")
    voided = integra.get("api/pos/payment/cancel", params={"paymentId": to_void}).json()
    done = captured(integra, "10.01", "ORDER-3")
    refused = integra.get("api/pos/payment/cancel", params={"paymentId": done}).json()

    assert (cancelled["status"], voided["status"]) == ("CancelledByClient", "CancelledByClient")
    assert refused["success"] is False and "Captured" in refused["errors"][0]
    assert status_of(integra, done)["status"] == "Captured"


# -- the prepared flow ----------------------------------------------------------------------------


def test_prepare_then_ready_then_reserved(integra, mobilepay_device):
    prepared = integra.get(
        "api/pos/payment/prepare", params={"orderId": "ORDER-P", "terminalId": MOBILEPAY_TERMINAL}
    ).json()
    payment_id = prepared["paymentId"]
    assert status_of(integra, payment_id)["status"] == "Prepared"
    assert status_of(integra, payment_id)["amount"] is None
    services.device_set_switches(device=mobilepay_device, customer_checked_in=True)
    assert status_of(integra, payment_id)["status"] == "Paired"
    # The customer cannot approve before the amount is known.
    assert not services.payment_decide(payment=SandboxPayment.objects.get(), outcome="approve")

    ready = integra.get(
        "api/pos/payment/ready",
        params={
            "orderId": "ORDER-P",
            "amount": "33.01",
            "terminalId": MOBILEPAY_TERMINAL,
            "currencyCode": "DKK",
            "paymentId": payment_id,
        },
    ).json()

    assert ready["success"] is True and ready["message"]
    assert wait_until(lambda: status_of(integra, payment_id)["status"] == "Reserved")
    assert status_of(integra, payment_id)["amount"] == "33.01"


def test_ready_without_prepare_is_refused(integra, mobilepay_device):
    payment_id = start(integra, "10.00", "ORDER-D").json()["paymentId"]

    body = integra.get(
        "api/pos/payment/ready",
        params={
            "orderId": "ORDER-D",
            "amount": "10.00",
            "terminalId": MOBILEPAY_TERMINAL,
            "paymentId": payment_id,
        },
    ).json()

    assert body == {
        "success": False,
        "errors": ["A payment will only be ready if it has been prepared first."],
    }


# -- finding lost payment ids ---------------------------------------------------------------------


def test_the_active_list_and_the_retrievals_find_a_payment_by_order(integra, mobilepay_device):
    first = captured(integra, "10.01", "ORDER-A")
    second = start(integra, "10.00", "ORDER-B").json()["paymentId"]

    active = integra.get("api/pos/payments").json()
    by_order = integra.get(
        "api/pos/payments", params={"orderId": "ORDER-A", "terminalId": MOBILEPAY_TERMINAL}
    ).json()
    captured_list = integra.get("api/pos/payments", params={"state": "Captured"}).json()
    by_state = integra.get(
        "api/pos/payment/id/retrieve/bystate", params={"orderId": "ORDER-A", "state": "Captured"}
    ).json()
    by_terminal = integra.get(
        "api/pos/payment/id/retrieve/byterminal",
        params={
            "orderId": "ORDER-B",
            "terminalId": MOBILEPAY_TERMINAL,
            "paymentState": "Initiated",
        },
    ).json()
    by_pos = integra.get(
        "api/pos/payment/id/retrieve/byposId",
        params={"orderId": "ORDER-A", "posId": mobilepay_device.serial, "paymentState": "Captured"},
    ).json()
    nothing = integra.get(
        "api/pos/payment/id/retrieve/byterminal",
        params={"orderId": "ORDER-A", "terminalId": MOBILEPAY_TERMINAL, "paymentState": "Reserved"},
    ).json()

    assert active["paymentIds"] == [second]
    assert by_order["paymentIds"] == []  # captured: no longer active
    assert captured_list["paymentIds"] == [first]
    assert by_state["paymentId"] == by_pos["paymentId"] == first
    assert by_terminal["paymentId"] == second
    assert nothing["success"] is False and "not found" in nothing["errors"][0]


def test_retrieve_by_state_works_only_for_captured(integra, mobilepay_device):
    body = integra.get(
        "api/pos/payment/id/retrieve/bystate", params={"orderId": "O", "state": "Reserved"}
    ).json()

    assert body["success"] is False and "Captured" in body["errors"][0]


# -- refunds --------------------------------------------------------------------------------------


def test_a_refund_is_created_reserved_then_captured(integra, mobilepay_device):
    payment_id = captured(integra, "20.01", "ORDER-R")

    created = integra.get(
        "api/pos/refund/create",
        params={
            "amount": "5.00",
            "currencyCode": "DKK",
            "paymentId": payment_id,
            "refundOrderId": "R-1",
        },
    ).json()
    refund_id = created["refundId"]
    before = integra.get("api/pos/refund/details", params={"refundId": refund_id}).json()
    captured_refund = integra.get("api/pos/refund/capture", params={"refundId": refund_id}).json()
    listed = integra.get("api/pos/refunds", params={"paymentId": payment_id}).json()
    too_much = integra.get(
        "api/pos/refund/create",
        params={"amount": "15.50", "currencyCode": "DKK", "paymentId": payment_id},
    ).json()

    assert before["status"] == "Reserved" and before["amount"] == "5.00"
    assert before["paymentId"] == payment_id and before["refundOrderId"] == "R-1"
    assert captured_refund["status"] == "Captured" and captured_refund["success"] is True
    assert listed["refundIds"] == [refund_id]
    assert too_much["success"] is False and "exceeds" in too_much["errors"][0]
    assert SandboxPayment.objects.get(kind=SandboxPaymentKind.AUTH).refunded_amount == 500


def test_a_cancelled_refund_gives_its_amount_back(integra, mobilepay_device):
    payment_id = captured(integra, "20.01", "ORDER-R")
    refund_id = integra.get(
        "api/pos/refund/create",
        params={"amount": "20.01", "currencyCode": "DKK", "paymentId": payment_id},
    ).json()["refundId"]

    cancelled = integra.get("api/pos/refund/cancel", params={"refundId": refund_id}).json()
    again = integra.get("api/pos/refund/capture", params={"refundId": refund_id}).json()

    assert cancelled["status"] == "CancelledByClient"
    assert again["success"] is False
    assert SandboxPayment.objects.get(kind=SandboxPaymentKind.AUTH).refunded_amount == 0


def test_a_payment_that_is_not_captured_cannot_be_refunded(integra, mobilepay_device):
    payment_id = reserved(integra, "20.01")

    body = integra.get(
        "api/pos/refund/create",
        params={"amount": "1.00", "currencyCode": "DKK", "paymentId": payment_id},
    ).json()

    assert body["success"] is False and "Reserved" in body["errors"][0]


# -- tokens ---------------------------------------------------------------------------------------


def test_a_token_is_created_only_when_none_exists_and_reset_with_the_previous(
    mobilepay_base, mobilepay_device, mobilepay_account
):
    def call(path, **params):
        return httpx.get(
            mobilepay_base + path,
            params=params,
            headers={"Accept": "application/json"},
            verify=tls_context(),
        ).json()

    refused = call("api/pos/manage/token", bioCode=MOBILEPAY_BIO_CODE)
    services.account_expire_tokens(account=mobilepay_account)
    created = call("api/pos/manage/token", bioCode=MOBILEPAY_BIO_CODE)
    token = created["message"]
    wrong_reset = call(
        "api/pos/manage/token/reset", bioCode=MOBILEPAY_BIO_CODE, previousAccessToken="x"
    )
    reset = call(
        "api/pos/manage/token/reset", bioCode=MOBILEPAY_BIO_CODE, previousAccessToken=token
    )
    with_old = call("api/pos/manage/stores", bioCode=MOBILEPAY_BIO_CODE, accessToken=token)
    with_new = call(
        "api/pos/manage/stores", bioCode=MOBILEPAY_BIO_CODE, accessToken=reset["message"]
    )

    assert refused["success"] is False and "already exists" in refused["errors"][0]
    assert created["success"] is True and token and token != MOBILEPAY_TOKEN
    assert wrong_reset["success"] is False and "previousAccessToken" in wrong_reset["errors"][0]
    assert reset["success"] is True and reset["message"] != token
    assert with_old["success"] is False and with_old["errors"] == [
        "Invalid accessToken or bioCode."
    ]
    assert with_new == {"storeIds": ["store-1"], "success": True, "errors": []}


# -- management, QR code, check-in ----------------------------------------------------------------


def test_terminal_information_stores_qr_code_and_check_in(integra, mobilepay_device):
    info = integra.get(
        "api/pos/manage/terminal/information", params={"terminalId": MOBILEPAY_TERMINAL}
    ).json()
    store = integra.get("api/pos/manage/store", params={"storeId": "store-1"}).json()
    link = integra.get("api/pos/terminal/qrcode", params={"terminalId": MOBILEPAY_TERMINAL}).json()
    before = integra.get(
        "api/pos/manage/checkInStatus/byterminalId", params={"terminalId": MOBILEPAY_TERMINAL}
    ).json()
    services.device_set_switches(device=mobilepay_device, customer_checked_in=True)
    after = integra.get(
        "api/pos/manage/checkInStatus/byposId", params={"posId": mobilepay_device.serial}
    ).json()

    assert (info["terminalId"], info["posId"], info["name"], info["storeId"]) == (
        MOBILEPAY_TERMINAL,
        mobilepay_device.serial,
        "Kiosk",
        "store-1",
    )
    assert store["name"] == "Harbour Cinema"
    image = httpx.get(link["qrCodeLink"], verify=tls_context())
    assert image.headers["content-type"] == "image/svg+xml" and "<svg" in image.text
    assert (before["checkedIn"], after["checkedIn"]) == (False, True)


def test_a_pos_is_deleted_and_created_again(integra, mobilepay_device):
    deleted = integra.delete("api/pos/manage/delete", params={"terminalId": MOBILEPAY_TERMINAL})
    without_pos = start(integra, "10.00").json()
    created = integra.get("api/pos/manage/create", params={"terminalId": MOBILEPAY_TERMINAL}).json()
    twice = integra.get("api/pos/manage/create", params={"terminalId": MOBILEPAY_TERMINAL}).json()

    assert deleted.json()["success"] is True
    assert without_pos["success"] is False and "no PoS" in without_pos["errors"][0]
    assert created["success"] is True and str(uuid.UUID(created["message"])) == created["message"]
    assert twice["success"] is False and "already has a PoS" in twice["errors"][0]
    assert start(integra, "10.00").json()["success"] is True


# -- device and fault switches --------------------------------------------------------------------


@pytest.mark.parametrize(
    "switch,words",
    [
        ({"online": False}, "offline"),
        ({"battery_low": True}, "battery"),
        ({"busy": True}, "active payment"),
    ],
)
def test_device_switches_refuse_the_start_in_band(integra, mobilepay_device, switch, words):
    services.device_set_switches(device=mobilepay_device, **switch)

    body = start(integra).json()

    assert body["success"] is False and words in body["errors"][0]
    assert SandboxPayment.objects.count() == 0


def test_the_5xx_switch_answers_503_with_the_envelope(integra, mobilepay_device):
    services.device_set_switches(device=mobilepay_device, fail_next_5xx=1)

    response = start(integra)

    assert response.status_code == 503 and response.json()["success"] is False
    assert SandboxPayment.objects.count() == 0
    assert start(integra).json()["success"] is True


def test_a_lost_start_answer_leaves_the_payment_listed_by_its_order(integra, mobilepay_device):
    services.device_set_switches(device=mobilepay_device, lose_next_response=True)

    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        start(integra, "10.00", "ORDER-LOST")

    listed = integra.get(
        "api/pos/payments", params={"orderId": "ORDER-LOST", "terminalId": MOBILEPAY_TERMINAL}
    ).json()
    assert listed["paymentIds"] == [sandbox.mobilepay.wire_id(SandboxPayment.objects.get())]
    assert SandboxPayment.objects.get().status == PaymentStatus.PENDING

"""The emulators answer a NUL in a credential or a path id, and numbers like `1e400` or 400 nines,
as their provider would (a 4xx in its own words), never with a 500 (sandbox/wire.py)."""

from __future__ import annotations

import base64
import json

import pytest
from django.test import Client

from sandbox import services, wire
from sandbox.models import SandboxPayment
from tests.sandbox.conftest import (
    KLEARLY_MERCHANT_ID,
    KLEARLY_PARTNER_ID,
    KLEARLY_PARTNER_SECRET,
    KOMOJU_SECRET_KEY,
    MOBILEPAY_BIO_CODE,
    MOBILEPAY_TERMINAL,
    MOBILEPAY_TOKEN,
    PAYROC_API_KEY,
    USAEPAY_API_KEY,
    USAEPAY_PIN,
    new_key,
    usaepay_header,
)

NINES = "9" * 400
pytestmark = pytest.mark.django_db


def basic(user: str, password: str = "") -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def post_json(client, path: str, text: str, **headers):
    return client.generic("POST", path, text, content_type="application/json", **headers)


# -- the JSON reader -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["1e400", "-1e400", NINES, "-" + NINES, "NaN", "Infinity", '{"a": "x\\u0000"}', "{"]
)
def test_parse_json_refuses_what_no_field_holds(text):
    with pytest.raises(wire.WireValueError):
        wire.parse_json(text)


def test_parse_json_reads_ordinary_json():
    assert wire.parse_json('{"amount": 1250, "rate": 0.5, "id": "a\\\\u0000"}') == {
        "amount": 1250,
        "rate": 0.5,
        "id": "a\\u0000",  # an escaped backslash, not a NUL
    }


# -- Payroc ----------------------------------------------------------------------------------------


def test_payroc(payroc_account, payroc_device):
    client = Client()
    assert (
        client.post("/sandbox/payroc/identity/authorize", HTTP_X_API_KEY=PAYROC_API_KEY + "\x00")
    ).status_code == 401
    token = services.token_issue(account=payroc_account).token
    assert (
        client.get("/sandbox/payroc/v1/devices", HTTP_AUTHORIZATION=f"Bearer {token}\x00").json()[
            "status"
        ]
        == 401
    )
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    missing = client.get("/sandbox/payroc/v1/payments/AB%00CD", **bearer)
    assert missing.status_code == 404 and missing.json()["type"].endswith("not-found")
    assert client.get("/sandbox/payroc/v1/devices?before=%C2%B2", **bearer).status_code == 400
    for amount in ("1e400", NINES):
        body = (
            '{"processingTerminalId": "1234001", "order": {"orderId": "o-1", "amount": '
            + amount
            + ', "currency": "USD"}}'
        )
        refused = post_json(
            client,
            f"/sandbox/payroc/v1/devices/{payroc_device.ref}/payment-instructions",
            body,
            HTTP_IDEMPOTENCY_KEY=new_key(),
            **bearer,
        )
        assert refused.status_code == 400 and refused.json()["type"].endswith("bad-request")
    assert not SandboxPayment.objects.exists()


# -- USAePay ---------------------------------------------------------------------------------------


def test_usaepay(usaepay_account, usaepay_device):
    client = Client()
    nul_key = usaepay_header(USAEPAY_API_KEY + "\x00", USAEPAY_PIN)
    refused = client.get(
        "/sandbox/usaepay/api/v2/paymentengine/devices", HTTP_AUTHORIZATION=nul_key
    )
    assert refused.status_code == 401 and refused.json()["errorcode"] == 23
    auth = {"HTTP_AUTHORIZATION": usaepay_header(USAEPAY_API_KEY, USAEPAY_PIN)}
    missing = client.get("/sandbox/usaepay/api/v2/transactions/tk%00", **auth)
    assert missing.status_code == 404
    auth = {"HTTP_AUTHORIZATION": usaepay_header(USAEPAY_API_KEY, USAEPAY_PIN)}
    paged = client.get(f"/sandbox/usaepay/api/v2/paymentengine/devices?offset={NINES}", **auth)
    assert paged.status_code == 400
    for amount in ("1e400", NINES, f'"{NINES}"'):
        auth = {"HTTP_AUTHORIZATION": usaepay_header(USAEPAY_API_KEY, USAEPAY_PIN)}
        body = f'{{"devicekey": "{usaepay_device.ref}", "command": "sale", "amount": {amount}}}'
        refused = post_json(
            client, "/sandbox/usaepay/api/v2/paymentengine/payrequests", body, **auth
        )
        assert refused.status_code == 400 and refused.json()["errorcode"] == 10129
    assert not SandboxPayment.objects.exists()


# -- KOMOJU ----------------------------------------------------------------------------------------


def test_komoju(komoju_account, komoju_device):
    client = Client()
    refused = client.get(
        "/sandbox/komoju/api/v1/sessions/s1", HTTP_AUTHORIZATION=basic(KOMOJU_SECRET_KEY + "\x00")
    )
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"
    auth = {"HTTP_AUTHORIZATION": basic(KOMOJU_SECRET_KEY)}
    missing = client.get("/sandbox/komoju/api/v1/payments/p%00", **auth)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    for amount in ("1e400", NINES):
        body = f'{{"amount": {amount}, "currency": "JPY"}}'
        refused = post_json(client, "/sandbox/komoju/api/v1/sessions", body, **auth)
        assert refused.status_code == 400
    assert not komoju_account.sessions.exists()


# -- Klearly ---------------------------------------------------------------------------------------


def test_klearly(klearly_account, klearly_device):
    client = Client()
    refused = post_json(
        client,
        "/sandbox/klearly/v1/partner/merchant-token",
        json.dumps({"merchantId": KLEARLY_MERCHANT_ID}),
        HTTP_AUTHORIZATION=basic(KLEARLY_PARTNER_ID + "\x00", KLEARLY_PARTNER_SECRET),
    )
    assert refused.status_code == 401
    token = services.token_issue(account=klearly_account).token
    assert (
        client.get("/sandbox/klearly/v1/terminals", HTTP_AUTHORIZATION=f"Bearer {token}\x00")
    ).status_code == 401
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    assert client.get("/sandbox/klearly/v1/payments/p%00", **bearer).status_code == 404
    for amount in ("1e400", NINES):
        body = f'{{"deviceId": "{klearly_device.ref}", "amount": {amount}, "currency": "EUR"}}'
        refused = post_json(client, "/sandbox/klearly/v1/payments", body, **bearer)
        assert refused.status_code == 400
    assert not SandboxPayment.objects.exists()


# -- MobilePay (Integra): refusals are in-band, `success: false`, as Integra answers them ----------


def test_mobilepay(mobilepay_account, mobilepay_device):
    client = Client()
    start = "/sandbox/mobilepay/api/pos/payment/start"
    credentials = {"accessToken": MOBILEPAY_TOKEN, "bioCode": MOBILEPAY_BIO_CODE}
    for broken in ({"accessToken": MOBILEPAY_TOKEN + "\x00"}, {"bioCode": "\x00"}):
        answer = client.get(
            start,
            {**credentials, **broken, "terminalId": MOBILEPAY_TERMINAL, "amount": "10.00"},
            HTTP_ACCEPT="application/json",
        ).json()
        assert answer["success"] is False and answer["errors"]
    for amount in ("1e400", NINES):
        answer = client.get(
            start,
            {**credentials, "terminalId": MOBILEPAY_TERMINAL, "amount": amount, "orderId": "o-1"},
            HTTP_ACCEPT="application/json",
        ).json()
        assert answer["success"] is False
    assert not SandboxPayment.objects.exists()

"""No secret, token or auth header ever reaches a log record, a repr or an error message."""

from __future__ import annotations

import logging
from datetime import timedelta

import httpx
import pytest

from providers.base import AccountConfig, MemoryTokenStore, PaymentKind, StartRequest, Token
from providers.errors import InvalidRequest, ProviderUnavailable
from providers.http import make_client, redact_headers, redact_url, transport_errors
from providers.payroc import PayrocProvider
from providers.usaepay import UsaepayHashAuth, UsaepayProvider
from tests.providers import payroc_examples as examples
from tests.providers.accounts import (
    DEVICE_KEY,
    IDEMPOTENCY_KEY,
    NOW,
    PAYROC_API_KEY,
    PAYROC_BASE,
    PAYROC_IDENTITY,
    SERIAL,
    USAEPAY_API_KEY,
    USAEPAY_BASE,
    USAEPAY_PIN,
    USAEPAY_SIGNATURE_KEY,
    fixed_clock,
)

FRESH_TOKEN = "eyJhbGc.fresh-secret-bearer.ZZZ"


def everything_logged(caplog) -> str:
    return "\n".join(f"{record.getMessage()} {record.__dict__!r}" for record in caplog.records)


def assert_not_leaked(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text, f"{secret!r} leaked"


def test_payroc_logs_calls_without_api_key_or_bearer_token(router, payroc_account, caplog):
    caplog.set_level(logging.DEBUG)
    router.post(PAYROC_IDENTITY).respond(
        200,
        json={
            "access_token": FRESH_TOKEN,
            "expires_in": 3600,
            "token_type": "Bearer",
            "scope": "s",
        },
    )
    router.post(f"{PAYROC_BASE}/devices/{SERIAL}/payment-instructions").respond(
        202, json=examples.INSTRUCTION_IN_PROGRESS
    )
    request = StartRequest(
        kind=PaymentKind.SALE,
        terminal_ref=SERIAL,
        amount_minor=4999,
        currency="USD",
        idempotency_key=IDEMPOTENCY_KEY,
        reference="OrderRef6543",
    )

    with PayrocProvider(
        payroc_account, token_store=MemoryTokenStore(), clock=fixed_clock
    ) as provider:
        provider.start_payment(request)

    logged = everything_logged(caplog)
    assert f"POST {PAYROC_BASE}/devices/{SERIAL}/payment-instructions -> 202" in logged
    assert "[redacted]" in logged
    assert_not_leaked(logged, PAYROC_API_KEY, FRESH_TOKEN, f"Bearer {FRESH_TOKEN}")


def test_usaepay_logs_calls_without_key_pin_or_hash(router, usaepay_account, caplog):
    caplog.set_level(logging.DEBUG)
    route = router.get(f"{USAEPAY_BASE}/paymentengine/devices/{DEVICE_KEY}").respond(
        200, json={"type": "device", "key": DEVICE_KEY, "status": "connected", "name": "Till"}
    )

    with UsaepayProvider(usaepay_account, clock=fixed_clock) as provider:
        provider.get_terminal(DEVICE_KEY)

    logged = everything_logged(caplog)
    authorization = route.calls.last.request.headers["Authorization"]
    assert "-> 200" in logged
    assert_not_leaked(logged, USAEPAY_API_KEY, USAEPAY_PIN, authorization, authorization.split()[1])


def test_token_query_parameters_are_redacted_from_our_log_and_from_httpx_log(router, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")  # the project's settings quiet httpx to WARNING
    router.get("https://integra.test/api/pos/payment/status").respond(200, json={})

    with make_client("https://integra.test", label="mobilepay") as client:
        client.get(
            "/api/pos/payment/status",
            params={"paymentId": "p-1", "accessToken": "tok-SECRET-1", "bioCode": "bio-SECRET-2"},
        )

    logged = everything_logged(caplog)
    assert "paymentId=p-1" in logged
    assert {record.name for record in caplog.records} >= {"providers.http", "httpx"}
    assert_not_leaked(logged, "tok-SECRET-1", "bio-SECRET-2")


def test_redaction_helpers():
    assert redact_url("https://x.test/a?accessToken=abc&orderId=7") == (
        "https://x.test/a?accessToken=[redacted]&orderId=7"
    )
    assert redact_headers(
        {
            "Authorization": "Basic abc",
            "X-API-KEY": "k",
            "x-signature": "s",
            "Idempotency-Key": IDEMPOTENCY_KEY,
        }
    ) == {
        "Authorization": "[redacted]",
        "X-API-KEY": "[redacted]",
        "x-signature": "[redacted]",
        "Idempotency-Key": IDEMPOTENCY_KEY,
    }


def test_reprs_hide_secrets(usaepay_account):
    token = Token(FRESH_TOKEN, NOW + timedelta(hours=1))
    provider = UsaepayProvider(usaepay_account, clock=fixed_clock)
    texts = [
        repr(usaepay_account),
        str(usaepay_account),
        repr(token),
        repr(provider),
        repr(UsaepayHashAuth(USAEPAY_API_KEY, USAEPAY_PIN, lambda: "seed")),
    ]
    provider.close()

    assert "api_key" in texts[0]  # the names are shown, the values are not
    assert_not_leaked(
        "\n".join(texts), USAEPAY_API_KEY, USAEPAY_PIN, USAEPAY_SIGNATURE_KEY, FRESH_TOKEN
    )


def test_error_messages_never_echo_secrets(router, usaepay_account):
    router.post(f"{USAEPAY_BASE}/paymentengine/payrequests").respond(
        400,
        json={
            "error": f"Invalid source key {USAEPAY_API_KEY} for pin {USAEPAY_PIN}",
            "errorcode": 23,
        },
    )
    request = StartRequest(
        kind=PaymentKind.SALE,
        terminal_ref=DEVICE_KEY,
        amount_minor=888,
        currency="USD",
        idempotency_key=IDEMPOTENCY_KEY,
        reference="ORDER-1",
    )

    provider = UsaepayProvider(usaepay_account, clock=fixed_clock)
    with provider, pytest.raises(InvalidRequest) as caught:
        provider.start_payment(request)

    assert_not_leaked(
        f"{caught.value.message} {caught.value!r} {caught.value}", USAEPAY_API_KEY, USAEPAY_PIN
    )


def test_a_missing_secret_is_named_but_not_guessed():
    account = AccountConfig(
        "usaepay", "sandbox", USAEPAY_BASE, secrets={"api_key": USAEPAY_API_KEY}
    )

    with pytest.raises(Exception, match="api pin"):
        account.secret("api_pin")


def test_transport_failures_log_no_url_secrets(router, caplog):
    caplog.set_level(logging.DEBUG)
    router.get("https://integra.test/api/pos/payment/status").mock(
        side_effect=httpx.ConnectError("down")
    )

    with (
        make_client("https://integra.test") as client,
        pytest.raises(ProviderUnavailable),
        transport_errors("GET /api/pos/payment/status", moves_money=False),
    ):
        client.get("/api/pos/payment/status", params={"accessToken": "tok-SECRET-3"})

    assert_not_leaked(everything_logged(caplog), "tok-SECRET-3")

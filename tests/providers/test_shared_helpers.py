"""The helpers the adapters share: reading answers, the common status tail, webhook
signatures, amounts read from answers, re-classified errors and the bearer-token base."""

from __future__ import annotations

import hashlib
import hmac
import logging
from datetime import timedelta

import httpx
import pytest

from providers.base import (
    AccountConfig,
    BearerTokenAdapter,
    Capabilities,
    MemoryTokenStore,
    Token,
    last4,
)
from providers.errors import (
    AuthError,
    InvalidRequest,
    InvalidSignature,
    NotAbortable,
    NotFound,
    OutcomeUnknown,
    ProviderUnavailable,
    RateLimited,
    UnexpectedResponse,
    UnsupportedOperation,
)
from providers.http import (
    json_object,
    json_or_none,
    raise_for_common_status,
    raise_for_transient_status,
    retry_after,
)
from providers.money import read_decimal_amount, read_integer_amount
from providers.webhooks import signed_json_body, verify_hmac_sha256_hex
from tests.providers.accounts import NOW, fixed_clock

BASE = "https://bearer.test/v1"
TOKEN_URL = "https://bearer.test/token"


def answer(status: int, *, content: bytes = b"", headers: dict | None = None) -> httpx.Response:
    return httpx.Response(
        status,
        content=content,
        headers=headers or {},
        request=httpx.Request("POST", f"{BASE}/payments"),
    )


# -- reading answers -----------------------------------------------------------


def test_json_or_none_parses_json_and_gives_none_for_anything_else():
    assert json_or_none(answer(200, content=b'{"a": 1}')) == {"a": 1}
    assert json_or_none(answer(200, content=b"[1]")) == [1]
    assert json_or_none(answer(200, content=b"<html>")) is None
    assert json_or_none(answer(204)) is None


@pytest.mark.parametrize("content", [b"<html>", b"[1, 2]", b'"text"', b""])
def test_json_object_names_the_api_when_the_body_is_not_an_object(content):
    with pytest.raises(UnexpectedResponse) as caught:
        json_object(answer(502, content=content), "Acme")
    assert caught.value.message == "Acme answered HTTP 502 without a JSON object."


def test_json_object_returns_the_object():
    assert json_object(answer(200, content=b'{"id": "x"}'), "Acme") == {"id": "x"}


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"Retry-After": "1.5"}, 1.5),
        ({"Retry-After": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_reads_seconds_or_nothing(headers, seconds):
    assert retry_after(answer(429, headers=headers)) == seconds


# -- the common status tail ----------------------------------------------------------


def test_429_is_rate_limited_with_the_retry_after_seconds():
    with pytest.raises(RateLimited) as caught:
        raise_for_common_status(
            answer(429, headers={"Retry-After": "12"}),
            "Acme",
            "slow down",
            moves_money=True,
            provider_code="too_many",
        )
    error = caught.value
    assert error.message == "Acme is rate limiting us: slow down"
    assert (error.retry_after, error.provider_code, error.http_status) == (12.0, "too_many", 429)
    assert not error.permanent


@pytest.mark.parametrize("status", [500, 502, 504])
def test_a_5xx_to_a_money_moving_call_leaves_the_outcome_unknown(status):
    with pytest.raises(OutcomeUnknown) as caught:
        raise_for_common_status(answer(status), "Acme", "boom", moves_money=True)
    assert caught.value.message == (
        f"Acme failed (HTTP {status}) after receiving the request; it may have been processed."
    )
    assert caught.value.http_status == status


def test_a_503_means_refused_even_for_a_money_moving_call():
    with pytest.raises(ProviderUnavailable) as caught:
        raise_for_common_status(answer(503), "Acme", "down", moves_money=True)
    assert caught.value.message == "Acme is having problems (HTTP 503)."


def test_a_5xx_to_a_call_that_moves_no_money_is_unavailable():
    with pytest.raises(ProviderUnavailable):
        raise_for_common_status(answer(500), "Acme", "boom", moves_money=False)


@pytest.mark.parametrize("status", [200, 400, 409, 422])
def test_anything_else_is_an_invalid_request_carrying_the_codes(status):
    with pytest.raises(InvalidRequest) as caught:
        raise_for_common_status(
            answer(status), "Acme", "bad amount", moves_money=True, provider_code=17
        )
    error = caught.value
    assert type(error) is InvalidRequest
    assert error.message == "Acme rejected the request: bad amount"
    assert (error.provider_code, error.http_status) == (17, status)


@pytest.mark.parametrize("status", [200, 400, 401, 404, 409])
def test_the_transient_part_returns_for_other_statuses(status):
    assert raise_for_transient_status(answer(status), "Acme", "x", moves_money=True) is None


# -- webhook signatures ---------------------------------------------------------------

SECRET = "whsec-shared-9c1e"
BODY = b'{"id": "evt_1"}'
SIGNATURE = hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()


@pytest.mark.parametrize("signature", [SIGNATURE, f"  {SIGNATURE.upper()}\n"])
def test_a_matching_hex_signature_passes(signature):
    verify_hmac_sha256_hex(signature, BODY, SECRET)


@pytest.mark.parametrize(
    "signature", [None, "", "   ", "00" + SIGNATURE[2:], SIGNATURE[:-1], "sha256=" + SIGNATURE]
)
def test_a_missing_or_wrong_signature_is_refused(signature):
    with pytest.raises(InvalidSignature):
        verify_hmac_sha256_hex(signature, BODY, SECRET)


def test_a_signature_with_another_secret_is_refused():
    with pytest.raises(InvalidSignature):
        verify_hmac_sha256_hex(SIGNATURE, BODY, SECRET + "x")


def test_signed_json_body_finds_the_header_whatever_its_case():
    headers = {"x-acme-signature": SIGNATURE}
    payload = signed_json_body(
        headers, BODY, signature_header="X-Acme-Signature", secret=SECRET, api_name="Acme"
    )
    assert payload == {"id": "evt_1"}


def test_signed_json_body_checks_the_signature_before_parsing():
    with pytest.raises(InvalidSignature):
        signed_json_body(
            {"X-Acme-Signature": "00"},
            b"not json",
            signature_header="X-Acme-Signature",
            secret=SECRET,
            api_name="Acme",
        )


def test_a_correctly_signed_body_that_is_not_json_is_an_invalid_request():
    body = b"not json"
    signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    with pytest.raises(InvalidRequest) as caught:
        signed_json_body(
            {"X-Acme-Signature": signature},
            body,
            signature_header="X-Acme-Signature",
            secret=SECRET,
            api_name="Acme",
        )
    assert caught.value.message == "The Acme webhook body is not JSON."


# -- amounts read from answers ----------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "currency", "expected"),
    [
        (4999, "USD", 4999),
        (-1500, "USD", 1500),  # refunds listed negative
        ("250", "JPY", 250),
        (None, "USD", None),
        (10, None, None),
        (10, "usd", None),
        (9.5, "USD", None),
        (True, "USD", None),
        ("12.50", "USD", None),
    ],
)
def test_read_integer_amount(value, currency, expected):
    assert read_integer_amount(value, currency) == expected


@pytest.mark.parametrize(
    ("value", "currency", "expected"),
    [
        ("8.88", "USD", 888),
        ("5", "USD", 500),
        (19.99, "USD", 1999),  # a JSON number, read from its shortest decimal text
        ("1000", "JPY", 1000),
        (None, "USD", None),
        ("8.888", "USD", None),
        ("eight", "USD", None),
        ([1], "USD", None),
    ],
)
def test_read_decimal_amount(value, currency, expected):
    assert read_decimal_amount(value, currency) == expected


@pytest.mark.parametrize(
    ("masked", "expected"),
    [("XXXXXXXXXXXX1111", "1111"), ("4111", "4111"), ("XX11", None), ("111", None), (None, None)],
)
def test_last4(masked, expected):
    assert last4(masked) == expected


# -- re-classified errors ------------------------------------------------------------


def test_replacing_keeps_the_provider_code_and_status():
    cause = InvalidRequest("refused", provider_code="E42", http_status=409)
    error = NotAbortable.replacing(cause, "It already finished.")
    assert type(error) is NotAbortable
    assert (error.message, error.provider_code, error.http_status) == (
        "It already finished.",
        "E42",
        409,
    )
    assert error.permanent is NotAbortable.permanent


# -- the bearer-token base ------------------------------------------------------------


class AcmeProvider(BearerTokenAdapter):
    """The smallest bearer-token adapter: enough to drive the shared token logic."""

    name = "acme"
    api_name = "Acme"
    capabilities = Capabilities(
        can_rename=False,
        can_abort=False,
        needs_capture=False,
        has_webhooks=False,
        refund_mode="referenced",
        reports_online=False,
        has_idempotency_key=True,
        status_channel="poll",
        poll_interval_s=1.0,
        default_timeout_s=60,
        requests_per_minute=None,
    )

    def obtain_token(self) -> Token:
        response = self.client.post(TOKEN_URL)
        body = self._json_object(response)
        return self._keep_token(body["token"], body["expires_in"])

    def _raise_for_response(self, response: httpx.Response, *, moves_money: bool) -> None:
        if response.is_success:
            return
        if response.status_code == 401:
            raise AuthError("Acme refused the token.", http_status=401)
        if response.status_code == 404:
            raise NotFound("Acme could not find it.", http_status=404)
        raise_for_common_status(response, self.api_name, "failed", moves_money=moves_money)

    def list_terminals(self):
        return []

    def get_terminal(self, ref):
        raise NotFound()

    def start_payment(self, req):
        raise UnsupportedOperation("this stand-in only exercises tokens and errors")

    def find_started_payment(self, req):
        raise UnsupportedOperation("this stand-in only exercises tokens and errors")

    def get_payment(self, provider_ref, *, kind, wait=False):
        raise UnsupportedOperation("this stand-in only exercises tokens and errors")

    def abort_payment(self, provider_ref, *, kind):
        raise UnsupportedOperation("this stand-in only exercises tokens and errors")

    def refund(self, req):
        raise UnsupportedOperation("this stand-in only exercises tokens and errors")


@pytest.fixture
def acme_tokens():
    return MemoryTokenStore(Token(access_token="cached-token", expires_at=NOW + timedelta(hours=1)))


@pytest.fixture
def acme(router, acme_tokens):
    account = AccountConfig(
        provider="acme",
        environment="sandbox",
        base_url=BASE,
        settings={"terminal_ids": " t1, ,t2,"},
    )
    provider = AcmeProvider(account, token_store=acme_tokens, clock=fixed_clock)
    yield provider
    provider.close()


def fresh_tokens(router, *tokens: str):
    return router.post(TOKEN_URL).mock(
        side_effect=[httpx.Response(200, json={"token": t, "expires_in": 3600}) for t in tokens]
    )


def test_a_valid_cached_token_is_used_as_it_is(acme, router):
    token_route = fresh_tokens(router, "fresh-token")
    route = router.get(f"{BASE}/things").mock(return_value=httpx.Response(200, json={}))
    acme._request_with_token("GET", "things", headers={"X-Extra": "1"}, moves_money=False)
    sent = route.calls.last.request.headers
    assert (sent["Authorization"], sent["X-Extra"]) == ("Bearer cached-token", "1")
    assert not token_route.called


def test_a_token_within_two_minutes_of_expiry_is_fetched_again_and_kept(acme, router, acme_tokens):
    acme_tokens.save(Token(access_token="old", expires_at=NOW + timedelta(seconds=119)))
    fresh_tokens(router, "fresh-token")
    route = router.get(f"{BASE}/things").mock(return_value=httpx.Response(200, json={}))
    acme._request_with_token("GET", "things", headers={}, moves_money=False)
    assert route.calls.last.request.headers["Authorization"] == "Bearer fresh-token"
    kept = acme_tokens.load()
    assert (kept.access_token, kept.expires_at) == ("fresh-token", NOW + timedelta(hours=1))


def test_a_401_fetches_a_new_token_and_retries_once_with_the_same_headers(acme, router, caplog):
    caplog.set_level(logging.INFO)
    fresh_tokens(router, "fresh-token")
    route = router.post(f"{BASE}/payments").mock(
        side_effect=[httpx.Response(401), httpx.Response(200, json={"ok": True})]
    )
    response = acme._request_with_token(
        "POST",
        "payments",
        headers={"Idempotency-Key": "key-1"},
        moves_money=True,
        json={"amount": 100},
    )
    assert response.json() == {"ok": True}
    first, second = (call.request for call in route.calls)
    assert first.headers["Authorization"] == "Bearer cached-token"
    assert second.headers["Authorization"] == "Bearer fresh-token"
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"] == "key-1"
    assert first.content == second.content
    [record] = [r for r in caplog.records if "fetching a new token" in r.getMessage()]
    assert record.name == __name__  # the adapter's own logger
    assert record.getMessage() == "Acme answered 401 to POST /payments; fetching a new token"


def test_a_second_401_is_the_adapters_auth_error(acme, router):
    token_route = fresh_tokens(router, "fresh-token", "another-token")
    router.get(f"{BASE}/things").mock(return_value=httpx.Response(401))
    with pytest.raises(AuthError):
        acme._request_with_token("GET", "things", headers={}, moves_money=False)
    assert token_route.call_count == 1


def test_other_failures_go_through_the_adapters_mapping(acme, router):
    router.post(f"{BASE}/payments").mock(return_value=httpx.Response(502))
    with pytest.raises(OutcomeUnknown):
        acme._request_with_token("POST", "payments", headers={}, moves_money=True)


# -- configured terminals ---------------------------------------------------------------


def test_configured_terminal_ids_accept_a_comma_separated_string(acme):
    assert acme._configured_terminal_ids() == ["t1", "t2"]


def test_configured_terminals_leave_out_unknown_ids_with_a_warning(acme, caplog):
    caplog.set_level(logging.WARNING)
    assert acme._configured_terminals() == []
    assert [r.getMessage() for r in caplog.records] == [
        "Acme does not know the configured terminal t1",
        "Acme does not know the configured terminal t2",
    ]


def test_every_client_of_a_process_shares_one_tls_context_that_verifies_certificates():
    """Building a TLS context parses the CA bundle (tens of milliseconds); httpx builds one per
    client, and a client is made per payment start, so the factory hands them all one context."""
    import ssl

    from providers.http import make_client, tls_context

    first = make_client("https://komoju.com/api/v1", label="komoju")
    second = make_client("https://api.payroc.com/v1", label="payroc")
    contexts = [c._transport._pool._ssl_context for c in (first, second)]

    assert contexts[0] is contexts[1] is tls_context()
    assert contexts[0].verify_mode == ssl.CERT_REQUIRED and contexts[0].check_hostname
    assert contexts[0].cert_store_stats()["x509_ca"] > 0  # the CA bundle is loaded
    first.close()
    second.close()

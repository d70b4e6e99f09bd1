"""The contract's own types and the registry, without any HTTP."""

from __future__ import annotations

from datetime import timedelta

import pytest

from providers.base import (
    FINAL_STATES,
    TRACKING_GRACE,
    AccountConfig,
    PaymentKind,
    PaymentState,
    StartRequest,
    Token,
)
from providers.errors import InvalidRequest, ProviderError
from providers.payroc import PayrocProvider
from providers.registry import UnknownProvider, capabilities_for, get_provider, provider_names
from providers.usaepay import UsaepayProvider
from tests.providers.accounts import DEVICE_KEY, IDEMPOTENCY_KEY, NOW


def start(**overrides) -> StartRequest:
    fields = {
        "kind": "sale",
        "terminal_ref": DEVICE_KEY,
        "amount_minor": 888,
        "currency": "USD",
        "idempotency_key": IDEMPOTENCY_KEY,
        "reference": "ORDER-1001",
    }
    return StartRequest(**(fields | overrides))


def test_final_states_are_the_five_outcomes():
    assert {state.value for state in FINAL_STATES} == {
        "approved",
        "declined",
        "canceled",
        "timed_out",
        "failed",
    }
    assert PaymentState.UNKNOWN not in FINAL_STATES
    assert PaymentState.AUTHORIZED not in FINAL_STATES


def test_start_request_takes_the_kind_as_text():
    assert start().kind is PaymentKind.SALE


@pytest.mark.parametrize(
    "overrides",
    [
        {"reference": "x" * 25},
        {"reference": ""},
        {"idempotency_key": "not-a-uuid"},
        {"idempotency_key": "8e03978e-40d5-13e8-bc93-6894a57f9324"},  # a UUID1
        {"amount_minor": 8.88},
        {"amount_minor": 0},
        {"amount_minor": True},
        {"currency": "usd"},
        {"terminal_ref": ""},
        {"timeout_s": 0},
    ],
)
def test_start_request_refuses_what_no_provider_could_take(overrides):
    with pytest.raises(InvalidRequest):
        start(**overrides)


def test_token_needs_refresh_within_the_margin():
    token = Token("t", NOW + timedelta(minutes=5))
    assert not token.needs_refresh(NOW)
    assert token.needs_refresh(NOW + timedelta(minutes=3))
    assert token.needs_refresh(NOW, margin=timedelta(minutes=6))
    with pytest.raises(ValueError):
        Token("t", NOW.replace(tzinfo=None))


def test_errors_carry_a_code_and_permanence():
    error = InvalidRequest(provider_code=400)
    assert (error.code, error.permanent, error.provider_code) == ("invalid_request", True, 400)
    assert ProviderError("x", permanent=True).permanent


def test_registry_builds_adapters_lazily_by_name(usaepay_account, payroc_account):
    assert provider_names() == ["klearly", "komoju", "mobilepay", "payroc", "usaepay"]
    with get_provider(usaepay_account) as usaepay, get_provider(payroc_account) as payroc:
        assert isinstance(usaepay, UsaepayProvider)
        assert isinstance(payroc, PayrocProvider)
        assert str(usaepay.client.base_url) == "https://sandbox.usaepay.test/api/v2/"
    assert capabilities_for("usaepay").can_rename
    assert not capabilities_for("payroc").can_rename


def test_an_unknown_provider_name_is_refused():
    with pytest.raises(UnknownProvider):
        capabilities_for("paypal")
    with pytest.raises(UnknownProvider):
        get_provider(AccountConfig("paypal", "sandbox", "https://paypal.test"))


def test_deadline_is_timeout_plus_grace(payroc):
    assert payroc.deadline_for(NOW) == NOW + timedelta(seconds=120) + TRACKING_GRACE

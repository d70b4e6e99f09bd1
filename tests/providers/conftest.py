"""Fixtures for the wire-level provider tests: accounts, a fixed clock, a respx router.

These tests need neither Django nor a database; respx replaces the HTTP transport.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import respx

from providers.base import AccountConfig, MemoryTokenStore, Token
from providers.payroc import PayrocProvider
from providers.usaepay import UsaepayProvider
from tests.providers.accounts import (
    NOW,
    PAYROC_API_KEY,
    PAYROC_BASE,
    PAYROC_IDENTITY,
    PAYROC_TERMINAL_ID,
    PAYROC_TOKEN,
    USAEPAY_API_KEY,
    USAEPAY_BASE,
    USAEPAY_PIN,
    USAEPAY_SIGNATURE_KEY,
    fixed_clock,
)


@pytest.fixture
def router():
    with respx.mock(assert_all_called=False) as mock_router:
        yield mock_router


@pytest.fixture
def payroc_account() -> AccountConfig:
    return AccountConfig(
        provider="payroc",
        environment="sandbox",
        base_url=PAYROC_BASE,
        identity_url=PAYROC_IDENTITY,
        secrets={"api_key": PAYROC_API_KEY},
        settings={"processing_terminal_id": PAYROC_TERMINAL_ID},
    )


@pytest.fixture
def payroc_tokens() -> MemoryTokenStore:
    """A store holding a bearer token that is valid for another hour."""
    return MemoryTokenStore(Token(access_token=PAYROC_TOKEN, expires_at=NOW + timedelta(hours=1)))


@pytest.fixture
def payroc(router, payroc_account, payroc_tokens):
    provider = PayrocProvider(payroc_account, token_store=payroc_tokens, clock=fixed_clock)
    yield provider
    provider.close()


@pytest.fixture
def usaepay_account() -> AccountConfig:
    return AccountConfig(
        provider="usaepay",
        environment="sandbox",
        base_url=USAEPAY_BASE,
        secrets={
            "api_key": USAEPAY_API_KEY,
            "api_pin": USAEPAY_PIN,
            "webhook_signature_key": USAEPAY_SIGNATURE_KEY,
        },
    )


@pytest.fixture
def usaepay(router, usaepay_account):
    provider = UsaepayProvider(
        usaepay_account, seed_factory=lambda: "abcdefghijklmnop", clock=fixed_clock
    )
    yield provider
    provider.close()

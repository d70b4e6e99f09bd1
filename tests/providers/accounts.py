"""Constants shared by the wire-level provider tests (accounts, keys, the fixed clock)."""

from __future__ import annotations

from datetime import UTC, datetime

NOW = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)

# Shaped like our sandbox: the API is served under a path prefix ending in /v1,
# while Payroc's links point at https://api.payroc.com/v1/...
PAYROC_BASE = "https://sandbox.test/sandbox/payroc/v1"
PAYROC_IDENTITY = "https://sandbox.test/sandbox/payroc/identity/authorize"
PAYROC_API_KEY = "payroc-api-key-5f1d9c7e"
PAYROC_TOKEN = "eyJhbGc.cached-bearer.adQssw5c"
PAYROC_TERMINAL_ID = "1234001"
SERIAL = "1850010868"

USAEPAY_BASE = "https://sandbox.usaepay.test/api/v2"
# The documented test vector's key and PIN.
USAEPAY_API_KEY = "_V87Qtb513Cd3vabM7RC0TbtJWeSo8p7"
USAEPAY_PIN = "123456"
USAEPAY_SIGNATURE_KEY = "whsec-usaepay-7d3f"
DEVICE_KEY = "sa_WKwzyQawBG0RMy0XpDGFXb6pXA23r"

IDEMPOTENCY_KEY = "8e03978e-40d5-43e8-bc93-6894a57f9324"


def fixed_clock() -> datetime:
    return NOW

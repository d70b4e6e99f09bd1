"""Sandbox fixtures: emulated accounts and devices, and httpx clients aimed at the live server."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
import uuid
from collections.abc import Callable

import httpx
import pytest

from sandbox import services
from sandbox.models import Provider

PAYROC_API_KEY = "sandbox-payroc-key-0001"
PAYROC_TERMINAL_ID = "1234001"
# USAePay's documented auth example (usaepay.md §2): this key, PIN and seed give a known header.
USAEPAY_API_KEY = "_V87Qtb513Cd3vabM7RC0TbtJWeSo8p7"
USAEPAY_PIN = "123456"


@pytest.fixture(autouse=True)
def quick_sandbox(settings):
    """Magic amounts decide at once and Payroc's status call holds only briefly."""
    settings.SANDBOX_MAGIC_DELAY_S = 0
    settings.SANDBOX_PAYROC_LONG_POLL_S = 1
    settings.SANDBOX_PAYROC_INSTRUCTION_TIMEOUT_S = 120


def wait_until(check: Callable[[], object], *, timeout: float = 10.0, interval: float = 0.05):
    """Polls `check` until it returns something truthy; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() >= deadline:
            pytest.fail(f"condition not met within {timeout} s (last value: {result!r})")
        time.sleep(interval)


def new_key() -> str:
    return str(uuid.uuid4())


# -- Payroc ---------------------------------------------------------------------------------------


@pytest.fixture
def payroc_account():
    return services.sandbox_account_ensure(
        provider=Provider.PAYROC,
        label="Payroc demo",
        secrets={"api_key": PAYROC_API_KEY},
        settings={"processing_terminal_id": PAYROC_TERMINAL_ID},
    )


@pytest.fixture
def payroc_device(payroc_account):
    return services.sandbox_device_ensure(
        account=payroc_account,
        ref="1850010868",
        name="",
        model="A920Pro",
        serial="1850010868",
        manufacturer="PAX",
    )


@pytest.fixture
def payroc_urls(live_server):
    root = live_server.url + "/sandbox/payroc"
    return {"identity": root + "/identity/authorize", "base": root + "/v1"}


@pytest.fixture
def payroc(payroc_account, payroc_urls):
    """An httpx client on the Payroc emulator's /v1 base, with a bearer token."""
    token = httpx.post(payroc_urls["identity"], headers={"x-api-key": PAYROC_API_KEY}).json()[
        "access_token"
    ]
    with httpx.Client(
        base_url=payroc_urls["base"], headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as client:
        yield client


def sale_body(amount: int, *, order_id: str = "Order-1", currency: str = "USD", **extra) -> dict:
    return {
        "processingTerminalId": PAYROC_TERMINAL_ID,
        "order": {"orderId": order_id, "amount": amount, "currency": currency},
        "customizationOptions": {"entryMethod": "deviceRead"},
        "autoCapture": True,
        **extra,
    }


def start_instruction(
    client: httpx.Client, serial: str, amount: int, *, key: str | None = None, **body
) -> httpx.Response:
    return client.post(
        f"devices/{serial}/payment-instructions",
        json=sale_body(amount, **body),
        headers={"Idempotency-Key": key or new_key()},
    )


# -- USAePay --------------------------------------------------------------------------------------


def usaepay_header(api_key: str, pin: str, seed: str | None = None) -> str:
    seed = seed or secrets.token_hex(16)
    digest = hashlib.sha256((api_key + seed + pin).encode()).hexdigest()
    return "Basic " + base64.b64encode(f"{api_key}:s2/{seed}/{digest}".encode()).decode()


class USAePayAuth(httpx.Auth):
    """USAePay's per-request hash, with a fresh seed every time (as the official SDK does)."""

    def __init__(self, api_key: str, pin: str):
        self.api_key, self.pin = api_key, pin

    def auth_flow(self, request):
        request.headers["Authorization"] = usaepay_header(self.api_key, self.pin)
        yield request


@pytest.fixture
def usaepay_account():
    return services.sandbox_account_ensure(
        provider=Provider.USAEPAY,
        label="USAePay demo",
        secrets={
            "api_key": USAEPAY_API_KEY,
            "api_pin": USAEPAY_PIN,
            "webhook_signature_key": "whsec-demo",
        },
        settings={},
    )


@pytest.fixture
def usaepay_device(usaepay_account):
    return services.sandbox_device_ensure(
        account=usaepay_account,
        ref="sa_WKwzyQawBG0RMy0XpDGFXb6pXA23r",
        name="Front counter",
        model="MP200",
        serial="000313162200473",
        manufacturer="Castles",
    )


@pytest.fixture
def usaepay_base(live_server):
    return live_server.url + "/sandbox/usaepay/api/v2"


@pytest.fixture
def usaepay(usaepay_account, usaepay_base):
    with httpx.Client(
        base_url=usaepay_base, auth=USAePayAuth(USAEPAY_API_KEY, USAEPAY_PIN), timeout=30
    ) as client:
        yield client


def start_payrequest(client: httpx.Client, devicekey: str, amount: str, **extra) -> httpx.Response:
    return client.post(
        "paymentengine/payrequests",
        json={"devicekey": devicekey, "command": "sale", "amount": amount, **extra},
    )

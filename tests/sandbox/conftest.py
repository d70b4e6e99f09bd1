"""Sandbox fixtures: emulated accounts and devices, and httpx clients aimed at the live server."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
import uuid

import httpx
import pytest

from providers.http import tls_context
from sandbox import services
from sandbox.emulators import EmulatorName
from tests.waiting import wait_until

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


def new_key() -> str:
    return str(uuid.uuid4())


# -- Payroc ---------------------------------------------------------------------------------------


@pytest.fixture
def payroc_account():
    return services.sandbox_account_ensure(
        provider=EmulatorName.PAYROC,
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
    token = httpx.post(
        payroc_urls["identity"], headers={"x-api-key": PAYROC_API_KEY}, verify=tls_context()
    ).json()["access_token"]
    with httpx.Client(
        base_url=payroc_urls["base"],
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
        verify=tls_context(),
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
        provider=EmulatorName.USAEPAY,
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
        base_url=usaepay_base,
        auth=USAePayAuth(USAEPAY_API_KEY, USAEPAY_PIN),
        timeout=30,
        verify=tls_context(),
    ) as client:
        yield client


def start_payrequest(client: httpx.Client, devicekey: str, amount: str, **extra) -> httpx.Response:
    return client.post(
        "paymentengine/payrequests",
        json={"devicekey": devicekey, "command": "sale", "amount": amount, **extra},
    )


# -- driving the dashboard's adapters against the emulators ---------------------------------------


def follow(adapter, result, *, kind=None, until=None, timeout: float = 10.0):
    """Polls the adapter (without its production pause) until the payment is final, or in one of
    `until`'s states, and returns the last result."""
    from providers.base import PaymentKind

    kind = kind or PaymentKind.SALE
    wanted = set(until or ())

    def done():
        nonlocal result
        if result.is_final or result.state in wanted:
            return result
        result = adapter.get_payment(result.provider_ref, kind=kind)
        return result if result.is_final or result.state in wanted else None

    return wait_until(done, timeout=timeout)


def start_request(terminal_ref: str, amount_minor: int, currency: str, **overrides):
    from providers.base import PaymentKind, StartRequest

    fields = {
        "kind": PaymentKind.SALE,
        "terminal_ref": terminal_ref,
        "amount_minor": amount_minor,
        "currency": currency,
        "idempotency_key": new_key(),
        "reference": "sbx-" + uuid.uuid4().hex[:12],
        "description": "sandbox test",
    }
    return StartRequest(**(fields | overrides))


def refund_request(original_ref: str, amount_minor: int, currency: str, **overrides):
    from providers.base import RefundRequest

    fields = {
        "original_transaction_ref": original_ref,
        "amount_minor": amount_minor,
        "currency": currency,
        "idempotency_key": new_key(),
        "reference": "rf-" + uuid.uuid4().hex[:12],
        "description": "sandbox refund",
    }
    return RefundRequest(**(fields | overrides))


def adapter_for(provider: str, base_url: str, *, secrets: dict, settings: dict | None = None):
    from providers.base import AccountConfig
    from providers.registry import get_provider

    return get_provider(
        AccountConfig(
            provider=provider,
            environment="sandbox",
            base_url=base_url,
            secrets=secrets,
            settings=settings or {},
        )
    )


# -- MobilePay (Integra) --------------------------------------------------------------------------

MOBILEPAY_BIO_CODE = "bio-4471"
MOBILEPAY_TOKEN = "integra-token-6c0f8e2a91"
MOBILEPAY_TERMINAL = "T-101"


@pytest.fixture
def mobilepay_account():
    return services.sandbox_account_ensure(
        provider=EmulatorName.MOBILEPAY,
        label="MobilePay demo",
        secrets={"bio_code": MOBILEPAY_BIO_CODE, "access_token": MOBILEPAY_TOKEN},
        settings={"store_id": "store-1", "store_name": "Harbour Cinema"},
    )


@pytest.fixture
def mobilepay_device(mobilepay_account):
    return services.sandbox_device_ensure(
        account=mobilepay_account,
        ref=MOBILEPAY_TERMINAL,
        name="Kiosk",
        model="MobilePay PoS",
        serial="4f6a9d1e-2b7c-4e0a-9c3d-5a1b2c3d4e5f",
        manufacturer="MobilePay",
    )


@pytest.fixture
def mobilepay_base(live_server):
    return live_server.url + "/sandbox/mobilepay/"


@pytest.fixture
def integra(mobilepay_account, mobilepay_base):
    """An httpx client on Integra's base that adds accessToken and bioCode to every call."""
    with httpx.Client(
        base_url=mobilepay_base,
        params={"accessToken": MOBILEPAY_TOKEN, "bioCode": MOBILEPAY_BIO_CODE},
        headers={"Accept": "application/json"},
        timeout=30,
        verify=tls_context(),
    ) as client:
        yield client


@pytest.fixture
def mobilepay(mobilepay_account, mobilepay_device, mobilepay_base):
    """The dashboard's MobilePay adapter, aimed at the emulator."""
    adapter = adapter_for(
        "mobilepay",
        mobilepay_base,
        secrets={"access_token": MOBILEPAY_TOKEN, "bio_code": MOBILEPAY_BIO_CODE},
        settings={"terminal_ids": [MOBILEPAY_TERMINAL]},
    )
    yield adapter
    adapter.close()


# -- KOMOJU ---------------------------------------------------------------------------------------

KOMOJU_SECRET_KEY = "sk_test_3b5f0c9a7e21d4c8"
KOMOJU_WEBHOOK_SECRET = "komoju-whsec-9d2e7a41"
KOMOJU_TERMINAL = "tm_0f3c9a2b"


@pytest.fixture
def komoju_account():
    return services.sandbox_account_ensure(
        provider=EmulatorName.KOMOJU,
        label="KOMOJU demo",
        secrets={"secret_key": KOMOJU_SECRET_KEY, "webhook_secret": KOMOJU_WEBHOOK_SECRET},
        settings={},
    )


@pytest.fixture
def komoju_device(komoju_account):
    return services.sandbox_device_ensure(
        account=komoju_account,
        ref=KOMOJU_TERMINAL,
        name="Front desk",
        model="S1F2",
        serial="S1F2-000123",
        manufacturer="Castles",
    )


@pytest.fixture
def komoju_base(live_server):
    return live_server.url + "/sandbox/komoju/api/v1"


@pytest.fixture
def komoju_client(komoju_account, komoju_base):
    """An httpx client on the KOMOJU emulator's base, authenticated with the secret key."""
    with httpx.Client(
        base_url=komoju_base + "/", auth=(KOMOJU_SECRET_KEY, ""), timeout=30, verify=tls_context()
    ) as client:
        yield client


@pytest.fixture
def komoju(komoju_account, komoju_device, komoju_base):
    """The dashboard's KOMOJU adapter, aimed at the emulator."""
    adapter = adapter_for(
        "komoju",
        komoju_base,
        secrets={"secret_key": KOMOJU_SECRET_KEY, "webhook_secret": KOMOJU_WEBHOOK_SECRET},
        settings={"terminal_ids": [KOMOJU_TERMINAL]},
    )
    yield adapter
    adapter.close()


# -- Klearly --------------------------------------------------------------------------------------

KLEARLY_PARTNER_ID = "partner-7f3a"
KLEARLY_PARTNER_SECRET = "partner-secret-c41d9e0b"
KLEARLY_WEBHOOK_SECRET = "klearly-whsec-20b7"
KLEARLY_MERCHANT_ID = "mer_4411"
KLEARLY_DEVICE = "dev_a1b2c3"
KLEARLY_OTHER_DEVICE = "dev_z9y8x7"
KLEARLY_SECRETS = {
    "partner_id": KLEARLY_PARTNER_ID,
    "partner_secret": KLEARLY_PARTNER_SECRET,
    "webhook_secret": KLEARLY_WEBHOOK_SECRET,
}


@pytest.fixture
def klearly_account():
    return services.sandbox_account_ensure(
        provider=EmulatorName.KLEARLY,
        label="Klearly demo",
        secrets=KLEARLY_SECRETS,
        settings={"merchant_id": KLEARLY_MERCHANT_ID},
    )


@pytest.fixture
def klearly_device(klearly_account):
    return services.sandbox_device_ensure(
        account=klearly_account,
        ref=KLEARLY_DEVICE,
        name="Bar 1",
        model="A920",
        serial="0820123456",
        manufacturer="PAX",
    )


@pytest.fixture
def klearly_other_device(klearly_account):
    return services.sandbox_device_ensure(
        account=klearly_account,
        ref=KLEARLY_OTHER_DEVICE,
        name="Terrace",
        model="V2s",
        serial="0820999999",
        manufacturer="Sunmi",
    )


@pytest.fixture
def klearly_base(live_server):
    return live_server.url + "/sandbox/klearly/v1"


@pytest.fixture
def klearly_client(klearly_account, klearly_base):
    """An httpx client on the Klearly emulator's base with a fresh merchant token."""
    token = httpx.post(
        klearly_base + "/partner/merchant-token",
        json={"merchantId": KLEARLY_MERCHANT_ID},
        auth=(KLEARLY_PARTNER_ID, KLEARLY_PARTNER_SECRET),
        verify=tls_context(),
    ).json()["token"]
    with httpx.Client(
        base_url=klearly_base + "/",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
        verify=tls_context(),
    ) as client:
        yield client


@pytest.fixture
def klearly(klearly_account, klearly_device, klearly_base):
    """The dashboard's Klearly adapter, aimed at the emulator."""
    adapter = adapter_for(
        "klearly",
        klearly_base,
        secrets=KLEARLY_SECRETS,
        settings={"merchant_id": KLEARLY_MERCHANT_ID, "store_id": "store-9"},
    )
    yield adapter
    adapter.close()


# -- webhooks -------------------------------------------------------------------------------------


class WebhookReceiver:
    """A tiny HTTP server standing in for the dashboard's webhook endpoint: it records every POST
    (headers, raw body, arrival time) and answers `status`; after `hold()` it keeps each request
    waiting, unrecorded and unanswered, until `release()`."""

    def __init__(self):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        receiver = self
        self.received: list[dict] = []
        self.status = 200
        self._open = threading.Event()
        self._open.set()
        self._lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver._open.wait(timeout=30)
                with receiver._lock:
                    receiver.received.append(
                        {
                            "path": self.path,
                            "headers": dict(self.headers.items()),
                            "body": body,
                            "at": time.monotonic(),
                        }
                    )
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/sandbox/"

    def hold(self) -> None:
        """From now on a request waits, neither recorded nor answered, until `release()`."""
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict]:
        wait_until(lambda: len(self.received) >= count, timeout=timeout)
        return list(self.received)

    def close(self):
        self.release()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook_receiver(transactional_db):
    """A running receiver; the sandbox's webhook sender is stopped before the database goes."""
    from sandbox import webhooks

    receiver = WebhookReceiver()
    yield receiver
    webhooks.stop()
    receiver.close()


def point_webhooks_at(account, url: str):
    """Sets the sandbox account's webhook_url, as the lead's demo loader will."""
    from sandbox.models import SandboxAccount

    settings = {**account.settings, "webhook_url": url}
    SandboxAccount.objects.filter(pk=account.pk).update(settings=settings)
    account.refresh_from_db()
    return account

"""One contract suite, every provider: each adapter against its sandbox emulator over real HTTP
(pytest-django's live server), through the credential vault, exactly as the product uses it."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import pytest

from credentials.services import account_create, provider_for
from providers.base import PaymentKind, ProviderAdapter, StartRequest
from providers.registry import provider_class
from sandbox.models import SandboxDevice, SandboxPayment
from sandbox.services import sandbox_account_ensure, sandbox_device_ensure
from tests.providers.payroc_openapi import validate_payroc_request

ACCOUNTS = {
    # secrets: both sides; settings: the dashboard's ProviderAccount; sandbox_settings: the emulator's.
    "payroc": {
        "secrets": {"api_key": "contract-payroc-key-4b1d8e2f9a7c6035"},
        "settings": {"processing_terminal_id": "1234001"},
        "devices": ["1850099001", "1850099002"],
    },
    "usaepay": {
        "secrets": {
            "api_key": "_ContractUsaepayKey0Tb513Cd3vabM7",
            "api_pin": "424242",
            "webhook_signature_key": "contract-whsec-5e8a",
        },
        "settings": {},
        "devices": ["sa_ContractDevice00000000000001", "sa_ContractDevice00000000000002"],
    },
    "komoju": {
        "secrets": {
            "secret_key": "sk_test_contract7d1e0c4b9a8f",
            "webhook_secret": "contract-komoju-whsec-2b7f",
        },
        "settings": {"terminal_ids": ["tm_contract0001", "tm_contract0002"]},
        "devices": ["tm_contract0001", "tm_contract0002"],
        "currency": "JPY",
    },
    "klearly": {
        "secrets": {
            "partner_id": "partner-contract-01",
            "partner_secret": "contract-klearly-secret-6c2d9e",
            "webhook_secret": "contract-klearly-whsec-4a1b",
        },
        "settings": {"merchant_id": "kl-merchant-contract", "store_id": "kl-store-1"},
        "devices": ["kl-device-contract-1", "kl-device-contract-2"],
        "currency": "EUR",
    },
    "mobilepay": {
        "secrets": {
            "access_token": "contract-integra-token-8e3f1a",
            "bio_code": "contract-bio-5521",
        },
        "settings": {"terminal_ids": ["mp-pos-contract-1", "mp-pos-contract-2"]},
        "devices": ["mp-pos-contract-1", "mp-pos-contract-2"],
        "currency": "DKK",
        "shows_card": False,  # MobilePay pays from the customer's app: no card reaches the POS
        # Integra addresses a PoS by its terminal id; the posId (a UUID) is the device's serial.
        "serials": ["7f1c9a3e-0b5d-4c2e-9f8a-1d2e3f4a5b61", "7f1c9a3e-0b5d-4c2e-9f8a-1d2e3f4a5b62"],
    },
}
PROVIDERS = list(ACCOUNTS)


def providers_where(condition: Callable[[type[ProviderAdapter]], bool]) -> list[str]:
    """The contract's providers whose adapter class meets `condition` (its capabilities, its base)."""
    return [name for name in PROVIDERS if condition(provider_class(name))]


def for_providers_where(condition: Callable[[type[ProviderAdapter]], bool]):
    """Runs a contract case only for the providers it applies to, so the report names exactly what
    ran: `@for_providers_where(lambda adapter: adapter.capabilities.can_rename)`. A condition no
    provider meets fails the collection (`empty_parameter_set_mark`), never a silent pass."""
    return pytest.mark.parametrize("env", providers_where(condition), indirect=True)


@dataclass
class ContractEnv:
    provider_name: str
    adapter: object
    account: object
    sandbox_account: object
    devices: list
    sent: list = field(default_factory=list)

    @property
    def device(self) -> SandboxDevice:
        return self.devices[0]

    @property
    def shows_card(self) -> bool:
        return ACCOUNTS[self.provider_name].get("shows_card", True)

    @property
    def currency(self) -> str:
        return ACCOUNTS[self.provider_name].get("currency", "USD")

    def start_request(
        self, amount_minor: int, *, kind=PaymentKind.SALE, terminal_ref=None, timeout_s=60
    ) -> StartRequest:
        return StartRequest(
            kind=kind,
            terminal_ref=terminal_ref or self.device.ref,
            amount_minor=amount_minor,
            currency=self.currency,
            idempotency_key=str(uuid.uuid4()),
            reference="ct-" + uuid.uuid4().hex[:12],
            description="contract suite",
            timeout_s=timeout_s,
        )

    def charges(self, reference: str | None = None) -> int:
        payments = SandboxPayment.objects.charges().filter(device__account=self.sandbox_account)
        if reference:
            payments = payments.filter(order_ref=reference)
        return payments.count()

    def starts_total(self) -> int:
        return SandboxPayment.objects.filter(device__account=self.sandbox_account).count()

    def starts(self, reference: str) -> int:
        return SandboxPayment.objects.filter(
            device__account=self.sandbox_account, order_ref=reference
        ).count()


def make_env(provider_name: str, merchant, *, secrets=None) -> ContractEnv:
    spec = ACCOUNTS[provider_name]
    sandbox_account = sandbox_account_ensure(
        provider=provider_name,
        label=f"contract-{provider_name}",
        secrets=spec["secrets"],
        settings=spec.get("sandbox_settings", spec["settings"]),
    )
    serials = spec.get("serials", spec["devices"])
    devices = [
        sandbox_device_ensure(
            account=sandbox_account, ref=ref, name=f"Lane {i + 1}", model="MP200", serial=serial
        )
        for i, (ref, serial) in enumerate(zip(spec["devices"], serials, strict=True))
    ]
    account = account_create(
        merchant=merchant,
        provider=provider_name,
        environment="sandbox",
        label=f"contract {uuid.uuid4().hex[:6]}",
        secrets=secrets or spec["secrets"],
        settings=spec["settings"],
    )
    env = ContractEnv(provider_name, provider_for(account), account, sandbox_account, devices)
    env.adapter.client.event_hooks["request"].append(env.sent.append)
    return env


@pytest.fixture(params=PROVIDERS)
def env(request, sandbox_settings, tenant_a):
    env = make_env(request.param, tenant_a.merchant)
    yield env
    env.adapter.close()
    if env.provider_name == "payroc":
        # Every request the Payroc adapter sent is checked against Payroc's official OpenAPI spec.
        for sent in env.sent:
            validate_payroc_request(sent)


__all__ = ["ContractEnv", "for_providers_where", "make_env", "providers_where", "httpx"]

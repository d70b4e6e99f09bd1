"""Terminal fixtures: provider accounts whose terminals live in the sandbox emulators (reached over
real HTTP through the live server), and terminals made directly for page tests."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass

import pytest
from django.utils import timezone

from credentials.services import account_create
from terminals.models import Terminal, TerminalStatus

_serials = itertools.count(1)


@dataclass
class SandboxFleet:
    account: object  # credentials.ProviderAccount
    sandbox_account: object  # sandbox.SandboxAccount
    devices: list  # sandbox.SandboxDevice


def _secrets(provider: str) -> dict:
    token = uuid.uuid4().hex
    if provider == "usaepay":
        return {
            "api_key": "_" + token[:31],
            "api_pin": "424242",
            "webhook_signature_key": "whsec-" + token[:8],
        }
    return {"api_key": "payroc-" + token}


def sandbox_fleet(
    provider: str, merchant, *, devices: int = 2, label: str | None = None, names=None
) -> SandboxFleet:
    """A sandbox account with `devices` devices and the merchant's ProviderAccount for it."""
    from sandbox.services import sandbox_account_ensure, sandbox_device_ensure

    label = label or f"{provider} {uuid.uuid4().hex[:6]}"
    secrets = _secrets(provider)
    settings = {"processing_terminal_id": "1234001"} if provider == "payroc" else {}
    sandbox_account = sandbox_account_ensure(
        provider=provider, label=label, secrets=secrets, settings=settings
    )
    made = []
    for i in range(devices):
        n = next(_serials)
        ref = f"18500{n:05d}" if provider == "payroc" else f"sa_Fleet{uuid.uuid4().hex[:23]}"
        name = names[i] if names else f"Lane {i + 1}"
        made.append(
            sandbox_device_ensure(
                account=sandbox_account,
                ref=ref,
                name=name,
                model="MP200",
                manufacturer="Castles",
                serial=ref if provider == "payroc" else f"0003131622{n:05d}",
            )
        )
    account = account_create(
        merchant=merchant,
        provider=provider,
        environment="sandbox",
        label=label,
        secrets=secrets,
        settings=settings,
    )
    return SandboxFleet(account, sandbox_account, made)


def make_terminal(
    account, *, store=None, name=None, status=TerminalStatus.ONLINE, **fields
) -> Terminal:
    n = next(_serials)
    now = timezone.now()
    return Terminal.objects.create(
        account=account,
        merchant_id=account.merchant_id,
        provider=account.provider,
        store=store,
        provider_ref=fields.pop("provider_ref", f"ref-{n:06d}"),
        serial_number=fields.pop("serial_number", f"SN{n:08d}"),
        model=fields.pop("model", "Castles MP200"),
        name=name or f"Terminal {n}",
        status=status,
        status_checked_at=fields.pop("status_checked_at", now),
        last_seen_at=now,
        **fields,
    )


@pytest.fixture
def usaepay_account(tenant_a):
    return account_create(
        merchant=tenant_a.merchant,
        provider="usaepay",
        environment="sandbox",
        label="Main USAePay",
        secrets=_secrets("usaepay"),
    )


@pytest.fixture
def payroc_account(tenant_a):
    return account_create(
        merchant=tenant_a.merchant,
        provider="payroc",
        environment="sandbox",
        label="Main Payroc",
        secrets=_secrets("payroc"),
        settings={"processing_terminal_id": "1234001"},
    )


@pytest.fixture
def celery_worker(sandbox_settings, broker):
    """A real Celery worker in threads of this process, consuming this test process's queues."""
    from celery.contrib.testing.worker import start_worker

    from config.celery import app

    with start_worker(
        app,
        pool="threads",
        concurrency=2,
        perform_ping_check=False,
        loglevel="WARNING",
        shutdown_timeout=30,
    ) as worker:
        yield worker

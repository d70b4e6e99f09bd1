"""`credentials.refresh_1000_s`: 1,000 Payroc accounts whose bearer tokens expire within the refresh
margin, refreshed by the beat task (`credentials.tasks.refresh_expiring_tokens`: one claim, one task
per account) on the worker the demo runs (threads, concurrency 8, the `celery` queue) against the
Payroc emulator served by gunicorn. Measured from the beat task's call until every token is new."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from credentials import tasks, vault
from credentials.models import AccessToken, ProviderAccount
from dashboard.models import Merchant
from sandbox.models import SandboxAccount
from tests.conftest import make_tenant
from tests.waiting import wait_until

ACCOUNTS = 1000


@pytest.fixture
def demo_worker(gunicorn_url):
    """The demo's short-work worker: `celery worker --pool threads --concurrency 8 -Q celery`."""
    from celery.contrib.testing.worker import start_worker

    from config.celery import app
    from tests.broker import Broker

    Broker().purge()
    with start_worker(
        app,
        pool="threads",
        concurrency=8,
        queues=["celery"],
        perform_ping_check=False,
        loglevel="WARNING",
        shutdown_timeout=30,
    ) as running:
        yield running
    Broker().purge()


def _seed(count: int) -> None:
    tenant = make_tenant("bench-refresh")
    merchants = Merchant.objects.bulk_create(
        Merchant(reseller=tenant.reseller, name=f"Refresh merchant {i:04d}") for i in range(count)
    )
    keys = [f"bench-refresh-payroc-key-{i:05d}" for i in range(count)]
    SandboxAccount.objects.bulk_create(
        SandboxAccount(
            provider="payroc",
            label=f"bench-refresh-{i:05d}",
            secrets={"api_key": key},
            settings={"processing_terminal_id": "1234001"},
        )
        for i, key in enumerate(keys)
    )
    now = timezone.now()
    accounts = ProviderAccount.objects.bulk_create(
        ProviderAccount(
            merchant=merchant,
            provider="payroc",
            environment="sandbox",
            label="Main",
            settings={"processing_terminal_id": "1234001"},
            secrets_encrypted=vault.encrypt({"api_key": key}),
            secrets_changed_at=now,
        )
        for merchant, key in zip(merchants, keys, strict=True)
    )
    soon = now + timedelta(minutes=4)  # inside the 10-minute margin
    AccessToken.objects.bulk_create(
        AccessToken(
            account=account,
            token_encrypted=vault.encrypt({"access_token": f"expiring-{account.pk}"}),
            expires_at=soon,
        )
        for account in accounts
    )


@pytest.mark.django_db(transaction=True)
def test_refreshing_1000_expiring_payroc_tokens(demo_worker, record):
    _seed(ACCOUNTS)
    fresh_after = timezone.now() + timedelta(minutes=30)

    start = time.perf_counter()
    assert tasks.refresh_expiring_tokens() == ACCOUNTS  # what beat runs every 30 s
    wait_until(
        lambda: not AccessToken.objects.filter(expires_at__lt=fresh_after).exists(),
        timeout=120,
        interval=0.1,
    )
    elapsed = time.perf_counter() - start

    assert not ProviderAccount.objects.needing_attention().exists()
    wait_until(
        lambda: not ProviderAccount.objects.filter(refresh_lease_until__isnull=False).exists()
    )
    record("credentials.refresh_1000_s", elapsed, "s", 30)

"""`credentials.console_ms`: the credentials console of a reseller admin with 10,000 provider
accounts (100 merchants), its first page and a filtered page, in-process like the fleet's figures;
and the same number of queries at 10 accounts and at 10,000."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from benchmarks.conftest import median_ms
from credentials import vault
from credentials.models import AccountState, ProviderAccount
from dashboard.models import Merchant, Role
from tests.second_factor import login_verified

ACCOUNTS = 10_000
MERCHANTS = 100
PROVIDERS = ["usaepay", "payroc", "komoju", "klearly", "mobilepay"]
STATES = [AccountState.VALID] * 7 + [
    AccountState.INVALID,
    AccountState.NEEDS_ATTENTION,
    "unverified",
]


def _seed(reseller, first_merchant, *, accounts: int, start: int = 0) -> None:
    """`accounts` more accounts spread over the reseller's merchants (one secret blob for all:
    encrypting 10,000 would measure the vault, not the console)."""
    merchants = [first_merchant] + list(
        Merchant.objects.filter(reseller=reseller).exclude(pk=first_merchant.pk)
    )
    missing = MERCHANTS - len(merchants)
    if missing > 0:
        merchants += Merchant.objects.bulk_create(
            Merchant(reseller=reseller, name=f"Console merchant {n:03d}") for n in range(missing)
        )
    secrets = vault.encrypt({"api_key": "bench-key-0000", "api_pin": "1234"})
    ProviderAccount.objects.bulk_create(
        (
            ProviderAccount(
                merchant=merchants[n % len(merchants)],
                provider=PROVIDERS[n % len(PROVIDERS)],
                environment="sandbox",
                label=f"Account {n:05d}",
                secrets_encrypted=secrets,
                state=STATES[n % len(STATES)],
                state_reason="" if STATES[n % len(STATES)] == AccountState.VALID else "why",
                uuid=uuid.uuid4(),
            )
            for n in range(start, start + accounts)
        ),
        batch_size=2000,
    )


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
        assert response.status_code == 200 and b'data-testid="console-row"' in response.content
    return len(queries)


@pytest.mark.django_db
def test_the_console_of_a_reseller_with_10000_accounts(tenant_a, record):
    client = Client()
    login_verified(client, tenant_a.users[Role.RESELLER_ADMIN])
    first_page = "/credentials/"
    filtered = "/credentials/?state=attention"
    client.get(first_page)  # the session's first read

    _seed(tenant_a.reseller, tenant_a.merchant, accounts=10)
    small = (_queries(client, first_page), _queries(client, filtered))
    _seed(tenant_a.reseller, tenant_a.merchant, accounts=ACCOUNTS - 10, start=10)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {ProviderAccount._meta.db_table}")
    assert ProviderAccount.objects.for_user(tenant_a.users[Role.RESELLER_ADMIN]).count() == ACCOUNTS
    large = (_queries(client, first_page), _queries(client, filtered))
    assert small == large, f"queries grow: {small} for 10 accounts, {large} for {ACCOUNTS}"
    record("credentials.console_queries", max(large), "count", None)

    def get(url):
        def fetch():
            assert client.get(url).status_code == 200

        return fetch

    record("credentials.console_ms", median_ms(get(first_page)), "ms", 50)
    record("credentials.console_filtered_ms", median_ms(get(filtered)), "ms", 50)

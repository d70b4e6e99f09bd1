"""Terminal figures on PostgreSQL: the fleet page of a reseller with 10,000 terminals across 200
merchants (server time through the whole middleware stack, and its query count), and one sync of an
account with 1,000 terminals read from its emulator (served by gunicorn) and written in bulk."""

import itertools
import time

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from benchmarks.conftest import median_ms
from credentials import vault
from credentials.models import ProviderAccount
from dashboard.models import Merchant, Role, Store
from terminals.models import SyncState, Terminal, TerminalStatus

MERCHANTS = 200
TERMINALS = 10_000
PROVIDERS = ["usaepay", "payroc", "usaepay", "komoju", "klearly", "mobilepay"]
STATUSES = [TerminalStatus.ONLINE] * 6 + [
    TerminalStatus.OFFLINE,
    TerminalStatus.BUSY,
    TerminalStatus.UNKNOWN,
]


def _seed_fleet(reseller, *, merchants: int, terminals: int, start: int = 0) -> None:
    """`merchants` merchants of `reseller`, two stores and one provider account each, and `terminals`
    terminals spread over them (mixed providers, statuses, stores), written in bulk."""
    now = timezone.now()
    made = Merchant.objects.bulk_create(
        Merchant(reseller=reseller, name=f"Bench merchant {start + i:03d}")
        for i in range(merchants)
    )
    stores = Store.objects.bulk_create(
        Store(merchant=m, name=name) for m in made for name in ("High Street", "Harbour")
    )
    secrets = vault.encrypt({"api_key": "bench"})
    accounts = ProviderAccount.objects.bulk_create(
        ProviderAccount(
            merchant=m,
            provider=PROVIDERS[i % len(PROVIDERS)],
            environment="sandbox",
            label="Main",
            secrets_encrypted=secrets,
        )
        for i, m in enumerate(made)
    )
    stores_of = {m.pk: [s for s in stores if s.merchant_id == m.pk] for m in made}
    counter = itertools.count(start * 1000)
    rows = []
    for i in range(terminals):
        account = accounts[i % len(accounts)]
        n = next(counter)
        store_choice = stores_of[account.merchant_id] + [None]
        status = STATUSES[n % len(STATUSES)]
        rows.append(
            Terminal(
                account=account,
                merchant_id=account.merchant_id,
                provider=account.provider,
                store=store_choice[n % 3],
                provider_ref=f"ref-{n:06d}",
                serial_number=f"0003131622{n:06d}",
                model="Castles MP200",
                name=f"Lane {n:05d}",
                status=status,
                status_checked_at=now,
                last_seen_at=now if status != TerminalStatus.OFFLINE else None,
                is_active=n % 50 != 0,
            )
        )
    Terminal.objects.bulk_create(rows, batch_size=2000)
    with connection.cursor() as cursor:
        cursor.execute(
            "ANALYZE terminals_terminal; ANALYZE dashboard_merchant; ANALYZE dashboard_store"
        )


def _fleet_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


@pytest.mark.django_db
def test_fleet_page_of_a_reseller_with_10000_terminals(tenant_a, record):
    client = Client()
    client.force_login(tenant_a.users[Role.RESELLER_ADMIN])
    first_page = "/terminals/"
    searched = "/terminals/?q=lane+0&provider=usaepay&status=online&sort=-name"

    _seed_fleet(tenant_a.reseller, merchants=2, terminals=10)
    small = (_fleet_queries(client, first_page), _fleet_queries(client, searched))
    _seed_fleet(tenant_a.reseller, merchants=MERCHANTS - 2, terminals=TERMINALS - 10, start=2)
    assert Terminal.objects.for_user(tenant_a.users[Role.RESELLER_ADMIN]).count() == TERMINALS
    large = (_fleet_queries(client, first_page), _fleet_queries(client, searched))
    assert small == large, (
        f"queries grow with the fleet: {small} for 10 terminals, {large} for {TERMINALS}"
    )
    record("fleet.queries", max(large), "count", 10)

    def get(url):
        def fetch():
            response = client.get(url)
            assert response.status_code == 200 and b'data-testid="terminal-row"' in response.content

        return fetch

    record("fleet.first_page_ms", median_ms(get(first_page)), "ms", 50)
    record("fleet.search_ms", median_ms(get(searched)), "ms", 50)
    ids = "&".join(f"id={pk}" for pk in Terminal.objects.values_list("pk", flat=True)[:25])
    record(
        "fleet.statuses_ms", median_ms(get_partial(client, f"/terminals/statuses/?{ids}")), "ms", 50
    )


def get_partial(client, url):
    def fetch():
        assert client.get(url, HTTP_HX_REQUEST="true").status_code == 200

    return fetch


@pytest.mark.django_db(transaction=True)
def test_sync_of_an_account_with_1000_terminals(gunicorn_url, tenant_a, record):
    from sandbox.models import SandboxDevice
    from terminals.services import terminal_sync_account_now
    from tests.terminals.conftest import sandbox_fleet

    fleet = sandbox_fleet("usaepay", tenant_a.merchant, devices=0, label="Bench USAePay")
    SandboxDevice.objects.bulk_create(
        SandboxDevice(
            account=fleet.sandbox_account,
            ref=f"sa_Bench{i:024d}",
            name=f"Lane {i:04d}",
            manufacturer="Castles",
            model="MP200",
            serial=f"0003131622{i:05d}",
            online=i % 10 != 0,
        )
        for i in range(1000)
    )

    start = time.perf_counter()
    run = terminal_sync_account_now(account=fleet.account)
    elapsed = time.perf_counter() - start
    assert run.state == SyncState.SUCCEEDED, run.error
    assert (run.listed, run.added, run.requests) == (1000, 1000, 10)
    assert (
        Terminal.objects.filter(account=fleet.account, status=TerminalStatus.OFFLINE).count() == 100
    )
    record("sync.1000_terminals_s", elapsed, "s", 5)

    # A second sync that finds 100 terminals switched off and 1 gone: the usual case after the first.
    SandboxDevice.objects.filter(account=fleet.sandbox_account, ref__endswith="1").update(
        online=False
    )
    SandboxDevice.objects.filter(
        account=fleet.sandbox_account, ref="sa_Bench" + "0" * 23 + "2"
    ).delete()
    start = time.perf_counter()
    run = terminal_sync_account_now(account=fleet.account)
    elapsed = time.perf_counter() - start
    assert run.state == SyncState.SUCCEEDED and (run.updated, run.deactivated) == (100, 1)
    record("sync.1000_terminals_again_s", elapsed, "s", 5)

"""The fleet page: every terminal the user may see, filters in the URL, live status badges, CSV
export, bulk store assignment and Sync now."""

import csv
import io

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from dashboard.models import Role
from terminals.models import SyncRun, Terminal, TerminalStatus
from tests.factories import MerchantFactory, StoreFactory
from tests.terminals.conftest import make_terminal, sandbox_fleet
from tests.waiting import wait_until

FLEET = "/terminals/"


def rows(response) -> list[str]:
    """The terminal names listed, in order."""
    import re

    return re.findall(r'data-testid="terminal-name">([^<]*)<', response.content.decode())


@pytest.fixture
def reseller_client(client, tenant_a):
    client.force_login(tenant_a.users[Role.RESELLER_ADMIN])
    return client


def _bulk_terminals(account, count, *, start=0):
    now = timezone.now()
    Terminal.objects.bulk_create(
        Terminal(
            account=account,
            merchant_id=account.merchant_id,
            provider=account.provider,
            provider_ref=f"bulk-{start + i:06d}",
            serial_number=f"BULK{start + i:08d}",
            model="Castles MP200",
            name=f"Bulk {start + i:06d}",
            status=TerminalStatus.ONLINE,
            status_checked_at=now,
        )
        for i in range(count)
    )


# --- acceptance: queries do not grow with the fleet ------------------------------------------------


def test_the_fleet_page_makes_the_same_number_of_queries_for_10_and_1000_terminals(
    reseller_client, tenant_a, usaepay_account
):
    other_merchant = MerchantFactory(reseller=tenant_a.reseller)
    StoreFactory(merchant=other_merchant)
    _bulk_terminals(usaepay_account, 10)
    Terminal.objects.filter(pk__in=Terminal.objects.values("pk")[:5]).update(store=tenant_a.store)

    def count_queries(url):
        with CaptureQueriesContext(connection) as queries:
            response = reseller_client.get(url)
        assert response.status_code == 200
        return len(queries), response

    urls = [
        FLEET,
        f"{FLEET}?q=Bulk&provider=usaepay&status=online&sort=-name&page=1",
        f"{FLEET}?merchant={tenant_a.merchant.pk}&store={tenant_a.store.pk}",
    ]
    small = {url: count_queries(url)[0] for url in urls}
    _bulk_terminals(usaepay_account, 990, start=10)
    large = {url: count_queries(url)[0] for url in urls}

    assert small == large
    assert max(large.values()) <= 10
    assert rows(count_queries(FLEET)[1])[:2] == ["Bulk 000000", "Bulk 000001"]


# --- scope ---------------------------------------------------------------------------------------


def test_a_reseller_admin_sees_every_terminal_of_its_merchants_and_providers(
    reseller_client, tenant_a, tenant_b, usaepay_account, payroc_account
):
    second = MerchantFactory(reseller=tenant_a.reseller, name="Second Merchant")
    from credentials.services import account_create

    second_account = account_create(
        merchant=second,
        provider="usaepay",
        environment="sandbox",
        label="S",
        secrets={"api_key": "x"},
    )
    make_terminal(usaepay_account, name="Alpha USAePay", store=tenant_a.store)
    make_terminal(payroc_account, name="Alpha Payroc", status=TerminalStatus.UNKNOWN)
    make_terminal(second_account, name="Second USAePay")
    other_account = account_create(
        merchant=tenant_b.merchant,
        provider="usaepay",
        environment="sandbox",
        label="B",
        secrets={"api_key": "y"},
    )
    make_terminal(other_account, name="Bravo Terminal")

    response = reseller_client.get(FLEET)

    assert rows(response) == ["Alpha Payroc", "Alpha USAePay", "Second USAePay"]
    body = response.content.decode()
    assert "Second Merchant" in body and "Payroc Cloud" in body and "Bravo" not in body
    assert 'data-status="unknown"' in body and "checked 0 s ago" in body


def test_a_cashier_with_a_store_sees_its_store_and_the_unassigned_terminals(
    client, tenant_a, usaepay_account
):
    other_store = StoreFactory(merchant=tenant_a.merchant, name="Other store")
    make_terminal(usaepay_account, name="Mine", store=tenant_a.store)
    make_terminal(usaepay_account, name="Floating")
    make_terminal(usaepay_account, name="Elsewhere", store=other_store)
    client.force_login(tenant_a.users[Role.CASHIER])

    assert rows(client.get(FLEET)) == ["Floating", "Mine"]
    elsewhere = Terminal.objects.get(name="Elsewhere")
    assert client.get(reverse("terminals:detail", args=[elsewhere.pk])).status_code == 404


def test_another_tenants_terminal_is_a_404_on_every_terminal_url(
    client, tenant_a, tenant_b, usaepay_account
):
    terminal = make_terminal(usaepay_account, name="Alpha only")
    for role in (Role.RESELLER_ADMIN, Role.MERCHANT_MANAGER, Role.CASHIER):
        client.force_login(tenant_b.users[role])
        for name in ("detail", "rename", "assign_store", "probe"):
            url = reverse(f"terminals:{name}", args=[terminal.pk])
            assert client.get(url).status_code == 404, (role, name)
            assert (
                client.post(url, {"name": "Hijacked", "store": tenant_b.store.pk}).status_code
                == 404
            ), (role, name)
        statuses = client.get(reverse("terminals:statuses") + f"?id={terminal.pk}")
        assert (
            "Alpha only" not in statuses.content.decode()
            and f"status-{terminal.pk}" not in statuses.content.decode()
        )
        client.post(
            reverse("terminals:assign"),
            {"terminal": [terminal.pk], "confirm": "1", "store": tenant_b.store.pk},
        )
    terminal.refresh_from_db()
    assert terminal.name == "Alpha only" and terminal.store is None


# --- filters, search, sorting, pagination ----------------------------------------------------------


def test_filters_search_and_sorting_live_in_the_url(
    reseller_client, tenant_a, usaepay_account, payroc_account
):
    make_terminal(usaepay_account, name="Counter", store=tenant_a.store, serial_number="SERIAL-A1")
    make_terminal(usaepay_account, name="Patio", status=TerminalStatus.OFFLINE)
    make_terminal(
        payroc_account, name="Till", status=TerminalStatus.UNKNOWN, serial_number="185001"
    )
    make_terminal(usaepay_account, name="Gone", is_active=False, deactivated_at=timezone.now())

    assert rows(reseller_client.get(FLEET)) == ["Counter", "Patio", "Till"]
    assert rows(reseller_client.get(FLEET + "?provider=usaepay")) == ["Counter", "Patio"]
    assert rows(reseller_client.get(FLEET + "?provider=usaepay&status=offline")) == ["Patio"]
    assert rows(reseller_client.get(FLEET + "?status=unknown")) == ["Till"]
    assert rows(reseller_client.get(FLEET + "?status=inactive")) == ["Gone"]
    assert rows(reseller_client.get(FLEET + "?q=serial-a")) == ["Counter"]
    assert rows(reseller_client.get(FLEET + "?q=til")) == ["Till"]
    assert rows(reseller_client.get(FLEET + f"?store={tenant_a.store.pk}")) == ["Counter"]
    assert rows(reseller_client.get(FLEET + "?store=none")) == ["Patio", "Till"]
    assert rows(reseller_client.get(FLEET + f"?merchant={tenant_a.merchant.pk}&sort=-name")) == [
        "Till",
        "Patio",
        "Counter",
    ]
    assert rows(reseller_client.get(FLEET + "?sort=status")) == [
        "Patio",
        "Counter",
        "Till",
    ]  # offline, online, unknown

    body = reseller_client.get(FLEET + "?provider=usaepay&status=offline").content.decode()
    assert (
        '<option value="usaepay" selected>' in body and '<option value="offline" selected>' in body
    )
    assert (
        "No terminal matches"
        in reseller_client.get(FLEET + "?q=nothing-like-this").content.decode()
    )


def test_pagination_keeps_the_filters(reseller_client, usaepay_account):
    _bulk_terminals(usaepay_account, 60)
    response = reseller_client.get(FLEET + "?provider=usaepay&q=Bulk&page=2")
    body = response.content.decode()
    assert rows(response)[0] == "Bulk 000025"
    assert "?provider=usaepay&amp;q=Bulk&amp;page=3" in body
    assert "Page 2 of 3" in body


def test_a_store_outside_the_users_scope_is_ignored_not_revealed(
    client, tenant_a, tenant_b, usaepay_account
):
    make_terminal(usaepay_account, name="Counter")
    client.force_login(tenant_a.users[Role.MERCHANT_MANAGER])
    response = client.get(FLEET + f"?store={tenant_b.store.pk}")
    body = response.content.decode()
    assert response.status_code == 200 and tenant_b.store.name not in body
    assert "(ignored)" in body and rows(response) == ["Counter"]


def test_names_are_escaped_on_the_fleet_page(reseller_client, usaepay_account):
    make_terminal(usaepay_account, name='<script>alert("x")</script>')
    body = reseller_client.get(FLEET).content.decode()
    assert '<script>alert("x")</script>' not in body
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in body


def test_empty_fleet_says_how_terminals_arrive(reseller_client):
    body = reseller_client.get(FLEET).content.decode()
    assert "No terminals yet." in body and "Sync now" in body


# --- live statuses ---------------------------------------------------------------------------------


def test_status_badges_refresh_from_a_partial_with_an_href_fallback(
    reseller_client, usaepay_account
):
    terminal = make_terminal(usaepay_account, name="Counter")
    body = reseller_client.get(FLEET + "?provider=usaepay").content.decode()
    assert f'hx-get="/terminals/statuses/?id={terminal.pk}"' in body
    assert 'href="/terminals/?provider=usaepay"' in body  # the same refresh without JavaScript

    Terminal.objects.filter(pk=terminal.pk).update(status=TerminalStatus.OFFLINE)
    partial = reseller_client.get(
        f"/terminals/statuses/?id={terminal.pk}", HTTP_HX_REQUEST="true"
    ).content.decode()
    assert f'id="status-{terminal.pk}"' in partial and 'hx-swap-oob="true"' in partial
    assert 'data-status="offline"' in partial and "<html" not in partial


# --- CSV export ------------------------------------------------------------------------------------


def test_csv_export_streams_the_filtered_list_and_defuses_formulas(
    reseller_client, client, tenant_a, usaepay_account, payroc_account
):
    make_terminal(usaepay_account, name='=HYPERLINK("http://evil")', store=tenant_a.store)
    make_terminal(usaepay_account, name="+cmd|calc", status=TerminalStatus.OFFLINE)
    make_terminal(payroc_account, name="Till")

    response = reseller_client.get(FLEET + "?provider=usaepay&format=csv")

    assert response.streaming and response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    table = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert table[0][:4] == ["Name", "Merchant", "Store", "Provider"]
    names = sorted(row[0] for row in table[1:])
    assert names == ["'+cmd|calc", '\'=HYPERLINK("http://evil")']
    assert {row[3] for row in table[1:]} == {"USAePay"}

    client.force_login(tenant_a.users[Role.CASHIER])
    assert client.get(FLEET + "?format=csv").status_code == 403


# --- bulk store assignment -------------------------------------------------------------------------


def test_bulk_assignment_confirms_then_moves_the_selected_terminals(
    reseller_client, tenant_a, usaepay_account
):
    first = make_terminal(usaepay_account, name="One")
    second = make_terminal(usaepay_account, name="Two")
    make_terminal(usaepay_account, name="Three")

    confirm = reseller_client.post(
        "/terminals/assign/", {"terminal": [first.pk, second.pk], "next": "/terminals/?q=T"}
    )
    body = confirm.content.decode()
    assert (
        confirm.status_code == 200
        and "Assign 2 terminals to a store" in body
        and tenant_a.store.name in body
    )
    assert (
        Terminal.objects.filter(store__isnull=False).count() == 0
    )  # nothing before the confirmation

    done = reseller_client.post(
        "/terminals/assign/",
        {
            "terminal": [first.pk, second.pk],
            "confirm": "1",
            "store": tenant_a.store.pk,
            "next": "/terminals/?q=T",
        },
    )
    assert done.status_code == 302 and done["Location"] == "/terminals/?q=T"
    assert set(Terminal.objects.filter(store=tenant_a.store).values_list("name", flat=True)) == {
        "One",
        "Two",
    }
    event = first.events.get(kind="assigned")
    assert (
        event.actor == tenant_a.users[Role.RESELLER_ADMIN]
        and event.new_value == tenant_a.store.name
    )


def test_bulk_assignment_skips_terminals_of_another_merchant_and_refuses_foreign_stores(
    reseller_client, tenant_a, tenant_b, usaepay_account
):
    from credentials.services import account_create

    other = MerchantFactory(reseller=tenant_a.reseller)
    other_account = account_create(
        merchant=other,
        provider="usaepay",
        environment="sandbox",
        label="O",
        secrets={"api_key": "z"},
    )
    mine = make_terminal(usaepay_account, name="Mine")
    theirs = make_terminal(other_account, name="Theirs")

    reseller_client.post(
        "/terminals/assign/",
        {"terminal": [mine.pk, theirs.pk], "confirm": "1", "store": tenant_a.store.pk},
    )
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.store == tenant_a.store and theirs.store is None

    response = reseller_client.post(
        "/terminals/assign/", {"terminal": [mine.pk], "confirm": "1", "store": tenant_b.store.pk}
    )
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    mine.refresh_from_db()
    assert mine.store == tenant_a.store


def test_bulk_assignment_needs_a_csrf_token_and_a_role_that_may(tenant_a, usaepay_account):
    terminal = make_terminal(usaepay_account, name="One")
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(tenant_a.users[Role.RESELLER_ADMIN])
    response = strict.post(
        "/terminals/assign/",
        {"terminal": [terminal.pk], "confirm": "1", "store": tenant_a.store.pk},
    )
    assert response.status_code == 403

    cashier = Client()
    cashier.force_login(tenant_a.users[Role.CASHIER])
    assert (
        cashier.post(
            "/terminals/assign/",
            {"terminal": [terminal.pk], "confirm": "1", "store": tenant_a.store.pk},
        ).status_code
        == 403
    )
    terminal.refresh_from_db()
    assert terminal.store is None


# --- Sync now and the acceptance path through the virtual terminal --------------------------------


def test_sync_now_runs_a_celery_task_and_shows_the_outcome(
    sandbox_settings, client, tenant_a, celery_worker
):
    fleet = sandbox_fleet("usaepay", tenant_a.merchant, devices=2, names=["Counter", "Patio"])
    client.force_login(tenant_a.users[Role.MERCHANT_MANAGER])

    response = client.post(
        "/terminals/sync/", {"merchant": "", "provider": ""}, HTTP_HX_REQUEST="true"
    )

    assert response.status_code == 200 and "<html" not in response.content.decode()
    progress = f"/terminals/sync/?run={SyncRun.objects.get(account=fleet.account).pk}"

    def finished():  # the real worker runs the sync; the partial says when it is done
        body = client.get(progress, HTTP_HX_REQUEST="true").content.decode()
        return body if "Sync finished:" in body else None

    body = wait_until(finished, timeout=30)
    assert "2 added, 0 updated, 0 deactivated" in body
    assert rows(client.get(FLEET)) == ["Counter", "Patio"]
    run = SyncRun.objects.get(account=fleet.account)
    assert run.trigger == "user" and run.requested_by == tenant_a.users[Role.MERCHANT_MANAGER]


def test_sync_progress_polls_until_done_then_stops_and_tells_the_list(
    client, tenant_a, usaepay_account
):
    run = SyncRun.objects.create(
        account=usaepay_account, trigger="user", state="fetching", not_before=timezone.now()
    )
    client.force_login(tenant_a.users[Role.MERCHANT_MANAGER])
    url = f"/terminals/sync/?run={run.pk}"

    polling = client.get(url, HTTP_HX_REQUEST="true")
    assert f'hx-get="{url}"' in polling.content.decode() and "HX-Trigger" not in polling
    assert "reading the provider&#x27;s terminal list" in polling.content.decode()

    SyncRun.objects.filter(pk=run.pk).update(
        state="failed",
        error="USAePay: The payment provider refused our credentials.",
        finished_at=timezone.now(),
    )
    final = client.get(url, HTTP_HX_REQUEST="true")
    body = final.content.decode()
    assert "hx-get" not in body and final["HX-Trigger"] == "terminals-synced"
    assert "Sync finished with 1 failure" in body and "refused our credentials" in body

    page = client.get(url)  # without JavaScript: the whole page
    assert "<html" in page.content.decode() and "refused our credentials" in page.content.decode()


def test_sync_now_without_javascript_redirects_to_the_progress_page(
    client, tenant_a, usaepay_account, broker, django_capture_on_commit_callbacks
):
    client.force_login(tenant_a.users[Role.RESELLER_ADMIN])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/terminals/sync/", {"provider": "usaepay"})
    run = SyncRun.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/terminals/sync/?run={run.pk}"
    (scheduled,) = broker.scheduled()
    assert (scheduled.task, scheduled.args, scheduled.eta) == (
        "terminals.tasks.sync_account",
        [run.pk],
        None,  # at once: the account has not synced yet
    )


def test_a_terminal_switched_offline_on_the_virtual_terminal_page_shows_offline_after_the_next_sync(
    sandbox_settings, client, tenant_a, celery_worker
):
    from terminals import services, tasks

    fleet = sandbox_fleet("usaepay", tenant_a.merchant, devices=2, names=["Counter", "Patio"])
    services.terminal_sync_account_now(account=fleet.account)
    SyncRun.objects.update(
        started_at=timezone.now() - timezone.timedelta(minutes=5)
    )  # its cadence came round
    counter = Terminal.objects.get(name="Counter")
    client.force_login(tenant_a.users[Role.RESELLER_ADMIN])
    assert (
        f'data-testid="status-{counter.pk}" data-status="online"'
        in client.get(FLEET).content.decode()
    )

    # The tester switches the device off on the virtual terminal page.
    switched = client.post(
        reverse("sandbox:terminal_switches", args=[fleet.devices[0].pk]),
        {"latency_ms": 0, "fail_next_5xx": 0},
    )
    assert switched.status_code == 302
    assert (
        f'data-testid="status-{counter.pk}" data-status="online"'
        in client.get(FLEET).content.decode()
    )

    assert tasks.sync_due_accounts() == 1  # what beat runs; the worker does the sync

    offline = f'data-testid="status-{counter.pk}" data-status="offline"'
    wait_until(
        lambda: offline in client.get(FLEET + "?status=offline").content.decode(), timeout=30
    )
    assert rows(client.get(FLEET + "?status=offline")) == ["Counter"]


def test_each_row_links_to_its_terminal_page(reseller_client, usaepay_account):
    terminal = make_terminal(usaepay_account, name="Counter")
    body = reseller_client.get(FLEET).content.decode()
    assert (
        f'<a href="{reverse("terminals:detail", args=[terminal.pk])}" data-testid="terminal-name">Counter</a>'
        in body
    )

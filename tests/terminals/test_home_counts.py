"""The home overview counts the user's active terminals by status, each count a link to the fleet."""

from dashboard.models import Role
from terminals.models import TerminalStatus
from tests.terminals.conftest import make_terminal


def figure(body: str, testid: str) -> str:
    import re

    return re.search(rf'data-testid="{testid}">(\d+)<', body).group(1)


def test_home_counts_terminals_by_status_for_the_users_scope(
    client, tenant_a, tenant_b, usaepay_account, payroc_account
):
    from credentials.services import account_create

    for status in (
        TerminalStatus.ONLINE,
        TerminalStatus.ONLINE,
        TerminalStatus.OFFLINE,
        TerminalStatus.BUSY,
    ):
        make_terminal(usaepay_account, status=status, store=tenant_a.store)
    make_terminal(payroc_account, status=TerminalStatus.UNKNOWN)
    make_terminal(
        usaepay_account, status=TerminalStatus.ONLINE, is_active=False
    )  # inactive: not counted
    foreign = account_create(
        merchant=tenant_b.merchant,
        provider="usaepay",
        environment="sandbox",
        label="B",
        secrets={"api_key": "b"},
    )
    make_terminal(foreign, status=TerminalStatus.OFFLINE)
    client.force_login(tenant_a.users[Role.RESELLER_ADMIN])

    body = client.get("/").content.decode()

    assert [figure(body, f"count-{s}") for s in ("online", "offline", "busy", "unknown")] == [
        "2",
        "1",
        "1",
        "1",
    ]
    for status in ("online", "offline", "busy", "unknown"):
        assert f'href="/terminals/?status={status}"' in body

    client.force_login(tenant_a.users[Role.CASHIER])  # its store plus the unassigned Payroc one
    body = client.get("/").content.decode()
    assert [figure(body, f"count-{s}") for s in ("online", "offline", "busy", "unknown")] == [
        "2",
        "1",
        "1",
        "1",
    ]


def test_home_without_terminals_says_where_they_come_from(client, tenant_a):
    client.force_login(tenant_a.users[Role.MERCHANT_MANAGER])
    body = client.get("/").content.decode()
    assert "No terminals yet" in body and 'data-testid="count-online"' not in body


def test_the_home_page_counts_terminals_in_one_query(client, tenant_a, usaepay_account):
    make_terminal(usaepay_account)
    client.force_login(tenant_a.users[Role.RESELLER_ADMIN])
    client.get("/")
    make_terminal(usaepay_account)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        client.get("/")
    counting = [
        q["sql"]
        for q in queries.captured_queries
        if "terminals_terminal" in q["sql"] and "payments_payment" not in q["sql"]
    ]  # the desk's payment lists join their terminal's name; the terminal counts are one query
    assert len(counting) == 1

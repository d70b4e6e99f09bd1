"""The payment history (/payments/): scope, every filter and the search, keyset pages under inserts,
totals against SQL, the streamed CSV exports, the chart, bad filter values, and the admin."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from dashboard.models import Role
from payments.history import history_totals
from payments.models import Payment
from tests.factories import MerchantFactory, StoreFactory, member
from tests.payments.history_support import (
    listed,
    make_account,
    make_payment_terminal,
    pay,
    seed_rows,
)

pytestmark = pytest.mark.django_db
URL = "/payments/"


@pytest.fixture
def lanes(tenant_a):
    """Tenant A: a Payroc lane in its store, a KOMOJU lane in a second store (JPY), and a USAePay
    lane in no store."""
    second_store = StoreFactory(merchant=tenant_a.merchant, name="Harbour")
    payroc = make_payment_terminal(
        make_account(tenant_a.merchant, "payroc"), store=tenant_a.store, name="Lane 1"
    )
    komoju = make_payment_terminal(
        make_account(tenant_a.merchant, "komoju"), store=second_store, name="Lane JP"
    )
    usaepay = make_payment_terminal(
        make_account(tenant_a.merchant, "usaepay"), store=None, name="Lane floating"
    )
    return {"payroc": payroc, "komoju": komoju, "usaepay": usaepay, "harbour": second_store}


@pytest.fixture
def manager_client(client, tenant_a):
    client.force_login(tenant_a.users[Role.MERCHANT_MANAGER])
    return client


# --- the list and its scope --------------------------------------------------------------------


def test_the_list_shows_the_scopes_payments_newest_first_with_their_columns(manager_client, lanes):
    older = pay(lanes["payroc"], ago=timedelta(hours=3), card_brand="Visa", card_last4="0010")
    newer = pay(lanes["komoju"], ago=timedelta(hours=1), amount_minor=1000, currency="JPY")
    response = manager_client.get(URL + "?range=all")
    assert listed(response) == [str(newer.uuid), str(older.uuid)]
    body = response.content.decode()
    for text in ("12.50 USD", "1,000 JPY", "Visa ••••0010", "Lane 1", "Harbour", older.reference):
        assert text in body


def test_a_cashier_sees_todays_payments_of_its_store_by_default(client, tenant_a, lanes):
    today = pay(lanes["payroc"], ago=timedelta(minutes=5))
    no_store = pay(lanes["usaepay"], ago=timedelta(minutes=5))
    pay(lanes["komoju"], ago=timedelta(minutes=5))  # another store of the merchant
    yesterday = pay(lanes["payroc"], ago=timedelta(days=1, hours=1))
    client.force_login(tenant_a.users[Role.CASHIER])
    assert set(listed(client.get(URL))) == {str(today.uuid), str(no_store.uuid)}
    assert str(yesterday.uuid) in listed(client.get(URL + "?range=last7"))


AMOUNT_777 = re.compile(rb"(?<![0-9a-fA-F])777(?![0-9a-fA-F])")


def test_another_tenants_payment_never_appears_in_a_list_total_chart_or_export(
    client, tenant_a, tenant_b, lanes
):
    theirs = pay(lanes["payroc"], reference="ALPHA-ONLY", amount_minor=777_00)
    bravo_lane = make_payment_terminal(make_account(tenant_b.merchant), store=tenant_b.store)
    ours = pay(bravo_lane, reference="BRAVO-OWN", amount_minor=1_00)
    for role in (Role.RESELLER_ADMIN, Role.MERCHANT_MANAGER, Role.CASHIER):
        client.force_login(tenant_b.users[role])
        assert listed(client.get(URL)) == [str(ours.uuid)], role
        pages = [
            client.get(reverse("payments:history_totals")),
            client.get(reverse("payments:history_chart")),
        ]
        if role != Role.CASHIER:
            pages += [
                client.get(reverse("payments:history_export")),
                client.get(reverse("payments:history_summary")),
            ]
        for response in pages:
            assert response.status_code == 200
            body = b"".join(response.streaming_content) if response.streaming else response.content
            assert b"ALPHA-ONLY" not in body and str(theirs.uuid).encode() not in body
            # The amount as a number of its own (777, 777.00, 777,00): not three 7s inside a UUID
            # or a timestamp of this tenant's own payment, which made this test fail by chance.
            assert not AMOUNT_777.search(body), (role, response.request["PATH_INFO"])


def test_a_resellers_filter_choices_never_list_another_resellers_merchants(
    client, tenant_a, tenant_b
):
    MerchantFactory(reseller=tenant_a.reseller, name="Alpha second merchant")
    MerchantFactory(reseller=tenant_b.reseller, name="Bravo second merchant")
    client.force_login(tenant_b.users[Role.RESELLER_ADMIN])
    body = client.get(URL).content.decode()
    assert "Merchant bravo" in body and "Bravo second merchant" in body
    for name in ("Merchant alpha", "Alpha second merchant", "Store alpha"):
        assert name not in body
    client.force_login(tenant_a.users[Role.RESELLER_ADMIN])
    body = client.get(URL).content.decode()
    assert "Merchant alpha" in body and "Alpha second merchant" in body
    assert "Merchant bravo" not in body


def test_a_merchant_of_another_reseller_in_the_url_is_refused_beside_the_filter(
    client, tenant_a, tenant_b, lanes
):
    pay(lanes["payroc"])
    MerchantFactory(reseller=tenant_b.reseller, name="Bravo second")
    client.force_login(tenant_b.users[Role.RESELLER_ADMIN])
    response = client.get(URL + f"?merchant={tenant_a.merchant.pk}")
    assert response.status_code == 200
    assert b'data-testid="filter-error-merchant"' in response.content
    assert listed(response) == []


def test_terminal_choices_are_only_the_scopes_terminals(client, tenant_a, tenant_b, lanes):
    make_payment_terminal(make_account(tenant_b.merchant), store=tenant_b.store, name="Bravo lane")
    client.force_login(tenant_a.users[Role.CASHIER])
    body = client.get(URL).content.decode()
    assert "Lane 1" in body and "Lane floating" in body
    assert "Lane JP" not in body  # the other store's
    assert "Bravo lane" not in body


# --- every filter and the search ---------------------------------------------------------------


@pytest.fixture
def spread(lanes):
    """A dozen payments differing in one column each, named for the filter that should find them."""
    now = timezone.localtime()
    p = {
        "today": pay(lanes["payroc"], ago=timedelta(minutes=1)),
        "yesterday": pay(lanes["payroc"], ago=timedelta(days=1)),
        "five_days": pay(lanes["payroc"], ago=timedelta(days=5)),
        "twenty_days": pay(lanes["payroc"], ago=timedelta(days=20)),
        "jpy": pay(lanes["komoju"], ago=timedelta(minutes=2), amount_minor=5000, currency="JPY"),
        "floating": pay(lanes["usaepay"], ago=timedelta(minutes=3), amount_minor=9999),
        "declined": pay(lanes["payroc"], ago=timedelta(minutes=4), status="declined"),
        "refund": pay(lanes["payroc"], ago=timedelta(minutes=5), kind="refund", amount_minor=300),
        "card": pay(
            lanes["payroc"], ago=timedelta(minutes=6), card_brand="Mastercard", card_last4="4242"
        ),
        "provider_ref": pay(lanes["payroc"], ago=timedelta(minutes=7), provider_ref="PRV-77"),
        "transaction_ref": pay(lanes["payroc"], ago=timedelta(minutes=8), transaction_ref="TX-88"),
    }
    p["_month_start"] = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return p


def _expect(spread, names):
    return {str(spread[n].uuid) for n in names}


def _all(spread):
    return {k for k in spread if not k.startswith("_")}


def test_each_date_range_narrows_to_its_days(manager_client, spread):
    recent = _all(spread) - {"yesterday", "five_days", "twenty_days"}
    in_month = {
        k
        for k in _all(spread)
        if timezone.localtime(spread[k].created_at) >= spread["_month_start"]
    }
    cases = {
        "range=today": recent
        - {k for k in recent if timezone.localdate(spread[k].created_at) < timezone.localdate()},
        "range=yesterday": {
            k
            for k in _all(spread)
            if timezone.localdate(spread[k].created_at) == timezone.localdate() - timedelta(days=1)
        },
        "range=last7": _all(spread) - {"twenty_days"},
        "range=last30": _all(spread),
        "range=month": in_month,
        "range=all": _all(spread),
    }
    for query, names in cases.items():
        assert set(listed(manager_client.get(f"{URL}?{query}"))) == _expect(spread, names), query
    day = timezone.localdate(spread["five_days"].created_at).isoformat()
    response = manager_client.get(f"{URL}?range=custom&from_date={day}&to_date={day}")
    same_day = {
        k for k in _all(spread) if timezone.localdate(spread[k].created_at).isoformat() == day
    }
    assert set(listed(response)) == _expect(spread, same_day) and "five_days" in same_day


@pytest.mark.parametrize(
    "query,names",
    [
        ("status=declined", {"declined"}),
        ("kind=refund", {"refund"}),
        ("provider=komoju", {"jpy"}),
        ("provider=usaepay", {"floating"}),
        ("last4=4242", {"card"}),
        ("q=PRV-77", {"provider_ref"}),
        ("q=TX-88", {"transaction_ref"}),
        ("store=none", {"floating"}),
    ],
)
def test_each_filter_narrows_to_its_payments(manager_client, spread, query, names):
    response = manager_client.get(f"{URL}?range=all&{query}")
    assert set(listed(response)) == _expect(spread, names)


def test_currency_choices_are_the_currencies_of_the_scopes_merchants(client, tenant_a):
    yen_merchant = MerchantFactory(reseller=tenant_a.reseller, default_currency="JPY")
    yen_lane = make_payment_terminal(make_account(yen_merchant, "komoju"))
    dollar_lane = make_payment_terminal(make_account(tenant_a.merchant), store=tenant_a.store)
    yen = pay(yen_lane, amount_minor=900, currency="JPY")
    pay(dollar_lane)
    client.force_login(tenant_a.users[Role.RESELLER_ADMIN])
    assert listed(client.get(URL + "?currency=JPY")) == [str(yen.uuid)]
    client.force_login(tenant_a.users[Role.MERCHANT_MANAGER])
    response = client.get(URL + "?currency=JPY")
    assert b'data-testid="filter-error-currency"' in response.content and listed(response) == []


def test_store_terminal_and_reference_filters(manager_client, spread, lanes):
    assert set(listed(manager_client.get(f"{URL}?range=all&store={lanes['harbour'].pk}"))) == (
        _expect(spread, {"jpy"})
    )
    expected = _all(spread) - {"jpy", "floating"}
    response = manager_client.get(f"{URL}?range=all&terminal={lanes['payroc'].pk}")
    assert set(listed(response)) == _expect(spread, expected)
    ref = spread["declined"].reference
    assert listed(manager_client.get(f"{URL}?range=all&q={ref}")) == [str(spread["declined"].uuid)]
    by_id = manager_client.get(f"{URL}?range=all&q={spread['card'].uuid}")
    assert listed(by_id) == [str(spread["card"].uuid)]


def test_amounts_are_typed_in_each_currencys_units(manager_client, spread):
    # 12.50 USD is 1250 cents; 5000 JPY is 5000 yen; 99.99 USD is 9999; the refund is 3.00 USD.
    cases = {
        "amount_min=12.50&amount_max=12.50": _all(spread) - {"jpy", "floating", "refund"},
        "amount_min=50": {"jpy", "floating"},
        "amount_min=4999&amount_max=5000": {"jpy"},
        "amount_max=3": {"refund"},
        "amount_min=99.99&amount_max=99,99": {"floating"},
    }
    for query, names in cases.items():
        response = manager_client.get(f"{URL}?range=all&{query}")
        assert set(listed(response)) == _expect(spread, names), query


@pytest.mark.parametrize(
    "query,field",
    [
        ("amount_min=twelve", "amount_min"),
        ("amount_max=-5", "amount_max"),
        ("amount_min=20&amount_max=10", "amount_max"),
        ("last4=12", "last4"),
        ("last4=abcd", "last4"),
        ("from_date=2026-13-45&range=custom", "from_date"),
        ("range=custom&from_date=2026-11-20&to_date=2026-11-01", "to_date"),
        ("range=fortnight", "range"),
        ("status=lost", "status"),
        ("kind=gift", "kind"),
        ("provider=stripe", "provider"),
        ("store=99999999", "store"),
        ("terminal=abc", "terminal"),
        ("merchant=99999999", "merchant"),
        ("q=" + "x" * 101, "q"),
    ],
)
def test_a_bad_filter_value_gives_a_message_beside_it_and_a_200(
    manager_client, spread, query, field
):
    for url in (URL, reverse("payments:history_export"), reverse("payments:history_summary")):
        response = manager_client.get(f"{url}?{query}")
        assert response.status_code == 200 and not response.streaming, url
        assert f'data-testid="filter-error-{field}"'.encode() in response.content, url
        assert listed(response) == []  # never the list without that filter
    assert manager_client.get(f"{reverse('payments:history_totals')}?{query}").status_code == 200
    assert manager_client.get(f"{reverse('payments:history_chart')}?{query}").status_code == 200


@pytest.mark.parametrize(
    "query", ["before=garbage", "after=1_", "date=yesterday", "date=2026-02-30"]
)
def test_a_bad_page_link_or_date_gives_a_message_and_a_200(manager_client, spread, query):
    response = manager_client.get(f"{URL}?{query}")
    assert response.status_code == 200
    assert b'data-testid="navigation-problem"' in response.content
    assert listed(response) == []


# --- keyset pages ------------------------------------------------------------------------------


def _link(response, testid: str) -> str | None:
    import html
    import re

    match = re.search(rf'href="([^"]+)"[^>]*data-testid="{testid}"', response.content.decode())
    return html.unescape(match.group(1)) if match else None


def test_keyset_pages_neither_skip_nor_repeat_while_payments_arrive(manager_client, lanes):
    originals = [pay(lanes["payroc"], ago=timedelta(minutes=100 - i)) for i in range(60)]
    # Two payments in the same microsecond: the id breaks the tie.
    same = originals[10].created_at
    twin = pay(lanes["payroc"])
    Payment.objects.filter(pk=twin.pk).update(created_at=same)
    twin.created_at = same
    newest_first = sorted([*originals, twin], key=lambda p: (p.created_at, p.pk), reverse=True)
    expected = [str(p.uuid) for p in newest_first]

    seen: list[str] = []
    page = manager_client.get(URL + "?range=all")
    first_page = listed(page)
    seen += first_page
    newer_page_2 = None
    while True:
        for _ in range(3):  # new payments between page loads
            pay(lanes["payroc"], ago=timedelta(0))
        older = _link(page, "page-older")
        if older is None:
            break
        page = manager_client.get(URL + older if older.startswith("?") else older)
        rows = listed(page)
        assert rows, "an older link led to an empty page"
        if newer_page_2 is None:
            newer_page_2 = _link(page, "page-newer")
        seen += rows
    assert seen == expected  # every original once, in order; none of the new ones
    assert len(first_page) == 25
    back = manager_client.get(
        newer_page_2 if not newer_page_2.startswith("?") else URL + newer_page_2
    )
    assert listed(back) == first_page  # "newer" from page 2 is page 1 again, not the arrivals
    assert _link(back, "page-newer") is not None  # and it knows newer ones came


def test_jump_to_date_starts_with_that_days_last_payment(manager_client, lanes):
    days = [pay(lanes["payroc"], ago=timedelta(days=d, minutes=1)) for d in range(0, 10)]
    target = timezone.localdate(days[4].created_at)
    response = manager_client.get(f"{URL}?range=all&date={target.isoformat()}")
    rows = listed(response)
    on_or_before = [p for p in days if timezone.localdate(p.created_at) <= target]
    on_or_before.sort(key=lambda p: p.created_at, reverse=True)
    assert rows == [str(p.uuid) for p in on_or_before]
    assert _link(response, "page-newer") is not None


def test_the_page_makes_the_same_number_of_queries_for_3_and_60_payments(manager_client, lanes):
    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert manager_client.get(URL + "?range=all&status=approved").status_code == 200
        return len(queries)

    for i in range(3):
        pay(lanes["payroc"], ago=timedelta(minutes=i))
    small = count()
    for i in range(57):
        pay(lanes["komoju"], ago=timedelta(minutes=i), currency="JPY")
    assert count() == small


# --- totals ------------------------------------------------------------------------------------


def test_totals_match_a_direct_sql_sum_per_currency(manager_client, tenant_a, lanes):
    for i in range(7):
        pay(lanes["payroc"], amount_minor=1000 + i)
    pay(lanes["payroc"], status="declined", amount_minor=5000)
    pay(lanes["payroc"], status="pending", amount_minor=6000)
    pay(lanes["payroc"], kind="auth", status="approved", amount_minor=4000, captured_minor=2500)
    pay(lanes["payroc"], kind="refund", amount_minor=700)
    pay(lanes["payroc"], kind="refund", status="failed", amount_minor=800)
    pay(lanes["komoju"], amount_minor=3000, currency="JPY")
    pay(lanes["komoju"], amount_minor=1500, currency="JPY", status="canceled")

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT currency,
                   COALESCE(SUM(captured_minor) FILTER (WHERE kind IN ('sale', 'auth') AND status = 'approved'), 0),
                   COALESCE(SUM(amount_minor) FILTER (WHERE kind = 'refund' AND status = 'approved'), 0),
                   COUNT(*),
                   COUNT(*) FILTER (WHERE kind IN ('sale', 'auth') AND status IN ('approved', 'authorized')),
                   COUNT(*) FILTER (WHERE kind IN ('sale', 'auth')
                                    AND status IN ('approved', 'authorized', 'declined', 'canceled', 'timed_out', 'failed'))
            FROM payments_payment WHERE merchant_id = %s GROUP BY currency ORDER BY currency
            """,
            [tenant_a.merchant.pk],
        )
        sql = cursor.fetchall()
    totals = history_totals(Payment.objects.for_user(tenant_a.users[Role.MERCHANT_MANAGER]))
    assert [(t.currency, t.sales, t.refunds, t.count, t.succeeded, t.decided) for t in totals] == [
        (
            c,
            Decimal(s).scaleb(-2 if c == "USD" else 0),
            Decimal(r).scaleb(-2 if c == "USD" else 0),
            n,
            ok,
            dec,
        )
        for c, s, r, n, ok, dec in sql
    ]
    usd = totals[1]
    assert usd.currency == "USD" and usd.sales == Decimal("95.21") and usd.net == Decimal("88.21")
    assert round(usd.approval_rate, 1) == 88.9  # 8 approved of 9 decided (the pending one is not)

    response = manager_client.get(
        reverse("payments:history_totals") + "?range=all", HTTP_HX_REQUEST="true"
    )
    body = response.content.decode()
    assert "95.21" in body and "88.21" in body and "<html" not in body
    full = manager_client.get(reverse("payments:history_totals") + "?range=all&currency=USD")
    assert "<html" in full.content.decode() and "JPY" not in full.content.decode().split("<h1>")[1]


# --- CSV exports -------------------------------------------------------------------------------


def _csv(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_the_export_has_reconcilers_columns_in_units_utc_and_local_time(client, tenant_a, lanes):
    user = tenant_a.users[Role.MERCHANT_MANAGER]
    user.time_zone = "Asia/Tokyo"
    user.save()
    client.force_login(user)
    sale = pay(
        lanes["payroc"], card_brand="Visa", card_last4="0010", auth_code="123456", started_by=user
    )
    pay(lanes["komoju"], amount_minor=1000, currency="JPY")
    response = client.get(reverse("payments:history_export"))
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    header, *rows = _csv(response)
    by_id = {row[0]: dict(zip(header, row, strict=True)) for row in rows}
    row = by_id[str(sale.uuid)]
    assert row["Amount"] == "12.50" and row["Currency"] == "USD" and row["Captured"] == "12.50"
    assert row["Created (UTC)"].endswith("+00:00") and row["Created (local)"].endswith("+09:00")
    assert row["Card last four"] == "0010" and row["Authorisation code"] == "123456"
    assert row["Terminal"] == "Lane 1" and row["Reference"] == sale.reference
    assert row["Taken by"] == user.email and row["Store"] == "Store alpha"
    assert row["Provider account"] == lanes["payroc"].account.label
    assert {r["Amount"] for r in by_id.values()} == {"12.50", "1000"}
    assert "provider_data" not in ",".join(header).lower()


def test_a_cashier_may_not_export(client, tenant_a):
    client.force_login(tenant_a.users[Role.CASHIER])
    assert client.get(reverse("payments:history_export")).status_code == 403
    assert client.get(reverse("payments:history_summary")).status_code == 403


def test_the_export_of_100000_rows_streams_and_escapes_formulas(client, tenant_a, lanes):
    lane = lanes["payroc"]
    seed_rows(lane, 100_000)
    hostile = ['=HYPERLINK("http://x")', "+SUM(A1)", "-1+2", "@cmd"]
    for i, text in enumerate(hostile):
        pay(lane, reference=f"{text[0]}REF{i}", note=text, ago=timedelta(0))
    client.force_login(tenant_a.users[Role.MERCHANT_MANAGER])
    response = client.get(reverse("payments:history_export") + "?range=all")
    assert response.streaming
    chunks = iter(response.streaming_content)
    first = next(chunks)
    with connection.cursor() as cursor:  # the same connection: the export's cursor is open
        cursor.execute("SELECT count(*) FROM pg_cursors WHERE NOT is_holdable")
        (open_cursors,) = cursor.fetchone()
    assert open_cursors == 1, "the export does not read through a server-side cursor"
    assert first.count(b"\n") < 5_000  # the first bytes went out long before the last row was read
    rest = b"".join(chunks)
    rows = list(csv.reader(io.StringIO((first + rest).decode())))
    assert len(rows) == 1 + 100_000 + len(hostile)
    header = rows[0]
    note, reference = header.index("Note"), header.index("Reference")
    top = rows[1 : 1 + len(hostile)]
    assert sorted(r[note] for r in top) == sorted("'" + t for t in hostile)
    assert all(r[reference].startswith("'") for r in top)
    assert rows[-1][header.index("Amount")] == str(Decimal(100 + 100_000 % 9000).scaleb(-2))


def test_the_daily_summary_is_per_day_terminal_and_currency(manager_client, lanes):
    pay(lanes["payroc"], ago=timedelta(minutes=1), amount_minor=1000)
    pay(lanes["payroc"], ago=timedelta(minutes=2), amount_minor=2000)
    pay(lanes["payroc"], ago=timedelta(minutes=3), kind="refund", amount_minor=500)
    pay(lanes["payroc"], ago=timedelta(minutes=4), status="declined", amount_minor=9000)
    pay(lanes["komoju"], ago=timedelta(minutes=1), amount_minor=800, currency="JPY")
    pay(lanes["payroc"], ago=timedelta(days=2), amount_minor=4000)
    header, *rows = _csv(manager_client.get(reverse("payments:history_summary") + "?range=all"))
    assert header[:6] == ["Day (local)", "Terminal", "Store", "Merchant", "Currency", "Payments"]
    today = timezone.localdate().isoformat()
    got = {(r[0], r[1], r[4]): r[5:] for r in rows}
    if timezone.localdate(timezone.now() - timedelta(minutes=4)).isoformat() == today:
        assert got[(today, "Lane 1", "USD")] == ["4", "2", "30.00", "5.00", "25.00"]
        assert got[(today, "Lane JP", "JPY")] == ["1", "1", "800", "0", "800"]
    two_days = timezone.localdate(timezone.now() - timedelta(days=2)).isoformat()
    assert got[(two_days, "Lane 1", "USD")] == ["1", "1", "40.00", "0.00", "40.00"]
    assert rows[0][0] >= rows[-1][0]  # newest day first


# --- the chart ---------------------------------------------------------------------------------


def test_the_chart_draws_30_days_with_a_table_of_the_same_numbers(manager_client, lanes):
    pay(lanes["payroc"], ago=timedelta(minutes=1), amount_minor=1000)
    pay(lanes["payroc"], ago=timedelta(minutes=1), amount_minor=1000, status="declined")
    pay(lanes["payroc"], ago=timedelta(days=3), amount_minor=2500)
    pay(lanes["payroc"], ago=timedelta(days=40), amount_minor=9900)  # outside the 30 days
    response = manager_client.get(reverse("payments:history_chart") + "?range=today")
    body = response.content.decode()
    assert response.status_code == 200
    assert '<svg class="history-chart"' in body and 'role="img"' in body
    assert body.count('class="chart-bar"') == 2
    assert "<script" not in body.split("<main")[1] and " style=" not in body
    table = body.split('data-testid="chart-table-USD"')[1].split("</table>")[0]
    assert table.count("<tr>") == 31  # header and 30 days
    assert "25.00" in table and "10.00" in table and "99.00" not in table
    assert "50.0 %" in table  # today: one approved of two decided


def test_the_chart_follows_the_filter(manager_client, lanes):
    pay(lanes["payroc"], ago=timedelta(minutes=1), amount_minor=1000)
    pay(lanes["komoju"], ago=timedelta(minutes=1), amount_minor=700, currency="JPY")
    body = manager_client.get(
        reverse("payments:history_chart") + f"?terminal={lanes['komoju'].pk}"
    ).content.decode()
    assert 'data-testid="chart-JPY"' in body and 'data-testid="chart-USD"' not in body


# --- live rows ---------------------------------------------------------------------------------


def test_open_payments_poll_the_payment_pages_status_partial(manager_client, lanes):
    open_one = pay(lanes["payroc"], status="pending")
    pay(lanes["komoju"], currency="JPY")
    body = manager_client.get(URL).content.decode()
    assert body.count('data-testid="live-status"') == 1
    assert f'hx-get="{reverse("payments:status", args=[open_one.uuid])}"' in body
    assert 'hx-headers=\'{"X-Poll": "1"}\'' in body


# --- the admin ---------------------------------------------------------------------------------


def test_platform_admins_read_payments_in_the_django_admin(client, platform_admin, lanes):
    payment = pay(lanes["payroc"], reference="ADMIN-READ")
    client.force_login(platform_admin)
    listing = client.get(reverse("admin:payments_payment_changelist"))
    assert listing.status_code == 200 and b"ADMIN-READ" in listing.content
    page = client.get(reverse("admin:payments_payment_change", args=[payment.pk]))
    assert page.status_code == 200 and b"ADMIN-READ" in page.content
    assert b'name="_save"' not in page.content  # read-only: nothing to save
    assert client.get(reverse("admin:payments_paymentevent_changelist")).status_code == 200
    assert client.post(reverse("admin:payments_payment_changelist"), {}).status_code in (200, 403)
    assert Payment.objects.get(pk=payment.pk).reference == "ADMIN-READ"


def test_other_roles_get_403_and_anonymous_users_the_login_page_in_the_admin(
    client, tenant_a, lanes
):
    payment = pay(lanes["payroc"])
    url = reverse("admin:payments_payment_change", args=[payment.pk])
    response = client.get(url)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    for role in (Role.RESELLER_ADMIN, Role.MERCHANT_MANAGER, Role.CASHIER):
        client.force_login(tenant_a.users[role])
        assert client.get(url).status_code == 403
        assert client.get(reverse("admin:index")).status_code == 403


def test_the_staff_flag_alone_opens_nothing_in_the_admin(client, tenant_a):
    manager = member(Role.MERCHANT_MANAGER, merchant=tenant_a.merchant, email="staff@example.test")
    manager.is_staff = True
    manager.save()
    client.force_login(manager)
    assert client.get(reverse("admin:index")).status_code == 403
    assert client.get(reverse("admin:payments_payment_changelist")).status_code == 403

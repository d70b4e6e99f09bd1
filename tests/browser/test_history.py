"""A merchant manager reconciles in the browser: filters the payment history by terminal and the
last 7 days, opens page 2, exports the CSV and reads the chart's table; at 1280 px and at a phone's
390 px (no horizontal scrolling), axe-core clean on every page (tests/browser/conftest.py)."""

import csv
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from dashboard.models import Role
from tests.browser.conftest import DESKTOP, PHONE
from tests.browser.test_pages import assert_fits
from tests.browser.test_roles import log_in
from tests.factories import make_account, make_payment_terminal
from tests.payments.history_support import pay

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_a_manager_filters_pages_exports_and_reads_the_chart(
    page, screenshot, viewport, tenant_a, tmp_path
):
    size = "phone" if viewport == PHONE else "desktop"
    width = viewport["width"]
    account = make_account(tenant_a.merchant, "payroc", label="Payroc A")
    lane = make_payment_terminal(account, store=tenant_a.store, name="Lane 1")
    other = make_payment_terminal(account, store=tenant_a.store, name="Lane 2")
    for i in range(40):  # within the last 5 days, one every 3 hours
        pay(lane, ago=timedelta(hours=3 * i, minutes=1), amount_minor=1000 + i, card_last4="0010")
    for i in range(5):
        pay(lane, ago=timedelta(days=10 + i), amount_minor=500)
    for i in range(6):
        pay(other, ago=timedelta(hours=i, minutes=2), reference=f"=OTHER{i}")
    pay(lane, ago=timedelta(minutes=1), status="declined", amount_minor=2000)

    log_in(page, tenant_a.users[Role.MERCHANT_MANAGER].email)
    page.get_by_test_id("main-nav").get_by_role("link", name="Payments").click()
    expect(page.get_by_role("heading", name="Payments")).to_be_visible()
    page.get_by_label("Terminal", exact=True).select_option(label="Lane 1 (Store alpha)")
    page.get_by_label("Dates", exact=True).select_option(label="Last 7 days")
    page.get_by_test_id("apply-filters").click()
    rows = page.get_by_test_id("history-row")
    expect(rows).to_have_count(25)
    totals = page.get_by_test_id("totals-USD")
    expect(totals.get_by_test_id("totals-count")).to_have_text("41")
    expected_total = sum(1000 + i for i in range(40)) / 100
    expect(totals.get_by_test_id("totals-sales")).to_contain_text(f"{expected_total:.2f}")
    assert_fits(page, width)
    screenshot(f"history-filtered-{size}")
    first_page = set(rows.evaluate_all("rows => rows.map(r => r.dataset.payment)"))

    page.get_by_test_id("page-older").click()
    expect(rows).to_have_count(16)
    second_page = set(rows.evaluate_all("rows => rows.map(r => r.dataset.payment)"))
    assert not first_page & second_page
    expect(page.get_by_test_id("page-newer")).to_be_visible()
    assert "Lane 2" not in page.get_by_test_id("history-table").inner_text()
    screenshot(f"history-page-2-{size}")

    with page.expect_download() as download:
        page.get_by_test_id("export-csv").click()
    saved = Path(tmp_path) / "payments.csv"
    download.value.save_as(saved)
    header, *lines = list(csv.reader(saved.open(encoding="utf-8")))
    assert len(lines) == 41 and {row[header.index("Terminal")] for row in lines} == {"Lane 1"}
    assert {row[header.index("Card last four")] for row in lines} == {"0010", ""}

    page.get_by_test_id("open-chart").click()
    table = page.get_by_test_id("chart-table-USD")
    expect(table).to_be_visible()
    expect(page.locator("svg.history-chart")).to_be_visible()
    cells = table.locator("tbody tr").evaluate_all(
        "rows => rows.map(r => [...r.children].map(c => c.innerText.trim()))"
    )
    assert len(cells) == 30
    volume = sum(float(day[1]) for day in cells)
    payments = sum(int(day[2]) for day in cells)
    assert payments == 41 + 5  # Lane 1 over 30 days: 41 in the last 7, 5 from 10 to 14 days ago
    assert round(volume, 2) == round(expected_total + 5 * 5.00, 2)
    assert_fits(page, width)
    screenshot(f"history-chart-{size}")

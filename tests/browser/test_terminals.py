"""A reseller admin's fleet in the browser, end to end and with nothing mocked: the sandbox emulators
answer over HTTP (the live server), a real Celery worker runs in this process
(`celery.contrib.testing.worker.start_worker`, Redis broker) and real Celery beat runs in a thread
(`celery.beat.EmbeddedService`) with the product's CELERY_BEAT_SCHEDULE, so the terminal syncs happen
exactly as in the demo: beat starts the due syncs, the worker reads the emulators, the fleet page's
HTMX partial shows what changed."""

import re

import pytest
from celery.beat import EmbeddedService
from celery.contrib.testing.worker import start_worker
from playwright.sync_api import expect

from config.celery import app as celery_app
from dashboard.models import Role
from terminals.models import Terminal, TerminalStatus
from tests.browser.test_roles import log_in
from tests.factories import MerchantFactory, StoreFactory
from tests.terminals.conftest import sandbox_fleet

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def celery_worker(sandbox_settings):
    celery_app.control.purge()  # nothing left over from earlier tests reaches this worker
    with start_worker(
        celery_app,
        pool="threads",
        concurrency=4,
        perform_ping_check=False,
        loglevel="WARNING",
        shutdown_timeout=30,
    ) as worker:
        yield worker


@pytest.fixture
def celery_beat(celery_worker, tmp_path):
    """Returns a function that starts beat (the test decides when syncs may begin)."""
    started = []

    def start():
        beat = EmbeddedService(
            celery_app, thread=True, schedule_filename=str(tmp_path / "celerybeat-schedule")
        )
        beat.start()
        started.append(beat)

    yield start
    for beat in started:
        beat.stop()


@pytest.fixture
def reseller_fleet(tenant_a, sandbox_settings):
    """Tenant A's reseller with three merchants: USAePay and Payroc terminals at the first, 30 USAePay
    terminals at a second (so the list has pages), none at the third."""
    usaepay = sandbox_fleet(
        "usaepay", tenant_a.merchant, devices=2, names=["Counter", "Patio"], label="Alpha USAePay"
    )
    payroc = sandbox_fleet("payroc", tenant_a.merchant, devices=1, label="Alpha Payroc")
    harbour = MerchantFactory(reseller=tenant_a.reseller, name="Harbour Bakery")
    StoreFactory(merchant=harbour, name="Main Street")
    StoreFactory(merchant=harbour, name="Harbour Front")
    bakery = sandbox_fleet(
        "usaepay",
        harbour,
        devices=30,
        names=[f"Bakery lane {i:02d}" for i in range(1, 31)],
        label="Bakery USAePay",
    )
    MerchantFactory(reseller=tenant_a.reseller, name="Quiet Florist")
    return {"usaepay": usaepay, "payroc": payroc, "bakery": bakery}


def _names(page) -> list[str]:
    return page.get_by_test_id("terminal-name").all_inner_texts()


def test_a_reseller_admin_filters_renames_and_sees_a_terminal_go_offline_live(
    page, screenshot, tenant_a, reseller_fleet, celery_beat, accessibility_audit
):
    log_in(page, tenant_a.users[Role.RESELLER_ADMIN].email)
    page.get_by_role("link", name="Terminals").click()
    expect(page.get_by_test_id("fleet-empty")).to_contain_text("No terminals yet.")
    screenshot("terminals-fleet-empty")

    # Sync now: a real task on the worker; the HTMX partial polls until every account is done.
    page.get_by_role("button", name="Sync now").click()
    expect(page.get_by_test_id("sync-outcome")).to_contain_text("Sync finished", timeout=20_000)
    expect(page.get_by_test_id("sync-progress")).to_contain_text(
        "33 added, 0 updated, 0 deactivated"
    )
    # The finished partial tells the page, which reloads its list in place.
    expect(page.get_by_test_id("fleet-count")).to_have_text("33 terminals")
    screenshot("terminals-sync-finished")
    expect(page.get_by_role("navigation", name="Pages")).to_contain_text("Page 1 of 2")
    screenshot("terminals-fleet")

    # Filter by provider and status: the state is in the URL.
    filters = page.get_by_test_id("fleet-filters")
    filters.get_by_label("Provider").select_option(label="USAePay")
    filters.get_by_label("Status").select_option(value="online")
    filters.get_by_role("button", name="Filter").click()
    page.wait_for_url(
        re.compile(r"provider=usaepay.*status=online|status=online.*provider=usaepay")
    )
    expect(page.get_by_test_id("fleet-count")).to_have_text("32 terminals match these filters")
    filters.get_by_label("Search by name or serial number").fill("a")
    filters.get_by_label("Merchant").select_option(label=tenant_a.merchant.name)
    filters.get_by_role("button", name="Filter").click()
    expect(page.get_by_test_id("fleet-count")).to_have_text("2 terminals match these filters")
    assert _names(page) == ["Counter", "Patio"]
    screenshot("terminals-fleet-filtered")
    filters.get_by_label("Provider").select_option(label="Payroc Cloud")
    filters.get_by_label("Status").select_option(value="unknown")
    filters.get_by_label("Search by name or serial number").fill("")
    filters.get_by_role("button", name="Filter").click()
    expect(page.get_by_test_id("fleet-count")).to_have_text("1 terminal match these filters")

    # Rename a USAePay terminal: the name reaches the emulator.
    filters.get_by_label("Provider").select_option(label="USAePay")
    filters.get_by_label("Status").select_option(value="online")
    filters.get_by_role("button", name="Filter").click()
    page.get_by_role("link", name="Counter", exact=True).click()
    expect(page.get_by_test_id("rename-note")).to_have_text(
        "The name is sent to USAePay and saved once USAePay accepts it."
    )
    page.get_by_label("Name").fill("Front counter")
    page.get_by_role("button", name="Rename").click()
    expect(
        page.get_by_role("status").filter(has_text="Renamed to “Front counter” at USAePay.")
    ).to_be_visible()
    expect(page.get_by_test_id("terminal-title")).to_have_text("Front counter")
    counter_device = reseller_fleet["usaepay"].devices[0]
    counter_device.refresh_from_db()
    assert counter_device.name == "Front counter"
    screenshot("terminal-renamed")

    # Beat syncs on its own from now on; the fleet page refreshes its badges without a reload.
    celery_beat()
    page.goto(f"/terminals/?merchant={tenant_a.merchant.pk}")
    terminal = Terminal.objects.get(provider_ref=counter_device.ref)
    badge = page.get_by_test_id(f"status-{terminal.pk}")
    expect(badge).to_have_attribute("data-status", "online")
    page.evaluate("window.__stillTheSamePage = true")

    virtual = page.context.new_page()
    virtual.goto(f"/sandbox/terminals/{counter_device.pk}/")
    virtual.locator('[data-testid=switches] input[name="online"]').uncheck()
    virtual.get_by_role("button", name="Save switches").click()
    expect(virtual.get_by_text("Switches saved.")).to_be_visible()
    # The dark screen of a terminal that is off is readable (its lines once kept Pico's dark text).
    expect(virtual.get_by_test_id("terminal-screen")).to_have_class(re.compile(r"\btone-offline\b"))
    assert accessibility_audit.check(virtual) == []
    virtual.close()

    expect(badge).to_have_attribute("data-status", "offline", timeout=15_000)
    assert page.evaluate("window.__stillTheSamePage === true")  # no reload happened
    expect(badge).to_contain_text("offline · checked")
    screenshot("terminals-fleet-offline")
    assert Terminal.objects.get(pk=terminal.pk).status == TerminalStatus.OFFLINE


def test_the_terminal_pages_explain_refusals_and_local_names(
    page, screenshot, tenant_a, reseller_fleet, celery_worker
):
    from sandbox.services import device_set_switches
    from terminals.services import terminal_sync_account_now

    for fleet in reseller_fleet.values():
        terminal_sync_account_now(account=fleet.account)
    log_in(page, tenant_a.users[Role.RESELLER_ADMIN].email)
    page.goto("/")
    expect(page.get_by_test_id("count-online")).to_have_text("32")
    expect(page.get_by_test_id("count-unknown")).to_have_text("1")
    screenshot("terminals-home-counts")
    page.get_by_test_id("count-unknown").click()
    page.wait_for_url("**/terminals/?status=unknown")

    # Payroc has no rename API: the name stays in the dashboard, and the page says so.
    payroc = Terminal.objects.get(account=reseller_fleet["payroc"].account)
    page.goto(f"/terminals/{payroc.pk}/")
    expect(page.get_by_test_id("rename-note")).to_have_text(
        "Payroc has no rename API: this name is shown in the dashboard only."
    )
    expect(page.get_by_test_id("status-reason")).to_have_text(
        "Payroc does not report whether a terminal is online."
    )
    page.get_by_label("Name").fill("Front till")
    page.get_by_role("button", name="Rename").click()
    expect(page.get_by_role("status").first).to_contain_text(
        "Payroc has no rename API: this name is shown in the dashboard only."
    )
    screenshot("terminal-payroc-local-name")

    # The emulator refuses a USAePay rename: a clear form error, the name unchanged.
    patio = Terminal.objects.get(name="Patio")
    device_set_switches(device=reseller_fleet["usaepay"].devices[1], fail_next_5xx=1)
    page.goto(f"/terminals/{patio.pk}/")
    page.get_by_label("Name").fill("Garden")
    page.get_by_role("button", name="Rename").click()
    expect(page.get_by_role("alert").first).to_contain_text("USAePay did not rename the terminal:")
    expect(page.get_by_role("alert").first).to_contain_text("The name is unchanged.")
    expect(page.get_by_test_id("terminal-title")).to_have_text("Patio")
    screenshot("terminal-rename-refused")

    # Bulk assignment: select two Harbour Bakery terminals, confirm, pick a store.
    page.goto("/terminals/?q=Bakery+lane+0")
    page.get_by_label("Select Bakery lane 01").check()
    page.get_by_label("Select Bakery lane 02").check()
    page.get_by_role("button", name="Assign to a store…").click()
    expect(page.get_by_role("heading", name="Assign 2 terminals to a store")).to_be_visible()
    page.get_by_label("Store").select_option(label="Main Street")
    screenshot("terminals-assign-confirm")
    page.get_by_role("button", name="Assign", exact=True).click()
    expect(page.get_by_role("status").first).to_have_text("2 terminals moved to “Main Street”.")
    page.wait_for_url("**/terminals/?q=Bakery+lane+0")
    assert Terminal.objects.filter(store__name="Main Street").count() == 2

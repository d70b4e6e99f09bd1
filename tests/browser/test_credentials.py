"""In Chromium, at a desktop's and a phone's width: a platform admin opens the credentials console,
is sent to enrol a second factor (the QR code drawn on the page, the key in text), confirms it with a
code computed here from that key (django-otp's own totp), keeps the recovery codes, lands on the
console, verifies an account against the emulator and finds the entry in the audit trail. axe-core
and the CSP watch check every page on the way (tests/browser/conftest.py)."""

import re

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from credentials.models import AuditAction
from tests.browser.conftest import DESKTOP, PHONE
from tests.browser.test_pages import assert_fits
from tests.browser.test_roles import log_in
from tests.second_factor import code_for
from tests.terminals.conftest import sandbox_fleet

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_an_admin_enrols_a_second_factor_sees_the_console_and_the_audit_entry(
    page, viewport, tenant_a, platform_admin, sandbox_settings, screenshot
):
    width = viewport["width"]
    size = "phone" if width == PHONE["width"] else "desktop"
    fleet = sandbox_fleet("usaepay", tenant_a.merchant, devices=2, label="Counter USAePay")
    log_in(page, platform_admin.email)

    page.goto("/credentials/")
    page.wait_for_url("**/accounts/second-factor/?next=%2Fcredentials%2F")
    expect(page.get_by_role("heading", name="Set up your second factor")).to_be_visible()
    expect(page.get_by_role("img", name="QR code of your authenticator key")).to_be_visible()
    assert_fits(page, width)
    screenshot(f"second-factor-enrol-{size}")
    key = page.get_by_test_id("totp-key").inner_text()
    assert re.fullmatch(r"[A-Z2-7 ]{32,}", key), key

    page.get_by_role("textbox", name="Code", exact=True).fill("000000")
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_text("That code is not right")).to_be_visible()
    page.get_by_role("textbox", name="Code", exact=True).fill(code_for(key))
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading", name="Your second factor is set up")).to_be_visible()
    expect(page.get_by_test_id("recovery-codes").locator("li")).to_have_count(10)
    assert TOTPDevice.objects.get(user=platform_admin).confirmed
    assert_fits(page, width)

    page.get_by_role("button", name="I have kept them: continue").click()
    page.wait_for_url("**/credentials/")
    expect(page.get_by_role("heading", name="Provider accounts")).to_be_visible()
    row = page.get_by_test_id("console-row").filter(has_text="Counter USAePay")
    expect(row.get_by_test_id("state-badge")).to_have_text("Not verified")
    assert_fits(page, width)
    screenshot(f"credentials-console-{size}")

    row.get_by_role("link", name="USAePay · Counter USAePay").click()
    page.get_by_role("button", name="Verify now").click()
    expect(
        page.get_by_text("USAePay accepted the credentials (2 terminals listed).")
    ).to_be_visible()
    expect(page.get_by_test_id("account-state")).to_contain_text("Valid")

    page.goto("/credentials/")
    expect(row.get_by_test_id("state-badge")).to_have_text("Valid")
    page.get_by_role("button", name="Audit trail").click()
    page.wait_for_url("**/credentials/audit/")
    entry = page.get_by_test_id("audit-row").filter(has_text="Verified against the provider")
    expect(entry).to_have_count(1)
    expect(entry).to_contain_text(platform_admin.email)
    expect(entry).to_contain_text("2 terminals listed")
    assert_fits(page, width)
    screenshot(f"credentials-audit-{size}")
    assert fleet.account.audit_events.filter(
        action=AuditAction.VERIFIED, actor=platform_admin
    ).exists()

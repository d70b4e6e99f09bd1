"""Every page at a desktop's and at a phone's width (390 px): no horizontal scrolling of the page
itself (tables scroll inside their own box), axe-core clean (the `page` fixture audits each load),
usable with the keyboard alone; polls pause while the tab is hidden."""

import pytest
from playwright.sync_api import expect

from dashboard.models import Role
from terminals.models import Terminal
from tests.browser.conftest import DESKTOP, PHONE
from tests.browser.test_roles import log_in
from tests.factories import PASSWORD
from tests.second_factor import pass_in_browser
from tests.terminals.conftest import sandbox_fleet

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const wide = [...document.querySelectorAll("body *")]
    .filter((el) => el.getBoundingClientRect().right > width + 1 && !el.closest(".table-scroll"))
    .slice(0, 5).map((el) => el.tagName + "." + el.className + " right=" + Math.round(el.getBoundingClientRect().right));
  return {scrollWidth: document.documentElement.scrollWidth, width, wide};
}"""


@pytest.fixture
def fleet(tenant_a, sandbox_settings):
    from terminals.services import terminal_sync_account_now

    usaepay = sandbox_fleet(
        "usaepay",
        tenant_a.merchant,
        devices=2,
        names=["Front counter", "Patio"],
        label="Alpha USAePay",
    )
    payroc = sandbox_fleet("payroc", tenant_a.merchant, devices=1, label="Alpha Payroc")
    for f in (usaepay, payroc):
        terminal_sync_account_now(account=f.account)
    return {"usaepay": usaepay, "payroc": payroc}


def assert_fits(page, width):
    # A click that navigates leaves no document for an instant: measure the page that loaded.
    page.wait_for_load_state("load")
    found = page.evaluate(OVERFLOW)
    assert found["scrollWidth"] <= width, (
        f"{page.url} is {found['scrollWidth']} px wide: {found['wide']}"
    )


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_every_page_fits_the_window_without_horizontal_scrolling(
    page, screenshot, viewport, tenant_a, platform_admin, fleet
):
    width = viewport["width"]
    size = "phone" if width == PHONE["width"] else "desktop"
    page.goto("/accounts/login/")
    assert_fits(page, width)
    screenshot(f"page-login-{size}")

    log_in(page, platform_admin.email)
    pass_in_browser(page, platform_admin)  # the credentials pages are behind the second factor
    terminal = Terminal.objects.get(name="Front counter")
    payroc = Terminal.objects.get(account=fleet["payroc"].account)
    device = fleet["usaepay"].devices[0]
    pages = {
        "home": "/",
        "fleet": "/terminals/",
        "terminal": f"/terminals/{terminal.pk}/",
        "terminal-payroc": f"/terminals/{payroc.pk}/",
        "syncs": "/terminals/sync/",
        "resellers": "/resellers/",
        "reseller-new": "/resellers/new/",
        "merchants": "/merchants/",
        "merchant": f"/merchants/{tenant_a.merchant.pk}/",
        "merchant-new": "/merchants/new/",
        "stores": "/stores/",
        "store-new": "/stores/new/",
        "accounts": "/credentials/",
        "account": f"/credentials/{fleet['usaepay'].account.pk}/",
        "audit": "/credentials/audit/",
        "second-factor": "/accounts/second-factor/",
        "password": "/accounts/password/",
        "not-found": "/merchants/999999/",
        "sandbox": "/sandbox/",
        "sandbox-terminal": f"/sandbox/terminals/{device.pk}/",
    }
    for name, url in pages.items():
        page.goto(url)
        assert page.url.endswith(url), f"{url} sent the admin on to {page.url}"
        assert_fits(page, width)
        if name in ("home", "fleet", "terminal"):
            screenshot(f"page-{name}-{size}")

    # The assignment confirmation, reached through the fleet's form.
    page.goto("/terminals/")
    page.get_by_label("Select Patio").check()
    page.get_by_role("button", name="Assign to a store…").click()
    expect(page.get_by_role("heading", name="Assign 1 terminal to a store")).to_be_visible()
    assert_fits(page, width)

    # A cashier's view and a page their role may not open.
    page.goto("/")
    page.get_by_text(platform_admin.email).click()
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("status")).to_have_text("You have been logged out.")
    log_in(page, tenant_a.users[Role.CASHIER].email)
    assert_fits(page, width)
    response = page.goto(f"/merchants/{tenant_a.merchant.pk}/edit/")
    assert response.status == 403
    expect(page.get_by_test_id("main-nav")).to_be_visible()
    assert_fits(page, width)


def _focused(page) -> dict:
    return page.evaluate("""() => {
      const el = document.activeElement, style = getComputedStyle(el);
      return {tag: el.tagName, text: (el.innerText || el.value || el.getAttribute("aria-label") || "").trim(),
              outline: style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0};
    }""")


def test_the_login_and_the_fleet_work_with_the_keyboard_alone(page, tenant_a, fleet):
    page.goto("/accounts/login/")
    expect(page.get_by_label("Email")).to_be_focused()  # the form is ready to type into
    page.keyboard.type(tenant_a.users[Role.RESELLER_ADMIN].email.upper())
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()

    # Tab from the top to the Terminals link, and every stop on the way shows where the focus is.
    page.keyboard.press("Tab")
    assert _focused(page)["text"] == "Skip to the content"
    stops = []
    for _ in range(30):
        page.keyboard.press("Tab")
        focused = _focused(page)
        stops.append(focused)
        assert focused["outline"], f"no visible focus on {focused}"
        if focused["text"] == "Terminals" and focused["tag"] == "A":
            break
    page.keyboard.press("Enter")
    page.wait_for_url("**/terminals/")

    # Search by keyboard: type, Enter submits the filter form.
    page.get_by_label("Search by name or serial number").focus()
    page.keyboard.type("Patio")
    page.keyboard.press("Enter")
    page.wait_for_url("**/terminals/?q=Patio*")
    expect(page.get_by_test_id("fleet-count")).to_have_text("1 terminal match these filters")

    # Open the terminal and rename it by keyboard alone.
    page.get_by_role("link", name="Patio", exact=True).focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/terminals/*/")
    page.get_by_label("Name").focus()
    page.keyboard.press("Control+A")
    page.keyboard.type("Garden")
    page.keyboard.press("Tab")
    assert _focused(page)["text"] == "Rename"
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("terminal-title")).to_have_text("Garden")

    # The account menu opens and logs out by keyboard.
    page.locator("summary").focus()
    page.keyboard.press("Enter")
    page.get_by_role("button", name="Log out").focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/accounts/login/")
    expect(page.get_by_role("status")).to_have_text("You have been logged out.")


HIDE = """() => {
  for (const [key, value] of [["hidden", true], ["visibilityState", "hidden"]])
    Object.defineProperty(document, key, {configurable: true, get: () => value});
  document.dispatchEvent(new Event("visibilitychange"));
}"""
SHOW = """() => {
  delete document.hidden; delete document.visibilityState;
  document.dispatchEvent(new Event("visibilitychange"));
}"""


def test_a_hidden_tab_stops_polling_and_a_visible_one_polls_again(page, tenant_a, fleet):
    log_in(page, tenant_a.users[Role.RESELLER_ADMIN].email)
    device = fleet["usaepay"].devices[0]
    page.goto(f"/sandbox/terminals/{device.pk}/")
    poll = page.locator(".screen-refresh")
    with page.expect_request(lambda r: "/screen" in r.url):  # it polls while visible
        pass

    page.evaluate(HIDE)
    expect(poll).to_have_attribute("data-poll-paused", "1", timeout=5_000)
    sent_while_hidden = []
    page.on("request", lambda r: "/screen" in r.url and sent_while_hidden.append(r.url))
    expect(poll).to_have_attribute("data-poll-paused", "3", timeout=5_000)
    assert sent_while_hidden == []  # two polls came due while hidden, and neither was sent

    with page.expect_request(lambda r: "/screen" in r.url, timeout=5_000):
        page.evaluate(SHOW)

"""The Content-Security-Policy under a real browser: the watch every browser test carries sees a
refusal (so a clean run means something), and htmx works under the policy without its own <style>."""

import pytest

from dashboard.models import Role
from tests.browser.csp import CspWatch
from tests.browser.test_roles import log_in
from tests.waiting import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# What a template must never do, done to a page of ours after it loaded: an inline style attribute,
# an inline <script>, and an htmx `hx-on` handler (htmx compiles it with Function(), i.e. eval, when
# the event comes: a real click, since code Playwright evaluates may eval whatever the policy says).
INJECT = """() => {
  document.querySelector("main").insertAdjacentHTML("beforeend", '<p style="color: red">styled</p>');
  const script = document.createElement("script");
  script.textContent = "window.inlineScriptRan = true";
  document.body.append(script);
  const button = document.createElement("button");
  button.id = "hx-on-button";
  button.textContent = "hx-on";
  button.setAttribute("hx-on:click", "window.hxOnRan = true");
  document.querySelector("main").append(button);
  htmx.process(button);
}"""


def test_the_watch_reports_inline_styles_inline_scripts_and_eval(chromium_browser, live_server):
    context = chromium_browser.new_context(base_url=live_server.url)
    watch = CspWatch(base_url=live_server.url)
    watch.watch_context(context)
    try:
        page = context.new_page()
        page.goto("/accounts/login/")
        assert not watch.failed, watch.report()
        page.evaluate(INJECT)
        page.click("#hx-on-button")

        def directives():
            page.evaluate("0")  # lets Playwright deliver the page's pending binding calls
            found = {v.directive for v in watch.violations}
            return found if {"style-src-attr", "script-src-elem", "script-src"} <= found else None

        wait_until(directives)
        ran = page.evaluate("[window.inlineScriptRan === true, window.hxOnRan === true]")
    finally:
        context.close()
    assert ran == [False, False], "the policy let an inline script or an hx-on handler run"
    assert watch.console, "Chromium logged none of the refusals to the console"
    assert watch.failed


def test_htmx_adds_no_style_element_and_its_indicator_rules_come_from_our_stylesheet(
    page, tenant_a
):
    response = page.goto("/accounts/login/")
    policy = response.headers["content-security-policy"]
    assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy
    log_in(page, tenant_a.users[Role.MERCHANT_MANAGER].email)

    state = page.evaluate("""() => {
      const indicator = document.createElement("span");
      indicator.className = "htmx-indicator";
      document.querySelector("main").append(indicator);
      const hidden = getComputedStyle(indicator).visibility;
      indicator.parentElement.classList.add("htmx-request");
      const shown = getComputedStyle(indicator).visibility;
      indicator.parentElement.classList.remove("htmx-request");
      indicator.remove();
      return {
        styles: document.querySelectorAll("style").length,
        includeIndicatorStyles: htmx.config.includeIndicatorStyles,
        hidden, shown,
      };
    }""")
    assert state == {
        "styles": 0,
        "includeIndicatorStyles": False,
        "hidden": "hidden",
        "shown": "visible",
    }


def test_an_htmx_request_swaps_its_answer_under_the_policy(page, tenant_a):
    log_in(page, tenant_a.users[Role.MERCHANT_MANAGER].email)
    page.goto("/terminals/")
    with page.expect_response("**/accounts/password/") as answer:
        page.evaluate(
            """() => htmx.ajax("GET", "/accounts/password/",
                 {target: "main", select: "main > *", swap: "innerHTML"})"""
        )
    assert answer.value.status == 200
    page.get_by_role("heading", name="Change password").wait_for()

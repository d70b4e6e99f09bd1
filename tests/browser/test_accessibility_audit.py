"""The axe-core audit itself: a test may audit a page while the audit its load started is still
running (the load handler runs in its own greenlet whenever the test waits on Playwright), and
axe-core refuses a second run on one page at a time. CI once failed on exactly that."""

import pytest

from tests.browser.accessibility import AccessibilityAudit

pytestmark = [pytest.mark.browser]

# Hundreds of labelled controls: axe-core takes a good part of a second over them, so the audit the
# load started is still running when the test audits the page itself.
ROWS = "".join(
    f'<li><label for="f{i}">Field {i}</label><input id="f{i}" name="f{i}"></li>' for i in range(300)
)
BIG = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Many fields</title>
</head><body><main><h1>Many fields</h1><ul>{ROWS}</ul></main></body></html>"""


def test_an_audit_asked_for_while_the_load_audit_runs_waits_for_it(chromium_browser):
    audit = AccessibilityAudit()
    context = chromium_browser.new_context()
    try:
        audit.watch_context(context)
        page = context.new_page()
        page.route(
            "http://audit.invalid/**",
            lambda route: route.fulfill(body=BIG, content_type="text/html; charset=utf-8"),
        )
        for _ in range(2):
            page.goto("http://audit.invalid/many", wait_until="commit")
            page.wait_for_load_state("load")
            assert audit.check(page) == []
        page.wait_for_function("() => true")  # let a last load audit finish
        assert audit.running == set()
        assert audit.checked.count("http://audit.invalid/many") >= 2
    finally:
        context.close()

"""Playwright driving Debian's Chromium (`executable_path`), never a downloaded browser.

Outside CI a missing Chromium skips these tests; with CI=true it fails them (`.ci/run` installs it).
Every page a test opens is audited with axe-core after each load and once more when the test ends
(`tests/browser/accessibility.py`): a serious or critical violation fails the test. Every page is
also watched for Content-Security-Policy violations (`tests/browser/csp.py`): any one reported, or a
page of ours served without the policy, fails the test.
"""

import os
import shutil
from pathlib import Path

import pytest

from tests.browser.accessibility import AccessibilityAudit
from tests.browser.csp import CspWatch

# Debian's chromium-headless-shell first: the same Chromium build (source package `chromium`) as
# a headless-only binary, the one Playwright itself runs for `headless=True`. The full browser in
# headless mode still runs the windowed browser's machinery: the browser tests took 156 s of its CPU
# and 130 s, with the shell 108 s of CPU and 101 s (2 cores, three workers). Without the shell,
# Debian's `chromium` is used.
CHROMIUM = (
    os.environ.get("CHROMIUM_PATH")
    or shutil.which("chromium-headless-shell")
    or shutil.which("chromium")
    or "/usr/bin/chromium"
)
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

# Playwright's sync API runs an event loop in the test thread; the ORM calls made by fixtures in the
# same thread are still synchronous, so Django's async-safety guard is lifted for browser tests only.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def chromium_browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(
                f"Chromium not found at {CHROMIUM}; CI must install Debian's chromium package"
            )
        pytest.skip(
            "Chromium is not installed (apt-get install chromium); CI=true makes this a failure"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
            ],
        )
        yield browser
        browser.close()


PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture
def viewport():
    """The browser window's size; a test module overrides it (`PHONE` for a phone's width)."""
    return DESKTOP


@pytest.fixture
def accessibility_audit():
    return AccessibilityAudit()


@pytest.fixture
def csp_watch(live_server):
    return CspWatch(base_url=live_server.url)


@pytest.fixture
def page(chromium_browser, live_server, viewport, accessibility_audit, csp_watch):
    context = chromium_browser.new_context(base_url=live_server.url, viewport=viewport)
    context.set_default_timeout(10_000)
    csp_watch.watch_context(context)
    accessibility_audit.watch_context(context)
    page = context.new_page()
    yield page
    accessibility_audit.check_open_pages()
    context.close()
    assert accessibility_audit.checked, "axe-core audited no page"
    assert not accessibility_audit.findings, (
        "axe-core found serious or critical violations:\n" + accessibility_audit.report()
    )
    assert not accessibility_audit.endless, "endless animations:\n" + "\n".join(
        accessibility_audit.endless
    )
    assert csp_watch.documents, "no page of ours was loaded, so none was checked for its CSP"
    assert not csp_watch.failed, "Content-Security-Policy violations:\n" + csp_watch.report()


@pytest.fixture
def screenshot(page):
    """Saves a screenshot under test-artifacts/ (for looking at pages; CI keeps them as artifacts)."""

    def take(name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take

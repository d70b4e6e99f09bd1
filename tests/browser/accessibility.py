"""axe-core in every browser test: each page a test loads is checked when it has loaded, and the
page's last state once more when the test ends; a serious or critical violation fails the test, and
so does an animation that never ends on any of those pages (ENDLESS).

axe-core comes bundled with axe-playwright-python (`axe.min.js`) and is injected through Playwright,
so nothing is fetched from the network and the product's pages carry no test script."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from axe_playwright_python.sync_playwright import Axe

FAILING_IMPACTS = ("serious", "critical")
_AXE = Axe()


@dataclass
class AxeFinding:
    url: str
    rule: str
    impact: str
    help: str
    targets: list[str]
    summary: str = ""  # axe's own words for the first node, e.g. the contrast ratio and colours

    def __str__(self) -> str:
        found = f"{self.url}: [{self.impact}] {self.rule}: {self.help} at {', '.join(self.targets)}"
        return f"{found} ({self.summary})" if self.summary else found


def axe_findings(page) -> list[AxeFinding]:
    """The serious and critical axe-core violations of the page as it is now."""
    results = _AXE.run(page)
    findings = []
    for violation in results.response.get("violations", []):
        if violation.get("impact") not in FAILING_IMPACTS:
            continue
        targets = [" ".join(map(str, node.get("target", []))) for node in violation["nodes"]]
        summary = " ".join((violation["nodes"][0].get("failureSummary") or "").split())
        findings.append(
            AxeFinding(
                page.url, violation["id"], violation["impact"], violation["help"], targets, summary
            )
        )
    return findings


# Animations that never end: each keeps the browser drawing frames for as long as the page is open
# (a phone's battery at the counter; a pulsing waiting screen was a third of headless Chromium's CPU
# in the browser payment tests).
ENDLESS = """() => document.getAnimations()
  .filter((a) => a.effect && a.effect.getComputedTiming().iterations === Infinity)
  .map((a) => (a.animationName || "animation") + " on " + (a.effect.target?.tagName ?? "?") + "."
    + (a.effect.target?.className ?? ""))"""

# The document as axe-core would read it: its markup, and which element has the focus.
DOCUMENT = """() => [document.documentElement.outerHTML, document.activeElement?.outerHTML ?? ""]"""


@dataclass
class AccessibilityAudit:
    """Checks every page of a browser context after each load; `checked` lists the URLs audited."""

    checked: list[str] = field(default_factory=list)
    findings: list[AxeFinding] = field(default_factory=list)
    pages: list = field(default_factory=list)
    # Pages whose audit is under way. A load handler runs in its own greenlet whenever the test
    # waits on Playwright, so it can start while the test audits the same page itself; axe-core
    # refuses a second run on a page ("Axe is already running").
    running: set = field(default_factory=set)
    # Each page's document (URL, window size, markup, focus) when it was last audited, and what
    # axe-core found: the same document gets the same answer, so it is not audited again (axe-core
    # took about 40 % of the browser's CPU in this suite).
    audited: dict = field(default_factory=dict)
    # "URL: animation on element" of every endless animation found on an audited page.
    endless: list[str] = field(default_factory=list)

    def watch_context(self, context) -> None:
        context.on("page", self.watch)

    def watch(self, page) -> None:
        self.pages.append(page)
        page.on("load", lambda: self.check(page, quiet=True))

    def check(self, page, *, quiet: bool = False) -> list[AxeFinding]:
        """Audit `page` now. `quiet` (the load handler): a page that navigates away meanwhile is
        audited on its next load instead."""
        if page.is_closed() or page.url in ("", "about:blank"):
            return []
        if quiet and id(page) in self.running:
            return []  # the audit under way sees this state
        deadline = time.monotonic() + 30
        while id(page) in self.running:  # the load handler's audit: let it finish, then ours
            if time.monotonic() > deadline:
                raise AssertionError(f"an axe-core audit of {page.url} did not finish in 30 s")
            page.wait_for_timeout(20)
        self.running.add(id(page))
        try:
            document = (page.url, str(page.viewport_size), page.evaluate(DOCUMENT))
            for animation in page.evaluate(ENDLESS):
                if f"{page.url}: {animation}" not in self.endless:
                    self.endless.append(f"{page.url}: {animation}")
            last = self.audited.get(id(page))
            if last is not None and last[0] == document:
                found = last[1]
            else:
                found = axe_findings(page)
                self.audited[id(page)] = (document, found)
        except Exception:
            if quiet:
                return []
            raise
        finally:
            self.running.discard(id(page))
        self.checked.append(page.url)
        self.findings.extend(f for f in found if str(f) not in {str(x) for x in self.findings})
        return found

    def check_open_pages(self) -> None:
        for page in self.pages:
            if not page.is_closed():
                self.check(page, quiet=True)

    def report(self) -> str:
        return "\n".join(str(f) for f in self.findings)

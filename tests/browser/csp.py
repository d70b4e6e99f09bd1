"""The Content-Security-Policy in every browser test: any violation the browser reports on a page a
test opens fails the test, and so does a page of ours that arrives without the policy.

Two witnesses, since either alone can miss one: the page's `securitypolicyviolation` events (listened
to from an init script, before any of the page's own scripts run, and handed to Python through an
exposed binding, so they survive navigation) and Chromium's console, where every refusal is logged as
"Refused to … because it violates the following Content Security Policy directive". The init script
and the binding come from Playwright, outside the page, so the product's pages carry no test script
and the policy need not allow one."""

from __future__ import annotations

from dataclasses import dataclass, field

BINDING = "__cspViolation"
LISTENER = f"""
document.addEventListener("securitypolicyviolation", (event) => {{
  window.{BINDING}({{
    directive: event.effectiveDirective || event.violatedDirective,
    blocked: event.blockedURI,
    sample: event.sample,
    source: event.sourceFile,
    line: event.lineNumber,
    url: document.location.href,
  }});
}}, true);
"""
CONSOLE_MARKERS = ("Content Security Policy", "Content-Security-Policy")


@dataclass
class CspViolation:
    url: str
    directive: str
    blocked: str
    sample: str = ""
    source: str = ""
    line: int = 0

    def __str__(self) -> str:
        where = f" in {self.source}:{self.line}" if self.source else ""
        sample = f" ({self.sample!r})" if self.sample else ""
        return f"{self.url}: {self.directive} refused {self.blocked or 'inline'}{sample}{where}"


@dataclass
class CspWatch:
    """Watches every page of a browser context; `documents` lists each of our documents loaded,
    with the policy it was served under (None: served without one)."""

    base_url: str
    violations: list[CspViolation] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    documents: list[tuple[str, str | None]] = field(default_factory=list)

    def watch_context(self, context) -> None:
        context.expose_binding(BINDING, self._on_violation)
        context.add_init_script(LISTENER)
        context.on("console", self._on_console)
        context.on("response", self._on_response)

    def _on_violation(self, source, found: dict) -> None:
        self.violations.append(
            CspViolation(
                url=found.get("url") or "",
                directive=found.get("directive") or "",
                blocked=found.get("blocked") or "",
                sample=found.get("sample") or "",
                source=found.get("source") or "",
                line=int(found.get("line") or 0),
            )
        )

    def _on_console(self, message) -> None:
        text = message.text
        if any(marker in text for marker in CONSOLE_MARKERS):
            self.console.append(f"{message.page.url if message.page else '?'}: {text}")

    def _on_response(self, response) -> None:
        if response.request.resource_type != "document":
            return
        if not response.url.startswith(self.base_url):
            return
        self.documents.append((response.url, response.headers.get("content-security-policy")))

    @property
    def unprotected(self) -> list[str]:
        return [url for url, policy in self.documents if not policy]

    @property
    def failed(self) -> bool:
        return bool(self.violations or self.console or self.unprotected)

    def report(self) -> str:
        lines = [str(v) for v in self.violations]
        lines += [f"console: {text}" for text in self.console]
        lines += [f"served without a Content-Security-Policy: {url}" for url in self.unprotected]
        return "\n".join(lines)

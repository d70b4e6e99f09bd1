"""Headers on every response: a strict Content-Security-Policy (django-csp) and, on everything the
product renders (pages, HTMX partials, exports, API answers), `Cache-Control: private, no-store`;
and no template, nor any HTML built in Python, that the policy would refuse (inline scripts, style
attributes, event handlers, eval through htmx)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from dashboard.models import Role
from tests.dashboard.test_access_policies import ALL_PATTERNS, _instances
from tests.factories import PASSWORD, PaymentFactory, make_account, make_payment_terminal
from tests.second_factor import verify_client
from tests.terminals.conftest import sandbox_fleet

ROOT = Path(__file__).resolve().parents[1]
OUR_PACKAGES = ("home", "dashboard", "terminals", "payments", "credentials", "sandbox")


# --- the policy ----------------------------------------------------------------------------------


def policy(response) -> dict[str, list[str]]:
    header = response.headers.get("Content-Security-Policy")
    assert header, f"{response.status_code} answer without a Content-Security-Policy"
    directives = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def assert_strict(response) -> None:
    found = policy(response)
    assert "unsafe" not in response.headers["Content-Security-Policy"]
    assert found["default-src"] == ["'none'"]
    assert found["script-src"][0] == "'self'"
    assert all(v.startswith("'nonce-") for v in found["script-src"][1:]), found["script-src"]
    assert found["style-src"] == ["'self'"]
    assert found["connect-src"] == ["'self'"]
    assert found["img-src"] == ["'self'", "data:"]
    assert found["object-src"] == found["base-uri"] == found["frame-ancestors"] == ["'none'"]
    assert found["form-action"] == ["'self'"]
    assert "style-src-attr" not in found and "script-src-attr" not in found


def assert_private_no_store(response) -> None:
    directives = {d.strip() for d in response.headers.get("Cache-Control", "").split(",")}
    assert {"private", "no-store"} <= directives, (
        f"{response.status_code}: Cache-Control {response.headers.get('Cache-Control')!r}"
    )
    assert "public" not in directives


# --- inline code ---------------------------------------------------------------------------------


class _InlineCode(HTMLParser):
    """What the policy refuses in HTML: <style>, <script> without src (unless a nonce or a data
    block), style and on… attributes, javascript: URLs, and htmx features that eval (hx-on, trigger
    filters `[…]`, `js:` values)."""

    def __init__(self):
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if tag == "style":
            self.found.append("<style> element")
        if (
            tag == "script"
            and not values.get("src")
            and "nonce" not in values
            and values.get("type") not in ("application/json", "application/ld+json")
        ):
            self.found.append("inline <script>")
        for name, value in attrs:
            value = value or ""
            if name == "style":
                self.found.append(f'<{tag} style="{value}">')
            elif re.fullmatch(r"on[a-z]+", name):
                self.found.append(f'<{tag} {name}="{value}">')
            elif re.match(r"(data-)?hx-on", name):
                self.found.append(f"<{tag} {name}> (htmx evals it)")
            elif name in (
                "href",
                "src",
                "action",
                "formaction",
            ) and value.strip().lower().startswith("javascript:"):
                self.found.append(f'<{tag} {name}="{value}">')
            elif name in ("hx-trigger", "data-hx-trigger") and "[" in value:
                self.found.append(f'<{tag} {name}="{value}"> (a trigger filter evals)')
            elif name in ("hx-vals", "hx-vars", "hx-headers") and value.strip().startswith("js:"):
                self.found.append(f'<{tag} {name}="{value}"> (js: evals)')


def inline_code(html: str) -> list[str]:
    parser = _InlineCode()
    parser.feed(html)
    found = parser.found
    # A style attribute the parser might not see as one inside template tags, e.g. {% if %}style="…".
    found += [f"style attribute: {m.group(0)}" for m in re.finditer(r"(?<![\w-])style\s*=", html)]
    return found


def _template_files() -> list[Path]:
    files = sorted((ROOT / "templates").rglob("*.html"))
    for package in OUR_PACKAGES:
        files += sorted((ROOT / package / "templates").rglob("*.html"))
    return files


def _python_html_builders() -> list[Path]:
    """Our modules that build HTML in Python (template tags)."""
    return [
        p for package in OUR_PACKAGES for p in sorted((ROOT / package).rglob("templatetags/*.py"))
    ]


TEMPLATES = _template_files()


def test_the_inline_code_finder_finds_what_the_policy_refuses():
    page = (
        '<p style="color:red">a</p><script>alert(1)</script><style>p{}</style>'
        '<button onclick="go()">b</button><a href="javascript:go()">c</a>'
        '<div hx-on:click="go()"></div><div hx-trigger="every 2s [ok()]"></div>'
        "<div hx-vals='js:{a: go()}'></div>"
    )
    assert len(inline_code(page)) >= 8
    assert not inline_code(
        '<script src="/static/x.js" defer></script><script nonce="abc">ok()</script>'
        '<div hx-trigger="every 2s" hx-headers=\'{"X-Poll": "1"}\' class="x"></div>'
        '<meta name="htmx-config" content=\'{"includeIndicatorStyles": false}\'>'
    )


def test_the_template_walk_finds_every_apps_templates():
    names = {p.relative_to(ROOT).as_posix() for p in TEMPLATES}
    for expected in (
        "templates/base.html",
        "templates/home/home.html",
        "templates/terminals/fleet.html",
        "templates/credentials/account_list.html",
        "templates/payments/detail.html",
        "templates/sandbox/terminal.html",
        "templates/dashboard/form.html",
    ):
        assert expected in names


@pytest.mark.parametrize("path", TEMPLATES, ids=[p.relative_to(ROOT).as_posix() for p in TEMPLATES])
def test_no_template_has_inline_script_or_style(path):
    """README, "Content-Security-Policy": styles go in static/css, behaviour in static/js."""
    source = re.sub(r"{#.*?#}|{% comment %}.*?{% endcomment %}", "", path.read_text(), flags=re.S)
    assert not inline_code(source), path


@pytest.mark.parametrize(
    "path",
    _python_html_builders(),
    ids=[p.relative_to(ROOT).as_posix() for p in _python_html_builders()],
)
def test_no_html_built_in_python_has_inline_script_or_style(path):
    source = path.read_text()
    refused = re.findall(r"(?<![\w-])style\s*=|<script|<style|\son[a-z]+\s*=", source)
    assert not refused, f"{path}: {refused}"


def test_base_layout_turns_off_htmx_indicator_styles_and_our_stylesheet_has_them():
    base = (ROOT / "templates" / "base.html").read_text()
    assert base.index('name="htmx-config"') < base.index("{% htmx_script %}")
    assert '"includeIndicatorStyles": false' in base
    css = (ROOT / "static" / "css" / "app.css").read_text()
    assert ".htmx-indicator {" in css and ".htmx-request .htmx-indicator" in css


# --- every URL -----------------------------------------------------------------------------------


@pytest.fixture
def everything(tenant_a):
    """One of each object a URL takes, all of tenant A, and a sandbox device."""
    objects = _instances(tenant_a)
    fleet = sandbox_fleet("usaepay", tenant_a.merchant, devices=1, label="Headers USAePay")
    return objects, fleet.devices[0]


def _urls(objects, device) -> list[str]:
    urls = []
    for _route, name, pattern in ALL_PATTERNS:
        policy_name = pattern.callback.access_policy
        if name == "logout":
            continue  # a GET is refused with 405 anyway; it would only end the session mid-walk
        converters = pattern.pattern.converters
        if policy_name.startswith("public") and converters:
            if name.startswith("sandbox:terminal"):
                urls.append(reverse(name, kwargs={"pk": device.pk}))
            continue  # emulator and webhook endpoints: tested below
        model = getattr(pattern.callback, "scoped_model", None)
        kwargs = {k: getattr(objects[model], k, None) or objects[model].pk for k in converters}
        urls.append(reverse(name, kwargs=kwargs))
    return urls


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["platform admin", Role.MERCHANT_MANAGER, Role.CASHIER])
def test_every_url_answers_with_the_policy_and_private_no_store(
    client, tenant_a, platform_admin, everything, who
):
    objects, device = everything
    user = platform_admin if who == "platform admin" else tenant_a.users[who]
    client.force_login(user)
    if who == "platform admin":
        # Past the second factor and re-authenticated: every credentials page answers 200, the
        # ones that change secrets included.
        verify_client(client, user, reauthenticated=True)
    statuses = {}
    for url in _urls(objects, device):
        response = client.get(url)
        statuses[url] = response.status_code
        # /healthz answers 503 here: no Celery worker runs in this test.
        assert response.status_code < 500 or url == reverse("healthz"), url
        assert_strict(response)
        assert_private_no_store(response)
        if response.status_code == 200 and response["Content-Type"].startswith("text/html"):
            assert not inline_code(response.content.decode()), url
    pages = [url for url, status in statuses.items() if status == 200]
    assert len(pages) >= (20 if who == "platform admin" else 8), statuses
    if who == "platform admin":
        # Past the second factor: every credentials page answers (a POST-only one refuses a GET).
        assert all(
            statuses[url] in (200, 405) for url in statuses if url.startswith("/credentials/")
        ), statuses


@pytest.mark.django_db
def test_the_second_factor_enrolment_page_draws_its_qr_code_within_the_policy(
    client, platform_admin
):
    """The page with the QR code (inline SVG) is seen only before enrolment, so the walk above,
    past the second factor, does not see it."""
    client.force_login(platform_admin)
    response = client.get(reverse("second_factor_enrol"))
    body = response.content.decode()
    assert response.status_code == 200 and '<svg class="qr-code"' in body
    assert_strict(response)
    assert_private_no_store(response)
    assert not inline_code(body)


@pytest.mark.django_db
def test_the_fleet_export_is_private_no_store(client, tenant_a):
    make_payment_terminal(make_account(tenant_a.merchant), store=tenant_a.store, name="Export me")
    client.force_login(tenant_a.users[Role.MERCHANT_MANAGER])
    response = client.get(reverse("terminals:fleet"), {"format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "Export me" in b"".join(response.streaming_content).decode()
    assert_private_no_store(response)
    assert_strict(response)


@pytest.mark.django_db
def test_htmx_partials_and_polls_are_private_no_store(client, tenant_a, everything):
    objects, device = everything
    terminal = make_payment_terminal(make_account(tenant_a.merchant), store=tenant_a.store)
    payment = PaymentFactory(terminal=terminal, status="pending")
    client.force_login(tenant_a.users[Role.MERCHANT_MANAGER])
    htmx = {"HTTP_HX_REQUEST": "true"}
    poll = {**htmx, "HTTP_X_POLL": "1"}
    partials = [
        client.get(reverse("terminals:statuses"), {"id": terminal.pk}, **poll),
        client.get(reverse("terminals:sync"), **poll),
        client.get(reverse("home"), **poll),
        client.get(reverse("payments:status", kwargs={"uuid": payment.uuid}), **poll),
        client.get(reverse("sandbox:terminal_screen", kwargs={"pk": device.pk}), **poll),
        client.get(reverse("terminals:fleet"), {"q": "Lane"}, **htmx),
    ]
    for response in partials:
        assert response.status_code in (200, 286), response.status_code
        assert_private_no_store(response)
        assert_strict(response)
        assert not inline_code(response.content.decode())
    assert f'id="status-{terminal.pk}"' in partials[0].content.decode()


@pytest.mark.django_db
def test_refusals_and_redirects_carry_the_headers_too(client, tenant_a, tenant_b):
    anonymous = client.get(reverse("terminals:fleet"))
    assert anonymous.status_code == 302
    login_page = client.get(reverse("login"))
    client.force_login(tenant_a.users[Role.CASHIER])
    forbidden = client.get(reverse("dashboard:merchant_edit", kwargs={"pk": tenant_a.merchant.pk}))
    not_found = client.get(
        reverse("dashboard:merchant_detail", kwargs={"pk": tenant_b.merchant.pk})
    )
    assert (forbidden.status_code, not_found.status_code) == (403, 404)
    for response in (anonymous, login_page, forbidden, not_found):
        assert_strict(response)
        assert_private_no_store(response)
    assert not inline_code(forbidden.content.decode() + not_found.content.decode())


@pytest.mark.django_db
def test_a_csrf_failure_page_has_no_inline_style(tenant_a):
    """Django's built-in CSRF page carries a <style> the policy refuses; ours (403_csrf.html) not."""
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        reverse("login"), {"username": tenant_a.users[Role.CASHIER].email, "password": PASSWORD}
    )
    assert response.status_code == 403
    body = response.content.decode()
    assert "This form expired" in body
    assert not inline_code(body)
    assert_strict(response)
    assert_private_no_store(response)


@pytest.mark.django_db
def test_emulator_and_webhook_answers_carry_the_headers(client, tenant_a):
    emulator = client.get(reverse("sandbox:payroc_devices"))
    webhook = client.post(
        reverse(
            "webhooks:receive",
            kwargs={"provider": "komoju", "account_uuid": "00000000-0000-4000-8000-000000000000"},
        ),
        data=b"{}",
        content_type="application/json",
    )
    assert 400 <= emulator.status_code < 500 and 400 <= webhook.status_code < 500
    for response in (emulator, webhook):
        assert_strict(response)
        assert_private_no_store(response)


def test_static_files_carry_the_policy_and_stay_cacheable(client):
    response = client.get("/static/css/app.css")
    assert response.status_code == 200
    assert_strict(response)
    assert "no-store" not in response.headers.get("Cache-Control", "")


@pytest.mark.django_db
def test_a_page_that_uses_the_nonce_gets_it_in_its_policy(rf):
    """A script that must be inline carries `nonce="{{ request.csp_nonce }}"`; the header then
    names that nonce (and only then: pages without one carry none)."""
    from django.http import HttpResponse
    from django.template import engines

    from config.settings import MIDDLEWARE

    assert "csp.middleware.CSPMiddleware" in MIDDLEWARE
    from csp.middleware import CSPMiddleware

    template = engines["django"].from_string('<script nonce="{{ request.csp_nonce }}">1</script>')

    def view(request):
        return HttpResponse(template.render({}, request))

    request = rf.get("/")
    response = CSPMiddleware(view)(request)
    nonce = re.search(r'nonce="([^"]+)"', response.content.decode()).group(1)
    assert f"'nonce-{nonce}'" in policy(response)["script-src"]
    assert_strict(response)


def test_production_settings_keep_the_policy_and_the_cache_middleware():
    """config.production starts from config.settings: the same policy and middleware, no DEBUG
    exemption (django-csp leaves DEBUG's 404/500 pages without the header)."""
    import subprocess
    import sys

    from tests.dashboard.test_accounts import _production_env

    probe = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.DEBUG, 'csp.middleware.CSPMiddleware' in s.MIDDLEWARE, "
        "'dashboard.middleware.PrivateNoStoreMiddleware' in s.MIDDLEWARE, "
        "s.CONTENT_SECURITY_POLICY['DIRECTIVES']['style-src'])"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env=_production_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False True True [\"'self'\"]"

"""The second factor before any credentials page (dashboard/second_factor.py): platform and reseller
admins without a device are sent to enrolment, with one to the code page; enrolment shows a QR code
drawn here and the key, confirms with a code and shows recovery codes once; re-authentication
(password and code) guards what `reauthentication_required` decorates."""

import re
import time

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from dashboard.models import Role
from dashboard.second_factor import REAUTH_SESSION_KEY
from tests.factories import PASSWORD
from tests.second_factor import code_for, enrol, login_verified, next_code, verify_client
from tests.test_security_headers import inline_code

pytestmark = pytest.mark.django_db


def _walk(patterns, prefix="", namespace=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), f"{namespace}{entry.name}", entry


GUARDED = [
    (route, name, p)
    for route, name, p in _walk(get_resolver().url_patterns)
    if getattr(p.callback, "second_factor", False)
]


def test_every_credentials_page_is_behind_the_second_factor():
    credentials = [
        (route, name, p)
        for route, name, p in _walk(get_resolver().url_patterns)
        if name.startswith("credentials:")
    ]
    assert len(credentials) >= 4
    assert {name for _, name, _ in credentials} <= {name for _, name, _ in GUARDED}


def _url(name, pattern, account) -> str:
    return reverse(name, kwargs={k: account.pk for k in pattern.pattern.converters})


@pytest.fixture
def account(tenant_a):
    from tests.factories import make_account

    return make_account(tenant_a.merchant, "usaepay")


@pytest.mark.parametrize("who", ["platform admin", Role.RESELLER_ADMIN])
def test_an_admin_without_a_second_factor_is_sent_to_enrolment_from_every_credentials_page(
    client, tenant_a, platform_admin, account, who
):
    user = platform_admin if who == "platform admin" else tenant_a.users[who]
    client.force_login(user)
    for _route, name, pattern in GUARDED:
        url = _url(name, pattern, account)
        for method in ("get", "post"):
            response = getattr(client, method)(url)
            assert response.status_code == 302, (method, url, response.status_code)
            target = response["Location"]
            assert target.startswith(reverse("second_factor_enrol") + "?next="), target
            if method == "get":
                assert target.endswith(url.replace("/", "%2F")), target
    assert not TOTPDevice.objects.filter(user=user).exists()  # a visit stores nothing


def test_an_enrolled_admin_whose_session_has_not_passed_it_is_asked_for_a_code(
    client, platform_admin, account, settings
):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # the right code straight after a wrong one (see below)
    device = enrol(platform_admin)
    client.force_login(platform_admin)
    response = client.get("/credentials/")
    assert response.status_code == 302
    assert response["Location"] == reverse("second_factor_verify") + "?next=%2Fcredentials%2F"

    wrong = client.post(
        reverse("second_factor_verify"), {"code": "000000", "next": "/credentials/"}
    )
    assert wrong.status_code == 200 and "That code is not right" in wrong.content.decode()
    assert client.get("/credentials/").status_code == 302

    right = client.post(
        reverse("second_factor_verify"), {"code": code_for(device), "next": "/credentials/"}
    )
    assert right.status_code == 302 and right["Location"] == "/credentials/"
    assert client.get("/credentials/").status_code == 200


def test_wrong_codes_hold_the_next_try_back(client, platform_admin, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 600  # one wrong code holds the next for 10 minutes
    device = enrol(platform_admin)
    client.force_login(platform_admin)
    client.post(reverse("second_factor_verify"), {"code": "000000"})
    held = client.post(reverse("second_factor_verify"), {"code": code_for(device)})
    assert held.status_code == 200 and "Too many wrong codes" in held.content.decode()
    assert client.get("/credentials/").status_code == 302


def test_a_code_page_next_outside_the_site_goes_home(client, platform_admin):
    device = enrol(platform_admin)
    client.force_login(platform_admin)
    response = client.post(
        reverse("second_factor_verify"), {"code": code_for(device), "next": "https://evil.test/"}
    )
    assert response.status_code == 302 and response["Location"] == reverse("home")


@pytest.mark.parametrize("role", [Role.MERCHANT_MANAGER, Role.CASHIER])
def test_managers_and_cashiers_are_refused_not_sent_to_enrolment(client, tenant_a, account, role):
    client.force_login(tenant_a.users[role])
    for url in ("/credentials/", f"/credentials/{account.pk}/", "/credentials/audit/"):
        assert client.get(url).status_code == 403, url


def test_enrolment_shows_a_local_qr_code_and_the_key_then_recovery_codes_once(
    client, platform_admin
):
    client.force_login(platform_admin)
    first = client.get(reverse("second_factor_enrol"))
    body = first.content.decode()
    assert first.status_code == 200
    assert '<svg class="qr-code"' in body and "<path d=" in body
    assert not inline_code(body), "the QR code is drawn without a style attribute or a script"
    assert "http" not in body.split('<svg class="qr-code"')[1].split("</svg>")[0].replace(
        "http://www.w3.org/2000/svg", ""
    ), "the QR code links nothing"
    key = re.search(r'data-testid="totp-key">([A-Z2-7 ]+)<', body).group(1)
    # A reload shows the same key; nothing is stored before a code confirms it.
    assert key in client.get(reverse("second_factor_enrol")).content.decode()
    assert not TOTPDevice.objects.filter(user=platform_admin).exists()

    wrong = client.post(reverse("second_factor_enrol"), {"code": "123456"})
    assert "That code is not right" in wrong.content.decode()
    assert not TOTPDevice.objects.filter(user=platform_admin).exists()

    confirmed = client.post(
        reverse("second_factor_enrol"), {"code": code_for(key), "next": "/credentials/"}
    )
    page = confirmed.content.decode()
    codes = re.findall(r"<li><code>([a-z0-9]+)</code></li>", page)
    assert len(codes) == 10 and len(set(codes)) == 10
    device = TOTPDevice.objects.get(user=platform_admin)
    assert device.confirmed
    assert sorted(
        StaticToken.objects.filter(device__user=platform_admin).values_list("token", flat=True)
    ) == sorted(codes)
    assert client.get("/credentials/").status_code == 200  # this session passed it

    again = client.get(reverse("second_factor_enrol")).content.decode()
    assert not any(code in again for code in codes), "recovery codes are shown once"
    assert "Your authenticator app is set up" in again


def test_a_recovery_code_opens_a_session_once(platform_admin):
    device = enrol(platform_admin)
    recovery = StaticDevice.objects.create(user=platform_admin, name="Recovery codes")
    recovery.token_set.create(token="abcd2345")
    for attempt in (1, 2):
        client = Client()
        client.force_login(platform_admin)
        response = client.post(
            reverse("second_factor_verify"), {"code": "abcd 2345", "next": "/credentials/"}
        )
        if attempt == 1:
            assert response.status_code == 302 and response["Location"] == "/credentials/"
            assert client.get("/credentials/").status_code == 200
        else:
            assert response.status_code == 200, "a recovery code works once"
            assert client.get("/credentials/").status_code == 302
    assert device.user == platform_admin


# --- re-authentication ------------------------------------------------------------------------------


@pytest.mark.urls("tests.credentials.reauth_urls")
def test_reauthentication_asks_password_and_code_then_lets_the_view_run(client, platform_admin):
    device = login_verified(client, platform_admin)
    guarded = reverse("guarded_change")

    asked = client.post(guarded, HTTP_REFERER="http://testserver/credentials/")
    assert asked.status_code == 302
    assert asked["Location"] == (
        reverse("second_factor_reauthenticate") + "?next=%2Fcredentials%2F"
    ), "a POST comes back to the page its form was on"
    page = client.get(asked["Location"])
    assert page.status_code == 200 and "Confirm it is you" in page.content.decode()

    wrong_password = client.post(
        reverse("second_factor_reauthenticate"),
        {"password": "not-the-password", "code": code_for(device), "next": guarded},
    )
    assert "That is not your password." in wrong_password.content.decode()
    assert client.post(guarded).status_code == 302

    done = client.post(
        reverse("second_factor_reauthenticate"),
        {"password": PASSWORD, "code": next_code(device), "next": guarded},
    )
    assert done.status_code == 302 and done["Location"] == guarded
    ran = client.post(guarded)
    assert ran.status_code == 200 and ran.content == b"changed"


@pytest.mark.urls("tests.credentials.reauth_urls")
def test_a_reauthentication_older_than_the_window_is_asked_again(client, platform_admin, settings):
    settings.SECOND_FACTOR_REAUTH_MINUTES = 5
    login_verified(client, platform_admin, reauthenticated=True)
    guarded = reverse("guarded_change")
    assert client.post(guarded).status_code == 200

    session = client.session
    session[REAUTH_SESSION_KEY] = time.time() - 5 * 60 - 1
    session.save()
    again = client.post(guarded)
    assert again.status_code == 302
    assert again["Location"].startswith(reverse("second_factor_reauthenticate"))


@pytest.mark.urls("tests.credentials.reauth_urls")
def test_reauthentication_needs_a_verified_session_first(client, platform_admin):
    enrol(platform_admin)
    client.force_login(platform_admin)
    response = client.post(reverse("guarded_change"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("second_factor_verify"))


@pytest.mark.urls("tests.credentials.reauth_urls")
def test_a_reseller_admin_reauthenticates_like_a_platform_admin(client, tenant_a):
    user = tenant_a.users[Role.RESELLER_ADMIN]
    client.force_login(user)
    device = verify_client(client, user)
    response = client.post(reverse("guarded_change"))
    assert response.status_code == 302
    done = client.post(
        reverse("second_factor_reauthenticate"),
        {"password": PASSWORD, "code": next_code(device), "next": "/"},
    )
    assert done.status_code == 302
    assert client.post(reverse("guarded_change")).status_code == 200

"""The second factor in tests (dashboard/second_factor.py): platform and reseller admins need a
confirmed TOTP device and a verified session before any credentials page.

* `enrol(user)`: a confirmed TOTP device for `user` (idempotent), with a key the test knows.
* `code_for(device_or_key)`: the code an authenticator app shows now (django-otp's own `totp`).
* `verify_client(client, user)`: a logged-in Django test client whose session passed the second
  factor (what the code page does), optionally re-authenticated too (`reauthenticated=True`).
* `login_verified(client, user)`: `force_login` and `verify_client` in one.
* `pass_in_browser(page, user)`: a Playwright page logged in as `user` types a code on the code page.
* `enrol_in_browser(page)`: enrolment through the pages (the key read off the page), as a person.
* `enrol_over_http(client)`: an httpx client logged in to a running server (the demo) enrols
  through the enrolment page as a person does and returns the key, for further codes.
"""

from __future__ import annotations

import re
import time
from base64 import b32decode, b32encode
from html import unescape

from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from dashboard.second_factor import REAUTH_SESSION_KEY, TOTP_DEVICE_NAME

KEY_TESTID = re.compile(r'data-testid="totp-key">([A-Z2-7 ]+)<')


def enrol(user) -> TOTPDevice:
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    return device or TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=True)


def _key_bytes(device_or_key) -> bytes:
    if isinstance(device_or_key, TOTPDevice):
        return device_or_key.bin_key
    return b32decode("".join(device_or_key.split()).upper())


def code_for(device_or_key, *, at: float | None = None) -> str:
    """The 6-digit code for now (or the time `at`), as an app computes it (django-otp's `totp`,
    step 30 s, t0 0)."""
    key = _key_bytes(device_or_key)
    if at is None:
        return f"{totp(key, step=30, t0=0, digits=6, drift=0):06d}"
    return f"{totp(key, step=30, t0=int(time.time() - at), digits=6, drift=0):06d}"


def next_code(device_or_key) -> str:
    """The code of the next 30 s step: a device accepts one step ahead, and never a step it has
    already accepted, so a second code within the same step is this one.

    For a device, the next step by its own clock (now plus its drift), or the step after the last
    one it accepted if that is later: a code it took a step late (typed as its step ended, checked
    as the next began) set its drift one step back (django-otp's OTP_TOTP_SYNC), and then now +
    30 s is two steps ahead of the steps it accepts."""
    if isinstance(device_or_key, TOTPDevice):
        device = TOTPDevice.objects.get(pk=device_or_key.pk)
        now_step = int(time.time()) // 30 + device.drift
        step = max(device.last_t + 1, now_step + 1)
        return code_for(device, at=step * 30 + 15)
    return code_for(device_or_key, at=time.time() + 30)


def verify_client(client, user, *, reauthenticated: bool = False) -> TOTPDevice:
    device = enrol(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    if reauthenticated:
        session[REAUTH_SESSION_KEY] = time.time()
    session.save()
    return device


def login_verified(client, user, *, reauthenticated: bool = False) -> TOTPDevice:
    client.force_login(user)
    return verify_client(client, user, reauthenticated=reauthenticated)


def pass_in_browser(page, user) -> TOTPDevice:
    """On a page already logged in as `user`: enrol them (in the database) and type the code on the
    code page, as a person with the app does."""
    device = enrol(user)
    page.goto("/accounts/second-factor/code/")
    page.get_by_role("textbox", name="Code", exact=True).fill(code_for(device))
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(lambda url: "/second-factor/" not in url)
    return device


def enrol_in_browser(page) -> str:
    """On a page logged in as a platform or reseller admin: open the console, which sends the
    person to enrolment; read the key off the page as a person types it into an app, confirm with
    a code, keep the recovery codes. Returns the key (base32), for further codes."""
    page.goto("/credentials/")
    page.get_by_role("heading", name="Set up your second factor").wait_for()
    key = "".join(page.get_by_test_id("totp-key").inner_text().split())
    page.get_by_role("textbox", name="Code", exact=True).fill(code_for(key))
    page.get_by_role("button", name="Confirm").click()
    page.get_by_role("button", name="I have kept them: continue").click()
    page.wait_for_url("**/credentials/")
    return key


def enrol_over_http(client) -> str:
    """Through a running server's pages: read the key off the enrolment page, confirm with a code,
    and return the key in base32 (the session is verified from then on)."""
    page = client.get("/accounts/second-factor/")
    assert page.status_code == 200, page.text[:2000]
    found = KEY_TESTID.search(page.text)
    assert found, "the enrolment page shows the key in text"
    key = "".join(unescape(found.group(1)).split())
    confirmed = client.post(
        "/accounts/second-factor/",
        data={"csrfmiddlewaretoken": client.cookies["csrftoken"], "code": code_for(key)},
    )
    assert confirmed.status_code == 200 and 'data-testid="recovery-codes"' in confirmed.text, (
        confirmed.text[:2000]
    )
    return key


def key_of(device: TOTPDevice) -> str:
    return b32encode(device.bin_key).decode()

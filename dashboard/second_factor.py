"""The second factor (django-otp): TOTP for the people who hold the keys to merchants' credentials.

* **Who.** Platform admins and reseller admins (`needs_second_factor`) must have a confirmed TOTP
  device and a session that passed it (`request.user.is_verified()`, django-otp's OTPMiddleware)
  before any credentials page. A view asks for it with `@access(perm, second_factor=True)`
  (dashboard/access.py): a person without a device is sent to enrolment, one with a device to the
  code page, each with `?next=` back to the page they asked for. Other roles are not asked (the
  view's permission decides for them, 403 or 404 as before).
* **Enrolment** (`/accounts/second-factor/`): a QR code drawn here as inline SVG (`qr_svg`: no
  external service, no script, no style attribute, so the strict CSP holds) and the key in text for
  apps that cannot scan; a code from the app confirms the device, and the page then shows ten
  recovery codes once (a django-otp static device; each works once, in place of a code).
* **Re-authentication.** `reauthentication_required` is a view decorator for a rotation or a change
  of secrets: the person must have typed their password and a code (or a recovery code) within the
  last `SECOND_FACTOR_REAUTH_MINUTES` (5 by default) in this session, else they are sent to
  `/accounts/second-factor/reauthenticate/` and back. Put it *under* `@access(...,
  second_factor=True)`::

      @access("credentials.manage_accounts", obj=scoped(ProviderAccount, name="account"),
              second_factor=True)
      @reauthentication_required
      def account_rotate(request, account): ...

  A POST that arrives without a fresh re-authentication is not run: the person is sent to the
  re-authentication page and back to the page the form was on (its `next`, else the Referer of
  this site, else the form's own URL), and sends it again.
"""

from __future__ import annotations

import time
from functools import wraps
from urllib.parse import quote, urlencode

from django import forms
from django.conf import settings
from django.contrib.auth import authenticate
from django.db import transaction
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django_htmx.http import HttpResponseClientRedirect

from dashboard.access import access
from dashboard.models import Role, membership_of

REAUTH_SESSION_KEY = "second_factor_reauth_at"
RECOVERY_CODES = 10
TOTP_DEVICE_NAME = "Authenticator app"
RECOVERY_DEVICE_NAME = "Recovery codes"
ROLES_THAT_NEED_IT = (Role.PLATFORM_ADMIN, Role.RESELLER_ADMIN)


# --- who, and whether -----------------------------------------------------------------------------


def needs_second_factor(user) -> bool:
    membership = membership_of(user)
    return membership is not None and membership.role in ROLES_THAT_NEED_IT


def confirmed_totp(user):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    return TOTPDevice.objects.devices_for_user(user, confirmed=True).first()


def is_verified(request) -> bool:
    verified = getattr(request.user, "is_verified", None)
    return bool(verified and verified())


def _safe_next(request, candidate: str | None, default: str) -> str:
    if (
        candidate
        and candidate.startswith("/")
        and candidate.isprintable()
        and url_has_allowed_host_and_scheme(candidate, allowed_hosts={request.get_host()})
    ):
        return candidate
    return default


def _back_here(request) -> str:
    """Where to come back to after enrolment or a code: this page (a GET), or for a form sent
    without it the page it was on."""
    if request.method == "GET" and not getattr(request, "htmx", False):
        return request.get_full_path()
    if getattr(request, "htmx", False) and request.htmx.current_url_abs_path:
        return _safe_next(request, request.htmx.current_url_abs_path, request.path)
    referer = request.META.get("HTTP_REFERER", "")
    host = request.build_absolute_uri("/")
    if referer.startswith(host):
        return _safe_next(request, "/" + referer.removeprefix(host), request.path)
    return _safe_next(request, request.POST.get("next"), request.path)


def _send_to(request, url_name: str):
    url = f"{reverse(url_name)}?{urlencode({'next': _back_here(request)}, quote_via=quote)}"
    if getattr(request, "htmx", False):
        return HttpResponseClientRedirect(url)
    return redirect(url)


def second_factor_gate(request):
    """None when the request may go on; otherwise the redirect to enrolment or to the code page."""
    if not needs_second_factor(request.user) or is_verified(request):
        return None
    if confirmed_totp(request.user) is None:
        return _send_to(request, "second_factor_enrol")
    return _send_to(request, "second_factor_verify")


def reauthenticated_recently(request) -> bool:
    at = request.session.get(REAUTH_SESSION_KEY)
    window = settings.SECOND_FACTOR_REAUTH_MINUTES * 60
    return isinstance(at, (int, float)) and 0 <= time.time() - at <= window


def mark_reauthenticated(request) -> None:
    request.session[REAUTH_SESSION_KEY] = time.time()


def reauthentication_required(view):
    """The view runs only for a person who typed their password and a code in the last
    `SECOND_FACTOR_REAUTH_MINUTES` (and whose session passed the second factor); anyone else is
    sent to the re-authentication page with `?next=` back. Use it under `@access(...,
    second_factor=True)` (which has already checked the login and the person's scope)."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        gate = second_factor_gate(request)
        if gate is not None:
            return gate
        if confirmed_totp(request.user) is None:  # a role that is not asked still needs a device
            return _send_to(request, "second_factor_enrol")
        if not reauthenticated_recently(request):
            return _send_to(request, "second_factor_reauthenticate")
        return view(request, *args, **kwargs)

    wrapped.reauthentication_required = True
    return wrapped


# --- the QR code, drawn here ----------------------------------------------------------------------


def qr_svg(text: str, *, label: str) -> str:
    """`text` as a QR code in inline SVG: one path of unit squares on a white square (presentation
    attributes only: no `style`, so the CSP allows it). `label` names it for screen readers."""
    import qrcode
    from django.utils.html import escape

    code = qrcode.QRCode(border=4, error_correction=qrcode.constants.ERROR_CORRECT_M)
    code.add_data(text)
    code.make(fit=True)
    matrix = code.get_matrix()
    size = len(matrix)
    squares = "".join(
        f"M{x},{y}h1v1h-1z" for y, row in enumerate(matrix) for x, dark in enumerate(row) if dark
    )
    return mark_safe(
        f'<svg class="qr-code" viewBox="0 0 {size} {size}" role="img" aria-label="{escape(label)}" '
        f'xmlns="http://www.w3.org/2000/svg" shape-rendering="crispEdges">'
        f'<rect width="{size}" height="{size}" fill="#fff"/><path d="{squares}" fill="#000"/></svg>'
    )


def grouped_key(base32: str) -> str:
    return " ".join(base32[i : i + 4] for i in range(0, len(base32), 4))


# --- forms ----------------------------------------------------------------------------------------


def _clean_code(value: str) -> str:
    return "".join(value.split()).replace("-", "")


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code",
        max_length=20,
        help_text="The 6-digit code your authenticator app shows now, or one of your recovery codes.",
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "text", "autofocus": True}
        ),
    )
    next = forms.CharField(required=False, widget=forms.HiddenInput, max_length=2000)

    def __init__(self, *args, user, allow_recovery: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.allow_recovery = allow_recovery
        self.device = None
        if not allow_recovery:
            self.fields["code"].help_text = "The 6-digit code your authenticator app shows now."
            self.fields["code"].widget.attrs["inputmode"] = "numeric"

    def clean_code(self):
        code = _clean_code(self.cleaned_data["code"])
        if not code.isprintable() or not code.isascii():
            raise forms.ValidationError("That is not a code.")
        self.device = self.verify(code)
        return code

    def verify(self, code: str):
        from django_otp import devices_for_user
        from django_otp.plugins.otp_static.models import StaticDevice

        with transaction.atomic():
            for device in devices_for_user(self.user, confirmed=True, for_verify=True):
                if isinstance(device, StaticDevice) and not self.allow_recovery:
                    continue
                allowed, _ = device.verify_is_allowed()
                if not allowed:
                    raise forms.ValidationError(
                        "Too many wrong codes: wait a moment, then try the code your app shows now."
                    )
                if device.verify_token(code):
                    return device
        raise forms.ValidationError("That code is not right, or it has expired. Try the next one.")


class EnrolForm(CodeForm):
    """The first code, checked against the key kept in the session (nothing is stored until it is
    right, so a visit or a wrong code writes no row)."""

    def __init__(self, *args, key_hex: str, **kwargs):
        super().__init__(*args, allow_recovery=False, **kwargs)
        self.key_hex = key_hex
        self.t = None

    def verify(self, code: str):
        from django_otp.oath import TOTP

        if not code.isdigit() or len(code) != 6:
            raise forms.ValidationError("Type the 6 digits the app shows now.")
        totp = TOTP(bytes.fromhex(self.key_hex), step=30, t0=0, digits=6)
        if totp.verify(int(code), tolerance=1):
            self.t = totp.t()
            return None
        raise forms.ValidationError(
            "That code is not right: check the app's clock and type the code it shows now."
        )


class ReauthenticateForm(CodeForm):
    password = forms.CharField(
        label="Password",
        strip=False,
        max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "autofocus": True}),
    )
    field_order = ["password", "code", "next"]

    def __init__(self, *args, request, **kwargs):
        super().__init__(*args, user=request.user, **kwargs)
        self.request = request
        self.fields["code"].widget.attrs.pop("autofocus", None)

    def clean(self):
        cleaned = super().clean()
        password = cleaned.get("password")
        if password and (
            authenticate(self.request, username=self.user.email, password=password) != self.user
        ):
            self.add_error("password", "That is not your password.")
        return cleaned


# --- services -------------------------------------------------------------------------------------


PENDING_KEY_SESSION_KEY = "second_factor_pending_key"


def pending_key(request) -> str:
    """The key being enrolled (hex), kept in the session until a code confirms it, so a reload shows
    the same QR code and an abandoned enrolment leaves nothing behind."""
    from django_otp.util import random_hex

    key = request.session.get(PENDING_KEY_SESSION_KEY)
    if not (isinstance(key, str) and len(key) == 40):
        key = random_hex(20)
        request.session[PENDING_KEY_SESSION_KEY] = key
    return key


def unsaved_device(user, key_hex: str):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    return TOTPDevice(user=user, name=TOTP_DEVICE_NAME, key=key_hex, confirmed=False)


@transaction.atomic
def totp_confirm(request, *, key_hex: str, last_t: int) -> list[str]:
    """Store the confirmed device (its first code's step already used), mark this session
    verified, replace the recovery codes and return them: shown once."""
    from django_otp import login as otp_login
    from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
    from django_otp.plugins.otp_totp.models import TOTPDevice

    user = request.user
    TOTPDevice.objects.filter(user=user).delete()
    device = TOTPDevice.objects.create(
        user=user, name=TOTP_DEVICE_NAME, key=key_hex, confirmed=True, last_t=last_t
    )
    StaticDevice.objects.filter(user=user).delete()
    recovery = StaticDevice.objects.create(user=user, name=RECOVERY_DEVICE_NAME)
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
    StaticToken.objects.bulk_create([StaticToken(device=recovery, token=c) for c in codes])
    request.session.pop(PENDING_KEY_SESSION_KEY, None)
    otp_login(request, device)
    mark_reauthenticated(request)  # they have just proved both factors
    return codes


# --- views ----------------------------------------------------------------------------------------


def _next(request) -> str:
    return _safe_next(
        request, request.POST.get("next") or request.GET.get("next"), resolve_url("home")
    )


@access()
def enrol(request):
    """GET: the QR code and key of the pending device (or, once enrolled, that it is set up).
    POST: a code from the app confirms it; the answer shows the recovery codes once."""
    user = request.user
    if confirmed_totp(user) is not None:
        if not is_verified(request):
            return redirect(
                f"{reverse('second_factor_verify')}?{urlencode({'next': _next(request)})}"
            )
        return render(request, "dashboard/second_factor_enrolled.html", {"next": _next(request)})
    key_hex = pending_key(request)
    form = EnrolForm(
        request.POST or None, user=user, key_hex=key_hex, initial={"next": _next(request)}
    )
    if request.method == "POST" and form.is_valid():
        codes = totp_confirm(request, key_hex=key_hex, last_t=form.t)
        return render(
            request,
            "dashboard/second_factor_recovery_codes.html",
            {"codes": codes, "next": _next(request)},
        )
    from base64 import b32encode

    device = unsaved_device(user, key_hex)
    return render(
        request,
        "dashboard/second_factor_enrol.html",
        {
            "form": form,
            "qr": qr_svg(device.config_url, label="QR code of your authenticator key"),
            "key": grouped_key(b32encode(device.bin_key).decode()),
            "issuer": settings.OTP_TOTP_ISSUER,
        },
    )


@access()
def verify(request):
    """A code (or a recovery code) for this session."""
    from django_otp import login as otp_login

    user = request.user
    if confirmed_totp(user) is None:
        return redirect(f"{reverse('second_factor_enrol')}?{urlencode({'next': _next(request)})}")
    if is_verified(request):
        return redirect(_next(request))
    form = CodeForm(request.POST or None, user=user, initial={"next": _next(request)})
    if request.method == "POST" and form.is_valid():
        otp_login(request, form.device)
        return redirect(_next(request))
    return render(request, "dashboard/second_factor_verify.html", {"form": form})


@access()
def reauthenticate(request):
    """Password and a code again, before a rotation or a change of secrets."""
    from django_otp import login as otp_login

    user = request.user
    if confirmed_totp(user) is None:
        return redirect(f"{reverse('second_factor_enrol')}?{urlencode({'next': _next(request)})}")
    form = ReauthenticateForm(
        request.POST or None, request=request, initial={"next": _next(request)}
    )
    if request.method == "POST" and form.is_valid():
        otp_login(request, form.device)
        mark_reauthenticated(request)
        return redirect(_next(request))
    return render(
        request,
        "dashboard/second_factor_reauthenticate.html",
        {"form": form, "minutes": settings.SECOND_FACTOR_REAUTH_MINUTES},
    )

"""The virtual terminal pages: what the customer sees, and the switches a tester flips.

Public on purpose: the sandbox moves no real money, and in the demo a new user reaches it before
having an account. The wire APIs live in `sandbox/<provider>.py`.

A MobilePay "terminal" is a PoS: a QR code (and beacon) at the till that the customer scans with
the MobilePay app. Its screen here is what the customer's phone shows, and an approved payment
stays on it as Reserved until the POS captures or cancels it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from itertools import groupby

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django.views.decorators.http import require_GET, require_POST

from dashboard.access import public
from sandbox import scenarios, services, webhooks
from sandbox.emulators import EMULATORS, emulator_for
from sandbox.forms import DecideForm, DeviceSwitchesForm
from sandbox.models import (
    CanceledBy,
    PaymentStatus,
    SandboxDevice,
    SandboxPayment,
    SandboxPaymentKind,
)

PUBLIC = "the sandbox's virtual terminals move no real money"
RESULT_SCREEN_S = 30  # how long a decided payment stays on the terminal's screen
RECENT_PAYMENTS = 10
RECENT_RECEIPTS = 5
RECENT_DELIVERIES = 10


@dataclass
class Screen:
    """What the terminal's display shows."""

    tone: str  # idle, offline, waiting, reserved, approved, declined, canceled, timed_out, failed
    headline: str
    amount: str = ""
    detail: str = ""
    note: str = ""


def _screen(device: SandboxDevice, payment: SandboxPayment | None) -> Screen:
    now = timezone.now()
    if not device.online:
        note = (
            "A payment request is waiting for this terminal to connect."
            if payment and not payment.is_final
            else ""
        )
        return Screen(
            "offline", "Terminal offline", detail="No connection to the payment network.", note=note
        )
    in_app = emulator_for(device.account).pays_in_app
    if payment is None:
        detail = (
            "Busy with a transaction started elsewhere."
            if device.busy
            else "Start a payment from the dashboard; it appears here."
        )
        if in_app and device.customer_checked_in and not device.busy:
            detail = "A customer is checked in at this PoS. " + detail
        return Screen("idle", "Ready", detail=detail)
    if in_app and payment.status in (PaymentStatus.PENDING, PaymentStatus.APPROVED):
        return _mobilepay_screen(device, payment, now)
    if payment.status == PaymentStatus.PENDING:
        refund = payment.kind == SandboxPaymentKind.REFUND
        seconds_left = max(int((payment.timeout_at - now).total_seconds()), 0)
        if (
            payment.magic_outcome
            and payment.magic_outcome != scenarios.TIMEOUT
            and payment.outcome_at
        ):
            due = max((payment.outcome_at - now).total_seconds(), 0)
            action = scenarios.BUTTONS[payment.magic_outcome].lower()
            note = f"Magic amount: the customer will {action} in {due:.0f} s."
        elif payment.magic_outcome == scenarios.TIMEOUT:
            note = f"Magic amount: nobody presents a card; times out in {seconds_left} s."
        else:
            note = f"Choose what the customer does. Times out in {seconds_left} s."
        return Screen(
            "waiting",
            "Refund" if refund else payment.get_kind_display(),
            amount=payment.amount_display,
            detail="Tap, insert or swipe card to receive the refund"
            if refund
            else "Tap, insert or swipe card",
            note=note,
        )
    card = f"{payment.card_brand} •••• {payment.card_last4}" if payment.card_last4 else ""
    if payment.status == PaymentStatus.APPROVED:
        return Screen(
            "approved",
            "Approved",
            amount=payment.amount_display,
            detail=card,
            note=f"Auth code {payment.authcode}",
        )
    if payment.status == PaymentStatus.DECLINED:
        return Screen(
            "declined",
            "Declined",
            amount=payment.amount_display,
            detail=card,
            note="Please use another card.",
        )
    if payment.status == PaymentStatus.CANCELED:
        who = (
            "by the customer"
            if payment.canceled_by == CanceledBy.CUSTOMER
            else "by the point of sale"
        )
        return Screen(
            "canceled", "Canceled", amount=payment.amount_display, detail=f"Canceled {who}."
        )
    if payment.status == PaymentStatus.TIMED_OUT:
        return Screen(
            "timed_out",
            "Timed out",
            amount=payment.amount_display,
            detail="No card was presented in time.",
        )
    return Screen(
        "failed", "Terminal error", amount=payment.amount_display, detail=payment.error_message
    )


def _magic_note(payment: SandboxPayment, now) -> str:
    seconds_left = max(int((payment.timeout_at - now).total_seconds()), 0)
    if payment.magic_outcome and payment.magic_outcome != scenarios.TIMEOUT and payment.outcome_at:
        due = max((payment.outcome_at - now).total_seconds(), 0)
        action = scenarios.BUTTONS[payment.magic_outcome].lower()
        return f"Magic amount: the customer will {action} in {due:.0f} s."
    if payment.magic_outcome == scenarios.TIMEOUT:
        return f"Magic amount: nobody approves; times out in {seconds_left} s."
    return f"Choose what the customer does. Times out in {seconds_left} s."


def _mobilepay_screen(device: SandboxDevice, payment: SandboxPayment, now) -> Screen:
    """The customer's MobilePay app: waiting for a check-in or approval, or Reserved."""
    if payment.status == PaymentStatus.APPROVED:
        if payment.captured:
            return Screen(
                "approved", "Captured", amount=payment.amount_display, detail="Paid with MobilePay."
            )
        return Screen(
            "reserved",
            "Reserved",
            amount=payment.amount_display,
            detail="The customer approved in the MobilePay app.",
            note="Waiting for the point of sale to capture or cancel it.",
        )
    if payment.awaiting_amount:
        return Screen(
            "waiting",
            "MobilePay",
            detail="Checked in; waiting for the amount"
            if device.customer_checked_in
            else "Scan the QR code to check in",
            note="Prepared payment: the point of sale has not sent the amount yet. "
            + _magic_note(payment, now).split(". ", 1)[-1],
        )
    return Screen(
        "waiting",
        "MobilePay",
        amount=payment.amount_display,
        detail="Swipe to pay in the MobilePay app"
        if device.customer_checked_in
        else "Scan the QR code to pay",
        note=_magic_note(payment, now),
    )


def _on_screen(device: SandboxDevice) -> SandboxPayment | None:
    """The device's pending request, else (an in-app emulator: MobilePay) its Reserved payment,
    else the one decided in the last RESULT_SCREEN_S seconds."""
    active = services.device_active_payment(device=device)
    if active is not None:
        return active
    if emulator_for(device.account).pays_in_app:
        reserved = SandboxPayment.objects.reserved().filter(device=device).first()
        if reserved is not None:
            return reserved
    recent = timezone.now() - timedelta(seconds=RESULT_SCREEN_S)
    return (
        SandboxPayment.objects.filter(device=device, decided_at__gte=recent)
        .exclude(provider_ref="")
        .order_by("-decided_at", "-pk")
        .first()
    )


def _screen_context(device: SandboxDevice, *, oob: bool = False) -> dict:
    """The screen, its buttons and the recent requests (`oob`: also swap the table, out of band)."""
    webhooks.kick_if_due()
    device.refresh_from_db()
    payment = _on_screen(device)
    pending = payment if payment is not None and not payment.is_final else None
    buttons = list(scenarios.BUTTONS.items()) if pending is not None and device.online else []
    if pending is not None and pending.awaiting_amount:
        # Nobody can approve a prepared payment before it has its amount.
        buttons = [
            (outcome, label)
            for outcome, label in buttons
            if outcome not in (scenarios.APPROVE, scenarios.DECLINE)
        ]
    emulator = emulator_for(device.account)
    return {
        "device": device,
        "emulator": emulator,
        "screen": _screen(device, payment),
        "pending": pending,
        "buttons": buttons,
        "recent": SandboxPayment.objects.filter(device=device).order_by("-created_at", "-pk")[
            :RECENT_PAYMENTS
        ],
        "receipts": device.receipts.select_related("payment")[:RECENT_RECEIPTS]
        if emulator.prints_receipts
        else None,
        "deliveries": device.webhook_deliveries.all()[:RECENT_DELIVERIES]
        if emulator.webhook_signing is not None
        else None,
        "webhook_url": device.account.settings.get("webhook_url", ""),
        "oob": oob,
        "now": timezone.now(),
    }


def _device(pk: int) -> SandboxDevice:
    return get_object_or_404(SandboxDevice.objects.select_related("account"), pk=pk)


@public(PUBLIC)
@require_GET
def index(request):
    devices = list(
        SandboxDevice.objects.select_related("account").order_by(
            "account__provider", "account__label", "name", "ref"
        )
    )
    active = {
        payment.device_id
        for payment in SandboxPayment.objects.pending().filter(device__in=devices)
        if services.payment_refresh(payment=payment).status == PaymentStatus.PENDING
    }
    groups = []
    for provider, by_provider in groupby(devices, key=lambda device: device.account.provider):
        accounts = [
            (account, list(members))
            for account, members in groupby(by_provider, key=lambda device: device.account)
        ]
        groups.append(
            {"name": provider, "provider": EMULATORS[provider].label, "accounts": accounts}
        )
    root = request.build_absolute_uri("/").rstrip("/")
    endpoints = [
        (
            emulator.label,
            endpoint.setting,
            root + reverse(endpoint.url_name).removesuffix(endpoint.suffix),
        )
        for emulator in EMULATORS.values()
        for endpoint in emulator.endpoints
    ]
    return render(
        request,
        "sandbox/index.html",
        {
            "groups": groups,
            "active": active,
            "magic_amounts": [
                (f"{ending:02d}", magic) for ending, magic in scenarios.MAGIC_AMOUNTS.items()
            ],
            "endpoints": endpoints,
        },
    )


@public(PUBLIC)
@require_GET
def terminal(request, pk):
    device = _device(pk)
    context = _screen_context(device)
    context["switches"] = DeviceSwitchesForm(
        initial={
            "online": device.online,
            "busy": device.busy,
            "battery_low": device.battery_low,
            "latency_ms": device.latency_ms,
            "fail_next_5xx": device.fail_next_5xx,
            "lose_next_response": device.lose_next_response,
            "customer_checked_in": device.customer_checked_in,
            "webhook_duplicate": device.webhook_duplicate,
            "webhook_delay_s": device.webhook_delay_s,
            "webhook_hold_next": device.webhook_hold_next,
            "webhook_signature": device.webhook_signature,
        }
    )
    context["has_tokens"] = bool(context["emulator"].token_note)
    context["token_note"] = context["emulator"].token_note
    return render(request, "sandbox/terminal.html", context)


@public(PUBLIC)
@require_GET
def terminal_screen(request, pk):
    return render(request, "sandbox/_terminal_screen.html", _screen_context(_device(pk), oob=True))


@public(PUBLIC)
@require_POST
def terminal_decide(request, pk):
    device = _device(pk)
    form = DecideForm(request.POST)
    if form.is_valid():
        payment = SandboxPayment.objects.filter(
            device=device, pk=form.cleaned_data["payment"]
        ).first()
        if payment is None or not services.payment_decide(
            payment=payment, outcome=form.cleaned_data["outcome"]
        ):
            messages.warning(request, "That payment was already decided.")
    else:
        messages.error(request, "Choose what the customer does.")
    if request.htmx:
        return render(request, "sandbox/_terminal_screen.html", _screen_context(device, oob=True))
    return redirect("sandbox:terminal", pk=device.pk)


@public(PUBLIC)
@require_POST
def terminal_switches(request, pk):
    device = _device(pk)
    form = DeviceSwitchesForm(request.POST)
    if form.is_valid():
        services.device_set_switches(device=device, **form.cleaned_data)
        messages.success(request, "Switches saved.")
    else:
        errors = "; ".join(
            f"{form.fields[name].label}: {' '.join(errs)}" for name, errs in form.errors.items()
        )
        messages.error(request, f"Switches not saved. {errors}")
    return redirect("sandbox:terminal", pk=device.pk)


@public(PUBLIC)
@require_POST
def terminal_expire_tokens(request, pk):
    device = _device(pk)
    expired = services.account_expire_tokens(account=device.account)
    messages.success(
        request,
        f"Expired {expired} token{'s' if expired != 1 else ''} of {device.account.label}.",
    )
    return redirect("sandbox:terminal", pk=device.pk)


@public(PUBLIC)
@require_GET
def terminal_qr(request, pk):
    """The PoS's QR code image (Integra's `qrCodeLink`): a pattern drawn from the posId, not a
    scannable code; the sandbox's customer checks in with the switch on the terminal page."""
    device = _device(pk)
    seed = hashlib.sha256(f"{device.ref}:{device.serial}".encode()).digest()
    size = 21
    corners = ((0, 0), (0, size - 7), (size - 7, 0))  # the three finder squares

    def dark(row: int, col: int) -> bool:
        for top, left in corners:
            if top <= row < top + 7 and left <= col < left + 7:
                r, c = row - top, col - left
                ring = min(r, c, 6 - r, 6 - c)
                return ring != 1  # outer ring, white gap, 3x3 centre
        bit = row * size + col
        return bool(seed[bit // 8 % len(seed)] >> (bit % 8) & 1)

    cells = [
        f'<rect x="{col + 2}" y="{row + 2}" width="1" height="1"/>'
        for row in range(size)
        for col in range(size)
        if dark(row, col)
    ]
    caption = escape(f"MobilePay PoS {device.serial or '(none)'} · terminal {device.ref}")
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 25 28" width="250" height="280">'
        '<rect width="25" height="28" fill="#fff"/>'
        f'<g fill="#5a78ff">{"".join(cells)}</g>'
        f'<text x="12.5" y="26.5" font-size="1.2" text-anchor="middle" font-family="sans-serif">'
        f"{caption}</text></svg>"
    )
    return HttpResponse(svg, content_type="image/svg+xml")

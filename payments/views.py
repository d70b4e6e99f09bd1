"""The merchant's payment screens: New payment (terminals that can take one, the Charge form), the
payment page (status card, actions, timeline, receipt, related payments) and its status partial.
Views are thin: payments change only through payments.services / engine / actions."""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from dashboard.access import access, scoped
from dashboard.params import get_id
from payments import actions, engine
from payments.forms import ChargeForm, format_minor
from payments.models import Payment, PaymentStatus
from payments.services import PaymentError, payment_create
from providers.registry import capabilities_for
from terminals.models import Terminal

DUPLICATE_WINDOW = timedelta(minutes=10)
POLL_STOP = 286  # htmx stops polling on this status


def available_terminals(user):
    """Terminals in `user`'s scope that can take a payment now: active, online or status unknown,
    not occupied by an open payment."""
    occupied = Payment.objects.filter(occupies_terminal=True).values("terminal_id")
    return (
        Terminal.objects.for_user(user)
        .filter(is_active=True, status__in=["online", "unknown"])
        .exclude(pk__in=occupied)
        .select_related("store", "merchant")
        .order_by("merchant__name", "store__name", "name")
    )


def _terminal_problem(terminal) -> str | None:
    if not terminal.is_active:
        return "This terminal is no longer listed by its provider."
    if terminal.status not in ("online", "unknown"):
        return f"This terminal is {terminal.get_status_display().lower()}: it cannot take a payment now."
    if Payment.objects.filter(terminal=terminal, occupies_terminal=True).exists():
        return "This terminal is busy with another payment."
    return None


@access("payments.take_payment")
def new(request):
    user = request.user
    terminal_id = get_id(request.POST, "terminal") or get_id(request.GET, "terminal")
    if terminal_id is None:
        groups: dict = {}
        for t in available_terminals(user):
            groups.setdefault(
                (t.merchant.name, t.store.name if t.store else "No store"), []
            ).append(t)
        return render(request, "payments/new.html", {"groups": groups})
    terminal = (
        Terminal.objects.for_user(user)
        .filter(pk=terminal_id)
        .select_related("merchant", "store")
        .first()
    )
    if terminal is None:
        raise Http404("No terminal here.")
    currency = terminal.merchant.default_currency
    can_auth = capabilities_for(terminal.provider).needs_capture
    duplicate = None
    if request.method == "POST":
        form = ChargeForm(request.POST, currency=currency, can_auth=can_auth)
        if form.is_valid():
            token = form.cleaned_data["token"]
            existing = Payment.objects.for_user(user).filter(idempotency_key=token).first()
            if existing is not None:
                return redirect("payments:detail", existing.uuid)
            amount_minor = form.cleaned_data["amount"]
            problem = _terminal_problem(terminal)
            duplicate = (
                Payment.objects.filter(
                    terminal=terminal,
                    amount_minor=amount_minor,
                    status=PaymentStatus.APPROVED,
                    created_at__gte=timezone.now() - DUPLICATE_WINDOW,
                )
                .order_by("-created_at")
                .first()
            )
            if problem:
                form.add_error(None, problem)
            elif duplicate and not form.cleaned_data.get("confirm_duplicate"):
                form.ask_to_confirm_duplicate(
                    f"{format_minor(amount_minor, currency)} {currency} was approved on this terminal "
                    f"at {timezone.localtime(duplicate.created_at):%H:%M}. Tick “Charge again anyway” to charge it again.",
                )
            else:
                try:
                    with transaction.atomic():
                        payment = payment_create(
                            user=user,
                            terminal=terminal,
                            kind=form.cleaned_data.get("kind") or "sale",
                            amount_minor=amount_minor,
                            currency=currency,
                            reference=form.cleaned_data["reference"],
                            note=form.cleaned_data.get("note", ""),
                            idempotency_key=token,
                        )
                        if payment.status == PaymentStatus.CREATED:  # not a resubmitted form
                            engine.payment_start(payment=payment)
                except PaymentError as exc:
                    form.add_error(None, exc.message)
                else:
                    return redirect("payments:detail", payment.uuid)
    else:
        form = ChargeForm(currency=currency, can_auth=can_auth)
    return render(
        request,
        "payments/charge.html",
        {
            "form": form,
            "terminal": terminal,
            "currency": currency,
            "duplicate": duplicate,
            "problem": _terminal_problem(terminal) if request.method != "POST" else None,
        },
    )


def status_words(payment) -> str:
    """What is happening, in plain words, per state and per provider."""
    s = payment.status
    if s == PaymentStatus.CREATED:
        return "Sending to the terminal…"
    if s == PaymentStatus.PENDING:
        if payment.provider == "mobilepay":
            return "Waiting for the customer to approve in the MobilePay app"
        return "Waiting for the customer to tap, insert or swipe"
    if s in (PaymentStatus.APPROVED, PaymentStatus.AUTHORIZED):
        head = (
            "Approved" if s == PaymentStatus.APPROVED else "Authorised (capture to take the money)"
        )
        card = " ".join(
            x
            for x in [payment.card_brand, f"••••{payment.card_last4}" if payment.card_last4 else ""]
            if x
        )
        parts = [
            p
            for p in [card, f"authorisation {payment.auth_code}" if payment.auth_code else ""]
            if p
        ]
        return f"{head}: {', '.join(parts)}" if parts else head
    if s == PaymentStatus.DECLINED:
        return payment.message or "Declined by the card issuer"
    if s == PaymentStatus.CANCELED:
        return payment.message or "Cancelled on the terminal"
    if s == PaymentStatus.TIMED_OUT:
        return "Timed out: nobody presented a card"
    if s == PaymentStatus.FAILED:
        return f"Failed: {payment.message}" if payment.message else "Failed"
    return "Result unknown: we are checking with the provider. Do not charge again."


def _card_context(payment) -> dict:
    now = timezone.now()
    return {
        "payment": payment,
        "words": status_words(payment),
        "amount": format_minor(payment.amount_minor, payment.currency),
        "elapsed_s": int(((payment.finished_at or now) - payment.created_at).total_seconds()),
        "gives_up_s": int((payment.deadline_at - now).total_seconds())
        if payment.deadline_at
        and payment.status == PaymentStatus.PENDING
        and payment.deadline_at > now
        else None,
    }


@access("payments.view_payments", obj=scoped(Payment, url_kwarg="uuid", field="uuid"))
@require_GET
def status(request, payment):
    """The status card: one indexed read (the scoped look-up), never a provider call; 286 once final."""
    response = render(request, "payments/detail.html#status-card", _card_context(payment))
    if payment.is_final:
        response.status_code = POLL_STOP
    return response


@access("payments.view_payments", obj=scoped(Payment, url_kwarg="uuid", field="uuid"))
@require_GET
def detail(request, payment):
    user = request.user
    context = _card_context(payment)
    refund_reason = None
    if payment.kind == "sale" and payment.status == "approved":
        refund_reason = actions.refund_preflight(payment, user)
    context.update(
        {
            "events": payment.events.select_related("actor").order_by("created_at", "pk")
            if hasattr(payment, "events")
            else [],
            "related": Payment.objects.for_user(user).filter(parent=payment).order_by("created_at"),
            "parent": Payment.objects.for_user(user).filter(pk=payment.parent_id).first()
            if payment.parent_id
            else None,
            "can_abort": payment.status in ("created", "pending")
            and user.has_perm("payments.abort_payment", payment),
            "can_capture": payment.status == "authorized"
            and user.has_perm("payments.capture_payment", payment),
            "can_refund": payment.kind == "sale"
            and payment.status == "approved"
            and user.has_perm("payments.refund_payment", payment),
            "refund_reason": refund_reason,
            "refund_form": _refund_form(payment),
            "refundable": format_minor(payment.refundable_minor, payment.currency)
            if payment.kind == "sale"
            else "",
            "emv": {
                k: v
                for k, v in (payment.provider_data or {}).items()
                if k.lower().startswith(("emv", "aid", "tvr", "tsi", "application"))
            },
        }
    )
    return render(request, "payments/detail.html", context)


def _refund_form(payment):
    from payments.forms import RefundForm

    return RefundForm(
        initial={"amount": format_minor(payment.refundable_minor, payment.currency)},
        currency=payment.currency,
        refundable_minor=payment.refundable_minor,
    )


def _action(request, payment, perm: str, name: str, **kwargs):
    if not request.user.has_perm(perm, payment):
        raise PermissionDenied("Your role may not do this.")
    try:
        getattr(actions, name)(payment=payment, user=request.user, **kwargs)
    except PaymentError as exc:
        from django.contrib import messages

        messages.error(request, exc.message)
    return redirect("payments:detail", payment.uuid)


@access("payments.refund_payment", obj=scoped(Payment, url_kwarg="uuid", field="uuid"))
@require_POST
def refund(request, payment):
    """A refund of an approved sale, in full or in part, after the confirmation box."""
    from django.contrib import messages

    from payments.forms import RefundForm

    form = RefundForm(
        request.POST, currency=payment.currency, refundable_minor=payment.refundable_minor
    )
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect("payments:detail", payment.uuid)
    try:
        refund_payment = actions.payment_refund(
            sale=payment,
            user=request.user,
            amount_minor=form.cleaned_data["amount"],
            reason=form.cleaned_data.get("reason", ""),
        )
    except PaymentError as exc:
        messages.error(request, exc.message)
        return redirect("payments:detail", payment.uuid)
    return redirect("payments:detail", refund_payment.uuid)


@access("payments.abort_payment", obj=scoped(Payment, url_kwarg="uuid", field="uuid"))
@require_POST
def abort(request, payment):
    return _action(request, payment, "payments.abort_payment", "payment_abort")


@access("payments.capture_payment", obj=scoped(Payment, url_kwarg="uuid", field="uuid"))
@require_POST
def capture(request, payment):
    return _action(request, payment, "payments.capture_payment", "payment_capture")


@access("payments.capture_payment", obj=scoped(Payment, url_kwarg="uuid", field="uuid"))
@require_POST
def void(request, payment):
    return _action(request, payment, "payments.capture_payment", "payment_void")

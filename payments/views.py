"""The merchant's payment screens: New payment (terminals that can take one, the Charge form), the
payment page (status card, actions, timeline, receipt, related payments) and its status partial.
Views are thin: payments change only through payments.services / engine / actions."""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models.functions import Coalesce
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from dashboard.access import access, scoped
from dashboard.params import get_id
from payments import actions, engine
from payments.forms import ChargeForm, card_brand_display, format_minor
from payments.models import Payment, PaymentStatus
from payments.services import PaymentError, payment_create, payment_print_receipt
from providers.base import TRACKING_GRACE
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
            existing = _made_with(user, token)
            if existing is not None:
                return redirect("payments:detail", existing.uuid)
            amount_minor = form.cleaned_data["amount"]
            problem = _terminal_problem(terminal)
            if problem and (made := _made_with(user, token)) is not None:
                # The same form, posted twice at once: the other request made the payment that
                # now occupies the terminal after this one looked for it.
                return redirect("payments:detail", made.uuid)
            # Approved when it became final (finished_at), so a long wait on the terminal counts
            # from the approval, not from the moment the merchant pressed Charge.
            duplicate = (
                Payment.objects.annotate(approved_at=Coalesce("finished_at", "created_at"))
                .filter(
                    terminal=terminal,
                    amount_minor=amount_minor,
                    status=PaymentStatus.APPROVED,
                    approved_at__gte=timezone.now() - DUPLICATE_WINDOW,
                )
                .order_by("-approved_at")
                .first()
            )
            if problem:
                form.add_error(None, problem)
            elif duplicate and not form.cleaned_data.get("confirm_duplicate"):
                form.ask_to_confirm_duplicate(
                    f"{format_minor(amount_minor, currency)} {currency} was approved on this terminal "
                    f"at {timezone.localtime(duplicate.approved_at):%H:%M}. Tick “Charge again anyway” to charge it again.",
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


def _made_with(user, token) -> Payment | None:
    """The payment the Charge form with this one-time token already made, if any."""
    return Payment.objects.for_user(user).filter(idempotency_key=token).first()


def _duration(seconds: int) -> str:
    """12 → "12 s", 95 → "1 min 35 s", 3720 → "1 h 2 min"."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def status_words(payment) -> str:
    """What is happening, in plain words, per state and per provider."""
    s = payment.status
    if s == PaymentStatus.CREATED:
        return "Sending to the terminal…"
    if s == PaymentStatus.PENDING:
        if payment.kind == "refund" and payment.terminal_id is None:
            return f"Waiting for {payment.get_provider_display()} to confirm the refund"
        prompt = capabilities_for(payment.provider).customer_prompt
        return f"Waiting for the customer to {prompt}"
    if s in (PaymentStatus.APPROVED, PaymentStatus.AUTHORIZED):
        head = (
            "Approved" if s == PaymentStatus.APPROVED else "Authorised (capture to take the money)"
        )
        card = " ".join(
            x
            for x in [
                card_brand_display(payment.card_brand),
                f"••••{payment.card_last4}" if payment.card_last4 else "",
            ]
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


def status_hint(payment) -> str:
    """What to do next, where there is something to say."""
    s = payment.status
    refund = payment.kind == "refund"
    if s == PaymentStatus.CREATED:
        where = "the terminal" if payment.terminal_id else payment.get_provider_display()
        return f"It is saved; a worker is sending it to {where} now."
    if s == PaymentStatus.PENDING and payment.terminal_id:
        return "Keep this page open: it shows the result as soon as the terminal has it."
    if s == PaymentStatus.AUTHORIZED:
        return "No money has moved yet: capture it to take the money, or cancel the authorisation."
    if refund and s in (
        PaymentStatus.DECLINED,
        PaymentStatus.CANCELED,
        PaymentStatus.TIMED_OUT,
        PaymentStatus.FAILED,
    ):
        return "No money was refunded: the sale can still be refunded."
    if s in (PaymentStatus.DECLINED, PaymentStatus.CANCELED, PaymentStatus.TIMED_OUT):
        return "No money was taken. You can charge again."
    if s == PaymentStatus.FAILED:
        return "No money was taken, and the terminal is free again."
    if s == PaymentStatus.UNKNOWN:
        if payment.needs_attention and payment.attention_reason:
            return payment.attention_reason
        return (
            "The customer may have paid. The terminal stays locked until the provider tells us; "
            "this page updates by itself."
        )
    return ""


class AbortView:
    """How an abort the merchant asked for went, in plain words (None when no abort was asked)."""

    REQUESTED = "requested"  # sent to a worker; the provider has not answered yet
    ABORTED = "aborted"
    TOO_LATE = "too_late"  # the payment went through
    UNREACHABLE = "unreachable"  # the abort may not have reached the terminal; still tracking
    REFUSED = "refused"  # the provider refused, the payment still runs; still tracking

    WORDS = {
        REQUESTED: ("Aborting…", "Asking the terminal to cancel the payment."),
        ABORTED: ("Aborted", "The payment was cancelled on the terminal. No money was taken."),
        TOO_LATE: (
            "Too late to abort: the payment went through",
            "The customer paid before the abort reached the terminal. Refund it if it should "
            "not stand.",
        ),
        UNREACHABLE: (
            "The abort could not reach the terminal",
            "Press Cancel on the terminal itself. We keep following the payment and show its "
            "result here.",
        ),
        REFUSED: (
            "The provider refused the abort",
            "Check the terminal and cancel the payment there if it is still running. We keep "
            "following the payment and show its result here.",
        ),
    }

    def __init__(self, outcome: str, detail: str = ""):
        self.outcome = outcome
        self.headline, self.text = self.WORDS[outcome]
        if detail:
            self.text = detail


def abort_view(payment) -> AbortView | None:
    """The abort's outcome from the payment's status and its latest abort note (`abort_step`, read
    with the payment by `Payment.objects.with_abort_step()`)."""
    step = getattr(payment, "abort_step", None)
    if not step:
        return None
    s = payment.status
    if s == PaymentStatus.UNKNOWN:  # nobody can tell yet whether the abort reached the terminal
        return AbortView(AbortView.UNREACHABLE)
    if s in (PaymentStatus.CREATED, PaymentStatus.PENDING):
        if step == "abort_unreachable":
            return AbortView(AbortView.UNREACHABLE)
        if step == "abort_refused":
            return AbortView(AbortView.REFUSED)
        return AbortView(AbortView.REQUESTED)
    if s == PaymentStatus.APPROVED:
        return AbortView(AbortView.TOO_LATE)
    if s == PaymentStatus.AUTHORIZED:
        return AbortView(
            AbortView.TOO_LATE,
            "The card was authorised before the abort reached the terminal. Cancel the "
            "authorisation if it should not stand.",
        )
    if s in (PaymentStatus.CANCELED, PaymentStatus.FAILED):
        return AbortView(AbortView.ABORTED)
    return None  # declined or timed out meanwhile: its own words say no money moved


def _one_click_refund(payment, user, abort) -> dict | None:
    """After "too late to abort": a refund of everything captured in one click, where allowed."""
    if not (
        abort
        and abort.outcome == AbortView.TOO_LATE
        and payment.status == PaymentStatus.APPROVED
        and payment.kind == "sale"
    ):
        return None
    if not user.has_perm("payments.refund_payment", payment):
        return {"reason": "Ask a manager to refund it: your role may not refund payments."}
    if reason := actions.refund_preflight(payment, user):
        return {"reason": reason}
    capabilities = capabilities_for(payment.provider)
    on_terminal = capabilities.refund_mode == "device" or capabilities.refund_on_original_terminal
    return {
        "amount": format_minor(payment.refundable_minor, payment.currency),
        "where": (
            f"The refund runs on {payment.terminal.name}, the terminal the sale was taken on: "
            "the customer presents the card there."
            if on_terminal and payment.terminal
            else "The money goes back to the customer's card; no terminal is needed."
        ),
    }


def _card_context(payment, user) -> dict:
    now = timezone.now()
    gives_up = None
    if payment.status == PaymentStatus.PENDING and payment.deadline_at and payment.terminal_id:
        # The deadline is the terminal's own timeout plus our grace: the terminal gives up first.
        left = (payment.deadline_at - TRACKING_GRACE - now).total_seconds()
        gives_up = (
            f"the terminal gives up in {_duration(left)}"
            if left > 0
            else "the terminal's time is up: waiting for its last word"
        )
    abort = abort_view(payment)
    context = {
        "payment": payment,
        "words": status_words(payment),
        # A final payment after an abort: the abort's own words say what happened to the money.
        "hint": "" if abort and payment.is_final else status_hint(payment),
        "abort": abort,
        "amount": format_minor(payment.amount_minor, payment.currency),
        "elapsed": _duration(((payment.finished_at or now) - payment.created_at).total_seconds()),
        "gives_up": gives_up,
    }
    if payment.is_final:  # once, on the last answer: nothing more is read while it polls
        context["one_click_refund"] = _one_click_refund(payment, user, abort)
    return context


def _with_abort_step(queryset):
    return queryset.with_abort_step()


@access(
    "payments.view_payments",
    obj=scoped(Payment, url_kwarg="uuid", field="uuid", refine=_with_abort_step),
)
@require_GET
def status(request, payment):
    """The status card: one indexed read (the scoped look-up, with its abort note), never a provider
    call; 286 once final."""
    response = render(
        request, "payments/detail.html#status-card", _card_context(payment, request.user)
    )
    if payment.is_final:
        response.status_code = POLL_STOP
    if request.GET.get("shown", payment.status) != payment.status:
        # The rest of the page (Abort while open, Capture once authorised, Refund once approved,
        # the receipt and the timeline) follows the card: it reloads itself in place on this event.
        response["HX-Trigger"] = "payment-changed"
    return response


RECEIPT_ACTIONS = ("receipt_print_requested", "receipt_printed", "receipt_print_failed")


def _page_context(payment, user) -> dict:
    """Everything below the status card: actions, receipt, related payments."""
    refund_reason = None
    if payment.kind == "sale" and payment.status == "approved":
        refund_reason = actions.refund_preflight(payment, user)
    capabilities = capabilities_for(payment.provider)
    receipt = (payment.provider_data or {}).get("receipt") or {}
    return {
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
        "receipt_fields": [
            (RECEIPT_LABELS.get(key, key.replace("_", " ").capitalize()), value)
            for key, value in receipt.items()
            if key not in ("brand", "last4")  # shown on the Card line
        ],
        "can_print": capabilities.can_print_receipt
        and payment.terminal_id is not None
        and payment.kind in ("sale", "auth")
        and payment.status in ("approved", "authorized")
        and user.has_perm("payments.take_payment", payment),
    }


# How the receipt names the fields a provider reports (KOMOJU's EMV data).
RECEIPT_LABELS = {
    "aid": "AID",
    "application_label": "Application",
    "entry_method": "Entry method",
    "cardholder_verification": "Cardholder verification",
    "cryptogram_type": "Cryptogram",
    "atc": "Transaction counter (ATC)",
    "terminal_sequence": "Terminal sequence",
    "captured_at": "Captured at",
}


@access(
    "payments.view_payments",
    obj=scoped(
        Payment,
        url_kwarg="uuid",
        field="uuid",
        refine=_with_abort_step,
        related=("merchant", "terminal"),
    ),
)
@require_GET
def detail(request, payment):
    user = request.user
    context = _card_context(payment, user)
    context.update(_page_context(payment, user))
    events = list(payment.events.select_related("actor").order_by("created_at", "pk"))
    prints = [e for e in events if e.action in RECEIPT_ACTIONS]
    context.update(
        {
            "events": events,
            "last_print": prints[-1] if prints else None,
            "related": Payment.objects.for_user(user).filter(parent=payment).order_by("created_at"),
            "parent": Payment.objects.for_user(user).filter(pk=payment.parent_id).first()
            if payment.parent_id
            else None,
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


@access("payments.take_payment", obj=scoped(Payment, url_kwarg="uuid", field="uuid"))
@require_POST
def print_receipt(request, payment):
    """Ask the payment's terminal to print its receipt (where the provider can: KOMOJU)."""
    from django.contrib import messages

    try:
        payment_print_receipt(payment=payment, user=request.user)
    except PaymentError as exc:
        messages.error(request, exc.message)
    else:
        messages.info(
            request,
            f"Asked {payment.terminal.name} to print the receipt. The page shows whether it "
            "printed once you reload it.",
        )
    return redirect("payments:detail", payment.uuid)

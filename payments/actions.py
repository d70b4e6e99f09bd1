"""What a merchant does to a payment after starting it: abort, capture, cancel an authorisation, refund.

Each action has two halves. The request half (`payment_abort`, `payment_capture`, `payment_void`,
`payment_refund`) checks the role and the state, records the user's action on the payment's timeline
(`payment_note`) and schedules the worker half (`payments.tasks.abort_payment`, `capture_payment`,
`void_payment`, `refund_payment`) after commit. The worker half (`*_execute`) makes the provider call
— never in a web request, never under a row lock or inside a transaction — and records the outcome
with exactly one `payment_transition` (or, when the outcome is unclear, a note and a tracking read).

Why a worker: a provider call can take seconds (a long-polling provider, a slow terminal, a retry
after a 429); a request that waits on it blocks a web process and must spend the same per-credential
rate budget the trackers spend. The page's status partial already polls the payment, so the outcome
(an event and `message` on the payment) shows there within one poll, in plain words.
"""

from __future__ import annotations

import enum
import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone

from payments.models import EventSource, Payment, PaymentKind, PaymentStatus
from payments.services import (
    InvalidPayment,
    payment_create,
    payment_metadata,
    payment_task_schedule,
)
from payments.state import payment_note, payment_transition
from providers.base import PaymentState, RefundRequest
from providers.errors import NotAbortable, OutcomeUnknown, ProviderError, UnsupportedOperation
from providers.registry import capabilities_for

S = PaymentStatus

# Refunds that still count against what is left to refund: everything but a refund that ended
# without moving money.
_REFUND_DEAD = (S.DECLINED, S.CANCELED, S.TIMED_OUT, S.FAILED)

logger = logging.getLogger(__name__)

# An abort asked for while the start is on its way waits for the provider to have the payment: the
# start's own lease (120 s) and the look for a start whose answer was lost (90 s), then some.
ABORT_WAITS_FOR_START_S = 240
ABORT_RETRY_S = 1.0
# The payload key of a lost capture's event: the amount we asked to capture.
CAPTURE_ASKED = "capture_asked_minor"


class AbortOutcome(enum.StrEnum):
    REQUESTED = "requested"  # scheduled; the worker decides
    ABORTED = "aborted"  # canceled
    TOO_LATE = "too_late"  # it went through: approved; offer a refund
    UNREACHABLE = "unreachable"  # the abort may not have reached the terminal; still tracking
    NOT_OPEN = "not_open"  # already final: nothing to abort


@dataclass(frozen=True)
class AbortResult:
    outcome: AbortOutcome
    message: str
    offer_refund: bool = False


def _provider(payment: Payment):
    from credentials.services import provider_for

    return provider_for(payment.account)


def _spend_budget(payment: Payment) -> None:
    """A person's action counts against the credential's rate budget (credentials/budget.py).

    Trackers may spend only `TRACKING_SHARE` of the budget, so the rest is there for actions: an
    abort or a refund is taken from the whole budget and sent even when the window is full (an
    abort that waits is an abort too late); the overrun is logged."""
    from credentials import budget

    per_minute = capabilities_for(payment.provider).requests_per_minute
    wait = budget.budget_take(
        payment.account_id, limit=per_minute or budget.UNDOCUMENTED_PER_MINUTE
    )
    if wait:
        logger.warning(
            "rate budget of account %s is full; sending the action anyway", payment.account_id
        )


def _track_soon(payment_id: int, reason: str) -> None:
    from payments import engine

    engine.payment_track_soon(payment_id=payment_id, reason=reason)


def _derived_key(payment: Payment, purpose: str) -> str:
    return str(uuid.uuid5(payment.idempotency_key, purpose))


# --- Abort -----------------------------------------------------------------------------------


def payment_abort(*, payment: Payment, user) -> AbortResult:
    """Ask to abort `payment`. A payment not yet sent (created) is failed here with no provider call;
    a pending one gets its abort scheduled in a worker (`payment_abort_execute`)."""
    if not user.has_perm("payments.abort_payment"):
        raise PermissionDenied("You may not abort payments.")
    payment = Payment.objects.for_user(user).get(pk=payment.pk)
    if payment.status == S.CREATED and _claim_unsent(payment):
        message = "Canceled before it was sent to the terminal."
        if payment_transition(
            payment_id=payment.pk,
            to=S.FAILED,
            allowed_from=[S.CREATED],
            source=EventSource.USER,
            actor=user,
            detail=message,
            message=message,
        ):
            payment_note(  # the payment page reads how an abort went from its abort notes
                payment_id=payment.pk, action="abort_requested", source=EventSource.USER, actor=user
            )
            return AbortResult(AbortOutcome.ABORTED, message)
    payment.refresh_from_db()
    if payment.status not in (S.CREATED, S.PENDING, S.UNKNOWN):
        return AbortResult(AbortOutcome.NOT_OPEN, f"The payment is already {payment.status}.")
    if not capabilities_for(payment.provider).can_abort:
        raise InvalidPayment("This provider cannot abort a payment; cancel it on the terminal.")
    with transaction.atomic():
        payment_note(
            payment_id=payment.pk, action="abort_requested", source=EventSource.USER, actor=user
        )
        payment_task_schedule("abort_payment", payment_id=payment.pk)
    return AbortResult(AbortOutcome.REQUESTED, "Aborting…")


def _claim_unsent(payment: Payment) -> bool:
    """Claim a `created` payment no start worker has claimed (nothing was sent to the provider), so
    that none can claim it now: True when it may be failed with no provider call. A start that was
    claimed may be on the wire already; its payment is aborted once the provider has it."""
    return bool(
        Payment.objects.filter(pk=payment.pk, status=S.CREATED, lease_until__isnull=True).update(
            lease_owner="abort", lease_until=timezone.now() + timedelta(seconds=120)
        )
    )


def payment_abort_execute(*, payment_id: int) -> AbortResult:
    """The worker half of an abort: one provider call, then one of three outcomes on the payment.

    An abort asked for while the start is still on its way (created, or unknown with no provider
    reference yet) waits for the provider to have the payment, then aborts it; a start that never
    shows within `ABORT_WAITS_FOR_START_S` leaves the merchant told to cancel on the terminal."""
    payment = Payment.objects.select_related("account").get(pk=payment_id)
    if payment.status == S.CREATED or (payment.status == S.UNKNOWN and not payment.provider_ref):
        return _abort_waits_for_start(payment)
    if payment.status not in (S.PENDING, S.UNKNOWN) or not payment.provider_ref:
        return AbortResult(AbortOutcome.NOT_OPEN, f"The payment is already {payment.status}.")
    provider = _provider(payment)
    kind = PaymentKind(payment.kind)
    try:
        _spend_budget(payment)
        note = provider.abort_payment(payment.provider_ref, kind=kind)
    except NotAbortable as exc:
        return _abort_too_late(payment, provider, kind, str(exc))
    except (OutcomeUnknown, ProviderError) as exc:
        return _abort_unreachable(payment, str(exc))
    finally:
        provider.close()
    message = (note or "Aborted.")[:300]
    payment_transition(
        payment_id=payment.pk,
        to=S.CANCELED,
        allowed_from=[S.PENDING, S.UNKNOWN],
        source=EventSource.WORKER,
        provider_status="aborted",
        detail=message,
        message=message,
    )
    return AbortResult(AbortOutcome.ABORTED, message)


def _abort_waits_for_start(payment: Payment) -> AbortResult:
    age = (timezone.now() - payment.created_at).total_seconds()
    if age >= ABORT_WAITS_FOR_START_S:
        message = (
            "The abort could not be sent: the provider has not confirmed the start yet. Cancel "
            "the payment on the terminal; we keep checking with the provider."
        )
        Payment.objects.filter(pk=payment.pk, status__in=[S.CREATED, S.UNKNOWN]).update(
            message=message
        )
        payment_note(
            payment_id=payment.pk,
            action="abort_unreachable",
            source=EventSource.WORKER,
            detail=message,
        )
        return AbortResult(AbortOutcome.UNREACHABLE, message)
    payment_task_schedule("abort_payment", countdown=ABORT_RETRY_S, payment_id=payment.pk)
    return AbortResult(AbortOutcome.REQUESTED, "Aborting once the terminal has the payment…")


def _abort_too_late(payment: Payment, provider, kind, detail: str) -> AbortResult:
    try:
        result = provider.get_payment(payment.provider_ref, kind=kind)
    except ProviderError as exc:
        return _abort_unreachable(payment, str(exc))
    if result.state == PaymentState.APPROVED:
        message = "Too late to abort: the payment went through. Refund it if needed."
        payment_transition(
            payment_id=payment.pk,
            to=S.APPROVED,
            allowed_from=[S.PENDING, S.UNKNOWN, S.AUTHORIZED],
            source=EventSource.WORKER,
            provider_status=result.raw_status,
            detail=message,
            message=message,
            transaction_ref=result.transaction_ref or "",
            captured_minor=result.amount_minor or payment.amount_minor,
            card_brand=result.card_brand or "",
            auth_code=result.auth_code or "",
        )
        return AbortResult(AbortOutcome.TOO_LATE, message, offer_refund=True)
    # Refused, yet not approved: not too late, the abort did not stop it. The provider's words
    # say why (KOMOJU: a session never pushed to the terminal it would not cancel).
    message = f"The abort was refused: {detail} The payment is {result.state}; we keep watching it."
    Payment.objects.filter(pk=payment.pk, status__in=[S.PENDING, S.UNKNOWN]).update(
        message=message[:300]
    )
    payment_note(
        payment_id=payment.pk, action="abort_refused", source=EventSource.WORKER, detail=message
    )
    _track_soon(payment.pk, "abort")
    return AbortResult(AbortOutcome.UNREACHABLE, message, offer_refund=False)


def _abort_unreachable(payment: Payment, detail: str) -> AbortResult:
    message = (
        "The abort may not have reached the terminal. Cancel the payment on the terminal; "
        "we keep watching it."
    )
    Payment.objects.filter(pk=payment.pk, status__in=[S.PENDING, S.UNKNOWN]).update(message=message)
    payment_note(
        payment_id=payment.pk,
        action="abort_unreachable",
        source=EventSource.WORKER,
        detail=f"{message} ({detail})",
    )
    _track_soon(payment.pk, "abort")
    return AbortResult(AbortOutcome.UNREACHABLE, message)


# --- Capture and void --------------------------------------------------------------------------


def capture_preflight(payment: Payment, user, amount_minor: int | None = None) -> str | None:
    """Why `payment` cannot be captured now, in plain words; None when it can."""
    if not user.has_perm("payments.capture_payment"):
        return "Your role may not capture payments."
    capabilities = capabilities_for(payment.provider)
    if not capabilities.needs_capture:
        return "This provider takes no authorisations to capture."
    if payment.status != S.AUTHORIZED:
        return f"Only an authorised payment can be captured; this one is {payment.status}."
    if amount_minor is not None:
        if amount_minor <= 0 or amount_minor > payment.amount_minor:
            return "The amount to capture must be above zero and at most the authorised amount."
        if amount_minor != payment.amount_minor and not capabilities.partial_capture:
            return "This provider captures only the full authorised amount."
    return None


def payment_capture(*, payment: Payment, user, amount_minor: int | None = None) -> Payment:
    if not user.has_perm("payments.capture_payment"):
        raise PermissionDenied("You may not capture payments.")
    payment = Payment.objects.for_user(user).get(pk=payment.pk)
    if reason := capture_preflight(payment, user, amount_minor):
        raise InvalidPayment(reason)
    with transaction.atomic():
        payment_note(
            payment_id=payment.pk,
            action="capture_requested",
            source=EventSource.USER,
            actor=user,
            payload={"amount_minor": amount_minor or payment.amount_minor},
        )
        payment_task_schedule("capture_payment", payment_id=payment.pk, amount_minor=amount_minor)
    return payment


def payment_capture_execute(*, payment_id: int, amount_minor: int | None = None) -> bool:
    payment = Payment.objects.select_related("account").get(pk=payment_id)
    if payment.status != S.AUTHORIZED:
        return False
    provider = _provider(payment)
    try:
        _spend_budget(payment)
        result = provider.capture(
            payment.transaction_ref or payment.provider_ref,
            idempotency_key=_derived_key(payment, "capture"),
            amount_minor=amount_minor,
            currency=payment.currency,
        )
    except OutcomeUnknown as exc:
        # It may have been captured: unknown until the provider says (a read now, then the
        # reconciler), never captured a second time. The amount asked is kept on the event: the
        # provider's read of a captured authorisation need not say how much was captured.
        payment_transition(
            payment_id=payment.pk,
            to=S.UNKNOWN,
            allowed_from=[S.AUTHORIZED],
            source=EventSource.WORKER,
            detail=f"The capture's answer was lost; checking with the provider. ({exc})",
            payload={CAPTURE_ASKED: amount_minor or payment.amount_minor},
            message=(
                "Result unknown: we are checking with the provider whether it was captured. "
                "Do not capture it again."
            ),
            lease_owner="",
            lease_until=None,
        )
        _track_soon(payment.pk, "capture")
        return False
    except ProviderError as exc:
        payment_note(
            payment_id=payment.pk,
            action="capture_failed",
            source=EventSource.WORKER,
            detail=f"The capture failed: {exc}",
        )
        return False
    finally:
        provider.close()
    if result.state != PaymentState.APPROVED:
        payment_note(
            payment_id=payment.pk,
            action="capture_failed",
            source=EventSource.WORKER,
            provider_status=result.raw_status,
            detail=result.message or f"The provider answered {result.state}.",
        )
        return False
    captured = amount_minor or result.amount_minor or payment.amount_minor
    return payment_transition(
        payment_id=payment.pk,
        to=S.APPROVED,
        allowed_from=[S.AUTHORIZED],
        source=EventSource.WORKER,
        provider_status=result.raw_status,
        detail="Captured.",
        message="Captured.",
        captured_minor=captured,
    )


def payment_void(*, payment: Payment, user) -> Payment:
    """Cancel an authorisation (nothing was captured)."""
    if not user.has_perm("payments.capture_payment"):
        raise PermissionDenied("You may not cancel authorisations.")
    payment = Payment.objects.for_user(user).get(pk=payment.pk)
    if payment.status != S.AUTHORIZED:
        raise InvalidPayment(
            f"Only an authorisation can be canceled; this one is {payment.status}."
        )
    with transaction.atomic():
        payment_note(
            payment_id=payment.pk, action="void_requested", source=EventSource.USER, actor=user
        )
        payment_task_schedule("void_payment", payment_id=payment.pk)
    return payment


def payment_void_execute(*, payment_id: int) -> bool:
    payment = Payment.objects.select_related("account").get(pk=payment_id)
    if payment.status != S.AUTHORIZED:
        return False
    provider = _provider(payment)
    try:
        _spend_budget(payment)
        provider.abort_payment(payment.provider_ref, kind=PaymentKind(payment.kind))
    except OutcomeUnknown:
        _track_soon(payment.pk, "void")
        return False
    except ProviderError as exc:
        payment_note(
            payment_id=payment.pk,
            action="void_failed",
            source=EventSource.WORKER,
            detail=f"The authorisation could not be canceled: {exc}",
        )
        return False
    finally:
        provider.close()
    return payment_transition(
        payment_id=payment.pk,
        to=S.CANCELED,
        allowed_from=[S.AUTHORIZED],
        source=EventSource.WORKER,
        detail="Authorisation canceled.",
        message="Authorisation canceled.",
    )


# --- Refund ------------------------------------------------------------------------------------


def _refunds_counted(sale: Payment) -> int:
    """What is already refunded or on its way: settled plus refunds still running."""
    running = (
        Payment.objects.filter(parent=sale, kind=PaymentKind.REFUND)
        .exclude(status__in=[*_REFUND_DEAD, S.APPROVED])
        .aggregate(total=Sum("amount_minor"))["total"]
        or 0
    )
    return sale.refunded_minor + running


def refund_preflight(sale: Payment, user, amount_minor: int | None = None) -> str | None:
    """Why `sale` cannot be refunded now, in plain words; None when it can."""
    if not user.has_perm("payments.refund_payment"):
        return "Your role may not refund payments."
    if sale.kind == PaymentKind.REFUND:
        return "A refund cannot be refunded."
    if sale.status != S.APPROVED:
        return f"Only an approved payment can be refunded; this one is {sale.status}."
    left = sale.captured_minor - _refunds_counted(sale)
    if left <= 0:
        return "Nothing is left to refund."
    if amount_minor is not None and not 0 < amount_minor <= left:
        return f"At most {left} (minor units) is left to refund."
    capabilities = capabilities_for(sale.provider)
    if capabilities.refund_mode == "device" or capabilities.refund_on_original_terminal:
        terminal = sale.terminal
        if terminal is None or not terminal.is_active:
            return "The refund runs on the sale's terminal, which is no longer listed."
        if terminal.payments.filter(occupies_terminal=True).exists():
            return f"{terminal.name} is busy with another payment."
    return None


def payment_refund(*, sale: Payment, user, amount_minor: int, reason: str = "") -> Payment:
    """Refund `amount_minor` of `sale`: a new Payment (kind refund, parent=sale). Never more in total
    than captured: checked under a short lock on the sale (released before any provider call, which
    runs in a worker), and by the database's `payment_refunds_within_captured`."""
    if not user.has_perm("payments.refund_payment"):
        raise PermissionDenied("You may not refund payments.")
    mode = capabilities_for(sale.provider).refund_mode
    on_device = mode == "device"
    with transaction.atomic():
        sale = Payment.objects.for_user(user).select_for_update().get(pk=sale.pk)
        if reason_refused := refund_preflight(sale, user, amount_minor):
            raise InvalidPayment(reason_refused)
        refund = payment_create(
            user=user,
            terminal=sale.terminal if on_device else None,
            kind=PaymentKind.REFUND,
            amount_minor=amount_minor,
            currency=sale.currency,
            parent=sale,
            note=reason,
        )
        if not on_device:
            payment_task_schedule("refund_payment", refund_id=refund.pk)
    if on_device:
        from payments import engine

        engine.payment_start(payment=refund)
    return refund


def refund_request(refund: Payment) -> RefundRequest:
    """What the provider is sent for a referenced refund: the same on every send (its key too)."""
    sale = refund.parent
    return RefundRequest(
        original_transaction_ref=sale.transaction_ref or sale.provider_ref,
        amount_minor=refund.amount_minor,
        currency=refund.currency,
        idempotency_key=str(refund.idempotency_key),
        reference=refund.reference,
        description=refund.note,
        metadata=payment_metadata(refund),
    )


def payment_refund_execute(*, refund_id: int) -> bool:
    """The worker half of a referenced refund: one provider call, one transition."""
    refund = Payment.objects.select_related("account", "parent").get(pk=refund_id)
    if refund.status != S.CREATED:
        return False
    provider = _provider(refund)
    try:
        _spend_budget(refund)
        result = provider.refund(refund_request(refund))
    except OutcomeUnknown as exc:
        payment_transition(
            payment_id=refund.pk,
            to=S.UNKNOWN,
            allowed_from=[S.CREATED],
            source=EventSource.WORKER,
            detail=f"The refund's answer was lost; checking with the provider. ({exc})",
        )
        _track_soon(refund.pk, "refund")
        return False
    except (UnsupportedOperation, ProviderError) as exc:
        message = f"The refund was refused: {exc}"
        payment_transition(
            payment_id=refund.pk,
            to=S.FAILED,
            allowed_from=[S.CREATED],
            source=EventSource.WORKER,
            detail=message,
            message=message[:200],
        )
        return False
    finally:
        provider.close()
    if result.state == PaymentState.FAILED:
        payment_transition(
            payment_id=refund.pk,
            to=S.FAILED,
            allowed_from=[S.CREATED],
            source=EventSource.WORKER,
            provider_status=result.raw_status,
            message=(result.message or "The refund failed.")[:200],
        )
        return False
    from payments.engine import LEASE_S

    now = timezone.now()
    owner = f"track:{uuid.uuid4().hex[:12]}"
    with transaction.atomic():
        # The provider has it: created → pending (with its reference, a deadline and a tracker's
        # lease), then its outcome.
        payment_transition(
            payment_id=refund.pk,
            to=S.PENDING,
            allowed_from=[S.CREATED],
            source=EventSource.WORKER,
            provider_status=result.raw_status,
            provider_ref=result.provider_ref or "",
            transaction_ref=result.transaction_ref or "",
            started_at=now,
            deadline_at=provider.deadline_for(now),
            lease_owner=owner,
            lease_until=now + timedelta(seconds=LEASE_S),
        )
        if result.state == PaymentState.APPROVED:
            moved = payment_transition(
                payment_id=refund.pk,
                to=S.APPROVED,
                allowed_from=[S.PENDING],
                source=EventSource.WORKER,
                provider_status=result.raw_status,
                captured_minor=refund.amount_minor,
                message="Refunded.",
            )
            if moved:
                refund_settled(refund_id=refund.pk)
            return moved
        if result.state in (PaymentState.DECLINED, PaymentState.CANCELED, PaymentState.TIMED_OUT):
            payment_transition(
                payment_id=refund.pk,
                to=S(result.state.value),
                allowed_from=[S.PENDING],
                source=EventSource.WORKER,
                provider_status=result.raw_status,
                message=(result.message or f"The refund was {result.state}.")[:200],
            )
            return False
        # Still pending (Klearly runs a refund on the sale's terminal, where the customer presents
        # the card): its tracker follows it to its outcome like any open payment.
        payment_task_schedule("track_payment", payment_id=refund.pk, owner=owner)
    return False


def refund_settled(*, refund_id: int) -> bool:
    """Add an approved refund to its sale's `refunded_minor`, once. Call it in the same transaction as
    the refund's transition to approved (the engine does so for device and pending refunds).
    Returns False when the refund was already counted or is not an approved refund."""
    with transaction.atomic():
        refund = Payment.objects.get(pk=refund_id)
        if refund.kind != PaymentKind.REFUND or refund.status != S.APPROVED or not refund.parent_id:
            return False
        Payment.objects.select_for_update().filter(pk=refund.parent_id).first()
        if refund.events.filter(action="refund_settled").exists():
            return False
        Payment.objects.filter(pk=refund.parent_id).update(
            refunded_minor=F("refunded_minor") + refund.amount_minor
        )
        payment_note(payment_id=refund.pk, action="refund_settled", source=EventSource.WORKER)
    return True

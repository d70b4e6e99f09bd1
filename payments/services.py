"""The only code that changes payments: create them; later start, track, abort, capture, refund.

Every status change goes through `payments.state.payment_transition` (one conditional UPDATE and one
PaymentEvent per change); no provider call is ever made inside a transaction or under a row lock.

Where the next pieces plug in (not written yet: they build on changes to `providers/recovery.py`):

* `payment_start(payment)`: `payment_create` commits the row in `created`; the view then enqueues
  the start task with `delay_on_commit(payment.pk)`. The task (on a worker, never in the request)
  builds a `StartRequest` from the row (`kind`, `terminal.provider_ref`, `amount_minor`, `currency`,
  `str(idempotency_key)`, `reference`) and calls `start_exactly_once`; then exactly one transition:
  created → pending (provider_ref, started_at, deadline_at = `provider.deadline_for(started_at)`),
  created → failed (a permanent refusal: nothing ran, the terminal is free again), or
  created → unknown (OutcomeUnknown: the reconciler takes over; never a second start).
* Trackers, the sweeper and the reconciler claim `lease_owner` / `lease_until` with conditional
  UPDATEs and move the payment with `payment_transition(source="tracker" | "sweeper" | "reconciler")`.
"""

from __future__ import annotations

import re
import secrets
import uuid

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from payments.models import EventSource, Payment, PaymentEvent, PaymentKind, PaymentStatus
from payments.redaction import redact
from payments.state import payment_note
from providers.base import MAX_REFERENCE_LENGTH, PaymentMetadata
from providers.registry import capabilities_for
from terminals.models import Terminal

# Our order id as the providers get it. Payroc limits orderId to 24 characters (MAX_REFERENCE_LENGTH,
# the limit we use everywhere); Integra takes it in a query string, so letters, digits, "-" and "_".
REFERENCE_PATTERN = re.compile(r"^[A-Za-z0-9_-]+$")
GENERATED_REFERENCE_LENGTH = 16  # 80 random bits in Crockford's base32: unique without a look-up
_REFERENCE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class PaymentError(Exception):
    """A payment that cannot be made as asked; `message` is for the merchant."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TerminalOccupied(PaymentError):
    """Another payment holds the terminal (pending, unknown, or reserved); the database refused."""


class DuplicateReference(PaymentError):
    """The account already has a payment with this reference (our order id)."""


class InvalidPayment(PaymentError):
    """The amount, currency, reference, kind or terminal does not allow this payment."""


def reference_generate() -> str:
    """A fresh order id: 16 characters of Crockford base32 (no I, L, O, U), e.g. "7K3M9Q2XW4HT0B5R"."""
    return "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(GENERATED_REFERENCE_LENGTH))


def reference_clean(reference: str) -> str:
    """`reference` as we send it; InvalidPayment when a provider could not take it."""
    reference = (reference or "").strip()
    if not 1 <= len(reference) <= MAX_REFERENCE_LENGTH:
        raise InvalidPayment(f"The reference must be 1 to {MAX_REFERENCE_LENGTH} characters.")
    if not REFERENCE_PATTERN.match(reference):
        raise InvalidPayment("The reference may hold only letters, digits, “-” and “_”.")
    return reference


def payment_metadata(payment: Payment) -> PaymentMetadata:
    """Our ids the provider gets with `payment` in its own metadata field (Klearly asks for exactly
    these): the store (none for a terminal outside any store), our payment's UUID, the merchant."""
    return PaymentMetadata(
        payment_id=str(payment.uuid),
        store_id=str(payment.store_id or ""),
        merchant_id=str(payment.merchant_id),
    )


def print_receipt_preflight(payment: Payment, user) -> str | None:
    """Why the receipt of `payment` cannot be printed on its terminal now; None when it can."""
    if not user.has_perm("payments.take_payment"):
        return "Your role may not print receipts."
    if not capabilities_for(payment.provider).can_print_receipt:
        return f"{payment.get_provider_display()} cannot print receipts on its terminals."
    if payment.terminal_id is None or payment.kind == PaymentKind.REFUND:
        return "Only a payment taken on a terminal has a receipt to print there."
    if payment.status not in (PaymentStatus.APPROVED, PaymentStatus.AUTHORIZED):
        return "Only an approved or authorised payment has a receipt to print."
    return None


def payment_print_receipt(*, payment: Payment, user) -> None:
    """Ask the payment's terminal to print its receipt: the user's action goes on the timeline and
    the provider call runs in a worker (`payment_print_receipt_execute`). Raises InvalidPayment
    with the reason when it cannot be printed, PermissionDenied when the role may not print."""
    if not user.has_perm("payments.take_payment"):
        raise PermissionDenied("You may not print receipts.")
    payment = Payment.objects.for_user(user).get(pk=payment.pk)
    if reason := print_receipt_preflight(payment, user):
        raise InvalidPayment(reason)
    with transaction.atomic():
        payment_note(
            payment_id=payment.pk,
            action="receipt_print_requested",
            source=EventSource.USER,
            actor=user,
            detail=f"Print the receipt on {payment.terminal.name}",
        )
        payment_task_schedule("print_receipt", payment_id=payment.pk)


def payment_print_receipt_execute(*, payment_id: int) -> bool:
    """The worker half: one print call to the provider; the outcome goes on the timeline
    ("receipt_printed" or "receipt_print_failed" with the provider's reason). Moves no money and
    changes no state. Returns True when the provider accepted the print."""
    from credentials.services import provider_for
    from providers.errors import ProviderError

    payment = Payment.objects.select_related("account", "terminal").get(pk=payment_id)
    provider = provider_for(payment.account)
    try:
        provider.print_receipt(payment.provider_ref, payment.terminal.provider_ref)
    except ProviderError as exc:
        action, detail, printed = (
            "receipt_print_failed",
            str(exc) or "The terminal did not print.",
            False,
        )
    else:
        action, detail, printed = "receipt_printed", f"Printed on {payment.terminal.name}.", True
    finally:
        provider.close()
    payment_note(payment_id=payment.pk, action=action, source=EventSource.WORKER, detail=detail)
    return printed


def _violated_constraint(exc: IntegrityError) -> str:
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None) or ""


def payment_create(
    *,
    user,
    terminal: Terminal | None,
    kind: PaymentKind | str,
    amount_minor: int,
    currency: str,
    reference: str | None = None,
    note: str = "",
    parent: Payment | None = None,
    idempotency_key: uuid.UUID | str | None = None,
) -> Payment:
    """Commit a new payment in `created`, with its idempotency key and reference, and its first
    event. Makes no provider call: the start runs afterwards in a worker (see the module docstring).

    `merchant`, `store`, `account` and `provider` are copied from `terminal`; a referenced refund
    (`kind="refund"`, `terminal=None`) copies them from its `parent` sale and occupies no terminal.
    `reference` defaults to a generated one. `idempotency_key` defaults to a new UUID4; a caller may
    pass its own (the Charge form's one-time token): a second call with the same key returns the
    payment the first call made instead of making another.

    Raises TerminalOccupied when another payment holds the terminal (the database's partial unique
    index decides, so two racing requests make one payment), DuplicateReference when the account
    already used the reference, InvalidPayment for an amount, currency, reference, kind or terminal
    that cannot be used, PermissionDenied when `user` may not take (or refund) payments or cannot
    see the terminal.
    """
    try:
        kind = PaymentKind(kind)
    except ValueError:
        raise InvalidPayment(f"{kind!r} is not a kind of payment.") from None
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int) or amount_minor <= 0:
        raise InvalidPayment("The amount must be greater than zero.")
    if not (
        isinstance(currency, str)
        and len(currency) == 3
        and currency.isalpha()
        and currency.isupper()
    ):
        raise InvalidPayment(f"{currency!r} is not an ISO 4217 currency code.")
    reference = reference_clean(reference) if reference else reference_generate()
    if idempotency_key is not None:
        try:
            idempotency_key = uuid.UUID(str(idempotency_key))
        except ValueError:
            raise InvalidPayment("The idempotency key must be a UUID.") from None

    if kind == PaymentKind.REFUND:
        if not user.has_perm("payments.refund_payment"):
            raise PermissionDenied("You may not refund payments.")
    elif not user.has_perm("payments.take_payment"):
        raise PermissionDenied("You may not take payments.")

    if parent is not None and parent.kind == PaymentKind.REFUND:
        raise InvalidPayment("A refund cannot be refunded.")
    if terminal is not None:
        if not Terminal.objects.for_user(user).filter(pk=terminal.pk).exists():
            raise PermissionDenied("This terminal is not in your scope.")
        if not terminal.is_active:
            raise InvalidPayment(f"{terminal.name} is no longer listed by its provider.")
        if parent is not None and parent.account_id != terminal.account_id:
            raise InvalidPayment("A refund runs through the account that took the sale.")
        account_id, merchant_id, store_id, provider = (
            terminal.account_id,
            terminal.merchant_id,
            terminal.store_id,
            terminal.provider,
        )
    elif kind == PaymentKind.REFUND and parent is not None:
        if not Payment.objects.for_user(user).filter(pk=parent.pk).exists():
            raise PermissionDenied("This payment is not in your scope.")
        account_id, merchant_id, store_id, provider = (
            parent.account_id,
            parent.merchant_id,
            parent.store_id,
            parent.provider,
        )
    else:
        raise InvalidPayment("A terminal must be chosen.")

    capabilities = capabilities_for(provider)
    if kind == PaymentKind.AUTH and not capabilities.needs_capture:
        raise InvalidPayment("This provider takes no authorisations to capture later.")

    now = timezone.now()
    fields = {}
    if idempotency_key is not None:
        fields["idempotency_key"] = idempotency_key
    try:
        with transaction.atomic():
            payment = Payment.objects.create(
                kind=kind,
                amount_minor=amount_minor,
                currency=currency,
                terminal=terminal,
                merchant_id=merchant_id,
                store_id=store_id,
                account_id=account_id,
                provider=provider,
                authorized_occupies_terminal=capabilities.authorized_occupies_terminal,
                parent=parent,
                reference=reference,
                note=note[:200],
                status=PaymentStatus.CREATED,
                started_by=user,
                created_at=now,
                **fields,
            )
            PaymentEvent.objects.create(
                payment=payment,
                to_status=PaymentStatus.CREATED,
                action="created",
                source=EventSource.USER,
                actor=user,
                payload=redact(
                    {
                        "kind": kind.value,
                        "amount_minor": amount_minor,
                        "currency": currency,
                        "reference": reference,
                    }
                ),
                created_at=now,
            )
    except IntegrityError as exc:
        if idempotency_key is not None:
            existing = Payment.objects.filter(idempotency_key=idempotency_key).first()
            if existing is not None:
                if existing.started_by_id != getattr(user, "pk", None):
                    raise InvalidPayment("This form was already used.") from exc
                return existing
        constraint = _violated_constraint(exc)
        if constraint == "one_open_payment_per_terminal":
            raise TerminalOccupied(
                f"{terminal.name} is busy with another payment. Wait for it to finish, or abort it."
            ) from exc
        if constraint == "payment_reference_unique_in_account":
            raise DuplicateReference(
                f"The reference {reference} was already used on this account; choose another."
            ) from exc
        raise
    return payment


def payment_task_schedule(task_name: str, *, countdown: float = 0, **kwargs) -> None:
    """Run `payments.tasks.<task_name>(**kwargs)` in a worker once the current transaction commits
    (`countdown` seconds later when given).

    The one scheduling point of payments/actions.py (tests/test_scheduling.py lets service modules
    named services.py schedule); tasks are imported here, lazily, to keep imports acyclic.
    """
    from payments import tasks

    options = {"countdown": countdown} if countdown > 0 else {}
    getattr(tasks, task_name).apply_async_on_commit(kwargs=kwargs, **options)

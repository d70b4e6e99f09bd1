"""The payments ledger: every payment, refund and authorisation, its history, and received webhooks.

A Payment is one request for money on one terminal (or, for a referenced refund, through one provider
account). `merchant`, `store`, `account` and `provider` are copied from the terminal at creation, so
lists filter and sort on the payment's own columns and a terminal moved to another store later does
not move its history. Only `payments.services` changes a payment's state, through
`payments.state.payment_transition` (one conditional UPDATE plus one PaymentEvent per change).

The database holds the invariants that protect money, whatever the code does:

* one payment occupying a terminal at a time (`one_open_payment_per_terminal`, a partial unique index
  over `occupies_terminal`, a column PostgreSQL computes itself from the status);
* never more refunded than captured (`payment_refunds_within_captured`);
* a positive amount, a three-letter currency;
* a unique idempotency key, one reference per account, one provider reference per account.

The integer primary key stays internal (events and webhooks point at it: a small key for the table
that grows fastest); URLs use `uuid`, so payment addresses cannot be guessed or counted.
"""

from __future__ import annotations

import uuid as uuid_lib

from django.conf import settings
from django.db import models
from django.db.models import Case, Q, Value, When

from credentials.models import ProviderAccount
from dashboard.models import (
    Merchant,
    Store,
    scoped_to_merchant,
    scoped_to_store,
)
from providers.base import MAX_REFERENCE_LENGTH
from providers.registry import provider_choices
from terminals.models import Terminal


class PaymentKind(models.TextChoices):
    SALE = "sale", "Sale"
    AUTH = "auth", "Authorisation"  # authorise only; money moves on capture
    REFUND = "refund", "Refund"


class PaymentStatus(models.TextChoices):
    """The payment state machine (ARCHITECTURE.md); the same words as `providers.base.PaymentState`."""

    CREATED = "created", "Created"
    PENDING = "pending", "Waiting for the customer"
    AUTHORIZED = "authorized", "Authorised"
    APPROVED = "approved", "Approved"
    DECLINED = "declined", "Declined"
    CANCELED = "canceled", "Cancelled"
    TIMED_OUT = "timed_out", "Timed out"
    FAILED = "failed", "Failed"
    UNKNOWN = "unknown", "Result unknown"


# Plain strings: they are written into migrations (constraints, indexes, the generated column).
FINAL_STATUSES = ["approved", "declined", "canceled", "timed_out", "failed"]
OPEN_STATUSES = ["created", "pending", "authorized", "unknown"]
# A payment in one of these states holds its terminal on every provider: the terminal is showing it,
# or may be (unknown: the terminal stays locked until reconciliation knows).
ALWAYS_OCCUPYING_STATUSES = ["created", "pending", "unknown"]
# The timeline notes of an abort (payments.actions): asked for, could not reach the terminal,
# refused by the provider while the payment still ran.
ABORT_ACTIONS = ("abort_requested", "abort_unreachable", "abort_refused")


# What the history's totals and chart read besides the scope and the time (payments/history.py).
TOTALS_COLUMNS = ["status", "kind", "currency", "amount_minor", "captured_minor"]


class PaymentQuerySet(models.QuerySet):
    def for_user(self, user) -> PaymentQuerySet:
        """The payments `user` may see: the tenancy rule of `Terminal.objects.for_user`, applied to
        the payment's own copied columns.

        A cashier tied to one store sees that store's payments and those of the merchant's terminals
        that belong to no store (it can see those terminals, so it sees what they took). Limiting a
        cashier to today's payments is the history page's concern, not the scope's.
        """
        return scoped_to_store(self, user)

    def open(self) -> PaymentQuerySet:
        """Payments not yet final: created, pending, authorized (awaiting capture) or unknown."""
        return self.filter(status__in=OPEN_STATUSES)

    def final(self) -> PaymentQuerySet:
        return self.filter(status__in=FINAL_STATUSES)

    def with_abort_step(self) -> PaymentQuerySet:
        """Each payment with `abort_step`: the latest abort event on its timeline ("abort_requested",
        "abort_unreachable", "abort_refused") or None, read in the same query (a subquery on the
        timeline index), so the status card says how an abort went without a second read."""
        latest = (
            PaymentEvent.objects.filter(payment=models.OuterRef("pk"), action__in=ABORT_ACTIONS)
            .order_by("-created_at", "-pk")
            .values("action")[:1]
        )
        return self.annotate(abort_step=models.Subquery(latest))


def _occupies_terminal_expression():
    """True while the payment holds its terminal: always in created, pending and unknown; in
    authorized where the provider's terminal stays occupied by a reservation (Integra)."""
    return Case(
        When(
            Q(terminal__isnull=False)
            & (
                Q(status__in=ALWAYS_OCCUPYING_STATUSES)
                | Q(status="authorized", authorized_occupies_terminal=True)
            ),
            then=Value(True),
        ),
        default=Value(False),
        output_field=models.BooleanField(),
    )


class Payment(models.Model):
    uuid = models.UUIDField(default=uuid_lib.uuid4, unique=True, editable=False)
    kind = models.CharField(max_length=10, choices=PaymentKind.choices)
    amount_minor = models.PositiveBigIntegerField(help_text="In the currency's minor units")
    currency = models.CharField(max_length=3)

    # Copied from the terminal (or, for a referenced refund, from its sale) at creation.
    # No single-column indexes on terminal, merchant and store: the list indexes below lead with them.
    terminal = models.ForeignKey(
        Terminal,
        on_delete=models.PROTECT,
        db_index=False,
        null=True,
        blank=True,
        related_name="payments",
        help_text="None for a referenced refund: it runs through the account, on no terminal",
    )
    merchant = models.ForeignKey(
        Merchant, on_delete=models.PROTECT, db_index=False, related_name="payments"
    )
    store = models.ForeignKey(
        Store,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        db_index=False,
        related_name="payments",
    )
    account = models.ForeignKey(ProviderAccount, on_delete=models.PROTECT, related_name="payments")
    provider = models.CharField(max_length=20, choices=provider_choices)
    # The provider's `Capabilities.authorized_occupies_terminal` when the payment was created.
    authorized_occupies_terminal = models.BooleanField(default=False)

    parent = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
        help_text="The sale (or authorisation) this refund belongs to",
    )

    # Ours, committed before the first provider call and reused on every retry.
    idempotency_key = models.UUIDField(default=uuid_lib.uuid4, unique=True, editable=False)
    reference = models.CharField(
        max_length=MAX_REFERENCE_LENGTH, help_text="Our order id, sent to the provider"
    )
    # The provider's.
    provider_ref = models.CharField(
        max_length=100,
        blank=True,
        help_text="What the provider follows the payment by (Payroc instruction id, USAePay request key…)",
    )
    transaction_ref = models.CharField(
        max_length=100,
        blank=True,
        help_text="The processed transaction, the handle for capture and refund",
    )
    provider_data = models.JSONField(
        default=dict, blank=True, help_text="Other references and receipt fields (redacted)"
    )

    status = models.CharField(
        max_length=12, choices=PaymentStatus.choices, default=PaymentStatus.CREATED
    )
    provider_status = models.CharField(
        max_length=100, blank=True, help_text="The provider's own status word"
    )
    occupies_terminal = models.GeneratedField(
        expression=_occupies_terminal_expression(),
        output_field=models.BooleanField(),
        db_persist=True,
    )

    captured_minor = models.PositiveBigIntegerField(default=0)
    refunded_minor = models.PositiveBigIntegerField(default=0)

    card_brand = models.CharField(max_length=30, blank=True)
    card_last4 = models.CharField(max_length=4, blank=True)
    auth_code = models.CharField(max_length=32, blank=True)
    message = models.CharField(
        max_length=300, blank=True, help_text="What the merchant is told, in plain words"
    )
    note = models.CharField(max_length=200, blank=True, help_text="The merchant's own note")

    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="payments_started",
    )
    created_at = models.DateTimeField()
    started_at = models.DateTimeField(
        null=True, blank=True, help_text="When the provider accepted it"
    )
    deadline_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Past this, an open payment becomes unknown (terminal timeout plus grace)",
    )
    finished_at = models.DateTimeField(null=True, blank=True)

    # The tracker following the payment; claimed and renewed by conditional UPDATEs.
    lease_owner = models.CharField(max_length=100, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)

    # Set by the reconciler when a payment cannot be settled automatically.
    needs_attention = models.BooleanField(default=False)
    attention_reason = models.CharField(max_length=500, blank=True)

    objects = PaymentQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["terminal"],
                condition=Q(occupies_terminal=True),
                name="one_open_payment_per_terminal",
                violation_error_message="This terminal is busy with another payment.",
            ),
            models.CheckConstraint(
                condition=Q(refunded_minor__lte=models.F("captured_minor")),
                name="payment_refunds_within_captured",
                violation_error_message="More would be refunded than was captured.",
            ),
            models.CheckConstraint(condition=Q(amount_minor__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(
                condition=Q(currency__regex=r"^[A-Z]{3}$"), name="payment_currency_iso4217"
            ),
            models.CheckConstraint(
                condition=Q(status__in=[s.value for s in PaymentStatus]),
                name="payment_status_known",
            ),
            models.UniqueConstraint(
                fields=["account", "reference"], name="payment_reference_unique_in_account"
            ),
            models.UniqueConstraint(
                fields=["account", "provider_ref"],
                condition=~Q(provider_ref=""),
                name="payment_provider_ref_unique_in_account",
            ),
        ]
        indexes = [
            # Lists: a merchant's payments, newest first; a terminal's and a store's. They end in
            # (created_at, id), the history's keyset (payments/history.py): a page is one range scan.
            # The money columns ride along (INCLUDE), so totals and the chart of a merchant's month
            # or of every merchant's are index-only scans, never a visit to each row's heap page.
            models.Index(
                fields=["merchant", "-created_at", "-id"],
                include=TOTALS_COLUMNS,
                name="payment_merchant_recent",
            ),
            models.Index(fields=["terminal", "-created_at", "-id"], name="payment_terminal_recent"),
            models.Index(fields=["store", "-created_at", "-id"], name="payment_store_recent"),
            # The sweeper: open payments by lease expiry (small: only the open ones are indexed).
            models.Index(
                fields=["lease_until"],
                condition=Q(status__in=OPEN_STATUSES),
                name="payment_open_lease",
            ),
            # The desk's flags: a merchant's payments that need someone to settle them by hand.
            models.Index(
                fields=["merchant"],
                condition=Q(needs_attention=True),
                name="payment_needs_attention",
            ),
            # The reconciler: unknown payments, oldest first.
            models.Index(
                fields=["created_at"],
                condition=Q(status="unknown"),
                name="payment_unknown",
            ),
            # The history (payments/filters.py): every payment newest first (a reseller's or an
            # admin's scope), the exact searches, and the card's last four digits.
            models.Index(
                fields=["-created_at", "-id"], include=TOTALS_COLUMNS, name="payment_recent"
            ),
            models.Index(fields=["reference"], name="payment_reference_search"),
            models.Index(
                fields=["provider_ref"], condition=~Q(provider_ref=""), name="payment_provider_ref"
            ),
            models.Index(
                fields=["transaction_ref"],
                condition=~Q(transaction_ref=""),
                name="payment_transaction_ref",
            ),
            models.Index(
                fields=["card_last4", "-created_at"],
                condition=~Q(card_last4=""),
                name="payment_card_last4",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.reference} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def refundable_minor(self) -> int:
        return self.captured_minor - self.refunded_minor


class EventSource(models.TextChoices):
    USER = "user", "a user"
    WORKER = "worker", "a background task acting for a user"  # start, abort, capture, refund calls
    TRACKER = "tracker", "the tracker"
    WEBHOOK = "webhook", "a webhook"
    RECONCILER = "reconciler", "the reconciler"
    SWEEPER = "sweeper", "the sweeper"


class PaymentEvent(models.Model):
    """One line of a payment's timeline: a state change (`to_status` set; written only by the
    transition that won) or an action or note without a change (`to_status` empty, e.g. "abort
    requested"). `payload` is redacted before it is stored (`payments.redaction.redact`)."""

    payment = models.ForeignKey(
        Payment, on_delete=models.CASCADE, db_index=False, related_name="events"
    )  # indexed by payment_event_timeline
    from_status = models.CharField(max_length=12, choices=PaymentStatus.choices, blank=True)
    to_status = models.CharField(max_length=12, choices=PaymentStatus.choices, blank=True)
    action = models.CharField(
        max_length=40, blank=True, help_text="What was done, e.g. abort_requested"
    )
    source = models.CharField(max_length=12, choices=EventSource.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    provider_status = models.CharField(max_length=100, blank=True)
    detail = models.CharField(max_length=500, blank=True)
    payload = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["payment", "created_at"], name="payment_event_timeline")]

    def __str__(self) -> str:
        change = f"{self.from_status or '-'} -> {self.to_status}" if self.to_status else self.action
        return f"{self.payment_id}: {change} ({self.source})"

    @property
    def is_transition(self) -> bool:
        return bool(self.to_status)


class SignatureVerdict(models.TextChoices):
    VALID = "valid", "valid"
    INVALID = "invalid", "invalid"
    MISSING = "missing", "missing"


class ReceivedWebhookQuerySet(models.QuerySet):
    def for_user(self, user) -> ReceivedWebhookQuerySet:
        return scoped_to_merchant(self, user, "account__merchant")

    def unprocessed(self) -> ReceivedWebhookQuerySet:
        return self.filter(processed_at__isnull=True, verdict=SignatureVerdict.VALID)


class ReceivedWebhook(models.Model):
    """One delivery to `/webhooks/<provider>/<account>/`, kept as received.

    A correctly signed event is stored once per (account, provider event id): a retried delivery
    hits the unique constraint and changes nothing. Refused deliveries may be kept for the record
    (verdict invalid or missing); they are outside that constraint, so a forged delivery can never
    take the id of a genuine event that arrives later. A webhook is a trigger: processing it (claimed
    by `processed_at`) makes the tracker re-read the payment from the provider.
    """

    account = models.ForeignKey(
        ProviderAccount, on_delete=models.CASCADE, db_index=False, related_name="webhooks"
    )  # indexed by webhook_account_recent
    provider = models.CharField(max_length=20, choices=provider_choices)
    event_id = models.CharField(
        max_length=200, blank=True, help_text="The provider's event id (from the body where it is)"
    )
    event_type = models.CharField(max_length=100, blank=True)
    headers = models.JSONField(default=dict, blank=True, help_text="Redacted")
    body = models.TextField(help_text="The raw body as received")
    verdict = models.CharField(max_length=10, choices=SignatureVerdict.choices)
    payment = models.ForeignKey(
        Payment, null=True, blank=True, on_delete=models.SET_NULL, related_name="webhooks"
    )
    received_at = models.DateTimeField()
    processed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=300, blank=True, help_text="What processing did")

    objects = ReceivedWebhookQuerySet.as_manager()

    class Meta:
        ordering = ["-received_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "event_id"],
                condition=Q(verdict="valid") & ~Q(event_id=""),
                name="webhook_event_once_per_account",
            )
        ]
        indexes = [
            models.Index(
                fields=["received_at"],
                condition=Q(processed_at__isnull=True, verdict="valid"),
                name="webhook_unprocessed",
            ),
            models.Index(fields=["account", "-received_at"], name="webhook_account_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.provider} webhook {self.event_id or self.pk} ({self.verdict})"

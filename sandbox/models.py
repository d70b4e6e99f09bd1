"""The sandbox's own tables: emulated provider accounts, their devices and what ran on them.

They live in the database (not in memory) so the web process and every Celery worker see the
same devices. Nothing here imports the dashboard's models: the dashboard meets the sandbox
only over HTTP, as it meets a real provider.
"""

from datetime import timedelta

from django.db import models
from django.db.models import Q
from django.utils import timezone

from sandbox import amounts
from sandbox.emulators import emulator_choices


class SandboxAccount(models.Model):
    """One emulated merchant account at a provider.

    secrets  payroc: {"api_key"}; usaepay: {"api_key", "api_pin", "webhook_signature_key"};
             mobilepay: {"bio_code", "access_token"?} (the access token the account starts with;
             without one, `api/pos/manage/token` creates the first)
    settings payroc: {"processing_terminal_id"}; usaepay: {"currency"} (default USD);
             mobilepay: {"store_id"?, "store_name"?}
    """

    # The emulators of sandbox/emulators.py, read when needed: a new one needs no migration.
    provider = models.CharField(max_length=20, choices=emulator_choices)
    label = models.CharField(max_length=100, unique=True)
    secrets = models.JSONField(default=dict, blank=True)
    settings = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Further secret sets the provider issued beside `secrets` (a new API key made in its portal),
    # each accepted like `secrets` until it is revoked: [{"api_key": …, "api_pin": …}, …].
    issued_secrets = models.JSONField(default=list, blank=True)
    # Credential fault switches, for the calls that check this account's credentials: Payroc's
    # identity service, Klearly's merchant token, Integra's manage/token and token/reset, and every
    # USAePay and KOMOJU call (they check the key on each one).
    credential_fail_next_5xx = models.PositiveIntegerField(
        default=0, help_text="Answer the next N credential checks with a 5xx, processing nothing"
    )
    credential_lose_next_response = models.BooleanField(
        default=False, help_text="Process the next credential call, then break its response"
    )
    credential_refuse_next = models.BooleanField(
        default=False, help_text="Refuse the next credential check as wrong credentials"
    )

    class Meta:
        ordering = ["provider", "label"]

    def __str__(self) -> str:
        return f"{self.get_provider_display()} · {self.label}"


class SandboxTokenQuerySet(models.QuerySet):
    def valid(self):
        return self.filter(expires_at__gt=timezone.now())


class SandboxToken(models.Model):
    """An access token the emulated provider handed out: a Payroc bearer token, or Integra's
    long-lived MobilePay accessToken (valid until reset, `expires_at` far ahead)."""

    account = models.ForeignKey(SandboxAccount, on_delete=models.CASCADE, related_name="tokens")
    token = models.CharField(max_length=128, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()

    objects = SandboxTokenQuerySet.as_manager()


class SandboxDevice(models.Model):
    """A payment terminal, with the switches a tester flips on the virtual terminal page."""

    account = models.ForeignKey(SandboxAccount, on_delete=models.CASCADE, related_name="devices")
    ref = models.CharField(
        max_length=64, help_text="Payroc serialNumber, USAePay device key (sa_…)"
    )
    name = models.CharField(max_length=100, blank=True)
    manufacturer = models.CharField(max_length=50, blank=True)
    model = models.CharField(max_length=50, blank=True)
    serial = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Device switches.
    online = models.BooleanField(default=True)
    busy = models.BooleanField(default=False, help_text="Busy with a transaction started elsewhere")
    battery_low = models.BooleanField(default=False)
    # Fault switches.
    latency_ms = models.PositiveIntegerField(
        default=0, help_text="Added to every wire request for this device"
    )
    fail_next_5xx = models.PositiveIntegerField(
        default=0, help_text="Answer the next N wire requests with a 5xx"
    )
    lose_next_response = models.BooleanField(
        default=False,
        help_text="Process the next money-moving POST, then break its response mid-body",
    )
    # MobilePay: a customer checked in at the PoS (scanned its QR code or touched its beacon).
    customer_checked_in = models.BooleanField(default=False)
    # Webhook fault switches (KOMOJU, Klearly, USAePay), applied to events about this device.
    webhook_duplicate = models.BooleanField(
        default=False, help_text="Deliver every webhook twice (same event id, same body)"
    )
    webhook_delay_s = models.PositiveIntegerField(
        default=0, help_text="Deliver webhooks this many seconds late"
    )
    webhook_hold_next = models.BooleanField(
        default=False, help_text="Hold the next webhook back until the one after it was sent"
    )
    webhook_signature = models.CharField(
        max_length=10,
        choices=[("valid", "Signed"), ("missing", "Unsigned"), ("wrong", "Wrongly signed")],
        default="valid",
    )

    class Meta:
        ordering = ["account__provider", "account__label", "name", "ref"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "ref"], name="sandbox_device_ref_per_account"
            )
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        return self.name or " ".join(
            part for part in (self.manufacturer, self.model, self.serial or self.ref) if part
        )


class SandboxPaymentKind(models.TextChoices):
    SALE = "sale", "Sale"
    AUTH = "auth", "Pre-authorisation"
    REFUND = "refund", "Refund"


class PaymentStatus(models.TextChoices):
    PENDING = "pending", "Waiting for the customer"
    APPROVED = "approved", "Approved"
    DECLINED = "declined", "Declined"
    CANCELED = "canceled", "Canceled"
    TIMED_OUT = "timed_out", "Timed out"
    FAILED = "failed", "Failed"


class CanceledBy(models.TextChoices):
    MERCHANT = "merchant", "the POS (API)"
    CUSTOMER = "customer", "the customer"


class SandboxPaymentQuerySet(models.QuerySet):
    def pending(self):
        return self.filter(status=PaymentStatus.PENDING)

    def charges(self):
        """Sales and pre-authorisations that reached approved: money taken (or held) from a card."""
        return self.filter(
            kind__in=[SandboxPaymentKind.SALE, SandboxPaymentKind.AUTH],
            status=PaymentStatus.APPROVED,
        )

    def for_account(self, account):
        return self.filter(device__account=account)

    def reserved(self):
        """Approved pre-authorisations nobody captured or voided yet (MobilePay's Reserved)."""
        return self.filter(
            kind=SandboxPaymentKind.AUTH, status=PaymentStatus.APPROVED, captured=False
        )


class SandboxPayment(models.Model):
    """One request on a device (sale, pre-auth, card-present refund) or one referenced refund.

    provider_ref      Payroc paymentInstructionId / refundInstructionId (32 hex); USAePay "pr_…";
                      MobilePay paymentId (a UUID). Empty for a referenced refund, which has no
                      instruction.
    transaction_ref   Payroc paymentId / refundId ("M2MJOG6O2Y"); USAePay transaction key;
                      MobilePay paymentId / refundId as 32 hex digits. Assigned at the start, shown
                      on the wire only once the request is decided.
    """

    device = models.ForeignKey(SandboxDevice, on_delete=models.CASCADE, related_name="payments")
    original = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="refunds",
        help_text="For a referenced refund: the payment it refunds",
    )
    kind = models.CharField(max_length=10, choices=SandboxPaymentKind.choices)
    provider_ref = models.CharField(max_length=64, blank=True)
    transaction_ref = models.CharField(max_length=32, unique=True)
    refnum = models.CharField(max_length=20, blank=True, help_text="USAePay reference number")
    idempotency_key = models.CharField(max_length=100, blank=True, db_index=True)
    request_fingerprint = models.CharField(max_length=64, blank=True)
    order_ref = models.CharField(max_length=64, blank=True, db_index=True)
    description = models.TextField(blank=True)
    operator = models.CharField(max_length=50, blank=True)
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(
        max_length=10, choices=PaymentStatus.choices, default=PaymentStatus.PENDING
    )
    canceled_by = models.CharField(max_length=10, choices=CanceledBy.choices, blank=True)
    error_message = models.CharField(max_length=200, blank=True)
    magic_outcome = models.CharField(
        max_length=10, blank=True, help_text="What the amount's last two digits ask for"
    )
    timeout_s = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)
    outcome_at = models.DateTimeField(
        null=True, blank=True, help_text="When the magic outcome happens"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    # MobilePay's prepared flow: the payment exists, its amount comes with `payment/ready`.
    awaiting_amount = models.BooleanField(default=False)
    # Pre-authorisations, and refunds: approved refunds are captured at once, except MobilePay's,
    # which the POS captures after creating them.
    captured = models.BooleanField(default=False)
    captured_amount = models.BigIntegerField(null=True, blank=True)
    captured_at = models.DateTimeField(null=True, blank=True)
    refunded_amount = models.BigIntegerField(default=0)
    # The card, once one was presented.
    card_brand = models.CharField(max_length=20, blank=True)
    card_bin = models.CharField(max_length=8, blank=True)
    card_last4 = models.CharField(max_length=4, blank=True)
    card_expiry = models.CharField(max_length=4, blank=True, help_text="MMYY")
    entry_method = models.CharField(max_length=20, blank=True)
    authcode = models.CharField(max_length=12, blank=True)
    request = models.JSONField(default=dict, blank=True, help_text="The start's body as received")

    objects = SandboxPaymentQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            # One active request per device, whatever the code does (USAePay error 21146).
            models.UniqueConstraint(
                fields=["device"],
                condition=Q(status="pending"),
                name="sandbox_one_pending_payment_per_device",
            ),
            models.UniqueConstraint(
                fields=["provider_ref"],
                condition=~Q(provider_ref=""),
                name="sandbox_unique_provider_ref",
            ),
        ]
        indexes = [models.Index(fields=["device", "status"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount_display} ({self.status})"

    @property
    def amount_display(self) -> str:
        return amounts.display(self.amount_minor, self.currency)

    @property
    def refunded_display(self) -> str:
        return amounts.display(self.refunded_amount, self.currency)

    @property
    def is_final(self) -> bool:
        return self.status != PaymentStatus.PENDING

    @property
    def is_reserved(self) -> bool:
        """Approved and waiting for the POS to capture it: an uncaptured pre-authorisation
        (MobilePay's Reserved), or a MobilePay refund that is created but not yet captured
        (every other approved refund is captured when it is approved)."""
        return (
            self.status == PaymentStatus.APPROVED
            and self.kind in (SandboxPaymentKind.AUTH, SandboxPaymentKind.REFUND)
            and not self.captured
        )

    @property
    def settled_amount(self) -> int:
        """What the card was charged: the captured amount of a pre-authorisation, else the amount."""
        if self.kind == SandboxPaymentKind.AUTH:
            return self.captured_amount or 0
        return self.amount_minor

    @property
    def refundable_amount(self) -> int:
        if self.status != PaymentStatus.APPROVED or self.kind == SandboxPaymentKind.REFUND:
            return 0
        return max(self.settled_amount - self.refunded_amount, 0)

    @property
    def timeout_at(self):
        return self.created_at + timedelta(seconds=self.timeout_s)


class SandboxIdempotencyKey(models.Model):
    """An Idempotency-Key Payroc has seen: the request it came with and the answer to replay."""

    account = models.ForeignKey(
        SandboxAccount, on_delete=models.CASCADE, related_name="idempotency_keys"
    )
    key = models.CharField(max_length=100)
    fingerprint = models.CharField(max_length=64)
    payment = models.ForeignKey(SandboxPayment, null=True, blank=True, on_delete=models.CASCADE)
    status_code = models.PositiveSmallIntegerField()
    body = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "key"], name="sandbox_idempotency_key_per_account"
            )
        ]


class SandboxSession(models.Model):
    """A KOMOJU payment session: created by the Sessions API before any terminal knows it, then
    pushed to one. `payment` is what runs on the device (none until the push)."""

    account = models.ForeignKey(SandboxAccount, on_delete=models.CASCADE, related_name="sessions")
    ref = models.CharField(
        max_length=32, unique=True, help_text="KOMOJU session id (25 characters)"
    )
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    capture = models.CharField(max_length=10, help_text='"auto" (sale) or "manual" (auth-only)')
    external_order_num = models.CharField(max_length=64, blank=True)
    default_locale = models.CharField(max_length=10, default="ja")
    metadata = models.JSONField(default=dict, blank=True)
    request = models.JSONField(default=dict, blank=True, help_text="The create body as received")
    created_at = models.DateTimeField(default=timezone.now)
    cancelled_at = models.DateTimeField(null=True, blank=True, help_text="Cancelled before a push")
    payment = models.OneToOneField(
        "SandboxPayment",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="session",
    )

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"KOMOJU session {self.ref}"


class SandboxReceipt(models.Model):
    """A receipt a terminal printed (KOMOJU's print endpoint), as the lines on the paper."""

    device = models.ForeignKey(SandboxDevice, on_delete=models.CASCADE, related_name="receipts")
    payment = models.ForeignKey(SandboxPayment, on_delete=models.CASCADE, related_name="receipts")
    lines = models.JSONField(default=list)
    printed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-printed_at", "-pk"]


class SandboxWebhookDeliveryQuerySet(models.QuerySet):
    def undelivered(self):
        return self.filter(delivered_at__isnull=True).exclude(url="")

    def due(self, now=None, *, max_attempts: int):
        """Undelivered, with a target, attempts left, time come, and not claimed by a sender."""
        now = now or timezone.now()
        return (
            self.undelivered()
            .filter(attempts__lt=max_attempts, deliver_after__lte=now)
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        )


class SandboxWebhookDelivery(models.Model):
    """One webhook delivery (the outbox): the exact bytes and headers sent, and what happened.

    A duplicate (fault switch) is a second row with the same event id, body and headers.
    """

    account = models.ForeignKey(
        SandboxAccount, on_delete=models.CASCADE, related_name="webhook_deliveries"
    )
    device = models.ForeignKey(
        SandboxDevice,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="webhook_deliveries",
    )
    payment = models.ForeignKey(
        SandboxPayment,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="webhook_deliveries",
    )
    event_id = models.CharField(max_length=100, db_index=True)
    event_type = models.CharField(max_length=60)
    url = models.CharField(max_length=500, blank=True, help_text="Empty: no webhook_url set")
    body = models.TextField(help_text="The raw body, exactly as sent (UTF-8 JSON)")
    headers = models.JSONField(default=dict)
    signature = models.CharField(max_length=128, blank=True, help_text="Empty: sent unsigned")
    signing = models.CharField(max_length=10, default="valid")
    duplicate = models.BooleanField(default=False)
    held = models.BooleanField(default=False, help_text="Held back until the next one is sent")
    created_at = models.DateTimeField(default=timezone.now)
    deliver_after = models.DateTimeField(default=timezone.now)
    claimed_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=200, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    objects = SandboxWebhookDeliveryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["delivered_at", "deliver_after"])]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id}"

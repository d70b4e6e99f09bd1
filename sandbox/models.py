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


class Provider(models.TextChoices):
    PAYROC = "payroc", "Payroc"
    USAEPAY = "usaepay", "USAePay"
    KLEARLY = "klearly", "Klearly"
    MOBILEPAY = "mobilepay", "MobilePay (Integra)"
    KOMOJU = "komoju", "KOMOJU"


class SandboxAccount(models.Model):
    """One emulated merchant account at a provider.

    secrets  payroc: {"api_key"}; usaepay: {"api_key", "api_pin", "webhook_signature_key"}
    settings payroc: {"processing_terminal_id"}; usaepay: {"currency"} (default USD)
    """

    provider = models.CharField(max_length=20, choices=Provider.choices)
    label = models.CharField(max_length=100, unique=True)
    secrets = models.JSONField(default=dict, blank=True)
    settings = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["provider", "label"]

    def __str__(self) -> str:
        return f"{self.get_provider_display()} · {self.label}"


class SandboxTokenQuerySet(models.QuerySet):
    def valid(self):
        return self.filter(expires_at__gt=timezone.now())


class SandboxToken(models.Model):
    """A Payroc bearer token handed out by the emulated identity service."""

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


class PaymentKind(models.TextChoices):
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
            kind__in=[PaymentKind.SALE, PaymentKind.AUTH], status=PaymentStatus.APPROVED
        )

    def for_account(self, account):
        return self.filter(device__account=account)


class SandboxPayment(models.Model):
    """One request on a device (sale, pre-auth, card-present refund) or one referenced refund.

    provider_ref      Payroc paymentInstructionId / refundInstructionId (32 hex); USAePay "pr_…".
                      Empty for a referenced refund, which has no instruction.
    transaction_ref   Payroc paymentId / refundId ("M2MJOG6O2Y"); USAePay transaction key. Assigned
                      at the start, shown on the wire only once the request is decided.
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
    kind = models.CharField(max_length=10, choices=PaymentKind.choices)
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
    # Pre-authorisations.
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
    def settled_amount(self) -> int:
        """What the card was charged: the captured amount of a pre-authorisation, else the amount."""
        if self.kind == PaymentKind.AUTH:
            return self.captured_amount or 0
        return self.amount_minor

    @property
    def refundable_amount(self) -> int:
        if self.status != PaymentStatus.APPROVED or self.kind == PaymentKind.REFUND:
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

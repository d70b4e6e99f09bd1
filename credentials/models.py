"""Provider accounts with secrets encrypted at rest, their cached access tokens, and an audit trail."""

from __future__ import annotations

import uuid as uuid_lib

from django.conf import settings
from django.db import models
from django.utils import timezone

from credentials import vault
from credentials.environments import ENVIRONMENT_CHOICES, endpoints_for
from dashboard.models import Merchant, scoped_to_merchant
from providers.registry import provider_choices


class AccountState(models.TextChoices):
    """What the console says about an account. `valid` and `invalid` are set by verification; the
    rotation and refresh code set `rotating` and `needs_attention` (with `state_reason` saying why
    and what to do), through `credentials.services.account_set_state`."""

    UNVERIFIED = "unverified", "Not verified yet"
    VALID = "valid", "Valid"
    INVALID = "invalid", "Invalid"
    NEEDS_ATTENTION = "needs_attention", "Needs attention"
    ROTATING = "rotating", "Rotation in progress"


class RotationStep(models.TextChoices):
    PENDING = "pending", "New secret stored, being verified"
    ACTIVATED = "activated", "New secret active, old one not yet retired"


class AttentionCause(models.TextChoices):
    REFRESH = "refresh", "Token refresh failed"
    ROTATION = "rotation", "Rotation needs a person"
    REMINDER = "reminder", "Key close to its age limit"


class ProviderAccountQuerySet(models.QuerySet):
    def for_user(self, user) -> ProviderAccountQuerySet:
        return scoped_to_merchant(self, user, "merchant")

    def active(self) -> ProviderAccountQuerySet:
        return self.filter(is_active=True)

    def needing_attention(self) -> ProviderAccountQuerySet:
        return self.filter(state=AccountState.NEEDS_ATTENTION)

    def rotating(self) -> ProviderAccountQuerySet:
        return self.exclude(rotation_step="")


class ProviderAccount(models.Model):
    """One merchant's credential at one provider environment. `secrets` are never stored in clear:
    `secrets_encrypted` holds MultiFernet(JSON). `pending_secrets_encrypted` holds a replacement that is
    being verified (two-phase rotation); the active one keeps working until the new one is verified."""

    # Names the account in its webhook address (/webhooks/<provider>/<uuid>/): not guessable.
    uuid = models.UUIDField(default=uuid_lib.uuid4, unique=True, editable=False)
    merchant = models.ForeignKey(
        Merchant, on_delete=models.PROTECT, related_name="provider_accounts"
    )
    # The registry's providers, read when needed: a new provider needs no migration.
    provider = models.CharField(max_length=20, choices=provider_choices)
    environment = models.CharField(max_length=10, choices=ENVIRONMENT_CHOICES)
    label = models.CharField(max_length=100)
    settings = models.JSONField(default=dict, blank=True)
    secrets_encrypted = models.TextField()
    pending_secrets_encrypted = models.TextField(blank=True, default="")
    is_active = models.BooleanField(default=True)
    last_verified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Health, for the console (credentials/console.py).
    state = models.CharField(
        max_length=20, choices=AccountState.choices, default=AccountState.UNVERIFIED
    )
    # Why, in plain words, for invalid and needs_attention (the provider's reason, the recovery
    # steps); never a secret.
    state_reason = models.CharField(max_length=500, blank=True)
    state_changed_at = models.DateTimeField(null=True, blank=True)
    # The last payment start the provider accepted on this account.
    last_used_at = models.DateTimeField(null=True, blank=True)
    # When the stored secret itself stops working or is due for rotation: an expiry the provider
    # gave, or the age limit the admin set (the rotation code keeps it). Not the access token's,
    # which is AccessToken.expires_at and renewed by itself.
    secret_expires_at = models.DateTimeField(null=True, blank=True)

    # -- rotation (credentials/rotation.py) ------------------------------------------------------
    # Where a two-phase rotation stands: pending (the new secret is stored, not yet verified),
    # activated (the new one is active, the old one is kept in `previous_secrets_encrypted` until it
    # is retired). Empty: no rotation in progress. Moves only by conditional UPDATEs.
    rotation_step = models.CharField(
        max_length=10, choices=RotationStep.choices, blank=True, default=""
    )
    rotation_started_at = models.DateTimeField(null=True, blank=True)
    previous_secrets_encrypted = models.TextField(blank=True, default="")
    # When the active secrets were last replaced (the age a reminder counts from).
    secrets_changed_at = models.DateTimeField(null=True, blank=True)
    # Policy: rotate by ourselves every N days where the provider allows it (Integra's reset, a new
    # Klearly merchant token, a new Payroc bearer); None: never by policy.
    self_rotate_every_days = models.PositiveSmallIntegerField(null=True, blank=True)
    # Policy for keys only the provider issues (USAePay, KOMOJU, the Payroc API key): the admin's
    # age limit; a reminder is due `KEY_REMINDER_DAYS` before it. None: no limit.
    key_age_limit_days = models.PositiveSmallIntegerField(null=True, blank=True)
    key_reminded_at = models.DateTimeField(null=True, blank=True)

    # -- needs attention ---------------------------------------------------------------------------
    # The fact itself is `state` = needs_attention with `state_reason` (why, in plain words) and
    # `state_changed_at` (since when), set through `account_set_state`. These two say which
    # mechanism raised it (so only that mechanism's success clears it) and the exact steps.
    needs_attention_cause = models.CharField(
        max_length=10, choices=AttentionCause.choices, blank=True, default=""
    )
    recovery_steps = models.TextField(blank=True, default="")

    # -- token refresh (credentials/refresh.py) ----------------------------------------------------
    # A short lease, so one account's token is never refreshed twice at once.
    refresh_lease_until = models.DateTimeField(null=True, blank=True)

    # -- webhooks (credentials/webhook_check.py) ---------------------------------------------------
    # The last delivery to the account's webhook address whose signature matched the webhook secret
    # held here, and the last one refused for its signature (stamped by payments/webhooks.py; the
    # deliveries themselves are payments' ReceivedWebhook). The webhook page and its "Send a test
    # webhook" read them.
    webhook_received_at = models.DateTimeField(null=True, blank=True)
    webhook_refused_at = models.DateTimeField(null=True, blank=True)

    objects = ProviderAccountQuerySet.as_manager()

    class Meta:
        ordering = ["merchant__name", "provider", "label"]
        indexes = [
            models.Index(fields=["state"], name="account_state"),
            models.Index(fields=["secret_expires_at"], name="account_secret_expiry"),
            models.Index(fields=["last_verified_at"], name="account_last_verified"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "provider", "label"], name="provider_account_label_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_provider_display()} · {self.label} ({self.get_environment_display()})"

    def __repr__(self) -> str:
        return f"<ProviderAccount {self.pk} {self.provider}/{self.environment}>"

    @property
    def endpoints(self):
        return endpoints_for(self.provider, self.environment)

    def secrets(self) -> dict[str, str]:
        return vault.decrypt(self.secrets_encrypted)

    def masked_secrets(self) -> dict[str, str]:
        return {name: vault.mask(value) for name, value in self.secrets().items()}

    @property
    def needs_attention(self) -> bool:
        return self.state == AccountState.NEEDS_ATTENTION

    @property
    def needs_attention_reason(self) -> str:
        return self.state_reason if self.needs_attention else ""

    @property
    def rotation_in_progress(self) -> bool:
        return bool(self.rotation_step)


class AccessToken(models.Model):
    """The provider's current bearer token for an account (Payroc, Klearly), encrypted like a secret."""

    account = models.OneToOneField(
        ProviderAccount, on_delete=models.CASCADE, related_name="access_token"
    )
    token_encrypted = models.TextField()
    expires_at = models.DateTimeField()
    obtained_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["expires_at"])]


class AuditAction(models.TextChoices):
    CREATED = "created", "Account created"
    EDITED = "edited", "Account edited"
    TOKEN_OBTAINED = "token_obtained", "Access token obtained"
    TOKEN_REFRESHED = "token_refreshed", "Access token refreshed"
    TOKEN_REFRESH_FAILED = "token_refresh_failed", "Access token refresh failed"
    VERIFIED = "verified", "Verified against the provider"
    VERIFY_FAILED = "verify_failed", "Verification failed"
    STATE_CHANGED = "state_changed", "State changed"
    SYNCED = "synced", "Terminal list read"
    SYNC_FAILED = "sync_failed", "Terminal list could not be read"
    ROTATION_STARTED = "rotation_started", "New secret stored as pending"
    ROTATION_VERIFIED = "rotation_verified", "Pending secret verified"
    ROTATION_ACTIVATED = "rotation_activated", "New secret verified and activated"
    ROTATION_RETIRED = "rotation_retired", "Old secret retired"
    ROTATION_FAILED = "rotation_failed", "New secret failed verification; the old one stays active"
    ROTATION_RESET = "rotation_reset", "Provider asked to issue a new secret"
    ROTATION_ABANDONED = "rotation_abandoned", "Interrupted rotation finished the safe way"
    KEY_REMINDER = "key_reminder", "Key close to its age limit: reminder sent"
    POLICY_CHANGED = "policy_changed", "Rotation policy changed"
    SECRET_REVEAL_REFUSED = (
        "secret_reveal_refused",
        "Secret reveal refused (secrets are write-only)",
    )
    KEY_ROTATED = "key_rotated", "Re-encrypted under the newest vault key"
    WEBHOOK_TESTED = "webhook_tested", "Test webhook sent"


class AuditOutcome(models.TextChoices):
    SUCCESS = "success", "Succeeded"
    FAILURE = "failure", "Failed"
    REFUSED = "refused", "Refused"
    UNANSWERED = "unanswered", "No answer (the provider's outcome is unknown)"


class AuditEntryQuerySet(models.QuerySet):
    def for_user(self, user) -> AuditEntryQuerySet:
        """Platform admins: every entry; reseller admins: their merchants' entries (an entry of no
        merchant, e.g. a key re-encryption summary, is the platform's); anyone else: their merchant's
        (the views only let platform and reseller admins in)."""
        return scoped_to_merchant(self, user, "merchant")


class AuditEntry(models.Model):
    """One thing that happened to a credential: append-only. Written only by
    `credentials.audit.audit_record`; a PostgreSQL trigger (migration 0004) refuses every UPDATE,
    DELETE and TRUNCATE of the table, except the one UPDATE Django makes when an actor's user is
    deleted (`actor` set to NULL; `actor_label` keeps who it was). `detail` never holds a secret."""

    created_at = models.DateTimeField(default=timezone.now, editable=False)
    action = models.CharField(max_length=40, choices=AuditAction.choices)
    outcome = models.CharField(
        max_length=10, choices=AuditOutcome.choices, default=AuditOutcome.SUCCESS
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="credential_audit_entries",
    )
    # Who it was when it happened ("system" for beat and workers): kept if the user goes.
    actor_label = models.CharField(max_length=254)
    account = models.ForeignKey(
        ProviderAccount,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="audit_events",
    )
    merchant = models.ForeignKey(
        Merchant,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="credential_audit_entries",
    )
    source_address = models.CharField(max_length=45, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    detail = models.CharField(max_length=500, blank=True)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "audit entries"
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="audit_recent"),
            models.Index(fields=["merchant", "-created_at", "-id"], name="audit_merchant_recent"),
            models.Index(fields=["account", "-created_at", "-id"], name="audit_account_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.action} {self.outcome}"

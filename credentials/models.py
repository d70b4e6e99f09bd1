"""Provider accounts with secrets encrypted at rest, their cached access tokens, and an audit trail."""

from __future__ import annotations

import uuid as uuid_lib

from django.conf import settings
from django.db import models

from credentials import vault
from credentials.environments import ENVIRONMENT_CHOICES, endpoints_for
from dashboard.models import Merchant, scoped_to_merchant
from providers.registry import provider_choices


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
        return self.exclude(needs_attention_reason="")

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
    # Why a person must act (the provider's reason, in plain words), and the exact steps; empty: no.
    needs_attention_reason = models.CharField(max_length=300, blank=True, default="")
    needs_attention_cause = models.CharField(
        max_length=10, choices=AttentionCause.choices, blank=True, default=""
    )
    recovery_steps = models.TextField(blank=True, default="")
    needs_attention_since = models.DateTimeField(null=True, blank=True)

    # -- token refresh (credentials/refresh.py) ----------------------------------------------------
    # A short lease, so one account's token is never refreshed twice at once.
    refresh_lease_until = models.DateTimeField(null=True, blank=True)

    objects = ProviderAccountQuerySet.as_manager()

    class Meta:
        ordering = ["merchant__name", "provider", "label"]
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
        return bool(self.needs_attention_reason)

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
    TOKEN_OBTAINED = "token_obtained", "Access token obtained"
    VERIFIED = "verified", "Verified against the provider"
    VERIFY_FAILED = "verify_failed", "Verification failed"
    ROTATION_STARTED = "rotation_started", "New secret stored as pending"
    ROTATION_ACTIVATED = "rotation_activated", "New secret verified and activated"
    ROTATION_FAILED = "rotation_failed", "New secret failed verification; the old one stays active"
    KEY_ROTATED = "key_rotated", "Re-encrypted under the newest vault key"


class CredentialAuditEvent(models.Model):
    account = models.ForeignKey(
        ProviderAccount, on_delete=models.CASCADE, related_name="audit_events"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    action = models.CharField(max_length=30, choices=AuditAction.choices)
    detail = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

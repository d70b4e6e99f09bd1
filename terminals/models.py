"""Terminals of every provider account, their status history, and the runs that sync them.

A Terminal is what a provider addresses a payment to (Payroc serial number, USAePay device key, KOMOJU
terminal id, Klearly device id, MobilePay PoS id: always `provider_ref`). It belongs to one
ProviderAccount and so to that account's merchant; `merchant` and `provider` are copied from the
account when the terminal is first seen (an account never changes merchant or provider), so the fleet
page filters and sorts on the terminal's own columns.

A terminal that disappears from its provider's list becomes inactive; it is never deleted, so its
payments keep their terminal (`on_delete=PROTECT` everywhere).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Count, Q

from credentials.models import ProviderAccount
from dashboard.models import (
    Merchant,
    Store,
    scoped_to_merchant,
    scoped_to_store,
)
from providers.registry import provider_choices, terminal_ref_label

NAME_MAX_LENGTH = 64


class TerminalStatus(models.TextChoices):
    ONLINE = "online", "online"
    OFFLINE = "offline", "offline"
    BUSY = "busy", "busy"
    UNKNOWN = "unknown", "unknown"


class StatusSource(models.TextChoices):
    REPORTED = "reported", "reported by the provider"
    PROBED = "probed", "probed by us"


class TerminalQuerySet(models.QuerySet):
    def for_user(self, user) -> TerminalQuerySet:
        """The terminals `user` may see.

        A cashier tied to one store sees that store's terminals and the merchant's terminals that
        are not assigned to any store: an unassigned terminal may stand at any counter, and hiding
        it would leave nobody at the counter able to see whether it works. A cashier without a
        store sees all of the merchant's terminals, like a manager.
        """
        return scoped_to_store(self, user)

    def active(self) -> TerminalQuerySet:
        return self.filter(is_active=True)

    def status_counts(self) -> dict[str, int]:
        """{status: count} of the active terminals, every status present (one query)."""
        counts = self.active().aggregate(
            **{status: Count("pk", filter=Q(status=status)) for status in TerminalStatus.values}
        )
        return {status: counts[status] or 0 for status in TerminalStatus.values}


class Terminal(models.Model):
    account = models.ForeignKey(ProviderAccount, on_delete=models.PROTECT, related_name="terminals")
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="terminals")
    store = models.ForeignKey(
        Store, on_delete=models.PROTECT, null=True, blank=True, related_name="terminals"
    )
    # The registry's providers, read when needed: a new provider needs no migration.
    provider = models.CharField(max_length=20, choices=provider_choices)

    # The provider's identifiers.
    provider_ref = models.CharField(
        max_length=100, help_text="What the provider addresses the terminal by"
    )
    serial_number = models.CharField(max_length=100, blank=True)
    model = models.CharField(max_length=100, blank=True)
    provider_name = models.CharField(
        max_length=200, blank=True, help_text="The name the provider last reported"
    )

    # The name shown in the dashboard. `name_is_local`: set here because the provider has no rename
    # API; a sync then keeps it instead of taking the provider's name.
    name = models.CharField(max_length=NAME_MAX_LENGTH)
    name_is_local = models.BooleanField(default=False)
    renamed_at = models.DateTimeField(null=True, blank=True)

    status = models.CharField(
        max_length=10, choices=TerminalStatus.choices, default=TerminalStatus.UNKNOWN
    )
    status_source = models.CharField(
        max_length=10, choices=StatusSource.choices, default=StatusSource.REPORTED
    )
    status_reason = models.CharField(
        max_length=200, blank=True, help_text="Why the status is what it is, in plain words"
    )
    provider_status = models.CharField(
        max_length=100, blank=True, help_text="The provider's own status word"
    )
    status_checked_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Last time the provider reported it online (listed, for providers without an online status)",
    )

    is_active = models.BooleanField(default=True)
    deactivated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TerminalQuerySet.as_manager()

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "provider_ref"], name="terminal_ref_unique_in_account"
            ),
        ]
        indexes = [
            # The fleet page: a merchant's (or reseller's) active terminals by name or status.
            models.Index(fields=["merchant", "is_active", "name"], name="terminal_fleet_name"),
            models.Index(fields=["merchant", "is_active", "status"], name="terminal_fleet_status"),
            models.Index(fields=["is_active", "name", "id"], name="terminal_active_name"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def ref_label(self) -> str:
        return terminal_ref_label(self.provider)


class EventKind(models.TextChoices):
    ADDED = "added", "First seen at the provider"
    STATUS = "status", "Status changed"
    RENAMED = "renamed", "Renamed"
    RENAME_FAILED = "rename_failed", "Rename refused"
    ASSIGNED = "assigned", "Store changed"
    DEACTIVATED = "deactivated", "Deactivated"
    REACTIVATED = "reactivated", "Listed again"


class TerminalEvent(models.Model):
    """One line of a terminal's history: a status change (with where it came from), a rename (with
    who did it, and whether the provider has it), a store assignment, (de)activation."""

    terminal = models.ForeignKey(Terminal, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20, choices=EventKind.choices)
    status_from = models.CharField(max_length=10, choices=TerminalStatus.choices, blank=True)
    status_to = models.CharField(max_length=10, choices=TerminalStatus.choices, blank=True)
    source = models.CharField(max_length=10, choices=StatusSource.choices, blank=True)
    old_value = models.CharField(max_length=200, blank=True)
    new_value = models.CharField(max_length=200, blank=True)
    detail = models.CharField(max_length=300, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["terminal", "-created_at"], name="terminal_event_history")]


class SyncState(models.TextChoices):
    QUEUED = "queued", "queued"
    FETCHING = "fetching", "reading the provider's terminal list"
    SAVING = "saving", "saving"
    RETRYING = "retrying", "waiting to try again"
    SUCCEEDED = "succeeded", "done"
    FAILED = "failed", "failed"


# Plain strings: the partial unique constraint below is written into a migration.
ACTIVE_SYNC_STATES = ["queued", "fetching", "saving", "retrying"]


class SyncRunQuerySet(models.QuerySet):
    def for_user(self, user) -> SyncRunQuerySet:
        """Runs of the accounts whose terminals the user may see (through the account's merchant)."""
        return scoped_to_merchant(self, user, "account__merchant")

    def active(self) -> SyncRunQuerySet:
        return self.filter(state__in=ACTIVE_SYNC_STATES)


class SyncTrigger(models.TextChoices):
    SCHEDULE = "schedule", "on schedule"
    USER = "user", "Sync now"


class SyncRun(models.Model):
    """One read of an account's terminal list and what it changed. At most one active run per
    account (the database refuses a second), so a "Sync now" during a scheduled sync joins it."""

    account = models.ForeignKey(
        ProviderAccount, on_delete=models.CASCADE, related_name="terminal_syncs"
    )
    trigger = models.CharField(max_length=10, choices=SyncTrigger.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    state = models.CharField(max_length=10, choices=SyncState.choices, default=SyncState.QUEUED)
    not_before = models.DateTimeField(
        help_text="The run starts once the account's rate budget allows"
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    requests = models.PositiveIntegerField(default=0, help_text="Provider requests the run made")
    listed = models.PositiveIntegerField(default=0)
    added = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    deactivated = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = SyncRunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["account"],
                condition=Q(state__in=ACTIVE_SYNC_STATES),
                name="one_active_sync_per_account",
            )
        ]
        indexes = [models.Index(fields=["account", "-started_at"], name="sync_run_latest")]

    def __str__(self) -> str:
        return f"sync of {self.account_id} ({self.state})"

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_SYNC_STATES

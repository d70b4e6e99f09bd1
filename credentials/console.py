"""The credentials console: every provider account's health in words and a badge, its filters
(kept in the URL), the admin home page's summary, and what a merchant manager may know.

An account's health is read from its row and its access token only (`ProviderAccount.state` and
`state_reason`, `secret_expires_at`, `AccessToken.expires_at`), so a page of the console is one query
however many accounts there are; the states are set by the services (verification, refresh,
rotation), never computed here from provider calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import django_filters
from django.db.models import Count, Q
from django.utils import timezone

from credentials.models import AccountState, AuditAction, AuditEntry, AuditOutcome, ProviderAccount
from dashboard.models import Merchant, Reseller, Role, membership_of
from providers.registry import provider_choices

PAGE_SIZE = 50
STALE_AFTER = timedelta(days=30)
EXPIRING_WITHIN = timedelta(days=7)

# The console's "state" filter: the stored states and three read from the dates.
EXPIRED = "expired"
EXPIRING = "expiring"
STALE = "stale"
ATTENTION = "attention"  # needs attention or invalid: what the home page counts
STATE_FILTER_CHOICES = [
    (ATTENTION, "Needs attention or invalid"),
    *AccountState.choices,
    (EXPIRED, "Expired"),
    (EXPIRING, "Expires within 7 days"),
    (STALE, "Not verified for 30 days"),
]


def in_words(delta: timedelta) -> str:
    """A duration as a person says it: "3 minutes", "5 hours", "2 days"."""
    seconds = max(0, int(delta.total_seconds()))
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return "less than a minute"


@dataclass(frozen=True)
class Health:
    words: str  # the state in plain words, with why
    badge: str  # the badge's text
    tone: str  # "ok", "warn", "bad" or "" (a CSS class badge-<tone>)
    countdown: str = ""  # "token expires in 12 minutes", "key due in 5 days"


def account_health(account: ProviderAccount, *, now: datetime | None = None) -> Health:
    """The console's words for `account` (its `access_token` read with it, or None)."""
    now = now or timezone.now()
    state = account.state
    reason = account.state_reason
    if state == AccountState.ROTATING:
        return Health(
            "Rotation in progress: the current secret keeps working until the new one is verified."
            + (f" {reason}" if reason else ""),
            "Rotation in progress",
            "warn",
        )
    if state == AccountState.NEEDS_ATTENTION:
        return Health(
            f"Needs attention: {reason or 'see the audit trail.'}", "Needs attention", "bad"
        )
    if state == AccountState.INVALID:
        return Health(
            f"Invalid: {reason or 'the provider refused the credentials.'}", "Invalid", "bad"
        )
    expires = account.secret_expires_at
    if expires is not None and expires <= now:
        return Health(
            f"Expired {in_words(now - expires)} ago: rotate the secret.",
            "Expired",
            "bad",
            f"expired {in_words(now - expires)} ago",
        )
    token = _token_of(account)
    countdown = ""
    if expires is not None:
        countdown = f"secret due in {in_words(expires - now)}"
    if token is not None:
        if token.expires_at <= now:
            return Health(
                "Token expired: a new one is obtained before the next call.",
                "Token expired",
                "warn",
                countdown or f"token expired {in_words(now - token.expires_at)} ago",
            )
        countdown = countdown or f"token expires in {in_words(token.expires_at - now)}"
    if state == AccountState.UNVERIFIED:
        return Health("Not verified yet: press Verify now.", "Not verified", "", countdown)
    if expires is not None and expires - now <= EXPIRING_WITHIN:
        return Health(
            f"Valid; the secret is due in {in_words(expires - now)}.",
            "Expires soon",
            "warn",
            countdown,
        )
    if token is not None:
        return Health(
            f"Valid; token expires in {in_words(token.expires_at - now)}.", "Valid", "ok", countdown
        )
    return Health("Valid.", "Valid", "ok", countdown)


def _token_of(account: ProviderAccount):
    try:
        return account.access_token
    except ProviderAccount.access_token.RelatedObjectDoesNotExist:
        return None


def works(account: ProviderAccount) -> bool:
    """What a merchant manager is told: whether payments on it can be expected to go through."""
    return account.is_active and account.state in (AccountState.VALID, AccountState.ROTATING)


# --- filters --------------------------------------------------------------------------------------


class ConsoleFilter(django_filters.FilterSet):
    """Filters of the console (all in the URL). Reseller and merchant choices come from `for_user`,
    read once as (id, name) pairs that both validate the query and fill the selects."""

    state = django_filters.ChoiceFilter(
        choices=STATE_FILTER_CHOICES, method="filter_state", label="State"
    )
    provider = django_filters.ChoiceFilter(choices=provider_choices, label="Provider")
    reseller = django_filters.NumberFilter(method="filter_reseller", label="Reseller")
    merchant = django_filters.NumberFilter(method="filter_merchant", label="Merchant")

    class Meta:
        model = ProviderAccount
        fields: list[str] = []

    def __init__(self, data, queryset, *, user, now=None, **kwargs):
        super().__init__(data, queryset, **kwargs)
        self.now = now or timezone.now()
        membership = membership_of(user)
        self.show_reseller = membership is not None and membership.role == Role.PLATFORM_ADMIN
        self.reseller_options = (
            list(Reseller.objects.for_user(user).order_by("name").values_list("pk", "name"))
            if self.show_reseller
            else []
        )
        merchants = Merchant.objects.for_user(user).order_by("name")
        reseller = (data or {}).get("reseller", "")
        if self.show_reseller and reseller in {str(pk) for pk, _ in self.reseller_options}:
            merchants = merchants.filter(reseller_id=reseller)
        self.merchant_options = list(merchants.values_list("pk", "name"))
        self.reseller_ids = {str(pk) for pk, _ in self.reseller_options}
        self.merchant_ids = {str(pk) for pk, _ in self.merchant_options}

    def filter_state(self, queryset, name, value):
        now = self.now
        if value == ATTENTION:
            return queryset.filter(state__in=[AccountState.NEEDS_ATTENTION, AccountState.INVALID])
        if value == EXPIRED:
            return queryset.filter(secret_expires_at__lte=now)
        if value == EXPIRING:
            return queryset.filter(
                secret_expires_at__gt=now, secret_expires_at__lte=now + EXPIRING_WITHIN
            )
        if value == STALE:
            return queryset.filter(
                Q(last_verified_at__lt=now - STALE_AFTER) | Q(last_verified_at__isnull=True)
            )
        return queryset.filter(state=value)

    def filter_reseller(self, queryset, name, value):
        if value != int(value) or str(int(value)) not in self.reseller_ids:
            return queryset.none()
        return queryset.filter(merchant__reseller_id=int(value))

    def filter_merchant(self, queryset, name, value):
        # Only the user's merchants are offered; any other id matches nothing (and reveals nothing).
        if value != int(value) or str(int(value)) not in self.merchant_ids:
            return queryset.none()
        return queryset.filter(merchant_id=int(value))


CONSOLE_ORDER = (
    "merchant__reseller__name",
    "merchant__name",
    "merchant_id",
    "provider",
    "label",
    "pk",
)


def console_page(queryset, page_size: int, number):
    """One page of the console, grouped by reseller, then merchant (the pk breaks ties so pages
    never overlap). The sort runs over the account ids alone (narrow rows: no encrypted secrets
    or settings carried through it), then the page's accounts are read with their merchant,
    reseller and token: the same queries for 10 accounts and for 10,000."""
    from django.core.paginator import Paginator

    page = Paginator(queryset.order_by(*CONSOLE_ORDER).values_list("pk", flat=True), page_size)
    page = page.get_page(number)
    ids = list(page.object_list)
    loaded = (
        ProviderAccount.objects.filter(pk__in=ids)
        .select_related("merchant__reseller", "access_token")
        .defer("secrets_encrypted", "pending_secrets_encrypted", "previous_secrets_encrypted")
    )
    by_id = {account.pk: account for account in loaded}
    page.object_list = [by_id[pk] for pk in ids if pk in by_id]
    return page


# --- the home page's summary ----------------------------------------------------------------------


def console_summary(user, *, now: datetime | None = None) -> dict[str, int]:
    """How many of the user's accounts need attention (or are invalid), expire within 7 days (or
    have expired), and have not been verified for 30 days: one query."""
    now = now or timezone.now()
    return (
        ProviderAccount.objects.for_user(user)
        .active()
        .aggregate(
            attention=Count(
                "pk", filter=Q(state__in=[AccountState.NEEDS_ATTENTION, AccountState.INVALID])
            ),
            expiring=Count("pk", filter=Q(secret_expires_at__lte=now + EXPIRING_WITHIN)),
            stale=Count(
                "pk",
                filter=Q(last_verified_at__lt=now - STALE_AFTER) | Q(last_verified_at__isnull=True),
            ),
            total=Count("pk"),
        )
    )


def merchant_accounts(user) -> list[dict]:
    """A merchant manager's view: each account's provider, label and whether it works; nothing else."""
    rows = (
        ProviderAccount.objects.for_user(user)
        .active()
        .only("pk", "provider", "label", "state", "is_active", "merchant_id")
    )
    return [
        {"provider": a.get_provider_display(), "label": a.label, "works": works(a)}
        for a in rows.order_by("provider", "label")
    ]


# --- the audit page's filters ---------------------------------------------------------------------

DATE_FORMAT = "%Y-%m-%d"


class AuditFilter(django_filters.FilterSet):
    action = django_filters.ChoiceFilter(choices=AuditAction.choices, label="Action")
    outcome = django_filters.ChoiceFilter(choices=AuditOutcome.choices, label="Outcome")
    merchant = django_filters.NumberFilter(method="filter_merchant", label="Merchant")
    account = django_filters.NumberFilter(method="filter_account", label="Account")
    actor = django_filters.CharFilter(
        field_name="actor_label", lookup_expr="iexact", label="Who (email)", max_length=254
    )
    since = django_filters.DateFilter(
        field_name="created_at", lookup_expr="date__gte", label="From"
    )
    until = django_filters.DateFilter(field_name="created_at", lookup_expr="date__lte", label="To")

    class Meta:
        model = AuditEntry
        fields: list[str] = []

    def __init__(self, data, queryset, *, user, **kwargs):
        super().__init__(data, queryset, **kwargs)
        self.user = user
        self.merchant_options = list(
            Merchant.objects.for_user(user).order_by("name").values_list("pk", "name")
        )
        self.merchant_ids = {str(pk) for pk, _ in self.merchant_options}

    def filter_merchant(self, queryset, name, value):
        if value != int(value) or str(int(value)) not in self.merchant_ids:
            return queryset.none()
        return queryset.filter(merchant_id=int(value))

    def filter_account(self, queryset, name, value):
        if value != int(value) or not (0 < value < 2**63):
            return queryset.none()
        # The queryset is already the user's: another tenant's account id matches nothing.
        return queryset.filter(account_id=int(value))

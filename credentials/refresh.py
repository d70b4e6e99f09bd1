"""Tokens that expire (Payroc's bearer, Klearly's merchant token) replaced ahead of their expiry.

Beat runs `tokens_refresh_due` every `REFRESH_EVERY_S`: it claims every active account whose cached
token expires within `CREDENTIALS_REFRESH_AHEAD_S` with a short lease (one UPDATE for all of them,
stamped with this run's moment, so two beats never claim the same account) and schedules one
`refresh_account_token` task per account. The task gets a new token with the account's secrets,
saves it, and gives the lease back. An account whose lease is held (a refresh queued or running)
is skipped, so a refresh never runs twice at once for one account, and a thousand accounts
refresh without a stampede: the worker's pool takes them a few at a time. A worker that dies
mid-refresh leaves its lease to expire (`CREDENTIALS_REFRESH_LEASE_S`); the next beat claims it
again. The adapters still refresh by themselves 2 minutes before expiry and once after a 401.

A refresh the provider refuses (or does not answer) turns the account to "needs attention" with
the provider's reason; the next refresh that works clears it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from credentials import budget
from credentials.audit import audit_record
from credentials.models import (
    AccessToken,
    AttentionCause,
    AuditAction,
    AuditOutcome,
    ProviderAccount,
)
from credentials.rotation import api_name
from credentials.services import attention_clear, attention_set, provider_for
from providers.errors import ProviderError

logger = logging.getLogger(__name__)

REFRESH_EVERY_S = 30.0  # the beat cadence (config/settings.py CELERY_BEAT_SCHEDULE)
REFRESH_AHEAD_S = 600  # a token expiring within 10 minutes is replaced
REFRESH_LEASE_S = 120  # how long a claimed refresh holds its account


def _ahead() -> timedelta:
    return timedelta(seconds=getattr(settings, "CREDENTIALS_REFRESH_AHEAD_S", REFRESH_AHEAD_S))


def _lease() -> timedelta:
    return timedelta(seconds=getattr(settings, "CREDENTIALS_REFRESH_LEASE_S", REFRESH_LEASE_S))


def tokens_due(*, now: datetime | None = None):
    """Active accounts whose cached token expires within the refresh margin, not leased, not in a
    rotation (a rotation brings its own token)."""
    now = now or timezone.now()
    expiring = AccessToken.objects.filter(expires_at__lte=now + _ahead()).values("account_id")
    return (
        ProviderAccount.objects.active()
        .filter(pk__in=expiring, rotation_step="")
        .filter(Q(refresh_lease_until__isnull=True) | Q(refresh_lease_until__lt=now))
    )


def tokens_refresh_due(*, now: datetime | None = None) -> int:
    """Beat: claim every account whose token is due and schedule its refresh. Returns how many."""
    now = now or timezone.now()
    stamp = now + _lease()
    claimed = tokens_due(now=now).update(refresh_lease_until=stamp)
    if not claimed:
        return 0
    # The claim's own moment names the accounts it won: another beat writes another one.
    for account_id in ProviderAccount.objects.filter(refresh_lease_until=stamp).values_list(
        "pk", flat=True
    ):
        _schedule("refresh_account_token", account_id=account_id, lease=stamp.isoformat())
    return claimed


def token_refresh(*, account_id: int, lease: str | None = None) -> bool:
    """A new token for the account, saved for every process; False when the provider refused or did
    not answer (the account then needs attention with its reason). Gives the lease back."""
    account = ProviderAccount.objects.filter(pk=account_id, is_active=True).first()
    if account is None:
        return False
    if lease is not None and account.refresh_lease_until != datetime.fromisoformat(lease):
        return False  # the lease expired and another refresh holds the account now
    api = api_name(account.provider)
    sent: list = []
    try:
        with provider_for(account) as adapter:
            adapter.client.event_hooks["request"].append(sent.append)
            token = adapter.obtain_token()
    except ProviderError as exc:
        _failed(account, exc, api)
        return False
    finally:
        budget.budget_record(account.pk, len(sent))
        ProviderAccount.objects.filter(pk=account.pk).update(refresh_lease_until=None)
    attention_clear(account, AttentionCause.REFRESH)
    audit_record(
        action=AuditAction.TOKEN_REFRESHED,
        outcome=AuditOutcome.SUCCESS,
        account=account,
        detail=f"expires {token.expires_at:%Y-%m-%d %H:%M:%S} UTC" if token else "",
    )
    return True


def _failed(account: ProviderAccount, exc: ProviderError, api: str) -> None:
    if exc.permanent:
        reason = f"{api} refused to issue a new token: {exc.message}"
        steps = (
            f"1. Check the account's credentials at {api}: they may have been revoked or replaced.\n"
            f'2. Enter the current ones with "Rotate" (verified before they are saved).\n'
            f"3. The token is refreshed again within a minute once they work."
        )
    else:
        reason = f"{api} did not answer the token refresh: {exc.message}"
        steps = (
            f"1. Nothing to do yet: the refresh is tried again every minute while the token is "
            f"valid.\n"
            f'2. If it stays unanswered, check {api}\'s status page, then press "Verify now".'
        )
    attention_set(account=account, cause=AttentionCause.REFRESH, reason=reason, steps=steps)
    audit_record(
        action=AuditAction.TOKEN_REFRESH_FAILED,
        outcome=AuditOutcome.FAILURE,
        account=account,
        detail=reason,
    )
    logger.warning("token refresh of account %s failed: %s", account.pk, exc.message)


def _schedule(task_name: str, **kwargs) -> None:
    from credentials import tasks  # the scheduling edge: tasks import this module, not the reverse

    getattr(tasks, task_name).apply_async_on_commit(kwargs=kwargs)

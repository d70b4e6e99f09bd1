"""The only code that changes credential state. Secrets are decrypted only here, just before a provider
call, and never logged or put into an exception message."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from credentials import budget, vault
from credentials.audit import audit_record
from credentials.models import (
    AccessToken,
    AccountState,
    AttentionCause,
    AuditAction,
    AuditOutcome,
    ProviderAccount,
)
from providers.base import AccountConfig, Token
from providers.errors import ProviderError
from providers.http import make_client
from providers.registry import capabilities_for, get_provider, provider_class


def _audit(
    account: ProviderAccount,
    action: str,
    *,
    actor=None,
    detail: str = "",
    outcome: str = AuditOutcome.SUCCESS,
    request=None,
) -> None:
    audit_record(
        action=action, outcome=outcome, actor=actor, account=account, request=request, detail=detail
    )


def account_set_state(
    *,
    account: ProviderAccount,
    state: str,
    reason: str = "",
    actor=None,
    request=None,
    audit: bool = True,
) -> bool:
    """Put `account` in `state` (AccountState) with `reason` in plain words (why it is invalid or
    needs attention, and the recovery steps; never a secret). A change is written to the audit
    trail; setting the state it already has with the same reason writes nothing. Returns whether
    anything changed. The rotation and refresh code call this for `rotating` and
    `needs_attention`; verification sets `valid` and `invalid` itself."""
    if state not in AccountState.values:
        raise ValueError(f"unknown account state {state!r}")
    reason = " ".join(reason.split())[:500]
    now = timezone.now()
    changed = (
        ProviderAccount.objects.filter(pk=account.pk)
        .exclude(state=state, state_reason=reason)
        .update(state=state, state_reason=reason, state_changed_at=now)
    )
    if not changed:
        return False
    previous = account.get_state_display()
    account.state, account.state_reason, account.state_changed_at = state, reason, now
    if audit:
        _audit(
            account,
            AuditAction.STATE_CHANGED,
            actor=actor,
            request=request,
            detail=f"{previous} → {account.get_state_display()}"
            + (f": {reason}" if reason else ""),
        )
    return True


def attention_set(*, account: ProviderAccount, cause: str, reason: str, steps: str = "") -> None:
    """A person must act: the account needs attention because of `cause` (AttentionCause), with
    `reason` in plain words and the exact recovery `steps` (never a secret)."""
    ProviderAccount.objects.filter(pk=account.pk).update(
        needs_attention_cause=cause, recovery_steps=steps
    )
    account.needs_attention_cause, account.recovery_steps = cause, steps
    account_set_state(account=account, state=AccountState.NEEDS_ATTENTION, reason=reason)


def attention_clear(account: ProviderAccount, *causes: str) -> int:
    """End a "needs attention" raised by one of `causes` (the mechanism that raised it succeeded):
    the account is valid again. Another cause's attention stays. Returns whether one ended."""
    cleared = ProviderAccount.objects.filter(
        pk=account.pk, needs_attention_cause__in=causes
    ).update(needs_attention_cause="", recovery_steps="")
    if cleared:
        account.needs_attention_cause, account.recovery_steps = "", ""
        account_set_state(account=account, state=AccountState.VALID)
    return cleared


def account_rotation_state(account: ProviderAccount, *, rotating: bool) -> None:
    """The console's summary of a rotation: `rotating` while one runs; when it is over, valid again
    (unless it left the account needing attention)."""
    account.refresh_from_db(fields=["state"])
    if rotating and account.state != AccountState.NEEDS_ATTENTION:
        account_set_state(account=account, state=AccountState.ROTATING, audit=False)
    elif not rotating and account.state == AccountState.ROTATING:
        account_set_state(account=account, state=AccountState.VALID, audit=False)


USED_RESOLUTION_S = 60


def account_mark_used(*, account_id: int, now: datetime | None = None) -> None:
    """A payment start the provider accepted: the console's "last used". Written at most once a
    minute an account (one indexed UPDATE that matches nothing otherwise), so a busy account's
    payments do not all write its row."""
    now = now or timezone.now()
    ProviderAccount.objects.filter(pk=account_id).exclude(
        last_used_at__gt=now - timezone.timedelta(seconds=USED_RESOLUTION_S)
    ).update(last_used_at=now)


@transaction.atomic
def account_create(
    *,
    merchant,
    provider: str,
    environment: str,
    label: str,
    secrets: dict,
    settings: dict | None = None,
    actor=None,
    request=None,
) -> ProviderAccount:
    account = ProviderAccount.objects.create(
        merchant=merchant,
        provider=provider,
        environment=environment,
        label=label,
        settings=settings or {},
        secrets_encrypted=vault.encrypt(secrets),
    )
    _audit(
        account,
        AuditAction.CREATED,
        actor=actor,
        request=request,
        detail=f"{account.get_provider_display()} · {account.get_environment_display()}",
    )
    return account


def account_ensure(
    *,
    merchant,
    provider: str,
    environment: str,
    label: str,
    secrets: dict,
    settings: dict | None = None,
) -> ProviderAccount:
    """Idempotent creation for the demo loader: an existing account is left as it is."""
    existing = ProviderAccount.objects.filter(
        merchant=merchant, provider=provider, label=label
    ).first()
    if existing:
        return existing
    return account_create(
        merchant=merchant,
        provider=provider,
        environment=environment,
        label=label,
        secrets=secrets,
        settings=settings,
    )


class DatabaseTokenStore:
    """providers.base.TokenStore backed by AccessToken, so every process shares one token per account."""

    def __init__(self, account: ProviderAccount):
        self.account = account

    def load(self) -> Token | None:
        row = AccessToken.objects.filter(account=self.account).first()
        if row is None:
            return None
        return Token(
            access_token=vault.decrypt(row.token_encrypted)["access_token"],
            expires_at=row.expires_at,
        )

    def save(self, token: Token) -> None:
        AccessToken.objects.update_or_create(
            account=self.account,
            defaults={
                "token_encrypted": vault.encrypt({"access_token": token.access_token}),
                "expires_at": token.expires_at,
            },
        )
        _audit(
            self.account,
            AuditAction.TOKEN_OBTAINED,
            detail=f"expires {token.expires_at:%Y-%m-%d %H:%M:%S} UTC",
        )


def account_config(account: ProviderAccount, *, secrets: dict | None = None) -> AccountConfig:
    endpoints = account.endpoints
    return AccountConfig(
        provider=account.provider,
        environment=account.environment,
        base_url=endpoints.base_url,
        identity_url=endpoints.identity_url,
        secrets=secrets if secrets is not None else account.secrets(),
        settings=dict(account.settings),
    )


def provider_for(account: ProviderAccount, *, client=None, transport=None):
    """The provider adapter for an account, with its token cached in the database. `transport`:
    its client sends through that one (a tracker's kept-alive connections) instead of its own."""
    config = account_config(account)
    if client is None and transport is not None:
        client = make_client(config.base_url, label=account.provider, transport=transport)
    return get_provider(config, token_store=DatabaseTokenStore(account), client=client)


@dataclass
class VerifyOutcome:
    ok: bool
    message: str
    refused: bool = False  # over the budget: nothing was asked


def account_verify(*, account: ProviderAccount, actor=None, request=None) -> VerifyOutcome:
    """Check the account's secret against its provider now: a fresh access token where the provider
    issues them, then its terminal list (an authenticated read every provider has). The outcome is
    written to the account's audit trail.

    A press is a call from a person's request, so it comes out of the account's request window
    (credentials/budget.py `press_take`): one verification of an account every `PRESS_INTERVAL_S`,
    within the share of the budget for presses. A press over it asks nothing and says so
    ("Verified 3 s ago, try again in a moment.")."""
    api = provider_class(account.provider).api_name
    try:
        budget.press_take(
            account.pk,
            target="verify",
            requests_per_minute=capabilities_for(account.provider).requests_per_minute,
        )
    except budget.PressRefused as refused:
        return VerifyOutcome(False, refused.message(done="Verified", api=api), refused=True)
    requests: list = []
    try:
        with provider_for(account) as adapter:
            adapter.client.event_hooks["request"].append(requests.append)
            try:
                adapter.obtain_token()
                listed = len(adapter.list_terminals())
            finally:
                budget.budget_record(account.pk, len(requests) - 1)  # a token, further pages
    except ProviderError as exc:
        _audit(
            account,
            AuditAction.VERIFY_FAILED,
            actor=actor,
            request=request,
            outcome=AuditOutcome.FAILURE,
            detail=exc.message,
        )
        _verified(account, ok=False, reason=f"{api} did not accept the credentials: {exc.message}")
        return VerifyOutcome(False, f"{api} did not accept the credentials: {exc.message}")
    except LookupError as exc:  # no known environment for this provider
        _audit(
            account,
            AuditAction.VERIFY_FAILED,
            actor=actor,
            request=request,
            outcome=AuditOutcome.FAILURE,
            detail=str(exc),
        )
        return VerifyOutcome(False, str(exc))
    detail = f"{listed} terminal{'s' if listed != 1 else ''} listed"
    _audit(account, AuditAction.VERIFIED, actor=actor, request=request, detail=detail)
    # Credentials that work end a failed refresh's or an unanswered rotation's "needs attention"
    # (not a key-age reminder: the key is still as old).
    attention_clear(account, AttentionCause.REFRESH, AttentionCause.ROTATION)
    _verified(account, ok=True)
    return VerifyOutcome(True, f"{api} accepted the credentials ({detail}).")


def _verified(account: ProviderAccount, *, ok: bool, reason: str = "") -> None:
    """A verification's answer on the account: when, and valid or invalid. A rotation in progress
    or an account that needs attention keeps that state (the rotation or the person who settles it
    ends it), so a verification of the active secret never hides it."""
    now = timezone.now()
    account.last_verified_at = now
    ProviderAccount.objects.filter(pk=account.pk).update(last_verified_at=now)
    if account.state in (AccountState.ROTATING, AccountState.NEEDS_ATTENTION):
        return
    account_set_state(
        account=account,
        state=AccountState.VALID if ok else AccountState.INVALID,
        reason=reason,
        audit=False,  # the verification's own entry says it
    )

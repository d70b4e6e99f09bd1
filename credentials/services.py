"""The only code that changes credential state. Secrets are decrypted only here, just before a provider
call, and never logged or put into an exception message."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from credentials import budget, vault
from credentials.models import (
    AccessToken,
    AttentionCause,
    AuditAction,
    CredentialAuditEvent,
    ProviderAccount,
)
from providers.base import AccountConfig, Token
from providers.errors import ProviderError
from providers.registry import capabilities_for, get_provider, provider_class


def _audit(account: ProviderAccount, action: str, *, actor=None, detail: str = "") -> None:
    CredentialAuditEvent.objects.create(
        account=account, action=action, actor=actor, detail=detail[:300]
    )


audit_event = _audit  # for the key re-encryption (credentials/rotation.py)


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
) -> ProviderAccount:
    account = ProviderAccount.objects.create(
        merchant=merchant,
        provider=provider,
        environment=environment,
        label=label,
        settings=settings or {},
        secrets_encrypted=vault.encrypt(secrets),
    )
    _audit(account, AuditAction.CREATED, actor=actor)
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


def provider_for(account: ProviderAccount, *, client=None):
    """The provider adapter for an account, with its token cached in the database."""
    return get_provider(
        account_config(account), token_store=DatabaseTokenStore(account), client=client
    )


@dataclass
class VerifyOutcome:
    ok: bool
    message: str
    refused: bool = False  # over the budget: nothing was asked


def account_verify(*, account: ProviderAccount, actor=None) -> VerifyOutcome:
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
        _audit(account, AuditAction.VERIFY_FAILED, actor=actor, detail=exc.message)
        return VerifyOutcome(False, f"{api} did not accept the credentials: {exc.message}")
    except LookupError as exc:  # no known environment for this provider
        return VerifyOutcome(False, str(exc))
    detail = f"{listed} terminal{'s' if listed != 1 else ''} listed"
    _audit(account, AuditAction.VERIFIED, actor=actor, detail=detail)
    # Credentials that work end a failed refresh's or an unanswered rotation's "needs attention".
    ProviderAccount.objects.filter(
        pk=account.pk, needs_attention_cause__in=[AttentionCause.REFRESH, AttentionCause.ROTATION]
    ).update(
        needs_attention_cause="",
        needs_attention_reason="",
        recovery_steps="",
        needs_attention_since=None,
    )
    return VerifyOutcome(True, f"{api} accepted the credentials ({detail}).")

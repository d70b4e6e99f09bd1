"""Two-phase rotation of a provider account's credentials, its policy, and the vault's keys.

Every rotation moves the account through the same steps, each a conditional UPDATE that knows it
won (a second rotation of the same account started meanwhile is refused, never interleaved):

    ""  ──begin──►  pending  ──verified──►  activated  ──retired──►  ""
                       │
                       └── refused / not answered ──► ""  (the pending secret is dropped)

* **pending**: the new secret is stored encrypted in `pending_secrets_encrypted`; payments keep
  using the active one.
* **verify**: the provider is asked with the new secret alone (a fresh token where it issues them,
  then its terminal list). Any failure drops the pending secret and leaves the old one active.
* **activated**: the new secret becomes the active one (and its fresh token the cached one) in one
  transaction; the old one is kept in `previous_secrets_encrypted`, so nothing started before is
  cut off half-way.
* **retired**: the old one is dropped. For a key only the provider issues (USAePay, KOMOJU, the
  Payroc API key, Klearly's partner credentials) the person then revokes it at the provider.

Self-service rotation, where the provider offers it (`self_rotation_kind`):

* **a new token** (Payroc's bearer, Klearly's merchant token: `BearerTokenAdapter`): a new token is
  obtained with the account's secrets, verified, then replaces the cached one; the old one simply
  expires at the provider, so a failure at any step leaves it working.
* **Integra's reset** (`token_reset`): the reset needs the previous token and invalidates it at once,
  so the new one is stored as pending the moment it arrives and activated whatever its verification
  says (the old one no longer works anywhere). When the reset's answer is lost the old token is
  tried: still accepted → nothing happened; refused → Integra holds a token we never received, and
  the account "needs attention" with the exact recovery steps (`INTEGRA_LOST_RESET_STEPS`).

A person's rotation runs in their request (they wait for the verdict); a policy rotation runs in
the worker (`rotation_policy_run` schedules it). Every step goes to the audit trail with its outcome.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings as django_settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from credentials import budget, services, vault
from credentials.audit import audit_record
from credentials.environments import endpoints_for
from credentials.models import (
    AccessToken,
    AttentionCause,
    AuditAction,
    AuditOutcome,
    ProviderAccount,
    RotationStep,
)
from credentials.services import (
    account_rotation_state,
    attention_clear,
    attention_set,
    provider_for,
)
from providers.base import AccountConfig, BearerTokenAdapter, MemoryTokenStore, Token
from providers.errors import AuthError, ProviderError
from providers.registry import get_provider, provider_class

logger = logging.getLogger(__name__)

# A reminder for a provider-issued key is due this many days before its admin-set age limit.
KEY_REMINDER_DAYS = 14
# A rotation still `pending` after this long was interrupted (the process died between steps): a
# person may abandon it; the active secret was never touched.
ROTATION_STALE = timedelta(minutes=5)

SELF_TOKEN = "token"  # a new bearer / merchant token from the account's own secrets
SELF_RESET = "reset"  # Integra's token reset


class RotationRefused(Exception):
    """The rotation cannot start now (another one is in progress, or the provider offers no
    self-service rotation); nothing was changed. `message` is for the person."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass
class CheckOutcome:
    """What the provider said about a set of secrets. `refused`: it said no (the secret is wrong);
    otherwise a failure is one of not answering (try again)."""

    ok: bool
    message: str
    refused: bool = False
    terminals: int = 0
    token: Token | None = None


@dataclass
class RotationOutcome:
    ok: bool
    message: str
    needs_attention: bool = False


# -- facts about a provider ---------------------------------------------------------------------------


def api_name(provider: str) -> str:
    return provider_class(provider).api_name


def self_rotation_kind(provider: str) -> str:
    """How we rotate this provider's credential ourselves: SELF_RESET (Integra's token reset),
    SELF_TOKEN (a new bearer or merchant token) or "" (only the provider issues a new key)."""
    adapter = provider_class(provider)
    if callable(getattr(adapter, "token_reset", None)):
        return SELF_RESET
    if issubclass(adapter, BearerTokenAdapter):
        return SELF_TOKEN
    return ""


def can_create_token(provider: str) -> bool:
    """The provider creates a first token for a merchant that has none (Integra's manage/token)."""
    return callable(getattr(provider_class(provider), "token_create", None))


def issued_secret_names(provider: str) -> list[str]:
    """The secrets only the provider issues: every secret field except the one a self-service reset
    replaces (Integra's access token)."""
    fields = [field.name for field in provider_class(provider).secret_fields]
    if self_rotation_kind(provider) == SELF_RESET:
        return [name for name in fields if name != "access_token"]
    return fields


# -- asking the provider ------------------------------------------------------------------------------


def secrets_check(
    *,
    provider: str,
    environment: str,
    secrets: dict,
    settings: dict,
    account_id: int | None = None,
) -> CheckOutcome:
    """Ask the provider whether `secrets` work, with them alone: a fresh token where the provider
    issues them, then its terminal list. Nothing is stored; the token obtained is returned for
    activation. The calls count against the account's request window when there is one."""
    api = api_name(provider)
    try:
        endpoints = endpoints_for(provider, environment)
    except LookupError as exc:
        return CheckOutcome(False, str(exc), refused=True)
    config = AccountConfig(
        provider=provider,
        environment=environment,
        base_url=endpoints.base_url,
        identity_url=endpoints.identity_url,
        secrets=secrets,
        settings=settings,
    )
    store = MemoryTokenStore()
    sent: list = []
    try:
        with get_provider(config, token_store=store) as adapter:
            adapter.client.event_hooks["request"].append(sent.append)
            try:
                adapter.obtain_token()
                listed = len(adapter.list_terminals())
            finally:
                if account_id is not None:
                    budget.budget_record(account_id, len(sent))
    except ProviderError as exc:
        if exc.permanent:
            return CheckOutcome(False, f"{api} refused the credentials: {exc.message}", True)
        return CheckOutcome(False, f"{api} could not be asked right now: {exc.message}")
    plural = "s" if listed != 1 else ""
    return CheckOutcome(
        True,
        f"{api} accepted the credentials ({listed} terminal{plural} listed).",
        terminals=listed,
        token=store.load(),
    )


# -- the steps ----------------------------------------------------------------------------------------


def _audit(account, action: str, outcome: str, *, actor=None, request=None, detail: str = ""):
    audit_record(
        action=action,
        outcome=outcome,
        actor=actor,
        account=account,
        request=request,
        detail=detail[:300],
    )


def rotation_begin(
    *, account: ProviderAccount, pending: dict | None, actor=None, request=None, what: str = ""
) -> None:
    """Step one: `pending` (the whole new secret set; None while Integra's reset has not answered)
    stored encrypted. RotationRefused while another rotation of the account is in progress."""
    now = timezone.now()
    claimed = ProviderAccount.objects.filter(pk=account.pk, rotation_step="").update(
        rotation_step=RotationStep.PENDING,
        rotation_started_at=now,
        pending_secrets_encrypted=vault.encrypt(pending) if pending is not None else "",
    )
    if not claimed:
        _audit(
            account,
            AuditAction.ROTATION_STARTED,
            AuditOutcome.REFUSED,
            actor=actor,
            request=request,
        )
        account.refresh_from_db()
        since = account.rotation_started_at
        raise RotationRefused(
            "A rotation of this account is already in progress"
            + (f" (since {since:%H:%M:%S} UTC)." if since else ".")
        )
    _audit(
        account,
        AuditAction.ROTATION_STARTED,
        AuditOutcome.SUCCESS,
        actor=actor,
        request=request,
        detail=what,
    )
    account_rotation_state(account, rotating=True)


def rotation_pending_store(*, account: ProviderAccount, pending: dict) -> bool:
    """The pending secret set, once it is known (Integra's new token, the moment it arrives)."""
    return bool(
        ProviderAccount.objects.filter(pk=account.pk, rotation_step=RotationStep.PENDING).update(
            pending_secrets_encrypted=vault.encrypt(pending)
        )
    )


def rotation_drop(
    *,
    account: ProviderAccount,
    reason: str,
    actor=None,
    request=None,
    outcome: str = AuditOutcome.FAILURE,
    action: str = AuditAction.ROTATION_VERIFIED,
) -> bool:
    """The pending secret is dropped and the active one stays as it was."""
    dropped = ProviderAccount.objects.filter(
        pk=account.pk, rotation_step=RotationStep.PENDING
    ).update(rotation_step="", rotation_started_at=None, pending_secrets_encrypted="")
    _audit(account, action, outcome, actor=actor, request=request, detail=reason)
    account_rotation_state(account, rotating=False)
    return bool(dropped)


def rotation_activate(
    *, account: ProviderAccount, token: Token | None, actor=None, request=None, detail: str = ""
) -> bool:
    """The pending secret becomes the active one, and its fresh token the cached one, in one
    transaction; the old secret is kept as `previous` until it is retired. Clears a rotation's or a
    reminder's "needs attention"."""
    now = timezone.now()
    with transaction.atomic():
        moved = ProviderAccount.objects.filter(
            pk=account.pk, rotation_step=RotationStep.PENDING
        ).update(
            # PostgreSQL evaluates every right-hand side against the row as it was.
            previous_secrets_encrypted=F("secrets_encrypted"),
            secrets_encrypted=F("pending_secrets_encrypted"),
            pending_secrets_encrypted="",
            rotation_step=RotationStep.ACTIVATED,
            secrets_changed_at=now,
            last_verified_at=now,
            key_reminded_at=None,
        )
        if not moved:
            return False
        attention_clear(account, AttentionCause.ROTATION, AttentionCause.REMINDER)
        if token is not None:
            _token_keep(account, token)
    _audit(
        account,
        AuditAction.ROTATION_ACTIVATED,
        AuditOutcome.SUCCESS,
        actor=actor,
        request=request,
        detail=detail,
    )
    return True


def _activate_checked(account, check, *, ok: bool, token, actor=None, request=None) -> bool:
    """The pending secret's check is audited (`ok`: as it went), then the secret is activated with
    `token` and the old one retired. False: the rotation was abandoned meanwhile, nothing moved."""
    _audit(
        account,
        AuditAction.ROTATION_VERIFIED,
        AuditOutcome.SUCCESS if ok else AuditOutcome.FAILURE,
        actor=actor,
        request=request,
        detail=check.message,
    )
    if not rotation_activate(account=account, token=token, actor=actor, request=request):
        return False
    rotation_retire(account=account, actor=actor, request=request)
    return True


def rotation_retire(*, account: ProviderAccount, actor=None, request=None) -> bool:
    """The old secret is dropped: the rotation is over."""
    retired = ProviderAccount.objects.filter(
        pk=account.pk, rotation_step=RotationStep.ACTIVATED
    ).update(rotation_step="", rotation_started_at=None, previous_secrets_encrypted="")
    if retired:
        _audit(
            account,
            AuditAction.ROTATION_RETIRED,
            AuditOutcome.SUCCESS,
            actor=actor,
            request=request,
        )
        account_rotation_state(account, rotating=False)
    return bool(retired)


def rotation_abandon(*, account: ProviderAccount, actor=None, request=None) -> RotationOutcome:
    """A rotation interrupted between its steps (the process died) is finished the safe way: a
    pending secret is dropped (the active one was never touched), an activated one is retired."""
    account.refresh_from_db()
    if account.rotation_step == RotationStep.ACTIVATED:
        rotation_retire(account=account, actor=actor, request=request)
        return RotationOutcome(
            True, "The new credentials were already active; the old ones are now retired."
        )
    stale_before = timezone.now() - ROTATION_STALE
    dropped = ProviderAccount.objects.filter(
        pk=account.pk, rotation_step=RotationStep.PENDING, rotation_started_at__lt=stale_before
    ).update(rotation_step="", rotation_started_at=None, pending_secrets_encrypted="")
    if not dropped:
        return RotationOutcome(
            False, "That rotation is still running; look again in a few minutes."
        )
    _audit(
        account, AuditAction.ROTATION_ABANDONED, AuditOutcome.SUCCESS, actor=actor, request=request
    )
    account_rotation_state(account, rotating=False)
    return RotationOutcome(
        True, "The interrupted rotation was dropped; the active credentials are unchanged."
    )


def _token_keep(account: ProviderAccount, token: Token) -> None:
    AccessToken.objects.update_or_create(
        account=account,
        defaults={
            "token_encrypted": vault.encrypt({"access_token": token.access_token}),
            "expires_at": token.expires_at,
        },
    )


# -- needs attention ------------------------------------------------------------------------------------


INTEGRA_LOST_RESET_STEPS = """\
1. Integra reset this account's access token at {when} UTC, but its answer never reached us: Integra \
now holds a new token the dashboard never received, and it no longer accepts the previous one. \
Payments on this account fail until it has a token again.
2. Do not press "Reset the token" again: a reset needs the previous token, which Integra refuses now.
3. Ask Integra (MobilePay PoS support) to remove the access token of bioCode {bio_code}: Integra \
creates a new token only for a merchant that has none.
4. Then press "Create a new token" on this page: the dashboard asks Integra for a new token, \
verifies it and makes it active.
   Or, if Integra gives you the token it holds, enter it under "Edit" (it is verified before it is \
saved)."""

UNKNOWN_RESET_STEPS = """\
1. Integra did not answer the token reset at {when} UTC, and we could not tell whether the previous \
token still works (no PoS is configured to ask about).
2. Press "Verify now". If Integra accepts the credentials, nothing changed: try the reset again later.
3. If it refuses them, follow the steps for a lost reset: ask Integra (MobilePay PoS support) to remove \
the access token of bioCode {bio_code}, then press "Create a new token"."""


def _refused_steps(account: ProviderAccount) -> str:
    api = api_name(account.provider)
    return (
        f"1. Sign in to {api} and check that the account's credentials are still valid (a key may have "
        f"been revoked or replaced there).\n"
        f'2. Enter the current credentials with "Rotate" (they are verified before they replace the '
        f"stored ones).\n"
        f'3. Press "Verify now" to confirm.'
    )


# -- adding and editing an account ------------------------------------------------------------------


@dataclass
class SaveOutcome:
    account: ProviderAccount | None
    ok: bool
    message: str
    field: str | None = None  # the form field a refusal belongs to (None: the whole form)


def account_add(
    *,
    merchant,
    provider: str,
    environment: str,
    label: str,
    secrets: dict,
    settings: dict,
    actor=None,
    request=None,
) -> SaveOutcome:
    """A new account, saved only once the provider accepted its secrets (a token where it issues
    them, then its terminal list). A refusal saves nothing and says why in plain words."""
    if ProviderAccount.objects.filter(merchant=merchant, provider=provider, label=label).exists():
        return SaveOutcome(
            None,
            False,
            "This merchant already has an account of that provider with this label.",
            "label",
        )
    check = secrets_check(
        provider=provider, environment=environment, secrets=secrets, settings=settings
    )
    if not check.ok:
        audit_record(
            action=AuditAction.CREATED,
            outcome=AuditOutcome.REFUSED if check.refused else AuditOutcome.FAILURE,
            actor=actor,
            request=request,
            detail=f"{provider} for {merchant}: {check.message}"[:300],
        )
        return SaveOutcome(None, False, f"Nothing was saved. {check.message}")
    now = timezone.now()
    with transaction.atomic():
        account = services.account_create(
            merchant=merchant,
            provider=provider,
            environment=environment,
            label=label,
            secrets=secrets,
            settings=settings,
            actor=actor,
        )
        ProviderAccount.objects.filter(pk=account.pk).update(
            last_verified_at=now, secrets_changed_at=now
        )
        if check.token is not None:
            _token_keep(account, check.token)
    account.refresh_from_db()
    _audit(
        account,
        AuditAction.CREATED,
        AuditOutcome.SUCCESS,
        actor=actor,
        request=request,
        detail=check.message,
    )
    return SaveOutcome(account, True, f"Saved. {check.message}")


def account_edit(
    *,
    account: ProviderAccount,
    label: str,
    environment: str,
    settings: dict,
    new_secrets: dict,
    actor=None,
    request=None,
) -> SaveOutcome:
    """Change an account. New secrets go through the two-phase rotation; a new environment or new
    settings are verified with the provider before they are saved; a refusal changes nothing."""
    new_secrets = {name: value for name, value in new_secrets.items() if value}
    if (
        label != account.label
        and ProviderAccount.objects.filter(
            merchant_id=account.merchant_id, provider=account.provider, label=label
        )
        .exclude(pk=account.pk)
        .exists()
    ):
        return SaveOutcome(
            account,
            False,
            "This merchant already has an account of that provider with this label.",
            "label",
        )
    reaches_provider = (
        new_secrets or environment != account.environment or settings != dict(account.settings)
    )
    if not reaches_provider:
        ProviderAccount.objects.filter(pk=account.pk).update(label=label)
        _audit(
            account,
            AuditAction.EDITED,
            AuditOutcome.SUCCESS,
            actor=actor,
            request=request,
            detail="label",
        )
        account.refresh_from_db()
        return SaveOutcome(account, True, "Saved.")
    pending = {**account.secrets(), **new_secrets}
    if new_secrets:
        try:
            rotation_begin(
                account=account,
                pending=pending,
                actor=actor,
                request=request,
                what="new " + ", ".join(sorted(new_secrets)),
            )
        except RotationRefused as refused:
            return SaveOutcome(account, False, refused.message)
    check = secrets_check(
        provider=account.provider,
        environment=environment,
        secrets=pending,
        settings=settings,
        account_id=account.pk,
    )
    if not check.ok:
        if new_secrets:
            rotation_drop(account=account, reason=check.message, actor=actor, request=request)
        _audit(
            account,
            AuditAction.EDITED,
            AuditOutcome.REFUSED if check.refused else AuditOutcome.FAILURE,
            actor=actor,
            request=request,
            detail=check.message,
        )
        return SaveOutcome(account, False, f"Nothing was changed. {check.message}")
    with transaction.atomic():
        ProviderAccount.objects.filter(pk=account.pk).update(
            label=label, environment=environment, settings=settings, last_verified_at=timezone.now()
        )
        if new_secrets:
            rotation_activate(account=account, token=check.token, actor=actor, request=request)
        elif check.token is not None:
            _token_keep(account, check.token)
        else:
            AccessToken.objects.filter(account=account).delete()  # another environment's token
    if new_secrets:
        rotation_retire(account=account, actor=actor, request=request)
    changed = sorted(
        {
            *(["secrets"] if new_secrets else []),
            *(["environment"] if environment != account.environment else []),
            *(["settings"] if settings != dict(account.settings) else []),
        }
    )
    _audit(
        account,
        AuditAction.EDITED,
        AuditOutcome.SUCCESS,
        actor=actor,
        request=request,
        detail=", ".join(changed),
    )
    account.refresh_from_db()
    return SaveOutcome(account, True, f"Saved. {check.message}")


def _rotate_to(account, pending: dict, *, what: str, kept: str, actor=None, request=None):
    """The two phases for a pending secret set known in advance: stored as pending, checked at
    the provider with it alone, then dropped (the old set stays; `kept` says so) or activated with
    the token the check obtained and the old set retired. Returns (the failure's outcome or None,
    the check)."""
    try:
        rotation_begin(account=account, pending=pending, actor=actor, request=request, what=what)
    except RotationRefused as refused:
        return RotationOutcome(False, refused.message), None
    check = secrets_check(
        provider=account.provider,
        environment=account.environment,
        secrets=pending,
        settings=dict(account.settings),
        account_id=account.pk,
    )
    if not check.ok:
        rotation_drop(
            account=account,
            reason=check.message,
            actor=actor,
            request=request,
            outcome=AuditOutcome.REFUSED if check.refused else AuditOutcome.FAILURE,
        )
        return RotationOutcome(False, f"{check.message} {kept}"), check
    if not _activate_checked(
        account, check, ok=True, token=check.token, actor=actor, request=request
    ):
        return RotationOutcome(
            False, "The rotation was abandoned meanwhile; nothing changed."
        ), check
    return None, check


# -- a person's rotation with a new secret -------------------------------------------------------------


def credential_rotate(
    *, account: ProviderAccount, new_secrets: dict, actor=None, request=None
) -> RotationOutcome:
    """Rotate to the secrets a person entered (only the fields they filled in change): pending →
    verified at the provider with the new set alone → activated → the old retired. A refusal or a
    provider that does not answer drops the pending set and leaves the old one active."""
    changed = {name: value for name, value in new_secrets.items() if value}
    api = api_name(account.provider)
    if not changed:
        return RotationOutcome(False, "Enter at least one new secret.")
    current = account.secrets()
    pending = {**current, **changed}
    labels = {field.name: field.label for field in provider_class(account.provider).secret_fields}
    names = ", ".join(labels.get(name, name) for name in sorted(changed))
    failed, check = _rotate_to(
        account,
        pending,
        what=f"new {names}",
        kept="The current credentials stay active.",
        actor=actor,
        request=request,
    )
    if failed:
        return failed
    revoke = (
        f" You may now revoke the old {names} at {api}."
        if set(changed) & set(issued_secret_names(account.provider))
        else ""
    )
    return RotationOutcome(True, f"{check.message} The new credentials are active.{revoke}")


# -- self-service rotation --------------------------------------------------------------------------------


def credential_self_rotate(
    *, account: ProviderAccount, actor=None, request=None
) -> RotationOutcome:
    """Rotate what the provider lets us rotate ourselves (`self_rotation_kind`)."""
    kind = self_rotation_kind(account.provider)
    api = api_name(account.provider)
    if kind == SELF_TOKEN:
        return _rotate_token(account=account, actor=actor, request=request)
    if kind == SELF_RESET:
        return _rotate_by_reset(account=account, actor=actor, request=request)
    return RotationOutcome(
        False, f"Only {api} issues new keys: create one at {api}, then enter it with Rotate."
    )


def _rotate_token(*, account: ProviderAccount, actor=None, request=None) -> RotationOutcome:
    api = api_name(account.provider)
    failed, _ = _rotate_to(
        account,
        account.secrets(),  # the same secrets: the check obtains the new token
        what="new token",
        kept="The current token stays in use.",
        actor=actor,
        request=request,
    )
    if failed:
        return failed
    return RotationOutcome(True, f"{api} issued a new token; it is verified and in use.")


def _rotate_by_reset(*, account: ProviderAccount, actor=None, request=None) -> RotationOutcome:
    # Integra's reset needs the previous token and invalidates it: we keep it until the reset answered.
    api = api_name(account.provider)
    current = account.secrets()
    try:
        rotation_begin(
            account=account, pending=None, actor=actor, request=request, what="token reset"
        )
    except RotationRefused as refused:
        return RotationOutcome(False, refused.message)
    asked_at = timezone.now()
    try:
        with provider_for(account) as adapter:
            new_token = adapter.token_reset(current.get("access_token", ""))
    except ProviderError as exc:
        if exc.permanent:  # Integra refused: nothing changed there
            rotation_drop(
                account=account,
                reason=exc.message,
                actor=actor,
                request=request,
                outcome=AuditOutcome.REFUSED,
                action=AuditAction.ROTATION_RESET,
            )
            return RotationOutcome(
                False, f"{api} refused the reset: {exc.message} The current token stays active."
            )
        return _reset_unanswered(account, exc, asked_at=asked_at, actor=actor, request=request)
    pending = {**current, "access_token": new_token}
    rotation_pending_store(account=account, pending=pending)
    _audit(account, AuditAction.ROTATION_RESET, AuditOutcome.SUCCESS, actor=actor, request=request)
    check = secrets_check(
        provider=account.provider,
        environment=account.environment,
        secrets=pending,
        settings=dict(account.settings),
        account_id=account.pk,
    )
    # The previous token no longer works at Integra: the new one is activated whatever the check said.
    _activate_checked(account, check, ok=check.ok, token=None, actor=actor, request=request)
    if check.ok:
        return RotationOutcome(True, f"{api} issued a new token; it is verified and active.")
    attention_set(
        account=account,
        cause=AttentionCause.ROTATION,
        reason=f"The new {api} token could not be verified: {check.message}",
        steps='1. Press "Verify now".\n2. If it is refused, press "Create a new token" or enter '
        'the token Integra gives you under "Edit".',
    )
    return RotationOutcome(
        False,
        f"{api} issued a new token and it is active, but it could not be verified: {check.message}",
        needs_attention=True,
    )


def _reset_unanswered(account, exc: ProviderError, *, asked_at, actor, request) -> RotationOutcome:
    """The reset's answer did not arrive: the old token tells whether Integra reset it."""
    api = api_name(account.provider)
    bio_code = vault.mask(account.secrets().get("bio_code", ""))
    probe = _probe(account)
    if probe == "accepted":  # the reset never happened (a 5xx processes nothing)
        rotation_drop(
            account=account,
            reason=exc.message,
            actor=actor,
            request=request,
            action=AuditAction.ROTATION_RESET,
        )
        return RotationOutcome(
            False,
            f"{api} did not answer the reset ({exc.message}); the current token still works and "
            "stays active. Try again later.",
        )
    when = f"{asked_at:%Y-%m-%d %H:%M:%S}"
    if probe == "refused":
        reason = (
            f"{api} reset the token but its answer was lost: the previous token no longer works."
        )
        steps = INTEGRA_LOST_RESET_STEPS.format(when=when, bio_code=bio_code)
    else:
        reason = f"{api} did not answer the token reset; whether it happened is not known."
        steps = UNKNOWN_RESET_STEPS.format(when=when, bio_code=bio_code)
    ProviderAccount.objects.filter(pk=account.pk, rotation_step=RotationStep.PENDING).update(
        rotation_step="", rotation_started_at=None, pending_secrets_encrypted=""
    )
    attention_set(account=account, cause=AttentionCause.ROTATION, reason=reason, steps=steps)
    _audit(
        account,
        AuditAction.ROTATION_RESET,
        AuditOutcome.UNANSWERED,
        actor=actor,
        request=request,
        detail=reason,
    )
    return RotationOutcome(False, reason, needs_attention=True)


def _probe(account: ProviderAccount) -> str:
    """Whether the provider accepts the account's active secret: "accepted", "refused" or ""."""
    account.refresh_from_db()
    sent: list = []
    try:
        with provider_for(account) as adapter:
            adapter.client.event_hooks["request"].append(sent.append)
            adapter.list_terminals()
    except AuthError:
        return "refused"
    except ProviderError:
        return ""
    # Integra has no terminal list: without a configured PoS nothing was asked.
    return "accepted" if sent else ""


def credential_token_create(
    *, account: ProviderAccount, actor=None, request=None
) -> RotationOutcome:
    """Recovery after a lost reset: ask the provider for a first token (Integra's manage/token,
    which creates one only for a merchant that has none), verify it and make it active."""
    api = api_name(account.provider)
    if not can_create_token(account.provider):
        return RotationOutcome(False, f"{api} has no way to create a token from here.")
    try:
        rotation_begin(
            account=account, pending=None, actor=actor, request=request, what="token create"
        )
    except RotationRefused as refused:
        return RotationOutcome(False, refused.message)
    current = account.secrets()
    try:
        with provider_for(account) as adapter:
            new_token = adapter.token_create()
    except ProviderError as exc:
        rotation_drop(account=account, reason=exc.message, actor=actor, request=request)
        return RotationOutcome(
            False,
            f"{api} did not create a token: {exc.message} If it says a token exists, ask {api} "
            "support to remove it first.",
            needs_attention=True,
        )
    pending = {**current, "access_token": new_token}
    rotation_pending_store(account=account, pending=pending)
    check = secrets_check(
        provider=account.provider,
        environment=account.environment,
        secrets=pending,
        settings=dict(account.settings),
        account_id=account.pk,
    )
    if not check.ok:
        # The token Integra just made is the only one it accepts: keep it, say so.
        _activate_checked(account, check, ok=False, token=None, actor=actor, request=request)
        attention_set(
            account=account,
            cause=AttentionCause.ROTATION,
            reason=f"The new {api} token could not be verified: {check.message}",
            steps='1. Press "Verify now".',
        )
        return RotationOutcome(False, check.message, needs_attention=True)
    _activate_checked(account, check, ok=True, token=None, actor=actor, request=request)
    return RotationOutcome(True, f"{api} created a new token; it is verified and active.")


# -- policy ---------------------------------------------------------------------------------------------


def rotation_policy_set(
    *,
    account: ProviderAccount,
    self_rotate_every_days: int | None,
    key_age_limit_days: int | None,
    actor=None,
    request=None,
) -> ProviderAccount:
    """The account's policy: rotate by ourselves every N days (where the provider allows it), and
    the age limit of a provider-issued key (a reminder comes KEY_REMINDER_DAYS before it)."""
    if not self_rotation_kind(account.provider):
        self_rotate_every_days = None
    ProviderAccount.objects.filter(pk=account.pk).update(
        self_rotate_every_days=self_rotate_every_days,
        key_age_limit_days=key_age_limit_days,
        key_reminded_at=None,
    )
    _audit(
        account,
        AuditAction.POLICY_CHANGED,
        AuditOutcome.SUCCESS,
        actor=actor,
        request=request,
        detail=f"self-rotate every {self_rotate_every_days or '-'} days; "
        f"key age limit {key_age_limit_days or '-'} days",
    )
    account.refresh_from_db()
    return account


def rotation_policy_run(*, now: datetime | None = None) -> dict[str, int]:
    """Beat: schedule the self-rotations that are due, and raise the reminders for keys close to
    their age limit. Returns {"rotations": n, "reminders": m}."""
    now = now or timezone.now()
    rotations = reminders = 0
    candidates = ProviderAccount.objects.active().filter(rotation_step="")
    for account in candidates.filter(self_rotate_every_days__isnull=False).exclude(
        needs_attention_cause=AttentionCause.ROTATION
    ):
        since = account.secrets_changed_at or account.created_at
        if since + timedelta(days=account.self_rotate_every_days) <= now:
            _schedule("self_rotate_account", account_id=account.pk)
            rotations += 1
    for account in candidates.filter(key_age_limit_days__isnull=False).filter(
        Q(key_reminded_at__isnull=True) | Q(key_reminded_at__lt=F("secrets_changed_at"))
    ):
        since = account.secrets_changed_at or account.created_at
        limit_at = since + timedelta(days=account.key_age_limit_days)
        if limit_at - timedelta(days=KEY_REMINDER_DAYS) > now:
            continue
        api = api_name(account.provider)
        labels = {f.name: f.label for f in provider_class(account.provider).secret_fields}
        names = ", ".join(labels[name] for name in issued_secret_names(account.provider))
        age = (now - since).days
        ProviderAccount.objects.filter(pk=account.pk).update(key_reminded_at=now)
        if not account.needs_attention:
            attention_set(
                account=account,
                cause=AttentionCause.REMINDER,
                reason=f"The {api} credentials ({names}) are {age} days old; the limit is "
                f"{account.key_age_limit_days} days (on {limit_at:%Y-%m-%d}).",
                steps=f"1. Create new credentials at {api} ({names}).\n"
                f'2. Enter it here with "Rotate": it is verified before it replaces the old one.\n'
                f"3. Revoke the old one at {api}.",
            )
        _audit(account, AuditAction.KEY_REMINDER, AuditOutcome.SUCCESS, detail=f"{age} days old")
        reminders += 1
    return {"rotations": rotations, "reminders": reminders}


def self_rotate_scheduled(*, account_id: int) -> RotationOutcome | None:
    """A policy rotation in the worker."""
    account = ProviderAccount.objects.filter(pk=account_id, is_active=True).first()
    if account is None:
        return None
    outcome = credential_self_rotate(account=account)
    if not outcome.ok and not outcome.needs_attention:
        logger.warning(
            "policy rotation of account %s did not happen: %s", account_id, outcome.message
        )
    return outcome


def _schedule(task_name: str, **kwargs) -> None:
    from credentials import tasks  # the scheduling edge: tasks import this module, not the reverse

    getattr(tasks, task_name).apply_async_on_commit(kwargs=kwargs)


# -- the vault's keys -----------------------------------------------------------------------------------


@dataclass
class ReencryptCounts:
    accounts: int = 0
    values_reencrypted: int = 0
    already_current: int = 0
    tokens_reencrypted: int = 0
    unreadable: int = 0


def _under_newest_key(token: str) -> bool:
    newest = django_settings.CREDENTIALS_KEYS[0]
    try:
        Fernet(newest.encode() if isinstance(newest, str) else newest).decrypt(token.encode())
    except InvalidToken:
        return False
    return True


def vault_reencrypt_all(*, batch_size: int = 200, on_progress=None) -> ReencryptCounts:
    """Re-encrypt every secret, pending and previous secret, and token under the newest vault key.

    Each batch of accounts commits on its own, and a value already under the newest key is left as
    it is, so the run may be interrupted and run again: it finishes what is left. A value no
    configured key opens is counted as unreadable and left untouched. `on_progress(counts, total)`
    is called after each batch."""
    counts = ReencryptCounts()
    ids = list(ProviderAccount.objects.order_by("pk").values_list("pk", flat=True))
    total = len(ids)
    for start in range(0, total, batch_size):
        chunk = ids[start : start + batch_size]
        with transaction.atomic():
            for account in ProviderAccount.objects.select_for_update().filter(pk__in=chunk):
                changed = []
                for field in (
                    "secrets_encrypted",
                    "pending_secrets_encrypted",
                    "previous_secrets_encrypted",
                ):
                    value = getattr(account, field)
                    if not value:
                        continue
                    if _under_newest_key(value):
                        counts.already_current += 1
                        continue
                    try:
                        setattr(account, field, vault.reencrypt(value))
                    except vault.VaultError:
                        counts.unreadable += 1
                        continue
                    changed.append(field)
                    counts.values_reencrypted += 1
                if changed:
                    account.save(update_fields=changed)
                    _audit(
                        account,
                        AuditAction.KEY_ROTATED,
                        AuditOutcome.SUCCESS,
                        detail=f"{len(changed)} value(s)",
                    )
                counts.accounts += 1
            for token in AccessToken.objects.select_for_update().filter(account_id__in=chunk):
                if _under_newest_key(token.token_encrypted):
                    counts.already_current += 1
                    continue
                try:
                    token.token_encrypted = vault.reencrypt(token.token_encrypted)
                except vault.VaultError:
                    counts.unreadable += 1
                    continue
                token.save(update_fields=["token_encrypted"])
                counts.tokens_reencrypted += 1
        if on_progress is not None:
            on_progress(counts, total)
    return counts

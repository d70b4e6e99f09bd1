"""Two-phase rotation against each provider's emulator over real HTTP: a rotation interrupted at each
step by the emulator's credential fault switches (a lost answer, a 5xx, a refused new secret) leaves
the old credentials working, or, for Integra's lost reset, an account that needs attention with the
exact recovery steps, which then bring it back."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from credentials import rotation
from credentials.models import AccessToken, AttentionCause, ProviderAccount, RotationStep
from credentials.services import provider_for
from sandbox.services import (
    account_expire_tokens,
    account_issue_secrets,
    account_set_credential_faults,
)
from tests.contract.conftest import ACCOUNTS, make_env

pytestmark = pytest.mark.django_db(transaction=True)

# What each provider issues anew in its portal (only the provider can make these).
NEW_SECRETS = {
    "payroc": {"api_key": "rotated-payroc-key-7c41e0d2a9b35f68"},
    "usaepay": {"api_key": "_RotatedUsaepayKey0Xq81Lm4sPz02Wd", "api_pin": "135790"},
    "komoju": {"secret_key": "sk_test_rotated3f9a27c1e6d4"},
    "klearly": {"partner_secret": "rotated-klearly-secret-91d3b7"},
}
ISSUED = list(NEW_SECRETS)
TOKEN_PROVIDERS = [p for p in ACCOUNTS if rotation.self_rotation_kind(p) == rotation.SELF_TOKEN]
RESET_PROVIDERS = [p for p in ACCOUNTS if rotation.self_rotation_kind(p) == rotation.SELF_RESET]
FAULTS = ["5xx", "lost", "refused"]


@pytest.fixture
def env(request, sandbox_settings, tenant_a):
    env = make_env(request.param, tenant_a.merchant)
    env.adapter.close()
    return env


def works(account) -> bool:
    """The account's active credentials are accepted by the provider now."""
    account = ProviderAccount.objects.get(pk=account.pk)
    with provider_for(account) as adapter:
        adapter.list_terminals()
    return True


def fault(env, kind: str) -> None:
    if kind == "5xx":
        account_set_credential_faults(account=env.sandbox_account, fail_next_5xx=1)
    elif kind == "lost":
        account_set_credential_faults(account=env.sandbox_account, lose_next_response=True)
    else:
        account_set_credential_faults(account=env.sandbox_account, refuse_next=True)


def test_the_providers_each_rotation_kind_applies_to():
    assert sorted(TOKEN_PROVIDERS) == ["klearly", "payroc"]
    assert RESET_PROVIDERS == ["mobilepay"]
    assert rotation.self_rotation_kind("usaepay") == rotation.self_rotation_kind("komoju") == ""


# -- a key only the provider issues ------------------------------------------------------------------


@pytest.mark.parametrize("env", ISSUED, indirect=True)
def test_a_new_key_the_provider_issued_is_verified_then_activated_and_the_old_retired(env):
    new = NEW_SECRETS[env.provider_name]
    account_issue_secrets(account=env.sandbox_account, secrets=new)
    before = env.account.secrets()

    outcome = rotation.credential_rotate(account=env.account, new_secrets=new)

    assert outcome.ok, outcome.message
    assert "The new credentials are active." in outcome.message
    assert "revoke the old" in outcome.message
    account = ProviderAccount.objects.get(pk=env.account.pk)
    assert account.secrets() == {**before, **new}
    assert account.rotation_step == ""
    assert account.pending_secrets_encrypted == "" and account.previous_secrets_encrypted == ""
    assert account.secrets_changed_at is not None
    assert works(account)


@pytest.mark.parametrize("kind", FAULTS)
@pytest.mark.parametrize("env", ISSUED, indirect=True)
def test_a_new_key_interrupted_at_its_verification_leaves_the_old_one_working(env, kind):
    new = NEW_SECRETS[env.provider_name]
    if kind != "refused":  # a key the provider never issued is refused
        account_issue_secrets(account=env.sandbox_account, secrets=new)
        fault(env, kind)
    before = env.account.secrets()

    outcome = rotation.credential_rotate(account=env.account, new_secrets=new)

    assert not outcome.ok
    assert "The current credentials stay active." in outcome.message
    account = ProviderAccount.objects.get(pk=env.account.pk)
    assert account.secrets() == before
    assert account.rotation_step == "" and account.pending_secrets_encrypted == ""
    assert not account.needs_attention
    assert works(account)
    for value in new.values():
        assert value not in outcome.message


@pytest.mark.parametrize("env", ISSUED, indirect=True)
def test_a_rotation_that_died_after_storing_the_pending_secret_leaves_the_old_one_and_can_be_dropped(
    env,
):
    new = NEW_SECRETS[env.provider_name]
    account_issue_secrets(account=env.sandbox_account, secrets=new)
    before = env.account.secrets()
    rotation.rotation_begin(account=env.account, pending={**before, **new})  # then the process died

    account = ProviderAccount.objects.get(pk=env.account.pk)
    assert account.rotation_step == RotationStep.PENDING
    assert account.secrets() == before and works(account)
    again = rotation.credential_rotate(account=account, new_secrets=new)
    assert not again.ok and "already in progress" in again.message

    still_running = rotation.rotation_abandon(account=account)
    assert not still_running.ok  # too fresh to be called interrupted
    ProviderAccount.objects.filter(pk=account.pk).update(
        rotation_started_at=timezone.now() - rotation.ROTATION_STALE - timedelta(seconds=1)
    )
    assert rotation.rotation_abandon(account=account).ok
    account.refresh_from_db()
    assert account.rotation_step == "" and account.pending_secrets_encrypted == ""
    assert account.secrets() == before and works(account)
    assert rotation.credential_rotate(account=account, new_secrets=new).ok


@pytest.mark.parametrize("env", ISSUED, indirect=True)
def test_a_rotation_that_died_after_activating_is_finished_by_retiring_the_old_one(env):
    new = NEW_SECRETS[env.provider_name]
    account_issue_secrets(account=env.sandbox_account, secrets=new)
    before = env.account.secrets()
    rotation.rotation_begin(account=env.account, pending={**before, **new})
    assert rotation.rotation_activate(account=env.account, token=None)  # then the process died

    account = ProviderAccount.objects.get(pk=env.account.pk)
    assert account.rotation_step == RotationStep.ACTIVATED
    assert account.secrets() == {**before, **new} and works(account)

    assert rotation.rotation_abandon(account=account).ok
    account.refresh_from_db()
    assert account.rotation_step == "" and account.previous_secrets_encrypted == ""
    assert works(account)


# -- a new token (Payroc's bearer, Klearly's merchant token) -------------------------------------------


@pytest.mark.parametrize("env", TOKEN_PROVIDERS, indirect=True)
def test_a_self_rotation_replaces_the_cached_token_with_a_verified_new_one(env):
    assert works(env.account)
    old = AccessToken.objects.get(account=env.account).token_encrypted

    outcome = rotation.credential_self_rotate(account=env.account)

    assert outcome.ok, outcome.message
    assert AccessToken.objects.get(account=env.account).token_encrypted != old
    assert works(env.account)


@pytest.mark.parametrize("kind", FAULTS)
@pytest.mark.parametrize("env", TOKEN_PROVIDERS, indirect=True)
def test_a_self_rotation_interrupted_keeps_the_old_token_in_use(env, kind):
    assert works(env.account)
    old = AccessToken.objects.get(account=env.account).token_encrypted
    fault(env, kind)

    outcome = rotation.credential_self_rotate(account=env.account)

    assert not outcome.ok
    assert "The current token stays in use." in outcome.message
    assert AccessToken.objects.get(account=env.account).token_encrypted == old
    account = ProviderAccount.objects.get(pk=env.account.pk)
    assert account.rotation_step == "" and not account.needs_attention
    assert works(account)


# -- Integra's token reset ---------------------------------------------------------------------------


@pytest.mark.parametrize("env", RESET_PROVIDERS, indirect=True)
def test_integras_reset_activates_the_new_token_and_the_old_one_stops_working(env):
    old_token = env.account.secrets()["access_token"]

    outcome = rotation.credential_self_rotate(account=env.account)

    assert outcome.ok, outcome.message
    account = ProviderAccount.objects.get(pk=env.account.pk)
    assert account.secrets()["access_token"] != old_token
    assert account.rotation_step == "" and account.previous_secrets_encrypted == ""
    assert works(account)


@pytest.mark.parametrize("kind", ["5xx", "refused"])
@pytest.mark.parametrize("env", RESET_PROVIDERS, indirect=True)
def test_integras_reset_unanswered_or_refused_leaves_the_old_token_working(env, kind):
    before = env.account.secrets()
    fault(env, kind)

    outcome = rotation.credential_self_rotate(account=env.account)

    assert not outcome.ok and not outcome.needs_attention
    account = ProviderAccount.objects.get(pk=env.account.pk)
    assert account.secrets() == before
    assert account.rotation_step == "" and not account.needs_attention
    assert works(account)


@pytest.mark.parametrize("env", RESET_PROVIDERS, indirect=True)
def test_integras_reset_with_its_answer_lost_needs_attention_with_the_recovery_steps(env):
    fault(env, "lost")

    outcome = rotation.credential_self_rotate(account=env.account)

    assert not outcome.ok and outcome.needs_attention
    account = ProviderAccount.objects.get(pk=env.account.pk)
    assert account.needs_attention_cause == AttentionCause.ROTATION
    assert "answer was lost" in account.needs_attention_reason
    steps = account.recovery_steps
    assert "ask integra (mobilepay pos support) to remove the access token" in steps.lower()
    assert 'press "Create a new token"' in steps
    assert 'Do not press "Reset the token" again' in steps
    assert ACCOUNTS["mobilepay"]["secrets"]["bio_code"] not in steps  # masked
    assert account.rotation_step == ""
    with pytest.raises(Exception, match="Integra refused"):
        works(account)  # the previous token no longer works at Integra

    # The recovery path: Integra's support removes the token, then "Create a new token".
    refused = rotation.credential_token_create(account=account)
    assert not refused.ok  # Integra still holds the token we never received
    account_expire_tokens(account=env.sandbox_account)
    recovered = rotation.credential_token_create(account=account)

    assert recovered.ok, recovered.message
    account.refresh_from_db()
    assert not account.needs_attention and account.recovery_steps == ""
    assert works(account)


# -- policy -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("env", TOKEN_PROVIDERS + RESET_PROVIDERS, indirect=True)
def test_a_self_rotation_policy_rotates_an_account_whose_credential_is_older_than_its_days(
    env, broker
):
    rotation.rotation_policy_set(
        account=env.account, self_rotate_every_days=30, key_age_limit_days=None
    )
    ProviderAccount.objects.filter(pk=env.account.pk).update(
        secrets_changed_at=timezone.now() - timedelta(days=31)
    )
    before = ProviderAccount.objects.get(pk=env.account.pk).secrets_changed_at

    assert rotation.rotation_policy_run() == {"rotations": 1, "reminders": 0}
    assert len(broker.scheduled("credentials.tasks.self_rotate_account")) == 1
    broker.purge()
    outcome = rotation.self_rotate_scheduled(account_id=env.account.pk)  # what the task runs

    assert outcome.ok, outcome.message
    account = ProviderAccount.objects.get(pk=env.account.pk)
    assert account.secrets_changed_at > before
    assert works(account)
    assert rotation.rotation_policy_run() == {"rotations": 0, "reminders": 0}
    assert broker.scheduled() == []


@pytest.mark.parametrize("env", ["usaepay", "komoju", "payroc"], indirect=True)
def test_a_provider_issued_key_near_its_age_limit_brings_one_reminder_until_it_is_rotated(env):
    rotation.rotation_policy_set(
        account=env.account, self_rotate_every_days=None, key_age_limit_days=90
    )
    ProviderAccount.objects.filter(pk=env.account.pk).update(
        secrets_changed_at=timezone.now() - timedelta(days=80)
    )

    assert rotation.rotation_policy_run()["reminders"] == 1
    assert rotation.rotation_policy_run()["reminders"] == 0  # once

    account = ProviderAccount.objects.get(pk=env.account.pk)
    assert account.needs_attention_cause == AttentionCause.REMINDER
    assert "are 80 days old; the limit is 90 days" in account.needs_attention_reason
    new = NEW_SECRETS[env.provider_name]
    account_issue_secrets(account=env.sandbox_account, secrets=new)
    assert rotation.credential_rotate(account=account, new_secrets=new).ok
    account.refresh_from_db()
    assert not account.needs_attention
    assert rotation.rotation_policy_run()["reminders"] == 0


def test_a_provider_without_self_rotation_keeps_no_self_rotation_policy(sandbox_settings, tenant_a):
    env = make_env("usaepay", tenant_a.merchant)
    env.adapter.close()
    account = rotation.rotation_policy_set(
        account=env.account, self_rotate_every_days=30, key_age_limit_days=120
    )
    assert account.self_rotate_every_days is None
    assert account.key_age_limit_days == 120
    outcome = rotation.credential_self_rotate(account=account)
    assert not outcome.ok and "Only USAePay issues new keys" in outcome.message

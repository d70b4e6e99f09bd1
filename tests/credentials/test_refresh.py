"""Tokens that expire are refreshed by beat ahead of their expiry, each account under a short lease,
on a real Celery worker against the emulators; a refresh the provider refuses or does not answer
turns the account to "needs attention" with the provider's reason."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from credentials import refresh
from credentials.models import AccessToken, AttentionCause, ProviderAccount
from credentials.services import provider_for
from sandbox.services import account_revoke_secret, account_set_credential_faults
from tests.contract.conftest import make_env
from tests.payments.engine_support import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

EXPIRING = ["payroc", "klearly"]  # the providers whose tokens expire


@pytest.fixture
def worker(sandbox_settings, broker):
    """A real Celery worker in threads of this process, as the demo runs it (threads, `celery`)."""
    from celery.contrib.testing.worker import start_worker

    from config.celery import app

    with start_worker(
        app,
        pool="threads",
        concurrency=4,
        queues=["celery"],
        perform_ping_check=False,
        loglevel="WARNING",
        shutdown_timeout=30,
    ) as running:
        yield running


@pytest.fixture
def env(request, sandbox_settings, tenant_a):
    env = make_env(request.param, tenant_a.merchant)
    env.adapter.close()
    with provider_for(env.account) as adapter:
        adapter.obtain_token()
    return env


def expire_in(account, seconds: float) -> None:
    AccessToken.objects.filter(account=account).update(
        expires_at=timezone.now() + timedelta(seconds=seconds)
    )


def expires_at(account):
    return AccessToken.objects.get(account=account).expires_at


@pytest.mark.parametrize("env", EXPIRING, indirect=True)
def test_beat_refreshes_a_token_ahead_of_its_expiry_on_the_worker(env, worker):
    expire_in(env.account, 300)  # within the 10 minutes ahead
    old = AccessToken.objects.get(account=env.account).token_encrypted

    assert refresh.tokens_refresh_due() == 1

    wait_until(lambda: expires_at(env.account) > timezone.now() + timedelta(minutes=30))
    assert AccessToken.objects.get(account=env.account).token_encrypted != old
    wait_until(lambda: ProviderAccount.objects.get(pk=env.account.pk).refresh_lease_until is None)
    with provider_for(ProviderAccount.objects.get(pk=env.account.pk)) as adapter:
        adapter.list_terminals()  # the new token works


@pytest.mark.parametrize("env", EXPIRING, indirect=True)
def test_a_token_far_from_its_expiry_is_left_alone(env, broker):
    expire_in(env.account, 3000)

    assert refresh.tokens_refresh_due() == 0
    assert broker.scheduled() == []


@pytest.mark.parametrize("env", EXPIRING, indirect=True)
def test_a_claimed_refresh_is_not_scheduled_again_while_its_lease_holds(env, broker):
    expire_in(env.account, 60)

    assert refresh.tokens_refresh_due() == 1
    assert refresh.tokens_refresh_due() == 0  # the next beat finds it leased
    scheduled = broker.scheduled("credentials.tasks.refresh_account_token")
    assert len(scheduled) == 1

    # A worker that died mid-refresh: once its lease expires the next beat claims it again.
    ProviderAccount.objects.filter(pk=env.account.pk).update(
        refresh_lease_until=timezone.now() - timedelta(seconds=1)
    )
    assert refresh.tokens_refresh_due() == 1
    assert len(broker.scheduled("credentials.tasks.refresh_account_token")) == 2


@pytest.mark.parametrize("env", EXPIRING, indirect=True)
def test_a_refresh_whose_lease_was_taken_over_does_nothing(env, broker):
    expire_in(env.account, 60)
    refresh.tokens_refresh_due()
    stale = timezone.now().isoformat()  # not the lease the account holds
    before = expires_at(env.account)

    assert refresh.token_refresh(account_id=env.account.pk, lease=stale) is False
    assert expires_at(env.account) == before


@pytest.mark.parametrize("env", EXPIRING, indirect=True)
def test_a_refresh_the_provider_refuses_needs_attention_with_its_reason_until_one_works(env):
    expire_in(env.account, 60)
    account_set_credential_faults(account=env.sandbox_account, refuse_next=True)

    assert refresh.token_refresh(account_id=env.account.pk) is False

    account = ProviderAccount.objects.get(pk=env.account.pk)
    assert account.needs_attention_cause == AttentionCause.REFRESH
    assert account.needs_attention_reason.startswith(
        f"{'Payroc' if env.provider_name == 'payroc' else 'Klearly'} refused to issue a new token:"
    )
    assert "Rotate" in account.recovery_steps
    assert account.refresh_lease_until is None

    assert refresh.token_refresh(account_id=env.account.pk) is True
    account.refresh_from_db()
    assert not account.needs_attention
    assert expires_at(account) > timezone.now() + timedelta(minutes=30)


@pytest.mark.parametrize("env", EXPIRING, indirect=True)
def test_a_refresh_the_provider_does_not_answer_needs_attention_and_says_it_is_retried(env):
    expire_in(env.account, 60)
    account_set_credential_faults(account=env.sandbox_account, fail_next_5xx=1)

    assert refresh.token_refresh(account_id=env.account.pk) is False

    account = ProviderAccount.objects.get(pk=env.account.pk)
    assert account.needs_attention_cause == AttentionCause.REFRESH
    assert "did not answer the token refresh" in account.needs_attention_reason
    assert "tried again every minute" in account.recovery_steps


@pytest.mark.parametrize("env", ["payroc"], indirect=True)
def test_a_revoked_key_turns_the_beat_refresh_to_needs_attention_on_the_worker(env, worker):
    secret = env.account.secrets()["api_key"]
    account_revoke_secret(account=env.sandbox_account, name="api_key", value=secret)
    expire_in(env.account, 120)

    assert refresh.tokens_refresh_due() == 1

    account = wait_until(
        lambda: ProviderAccount.objects.filter(pk=env.account.pk).needing_attention().first()
    )
    assert account.needs_attention_reason.startswith("Payroc refused to issue a new token:")
    assert secret not in account.needs_attention_reason

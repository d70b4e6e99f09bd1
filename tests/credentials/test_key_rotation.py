"""`manage.py rotate_credentials_key`: every secret (active, pending, previous) and every token
re-encrypted under the newest key, readable under it alone afterwards; progress and counts reported;
safe to run twice and to interrupt."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import CommandError

from credentials import vault
from credentials.models import AccessToken, ProviderAccount
from credentials.rotation import vault_reencrypt_all
from credentials.services import DatabaseTokenStore, account_create
from tests.factories import MerchantFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def accounts():
    merchant = MerchantFactory()
    made = []
    for n in range(5):
        account = account_create(
            merchant=merchant,
            provider="payroc",
            environment="sandbox",
            label=f"Lane {n}",
            secrets={"api_key": f"payroc-secret-key-{n:04d}"},
        )
        DatabaseTokenStore(account).save(_token(f"bearer-token-{n:04d}"))
        made.append(account)
    # One account in the middle of a rotation: its pending and previous secrets are stored too.
    ProviderAccount.objects.filter(pk=made[0].pk).update(
        pending_secrets_encrypted=vault.encrypt({"api_key": "payroc-pending-key-0000"}),
        previous_secrets_encrypted=vault.encrypt({"api_key": "payroc-previous-key-0000"}),
    )
    return made


def _token(value: str):
    from providers.base import Token

    return Token(access_token=value, expires_at=datetime.now(UTC) + timedelta(hours=1))


def _run(**options) -> str:
    out = StringIO()
    call_command("rotate_credentials_key", stdout=out, **options)
    return out.getvalue()


def _everything_readable():
    for account in ProviderAccount.objects.order_by("pk"):
        n = int(account.label.split()[-1])
        assert account.secrets() == {"api_key": f"payroc-secret-key-{n:04d}"}
        if n == 0:
            assert vault.decrypt(account.pending_secrets_encrypted)["api_key"].endswith("0000")
            assert vault.decrypt(account.previous_secrets_encrypted)["api_key"].endswith("0000")
        assert DatabaseTokenStore(account).load().access_token == f"bearer-token-{n:04d}"


def test_everything_is_readable_under_the_new_key_alone_and_a_second_run_changes_nothing(
    accounts, settings
):
    old_key = settings.CREDENTIALS_KEYS[0]
    new_key = Fernet.generate_key().decode()
    settings.CREDENTIALS_KEYS = [new_key, old_key]

    first = _run(batch_size=2)

    assert "2/5 accounts" in first and "4/5 accounts" in first and "5/5 accounts" in first
    assert "Done: 5 account(s); re-encrypted 7 secret value(s) and 5 token(s); 0 already" in first
    second = _run()
    assert (
        "re-encrypted 0 secret value(s) and 0 token(s); 12 already under the newest key" in second
    )

    settings.CREDENTIALS_KEYS = [new_key]  # the old key is gone
    _everything_readable()
    settings.CREDENTIALS_KEYS = [old_key]  # and it no longer opens anything
    with pytest.raises(vault.VaultError):
        ProviderAccount.objects.order_by("pk").first().secrets()


def test_an_interrupted_run_is_finished_by_running_it_again(accounts, settings):
    old_key = settings.CREDENTIALS_KEYS[0]
    new_key = Fernet.generate_key().decode()
    settings.CREDENTIALS_KEYS = [new_key, old_key]

    def stop_after_the_first_batch(counts, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        vault_reencrypt_all(batch_size=2, on_progress=stop_after_the_first_batch)
    settings.CREDENTIALS_KEYS = [new_key]
    readable = 0
    for account in ProviderAccount.objects.all():
        try:
            account.secrets()
            readable += 1
        except vault.VaultError:
            pass
    assert readable == 2  # the first batch committed, the rest waits

    settings.CREDENTIALS_KEYS = [new_key, old_key]
    again = _run()
    # The first batch (4 secret values, 2 tokens) is left as it is.
    assert "re-encrypted 3 secret value(s) and 3 token(s); 6 already under the newest key" in again
    settings.CREDENTIALS_KEYS = [new_key]
    _everything_readable()


def test_a_value_no_key_opens_is_reported_and_the_rest_is_rotated(accounts, settings):
    stranger = Fernet(Fernet.generate_key())
    ProviderAccount.objects.filter(pk=accounts[1].pk).update(
        secrets_encrypted=stranger.encrypt(b'{"api_key": "lost"}').decode()
    )
    old_key = settings.CREDENTIALS_KEYS[0]
    new_key = Fernet.generate_key().decode()
    settings.CREDENTIALS_KEYS = [new_key, old_key]

    with pytest.raises(CommandError, match="1 stored value"):
        _run()

    settings.CREDENTIALS_KEYS = [new_key]
    assert AccessToken.objects.count() == 5
    for account in ProviderAccount.objects.exclude(pk=accounts[1].pk):
        assert account.secrets()["api_key"].startswith("payroc-secret-key-")

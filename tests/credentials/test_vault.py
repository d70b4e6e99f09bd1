from datetime import UTC

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from credentials import vault
from credentials.environments import Environment
from credentials.models import AuditAction, ProviderAccount
from credentials.services import DatabaseTokenStore, account_create
from providers.base import Token

SECRET = "usaepay-key-Zq9Xw3Lm8Rt2Vb6Nc4Pd"


@pytest.fixture
def account(tenant_a):
    return account_create(
        merchant=tenant_a.merchant,
        provider="usaepay",
        environment=Environment.SANDBOX,
        label="Front counter",
        secrets={"api_key": SECRET, "api_pin": "987654"},
    )


@pytest.mark.django_db
def test_secrets_are_encrypted_at_rest(account):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT secrets_encrypted FROM credentials_provideraccount WHERE id = %s", [account.pk]
        )
        stored = cursor.fetchone()[0]
    assert SECRET not in stored
    assert ProviderAccount.objects.get(pk=account.pk).secrets() == {
        "api_key": SECRET,
        "api_pin": "987654",
    }


@pytest.mark.django_db
def test_creation_is_audited_without_the_secret(account):
    event = account.audit_events.get()
    assert event.action == AuditAction.CREATED
    assert SECRET not in event.detail


@pytest.mark.django_db
def test_rotate_credentials_key_reencrypts_everything_under_the_newest_key(account, settings):
    from datetime import datetime, timedelta

    DatabaseTokenStore(account).save(
        Token(access_token="bearer-abc-123", expires_at=datetime.now(UTC) + timedelta(hours=1))
    )
    old_key = settings.CREDENTIALS_KEYS[0]
    new_key = Fernet.generate_key().decode()
    settings.CREDENTIALS_KEYS = [new_key, old_key]
    call_command("rotate_credentials_key")

    settings.CREDENTIALS_KEYS = [new_key]  # the old key is gone: everything must still decrypt
    account.refresh_from_db()
    assert account.secrets()["api_key"] == SECRET
    assert DatabaseTokenStore(account).load().access_token == "bearer-abc-123"
    assert account.audit_events.filter(action=AuditAction.KEY_ROTATED).count() == 1

    settings.CREDENTIALS_KEYS = [old_key]  # and the old key alone no longer opens it
    with pytest.raises(vault.VaultError) as excinfo:
        account.secrets()
    assert SECRET not in str(excinfo.value)


def test_mask_shows_only_the_last_four_characters():
    assert vault.mask(SECRET) == "••••4Pd"[:0] + "••••" + SECRET[-4:]
    assert vault.mask("short") == "••••"
    assert vault.mask("") == "not set"


@pytest.mark.django_db
def test_the_account_page_shows_a_masked_secret_only(client, platform_admin, account):
    from tests.second_factor import login_verified

    login_verified(client, platform_admin)
    body = client.get(f"/credentials/{account.pk}/").content.decode()
    assert SECRET not in body and "987654" not in body
    assert "••••" + SECRET[-4:] in body


@pytest.mark.django_db
def test_a_merchant_manager_may_not_see_provider_accounts(client, tenant_a, account):
    from dashboard.models import Role

    client.force_login(tenant_a.users[Role.MERCHANT_MANAGER])
    assert client.get(f"/credentials/{account.pk}/").status_code == 403
    assert client.get("/credentials/").status_code == 403

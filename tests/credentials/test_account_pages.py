"""Adding, editing and rotating an account through its pages: the provider's own fields, the
environment chosen from the provider's known ones, verification before anything is saved, secrets
write-only and masked afterwards, the webhook address to configure, and platform admins only."""

from __future__ import annotations

import pytest
from django.urls import reverse

from credentials.models import ProviderAccount
from dashboard.models import Role
from sandbox.services import (
    account_issue_secrets,
    account_set_credential_faults,
    sandbox_account_ensure,
    sandbox_device_ensure,
)
from tests.contract.conftest import ACCOUNTS, make_env
from tests.credentials.test_rotation import NEW_SECRETS
from tests.second_factor import login_verified

pytestmark = pytest.mark.django_db(transaction=True)

USAEPAY = ACCOUNTS["usaepay"]["secrets"]


@pytest.fixture
def usaepay_at_the_emulator(sandbox_settings):
    account = sandbox_account_ensure(
        provider="usaepay", label="pages-usaepay", secrets=USAEPAY, settings={}
    )
    sandbox_device_ensure(
        account=account,
        ref="sa_PagesDevice000000000000000001",
        name="Lane 1",
        model="MP200",
        serial="1",
    )
    return account


def _add(client, merchant, secrets, **fields):
    data = {
        "provider": "usaepay",
        "merchant": merchant.pk,
        "label": "Front desk",
        "environment": "sandbox",
        **{f"secret_{name}": value for name, value in secrets.items()},
        **fields,
    }
    return client.post(reverse("credentials:account_add") + "?provider=usaepay", data)


def test_the_add_form_asks_for_the_providers_own_fields_and_its_known_environments(
    client, platform_admin, sandbox_settings
):
    login_verified(client, platform_admin, reauthenticated=True)

    picker = client.get(reverse("credentials:account_add")).content.decode()
    assert 'name="provider"' in picker and "secret_" not in picker

    klearly = client.get(reverse("credentials:account_add") + "?provider=klearly").content.decode()
    for label in ("Partner ID", "Partner secret", "Webhook secret", "Klearly merchant ID"):
        assert label in klearly
    assert 'value="sandbox"' in klearly
    assert 'value="live"' not in klearly  # Klearly's hosts are not public: our sandbox only
    usaepay = client.get(reverse("credentials:account_add") + "?provider=usaepay").content.decode()
    assert "API PIN" in usaepay and 'value="live"' in usaepay
    assert 'type="password"' in usaepay and "url" not in _field_names(usaepay)


def _field_names(html: str) -> set[str]:
    import re

    return set(re.findall(r'name="([^"]+)"', html))


def test_an_account_the_provider_accepts_is_saved_and_its_webhook_address_shown_masked(
    client, platform_admin, tenant_a, usaepay_at_the_emulator
):
    login_verified(client, platform_admin, reauthenticated=True)

    response = _add(client, tenant_a.merchant, USAEPAY)

    account = ProviderAccount.objects.get(label="Front desk")
    assert response.status_code == 302
    assert response.url == reverse("credentials:account_webhook", args=[account.pk])
    assert account.secrets() == USAEPAY and account.last_verified_at is not None
    page = client.get(response.url).content.decode()
    assert f"/webhooks/usaepay/{account.uuid}/" in page
    assert "••••" + USAEPAY["webhook_signature_key"][-4:] in page
    detail = client.get(reverse("credentials:account_detail", args=[account.pk])).content.decode()
    for value in USAEPAY.values():
        assert value not in page and value not in detail


def test_an_account_the_provider_refuses_is_not_saved_and_the_form_says_why(
    client, platform_admin, tenant_a, usaepay_at_the_emulator
):
    login_verified(client, platform_admin, reauthenticated=True)
    wrong = {**USAEPAY, "api_key": "_NotAKeyUsaepayKnows000000000000"}

    response = _add(client, tenant_a.merchant, wrong)

    assert response.status_code == 200
    body = response.content.decode()
    assert "Nothing was saved. USAePay refused the credentials:" in body
    assert wrong["api_key"] not in body and USAEPAY["api_pin"] not in body  # never rendered back
    assert not ProviderAccount.objects.filter(label="Front desk").exists()


def test_an_unanswered_verification_saves_nothing_either(
    client, platform_admin, tenant_a, usaepay_at_the_emulator
):
    account_set_credential_faults(account=usaepay_at_the_emulator, fail_next_5xx=1)
    login_verified(client, platform_admin, reauthenticated=True)

    body = _add(client, tenant_a.merchant, USAEPAY).content.decode()

    assert "Nothing was saved. USAePay could not be asked right now:" in body
    assert not ProviderAccount.objects.filter(label="Front desk").exists()


def test_an_environment_that_is_not_one_of_the_providers_is_refused(
    client, platform_admin, tenant_a, usaepay_at_the_emulator
):
    login_verified(client, platform_admin, reauthenticated=True)

    response = _add(client, tenant_a.merchant, USAEPAY, environment="https://attacker.example/")

    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not ProviderAccount.objects.filter(label="Front desk").exists()


def test_the_edit_page_shows_masks_keeps_empty_secrets_and_verifies_new_ones(
    client, platform_admin, tenant_a, sandbox_settings
):
    env = make_env("usaepay", tenant_a.merchant)
    env.adapter.close()
    login_verified(client, platform_admin, reauthenticated=True)
    url = reverse("credentials:account_edit", args=[env.account.pk])

    page = client.get(url).content.decode()
    assert "••••" + USAEPAY["api_key"][-4:] in page
    for value in USAEPAY.values():
        assert value not in page

    kept = client.post(url, {"label": "Renamed", "environment": "sandbox"})
    assert kept.status_code == 302
    account = ProviderAccount.objects.get(pk=env.account.pk)
    assert account.label == "Renamed" and account.secrets() == USAEPAY

    refused = client.post(
        url,
        {
            "label": "Renamed",
            "environment": "sandbox",
            "secret_api_key": "_Unknown0000000000000000000000000",
        },
    )
    assert "Nothing was changed. USAePay refused the credentials:" in refused.content.decode()
    assert ProviderAccount.objects.get(pk=env.account.pk).secrets() == USAEPAY

    new = NEW_SECRETS["usaepay"]
    account_issue_secrets(account=env.sandbox_account, secrets=new)
    changed = client.post(
        url,
        {
            "label": "Renamed",
            "environment": "sandbox",
            **{f"secret_{k}": v for k, v in new.items()},
        },
    )
    assert changed.status_code == 302
    assert ProviderAccount.objects.get(pk=env.account.pk).secrets() == {**USAEPAY, **new}


def test_a_platform_admin_rotates_a_usaepay_key_on_the_rotate_page(
    client, platform_admin, tenant_a, sandbox_settings
):
    env = make_env("usaepay", tenant_a.merchant)
    env.adapter.close()
    new = NEW_SECRETS["usaepay"]
    account_issue_secrets(account=env.sandbox_account, secrets=new)
    login_verified(client, platform_admin, reauthenticated=True)
    url = reverse("credentials:account_rotate", args=[env.account.pk])

    response = client.post(url, {f"secret_{k}": v for k, v in new.items()}, follow=True)

    body = response.content.decode()
    assert "USAePay accepted the credentials" in body and "The new credentials are active." in body
    for value in [*new.values(), *USAEPAY.values()]:
        assert value not in body
    assert ProviderAccount.objects.get(pk=env.account.pk).secrets() == {**USAEPAY, **new}


def test_the_rotate_page_shows_integras_recovery_steps_after_a_lost_reset(
    client, platform_admin, tenant_a, sandbox_settings
):
    env = make_env("mobilepay", tenant_a.merchant)
    env.adapter.close()
    account_set_credential_faults(account=env.sandbox_account, lose_next_response=True)
    login_verified(client, platform_admin, reauthenticated=True)

    response = client.post(
        reverse("credentials:account_self_rotate", args=[env.account.pk]), follow=True
    )

    body = response.content.decode()
    assert "Needs attention" in body
    assert "Ask Integra (MobilePay PoS support) to remove the access token" in body
    assert "Create a new token" in body
    for value in ACCOUNTS["mobilepay"]["secrets"].values():
        assert value not in body


ADMIN_ONLY = [
    ("credentials:account_edit", "get"),
    ("credentials:account_edit", "post"),
    ("credentials:account_webhook", "get"),
    ("credentials:account_webhook_test", "post"),
    ("credentials:account_rotate", "get"),
    ("credentials:account_rotate", "post"),
    ("credentials:account_self_rotate", "post"),
    ("credentials:account_token_create", "post"),
    ("credentials:account_rotation_abandon", "post"),
    ("credentials:account_rotation_policy", "post"),
]


@pytest.mark.parametrize("role", [Role.RESELLER_ADMIN, Role.MERCHANT_MANAGER, Role.CASHIER])
def test_only_platform_admins_add_edit_or_rotate(client, tenant_a, role, sandbox_settings):
    env = make_env("usaepay", tenant_a.merchant)
    env.adapter.close()
    login_verified(client, tenant_a.users[role], reauthenticated=True)
    before = env.account.secrets()

    assert client.get(reverse("credentials:account_add")).status_code == 403
    assert _add(client, tenant_a.merchant, USAEPAY).status_code == 403
    for name, method in ADMIN_ONLY:
        response = getattr(client, method)(reverse(name, args=[env.account.pk]))
        assert response.status_code == 403, (name, method)

    account = ProviderAccount.objects.get(pk=env.account.pk)
    assert account.secrets() == before and account.rotation_step == ""
    assert ProviderAccount.objects.count() == 1


SECRETS_CHANGE = [
    ("credentials:account_edit", "post"),
    ("credentials:account_rotate", "post"),
    ("credentials:account_self_rotate", "post"),
    ("credentials:account_token_create", "post"),
]


@pytest.mark.parametrize(("name", "method"), SECRETS_CHANGE)
def test_changing_secrets_asks_for_the_password_and_a_code_again(
    client, tenant_a, platform_admin, sandbox_settings, name, method
):
    """Past the second factor but not re-authenticated in the last minutes: sent to "Confirm it is
    you" and back, and nothing about the account changes."""
    env = make_env("usaepay", tenant_a.merchant)
    env.adapter.close()
    login_verified(client, platform_admin)
    before = env.account.secrets()

    response = getattr(client, method)(
        reverse(name, args=[env.account.pk]), {"api_key": "x" * 12, "api_pin": "1234"}
    )

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("second_factor_reauthenticate"))
    account = ProviderAccount.objects.get(pk=env.account.pk)
    assert account.secrets() == before and account.rotation_step == ""

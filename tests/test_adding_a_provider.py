"""Adding a provider is its adapter module plus one line in the registry: a throw-away provider,
registered from `tests/providers/throwaway_provider.py`, shows up in the provider account form, the
fleet page's filter and the terminal page with its own words, and no other code names it."""

from __future__ import annotations

import re

import pytest
from django.test import override_settings

from credentials.forms import ProviderAccountForm
from credentials.services import account_create
from dashboard.models import Role
from providers import registry
from providers.base import Environment
from sandbox.emulators import EMULATORS
from tests.providers import throwaway_provider
from tests.terminals.conftest import make_terminal

FLEET = "/terminals/"


@pytest.fixture
def throwaway(monkeypatch):
    """The throw-away provider, registered for one test (the registry is configuration)."""
    monkeypatch.setitem(
        registry.PROVIDER_CLASSES,
        throwaway_provider.NAME,
        "tests.providers.throwaway_provider:ThrowawayProvider",
    )
    return throwaway_provider.ThrowawayProvider


@pytest.fixture
def usaepay_account(tenant_a):
    return account_create(
        merchant=tenant_a.merchant,
        provider="usaepay",
        environment=Environment.SANDBOX,
        label="Main USAePay",
        secrets={"api_key": "usaepay-key-0123456789", "api_pin": "1234"},
    )


@pytest.fixture
def throwaway_account(throwaway, tenant_a):
    return account_create(
        merchant=tenant_a.merchant,
        provider=throwaway.name,
        environment=Environment.SANDBOX,
        label="Throw-away till",
        secrets={"api_token": "throwaway-token-0123456789"},
    )


def _provider_options(html: str) -> dict[str, str]:
    select = re.search(r'<select name="provider".*?</select>', html, re.S).group(0)
    return dict(re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', select))


def test_a_registered_provider_is_offered_in_the_account_form_by_its_display_name(throwaway):
    choices = dict(ProviderAccountForm().fields["provider"].choices)

    assert choices[throwaway.name] == "Throwaway Pay"


def test_an_unregistered_provider_is_not_offered_in_the_account_form():
    choices = dict(ProviderAccountForm().fields["provider"].choices)

    assert throwaway_provider.NAME not in choices
    assert set(choices) == {"klearly", "komoju", "mobilepay", "payroc", "usaepay"}


def test_the_account_form_asks_for_the_registered_providers_own_secrets_and_settings(throwaway):
    form = ProviderAccountForm(
        data={
            "provider": throwaway.name,
            "environment": Environment.LIVE,
            "label": "Counter",
            "secret_api_token": "tok-123",
            "setting_shop_code": "S-9",
        }
    )

    assert form.fields["secret_api_token"].label == "API token"
    assert form.fields["setting_shop_code"].label == "Shop code"
    assert form.is_valid(), form.errors
    assert form.secrets() == {"api_token": "tok-123"}
    assert form.settings() == {"shop_code": "S-9"}


def test_the_account_form_refuses_an_environment_the_provider_does_not_have(throwaway):
    form = ProviderAccountForm(
        data={
            "provider": throwaway.name,
            "environment": Environment.PROVIDER_TEST,
            "label": "Counter",
            "secret_api_token": "tok-123",
        }
    )

    assert not form.is_valid()
    assert form.errors["environment"] == [
        "Throwaway Pay has no Provider test environment we know of."
    ]


@override_settings(SANDBOX_BASE_URL="http://sandbox.test:8000/")
def test_an_account_of_the_registered_provider_finds_its_urls_on_the_adapter(throwaway_account):
    assert throwaway_account.endpoints.base_url == "http://sandbox.test:8000/sandbox/throwaway/v1"
    throwaway_account.environment = Environment.LIVE
    assert throwaway_account.endpoints.base_url == "https://api.throwaway.example/v1"
    assert str(throwaway_account).startswith("Throwaway Pay · Throw-away till")


def test_the_fleet_filter_offers_the_registered_provider_and_filters_by_it(
    client, tenant_a, throwaway_account, usaepay_account
):
    make_terminal(throwaway_account, name="Throw-away counter")
    make_terminal(usaepay_account, name="USAePay counter")
    client.force_login(tenant_a.users[Role.MERCHANT_MANAGER])

    every = client.get(FLEET).content.decode()
    only_throwaway = client.get(FLEET, {"provider": throwaway_account.provider}).content.decode()

    assert _provider_options(every)["throwaway"] == "Throwaway Pay"
    assert "Throw-away counter" in only_throwaway and "USAePay counter" not in only_throwaway


def test_the_fleet_filter_drops_a_provider_once_it_is_unregistered(
    client, tenant_a, usaepay_account
):
    client.force_login(tenant_a.users[Role.MERCHANT_MANAGER])

    options = _provider_options(client.get(FLEET).content.decode())

    assert "throwaway" not in options
    assert options["usaepay"] == "USAePay"


def test_the_terminal_page_names_its_id_as_the_registered_provider_does(
    client, tenant_a, throwaway_account
):
    terminal = make_terminal(throwaway_account, provider_ref="till-42")
    client.force_login(tenant_a.users[Role.MERCHANT_MANAGER])

    page = client.get(f"/terminals/{terminal.pk}/").content.decode()

    assert re.search(r'<th scope="row">Till number</th><td><code>till-42</code>', page)
    assert "Throwaway Pay" in page


# -- every fact agrees with its other side ---------------------------------------------------------


@pytest.mark.parametrize("name", registry.provider_names())
def test_each_providers_sandbox_emulator_has_the_same_name_and_label(name):
    adapter = registry.provider_class(name)

    assert adapter.name == name
    assert EMULATORS[name].label == adapter.display_name


@pytest.mark.parametrize("name", registry.provider_names())
def test_each_adapter_declares_every_fact_a_provider_needs(name):
    adapter = registry.provider_class(name)

    assert adapter.display_name and adapter.api_name and adapter.terminal_ref_label
    assert adapter.secret_fields, "every provider needs at least one secret"
    assert adapter.sandbox_endpoints is not None
    assert set(adapter.environments) <= {Environment.LIVE, Environment.PROVIDER_TEST}
    assert all(e.base_url.startswith("https://") for e in adapter.environments.values())

"""Every view declares an access policy, and no user of another tenant reaches a tenant's object."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from dashboard.models import Merchant, Reseller, Role, Store
from tests.factories import PASSWORD
from tests.second_factor import verify_client


def _walk(patterns, prefix="", namespace=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), f"{namespace}{entry.name}", entry


ALL_PATTERNS = list(_walk(get_resolver().url_patterns))
SCOPED = [
    (route, name, p) for route, name, p in ALL_PATTERNS if getattr(p.callback, "scoped_model", None)
]
UNSCOPED_PRIVATE = [
    (route, name, p)
    for route, name, p in ALL_PATTERNS
    if not getattr(p.callback, "scoped_model", None)
    and not getattr(p.callback, "access_policy", "").startswith("public")
    and not p.pattern.converters
]
WITH_PARAMETERS = [(route, name, p) for route, name, p in ALL_PATTERNS if p.pattern.converters]


def test_the_walk_finds_the_url_patterns():
    assert len(ALL_PATTERNS) >= 15
    assert SCOPED, "no scoped view found; the walk is broken"


@pytest.mark.parametrize("route,name,pattern", ALL_PATTERNS, ids=[r for r, _, _ in ALL_PATTERNS])
def test_every_view_declares_an_access_policy(route, name, pattern):
    policy = getattr(pattern.callback, "access_policy", None)
    assert policy, (
        f"{route} ({name}) has no access policy: decorate it with @access(...) or @public(...)"
    )


@pytest.mark.parametrize(
    "route,name,pattern", WITH_PARAMETERS, ids=[r for r, _, _ in WITH_PARAMETERS]
)
def test_a_view_with_url_parameters_is_scoped_or_public(route, name, pattern):
    policy = pattern.callback.access_policy
    assert getattr(pattern.callback, "scoped_model", None) or policy.startswith("public"), (
        f"{route} takes parameters but does not load its object through for_user(): use obj=scoped(Model)"
    )


def _instances(tenant):
    """Tenant A's object for each scoped model; a new scoped model must be added here."""
    from credentials.environments import Environment
    from credentials.models import ProviderAccount
    from credentials.services import account_create
    from terminals.models import Terminal

    account = ProviderAccount.objects.filter(merchant=tenant.merchant).first() or account_create(
        merchant=tenant.merchant,
        provider="usaepay",
        environment=Environment.SANDBOX,
        label="Main",
        secrets={"api_key": "k" * 32, "api_pin": "1234"},
    )
    terminal = Terminal.objects.filter(merchant=tenant.merchant).first() or Terminal.objects.create(
        account=account,
        merchant=tenant.merchant,
        provider=account.provider,
        store=tenant.store,
        provider_ref="sa_AccessWalkTerminal",
        name=f"Terminal of {tenant.merchant.name}",
    )
    from payments.models import Payment
    from tests.factories import PaymentFactory

    payment = Payment.objects.filter(merchant=tenant.merchant).first() or PaymentFactory(
        terminal=terminal
    )
    from payments.models import PaymentEvent

    event = PaymentEvent.objects.filter(payment=payment).first() or PaymentEvent.objects.create(
        payment=payment, to_status="created", source="user", created_at=payment.created_at
    )
    return {
        Payment: payment,
        PaymentEvent: event,
        Reseller: tenant.reseller,
        Merchant: tenant.merchant,
        Store: tenant.store,
        ProviderAccount: account,
        Terminal: terminal,
    }


OTHER_TENANT_ROLES = [Role.RESELLER_ADMIN, Role.MERCHANT_MANAGER, Role.CASHIER]


def _log_in(client, user):
    """Logged in, and past the second factor where the role has one (dashboard/second_factor.py),
    so a page behind it answers what its scope and permission say, never only "enrol first"."""
    client.force_login(user)
    if user.membership_row.role == Role.RESELLER_ADMIN:
        verify_client(client, user)


@pytest.mark.django_db
@pytest.mark.parametrize("role", OTHER_TENANT_ROLES)
def test_users_of_another_tenant_never_get_200_on_a_tenants_objects(
    client, tenant_a, tenant_b, role
):
    _log_in(client, tenant_b.users[role])
    objects = _instances(tenant_a)
    responses = []
    for route, name, pattern in SCOPED:
        model = pattern.callback.scoped_model
        assert model in objects, f"add an instance of {model.__name__} for {route} to _instances()"
        kwargs = {
            key: getattr(objects[model], key, None) or objects[model].pk
            for key in pattern.pattern.converters
        }
        url = reverse(name, kwargs=kwargs)
        for method in ("get", "post"):
            response = getattr(client, method)(url)
            responses.append((method, url, response.status_code))
            assert response.status_code in (403, 404), (
                f"{role} of tenant B got {response.status_code} on {method} {url}"
            )
    assert sum(1 for *_, status in responses if status == 200) == 0
    assert len(responses) == 2 * len(SCOPED)


@pytest.mark.django_db
@pytest.mark.parametrize("role", OTHER_TENANT_ROLES)
def test_list_pages_show_nothing_of_another_tenant(client, tenant_a, tenant_b, role):
    _log_in(client, tenant_b.users[role])
    for route, name, _pattern in UNSCOPED_PRIVATE:
        response = client.get(reverse(name))
        if response.status_code != 200:
            assert response.status_code in (302, 403, 405), f"{route}: {response.status_code}"
            continue
        # Exports stream: their whole body is read too.
        content = b"".join(response.streaming_content) if response.streaming else response.content
        body = content.decode()
        for secret_name in (tenant_a.reseller.name, tenant_a.merchant.name, tenant_a.store.name):
            assert secret_name not in body, f"{route} shows {secret_name!r} to {role} of tenant B"


@pytest.mark.django_db
def test_anonymous_users_are_sent_to_login_from_every_private_page(client, tenant_a):
    objects = _instances(tenant_a)
    for route, name, pattern in ALL_PATTERNS:
        if pattern.callback.access_policy.startswith("public"):
            continue
        kwargs = {
            k: getattr(objects[pattern.callback.scoped_model], k, None)
            or objects[pattern.callback.scoped_model].pk
            for k in pattern.pattern.converters
        }
        response = client.get(reverse(name, kwargs=kwargs))
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], route


@pytest.mark.django_db
def test_a_cashier_gets_403_on_a_visible_merchant_action_they_may_not_take(client, tenant_a):
    client.force_login(tenant_a.users[Role.CASHIER])
    response = client.get(reverse("dashboard:merchant_edit", kwargs={"pk": tenant_a.merchant.pk}))
    assert response.status_code == 403


@pytest.mark.django_db
def test_login_with_email_and_password_works(client, tenant_a):
    response = client.post(
        reverse("login"), {"username": "manager-alpha@example.test", "password": PASSWORD}
    )
    assert response.status_code == 302 and response["Location"] == reverse("home")

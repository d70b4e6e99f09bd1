import pytest
from django.urls import reverse

from dashboard.models import Merchant, Reseller, Role, Store


@pytest.mark.django_db
def test_platform_admin_creates_a_reseller(client, platform_admin):
    client.force_login(platform_admin)
    response = client.post(reverse("dashboard:reseller_create"), {"name": "Eastern Systems"})
    assert response.status_code == 302
    assert Reseller.objects.filter(name="Eastern Systems").exists()


@pytest.mark.django_db
def test_reseller_names_are_unique_whatever_the_case(client, platform_admin, tenant_a):
    client.force_login(platform_admin)
    response = client.post(
        reverse("dashboard:reseller_create"), {"name": tenant_a.reseller.name.upper()}
    )
    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert Reseller.objects.count() == 1


@pytest.mark.django_db
def test_a_reseller_admin_may_not_create_resellers(client, tenant_a):
    client.force_login(tenant_a.users[Role.RESELLER_ADMIN])
    assert client.get(reverse("dashboard:reseller_create")).status_code == 403
    assert client.post(reverse("dashboard:reseller_create"), {"name": "Sneaky"}).status_code == 403
    assert not Reseller.objects.filter(name="Sneaky").exists()


@pytest.mark.django_db
def test_a_reseller_admin_creates_a_merchant_in_its_own_reseller(client, tenant_a, tenant_b):
    client.force_login(tenant_a.users[Role.RESELLER_ADMIN])
    response = client.post(
        reverse("dashboard:merchant_create"),
        {"reseller": tenant_b.reseller.pk, "name": "Smuggled", "default_currency": "USD"},
    )
    assert response.status_code == 200, "a reseller outside the scope is not a valid choice"
    assert not Merchant.objects.filter(name="Smuggled").exists()
    response = client.post(
        reverse("dashboard:merchant_create"),
        {"reseller": tenant_a.reseller.pk, "name": "New Shop", "default_currency": "EUR"},
    )
    assert response.status_code == 302
    assert Merchant.objects.get(name="New Shop").reseller == tenant_a.reseller


@pytest.mark.django_db
@pytest.mark.parametrize(
    "data,message",
    [
        ({"name": ""}, "This field is required."),
        ({"name": "x" * 101}, "at most 100 characters"),
        ({"name": "M"}, "at least 2 characters"),
        ({"name": "Merchant alpha"}, "already has a merchant with this name"),
    ],
)
def test_merchant_form_errors_are_shown_on_the_form_and_nothing_is_saved(
    client, tenant_a, data, message
):
    client.force_login(tenant_a.users[Role.RESELLER_ADMIN])
    before = Merchant.objects.count()
    response = client.post(
        reverse("dashboard:merchant_create"),
        {"reseller": tenant_a.reseller.pk, "default_currency": "USD", **data},
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    assert Merchant.objects.count() == before


@pytest.mark.django_db
def test_store_names_are_unique_within_their_merchant_only(
    client, tenant_a, tenant_b, platform_admin
):
    client.force_login(platform_admin)
    ok = client.post(
        reverse("dashboard:store_create"),
        {"merchant": tenant_b.merchant.pk, "name": "Store alpha", "time_zone": "UTC"},
    )
    assert ok.status_code == 302
    clash = client.post(
        reverse("dashboard:store_create"),
        {"merchant": tenant_a.merchant.pk, "name": "store ALPHA", "time_zone": "UTC"},
    )
    assert (
        clash.status_code == 200 and "already has a store with this name" in clash.content.decode()
    )


@pytest.mark.django_db
def test_a_reseller_admin_edits_a_store_of_its_fleet(client, tenant_a):
    client.force_login(tenant_a.users[Role.RESELLER_ADMIN])
    url = reverse("dashboard:store_edit", kwargs={"pk": tenant_a.store.pk})
    response = client.post(
        url,
        {
            "merchant": tenant_a.merchant.pk,
            "name": "Renamed",
            "address": "1 Quay",
            "time_zone": "Europe/Copenhagen",
        },
    )
    assert response.status_code == 302
    store = Store.objects.get(pk=tenant_a.store.pk)
    assert (store.name, store.time_zone) == ("Renamed", "Europe/Copenhagen")


@pytest.mark.django_db
def test_merchant_list_is_paginated(client, platform_admin, tenant_a):
    from tests.factories import MerchantFactory

    MerchantFactory.create_batch(30, reseller=tenant_a.reseller)
    client.force_login(platform_admin)
    body = client.get(reverse("dashboard:merchant_list")).content.decode()
    assert "Page 1 of 2" in body
    assert "31 in all" in body


@pytest.mark.django_db
def test_empty_states_say_what_to_do_next(client, platform_admin):
    client.force_login(platform_admin)
    body = client.get(reverse("home")).content.decode()
    assert "Create the first reseller" in body


@pytest.mark.django_db
@pytest.mark.parametrize(
    "role,visible,hidden",
    [
        (Role.RESELLER_ADMIN, ["Merchants", "Stores"], ["Resellers"]),
        (Role.MERCHANT_MANAGER, ["Overview"], ["Resellers", "Merchants"]),
        (Role.CASHIER, ["Overview"], ["Resellers", "Merchants", "Stores"]),
    ],
)
def test_navigation_fits_the_role(client, tenant_a, role, visible, hidden):
    client.force_login(tenant_a.users[role])
    body = client.get(reverse("home")).content.decode()
    nav = body.split('data-testid="main-nav"')[1].split("</ul>")[0]
    for label in visible:
        assert f">{label}</a>" in nav
    for label in hidden:
        assert f">{label}</a>" not in nav

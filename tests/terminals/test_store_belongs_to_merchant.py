"""A terminal's store belongs to the terminal's merchant: the store form refuses to move a store that
has terminals, the assignment services refuse a store of another merchant, and the database refuses
whatever gets past them (a composite foreign key (store_id, merchant_id) → store (id, merchant_id))."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.urls import reverse

from credentials.services import account_create
from dashboard import services as dashboard_services
from dashboard.forms import StoreForm
from dashboard.models import Membership, Merchant, Role, Store
from terminals import services
from terminals.models import EventKind, Terminal
from tests.factories import MerchantFactory, StoreFactory
from tests.terminals.conftest import make_terminal


@pytest.fixture
def sister(tenant_a):
    """Another merchant of tenant alpha's reseller, with a store and a provider account."""
    merchant = MerchantFactory(reseller=tenant_a.reseller, name="Sister shop")
    store = StoreFactory(merchant=merchant, name="Sister store")
    account = account_create(
        merchant=merchant,
        provider="usaepay",
        environment="sandbox",
        label="Sister USAePay",
        secrets={"api_key": "_" + "s" * 31, "api_pin": "1234"},
    )
    return merchant, store, account


def edit_store(client, store, merchant):
    return client.post(
        reverse("dashboard:store_edit", kwargs={"pk": store.pk}),
        {"merchant": merchant.pk, "name": store.name, "address": "", "time_zone": "UTC"},
    )


# --- the store form -------------------------------------------------------------------------------


def test_a_reseller_admin_cannot_move_a_store_with_terminals_to_another_merchant(
    client, tenant_a, usaepay_account, sister
):
    other_merchant, _, _ = sister
    store = StoreFactory(merchant=tenant_a.merchant, name="Harbour")
    make_terminal(usaepay_account, store=store)
    make_terminal(usaepay_account, store=store)
    client.force_login(tenant_a.users[Role.RESELLER_ADMIN])

    response = edit_store(client, store, other_merchant)

    body = response.content.decode()
    assert response.status_code == 200
    assert "This store has 2 terminals of its merchant, so its merchant cannot change." in body
    store.refresh_from_db()
    assert store.merchant == tenant_a.merchant
    assert set(Terminal.objects.filter(store=store).values_list("merchant", flat=True)) == {
        tenant_a.merchant.pk
    }


def test_a_store_a_cashier_is_tied_to_cannot_move_to_another_merchant(client, tenant_a, sister):
    other_merchant, _, _ = sister
    client.force_login(tenant_a.users[Role.RESELLER_ADMIN])

    response = edit_store(client, tenant_a.store, other_merchant)

    assert response.status_code == 200
    assert "This store has 1 membership of its merchant" in response.content.decode()
    tenant_a.store.refresh_from_db()
    assert tenant_a.store.merchant == tenant_a.merchant


def test_an_empty_store_may_move_to_another_merchant_of_the_reseller(client, tenant_a, sister):
    other_merchant, _, _ = sister
    store = StoreFactory(merchant=tenant_a.merchant, name="Pop-up")
    client.force_login(tenant_a.users[Role.RESELLER_ADMIN])

    assert edit_store(client, store, other_merchant).status_code == 302
    store.refresh_from_db()
    assert store.merchant == other_merchant


def test_a_terminal_put_in_the_store_after_the_form_was_checked_still_stops_the_move(
    tenant_a, usaepay_account, sister
):
    other_merchant, _, _ = sister
    store = StoreFactory(merchant=tenant_a.merchant, name="Harbour")
    form = StoreForm(
        {"merchant": other_merchant.pk, "name": "Harbour", "address": "", "time_zone": "UTC"},
        instance=store,
        merchants=Merchant.objects.all(),
    )
    assert form.is_valid()
    make_terminal(usaepay_account, store=Store.objects.get(pk=store.pk))  # meanwhile

    with pytest.raises(ValidationError) as refused:
        dashboard_services.store_save(form=form)

    assert "merchant cannot change" in refused.value.message_dict["merchant"][0]
    assert Store.objects.get(pk=store.pk).merchant == tenant_a.merchant


# --- the database ---------------------------------------------------------------------------------


def test_the_database_refuses_a_terminal_in_a_store_of_another_merchant(
    tenant_a, usaepay_account, sister
):
    _, other_store, _ = sister
    terminal = make_terminal(usaepay_account, store=tenant_a.store)

    with pytest.raises(IntegrityError), transaction.atomic():
        Terminal.objects.filter(pk=terminal.pk).update(store=other_store)
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE terminals_terminal SET store_id = %s WHERE id = %s",
            [other_store.pk, terminal.pk],
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        make_terminal(usaepay_account, store=other_store)

    terminal.refresh_from_db()
    assert terminal.store == tenant_a.store


def test_the_database_refuses_to_move_a_store_that_has_terminals(tenant_a, usaepay_account, sister):
    other_merchant, _, _ = sister
    store = StoreFactory(merchant=tenant_a.merchant, name="Harbour")
    make_terminal(usaepay_account, store=store)

    with pytest.raises(IntegrityError), transaction.atomic():
        Store.objects.filter(pk=store.pk).update(merchant=other_merchant)


def test_the_database_refuses_a_terminal_moved_to_another_merchant_while_in_a_store(
    tenant_a, usaepay_account, sister
):
    other_merchant, _, _ = sister
    terminal = make_terminal(usaepay_account, store=tenant_a.store)

    with pytest.raises(IntegrityError), transaction.atomic():
        Terminal.objects.filter(pk=terminal.pk).update(merchant=other_merchant)


def test_a_terminal_without_a_store_is_allowed(tenant_a, usaepay_account):
    terminal = make_terminal(usaepay_account, store=tenant_a.store)
    Terminal.objects.filter(pk=terminal.pk).update(store=None)
    terminal.refresh_from_db()
    assert terminal.store is None


def test_the_database_refuses_a_cashier_tied_to_a_store_of_another_merchant(tenant_a, sister):
    _, other_store, _ = sister
    cashier = Membership.objects.get(user=tenant_a.users[Role.CASHIER])

    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.filter(pk=cashier.pk).update(store=other_store)


# --- the assignment services and pages --------------------------------------------------------------


def test_the_assign_service_skips_terminals_of_another_merchant_than_the_stores(
    tenant_a, usaepay_account, sister
):
    _, other_store, _ = sister
    terminal = make_terminal(usaepay_account, store=tenant_a.store)

    outcome = services.terminals_assign_store(
        terminals=Terminal.objects.filter(pk=terminal.pk), store=other_store, actor=None
    )

    assert (outcome.assigned, outcome.unchanged, outcome.skipped) == (0, 0, 1)
    terminal.refresh_from_db()
    assert terminal.store == tenant_a.store
    assert not terminal.events.filter(kind=EventKind.ASSIGNED).exists()


def test_bulk_assignment_says_why_terminals_of_another_merchant_were_skipped(
    client, tenant_a, usaepay_account, sister
):
    _, other_store, other_account = sister
    mine = make_terminal(usaepay_account, name="Mine")
    theirs = make_terminal(other_account, name="Theirs")
    client.force_login(tenant_a.users[Role.RESELLER_ADMIN])

    response = client.post(
        "/terminals/assign/",
        {"terminal": [mine.pk, theirs.pk], "confirm": "1", "store": other_store.pk},
        follow=True,
    )

    body = response.content.decode()
    assert "1 terminal moved to “Sister store”." in body
    assert "1 skipped: a terminal can only go to a store of its own merchant." in body
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.store is None and theirs.store == other_store


def test_the_terminal_page_refuses_a_store_of_another_merchant_of_the_reseller(
    client, tenant_a, usaepay_account, sister
):
    _, other_store, _ = sister
    terminal = make_terminal(usaepay_account, store=tenant_a.store)
    client.force_login(tenant_a.users[Role.RESELLER_ADMIN])

    response = client.post(
        reverse("terminals:assign_store", args=[terminal.pk]), {"store": other_store.pk}
    )

    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    terminal.refresh_from_db()
    assert terminal.store == tenant_a.store

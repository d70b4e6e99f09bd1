"""The demo's terminals, read by a real sync from the sandbox emulators (the live server): each in
its store, one name each, the same in the dashboard and on the virtual terminal."""

import pytest

from dashboard.models import Role, User
from home.demo_data import (
    DEMO_PROVIDER_ACCOUNTS,
    load_demo_data,
    load_demo_provider_accounts,
    place_demo_terminals,
)
from sandbox.models import SandboxDevice
from terminals.models import Terminal

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def demo_terminals(sandbox_settings):
    from credentials.models import ProviderAccount
    from terminals.services import terminal_sync_account_now

    load_demo_data()
    load_demo_provider_accounts()
    assert place_demo_terminals() == sum(len(d) for *_, d in DEMO_PROVIDER_ACCOUNTS)
    for account in ProviderAccount.objects.all():
        terminal_sync_account_now(account=account)
    assert place_demo_terminals() == 0
    return Terminal.objects.select_related("store", "account")


def test_every_demo_terminal_stands_in_a_store_of_its_merchant(demo_terminals):
    assert demo_terminals.count() == 11
    assert [t.name for t in demo_terminals if t.store is None] == []
    assert all(t.store.merchant_id == t.merchant_id for t in demo_terminals)
    assert {
        t.name: t.store.name for t in demo_terminals.filter(merchant__name="Harbour Bakery")
    } == {
        "Counter 1": "Main Street",
        "Counter 2": "Harbour Front",
        "Patio": "Harbour Front",
    }


def test_each_demo_terminal_has_one_name_the_same_as_its_virtual_terminal(demo_terminals):
    names = [t.name for t in demo_terminals]
    assert len(names) == len(set(names)), names
    on_the_virtual_terminal = {d.ref: d.display_name for d in SandboxDevice.objects.all()}
    assert {t.name: on_the_virtual_terminal[t.provider_ref] for t in demo_terminals} == {
        name: name for name in names
    }
    assert "PAX A920 #0001" not in names


def test_the_bakery_cashier_sees_only_the_main_street_terminal(demo_terminals):
    cashier = User.objects.get(email="cashier@bakery.test")
    assert cashier.membership.role == Role.CASHIER
    assert [t.name for t in Terminal.objects.for_user(cashier)] == ["Counter 1"]


def test_placing_twice_changes_nothing_and_keeps_a_store_someone_chose(demo_terminals):
    from dashboard.models import Store
    from terminals.services import terminals_assign_store

    patio = demo_terminals.get(name="Patio")
    main_street = Store.objects.get(merchant=patio.merchant, name="Main Street")
    terminals_assign_store(
        terminals=Terminal.objects.filter(pk=patio.pk), store=main_street, actor=None
    )
    events = patio.events.count()
    assert place_demo_terminals() == 0
    patio.refresh_from_db()
    assert patio.store == main_street
    assert patio.events.count() == events

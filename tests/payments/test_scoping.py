"""Payment.objects.for_user: the tenancy rule of the terminals, on the payment's own columns."""

from __future__ import annotations

import pytest

from dashboard.models import Role
from payments.models import Payment, ReceivedWebhook
from tests.factories import (
    PaymentFactory,
    StoreFactory,
    make_account,
    make_payment_terminal,
    member,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def payments(tenant_a, tenant_b, terminal):
    """Tenant A: one payment in its store, one in another store, one on a terminal of no store;
    tenant B: one payment."""
    other_store = StoreFactory(merchant=tenant_a.merchant, name="Back office")
    account_b = make_account(tenant_b.merchant, "usaepay")
    return {
        "a_store": PaymentFactory(terminal=terminal, status="approved"),
        "a_other_store": PaymentFactory(
            terminal=make_payment_terminal(terminal.account, store=other_store)
        ),
        "a_no_store": PaymentFactory(terminal=make_payment_terminal(terminal.account)),
        "b": PaymentFactory(terminal=make_payment_terminal(account_b, store=tenant_b.store)),
    }


@pytest.fixture
def visible(payments):
    """The names of the payments `user` may see."""

    def names(user) -> set[str]:
        seen = set(Payment.objects.for_user(user).values_list("pk", flat=True))
        return {name for name, payment in payments.items() if payment.pk in seen}

    return names


def test_a_platform_admin_sees_every_payment(platform_admin, visible):
    assert visible(platform_admin) == {"a_store", "a_other_store", "a_no_store", "b"}


def test_a_reseller_admin_sees_its_merchants_payments(tenant_a, visible):
    assert visible(tenant_a.users[Role.RESELLER_ADMIN]) == {
        "a_store",
        "a_other_store",
        "a_no_store",
    }


def test_a_merchant_manager_sees_its_merchants_payments(tenant_a, visible):
    assert visible(tenant_a.users[Role.MERCHANT_MANAGER]) == {
        "a_store",
        "a_other_store",
        "a_no_store",
    }


def test_a_cashier_of_a_store_sees_its_store_and_the_terminals_of_no_store(tenant_a, visible):
    assert visible(tenant_a.users[Role.CASHIER]) == {"a_store", "a_no_store"}


def test_a_cashier_without_a_store_sees_the_whole_merchant(tenant_a, visible):
    cashier = member(Role.CASHIER, merchant=tenant_a.merchant)
    assert visible(cashier) == {"a_store", "a_other_store", "a_no_store"}


@pytest.mark.parametrize("role", [Role.RESELLER_ADMIN, Role.MERCHANT_MANAGER, Role.CASHIER])
def test_another_tenant_sees_nothing_of_tenant_a(tenant_b, role, visible):
    assert visible(tenant_b.users[role]) == {"b"}


def test_someone_without_a_membership_sees_nothing(django_user_model, visible):
    assert visible(django_user_model.objects.create_user("nobody@example.test", "x")) == set()


def test_open_lists_only_payments_not_yet_final(payments):
    assert set(Payment.objects.open()) == {
        payments["a_other_store"],
        payments["a_no_store"],
        payments["b"],
    }


def test_received_webhooks_are_scoped_to_the_accounts_merchant(tenant_a, tenant_b, terminal):
    from django.utils import timezone

    webhook = ReceivedWebhook.objects.create(
        account=terminal.account,
        provider="payroc",
        event_id="e1",
        body="{}",
        verdict="valid",
        received_at=timezone.now(),
    )
    assert list(ReceivedWebhook.objects.for_user(tenant_a.users[Role.MERCHANT_MANAGER])) == [
        webhook
    ]
    assert not ReceivedWebhook.objects.for_user(tenant_b.users[Role.MERCHANT_MANAGER]).exists()

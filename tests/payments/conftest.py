"""Payments fixtures: tenant A's Payroc and MobilePay accounts, each with a terminal in the store."""

from __future__ import annotations

import pytest

from tests.factories import make_account, make_payment_terminal


@pytest.fixture
def payroc_account(tenant_a):
    return make_account(tenant_a.merchant, "payroc", label="Payroc A")


@pytest.fixture
def terminal(payroc_account, tenant_a):
    return make_payment_terminal(payroc_account, store=tenant_a.store, name="Lane 1")


@pytest.fixture
def mobilepay_terminal(tenant_a):
    account = make_account(tenant_a.merchant, "mobilepay", label="MobilePay A")
    return make_payment_terminal(account, store=tenant_a.store, name="MobilePay PoS")

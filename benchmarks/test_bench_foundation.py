"""`make bench`: figures for the README's benchmark table (pytest-benchmark; PostgreSQL, real HTTP)."""

import pytest
from django.test import Client

from credentials import vault
from dashboard.models import Role
from tests.factories import MerchantFactory, StoreFactory

pytestmark = pytest.mark.django_db


def test_bench_merchant_list_page_for_a_reseller_with_500_merchants(benchmark, tenant_a):
    merchants = MerchantFactory.create_batch(500, reseller=tenant_a.reseller)
    for merchant in merchants[:100]:
        StoreFactory(merchant=merchant)
    client = Client()
    client.force_login(tenant_a.users[Role.RESELLER_ADMIN])
    response = benchmark(client.get, "/merchants/?page=3")
    assert response.status_code == 200


def test_bench_home_page_for_a_cashier(benchmark, tenant_a):
    client = Client()
    client.force_login(tenant_a.users[Role.CASHIER])
    response = benchmark(client.get, "/")
    assert response.status_code == 200


def test_bench_vault_decrypt_of_one_account_secret(benchmark):
    token = vault.encrypt({"api_key": "k" * 32, "api_pin": "123456"})
    assert benchmark(vault.decrypt, token)["api_pin"] == "123456"

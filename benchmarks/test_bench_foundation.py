"""Server-side figures on PostgreSQL with the real middleware stack (sessions, axes, CSRF)."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from credentials import vault
from dashboard.models import Role
from tests.factories import MerchantFactory, StoreFactory

pytestmark = pytest.mark.django_db


def test_merchant_list_for_a_reseller_with_500_merchants(tenant_a, record):
    merchants = MerchantFactory.create_batch(500, reseller=tenant_a.reseller)
    for merchant in merchants[:100]:
        StoreFactory(merchant=merchant)
    client = Client()
    client.force_login(tenant_a.users[Role.RESELLER_ADMIN])
    record("merchants.page_ms", median_ms_get(client, "/merchants/?page=3"), "ms", 50)
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/merchants/?page=3").status_code == 200
    record("merchants.page_queries", len(queries), "count", 10)


def test_home_page_for_a_cashier(tenant_a, record):
    client = Client()
    client.force_login(tenant_a.users[Role.CASHIER])
    record("home.cashier_ms", median_ms_get(client, "/"), "ms", 50)


def test_vault_decrypt_of_one_account_secret(record):
    from benchmarks.conftest import median_ms

    token = vault.encrypt({"api_key": "k" * 32, "api_pin": "123456"})
    record("vault.decrypt_us", median_ms(lambda: vault.decrypt(token), runs=2000) * 1000, "us", 100)


def median_ms_get(client, url):
    from benchmarks.conftest import median_ms

    def get():
        assert client.get(url).status_code == 200

    return median_ms(get)

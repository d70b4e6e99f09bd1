"""Adapter round trips against the sandbox emulators over real HTTP (live server, loopback)."""

import statistics
import time

import pytest

from benchmarks.conftest import median_ms
from providers.base import PaymentKind, PaymentState
from providers.recovery import start_exactly_once
from tests.contract.conftest import make_env

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("provider", ["payroc", "usaepay"])
def test_sale_start_and_status_calls(provider, gunicorn_url, tenant_a, record):
    """The cost of our side of a sale: the start call and the status read that sees it approved.
    (The wall time a customer waits is the terminal's, plus the poll cadence: USAePay is polled every
    2 s to stay inside its 45 requests/minute budget; Payroc answers the long-poll at once.)"""
    env = make_env(provider, tenant_a.merchant)
    env.adapter.obtain_token()
    starts, reads = [], []

    def sale():
        start = time.perf_counter()
        result = start_exactly_once(env.adapter, env.start_request(1001))
        starts.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        final = env.adapter.get_payment(result.provider_ref, kind=PaymentKind.SALE, wait=True)
        reads.append((time.perf_counter() - start) * 1000)
        assert final.state == PaymentState.APPROVED

    with env.adapter:
        for _ in range(25):
            sale()
    record(f"{provider}.start_ms", statistics.median(starts[3:]), "ms", 100)
    record(f"{provider}.status_final_ms", statistics.median(reads[3:]), "ms", 100)


@pytest.mark.parametrize("provider", ["payroc", "usaepay"])
def test_list_terminals(provider, gunicorn_url, tenant_a, record):
    env = make_env(provider, tenant_a.merchant)
    env.adapter.obtain_token()
    with env.adapter:
        record(
            f"{provider}.list_terminals_ms",
            median_ms(env.adapter.list_terminals, runs=30),
            "ms",
            100,
        )

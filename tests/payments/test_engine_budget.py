"""The per-credential rate budget in Redis, shared by every worker (credentials/budget.py)."""

from __future__ import annotations

import threading

import pytest

from credentials.budget import budget_reset, budget_take, budget_used, tracking_limit
from payments.engine import payment_start_execute
from payments.models import PaymentStatus


def test_a_full_window_says_how_long_until_a_slot_frees():
    budget_reset(9001)

    taken = [budget_take(9001, limit=3, window_s=60) for _ in range(3)]
    refused = budget_take(9001, limit=3, window_s=60)

    assert taken == [0.0, 0.0, 0.0]
    assert 59 < refused <= 60
    assert budget_used(9001) == 3


def test_workers_racing_for_the_last_slots_never_take_more_than_the_budget():
    budget_reset(9002)
    results = []

    def take():
        results.append(budget_take(9002, limit=10, window_s=60))

    threads = [threading.Thread(target=take) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert results.count(0.0) == 10
    assert budget_used(9002) == 10


def test_trackers_spend_at_most_four_fifths_of_usaepays_45_a_minute():
    assert tracking_limit(45) == 36
    assert tracking_limit(None) > 0


@pytest.fixture
def usaepay_desk(sandbox_settings, tenant_a, broker):
    from tests.payments.engine_support import Desk

    return Desk("usaepay", tenant_a)


@pytest.mark.django_db(transaction=True)
def test_a_start_takes_a_slot_of_its_credentials_budget(usaepay_desk):
    """USAePay's key allows 45 requests a minute for everything: a start takes its slot, so the
    trackers, held to their share, leave room for it."""
    payment = usaepay_desk.take(0)
    assert budget_used(usaepay_desk.account.pk) == 0

    payment_start_execute(payment_id=payment.pk)

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING
    assert budget_used(usaepay_desk.account.pk) == 1


@pytest.mark.django_db(transaction=True)
def test_a_full_window_never_holds_back_a_start_the_customer_waits_for(usaepay_desk):
    while budget_take(usaepay_desk.account.pk, limit=45) == 0.0:
        pass
    payment = usaepay_desk.take(0)

    payment_start_execute(payment_id=payment.pk)

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING
    assert usaepay_desk.starts(payment) == 1

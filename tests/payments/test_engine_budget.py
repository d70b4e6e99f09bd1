"""The per-credential rate budget in Redis, shared by every worker (credentials/budget.py)."""

from __future__ import annotations

import threading

from credentials.budget import budget_reset, budget_take, budget_used, tracking_limit


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

"""A person's press on the per-credential request window (credentials/budget.py): one press of one
target in PRESS_INTERVAL_S, the account's presses within their share, and the same window as the
trackers and syncs."""

import re
import threading

import pytest

from credentials import budget


@pytest.fixture(autouse=True)
def _long_press_interval(settings):
    settings.CREDENTIALS_PRESS_INTERVAL_S = 3600  # a loaded machine never outlasts it


def test_a_second_press_of_the_same_target_is_refused_and_says_how_long_ago_the_first_was():
    budget.press_take(7001, target="probe:1", requests_per_minute=45)

    with pytest.raises(budget.PressRefused) as refused:
        budget.press_take(7001, target="probe:1", requests_per_minute=45)

    assert refused.value.since_s is not None and refused.value.since_s >= 0
    assert re.fullmatch(r"Checked \d+ s ago, try again in a moment\.", refused.value.message())
    assert budget.budget_used(7001) == 1  # the refused press took nothing
    budget.press_take(7001, target="probe:2", requests_per_minute=45)  # another terminal may go
    assert budget.budget_used(7001) == 2


def test_the_presses_of_one_account_take_at_most_a_fifth_of_its_budget():
    assert budget.press_limit(45) == 9 and budget.press_limit(None) == 24
    for n in range(9):
        budget.press_take(7002, target=f"probe:{n}", requests_per_minute=45)

    with pytest.raises(budget.PressRefused) as refused:
        budget.press_take(7002, target="probe:9", requests_per_minute=45)

    assert refused.value.since_s is None and 0 < refused.value.wait_s <= 60
    assert re.fullmatch(
        r"This USAePay account has made as many calls as its request budget allows for now; "
        r"try again in \d+ s\.",
        refused.value.message(api="USAePay"),
    )
    assert budget.budget_used(7002) == 9


def test_a_press_finds_the_window_the_trackers_filled_and_takes_nothing():
    for _ in range(45):
        assert budget.budget_take(7003, limit=45) == 0.0

    with pytest.raises(budget.PressRefused) as refused:
        budget.press_take(7003, target="verify", requests_per_minute=45)

    assert refused.value.since_s is None and 0 < refused.value.wait_s <= 60
    assert budget.budget_used(7003) == 45


def test_trackers_see_the_presses_in_the_same_window():
    for n in range(9):
        budget.press_take(7004, target=f"probe:{n}", requests_per_minute=45)
    taken = [budget.budget_take(7004, limit=budget.tracking_limit(45)) for _ in range(30)]
    assert taken.count(0.0) == 36 - 9


def test_presses_racing_from_many_web_processes_never_pass_the_share():
    passed = []

    def press(n):
        try:
            budget.press_take(7005, target=f"probe:{n % 3}", requests_per_minute=45)
            passed.append(n)
        except budget.PressRefused:
            pass

    threads = [threading.Thread(target=press, args=(n,)) for n in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(passed) == 3  # one per target: three terminals pressed ten times each at once
    assert budget.budget_used(7005) == 3


def test_a_sync_takes_several_slots_at_once_or_none():
    for _ in range(43):
        budget.budget_take(7006, limit=45)
    assert 0 < budget.budget_take(7006, limit=45, cost=3) <= 60
    assert budget.budget_used(7006) == 43
    assert budget.budget_free_in(7006, limit=45, cost=2) == 0.0
    assert 0 < budget.budget_free_in(7006, limit=45, cost=3) <= 60
    budget.budget_record(7006, 4)  # pages read beyond the first
    assert budget.budget_used(7006) == 47

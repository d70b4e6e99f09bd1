"""Probe and "Sync now" come out of the same per-credential request window as the trackers
(credentials/budget.py): presses in a row make at most the budget's allowance of calls at the
emulator (counted there, over real HTTP), and a press over it says when to ask again."""

import re

import pytest
from django.urls import reverse

from credentials import budget
from dashboard.models import Role
from terminals import services
from terminals.models import SyncRun, SyncState, Terminal
from tests.terminals.conftest import sandbox_fleet

CHECKED_AGO = re.compile(r"Checked \d+ s ago, try again in a moment\.")
SPENT = re.compile(
    r"This USAePay account has made as many calls as its request budget allows for now; "
    r"try again in \d+ s\."
)


@pytest.fixture(autouse=True)
def _an_hours_window(settings):
    """A window and a press interval of an hour: what counts is how many calls go out, never how
    fast a loaded machine presses (the limits per window are the same)."""
    settings.CREDENTIALS_BUDGET_WINDOW_S = 3600
    settings.CREDENTIALS_PRESS_INTERVAL_S = 3600


def _cashiers_terminals(tenant, devices: int):
    """A USAePay account at the emulator whose terminals stand in the cashier's store."""
    fleet = sandbox_fleet("usaepay", tenant.merchant, devices=devices)
    services.terminal_sync_account_now(account=fleet.account)
    terminals = Terminal.objects.filter(account=fleet.account).order_by("pk")
    services.terminals_assign_store(terminals=terminals, store=tenant.store, actor=None)
    return fleet, list(terminals)


def _probe(client, terminal) -> str:
    response = client.post(reverse("terminals:probe", args=[terminal.pk]), follow=True)
    assert response.status_code == 200
    return response.content.decode()


def _device_reads(calls) -> list[str]:
    return [p for p in calls("usaepay") if "/paymentengine/devices/" in p]


def test_fifteen_probe_presses_by_a_cashier_make_one_call_and_say_when_it_was_checked(
    client, tenant_a, emulator_calls
):
    fleet, (terminal,) = _cashiers_terminals(tenant_a, devices=1)
    client.force_login(tenant_a.users[Role.CASHIER])
    emulator_calls.clear()

    bodies = [_probe(client, terminal) for _ in range(15)]

    assert _device_reads(emulator_calls) == [
        f"/sandbox/usaepay/api/v2/paymentengine/devices/{terminal.provider_ref}"
    ]
    assert "USAePay answered: online" in bodies[0]
    assert all(CHECKED_AGO.search(body) for body in bodies[1:]), bodies[1]
    assert "could not be asked" not in "".join(bodies)


def test_probe_presses_over_many_terminals_stop_at_the_accounts_share_of_its_budget(
    client, tenant_a, emulator_calls
):
    fleet, terminals = _cashiers_terminals(tenant_a, devices=15)
    client.force_login(tenant_a.users[Role.CASHIER])
    emulator_calls.clear()

    bodies = [_probe(client, terminal) for terminal in terminals]

    allowance = budget.press_limit(45)  # USAePay's default key: 45 requests a minute
    assert allowance == 9
    assert len(_device_reads(emulator_calls)) == allowance
    assert all("USAePay answered" in body for body in bodies[:allowance])
    assert all(SPENT.search(body) for body in bodies[allowance:]), bodies[allowance]
    assert budget.budget_used(fleet.account.pk) == 1 + allowance  # the sync's page and the probes


def test_a_probe_finds_the_budget_the_trackers_spent_and_asks_nothing(
    client, tenant_a, emulator_calls
):
    fleet, (terminal,) = _cashiers_terminals(tenant_a, devices=1)
    while budget.budget_take(fleet.account.pk, limit=45) == 0.0:  # as trackers and actions would
        pass
    client.force_login(tenant_a.users[Role.CASHIER])
    emulator_calls.clear()

    body = _probe(client, terminal)

    assert emulator_calls("usaepay") == []
    assert SPENT.search(body)


def test_sync_now_pressed_while_the_budget_is_spent_waits_for_it_and_calls_nothing(
    client, tenant_a, emulator_calls, broker
):
    fleet = sandbox_fleet("usaepay", tenant_a.merchant, devices=2)
    while budget.budget_take(fleet.account.pk, limit=45) == 0.0:  # as trackers and actions would
        pass
    client.force_login(tenant_a.users[Role.MERCHANT_MANAGER])
    emulator_calls.clear()

    partials = [
        client.post(reverse("terminals:sync"), HTTP_HX_REQUEST="true").content.decode()
        for _ in range(15)
    ]

    (run,) = SyncRun.objects.filter(account=fleet.account)  # every press joined the first run
    assert run.state == SyncState.QUEUED
    assert all(
        re.search(r"starts in \d+ s, to stay inside the account's rate budget", partial)
        for partial in partials
    ), partials[0]
    # The worker's half, as the queued task runs it: still no slot, so no call and no attempt.
    run = services.sync_run_execute(run_id=run.pk)
    assert run.state == SyncState.QUEUED and run.attempts == 0
    assert emulator_calls("usaepay") == []
    # Once the window frees, the same run reads the list: one call.
    budget.budget_reset(fleet.account.pk)
    run = services.sync_run_execute(run_id=run.pk)
    assert run.state == SyncState.SUCCEEDED and run.added == 2
    assert len(emulator_calls("usaepay")) == 1


def test_a_sync_run_counts_its_pages_in_the_accounts_window(tenant_a, emulator_calls):
    fleet = sandbox_fleet("usaepay", tenant_a.merchant, devices=2)

    run = services.terminal_sync_account_now(account=fleet.account)

    assert run.state == SyncState.SUCCEEDED
    assert budget.budget_used(fleet.account.pk) == run.requests == len(emulator_calls("usaepay"))


def test_a_rename_at_the_provider_is_refused_when_the_presses_spent_their_share(
    client, tenant_a, emulator_calls
):
    fleet, terminals = _cashiers_terminals(tenant_a, devices=1)
    for n in range(budget.press_limit(45)):
        budget.press_take(fleet.account.pk, target=f"probe:{n}", requests_per_minute=45)
    client.force_login(tenant_a.users[Role.MERCHANT_MANAGER])
    emulator_calls.clear()

    response = client.post(
        reverse("terminals:rename", args=[terminals[0].pk]), {"name": "Front counter"}
    )

    assert response.status_code == 200
    assert SPENT.search(response.content.decode())
    assert "The name is unchanged." in response.content.decode()
    assert emulator_calls("usaepay") == []
    fleet.devices[0].refresh_from_db()
    assert fleet.devices[0].name == "Lane 1"


@pytest.mark.parametrize("press", ["probe", "rename"])
def test_a_press_within_the_budget_still_reaches_the_provider(
    press, client, tenant_a, emulator_calls
):
    fleet, (terminal,) = _cashiers_terminals(tenant_a, devices=1)
    client.force_login(tenant_a.users[Role.MERCHANT_MANAGER])
    emulator_calls.clear()
    if press == "probe":
        assert "USAePay answered" in _probe(client, terminal)
    else:
        client.post(reverse("terminals:rename", args=[terminal.pk]), {"name": "Front counter"})
        fleet.devices[0].refresh_from_db()
        assert fleet.devices[0].name == "Front counter"
    assert len(emulator_calls("usaepay")) == 1


DEAD_REDIS = "redis://127.0.0.1:9/0"  # nothing listens on the discard port


def test_a_probe_while_the_budget_cannot_be_counted_asks_nothing_and_says_so(
    client, tenant_a, emulator_calls, settings
):
    fleet, (terminal,) = _cashiers_terminals(tenant_a, devices=1)
    client.force_login(tenant_a.users[Role.CASHIER])
    emulator_calls.clear()
    settings.REDIS_URL = DEAD_REDIS  # the budget's Redis only: sessions and the broker stay up

    body = _probe(client, terminal)

    assert emulator_calls("usaepay") == []
    assert (
        "The dashboard cannot count this USAePay account&#x27;s requests right now, so it did not "
        "ask; try again in a moment." in body
    )


def test_sync_now_while_the_budget_cannot_be_counted_still_queues_the_run(
    tenant_a, usaepay_account, settings, broker, django_capture_on_commit_callbacks
):
    settings.REDIS_URL = DEAD_REDIS

    with django_capture_on_commit_callbacks(execute=True):
        (run,) = services.terminals_sync_request(
            accounts=[usaepay_account], user=tenant_a.users[Role.MERCHANT_MANAGER]
        )

    assert run.state == SyncState.QUEUED and run.trigger == "user"
    assert [task.args for task in broker.scheduled("terminals.tasks.sync_account")] == [[run.pk]]

"""Verify now: a reseller admin asks the provider whether an account's credentials work; the answer
goes to the audit trail, and presses come out of the account's request window like every other
provider call (credentials/budget.py)."""

import re

import pytest
from django.urls import reverse

from credentials import budget
from credentials.models import AuditAction
from dashboard.models import Role
from tests.second_factor import login_verified
from tests.terminals.conftest import sandbox_fleet


@pytest.fixture(autouse=True)
def _an_hours_window(settings):
    """A window and a press interval of an hour: what counts is how many calls go out, never how
    fast a loaded machine presses."""
    settings.CREDENTIALS_BUDGET_WINDOW_S = 3600
    settings.CREDENTIALS_PRESS_INTERVAL_S = 3600


def _verify(client, account) -> str:
    response = client.post(reverse("credentials:account_verify", args=[account.pk]), follow=True)
    assert response.status_code == 200
    return response.content.decode()


def test_verify_now_asks_the_provider_and_records_who_asked(client, tenant_a, emulator_calls):
    fleet = sandbox_fleet("usaepay", tenant_a.merchant, devices=2)
    admin = tenant_a.users[Role.RESELLER_ADMIN]
    login_verified(client, admin)

    body = _verify(client, fleet.account)

    assert "USAePay accepted the credentials (2 terminals listed)." in body
    event = fleet.account.audit_events.get(action=AuditAction.VERIFIED)
    assert event.actor == admin
    assert len(emulator_calls("usaepay")) == 1


def test_credentials_the_provider_refuses_are_recorded_as_a_failed_verification(
    client, tenant_a, emulator_calls
):
    fleet = sandbox_fleet("usaepay", tenant_a.merchant, devices=1)
    fleet.sandbox_account.secrets = {**fleet.sandbox_account.secrets, "api_key": "_" + "x" * 31}
    fleet.sandbox_account.save()
    login_verified(client, tenant_a.users[Role.RESELLER_ADMIN])

    body = _verify(client, fleet.account)

    assert "USAePay did not accept the credentials:" in body
    assert fleet.account.audit_events.filter(action=AuditAction.VERIFY_FAILED).count() == 1
    assert not fleet.account.audit_events.filter(action=AuditAction.VERIFIED).exists()


def test_fifteen_verify_presses_make_one_call_and_say_when_it_was_verified(
    client, tenant_a, emulator_calls
):
    fleet = sandbox_fleet("usaepay", tenant_a.merchant, devices=1)
    login_verified(client, tenant_a.users[Role.RESELLER_ADMIN])

    bodies = [_verify(client, fleet.account) for _ in range(15)]

    assert len(emulator_calls("usaepay")) == 1
    assert "USAePay accepted the credentials" in bodies[0]
    assert all(
        re.search(r"Verified \d+ s ago, try again in a moment\.", body) for body in bodies[1:]
    ), bodies[1]
    assert fleet.account.audit_events.filter(action=AuditAction.VERIFIED).count() == 1


def test_a_verify_press_finds_the_budget_the_trackers_spent_and_asks_nothing(
    client, tenant_a, emulator_calls
):
    fleet = sandbox_fleet("usaepay", tenant_a.merchant, devices=1)
    while budget.budget_take(fleet.account.pk, limit=45) == 0.0:  # as trackers and actions would
        pass
    login_verified(client, tenant_a.users[Role.RESELLER_ADMIN])

    body = _verify(client, fleet.account)

    assert emulator_calls("usaepay") == []
    assert "as many calls as its request budget allows for now; try again in" in body
    assert not fleet.account.audit_events.filter(
        action__in=[AuditAction.VERIFIED, AuditAction.VERIFY_FAILED]
    ).exists()


def test_a_cashier_and_a_manager_may_not_verify(client, tenant_a, emulator_calls):
    fleet = sandbox_fleet("usaepay", tenant_a.merchant, devices=1)
    for role in (Role.CASHIER, Role.MERCHANT_MANAGER):
        client.force_login(tenant_a.users[role])
        response = client.post(reverse("credentials:account_verify", args=[fleet.account.pk]))
        assert response.status_code == 403  # their own merchant's account: seen, not verified
    assert emulator_calls() == []

"""Terminal names the provider cannot store, and syncs that must never swap a name for an id unseen."""

import pytest
from django.urls import reverse
from django.utils import timezone

from dashboard.models import Role
from providers.base import TerminalInfo
from terminals import services
from terminals.forms import RenameForm
from terminals.models import NAME_MAX_LENGTH, EventKind, Terminal
from tests.terminals.conftest import sandbox_fleet


@pytest.fixture
def manager(client, tenant_a):
    client.force_login(tenant_a.users[Role.MERCHANT_MANAGER])
    return client


@pytest.fixture
def usaepay_sandbox(sandbox_settings, tenant_a):
    fleet = sandbox_fleet("usaepay", tenant_a.merchant, devices=1, names=["Counter"])
    services.terminal_sync_account_now(account=fleet.account)
    return fleet, Terminal.objects.get(account=fleet.account)


def rename_url(terminal):
    return reverse("terminals:rename", args=[terminal.pk])


@pytest.mark.parametrize(
    ("name", "reason"),
    [("מסוף", "none would remain of this one"), ("Café ☕", "would drop “é”")],
)
def test_a_usaepay_name_that_would_lose_its_letters_is_refused_with_the_reason(
    manager, usaepay_sandbox, name, reason
):
    fleet, terminal = usaepay_sandbox

    response = manager.post(rename_url(terminal), {"name": name})

    body = response.content.decode()
    assert response.status_code == 200 and 'role="alert"' in body
    assert reason in body and "The name is unchanged." in body
    assert "Renamed" not in body
    fleet.devices[0].refresh_from_db()
    terminal.refresh_from_db()
    assert fleet.devices[0].name == "Counter"  # nothing was sent to the emulator
    assert terminal.name == "Counter"
    refused = terminal.events.get(kind=EventKind.RENAME_FAILED)
    assert refused.new_value == name and refused.detail.startswith("Not sent to USAePay:")
    # The next sync leaves the name as it was, with no new history line.
    services.terminal_sync_account_now(account=fleet.account)
    terminal.refresh_from_db()
    assert terminal.name == "Counter" and not terminal.events.filter(kind=EventKind.RENAMED)


def test_the_rename_fields_maximum_is_the_64_the_form_says():
    field = RenameForm().fields["name"]
    assert field.max_length == NAME_MAX_LENGTH == 64
    assert str(field.widget.attrs["maxlength"]) == "64"
    assert "1 to 64 characters" in field.help_text
    assert RenameForm({"name": "x" * 64}).is_valid()
    too_long = RenameForm({"name": "x" * 65})
    assert not too_long.is_valid()
    assert too_long.errors["name"] == ["Use at most 64 characters (this has 65)."]


def listed(ref, name, *, model="Castles MP200"):
    return TerminalInfo(
        ref=ref, name=name, model=model, serial=ref, online=True, status_text="connected"
    )


def test_a_sync_never_puts_the_id_in_place_of_a_name_and_records_that_the_name_went(
    usaepay_account,
):
    services.terminals_apply_list(
        account=usaepay_account, infos=[listed("sa_1", "Counter")], fetched_at=timezone.now()
    )

    services.terminals_apply_list(
        account=usaepay_account, infos=[listed("sa_1", "")], fetched_at=timezone.now()
    )

    terminal = Terminal.objects.get(provider_ref="sa_1")
    assert terminal.name == "Counter" and terminal.provider_name == ""
    event = terminal.events.get(kind=EventKind.RENAMED)
    assert (event.old_value, event.new_value) == ("Counter", "")
    assert (
        event.detail == "USAePay lists this terminal without a name; the dashboard keeps “Counter”."
    )
    # Said once: a further sync without a name changes nothing and writes nothing.
    services.terminals_apply_list(
        account=usaepay_account, infos=[listed("sa_1", "")], fetched_at=timezone.now()
    )
    terminal.refresh_from_db()
    assert (
        terminal.name == "Counter" and terminal.events.filter(kind=EventKind.RENAMED).count() == 1
    )


def test_a_name_changed_at_the_provider_reaches_the_dashboard_with_a_history_line(
    usaepay_account,
):
    services.terminals_apply_list(
        account=usaepay_account, infos=[listed("sa_1", "Counter")], fetched_at=timezone.now()
    )

    services.terminals_apply_list(
        account=usaepay_account, infos=[listed("sa_1", "Patio")], fetched_at=timezone.now()
    )

    terminal = Terminal.objects.get(provider_ref="sa_1")
    assert terminal.name == "Patio"
    event = terminal.events.get(kind=EventKind.RENAMED)
    assert (event.old_value, event.new_value, event.actor) == ("Counter", "Patio", None)
    assert event.detail == "Renamed at USAePay (read by the terminal sync)."


def test_a_new_terminal_without_a_name_is_called_by_its_id(usaepay_account):
    services.terminals_apply_list(
        account=usaepay_account, infos=[listed("sa_9", "")], fetched_at=timezone.now()
    )
    assert Terminal.objects.get(provider_ref="sa_9").name == "sa_9"

"""The terminal page: details, status history, and the actions the role allows (rename, store, probe)."""

import pytest
from django.urls import reverse

from dashboard.models import Role
from terminals import services
from terminals.models import EventKind, StatusSource, Terminal, TerminalStatus
from tests.factories import StoreFactory
from tests.terminals.conftest import make_terminal, sandbox_fleet


def page_url(terminal, action=""):
    return reverse(f"terminals:{action or 'detail'}", args=[terminal.pk])


@pytest.fixture
def manager(client, tenant_a):
    client.force_login(tenant_a.users[Role.MERCHANT_MANAGER])
    return client


@pytest.fixture
def usaepay_sandbox(sandbox_settings, tenant_a):
    fleet = sandbox_fleet("usaepay", tenant_a.merchant, devices=1, names=["Counter"])
    services.terminal_sync_account_now(account=fleet.account)
    return fleet, Terminal.objects.get(account=fleet.account)


# --- rename (acceptance) ---------------------------------------------------------------------------


def test_renaming_a_usaepay_terminal_changes_the_name_at_the_emulator(
    manager, tenant_a, usaepay_sandbox
):
    fleet, terminal = usaepay_sandbox

    response = manager.post(
        page_url(terminal, "rename"), {"name": "  Front   counter "}, follow=True
    )

    fleet.devices[0].refresh_from_db()
    terminal.refresh_from_db()
    assert fleet.devices[0].name == "Front counter"  # the emulator has it
    assert terminal.name == "Front counter" and not terminal.name_is_local
    assert "Renamed to “Front counter” at USAePay." in response.content.decode()
    event = terminal.events.get(kind=EventKind.RENAMED)
    assert (event.old_value, event.new_value, event.actor) == (
        "Counter",
        "Front counter",
        tenant_a.users[Role.MERCHANT_MANAGER],
    )
    # The next sync keeps it: the provider now reports the same name.
    services.terminal_sync_account_now(account=fleet.account)
    terminal.refresh_from_db()
    assert terminal.name == "Front counter"


def test_a_rename_the_emulator_refuses_leaves_the_name_unchanged_and_says_why(
    manager, usaepay_sandbox
):
    from sandbox.services import device_set_switches

    fleet, terminal = usaepay_sandbox
    device_set_switches(device=fleet.devices[0], fail_next_5xx=1)

    response = manager.post(page_url(terminal, "rename"), {"name": "Front counter"})

    body = response.content.decode()
    assert response.status_code == 200
    assert (
        'role="alert"' in body
        and "USAePay did not rename the terminal:" in body
        and "The name is unchanged." in body
    )
    fleet.devices[0].refresh_from_db()
    terminal.refresh_from_db()
    assert fleet.devices[0].name == "Counter" and terminal.name == "Counter"
    refused = terminal.events.get(kind=EventKind.RENAME_FAILED)
    assert refused.new_value == "Front counter" and refused.actor is not None


def test_usaepay_may_keep_fewer_characters_and_the_page_says_what_it_saved(
    manager, usaepay_sandbox
):
    fleet, terminal = usaepay_sandbox
    response = manager.post(page_url(terminal, "rename"), {"name": "Patio #2!"}, follow=True)
    terminal.refresh_from_db()
    assert terminal.name == "Patio 2"
    assert "USAePay saved the name as “Patio 2”." in response.content.decode()


def test_renaming_a_payroc_terminal_stays_in_the_dashboard_and_says_so(
    manager, tenant_a, payroc_account
):
    terminal = make_terminal(
        payroc_account, name="PAX A920", status=TerminalStatus.UNKNOWN, provider_name="PAX A920"
    )

    page = manager.get(page_url(terminal)).content.decode()
    assert "Payroc has no rename API: this name is shown in the dashboard only" in page

    response = manager.post(page_url(terminal, "rename"), {"name": "Front till"}, follow=True)

    terminal.refresh_from_db()
    assert terminal.name == "Front till" and terminal.name_is_local
    assert (
        "Payroc has no rename API: this name is shown in the dashboard only."
        in response.content.decode()
    )
    event = terminal.events.get(kind=EventKind.RENAMED)
    assert event.actor == tenant_a.users[Role.MERCHANT_MANAGER] and "dashboard only" in event.detail


@pytest.mark.parametrize(
    "name,error",
    [
        ("", "This field is required."),
        ("   ", "Enter a name."),
        ("x" * 65, "Use at most 64 characters (this has 65)."),
        ("Till\x07", "The name contains a control character (U+0007)."),
        ("Till \u202egnp.exe", "text-direction control character (U+202E RIGHT-TO-LEFT OVERRIDE)"),
        ("Till\u200b", "The name contains an invisible character (U+200B ZERO WIDTH SPACE)."),
    ],
)
def test_names_must_be_1_to_64_visible_characters(manager, payroc_account, name, error):
    terminal = make_terminal(payroc_account, name="Till")
    response = manager.post(page_url(terminal, "rename"), {"name": name})
    assert response.status_code == 200 and error in response.content.decode()
    terminal.refresh_from_db()
    assert terminal.name == "Till"


def test_a_64_character_name_is_accepted_and_escaped_everywhere(manager, payroc_account):
    terminal = make_terminal(payroc_account, name="Till")
    name = '<b>Till</b> & "co" ' + "x" * 45
    assert len(name) == 64
    response = manager.post(page_url(terminal, "rename"), {"name": name}, follow=True)
    body = response.content.decode()
    assert "<b>Till</b>" not in body and "&lt;b&gt;Till&lt;/b&gt; &amp; &quot;co&quot;" in body
    terminal.refresh_from_db()
    assert terminal.name == name


def test_a_cashier_sees_the_terminal_but_may_not_rename_or_move_it(
    client, tenant_a, payroc_account
):
    terminal = make_terminal(payroc_account, name="Till", store=tenant_a.store)
    client.force_login(tenant_a.users[Role.CASHIER])
    body = client.get(page_url(terminal)).content.decode()
    assert (
        "Probe now" in body and 'data-testid="rename-form"' not in body and "Save store" not in body
    )
    assert client.post(page_url(terminal, "rename"), {"name": "Mine"}).status_code == 403
    assert client.post(page_url(terminal, "assign_store"), {"store": "none"}).status_code == 403
    terminal.refresh_from_db()
    assert terminal.name == "Till" and terminal.store == tenant_a.store


# --- details and history ---------------------------------------------------------------------------


def test_the_page_shows_identifiers_status_and_history(manager, usaepay_sandbox):
    from sandbox.services import device_set_switches

    fleet, terminal = usaepay_sandbox
    device_set_switches(device=fleet.devices[0], online=False)
    services.terminal_sync_account_now(account=fleet.account)

    body = manager.get(page_url(terminal)).content.decode()

    assert "Device key" in body and terminal.provider_ref in body and terminal.serial_number in body
    assert "Castles MP200" in body and "reported by the provider" in body
    assert "USAePay reports it offline" in body and "Last seen online" in body
    assert 'data-testid="history"' in body and "First seen at the provider" in body
    assert (
        'class="badge badge-online">online</span> → <span class="badge badge-offline">offline'
        in body
    )
    assert (
        f'hx-get="/terminals/statuses/?id={terminal.pk}"' in body
        and f'href="{page_url(terminal)}"' in body
    )


def test_an_inactive_terminal_keeps_its_page_and_says_why(manager, usaepay_account):
    terminal = make_terminal(usaepay_account, name="Old", is_active=False)
    body = manager.get(page_url(terminal)).content.decode()
    assert (
        "no longer lists this terminal, so it is inactive" in body
        and 'data-status="inactive"' in body
    )


# --- probe ---------------------------------------------------------------------------------------


def test_probe_now_asks_the_provider_and_records_a_probed_status(client, tenant_a, usaepay_sandbox):
    from sandbox.services import device_set_switches

    fleet, terminal = usaepay_sandbox
    device_set_switches(device=fleet.devices[0], online=False)
    client.force_login(tenant_a.users[Role.CASHIER])  # a cashier may ask too

    response = client.post(page_url(terminal, "probe"), follow=True)

    terminal.refresh_from_db()
    assert (
        terminal.status == TerminalStatus.OFFLINE and terminal.status_source == StatusSource.PROBED
    )
    assert "USAePay answered: offline: USAePay reports it offline" in response.content.decode()
    change = terminal.events.get(kind=EventKind.STATUS)
    assert change.source == StatusSource.PROBED and change.actor == tenant_a.users[Role.CASHIER]


def test_probing_a_terminal_the_provider_forgot_makes_it_inactive(manager, usaepay_sandbox):
    fleet, terminal = usaepay_sandbox
    fleet.devices[0].delete()
    response = manager.post(page_url(terminal, "probe"), follow=True)
    terminal.refresh_from_db()
    assert not terminal.is_active
    assert (
        "USAePay no longer knows this terminal, so it is now inactive." in response.content.decode()
    )


def test_a_probe_is_a_post(manager, payroc_account):
    terminal = make_terminal(payroc_account)
    assert manager.get(page_url(terminal, "probe")).status_code == 405


# --- store ---------------------------------------------------------------------------------------


def test_a_manager_moves_a_terminal_to_another_store_of_its_merchant(
    manager, tenant_a, tenant_b, payroc_account
):
    terminal = make_terminal(payroc_account, name="Till")
    second = StoreFactory(merchant=tenant_a.merchant, name="Harbour")

    response = manager.post(page_url(terminal, "assign_store"), {"store": second.pk}, follow=True)
    terminal.refresh_from_db()
    assert terminal.store == second and "Moved to “Harbour”." in response.content.decode()
    assert terminal.events.get(kind=EventKind.ASSIGNED).new_value == "Harbour"

    refused = manager.post(page_url(terminal, "assign_store"), {"store": tenant_b.store.pk})
    assert refused.status_code == 200 and "Select a valid choice" in refused.content.decode()
    manager.post(page_url(terminal, "assign_store"), {"store": "none"})
    terminal.refresh_from_db()
    assert terminal.store is None


def test_a_full_width_name_is_saved_in_its_plain_form(manager, payroc_account):
    terminal = make_terminal(payroc_account, name="Till")
    manager.post(page_url(terminal, "rename"), {"name": "Ｆｒｏｎｔ till"}, follow=True)
    terminal.refresh_from_db()
    assert terminal.name == "Front till"

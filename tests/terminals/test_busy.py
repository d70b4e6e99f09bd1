"""A terminal the provider reports busy shows as busy, from a sync or a probe."""

from django.utils import timezone

from providers.base import TerminalInfo
from providers.registry import capabilities_for
from terminals import services
from terminals.models import EventKind, Terminal, TerminalStatus


def listed(*, busy):
    return TerminalInfo(
        ref="sa_1",
        name="Counter",
        model="MP200",
        serial="1",
        online=True,
        status_text="busy" if busy else "active",
        busy=busy,
    )


def test_a_read_that_says_busy_makes_the_status_busy_with_the_reason():
    status, reason = services.status_from_info(
        listed(busy=True), capabilities_for("klearly"), "Klearly"
    )
    assert status == TerminalStatus.BUSY
    assert reason == "Klearly reports it busy with another transaction (“busy”)."
    assert (
        services.status_from_info(listed(busy=None), capabilities_for("klearly"), "Klearly")[0]
        == TerminalStatus.ONLINE
    )


def test_a_sync_records_the_change_to_busy_and_back(usaepay_account):
    services.terminals_apply_list(
        account=usaepay_account, infos=[listed(busy=False)], fetched_at=timezone.now()
    )
    services.terminals_apply_list(
        account=usaepay_account, infos=[listed(busy=True)], fetched_at=timezone.now()
    )
    terminal = Terminal.objects.get(provider_ref="sa_1")
    assert terminal.status == TerminalStatus.BUSY and terminal.last_seen_at is not None
    change = terminal.events.get(kind=EventKind.STATUS)
    assert (change.status_from, change.status_to) == (TerminalStatus.ONLINE, TerminalStatus.BUSY)

    services.terminals_apply_list(
        account=usaepay_account, infos=[listed(busy=False)], fetched_at=timezone.now()
    )
    terminal.refresh_from_db()
    assert terminal.status == TerminalStatus.ONLINE

"""Sync: the provider's terminal list becomes Terminal rows; nothing is ever deleted; statuses say
where they came from; a sync stays inside the credential's rate budget and holds no lock across HTTP."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from providers.base import TerminalInfo
from terminals import services
from terminals.models import EventKind, StatusSource, SyncRun, SyncState, Terminal, TerminalStatus
from tests.terminals.conftest import sandbox_fleet
from tests.waiting import wait_until

SYNC_TASK = "terminals.tasks.sync_account"


def info(
    ref, *, name="Lane", online=True, status_text="connected", serial="", model="Castles MP200"
):
    return TerminalInfo(
        ref=ref,
        name=name,
        model=model,
        serial=serial or ref,
        online=online,
        status_text=status_text,
    )


# --- against the emulators, over HTTP -------------------------------------------------------------


def test_a_first_sync_adds_every_listed_usaepay_terminal_with_its_status(
    sandbox_settings, tenant_a
):
    from sandbox.services import device_set_switches

    fleet = sandbox_fleet(
        "usaepay", tenant_a.merchant, devices=3, names=["Counter", "Patio", "Bar"]
    )
    device_set_switches(device=fleet.devices[2], online=False)

    run = services.terminal_sync_account_now(account=fleet.account)

    assert run.state == SyncState.SUCCEEDED
    assert (run.listed, run.added, run.updated, run.deactivated) == (3, 3, 0, 0)
    assert run.requests == 1  # one page of devices
    terminals = {t.name: t for t in Terminal.objects.filter(account=fleet.account)}
    assert set(terminals) == {"Counter", "Patio", "Bar"}
    counter = terminals["Counter"]
    assert counter.provider_ref == fleet.devices[0].ref
    assert counter.serial_number == fleet.devices[0].serial
    assert counter.model == "Castles MP200"
    assert counter.merchant == tenant_a.merchant and counter.provider == "usaepay"
    assert (
        counter.status == TerminalStatus.ONLINE and counter.status_source == StatusSource.REPORTED
    )
    assert counter.last_seen_at is not None and counter.status_checked_at is not None
    bar = terminals["Bar"]
    assert bar.status == TerminalStatus.OFFLINE
    assert bar.status_reason == "USAePay reports it offline (“offline”)."
    assert bar.last_seen_at is None
    assert bar.events.get().kind == EventKind.ADDED


def test_payroc_terminals_are_unknown_with_the_reason_never_online(sandbox_settings, tenant_a):
    fleet = sandbox_fleet("payroc", tenant_a.merchant, devices=2)

    run = services.terminal_sync_account_now(account=fleet.account)

    assert run.state == SyncState.SUCCEEDED and run.added == 2
    for terminal in Terminal.objects.filter(account=fleet.account):
        assert terminal.status == TerminalStatus.UNKNOWN
        assert terminal.status_reason == "Payroc does not report whether a terminal is online."
        assert (
            terminal.provider_ref == terminal.serial_number
        )  # Payroc addresses devices by serial number
        assert (
            terminal.last_seen_at is not None
        )  # listed counts as seen when there is no online status
        # Payroc devices have no name: the model, told apart by the serial's last digits.
        assert terminal.name == f"Castles MP200 #{terminal.serial_number[-4:]}"


def test_a_second_sync_sees_a_switched_off_terminal_and_records_the_change(
    sandbox_settings, tenant_a
):
    from sandbox.services import device_set_switches

    fleet = sandbox_fleet("usaepay", tenant_a.merchant, devices=2)
    services.terminal_sync_account_now(account=fleet.account)
    device_set_switches(device=fleet.devices[0], online=False)

    run = services.terminal_sync_account_now(account=fleet.account)

    assert (run.added, run.updated, run.deactivated) == (0, 1, 0)
    terminal = Terminal.objects.get(provider_ref=fleet.devices[0].ref)
    assert terminal.status == TerminalStatus.OFFLINE
    change = terminal.events.get(kind=EventKind.STATUS)
    assert (change.status_from, change.status_to, change.source) == (
        "online",
        "offline",
        "reported",
    )


def test_the_provider_list_is_read_with_no_transaction_open(sandbox_settings, tenant_a):
    """While the emulator is held answering the terminal list (a lock on its accounts table that
    its request waits on), the sync's own database session is idle, not idle in a transaction."""
    import threading

    import psycopg

    from sandbox.models import SandboxAccount

    fleet = sandbox_fleet("usaepay", tenant_a.merchant, devices=1)
    syncing = {}

    def sync():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            syncing["pid"] = cursor.fetchone()[0]
        try:
            services.terminal_sync_account_now(account=fleet.account)
        finally:
            connection.close()

    params = connection.get_connection_params()
    with psycopg.connect(**params) as holder, psycopg.connect(**params, autocommit=True) as look:
        holder.execute(f'LOCK TABLE "{SandboxAccount._meta.db_table}" IN ACCESS EXCLUSIVE MODE')
        worker = threading.Thread(target=sync)
        worker.start()

        def emulator_waits():
            return look.execute(
                "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> %s",
                [holder.info.backend_pid],
            ).fetchone()

        wait_until(emulator_waits, timeout=20)
        state = look.execute(
            "SELECT state FROM pg_stat_activity WHERE pid = %s", [syncing["pid"]]
        ).fetchone()[0]
        holder.rollback()
    worker.join(timeout=30)

    assert state == "idle"
    assert SyncRun.objects.filter(account=fleet.account, state=SyncState.SUCCEEDED).exists()


def test_refused_credentials_fail_the_run_in_plain_words_and_change_nothing(
    sandbox_settings, tenant_a
):
    from credentials.services import account_create

    fleet = sandbox_fleet("usaepay", tenant_a.merchant, devices=1)
    services.terminal_sync_account_now(account=fleet.account)
    wrong = account_create(
        merchant=tenant_a.merchant,
        provider="usaepay",
        environment="sandbox",
        label="wrong key",
        secrets={"api_key": "_NoSuchKey000000000000000000000", "api_pin": "1"},
    )

    run = services.terminal_sync_account_now(account=wrong)

    assert run.state == SyncState.FAILED
    assert run.error.startswith("USAePay: ")
    assert "key" not in run.error.lower() or "_NoSuchKey" not in run.error
    assert Terminal.objects.filter(account=wrong).count() == 0
    assert Terminal.objects.filter(account=fleet.account, is_active=True).count() == 1


# --- the write, from a list ------------------------------------------------------------------------


def test_a_terminal_that_disappears_becomes_inactive_and_is_never_deleted(usaepay_account):
    now = timezone.now()
    services.terminals_apply_list(
        account=usaepay_account, infos=[info("a"), info("b")], fetched_at=now
    )

    result = services.terminals_apply_list(
        account=usaepay_account, infos=[info("a")], fetched_at=now + timedelta(seconds=10)
    )

    assert result.deactivated == 1
    gone = Terminal.objects.get(provider_ref="b")
    assert not gone.is_active and gone.deactivated_at is not None
    assert gone.events.filter(kind=EventKind.DEACTIVATED).exists()
    assert Terminal.objects.filter(account=usaepay_account).count() == 2

    again = services.terminals_apply_list(
        account=usaepay_account,
        infos=[info("a"), info("b")],
        fetched_at=now + timedelta(seconds=20),
    )
    gone.refresh_from_db()
    assert again.updated == 1 and gone.is_active and gone.deactivated_at is None
    assert gone.events.filter(kind=EventKind.REACTIVATED).exists()


def test_an_unchanged_terminal_is_only_checked_not_updated(usaepay_account):
    start = timezone.now()
    services.terminals_apply_list(account=usaepay_account, infos=[info("a")], fetched_at=start)
    later = start + timedelta(seconds=30)

    result = services.terminals_apply_list(
        account=usaepay_account, infos=[info("a")], fetched_at=later
    )

    terminal = Terminal.objects.get(provider_ref="a")
    assert (result.added, result.updated) == (0, 0)
    assert terminal.status_checked_at == later and terminal.last_seen_at == later
    assert terminal.events.count() == 1


def test_an_older_list_never_overwrites_a_newer_probe(usaepay_account):
    now = timezone.now()
    services.terminals_apply_list(
        account=usaepay_account, infos=[info("a")], fetched_at=now - timedelta(seconds=30)
    )
    terminal = Terminal.objects.get(provider_ref="a")
    services.terminal_status_record(
        terminal=terminal, status=TerminalStatus.OFFLINE, source=StatusSource.PROBED, checked_at=now
    )

    services.terminals_apply_list(
        account=usaepay_account,
        infos=[info("a", online=True)],
        fetched_at=now - timedelta(seconds=5),
    )

    terminal.refresh_from_db()
    assert (
        terminal.status == TerminalStatus.OFFLINE and terminal.status_source == StatusSource.PROBED
    )
    assert not services.terminal_status_record(
        terminal=terminal,
        status=TerminalStatus.ONLINE,
        source=StatusSource.PROBED,
        checked_at=now - timedelta(seconds=1),
    )


def test_a_name_kept_in_the_dashboard_survives_a_sync(payroc_account, tenant_a):
    now = timezone.now()
    services.terminals_apply_list(
        account=payroc_account, infos=[info("185", name="PAX A920", online=None)], fetched_at=now
    )
    terminal = Terminal.objects.get(provider_ref="185")
    services.terminal_rename(
        terminal=terminal, name="Front till", actor=tenant_a.users["merchant_manager"]
    )

    services.terminals_apply_list(
        account=payroc_account,
        infos=[info("185", name="PAX A920", online=None)],
        fetched_at=timezone.now(),
    )

    terminal.refresh_from_db()
    assert terminal.name == "Front till" and terminal.provider_name == "PAX A920"


def test_duplicate_refs_in_a_provider_list_make_one_terminal(usaepay_account):
    result = services.terminals_apply_list(
        account=usaepay_account, infos=[info("a"), info("a")], fetched_at=timezone.now()
    )
    assert result.added == 1 and Terminal.objects.count() == 1


def test_a_provider_that_cannot_tell_gives_unknown_not_online(usaepay_account):
    services.terminals_apply_list(
        account=usaepay_account,
        infos=[info("k", online=None, status_text="")],
        fetched_at=timezone.now(),
    )
    terminal = Terminal.objects.get(provider_ref="k")
    assert terminal.status == TerminalStatus.UNKNOWN
    assert terminal.status_reason == "USAePay did not say whether this terminal is online."


# --- runs, cadence and the rate budget -------------------------------------------------------------


def test_the_usaepay_cadence_stays_inside_its_share_of_45_requests_a_minute():
    for pages in (1, 3, 10):
        interval = services.sync_interval_s("usaepay", pages)
        per_minute = pages * 60 / interval
        assert per_minute <= 45 * services.SYNC_BUDGET_SHARE + 1e-9
    assert services.sync_interval_s("usaepay", 1) == pytest.approx(8.0)
    assert services.sync_interval_s("usaepay", 10) == pytest.approx(80.0)
    assert services.sync_interval_s("payroc", 1) == services.SYNC_UNBUDGETED_INTERVAL_S


def test_beat_starts_an_account_only_when_its_cadence_came_round(
    usaepay_account, broker, django_capture_on_commit_callbacks
):
    now = timezone.now()
    SyncRun.objects.create(
        account=usaepay_account,
        trigger="schedule",
        state=SyncState.SUCCEEDED,
        not_before=now,
        started_at=now - timedelta(seconds=5),
        finished_at=now,
        requests=1,
    )
    assert services.terminals_sync_due(now=now) == []  # 8 s between one-page USAePay syncs

    with django_capture_on_commit_callbacks(execute=True):
        started = services.terminals_sync_due(now=now + timedelta(seconds=4))
    assert [run.account for run in started] == [usaepay_account]
    assert [(t.args, t.queue) for t in broker.scheduled(SYNC_TASK)] == [([started[0].pk], "celery")]
    with django_capture_on_commit_callbacks(execute=True):
        assert (
            services.terminals_sync_due(now=now + timedelta(seconds=5)) == []
        )  # one active run per account
    assert len(broker.scheduled(SYNC_TASK)) == 1


def test_sync_now_joins_a_sync_that_is_already_running(usaepay_account, tenant_a):
    running = SyncRun.objects.create(
        account=usaepay_account,
        trigger="schedule",
        state=SyncState.FETCHING,
        not_before=timezone.now(),
    )
    runs = services.terminals_sync_request(
        accounts=[usaepay_account], user=tenant_a.users["reseller_admin"]
    )
    assert runs == [running]


def test_sync_now_right_after_a_sync_waits_for_the_rate_budget(usaepay_account, tenant_a):
    now = timezone.now()
    SyncRun.objects.create(
        account=usaepay_account,
        trigger="schedule",
        state=SyncState.SUCCEEDED,
        not_before=now,
        started_at=now - timedelta(seconds=2),
        finished_at=now,
        requests=1,
    )
    (run,) = services.terminals_sync_request(
        accounts=[usaepay_account], user=tenant_a.users["reseller_admin"], now=now
    )
    assert run.trigger == "user" and run.state == SyncState.QUEUED
    assert (run.not_before - now).total_seconds() == pytest.approx(6.0, abs=0.01)


def test_a_run_whose_worker_died_is_failed_so_the_account_syncs_again(usaepay_account):
    stuck = SyncRun.objects.create(
        account=usaepay_account,
        trigger="schedule",
        state=SyncState.FETCHING,
        not_before=timezone.now(),
        started_at=timezone.now() - timedelta(minutes=11),
    )

    started = services.terminals_sync_due()

    stuck.refresh_from_db()
    assert stuck.state == SyncState.FAILED and "did not finish" in stuck.error
    assert len(started) == 1


def test_an_unreachable_provider_is_tried_again_then_fails(
    usaepay_account, settings, broker, django_capture_on_commit_callbacks
):
    settings.SANDBOX_BASE_URL = "http://127.0.0.1:9"  # nothing listens on the discard port
    run = SyncRun.objects.create(account=usaepay_account, trigger="user", not_before=timezone.now())

    for attempt in range(1, services.SYNC_MAX_ATTEMPTS):
        before = timezone.now()
        with django_capture_on_commit_callbacks(execute=True):
            run = services.sync_run_execute(run_id=run.pk)
        assert run.state == SyncState.RETRYING and run.attempts == attempt
        assert "not reachable" in run.error
        # The service, not the task, scheduled the next attempt, after the retry delay.
        retry = broker.scheduled(SYNC_TASK)[-1]
        assert retry.args == [run.pk] and len(broker.scheduled(SYNC_TASK)) == attempt
        assert retry.eta >= before + timedelta(seconds=services.SYNC_RETRY_DELAY_S - 0.5)
    with django_capture_on_commit_callbacks(execute=True):
        run = services.sync_run_execute(run_id=run.pk)
    assert len(broker.scheduled(SYNC_TASK)) == services.SYNC_MAX_ATTEMPTS - 1  # no more attempts
    assert run.state == SyncState.FAILED and run.finished_at is not None
    assert run.error.startswith("USAePay: The payment provider is not reachable right now")
    assert services.sync_run_execute(run_id=run.pk) is None  # a finished run is never claimed again


def test_a_queued_run_whose_task_was_lost_is_sent_again_once_a_minute(
    usaepay_account, broker, django_capture_on_commit_callbacks
):
    now = timezone.now()
    lost = SyncRun.objects.create(
        account=usaepay_account, trigger="user", not_before=now - timedelta(minutes=2)
    )

    def sent():
        return [task.args for task in broker.scheduled(SYNC_TASK)]

    with django_capture_on_commit_callbacks(execute=True):
        assert services.terminals_sync_due(now=now) == []  # the account has its (queued) run
    assert sent() == [[lost.pk]]
    with django_capture_on_commit_callbacks(execute=True):
        services.terminals_sync_due(now=now + timedelta(seconds=30))
    assert sent() == [[lost.pk]]  # not again before a minute has passed
    with django_capture_on_commit_callbacks(execute=True):
        services.terminals_sync_due(now=now + timedelta(seconds=61))
    assert sent() == [[lost.pk], [lost.pk]]


def test_after_a_failed_sync_the_schedule_backs_off_but_sync_now_does_not(
    usaepay_account, tenant_a
):
    now = timezone.now()
    SyncRun.objects.create(
        account=usaepay_account,
        trigger="schedule",
        state=SyncState.FAILED,
        not_before=now,
        started_at=now - timedelta(seconds=60),
        finished_at=now,
        requests=1,
        error="USAePay: refused",
    )
    assert services.terminals_sync_due(now=now) == []  # not every 8 s against refused credentials
    assert len(services.terminals_sync_due(now=now + timedelta(seconds=241))) == 1
    SyncRun.objects.filter(state=SyncState.QUEUED).delete()
    (run,) = services.terminals_sync_request(
        accounts=[usaepay_account], user=tenant_a.users["reseller_admin"], now=now
    )
    assert run.not_before == now  # a person asking after fixing the credentials is not made to wait

"""The only code that changes terminals: sync from the provider, probe, rename, store assignment.

Provider calls happen outside any transaction; what they return is written afterwards in a short
transaction, and a newer observation is never overwritten by an older one (each write compares
`status_checked_at` / `renamed_at` with the moment the provider answered).
"""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from credentials import budget
from credentials.models import ProviderAccount
from credentials.services import provider_for
from providers.base import Capabilities, TerminalInfo
from providers.errors import InvalidRequest, NotFound, ProviderError, RateLimited
from providers.registry import PROVIDER_CLASSES, capabilities_for, provider_class
from terminals.models import (
    NAME_MAX_LENGTH,
    EventKind,
    StatusSource,
    SyncRun,
    SyncState,
    SyncTrigger,
    Terminal,
    TerminalEvent,
    TerminalStatus,
)

logger = logging.getLogger(__name__)

# --- cadence and rate budget ---------------------------------------------------------------------

# USAePay's default key allows 45 requests a minute, and a tracker following one open payment polls
# every 2 s (30 a minute), so terminal syncs of one credential take at most a sixth of the budget
# (7.5 requests a minute): one page of devices every 8 s, a 1,000-terminal account (10 pages) every 80 s.
SYNC_BUDGET_SHARE = getattr(settings, "TERMINALS_SYNC_BUDGET_SHARE", 1 / 6)
# Never more often than this, whatever the budget.
SYNC_MIN_INTERVAL_S = getattr(settings, "TERMINALS_SYNC_MIN_INTERVAL_S", 5.0)
# Providers that document no budget (Payroc, KOMOJU, Klearly, Integra): a modest fixed cadence.
SYNC_UNBUDGETED_INTERVAL_S = getattr(settings, "TERMINALS_SYNC_UNBUDGETED_INTERVAL_S", 30.0)
# A transient failure (provider down, 5xx, rate limited) is tried again this many times.
SYNC_MAX_ATTEMPTS = 3
SYNC_RETRY_DELAY_S = 5.0
# A run reading or saving for this long lost its worker; it is failed so the account syncs again.
SYNC_STALE_AFTER = timedelta(minutes=10)
# A queued run not started this long after it was due lost its task (broker restarted, queue purged):
# its task is sent again (claiming is a conditional UPDATE, so a duplicate task does nothing).
SYNC_REQUEUE_AFTER = timedelta(seconds=60)
# After a failed sync (refused credentials, provider down past the retries) the schedule waits this
# long before trying that account again, instead of repeating a refused call every few seconds.
SYNC_FAILED_BACKOFF_S = 300.0


def sync_interval_s(provider: str, requests_per_sync: int) -> float:
    """Seconds between two syncs of one account so that they use at most SYNC_BUDGET_SHARE of the
    credential's `requests_per_minute` (a sync costs `requests_per_sync` provider requests)."""
    budget = capabilities_for(provider).requests_per_minute
    if budget is None:
        return max(SYNC_MIN_INTERVAL_S, SYNC_UNBUDGETED_INTERVAL_S)
    return max(SYNC_MIN_INTERVAL_S, max(1, requests_per_sync) * 60.0 / (budget * SYNC_BUDGET_SHARE))


# --- status from what the provider said ----------------------------------------------------------


def api_name(provider: str) -> str:
    """How messages name the provider's API ("Payroc", "USAePay", "Integra")."""
    return provider_class(provider).api_name


def status_from_info(info: TerminalInfo, capabilities: Capabilities, api: str) -> tuple[str, str]:
    """(status, reason in plain words). A provider that cannot tell makes the status unknown, never online."""
    if info.online is None:
        if not capabilities.reports_online:
            return TerminalStatus.UNKNOWN, f"{api} does not report whether a terminal is online."
        return TerminalStatus.UNKNOWN, f"{api} did not say whether this terminal is online."
    if info.online and info.busy:
        word = f" (“{info.status_text}”)" if info.status_text else ""
        return TerminalStatus.BUSY, f"{api} reports it busy with another transaction{word}."
    if info.online:
        return TerminalStatus.ONLINE, ""
    word = f" (“{info.status_text}”)" if info.status_text else ""
    return TerminalStatus.OFFLINE, f"{api} reports it offline{word}."


def _seen_now(status: str, capabilities: Capabilities) -> bool:
    """Whether an observation counts as "seen": online or busy; for providers without an online
    status, being listed."""
    return status in (TerminalStatus.ONLINE, TerminalStatus.BUSY) or (
        status == TerminalStatus.UNKNOWN and not capabilities.reports_online
    )


def _display_name(info: TerminalInfo) -> str:
    """The provider's name; where it has none (Payroc names a device by its model), the model and
    the serial's last four digits, so two terminals of one model are told apart."""
    name = " ".join(info.name.split())
    if not name:
        return info.ref[:NAME_MAX_LENGTH]
    if name == info.model and (info.serial or info.ref):
        tail = f" #{(info.serial or info.ref)[-4:]}"
        return name[: NAME_MAX_LENGTH - len(tail)] + tail
    return name[:NAME_MAX_LENGTH]


# --- sync ----------------------------------------------------------------------------------------


@dataclass
class SyncResult:
    listed: int = 0
    added: int = 0
    updated: int = 0
    deactivated: int = 0


def _event(terminal: Terminal, kind: str, at: datetime, **fields) -> TerminalEvent:
    return TerminalEvent(terminal=terminal, kind=kind, created_at=at, **fields)


@transaction.atomic
def terminals_apply_list(
    *, account: ProviderAccount, infos: list[TerminalInfo], fetched_at: datetime
) -> SyncResult:
    """Write the provider's terminal list of `account` as read at `fetched_at`: new terminals appear,
    changed ones are updated, listed ones are checked, unlisted ones become inactive (never deleted).

    Locks the account's terminal rows for the few milliseconds of the write, never across a provider
    call (the list was read before)."""
    capabilities = capabilities_for(account.provider)
    api = api_name(account.provider)
    existing = {
        t.provider_ref: t for t in Terminal.objects.select_for_update().filter(account=account)
    }
    result = SyncResult()
    new: list[Terminal] = []
    changed: list[Terminal] = []
    events: list[TerminalEvent] = []
    checked_seen: list[int] = []  # unchanged, listed, seen now: only the check times move
    checked_only: list[int] = []  # unchanged, listed, not seen (offline / unknown)
    listed_refs: set[str] = set()

    for info in infos:
        if not info.ref or info.ref in listed_refs:
            continue
        listed_refs.add(info.ref)
        status, reason = status_from_info(info, capabilities, api)
        seen = _seen_now(status, capabilities)
        terminal = existing.get(info.ref)
        if terminal is None:
            terminal = Terminal(
                account=account,
                merchant_id=account.merchant_id,
                provider=account.provider,
                provider_ref=info.ref[:100],
                serial_number=info.serial[:100],
                model=info.model[:100],
                provider_name=info.name[:200],
                name=_display_name(info),
                status=status,
                status_source=StatusSource.REPORTED,
                status_reason=reason[:200],
                provider_status=info.status_text[:100],
                status_checked_at=fetched_at,
                last_seen_at=fetched_at if seen else None,
            )
            new.append(terminal)
            continue

        dirty = False
        old_provider_name = terminal.provider_name
        for field, value in (
            ("serial_number", info.serial[:100]),
            ("model", info.model[:100]),
            ("provider_name", info.name[:200]),
        ):
            if getattr(terminal, field) != value:
                setattr(terminal, field, value)
                dirty = True
        renamed_since = terminal.renamed_at is not None and terminal.renamed_at > fetched_at
        listed_name = _display_name(info)
        if not terminal.name_is_local and not renamed_since and terminal.name != listed_name:
            if not info.name.strip():
                # The provider has no name for it (any more): the dashboard keeps its name rather
                # than putting the id in its place, and says so once, when the name went away.
                if old_provider_name.strip():
                    events.append(
                        _event(
                            terminal,
                            EventKind.RENAMED,
                            fetched_at,
                            old_value=old_provider_name,
                            new_value="",
                            detail=(
                                f"{api} lists this terminal without a name; the dashboard keeps "
                                f"“{terminal.name}”."
                            )[:300],
                        )
                    )
            else:
                events.append(
                    _event(
                        terminal,
                        EventKind.RENAMED,
                        fetched_at,
                        old_value=terminal.name,
                        new_value=listed_name,
                        detail=f"Renamed at {api} (read by the terminal sync).",
                    )
                )
                terminal.name = listed_name
                dirty = True
        if not terminal.is_active:
            terminal.is_active = True
            terminal.deactivated_at = None
            events.append(
                _event(
                    terminal, EventKind.REACTIVATED, fetched_at, detail=f"Listed by {api} again."
                )
            )
            dirty = True

        newer_check_exists = (
            terminal.status_checked_at is not None and terminal.status_checked_at > fetched_at
        )
        if not newer_check_exists:
            if terminal.status != status:
                events.append(
                    _event(
                        terminal,
                        EventKind.STATUS,
                        fetched_at,
                        status_from=terminal.status,
                        status_to=status,
                        source=StatusSource.REPORTED,
                        detail=reason[:300],
                    )
                )
            new_values = {
                "status": status,
                "status_reason": reason[:200],
                "provider_status": info.status_text[:100],
                "status_source": StatusSource.REPORTED,
            }
            if any(getattr(terminal, k) != v for k, v in new_values.items()):
                for k, v in new_values.items():
                    setattr(terminal, k, v)
                dirty = True
            if dirty:
                terminal.status_checked_at = fetched_at
                if seen:
                    terminal.last_seen_at = fetched_at
            else:
                (checked_seen if seen else checked_only).append(terminal.pk)
        if dirty:
            changed.append(terminal)

    if new:
        Terminal.objects.bulk_create(
            new,
            batch_size=1000,
            update_conflicts=True,
            unique_fields=["account", "provider_ref"],
            update_fields=[
                "serial_number",
                "model",
                "provider_name",
                "status",
                "status_reason",
                "provider_status",
                "status_checked_at",
                "last_seen_at",
                "is_active",
            ],
        )
        events.extend(
            _event(
                t,
                EventKind.ADDED,
                fetched_at,
                status_to=t.status,
                source=StatusSource.REPORTED,
                detail=(f"Listed by {api}. " + t.status_reason).strip()[:300],
            )
            for t in new
        )
    if changed:
        Terminal.objects.bulk_update(
            changed,
            [
                "serial_number",
                "model",
                "provider_name",
                "name",
                "is_active",
                "deactivated_at",
                "status",
                "status_reason",
                "provider_status",
                "status_source",
                "status_checked_at",
                "last_seen_at",
            ],
            batch_size=200,
        )
    if checked_seen:
        Terminal.objects.filter(pk__in=checked_seen).update(
            status_checked_at=fetched_at, last_seen_at=fetched_at
        )
    if checked_only:
        Terminal.objects.filter(pk__in=checked_only).update(status_checked_at=fetched_at)

    gone = [t for ref, t in existing.items() if t.is_active and ref not in listed_refs]
    if gone:
        Terminal.objects.filter(pk__in=[t.pk for t in gone]).update(
            is_active=False, deactivated_at=fetched_at
        )
        events.extend(
            _event(
                t,
                EventKind.DEACTIVATED,
                fetched_at,
                detail=f"No longer listed by {api}; kept with its history.",
            )
            for t in gone
        )
    TerminalEvent.objects.bulk_create(events, batch_size=1000)
    result.listed = len(listed_refs)
    result.added = len(new)
    result.updated = len(changed)
    result.deactivated = len(gone)
    return result


def _sync_schedule(run: SyncRun) -> None:
    """Schedule the run's task for its ``not_before``, once the current transaction commits.

    The only place that schedules a sync. tasks.py calls this module (tasks → services); the task
    object is fetched here when scheduling, not at import, so the import arrow points one way.
    """
    from terminals.tasks import sync_account  # the scheduling edge: see the docstring

    sync_account.apply_async_on_commit((run.pk,), countdown=_delay_s(run) or None)


def _last_runs():
    latest = (
        SyncRun.objects.filter(account=OuterRef("pk"))
        .exclude(started_at=None)
        .order_by("-started_at")
    )
    return ProviderAccount.objects.annotate(
        last_started_at=Subquery(latest.values("started_at")[:1]),
        last_requests=Subquery(latest.values("requests")[:1]),
        last_state=Subquery(latest.values("state")[:1]),
    )


def _next_allowed(account, now: datetime) -> datetime:
    """When the account's next sync may start without leaving its share of the rate budget."""
    if account.last_started_at is None:
        return now
    interval = sync_interval_s(account.provider, account.last_requests or 1)
    return max(now, account.last_started_at + timedelta(seconds=interval))


def _next_scheduled(account, now: datetime) -> datetime:
    """When beat next syncs the account: its cadence, or the back-off after a failed sync."""
    due = _next_allowed(account, now)
    if account.last_state == SyncState.FAILED:
        due = max(due, account.last_started_at + timedelta(seconds=SYNC_FAILED_BACKOFF_S))
    return due


def _run_create(
    account, *, trigger: str, user, not_before: datetime, enqueue: bool = True
) -> tuple[SyncRun, bool]:
    """A new run of `account`, or the active one if there is one (the database allows one)."""
    active = SyncRun.objects.filter(account=account).active().first()
    if active is not None:
        return active, False
    try:
        with transaction.atomic():
            run = SyncRun.objects.create(
                account=account, trigger=trigger, requested_by=user, not_before=not_before
            )
    except IntegrityError:
        return SyncRun.objects.filter(account=account).active().first(), False
    if enqueue:
        _sync_schedule(run)
    return run, True


def _budget_allows_at(account, now: datetime) -> datetime:
    """When the account's request window (credentials/budget.py, shared with the trackers and the
    presses) has room for a sync of the size of its last one."""
    wait = budget.budget_free_in(
        account.pk,
        limit=budget.budget_limit(capabilities_for(account.provider).requests_per_minute),
        cost=account.last_requests or 1,
    )
    return now + timedelta(seconds=wait)


def terminals_sync_request(*, accounts, user, now: datetime | None = None) -> list[SyncRun]:
    """ "Sync now" for these accounts: one run each, starting at once unless the account synced so
    recently, or its request window is so full (trackers, probes), that its rate budget asks to wait;
    an account already syncing is joined. A press never calls the provider itself: the run's worker
    does, once the budget allows, and the progress partial says when."""
    now = now or timezone.now()
    runs = []
    for account in _last_runs().filter(pk__in=[a.pk for a in accounts], is_active=True):
        not_before = max(_next_allowed(account, now), _budget_allows_at(account, now))
        run, _ = _run_create(account, trigger=SyncTrigger.USER, user=user, not_before=not_before)
        runs.append(run)
    return runs


def terminals_sync_all(*, now: datetime | None = None) -> list[SyncRun]:
    """Queue a sync of every active account (the demo loader; an operator after an outage), each
    as soon as its rate budget allows."""
    now = now or timezone.now()
    runs = []
    for account in _last_runs().filter(is_active=True, provider__in=list(PROVIDER_CLASSES)):
        run, _ = _run_create(
            account, trigger=SyncTrigger.SCHEDULE, user=None, not_before=_next_allowed(account, now)
        )
        runs.append(run)
    return runs


def terminals_sync_due(*, now: datetime | None = None) -> list[SyncRun]:
    """Beat: start a sync of every active account whose cadence (sync_interval_s) has come round.
    Fails runs whose worker died, so no account stays blocked."""
    now = now or timezone.now()
    SyncRun.objects.filter(
        state__in=[SyncState.FETCHING, SyncState.SAVING], started_at__lt=now - SYNC_STALE_AFTER
    ).update(
        state=SyncState.FAILED,
        finished_at=now,
        error="The sync did not finish (its worker stopped); a new one starts.",
    )
    lost = SyncRun.objects.filter(
        state__in=[SyncState.QUEUED, SyncState.RETRYING], not_before__lt=now - SYNC_REQUEUE_AFTER
    )
    for run in lost:
        if SyncRun.objects.filter(pk=run.pk, not_before=run.not_before).update(not_before=now):
            run.not_before = now
            _sync_schedule(run)
    busy = set(SyncRun.objects.active().values_list("account_id", flat=True))
    started = []
    for account in (
        _last_runs()
        .filter(is_active=True, provider__in=list(PROVIDER_CLASSES))
        .exclude(pk__in=busy)
    ):
        if _next_scheduled(account, now) <= now:
            run, created = _run_create(
                account, trigger=SyncTrigger.SCHEDULE, user=None, not_before=now
            )
            if created:
                started.append(run)
    return started


def sync_run_execute(*, run_id: int) -> SyncRun | None:
    """Do one run: claim it (conditional UPDATE: a lost race does nothing), read the provider's list
    with no transaction open, then write it. Returns the run, or None if not claimed. A transient
    provider failure leaves it RETRYING and schedules its next attempt after `SYNC_RETRY_DELAY_S`
    (or the provider's Retry-After): the task never schedules anything itself.

    The run's requests come out of the account's request window (credentials/budget.py): when the
    whole budget is spent (trackers, presses, other syncs) the run is not claimed but scheduled for
    the moment a slot frees, with no provider call and no attempt counted."""
    waiting = (
        SyncRun.objects.filter(pk=run_id, state__in=[SyncState.QUEUED, SyncState.RETRYING])
        .select_related("account")
        .first()
    )
    if waiting is None:
        return None
    wait_s = budget.budget_take(
        waiting.account_id,
        limit=budget.budget_limit(capabilities_for(waiting.account.provider).requests_per_minute),
    )
    if wait_s:
        later = timezone.now() + timedelta(seconds=wait_s)
        if SyncRun.objects.filter(
            pk=run_id, state__in=[SyncState.QUEUED, SyncState.RETRYING]
        ).update(not_before=later):
            waiting.not_before = later
            _sync_schedule(waiting)
        return waiting
    now = timezone.now()
    claimed = SyncRun.objects.filter(
        pk=run_id, state__in=[SyncState.QUEUED, SyncState.RETRYING]
    ).update(
        state=SyncState.FETCHING,
        started_at=Coalesce(F("started_at"), now),
        attempts=F("attempts") + 1,
    )
    if not claimed:
        return None
    run = SyncRun.objects.select_related("account").get(pk=run_id)
    account = run.account
    requests: list = []
    try:
        with provider_for(account) as adapter:
            adapter.client.event_hooks["request"].append(requests.append)
            infos = adapter.list_terminals()
        fetched_at = timezone.now()
    except ProviderError as exc:
        budget.budget_record(account.pk, len(requests) - 1)
        return _run_failed(run, exc, requests=len(requests))
    except LookupError as exc:  # no known environment for this provider
        return _run_finish(run, SyncState.FAILED, requests=0, error=str(exc))
    except Exception:
        budget.budget_record(account.pk, len(requests) - 1)
        _run_finish(
            run,
            SyncState.FAILED,
            requests=len(requests),
            error="The sync failed unexpectedly; it is logged.",
        )
        raise
    budget.budget_record(account.pk, len(requests) - 1)  # the first was taken before: its pages
    SyncRun.objects.filter(pk=run.pk).update(state=SyncState.SAVING, requests=len(requests))
    result = terminals_apply_list(account=account, infos=infos, fetched_at=fetched_at)
    return _run_finish(
        run,
        SyncState.SUCCEEDED,
        requests=len(requests),
        listed=result.listed,
        added=result.added,
        updated=result.updated,
        deactivated=result.deactivated,
        error="",
    )


def _run_failed(run: SyncRun, exc: ProviderError, *, requests: int) -> SyncRun:
    message = f"{api_name(run.account.provider)}: {exc.message}"
    if not exc.permanent and run.attempts < SYNC_MAX_ATTEMPTS:
        delay = (
            exc.retry_after
            if isinstance(exc, RateLimited) and exc.retry_after
            else SYNC_RETRY_DELAY_S
        )
        SyncRun.objects.filter(pk=run.pk).update(
            state=SyncState.RETRYING,
            requests=F("requests") + requests,
            error=message[:300],
            not_before=timezone.now() + timedelta(seconds=delay),
        )
        run.refresh_from_db()
        _sync_schedule(run)
        return run
    return _run_finish(run, SyncState.FAILED, requests=requests, error=message)


def _delay_s(run: SyncRun) -> float:
    """Seconds until the run may start (a RETRYING run: try again)."""
    return max(0.0, (run.not_before - timezone.now()).total_seconds())


def _run_finish(run: SyncRun, state: str, *, requests: int, error: str, **counts) -> SyncRun:
    SyncRun.objects.filter(pk=run.pk).update(
        state=state, requests=requests, error=error[:300], finished_at=timezone.now(), **counts
    )
    run.refresh_from_db()
    return run


def terminal_sync_account_now(*, account: ProviderAccount) -> SyncRun:
    """Sync one account in this process, now (the demo loader, scripts, tests): the same run a task does."""
    run, _ = _run_create(
        account, trigger=SyncTrigger.USER, user=None, not_before=timezone.now(), enqueue=False
    )
    return sync_run_execute(run_id=run.pk) or run


# --- status from elsewhere -------------------------------------------------------------------------


def terminal_status_record(
    *,
    terminal: Terminal,
    status: str,
    source: str,
    reason: str = "",
    provider_status: str | None = None,
    checked_at: datetime | None = None,
    actor=None,
) -> bool:
    """Record one observation of a terminal's status (a probe; the payments app when the provider
    refuses a start because the terminal is busy or offline). An observation older than the stored
    one is ignored. Returns whether it was written."""
    checked_at = checked_at or timezone.now()
    capabilities = capabilities_for(terminal.provider)
    with transaction.atomic():
        current = (
            Terminal.objects.select_for_update()
            .filter(
                Q(status_checked_at__isnull=True) | Q(status_checked_at__lte=checked_at),
                pk=terminal.pk,
            )
            .first()
        )
        if current is None:
            return False
        values = {
            "status": status,
            "status_source": source,
            "status_reason": reason[:200],
            "status_checked_at": checked_at,
        }
        if provider_status is not None:
            values["provider_status"] = provider_status[:100]
        if _seen_now(status, capabilities):
            values["last_seen_at"] = checked_at
        Terminal.objects.filter(pk=terminal.pk).update(**values)
        if current.status != status:
            TerminalEvent.objects.create(
                terminal=terminal,
                kind=EventKind.STATUS,
                created_at=checked_at,
                status_from=current.status,
                status_to=status,
                source=source,
                detail=reason[:300],
                actor=actor,
            )
    terminal.refresh_from_db()
    return True


@dataclass
class ProbeOutcome:
    ok: bool
    message: str
    refused: bool = False  # over the budget: nothing was asked


def terminal_probe(*, terminal: Terminal, actor=None) -> ProbeOutcome:
    """Ask the provider about this one terminal now (`get_terminal`) and record what it says.

    A press is a call from a person's request, so it comes out of the account's request window
    (credentials/budget.py `press_take`): one probe of a terminal every `PRESS_INTERVAL_S`, and the
    account's presses at most their share of its budget. A press over either asks nothing and says
    so ("Checked 3 s ago, try again in a moment.")."""
    api = api_name(terminal.provider)
    try:
        budget.press_take(
            terminal.account_id,
            target=f"probe:{terminal.pk}",
            requests_per_minute=capabilities_for(terminal.provider).requests_per_minute,
        )
    except budget.PressRefused as refused:
        return ProbeOutcome(False, refused.message(done="Checked", api=api), refused=True)
    requests: list = []
    try:
        with provider_for(terminal.account) as adapter:
            adapter.client.event_hooks["request"].append(requests.append)
            try:
                info = adapter.get_terminal(terminal.provider_ref)
            finally:
                budget.budget_record(terminal.account_id, len(requests) - 1)  # a token fetch
    except NotFound:
        now = timezone.now()
        if Terminal.objects.filter(pk=terminal.pk, is_active=True).update(
            is_active=False, deactivated_at=now
        ):
            TerminalEvent.objects.create(
                terminal=terminal,
                kind=EventKind.DEACTIVATED,
                created_at=now,
                actor=actor,
                detail=f"{api} no longer knows this terminal; kept with its history.",
            )
        terminal.refresh_from_db()
        return ProbeOutcome(False, f"{api} no longer knows this terminal, so it is now inactive.")
    except ProviderError as exc:
        return ProbeOutcome(False, f"{api} could not be asked: {exc.message}")
    except LookupError as exc:
        return ProbeOutcome(False, str(exc))
    status, reason = status_from_info(info, capabilities_for(terminal.provider), api)
    terminal_status_record(
        terminal=terminal,
        status=status,
        source=StatusSource.PROBED,
        reason=reason,
        provider_status=info.status_text,
        actor=actor,
    )
    described = TerminalStatus(status).label + (f": {reason}" if reason else "")
    return ProbeOutcome(True, f"{api} answered: {described}")


# --- rename --------------------------------------------------------------------------------------


# Bidirectional overrides and isolates: they can make a name read differently from what it is.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def clean_terminal_name(value: str) -> str:
    """A name as stored: trimmed, inner runs of spaces made one, 1 to 64 characters, no control characters."""
    name = " ".join(str(value or "").split())
    if not name:
        raise ValidationError("Enter a name.", code="required")
    if len(name) > NAME_MAX_LENGTH:
        raise ValidationError(
            f"Use at most {NAME_MAX_LENGTH} characters (this has {len(name)}).", code="max_length"
        )
    if any(unicodedata.category(ch) == "Cc" or ch in _BIDI_CONTROLS for ch in name):
        raise ValidationError("The name contains invisible control characters.", code="invalid")
    return name


class RenameRefused(Exception):
    """The provider did not rename the terminal; the name is unchanged. `message` is safe to show."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass
class RenameOutcome:
    terminal: Terminal
    at_provider: bool
    message: str


def rename_note(provider: str) -> str:
    """What the rename form says about where the name goes."""
    api = api_name(provider)
    if capabilities_for(provider).can_rename:
        return f"The name is sent to {api} and saved once {api} accepts it."
    return f"{api} has no rename API: this name is shown in the dashboard only."


def terminal_rename(*, terminal: Terminal, name: str, actor) -> RenameOutcome:
    """Rename at the provider when it has a rename API (saved only once it accepted), otherwise in
    the dashboard only. Every rename, and every refusal, is recorded with who asked."""
    name = clean_terminal_name(name)
    api = api_name(terminal.provider)
    old = terminal.name
    if capabilities_for(terminal.provider).can_rename:
        try:
            # A rename at the provider is a person's call too: it comes out of the account's share
            # for presses (a second rename of the same terminal may follow at once: a typo fixed).
            budget.press_take(
                terminal.account_id,
                target=f"rename:{terminal.pk}",
                requests_per_minute=capabilities_for(terminal.provider).requests_per_minute,
                interval_s=0,
            )
        except budget.PressRefused as refused:
            raise RenameRefused(f"{refused.message(api=api)} The name is unchanged.") from refused
        requests: list = []
        try:
            with provider_for(terminal.account) as adapter:
                adapter.client.event_hooks["request"].append(requests.append)
                try:
                    info = adapter.rename_terminal(terminal.provider_ref, name=name)
                finally:
                    budget.budget_record(terminal.account_id, len(requests) - 1)
        except ProviderError as exc:
            # An InvalidRequest without an HTTP status is the adapter's own refusal, before any
            # call: a name the provider could not store as it is (USAePay drops "é", "☕", "מ").
            not_sent = isinstance(exc, InvalidRequest) and exc.http_status is None
            TerminalEvent.objects.create(
                terminal=terminal,
                kind=EventKind.RENAME_FAILED,
                created_at=timezone.now(),
                actor=actor,
                old_value=old,
                new_value=name,
                detail=(f"Not sent to {api}: " if not_sent else f"{api} refused: ")
                + exc.message[:280],
            )
            if not_sent:
                raise RenameRefused(f"{exc.message} The name is unchanged.") from exc
            raise RenameRefused(
                f"{api} did not rename the terminal: {exc.message} The name is unchanged."
            ) from exc
        now = timezone.now()
        if not info.name.strip():
            # The provider answered without a name: ours is kept, in the dashboard only, and the
            # next sync will not put the terminal's id in its place.
            Terminal.objects.filter(pk=terminal.pk).update(
                name=name, provider_name="", name_is_local=True, renamed_at=now
            )
            TerminalEvent.objects.create(
                terminal=terminal,
                kind=EventKind.RENAMED,
                created_at=now,
                actor=actor,
                old_value=old,
                new_value=name,
                detail=f"{api} kept no name; shown in the dashboard only.",
            )
            terminal.refresh_from_db()
            return RenameOutcome(
                terminal,
                False,
                f"{api} kept no name for this terminal, so “{name}” is shown in the dashboard only.",
            )
        saved = _display_name(info)
        Terminal.objects.filter(pk=terminal.pk).update(
            name=saved, provider_name=info.name[:200], name_is_local=False, renamed_at=now
        )
        TerminalEvent.objects.create(
            terminal=terminal,
            kind=EventKind.RENAMED,
            created_at=now,
            actor=actor,
            old_value=old,
            new_value=saved,
            detail=f"Renamed at {api}." if saved == name else f"{api} saved it as “{saved}”."[:300],
        )
        terminal.refresh_from_db()
        message = f"Renamed to “{saved}” at {api}."
        if saved != name:
            message = f"{api} saved the name as “{saved}”."
        return RenameOutcome(terminal, True, message)

    now = timezone.now()
    Terminal.objects.filter(pk=terminal.pk).update(name=name, name_is_local=True, renamed_at=now)
    TerminalEvent.objects.create(
        terminal=terminal,
        kind=EventKind.RENAMED,
        created_at=now,
        actor=actor,
        old_value=old,
        new_value=name,
        detail=f"In the dashboard only: {api} has no rename API.",
    )
    terminal.refresh_from_db()
    return RenameOutcome(
        terminal,
        False,
        f"Renamed to “{name}”. {api} has no rename API: this name is shown in the dashboard only.",
    )


# --- stores --------------------------------------------------------------------------------------


@dataclass
class AssignOutcome:
    assigned: int
    unchanged: int
    skipped: int  # terminals of another merchant than the store's


@transaction.atomic
def terminals_assign_store(*, terminals, store, actor) -> AssignOutcome:
    """Put `terminals` (already scoped to the user) in `store` (already checked to be in the user's
    scope), or take them out of any store when `store` is None. A terminal can only go to a store of
    its own merchant; the others are skipped and counted."""
    rows = list(terminals.select_related("store").select_for_update(of=("self",)))
    if store is None:
        fitting = rows
        skipped = 0
    else:
        fitting = [t for t in rows if t.merchant_id == store.merchant_id]
        skipped = len(rows) - len(fitting)
    moving = [t for t in fitting if t.store_id != (store.pk if store else None)]
    now = timezone.now()
    if moving:
        Terminal.objects.filter(pk__in=[t.pk for t in moving]).update(store=store)
        TerminalEvent.objects.bulk_create(
            TerminalEvent(
                terminal=t,
                kind=EventKind.ASSIGNED,
                created_at=now,
                actor=actor,
                old_value=t.store.name if t.store else "",
                new_value=store.name if store else "",
                detail=f"Moved to {store.name}." if store else "Taken out of its store.",
            )
            for t in moving
        )
    return AssignOutcome(
        assigned=len(moving), unchanged=len(fitting) - len(moving), skipped=skipped
    )

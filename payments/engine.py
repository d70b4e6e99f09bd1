"""The money engine: start a payment in a worker, follow it to its end, sweep and reconcile.

Service functions (tasks in payments/tasks.py call exactly one of them):

* `payment_start(payment=…)` schedules `payments.tasks.start_payment` once the row has committed;
  `payment_start_execute(payment_id=…)` runs the one start through `providers.recovery`.
* `payment_track(payment_id=…, owner=…)`: one tracker step (a long-poll for Payroc, one status read
  for the others) under the payment's lease; it schedules the next step itself, a short task each.
* `payment_track_soon(payment_id=…, reason=…)`: an immediate read (a webhook or an action asks).
* `payment_look_for_start(payment_id=…, look_until=…)`: one look for a start that may be in flight.
* `payments_sweep()`: restarts tracking for open payments whose lease expired (a worker died).
* `payments_reconcile()` / `payment_reconcile(payment_id=…)`: asks the provider about `unknown`
  payments with backoff; never starts or charges again; flags `needs_attention` after a while.

Every status change goes through `payments.state.payment_transition`; no database lock is held
across an HTTP call (each claim or change is one short conditional UPDATE before or after the call).
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

import httpx
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from credentials.budget import budget_take, tracking_limit
from credentials.services import account_mark_used, provider_for
from payments.models import EventSource, Payment, PaymentEvent, PaymentKind, PaymentStatus
from payments.state import payment_note, payment_transition
from providers.base import PaymentKind as ProviderKind
from providers.base import PaymentResult, PaymentState, StartRequest
from providers.errors import OutcomeUnknown, ProviderError, RateLimited, StartInFlight
from providers.http import shared_transport
from providers.recovery import look_for_start, nothing_ran, start_exactly_once
from providers.registry import capabilities_for, provider_class

logger = logging.getLogger(__name__)
S = PaymentStatus

# A tracker's lease: long enough for one long-poll (up to a minute) or one read and its pause.
# PAYMENTS_TRACKING_LEASE_S overrides it (tests shorten it so a dead worker's lease expires soon).
LEASE_S = 90
# A start claims the payment for this long: the worker is sending it.
START_LEASE_S = 120
# A transient refusal of a start (429, 503: nothing ran) is tried again until this old.
START_RETRY_WINDOW_S = 120


def _setting(name: str, default):
    return getattr(settings, name, default)


def _lease_s() -> float:
    return float(_setting("PAYMENTS_TRACKING_LEASE_S", None) or LEASE_S)


def _attention_after() -> timedelta:
    return timedelta(seconds=_setting("PAYMENTS_ATTENTION_AFTER_S", 900))


def _schedule(task_name: str, *, countdown: float = 0, **kwargs) -> None:
    from payments import tasks  # the scheduling edge: tasks import this module, not the reverse

    getattr(tasks, task_name).apply_async_on_commit(kwargs=kwargs, countdown=max(0.0, countdown))


def _adapter(payment: Payment, *, keep_alive: bool = False):
    """The payment's adapter. `keep_alive` (a tracker's read): its requests go through this
    process's kept-alive connections of the payment's account (providers/http.py
    `shared_transport`) instead of a new connection each; never for a start, capture or refund,
    whose request must not meet a connection the server has just closed (that is a broken
    exchange: the call may have landed)."""
    adapter = provider_for(
        payment.account, transport=shared_transport(payment.account_id) if keep_alive else None
    )
    read_timeout = _setting("PAYMENTS_READ_TIMEOUT_S", None)
    if read_timeout:  # tests shorten our 30 s read timeout to stall a start past it
        adapter.client.timeout = httpx.Timeout(
            adapter.client.timeout.connect or 5.0, read=read_timeout
        )
    return adapter


def _timeout_s(payment: Payment | None) -> int | None:
    return _setting("PAYMENTS_TERMINAL_TIMEOUT_S", None)


def start_request(payment: Payment) -> StartRequest:
    """What the provider is sent for `payment`: the merchant's note as the description, and the
    store id, our payment id and the merchant id as metadata (each adapter puts them in its
    provider's own field: `Capabilities.metadata_field`)."""
    from payments.services import payment_metadata

    return StartRequest(
        kind=ProviderKind(payment.kind),
        terminal_ref=payment.terminal.provider_ref,
        amount_minor=payment.amount_minor,
        currency=payment.currency,
        idempotency_key=str(payment.idempotency_key),
        reference=payment.reference,
        description=payment.note,
        metadata=payment_metadata(payment),
        timeout_s=_timeout_s(payment),
    )


def _plain(exc: ProviderError) -> str:
    return (str(exc) or exc.__class__.__name__)[:300]


_DEFAULT_MESSAGES = {
    PaymentState.APPROVED: "Approved.",
    PaymentState.AUTHORIZED: "Authorised: capture it to take the money.",
    PaymentState.DECLINED: "Declined by the card issuer.",
    PaymentState.CANCELED: "Cancelled on the terminal.",
    PaymentState.TIMED_OUT: "Timed out: nobody presented a card.",
    PaymentState.FAILED: "The terminal could not take the payment.",
}


def _abort_asked(payment: Payment) -> bool:
    return PaymentEvent.objects.filter(payment_id=payment.pk, action="abort_requested").exists()


def _result_fields(payment: Payment, result: PaymentResult) -> dict:
    fields: dict = {}
    if result.provider_ref and not payment.provider_ref:
        fields["provider_ref"] = result.provider_ref[:100]
    if result.transaction_ref:
        fields["transaction_ref"] = result.transaction_ref[:100]
    if result.card_brand:
        fields["card_brand"] = result.card_brand[:30]
    if result.card_last4:
        fields["card_last4"] = result.card_last4[:4]
    if result.auth_code:
        fields["auth_code"] = result.auth_code[:32]
    if result.receipt:  # the receipt's other fields (KOMOJU's EMV data), shown on the payment page
        fields["provider_data"] = {"receipt": dict(result.receipt)}
    state = PaymentState(result.state)
    if state in _DEFAULT_MESSAGES:
        default = _DEFAULT_MESSAGES[state]
        if state == PaymentState.CANCELED and _abort_asked(payment):
            default = "Aborted."  # the tracker saw our abort land before the abort's own worker
        fields["message"] = (result.message or default)[:300]
    if state == PaymentState.AUTHORIZED:
        fields.update(lease_owner="", lease_until=None)  # nothing to follow until an action
    if state == PaymentState.APPROVED and payment.kind in (PaymentKind.SALE, PaymentKind.AUTH):
        fields["captured_minor"] = (
            _capture_asked(payment) or result.amount_minor or payment.amount_minor
        )
    return fields


def _lost_capture(payment: Payment):
    """The event of a capture of `payment` whose answer was lost (authorized → unknown), if that is
    why it is unknown now."""
    if payment.kind != PaymentKind.AUTH or payment.status != S.UNKNOWN:
        return None
    return (
        payment.events.filter(from_status=S.AUTHORIZED, to_status=S.UNKNOWN)
        .order_by("-created_at", "-pk")
        .first()
    )


def _capture_asked(payment: Payment) -> int | None:
    from payments.actions import CAPTURE_ASKED

    event = _lost_capture(payment)
    asked = (event.payload or {}).get(CAPTURE_ASKED) if event else None
    return int(asked) if isinstance(asked, int) and asked > 0 else None


def _apply_result(payment: Payment, result: PaymentResult, *, source: str) -> bool:
    """Move `payment` to the state the provider reports, if it is one we move to. Returns True when
    the payment changed. `pending` and `unknown` from the provider change nothing here."""
    state = PaymentState(result.state)
    if state in (PaymentState.PENDING, PaymentState.CREATED, PaymentState.UNKNOWN):
        return False
    if state == PaymentState.AUTHORIZED and _lost_capture(payment):
        # "Authorised" after a capture whose answer was lost proves nothing: the capture may be on
        # its way, or the provider's read may not show captures (USAePay's payrequest). It stays
        # unknown until a read shows it captured, or a person settles it (needs attention).
        return False
    with transaction.atomic():
        moved = payment_transition(
            payment_id=payment.pk,
            to=S(state.value),
            source=source,
            allowed_from=[s for s in (S.PENDING, S.UNKNOWN, S.AUTHORIZED) if _can(s, state)],
            provider_status=result.raw_status or "",
            payload={"raw": dict(result.raw)} if result.raw else None,
            **_result_fields(payment, result),
        )
        if moved and state == PaymentState.APPROVED and payment.kind == PaymentKind.REFUND:
            # A refund the tracker saw approved (on a terminal, or referenced but pending at
            # first): the sale's refunded total grows in the same transaction.
            from payments import actions

            actions.refund_settled(refund_id=payment.pk)
    if moved and state == PaymentState.AUTHORIZED and payment.kind == PaymentKind.SALE:
        # A provider whose every payment stops at a reservation (MobilePay): a sale is captured
        # by us at once, in full.
        _schedule("capture_sale", payment_id=payment.pk)
    return moved


def _can(status: PaymentStatus, state: PaymentState) -> bool:
    from payments.state import can_transition

    return can_transition(status, state.value)


# -- starting ---------------------------------------------------------------------------------------


def payment_start(*, payment: Payment) -> None:
    """Schedule the start of `payment` (in `created`) on a worker, once this transaction commits."""
    _schedule("start_payment", payment_id=payment.pk)


def payment_start_execute(*, payment_id: int) -> Payment | None:
    """Send the payment's one start to its provider and record what happened.

    accepted → pending (provider_ref, started_at, deadline) and tracked; refused with nothing run →
    failed with the provider's reason (the terminal is free again); the answer lost → unknown, and
    a scheduled look by our order id (never a second start for a provider without a key).
    """
    now = timezone.now()
    owner = f"start:{uuid.uuid4().hex[:12]}"
    claimed = (
        Payment.objects.filter(pk=payment_id, status=S.CREATED)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_owner=owner, lease_until=now + timedelta(seconds=START_LEASE_S))
    )
    if not claimed:
        return None
    payment = Payment.objects.select_related("account", "terminal").get(pk=payment_id)
    req = start_request(payment)
    adapter = _adapter(payment)
    _count_start(payment)
    try:
        with adapter:
            result = start_exactly_once(adapter, req)
            deadline = adapter.deadline_for(adapter.now(), req.timeout_s)
    except StartInFlight as exc:
        payment_transition(
            payment_id=payment_id,
            to=S.UNKNOWN,
            source=EventSource.WORKER,
            allowed_from=[S.CREATED],
            detail=_plain(exc),
            message="Result unknown: we are checking with the provider. Do not charge again.",
            lease_owner="",
            lease_until=None,
        )
        _schedule(
            "track_start_look",
            countdown=exc.retry_after,
            payment_id=payment_id,
            look_until=exc.look_until.isoformat(),
        )
        return _reload(payment_id)
    except OutcomeUnknown as exc:
        _unknown_from_start(payment_id, exc)
        return _reload(payment_id)
    except ProviderError as exc:
        if (
            nothing_ran(exc)
            and not exc.permanent
            and now - payment.created_at < timedelta(seconds=START_RETRY_WINDOW_S)
        ):
            # Refused for now (429, 503), nothing ran: send the same start again shortly.
            Payment.objects.filter(pk=payment_id, lease_owner=owner).update(
                lease_owner="", lease_until=None
            )
            retry = exc.retry_after if isinstance(exc, RateLimited) and exc.retry_after else 2
            _schedule("start_payment", countdown=retry, payment_id=payment_id)
            return _reload(payment_id)
        if not nothing_ran(exc):
            _unknown_from_start(payment_id, exc)
            return _reload(payment_id)
        payment_transition(
            payment_id=payment_id,
            to=S.FAILED,
            source=EventSource.WORKER,
            allowed_from=[S.CREATED],
            detail=exc.__class__.__name__,
            message=_plain(exc),
        )
        return _reload(payment_id)
    _accepted(payment, result, deadline=deadline, from_status=S.CREATED)
    account_mark_used(account_id=payment.account_id)  # the credentials console's "last used"
    return _reload(payment_id)


def _count_start(payment: Payment) -> None:
    """A start counts against the credential's rate budget (credentials/budget.py) like an abort or
    a refund: taken from the whole budget, so trackers (held to their share) make room for it, and
    sent even when the window is full, because the customer is waiting at the terminal."""
    import redis

    from credentials import budget

    try:
        wait = budget.budget_take(
            payment.account_id,
            limit=budget.budget_limit(capabilities_for(payment.provider).requests_per_minute),
        )
    except redis.RedisError:
        return
    if wait:
        logger.warning(
            "rate budget of account %s is full; sending the start anyway", payment.account_id
        )


def _unknown_from_start(payment_id: int, exc: ProviderError) -> None:
    payment_transition(
        payment_id=payment_id,
        to=S.UNKNOWN,
        source=EventSource.WORKER,
        allowed_from=[S.CREATED],
        detail=_plain(exc),
        message="Result unknown: we are checking with the provider. Do not charge again.",
        lease_owner="",
        lease_until=None,
    )


def _accepted(
    payment: Payment, result: PaymentResult, *, deadline: datetime, from_status: PaymentStatus
) -> None:
    """The provider has the start: pending and tracked (or straight to its final state)."""
    now = timezone.now()
    owner = f"track:{uuid.uuid4().hex[:12]}"
    moved = payment_transition(
        payment_id=payment.pk,
        to=S.PENDING,
        source=EventSource.WORKER if from_status == S.CREATED else EventSource.TRACKER,
        allowed_from=[from_status],
        provider_status=result.raw_status or "",
        provider_ref=(result.provider_ref or "")[:100],
        transaction_ref=(result.transaction_ref or "")[:100],
        started_at=now,
        deadline_at=deadline,
        message="Waiting for the customer.",
        lease_owner=owner,
        lease_until=now + timedelta(seconds=_lease_s()),
    )
    if not moved:
        return
    payment.refresh_from_db()
    if _apply_result(payment, result, source=EventSource.TRACKER):
        return
    _schedule("track_payment", payment_id=payment.pk, owner=owner)


def _reload(payment_id: int) -> Payment:
    return Payment.objects.get(pk=payment_id)


def payment_look_for_start(*, payment_id: int, look_until: str) -> Payment | None:
    """One look by our order id for a start whose answer was lost (the payment is `unknown` with no
    provider reference). Found → pending and tracked (or its final state); not yet → look again;
    never shown → stays unknown for the reconciler. Never sends a second start to a provider
    without an idempotency key (`providers.recovery.look_for_start` only looks)."""
    payment = (
        Payment.objects.select_related("account", "terminal")
        .filter(pk=payment_id, status=S.UNKNOWN, provider_ref="")
        .first()
    )
    if payment is None:
        return None
    until = parse_datetime(look_until)
    adapter = _adapter(payment)
    try:
        with adapter:
            found = look_for_start(adapter, start_request(payment), look_until=until)
            deadline = adapter.deadline_for(adapter.now(), _timeout_s(payment))
    except StartInFlight as exc:
        _schedule(
            "track_start_look",
            countdown=exc.retry_after,
            payment_id=payment_id,
            look_until=look_until,
        )
        return payment
    except ProviderError as exc:
        payment_note(
            payment_id=payment_id,
            action="start_not_found",
            source=EventSource.TRACKER,
            detail=_plain(exc),
        )
        return payment
    _found(payment, found, deadline=deadline)
    return _reload(payment_id)


def _found(payment: Payment, result: PaymentResult, *, deadline: datetime) -> None:
    state = PaymentState(result.state)
    if state in (PaymentState.PENDING, PaymentState.CREATED, PaymentState.UNKNOWN):
        _accepted(payment, result, deadline=deadline, from_status=S.UNKNOWN)
        return
    _apply_result(payment, result, source=EventSource.RECONCILER)


def payment_capture_sale(*, payment_id: int) -> Payment | None:
    """Capture a sale the provider reserved (MobilePay stops every payment at Reserved), in full.
    Capturing twice is refused by the provider, so a repeat never moves money twice; a lost answer
    makes the payment `unknown` for the reconciler, which reads whether it was captured."""
    now = timezone.now()
    owner = f"capture:{uuid.uuid4().hex[:12]}"
    claimed = (
        Payment.objects.filter(pk=payment_id, status=S.AUTHORIZED, kind=PaymentKind.SALE)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_owner=owner, lease_until=now + timedelta(seconds=START_LEASE_S))
    )
    if not claimed:
        return None
    payment = Payment.objects.select_related("account").get(pk=payment_id)
    try:
        with _adapter(payment) as adapter:
            result = adapter.capture(
                payment.transaction_ref or payment.provider_ref,
                idempotency_key=str(payment.idempotency_key),
                amount_minor=payment.amount_minor,
                currency=payment.currency,
            )
    except ProviderError as exc:
        payment_transition(
            payment_id=payment_id,
            to=S.UNKNOWN,
            source=EventSource.WORKER,
            allowed_from=[S.AUTHORIZED],
            detail=f"Capturing the sale: {_plain(exc)}",
            message="Result unknown: we are checking with the provider. Do not charge again.",
            lease_owner="",
            lease_until=None,
        )
        return _reload(payment_id)
    _apply_result(payment, result, source=EventSource.WORKER)
    return _reload(payment_id)


# -- tracking ---------------------------------------------------------------------------------------


def payment_track(*, payment_id: int, owner: str = "") -> Payment | None:
    """One tracker step for a pending payment under lease `owner` (a fresh lease when empty and the
    old one expired). Reads the provider once (Payroc: a long-poll), applies a final state, and
    otherwise schedules the next step at the cadence the credential's budget allows. Past the
    deadline with no final word the payment becomes `unknown`, never `failed`.

    A step that finds the payment still pending costs one query (the read of the row, which shows
    that this chain still holds a lease lasting well past the step), the budget's one Redis call,
    the provider read and the next step's message (benchmarks/test_bench_tracking.py). The lease is
    claimed or renewed (a conditional UPDATE) only when it is not this chain's or runs short."""
    now = timezone.now()
    # `[:1]`, not `.first()`: no ORDER BY to compile for a primary-key read.
    payment = next(iter(Payment.objects.select_related("account").filter(pk=payment_id)[:1]), None)
    if payment is None or payment.status != S.PENDING:
        return None
    if not _holds_lease(payment, owner, now):
        owner = owner or f"track:{uuid.uuid4().hex[:12]}"
        lease_until = now + timedelta(seconds=_lease_s())
        claimed = (
            Payment.objects.filter(pk=payment_id, status=S.PENDING)
            .filter(Q(lease_owner=owner) | Q(lease_until__isnull=True) | Q(lease_until__lt=now))
            .update(lease_owner=owner, lease_until=lease_until)
        )
        if not claimed:
            return None
        payment.lease_owner, payment.lease_until = owner, lease_until
    lease_until = payment.lease_until
    if payment.deadline_at and now >= payment.deadline_at:
        _deadline_passed(payment)
        return _reload(payment_id)
    result = _read(payment, wait=True, owner=owner, lease_until=lease_until)
    if result is None:
        return payment  # _read scheduled the next step
    if _moves(result):
        payment.refresh_from_db()  # the read may have taken a minute (a long-poll)
        if _apply_result(payment, result, source=EventSource.TRACKER):
            return _reload(payment_id)
    if timezone.now() >= (payment.deadline_at or timezone.now() + timedelta(days=1)):
        _deadline_passed(payment)
        return _reload(payment_id)
    _next_step(payment, owner, tracking_cadence_s(payment), lease_until=lease_until)
    return payment


def _holds_lease(payment: Payment, owner: str, now: datetime) -> bool:
    """Whether chain `owner` holds `payment`'s lease for long enough that this step need not renew
    it: past the longest step (a read times out after 30 s) and the pause after it, with the
    sweeper's slack to spare. A long-poll (Payroc: a call held up to a minute) always renews."""
    if not owner or payment.lease_owner != owner or payment.lease_until is None:
        return False
    if capabilities_for(payment.provider).status_channel == "long_poll":
        return False
    return payment.lease_until > now + timedelta(seconds=_lease_s() * 2 / 3)


def _moves(result: PaymentResult) -> bool:
    """Whether the provider's word may move a payment (`_apply_result` ignores the others)."""
    return PaymentState(result.state) not in (
        PaymentState.PENDING,
        PaymentState.CREATED,
        PaymentState.UNKNOWN,
    )


def tracking_cadence_s(payment: Payment) -> float:
    """The pause before a tracker's next read of `payment`: none after a long-poll (Payroc's call
    itself waits); the provider's poll interval; or, where the account holds its webhook secret
    and webhooks push every outcome, only a backstop read now and then (the webhook asks for the
    immediate read that finds the outcome); where they push some (USAePay: card outcomes, not a
    request cancelled on the terminal), the provider's longer `webhook_poll_interval_s`."""
    caps = capabilities_for(payment.provider)
    if caps.status_channel == "long_poll":
        return 0
    if caps.webhooks_tell_every_outcome or caps.webhook_poll_interval_s:
        field = provider_class(payment.provider).webhook_secret_field
        if field and payment.account.secrets().get(field):
            own = (
                caps.webhook_backstop_s
                if caps.webhooks_tell_every_outcome
                else caps.webhook_poll_interval_s
            )
            return _setting("PAYMENTS_WEBHOOK_BACKSTOP_S", None) or own
    return caps.poll_interval_s


def _next_step(
    payment: Payment, owner: str, countdown: float, *, lease_until: datetime | None = None
) -> None:
    """Schedule the tracker's next step in `countdown` seconds. The lease must last until that step
    claims it again, or the sweeper would take a waiting tracker for a dead one: when the lease this
    step took (`lease_until`) ends well after that, it stands; otherwise it is renewed first (a
    long pause for the budget, or after a long-poll), and a lost lease schedules nothing."""
    now = timezone.now()
    slack = timedelta(seconds=_lease_s() / 3)
    if lease_until is None or lease_until < now + timedelta(seconds=countdown) + slack:
        renewed = Payment.objects.filter(pk=payment.pk, status=S.PENDING, lease_owner=owner).update(
            lease_until=now + timedelta(seconds=_lease_s() + countdown)
        )
        if not renewed:
            return
    _schedule("track_payment", countdown=countdown, payment_id=payment.pk, owner=owner)


def _read(
    payment: Payment,
    *,
    wait: bool,
    owner: str | None = None,
    lease_until: datetime | None = None,
) -> PaymentResult | None:
    """The provider's word on `payment`, inside the credential's budget; None when the budget or the
    provider said "not now" (the next step is then scheduled when `owner` holds the lease)."""
    caps = capabilities_for(payment.provider)
    wait_s = budget_take(payment.account_id, limit=tracking_limit(caps.requests_per_minute))
    if wait_s > 0:
        if owner is not None:
            _next_step(payment, owner, wait_s, lease_until=lease_until)
        return None
    long_poll = wait and caps.status_channel == "long_poll"
    green = _pooled_connections()
    try:
        # Kept-alive connections in a green tracking process (hundreds of reads a second); a thread
        # pool (the tests' in-process worker against Django's threaded live server, whose handler
        # thread would hold its database connection for as long as the connection lives) opens
        # one per read.
        with _adapter(payment, keep_alive=green) as adapter:
            if long_poll or green:
                # As each request leaves, after the adapter's own queries (its cached token): a
                # long-poll holds no connection while it waits, and in a green process (a pool of
                # connections shared by hundreds of greenlets) no read holds one across the call.
                adapter.client.event_hooks["request"].append(_release_database_connection)
            return adapter.get_payment(
                payment.provider_ref, kind=ProviderKind(payment.kind), wait=long_poll
            )
    except ProviderError as exc:
        logger.info("reading payment %s failed: %s", payment.pk, exc)
        retry = exc.retry_after if isinstance(exc, RateLimited) and exc.retry_after else None
        if owner is not None:
            _next_step(payment, owner, retry or caps.poll_interval_s, lease_until=lease_until)
        return None


def _pooled_connections() -> bool:
    from django.db import connection

    return bool(connection.settings_dict.get("OPTIONS", {}).get("pool"))


def _release_database_connection(request=None) -> None:
    """Hand back this thread's (or greenlet's) PostgreSQL connection as a call that may wait a
    minute leaves (an httpx request hook): hundreds of long-polls then hold hundreds of sockets to
    the provider, not hundreds of connections (or a green process's whole pool). The next query
    takes one again."""
    from django.db import connection

    if not connection.in_atomic_block:
        connection.close()


def _deadline_passed(payment: Payment) -> None:
    payment_transition(
        payment_id=payment.pk,
        to=S.UNKNOWN,
        source=EventSource.TRACKER,
        allowed_from=[S.PENDING],
        detail="The deadline passed without a final word from the provider.",
        message="Result unknown: we are checking with the provider. Do not charge again.",
        lease_owner="",
        lease_until=None,
    )


def payment_track_soon(*, payment_id: int, reason: str = "") -> None:
    """Schedule an immediate read of the payment (a webhook arrived, an action was taken)."""
    _schedule("track_payment_now", payment_id=payment_id, reason=reason[:100])


def payment_track_now(*, payment_id: int, reason: str = "") -> Payment | None:
    """One read outside the tracker's chain (it keeps its lease): a webhook is a trigger, this
    re-reads the truth from the provider and applies it."""
    payment = (
        Payment.objects.select_related("account")
        .filter(pk=payment_id, status__in=[S.PENDING, S.UNKNOWN])
        .exclude(provider_ref="")
        .first()
    )
    if payment is None:
        return None
    result = _read(payment, wait=False, owner=None)
    if result is None:
        return payment
    source = EventSource.WEBHOOK if reason.startswith("webhook") else EventSource.TRACKER
    _apply_result(payment, result, source=source)
    return _reload(payment_id)


# -- sweeper and reconciler -------------------------------------------------------------------------


def payments_sweep(*, now: datetime | None = None) -> int:
    """Restart tracking for open payments whose tracker lease expired (its worker died), and the
    starts whose worker died before it recorded anything. Returns how many were restarted."""
    now = now or timezone.now()
    restarted = 0
    expired = Q(lease_until__lt=now) | Q(
        lease_until__isnull=True, created_at__lt=now - timedelta(seconds=30)
    )
    for payment_id in Payment.objects.filter(expired, status=S.PENDING).values_list(
        "pk", flat=True
    )[:500]:
        owner = f"sweep:{uuid.uuid4().hex[:12]}"
        if (
            Payment.objects.filter(pk=payment_id, status=S.PENDING)
            .filter(expired)
            .update(lease_owner=owner, lease_until=now + timedelta(seconds=_lease_s()))
        ):
            payment_note(
                payment_id=payment_id,
                action="tracking_restarted",
                source=EventSource.SWEEPER,
                detail="Its tracker stopped (lease expired): tracking again.",
            )
            _schedule("track_payment", payment_id=payment_id, owner=owner)
            restarted += 1
    for payment in Payment.objects.filter(expired, status=S.CREATED).select_related("account")[
        :200
    ]:
        if capabilities_for(payment.provider).has_idempotency_key:
            # The same key again is safe: the provider replays the first answer.
            _schedule("start_payment", payment_id=payment.pk)
        elif payment.lease_until is not None:
            # A start may have left before its worker died: never send it again, look for it.
            if payment_transition(
                payment_id=payment.pk,
                to=S.UNKNOWN,
                source=EventSource.SWEEPER,
                allowed_from=[S.CREATED],
                detail="The worker starting it stopped; the start may have reached the provider.",
                message="Result unknown: we are checking with the provider. Do not charge again.",
                lease_owner="",
                lease_until=None,
            ):
                _schedule(
                    "track_start_look",
                    payment_id=payment.pk,
                    look_until=(now + timedelta(seconds=90)).isoformat(),
                )
        else:
            _schedule("start_payment", payment_id=payment.pk)  # never claimed: nothing was sent
        restarted += 1
    return restarted


def _backoff(age: timedelta) -> timedelta:
    """Pause between two reconciler looks at one unknown payment: grows with its age, 15 s to 10 min."""
    return timedelta(seconds=min(600.0, max(15.0, age.total_seconds() / 4)))


def payments_reconcile(*, now: datetime | None = None) -> int:
    """Beat: schedule a look at each `unknown` payment whose next look is due (its `lease_until`
    holds the time of the next look). Returns how many were scheduled."""
    now = now or timezone.now()
    due = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    scheduled = 0
    for payment in Payment.objects.filter(due, status=S.UNKNOWN).only("pk", "created_at")[:500]:
        wait = _backoff(now - payment.created_at)
        if (
            Payment.objects.filter(pk=payment.pk, status=S.UNKNOWN)
            .filter(due)
            .update(lease_owner="reconciler", lease_until=now + wait)
        ):
            _schedule("reconcile_payment", payment_id=payment.pk)
            scheduled += 1
    return scheduled


def payment_reconcile(*, payment_id: int) -> Payment | None:
    """Ask the provider about one `unknown` payment: by its reference when we have one, else by our
    order id (a look, never a start); a referenced refund whose answer was lost is sent again with
    its idempotency key where the provider has one (it replays). A final word settles it; after `PAYMENTS_ATTENTION_AFTER_S`
    without one it is flagged `needs_attention` with the steps to settle it by hand."""
    payment = (
        Payment.objects.select_related("account", "terminal", "parent")
        .filter(pk=payment_id, status=S.UNKNOWN)
        .first()
    )
    if payment is None:
        return None
    result: PaymentResult | None = None
    try:
        with _adapter(payment) as adapter:
            if payment.provider_ref:
                result = adapter.get_payment(payment.provider_ref, kind=ProviderKind(payment.kind))
            elif payment.kind == PaymentKind.REFUND and payment.parent_id:
                if adapter.capabilities.has_idempotency_key:
                    # A referenced refund whose answer was lost: the same refund with the same key,
                    # which the provider replays (or makes once, if the first never arrived).
                    from payments.actions import refund_request

                    result = adapter.refund(refund_request(payment))
                # Without a key there is no look-up of a refund by our reference: it stays
                # unknown (counted as running, so never refunded twice) until a person settles it.
            elif payment.terminal_id and not adapter.capabilities.has_idempotency_key:
                # A look by our order id. With an idempotency key the adapters "look" by sending
                # the start again with the key: the reconciler never sends a start.
                result = adapter.find_started_payment(start_request(payment))
            deadline = adapter.deadline_for(adapter.now(), _timeout_s(payment))
    except ProviderError as exc:
        logger.info("reconciling payment %s: %s", payment_id, exc)
        result = None
    if result is not None:
        state = PaymentState(result.state)
        if state == PaymentState.PENDING and not payment.provider_ref:
            _accepted(payment, result, deadline=deadline, from_status=S.UNKNOWN)
            return _reload(payment_id)
        if _apply_result(payment, result, source=EventSource.RECONCILER):
            return _reload(payment_id)
    if timezone.now() - payment.created_at >= _attention_after():
        payment_flag_attention(payment)
    return _reload(payment_id)


def attention_steps(payment: Payment) -> str:
    return (
        f"We could not learn from {payment.get_provider_display()} whether payment "
        f"{payment.reference} took the money. Look it up in the provider's portal by the order id "
        f"{payment.reference}: if it was approved, keep it (or refund it from there); if it is not "
        "there, take the payment again. Until then the terminal stays locked."
    )[:500]


def payment_flag_attention(payment: Payment) -> bool:
    """Flag an unknown payment for a person, once, with the steps to settle it by hand."""
    flagged = Payment.objects.filter(pk=payment.pk, status=S.UNKNOWN, needs_attention=False).update(
        needs_attention=True, attention_reason=attention_steps(payment)
    )
    if flagged:
        payment_note(
            payment_id=payment.pk,
            action="needs_attention",
            source=EventSource.RECONCILER,
            detail=attention_steps(payment),
        )
    return bool(flagged)

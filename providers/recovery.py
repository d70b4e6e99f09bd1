"""Starting a payment exactly once when answers get lost on the wire, without ever sleeping.

The payments service creates its row and idempotency key first, then calls `start_exactly_once`
(one short call, in a worker). What may be sent again depends on what we know about the failure:

* The provider answered that it did not take the request (a refusal: offline, busy, 429, 503),
  or the request provably never left us (connection refused, name or TLS failure: the error's
  ``sent`` is False): nothing ran, the error is raised as it is, and the caller may start again.
* The exchange broke after sending (read or write timeout, reset, half-read answer, a gateway
  5xx): the start may have run, or may still be on its way and land later. An earlier version
  looked the start up once here and, finding nothing yet, sent it again: when USAePay's or
  Integra's first request stalled past our read timeout and landed after the look-up, the
  customer was charged twice. So:

  - Providers with an idempotency key (Payroc, Klearly, KOMOJU) get the same start again with
    the same key: the provider replays the first answer, or starts it once.
  - Providers without one (USAePay, Integra) are never sent it again. We look it up by our order
    id once; if it is not listed (yet), `StartInFlight` is raised with when to look again
    (``retry_after``) and until when (``look_until``). The caller keeps looking with
    `look_for_start`, one short call per look, scheduled by the caller; a start that never
    appears leaves the payment ``unknown`` for the reconciler, never started a second time.

Nothing here sleeps or loops on time: pauses are the caller's (a countdown on a Celery task).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from providers.base import PaymentResult, ProviderAdapter, StartRequest
from providers.errors import (
    OutcomeUnknown,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    StartInFlight,
)

# Sends of one start to a provider with an idempotency key, back to back (same key every time).
DEFAULT_ATTEMPTS = 3

# How long after we gave up on a start's answer it may still appear at the provider: the time the
# provider may take to process a request it received, then its own request timeout. USAePay and
# Integra document neither (OUR ASSUMPTION): our own read timeout (30 s) twice over, plus margin.
IN_FLIGHT_WINDOW = timedelta(seconds=90)


def nothing_ran(exc: ProviderError) -> bool:
    """Whether the provider provably did not take the request that failed with ``exc``.

    True for a refusal (a permanent error: offline, busy, invalid…), for a request that never
    reached the provider (``sent`` False), and for an explicit answer that the provider would not
    take it now (429, 503: ``RateLimited``/``ProviderUnavailable`` with an HTTP status). False for
    everything else, above all ``OutcomeUnknown``: the request may have run or be in flight.
    """
    if isinstance(exc, OutcomeUnknown):
        return False
    if exc.permanent or not exc.sent:
        return True
    return isinstance(exc, RateLimited | ProviderUnavailable) and exc.http_status is not None


def start_exactly_once(
    provider: ProviderAdapter,
    req: StartRequest,
    *,
    attempts: int = DEFAULT_ATTEMPTS,
    in_flight_window: timedelta = IN_FLIGHT_WINDOW,
) -> PaymentResult:
    """Start ``req`` on the terminal at most once, in one short call that never sleeps.

    Returns the provider's result for the one start (normally ``pending``). Raises:

    * the provider's error when nothing ran (see `nothing_ran`): a permanent refusal
      (TerminalOffline, TerminalBusy, InvalidRequest…), or a transient one (RateLimited with
      its ``retry_after``, ProviderUnavailable) after which the caller may start again later;
    * `StartInFlight` (an OutcomeUnknown) when the start may have reached the provider and its
      answer was lost: the caller must look it up (`look_for_start`) after ``retry_after``
      seconds until ``look_until``, and never call this again for the same payment.
    """
    keyed = provider.capabilities.has_idempotency_key
    lost: ProviderError | None = None
    for _ in range(max(1, attempts) if keyed else 1):
        try:
            return provider.start_payment(req)
        except ProviderError as exc:
            if lost is None and nothing_ran(exc):
                raise
            # After a lost answer a refusal proves nothing about the first send: stop sending.
            resend = lost is None or isinstance(exc, OutcomeUnknown)
            lost = exc  # keyed: the same key again is safe; unkeyed: never send it again
            if not resend:
                break
    if not keyed:
        # Looking is not sending: the start may already be listed (its answer alone was lost).
        try:
            found = provider.find_started_payment(req)
        except OutcomeUnknown:
            found = None
        if found is not None:
            return found
    raise _in_flight(provider, provider.now() + in_flight_window, after=lost) from lost


def look_for_start(
    provider: ProviderAdapter, req: StartRequest, *, look_until: datetime
) -> PaymentResult:
    """One look for a start after `StartInFlight` (by our order id; a provider with an idempotency
    key is sent the start again with the same key, which is safe).

    Returns the start once the provider shows it. Raises `StartInFlight` (look again after its
    ``retry_after``) while it is not shown and ``look_until`` has not passed, and a plain
    OutcomeUnknown once it has: the payment then stays ``unknown`` for the reconciler, which
    keeps asking; it is never started again.
    """
    cause: ProviderError | None = None
    try:
        found = provider.find_started_payment(req)
    except OutcomeUnknown as exc:
        found, cause = None, exc
    if found is not None:
        return found
    if provider.now() < look_until:
        raise _in_flight(provider, look_until, after=cause) from cause
    raise OutcomeUnknown(
        f"{provider.api_name} never showed the payment we may have started: it stays unknown "
        "until the provider can tell. Do not charge again."
    ) from cause


def _in_flight(
    provider: ProviderAdapter, look_until: datetime, *, after: ProviderError | None
) -> StartInFlight:
    retry_after = provider.capabilities.poll_interval_s
    if isinstance(after, RateLimited) and after.retry_after:
        retry_after = max(retry_after, after.retry_after)
    return StartInFlight(
        f"The answer from {provider.api_name} was lost; the payment may still reach the "
        "terminal, so we keep looking it up and never start it twice.",
        retry_after=retry_after,
        look_until=look_until,
    )

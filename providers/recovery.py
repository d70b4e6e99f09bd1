"""Starting a payment exactly once when answers get lost on the wire.

The payments service creates its row and idempotency key first, then calls `start_exactly_once`.
Providers with an idempotency key (Payroc, Klearly, KOMOJU) replay their first answer when the same
start is sent again with the same key, so a retry is safe. Providers without one (USAePay, Integra)
could run a second charge, so after any failure that may have reached the provider we ask it whether
the start exists before sending it again; if it cannot tell, the outcome is unknown and the caller
must park the payment in `unknown` for reconciliation, never start it a second time.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from providers.base import PaymentResult, ProviderAdapter, StartRequest
from providers.errors import OutcomeUnknown, ProviderError, RateLimited

DEFAULT_ATTEMPTS = 3


def start_exactly_once(
    provider: ProviderAdapter,
    req: StartRequest,
    *,
    attempts: int = DEFAULT_ATTEMPTS,
    backoff_s: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> PaymentResult:
    """Start `req` on the terminal at most once, retrying transient failures.

    Returns the provider's result for the one start. Raises a permanent ProviderError when the
    provider refused it (nothing ran). Raises OutcomeUnknown when the provider may have started it
    and cannot tell us, or when every attempt failed transiently (a 5xx may follow a processed
    request): the payment is then `unknown`, resolved later by asking again, never by guessing.
    """
    keyed = provider.capabilities.has_idempotency_key
    last_error: ProviderError | None = None
    for attempt in range(attempts):
        if attempt:
            delay = (
                last_error.retry_after
                if isinstance(last_error, RateLimited) and last_error.retry_after
                else backoff_s * 2 ** (attempt - 1)
            )
            sleep(delay)
            if not keyed:
                # The previous attempt may have reached the provider: look before sending again.
                found = provider.find_started_payment(
                    req
                )  # raises OutcomeUnknown if it cannot tell
                if found is not None:
                    return found
        try:
            return provider.start_payment(req)
        except ProviderError as exc:
            if exc.permanent:
                raise
            last_error = exc
    if not keyed:
        found = provider.find_started_payment(req)
        if found is not None:
            return found
        raise last_error  # the provider provably has no such start: nothing ran on the terminal
    raise OutcomeUnknown(
        "The provider did not confirm whether the payment started."
    ) from last_error

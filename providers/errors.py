"""The error taxonomy every provider adapter raises.

Adapters translate their provider's HTTP errors into these classes in one
``_raise_for_response()`` each, so services decide what to do from the class
and ``permanent`` alone, never from a provider's error code.

``permanent``: repeating the same call unchanged will fail the same way; stop and
tell the user (a person may have to act first: charge the terminal, fix the
credentials). Transient: the same call may succeed later, so a task may retry
it (with the same idempotency key).

``sent``: whether the request may have reached the provider. It is False only when
the failure provably came before anything was sent (connection refused, name lookup
or TLS handshake failed, connect or pool timeout): such a request may be sent again
even to a provider without an idempotency key. After a read or write timeout, a
reset or a half-read answer the request may be in flight, so ``sent`` stays True
and a money-moving call raises ``OutcomeUnknown`` (see ``providers.recovery``).

``message`` is safe to show to a merchant and to log. It never contains secrets,
tokens or auth headers: adapters build it from the provider's error text after
scrubbing the account's secrets out of it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Self


class ProviderError(Exception):
    """A provider call did not produce the result asked for."""

    code: str = "provider_error"
    permanent: bool = False
    default_message: str = "The payment provider reported an error."

    def __init__(
        self,
        message: str | None = None,
        *,
        provider_code: str | int | None = None,
        http_status: int | None = None,
        permanent: bool | None = None,
        sent: bool = True,
    ) -> None:
        self.message = message or self.default_message
        self.provider_code = provider_code
        self.http_status = http_status
        self.sent = sent
        if permanent is not None:
            self.permanent = permanent
        super().__init__(self.message)

    @classmethod
    def replacing(cls, cause: ProviderError, message: str) -> Self:
        """This class with ``message`` in place of ``cause``, keeping its provider code and status.

        For an adapter that knows better what a refusal means (an InvalidRequest to an
        abort is NotAbortable); raise it ``from cause``.
        """
        return cls(
            message,
            provider_code=cause.provider_code,
            http_status=cause.http_status,
            sent=cause.sent,
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, message={self.message!r}, "
            f"provider_code={self.provider_code!r}, http_status={self.http_status!r}, "
            f"permanent={self.permanent!r}, sent={self.sent!r})"
        )


class AuthError(ProviderError):
    """The provider refused our credentials (wrong key, PIN, token or IP allow-list)."""

    code = "auth_failed"
    permanent = True
    default_message = "The payment provider refused our credentials."


class TerminalOffline(ProviderError):
    """The terminal is not connected; nothing was started on it."""

    code = "terminal_offline"
    permanent = True
    default_message = "The terminal is offline. Check that it is switched on and connected."


class TerminalBusy(ProviderError):
    """The terminal is processing another transaction; nothing was started on it."""

    code = "terminal_busy"
    permanent = True
    default_message = (
        "The terminal is busy with another transaction. Wait until it finishes and try again."
    )


class BatteryLow(ProviderError):
    """The terminal refused the transaction because its battery is too low."""

    code = "battery_low"
    permanent = True
    default_message = "Terminal battery too low; charge it before taking payments."


class PaymentTimedOut(ProviderError):
    """The provider gave up waiting for the customer; the request is over."""

    code = "timed_out"
    permanent = True
    default_message = "The payment request timed out before the customer completed it."


class NotAbortable(ProviderError):
    """The provider refused to abort because the payment is no longer in progress."""

    code = "not_abortable"
    permanent = True
    default_message = "The payment can no longer be aborted; it has already finished."


class InvalidRequest(ProviderError):
    """The provider rejected the request as malformed or not allowed."""

    code = "invalid_request"
    permanent = True
    default_message = "The payment provider rejected the request."


class NotFound(ProviderError):
    """The terminal, payment or transaction does not exist at the provider."""

    code = "not_found"
    permanent = True
    default_message = "The payment provider does not know this object."


class UnsupportedOperation(ProviderError):
    """The provider has no API for this operation (see its Capabilities)."""

    code = "unsupported"
    permanent = True
    default_message = "This payment provider does not support this operation."


class InvalidSignature(ProviderError):
    """A webhook's signature does not match its body: forged, altered or unsigned."""

    code = "invalid_signature"
    permanent = True
    default_message = "The webhook signature is missing or does not match."


class RateLimited(ProviderError):
    """The credential's request budget is used up; retry after ``retry_after`` seconds."""

    code = "rate_limited"
    permanent = False
    default_message = "Too many requests to the payment provider; slowing down."

    def __init__(self, message: str | None = None, *, retry_after: float | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ProviderUnavailable(ProviderError):
    """The provider could not be reached or failed, and the request provably did nothing.

    Connect errors and timeouts before the request was sent (``sent`` False), a 503
    answer (the provider refused to take the request), other 5xx answers to calls that
    move no money, and read failures on calls that move no money.
    """

    code = "provider_unavailable"
    permanent = False
    default_message = "The payment provider is not reachable right now."


class UnexpectedResponse(ProviderError):
    """The provider answered with a body we cannot interpret."""

    code = "unexpected_response"
    permanent = False
    default_message = "The payment provider sent an answer we could not understand."


class OutcomeUnknown(ProviderError):
    """A money-moving request may or may not have been processed.

    Raised when the request was (or may have been) sent but its answer was lost:
    read or write timeout, dropped connection, a half-read answer, or a gateway
    failure (5xx other than 503) after sending. The request may still be in flight
    and land later. The payment must go to ``unknown`` and be reconciled, never be
    started again blindly.
    """

    code = "outcome_unknown"
    permanent = False
    default_message = (
        "We could not tell whether the provider processed the request; checking before any retry."
    )


class StartInFlight(OutcomeUnknown):
    """A payment start whose answer was lost and which may still land at the provider.

    Raised by ``providers.recovery`` instead of sending the start again: the caller
    looks it up by our order id (``recovery.look_for_start``) after ``retry_after``
    seconds, and keeps looking until ``look_until`` (when the provider would have
    shown it: its processing time, then its own request timeout). If it never
    appears, the payment stays ``unknown`` for the reconciler; it is never started a
    second time. Nothing here sleeps: pausing is the caller's job.
    """

    code = "start_in_flight"
    default_message = (
        "The payment may still be on its way to the terminal; we keep looking it up and "
        "never start it twice."
    )

    def __init__(
        self,
        message: str | None = None,
        *,
        retry_after: float,
        look_until: datetime,
        **kwargs,
    ) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after
        self.look_until = look_until

"""End-to-end check of one provider account: auth → list terminals → a sale followed to its end →
a second sale aborted while pending → a refund of the first. Used only by `manage.py provider_check`.

This is the one place that waits in a loop (`follow_to_final`, `start_and_wait`): a person at a
command line waits for it. Web requests and workers never import it; there a payment is followed by
short scheduled tasks (see providers/recovery.py and providers/base.py).

In the sandbox the outcomes are picked by magic amounts (see the README): x.01 approves, x.00 waits
for the customer, which is what the abort step needs.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from providers.base import (
    PaymentKind,
    PaymentResult,
    PaymentState,
    ProviderAdapter,
    RefundRequest,
    StartRequest,
)
from providers.errors import ProviderError, StartInFlight
from providers.recovery import look_for_start, start_exactly_once

APPROVE_AMOUNT_MINOR = 1001  # sandbox magic: ends in 01, approved without a click
WAIT_AMOUNT_MINOR = 1000  # sandbox magic: ends in 00, waits for the customer
CHECK_TIMEOUT_S = 60


@dataclass
class StepResult:
    name: str
    passed: bool
    detail: str


@dataclass
class CheckReport:
    steps: list[StepResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.steps) and all(step.passed for step in self.steps)


def _reference() -> str:
    return "chk-" + uuid.uuid4().hex[:16]


def follow_to_final(
    provider: ProviderAdapter, result: PaymentResult, *, kind: PaymentKind, timeout_s: int
) -> PaymentResult:
    """Poll (or long-poll) until final, or authorized (waiting for our capture), for the terminal's
    whole timeout plus grace: giving up early is how a POS charges a customer twice (USAePay's
    timeout handling)."""
    deadline = provider.deadline_for(datetime.now(UTC), timeout_s)
    long_poll = provider.capabilities.status_channel == "long_poll"
    while not _settled(result) and datetime.now(UTC) < deadline:
        result = provider.get_payment(result.provider_ref, kind=kind, wait=True)
        if not _settled(result) and not long_poll:
            time.sleep(provider.capabilities.poll_interval_s)
    return result


def start_and_wait(provider: ProviderAdapter, req: StartRequest) -> PaymentResult:
    """`start_exactly_once`, then, if the start may still be in flight, look it up by its order id
    every ``retry_after`` seconds until the provider shows it; never a second start. Raises
    OutcomeUnknown if it never appears."""
    try:
        return start_exactly_once(provider, req)
    except StartInFlight as in_flight:
        look_until = in_flight.look_until
        retry_after = in_flight.retry_after
    while True:
        time.sleep(retry_after)
        try:
            return look_for_start(provider, req, look_until=look_until)
        except StartInFlight as in_flight:
            retry_after = in_flight.retry_after


def _settled(result: PaymentResult) -> bool:
    return result.is_final or result.state == PaymentState.AUTHORIZED


def run_check(
    provider: ProviderAdapter, *, currency: str = "USD", money: bool = True, on_step=None
) -> CheckReport:
    report = CheckReport()

    def record(name: str, passed: bool, detail: str) -> bool:
        step = StepResult(name, passed, detail)
        report.steps.append(step)
        if on_step:
            on_step(step)
        return passed

    terminals = None
    try:
        token = provider.obtain_token()
        if token is not None:
            minutes = int((token.expires_at - datetime.now(UTC)).total_seconds() // 60)
            record("auth", True, f"access token obtained, valid for {minutes} min")
        else:
            terminals = provider.list_terminals()
            record("auth", True, "credentials accepted")
    except ProviderError as exc:
        record("auth", False, exc.message)
        return report

    try:
        terminals = terminals if terminals is not None else provider.list_terminals()
    except ProviderError as exc:
        record("list terminals", False, exc.message)
        return report
    usable = [t for t in terminals if t.online is not False]
    if not record(
        "list terminals",
        bool(usable),
        f"{len(terminals)} terminal(s), {len(usable)} usable"
        + (f"; using {usable[0].ref}" if usable else ""),
    ):
        return report
    if not money:
        return report
    terminal = usable[0]

    sale = None
    try:
        started = start_and_wait(
            provider,
            StartRequest(
                kind=PaymentKind.SALE,
                terminal_ref=terminal.ref,
                amount_minor=APPROVE_AMOUNT_MINOR,
                currency=currency,
                idempotency_key=str(uuid.uuid4()),
                reference=_reference(),
                description="provider_check sale",
                timeout_s=CHECK_TIMEOUT_S,
            ),
        )
        sale = follow_to_final(provider, started, kind=PaymentKind.SALE, timeout_s=CHECK_TIMEOUT_S)
        if sale.state == PaymentState.AUTHORIZED:
            # MobilePay reserves a sale; the POS captures it (Integra's direct flow).
            sale = provider.capture(
                sale.transaction_ref or sale.provider_ref, idempotency_key=str(uuid.uuid4())
            )
        record(
            "sale",
            sale.state == PaymentState.APPROVED,
            f"{sale.state} ({sale.raw_status}) {sale.provider_ref}",
        )
    except ProviderError as exc:
        record("sale", False, exc.message)

    try:
        pending = start_and_wait(
            provider,
            StartRequest(
                kind=PaymentKind.SALE,
                terminal_ref=terminal.ref,
                amount_minor=WAIT_AMOUNT_MINOR,
                currency=currency,
                idempotency_key=str(uuid.uuid4()),
                reference=_reference(),
                description="provider_check abort",
                timeout_s=CHECK_TIMEOUT_S,
            ),
        )
        provider.abort_payment(pending.provider_ref, kind=PaymentKind.SALE)
        aborted = follow_to_final(
            provider, pending, kind=PaymentKind.SALE, timeout_s=CHECK_TIMEOUT_S
        )
        record(
            "abort",
            aborted.state == PaymentState.CANCELED,
            f"{aborted.state} ({aborted.raw_status})",
        )
    except ProviderError as exc:
        record("abort", False, exc.message)

    if sale is None or sale.state != PaymentState.APPROVED:
        record("refund", False, "no approved sale to refund")
        return report
    try:
        if provider.capabilities.refund_mode in ("referenced", "both"):
            refund = provider.refund(
                RefundRequest(
                    original_transaction_ref=sale.transaction_ref,
                    amount_minor=APPROVE_AMOUNT_MINOR,
                    currency=currency,
                    idempotency_key=str(uuid.uuid4()),
                    reference=_reference(),
                    description="provider_check refund",
                )
            )
            # Klearly runs a referenced refund on the original terminal: follow it like a payment.
            refund = follow_to_final(
                provider, refund, kind=PaymentKind.REFUND, timeout_s=CHECK_TIMEOUT_S
            )
        else:
            started = start_and_wait(
                provider,
                StartRequest(
                    kind=PaymentKind.REFUND,
                    terminal_ref=terminal.ref,
                    amount_minor=APPROVE_AMOUNT_MINOR,
                    currency=currency,
                    idempotency_key=str(uuid.uuid4()),
                    reference=_reference(),
                    description="provider_check refund",
                    timeout_s=CHECK_TIMEOUT_S,
                ),
            )
            refund = follow_to_final(
                provider, started, kind=PaymentKind.REFUND, timeout_s=CHECK_TIMEOUT_S
            )
        record(
            "refund", refund.state == PaymentState.APPROVED, f"{refund.state} ({refund.raw_status})"
        )
    except ProviderError as exc:
        record("refund", False, exc.message)
    return report


__all__ = ["run_check", "follow_to_final", "start_and_wait", "CheckReport", "StepResult"]

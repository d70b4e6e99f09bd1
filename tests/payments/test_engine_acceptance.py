"""The acceptance list of the money engine, over real HTTP against each provider's emulator (the live
server) with a real Celery worker, for every provider that has the capability a case needs:

* the first start stalled past our read timeout by the sandbox's latency switch, then landing:
  exactly one charge, 20 runs per provider (20 terminals of one account at once);
* the provider's own timeout ends the payment timed out;
* an abort; an abort too late, then the one-click refund, linked to its sale (Klearly: on the
  sale's terminal);
* capture in part and in full, and the void of an authorisation; a refund above what was captured
  is refused by the service and nothing reaches the provider.

The webhook switches and the worker killed with SIGKILL are in test_engine_webhooks.py and
test_engine_sigkill.py."""

from __future__ import annotations

import contextlib
import time

import pytest
from django.utils import timezone

from dashboard.models import Role
from payments import actions
from payments.engine import payment_start_execute, payments_reconcile
from payments.models import Payment, PaymentStatus
from payments.services import InvalidPayment
from providers.registry import capabilities_for
from sandbox.models import CanceledBy, SandboxPayment
from sandbox.models import PaymentStatus as EmulatedStatus
from sandbox.scenarios import APPROVE
from sandbox.services import device_set_switches, payment_decide, sandbox_device_ensure
from terminals.models import Terminal, TerminalStatus
from tests.contract.conftest import ACCOUNTS
from tests.payments.engine_support import PROVIDERS, Desk, settled, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


CAPTURES = [p for p in PROVIDERS if capabilities_for(p).needs_capture]
PARTIAL_CAPTURES = [p for p in CAPTURES if capabilities_for(p).partial_capture]
# A MobilePay payment the customer paid is Reserved, and aborting it cancels the reservation: never
# too late (the engine captures a reserved sale itself, after which there is nothing to abort).
TOO_LATE = [p for p in PROVIDERS if p != "mobilepay"]


@contextlib.contextmanager
def running_worker(concurrency: int = 4):
    from celery.contrib.testing.worker import start_worker

    from config.celery import app

    with start_worker(
        app,
        pool="threads",
        concurrency=concurrency,
        queues=["celery", "tracking"],
        perform_ping_check=False,
        loglevel="WARNING",
        shutdown_timeout=30,
    ) as running:
        yield running


def emulated(desk: Desk, payment: Payment) -> SandboxPayment:
    """The emulator's sale or authorisation for `payment` (a referenced refund may carry the same
    order id; a MobilePay sale is a reservation, kind auth, at the emulator)."""
    return SandboxPayment.objects.exclude(kind="refund").get(
        device__account=desk.env.sandbox_account, order_ref=payment.reference
    )


def explain(payments: list[Payment]) -> str:
    lines = []
    for payment in payments:
        events = [(e.to_status or e.action, e.source, e.detail[:120]) for e in payment.events.all()]
        lines.append(f"{payment.reference} {payment.status} {payment.message!r} {events}")
    return "\n".join(lines)


def state_changes(payment: Payment) -> list[str]:
    return list(payment.events.exclude(to_status="").values_list("to_status", flat=True))


# -- 1. the first start stalled past the read timeout, then landing ---------------------------------

# The issue asks for 20 runs per provider. They run at once, one per terminal of the provider's
# account (the one-open-payment-per-terminal rule allows nothing else), so the cost is about one
# run: the stall, two read timeouts and a look.
STALL_RUNS = 20
READ_TIMEOUT_S = 0.5
# Longer than what a provider without an idempotency key needs to give up on the start and on its
# first look (two read timeouts) plus the pause before its next look (poll_interval_s, 2 s): that
# next look answers "not listed" while the first start is still held, the case that charged twice.
STALL_MS = 4000


class Beat:
    """What beat runs for the payments, at most once a second while a test waits: the reconciler
    settles payments left unknown by a lost answer (under load a short read timeout loses more)."""

    def __init__(self) -> None:
        self.last = 0.0

    def tick(self) -> None:
        if time.monotonic() - self.last >= 1.0:
            self.last = time.monotonic()
            payments_reconcile()


def extra_devices(desk: Desk, count: int):
    """`count` more emulated devices of the desk's account, each with its dashboard terminal."""
    spec = ACCOUNTS[desk.provider]
    first = spec["devices"][0]
    lanes = []
    for n in range(count):
        ref = f"{first[:-3]}{n + 100:03d}"
        serial = spec.get("serials", spec["devices"])[0]
        serial = f"{serial[:-3]}{n + 100:03d}"
        device = sandbox_device_ensure(
            account=desk.env.sandbox_account,
            ref=ref,
            name=f"Lane {n + 100}",
            model="MP200",
            serial=serial,
        )
        terminal = Terminal.objects.create(
            account=desk.account,
            merchant_id=desk.account.merchant_id,
            provider=desk.provider,
            store=desk.tenant.store,
            provider_ref=ref,
            name=f"{desk.provider} lane {n + 100}",
            status=TerminalStatus.ONLINE,
            status_checked_at=timezone.now(),
        )
        lanes.append((device, terminal))
    return lanes


@pytest.fixture(params=PROVIDERS)
def desk(request, sandbox_settings, tenant_a):
    return Desk(request.param, tenant_a)


def test_twenty_first_starts_stalled_past_the_read_timeout_then_landing_are_one_charge_each(
    desk, broker, settings
):
    settings.PAYMENTS_READ_TIMEOUT_S = READ_TIMEOUT_S
    lanes = extra_devices(desk, STALL_RUNS)
    for device, _ in lanes:
        device_set_switches(device=device, latency_ms=STALL_MS)
    payments = [desk.take(1, terminal=terminal) for _, terminal in lanes]
    stalled = {payment.pk: device for payment, (device, _) in zip(payments, lanes, strict=True)}

    with running_worker(concurrency=8):
        beat = Beat()

        def all_approved():
            # Once our client gave up on a start (unknown, or pending after a keyed retry), the
            # emulator answers that terminal at once, while the first start is still held.
            beat.tick()  # a later call that times out too (a capture) leaves it to the reconciler
            for payment in payments:
                payment.refresh_from_db()
                if payment.pk in stalled and payment.status != PaymentStatus.CREATED:
                    device_set_switches(device=stalled.pop(payment.pk), latency_ms=0)
            return all(p.status == PaymentStatus.APPROVED for p in payments)

        try:
            wait_until(all_approved, timeout=60 + 6 * STALL_RUNS, interval=0.05)
        except pytest.fail.Exception:
            pytest.fail(explain([p for p in payments if p.status != PaymentStatus.APPROVED]))

    for payment in payments:
        assert desk.charges(payment) == 1, payment.reference
        assert desk.starts(payment) == 1, payment.reference
        assert state_changes(payment).count("approved") == 1
    if not capabilities_for(desk.provider).has_idempotency_key:
        # Each start landed after we had given up on it: the payment was unknown before the
        # emulator recorded the start, and was never sent again.
        for payment in payments:
            unknown = payment.events.filter(to_status="unknown").earliest("created_at")
            assert unknown.created_at < emulated(desk, payment).created_at


# -- 2. the provider's own timeout -----------------------------------------------------------------

# The emulator setting that makes each provider's terminal give up on the customer; USAePay ends a
# request at the timeout we send (tested in test_engine_recovery.py).
TERMINAL_TIMEOUTS = {
    "klearly": "SANDBOX_KLEARLY_TIMEOUT_S",
    "komoju": "SANDBOX_KOMOJU_TIMEOUT_S",
    "mobilepay": "SANDBOX_MOBILEPAY_TIMEOUT_S",
}


@pytest.mark.parametrize("desk", list(TERMINAL_TIMEOUTS), indirect=True)
def test_the_terminal_giving_up_on_the_customer_ends_the_payment_timed_out(desk, worker, settings):
    setattr(settings, TERMINAL_TIMEOUTS[desk.provider], 2)

    payment = desk.take(4)

    settled(payment, PaymentStatus.TIMED_OUT, PaymentStatus.UNKNOWN, timeout=60)
    assert payment.status == PaymentStatus.TIMED_OUT
    assert payment.message == "Timed out: nobody presented a card."
    assert not payment.occupies_terminal
    assert desk.charges(payment) == 0


@pytest.mark.parametrize("desk", ["payroc"], indirect=True)
def test_a_payroc_device_giving_up_on_the_card_fails_the_payment_with_its_reason(
    desk, worker, settings
):
    # Payroc has no timed-out word: the instruction ends `failure` with the device's message.
    settings.SANDBOX_PAYROC_INSTRUCTION_TIMEOUT_S = 2

    payment = desk.take(4)

    settled(payment, PaymentStatus.FAILED, PaymentStatus.UNKNOWN, timeout=60)
    assert payment.status == PaymentStatus.FAILED
    assert "timed out" in payment.message
    assert not payment.occupies_terminal
    assert desk.charges(payment) == 0


# -- 3. abort, and abort too late then the one-click refund ---------------------------------------


def test_an_abort_while_the_customer_decides_cancels_the_payment_on_the_terminal(desk, worker):
    payment = desk.take(0)  # waits for the customer
    settled(payment, PaymentStatus.PENDING)

    result = actions.payment_abort(payment=payment, user=desk.tenant.users[Role.CASHIER])

    assert result.outcome == actions.AbortOutcome.REQUESTED
    settled(payment, PaymentStatus.CANCELED)
    assert payment.message == "Aborted."
    assert not payment.occupies_terminal
    at_terminal = emulated(desk, payment)
    assert at_terminal.status == EmulatedStatus.CANCELED
    assert at_terminal.canceled_by == CanceledBy.MERCHANT
    assert desk.charges(payment) == 0
    assert state_changes(payment) == ["created", "pending", "canceled"]


def test_an_abort_while_the_start_is_still_on_the_wire_waits_for_it_then_cancels_it(
    desk, worker, settings
):
    settings.PAYMENTS_READ_TIMEOUT_S = READ_TIMEOUT_S
    device_set_switches(device=desk.device, latency_ms=2000)
    payment = desk.take(0)
    # The worker has sent the start (it holds the start's lease) and waits for the answer.
    wait_until(lambda: Payment.objects.get(pk=payment.pk).lease_owner.startswith("start:"))

    result = actions.payment_abort(payment=payment, user=desk.tenant.users[Role.CASHIER])

    # Not "canceled before it was sent": it may be on the terminal's screen any moment now.
    assert result.outcome == actions.AbortOutcome.REQUESTED
    wait_until(lambda: Payment.objects.get(pk=payment.pk).status != PaymentStatus.CREATED)
    device_set_switches(device=desk.device, latency_ms=0)
    settled(payment, PaymentStatus.CANCELED, timeout=60)
    at_terminal = emulated(desk, payment)
    assert at_terminal.status == EmulatedStatus.CANCELED
    assert at_terminal.canceled_by == CanceledBy.MERCHANT
    assert desk.starts(payment) == 1
    assert desk.charges(payment) == 0
    assert not payment.events.filter(to_status="failed").exists()


@pytest.mark.parametrize("desk", ["komoju"], indirect=True)
def test_aborting_a_komoju_session_never_pushed_to_the_terminal_says_so(desk, broker):
    from credentials.services import provider_for
    from payments.engine import start_request
    from payments.state import payment_transition
    from providers.base import PaymentKind, PaymentState

    payment = desk.take(0)
    with provider_for(desk.account) as adapter:
        # The session exists at KOMOJU, payable, but its push never reached the terminal.
        session = adapter._create_session(start_request(payment))
    assert payment_transition(
        payment_id=payment.pk, to=PaymentStatus.PENDING, source="worker", provider_ref=session["id"]
    )

    result = actions.payment_abort_execute(payment_id=payment.pk)

    assert result.outcome == actions.AbortOutcome.ABORTED
    assert "never reached the terminal" in result.message
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CANCELED
    assert payment.message == result.message
    assert "probably" not in payment.message
    with provider_for(desk.account) as adapter:
        assert adapter.get_payment(session["id"], kind=PaymentKind.SALE).state == (
            PaymentState.CANCELED
        )


@pytest.mark.parametrize("desk", TOO_LATE, indirect=True)
def test_an_abort_too_late_approves_the_sale_and_its_one_click_refund_is_approved_and_linked(
    desk, broker
):
    sale = desk.take(0)
    payment_start_execute(payment_id=sale.pk)  # the start, as its worker runs it ...
    broker.purge()  # ... and its tracker has not read the terminal yet
    assert payment_decide(payment=emulated(desk, sale), outcome=APPROVE)  # the customer paid
    manager = desk.tenant.users[Role.MERCHANT_MANAGER]

    requested = actions.payment_abort(payment=sale, user=desk.tenant.users[Role.CASHIER])

    assert requested.outcome == actions.AbortOutcome.REQUESTED
    with running_worker():
        settled(sale, PaymentStatus.APPROVED)
        assert sale.message.startswith("Too late to abort: the payment went through.")
        assert sale.captured_minor == sale.amount_minor
        assert actions.refund_preflight(sale, manager) is None
        # The one-click refund of the payment page: everything that is left, in one go.
        refund = actions.payment_refund(sale=sale, user=manager, amount_minor=sale.refundable_minor)
        if desk.provider == "klearly":
            # Klearly runs the refund on the sale's terminal: the customer presents the card.
            on_terminal = wait_until(
                lambda: SandboxPayment.objects.filter(
                    original=emulated(desk, sale), kind="refund"
                ).first()
            )
            settled(refund, PaymentStatus.PENDING)
            assert payment_decide(payment=on_terminal, outcome=APPROVE)
        settled(refund, PaymentStatus.APPROVED, timeout=30)

    sale.refresh_from_db()
    assert refund.parent_id == sale.pk and refund.kind == "refund"
    assert refund.amount_minor == sale.amount_minor
    assert sale.refunded_minor == sale.amount_minor
    assert sale.status == PaymentStatus.APPROVED
    refunds = SandboxPayment.objects.filter(original=emulated(desk, sale), kind="refund")
    assert refunds.filter(status=EmulatedStatus.APPROVED).count() == 1
    if desk.provider == "klearly":
        # Klearly runs a refund on the terminal of the original sale.
        assert refunds.get().device_id == desk.device.pk
    assert desk.charges(sale) == 1
    assert sale.events.filter(action="abort_requested", source="user").count() == 1


# -- 4. capture in part and in full, void; a refund above what was captured -------------------------


def authorised(desk: Desk) -> Payment:
    """An authorisation taken through the engine, followed by its tracker to `authorized`."""
    payment = desk.take(1, kind="auth")
    settled(payment, PaymentStatus.AUTHORIZED, timeout=30)
    assert payment.captured_minor == 0
    return payment


@pytest.mark.parametrize("desk", PARTIAL_CAPTURES, indirect=True)
def test_part_of_an_authorisation_is_captured_and_a_refund_above_the_capture_is_refused(
    desk, worker
):
    manager = desk.tenant.users[Role.MERCHANT_MANAGER]
    payment = authorised(desk)
    part = payment.amount_minor // 2

    actions.payment_capture(payment=payment, user=manager, amount_minor=part)

    settled(payment, PaymentStatus.APPROVED, timeout=30)
    assert payment.captured_minor == part
    at_terminal = emulated(desk, payment)
    assert at_terminal.captured and at_terminal.captured_amount == part
    # A refund is measured against what was captured, not what was authorised.
    with pytest.raises(InvalidPayment, match=f"At most {part} "):
        actions.payment_refund(sale=payment, user=manager, amount_minor=part + 1)
    assert not payment.children.exists()
    refund = actions.payment_refund(sale=payment, user=manager, amount_minor=part)
    settled(refund, PaymentStatus.APPROVED, timeout=30)
    payment.refresh_from_db()
    assert payment.refunded_minor == part
    with pytest.raises(InvalidPayment, match="Nothing is left to refund"):
        actions.payment_refund(sale=payment, user=manager, amount_minor=1)
    assert SandboxPayment.objects.filter(original=at_terminal, kind="refund").count() == 1


@pytest.mark.parametrize("desk", CAPTURES, indirect=True)
def test_an_authorisation_is_captured_in_full(desk, worker):
    payment = authorised(desk)

    actions.payment_capture(payment=payment, user=desk.tenant.users[Role.MERCHANT_MANAGER])

    settled(payment, PaymentStatus.APPROVED, timeout=30)
    assert payment.captured_minor == payment.amount_minor
    at_terminal = emulated(desk, payment)
    assert at_terminal.captured
    assert at_terminal.captured_amount in (None, payment.amount_minor)
    assert state_changes(payment) == ["created", "pending", "authorized", "approved"]


@pytest.mark.parametrize("desk", CAPTURES, indirect=True)
def test_an_authorisation_is_voided_and_frees_the_terminal(desk, worker):
    payment = authorised(desk)

    actions.payment_void(payment=payment, user=desk.tenant.users[Role.MERCHANT_MANAGER])

    settled(payment, PaymentStatus.CANCELED, timeout=30)
    assert payment.captured_minor == 0
    assert not payment.occupies_terminal
    at_terminal = emulated(desk, payment)
    assert not at_terminal.captured
    assert at_terminal.status == EmulatedStatus.CANCELED
    assert at_terminal.canceled_by == CanceledBy.MERCHANT
    assert desk.charges(payment) == 0
    assert state_changes(payment) == ["created", "pending", "authorized", "canceled"]


@pytest.mark.parametrize(
    "desk", [p for p in PROVIDERS if not capabilities_for(p).needs_capture], indirect=True
)
def test_a_refund_above_a_sales_total_is_refused_and_reaches_no_provider(desk, worker):
    # The providers without captures (test_actions_refund.py covers the others without a worker).
    manager = desk.tenant.users[Role.MERCHANT_MANAGER]
    sale = desk.take(1)
    settled(sale, PaymentStatus.APPROVED)

    with pytest.raises(InvalidPayment, match=f"At most {sale.amount_minor} "):
        actions.payment_refund(sale=sale, user=manager, amount_minor=sale.amount_minor + 1)

    assert not sale.children.exists()
    assert not SandboxPayment.objects.filter(original=emulated(desk, sale)).exists()

"""Real concurrency on PostgreSQL: two connections race, the database decides, the loser does nothing."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from django.db import connection, connections, transaction

from payments.models import Payment, PaymentEvent
from payments.services import TerminalOccupied, payment_create
from payments.state import payment_transition
from tests.factories import PaymentFactory

pytestmark = pytest.mark.django_db(transaction=True)


class Worker(threading.Thread):
    """Runs `work` on its own database connection; keeps its result or exception."""

    def __init__(self, work: Callable[[], object]) -> None:
        super().__init__(daemon=True)
        self.work = work
        self.result: object = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.work()
        except BaseException as exc:  # reported by the test
            self.error = exc
        finally:
            connections.close_all()

    def outcome(self, timeout: float = 20.0):
        self.join(timeout)
        assert not self.is_alive(), "the worker did not finish"
        if self.error is not None:
            return self.error
        return self.result


def wait_for_a_blocked_connection(timeout: float = 10.0) -> None:
    """Poll until some connection to our database waits on a row or index lock."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
        time.sleep(0.02)
    pytest.fail("no connection blocked on the row within the deadline")


def held_open(work: Callable[[], object], done: threading.Event, release: threading.Event):
    """`work` inside a transaction that commits only once `release` is set."""

    def run():
        with transaction.atomic():
            result = work()
            done.set()
            assert release.wait(20), "never released"
        return result

    return run


def test_two_transitions_from_pending_one_wins_and_one_event_is_written(terminal):
    payment = PaymentFactory(terminal=terminal, status="pending")
    done, release = threading.Event(), threading.Event()
    tracker = Worker(
        held_open(
            lambda: payment_transition(payment_id=payment.pk, to="approved", source="tracker"),
            done,
            release,
        )
    )
    tracker.start()
    assert done.wait(10)
    # The webhook's worker read "pending" too, and its UPDATE now waits for the tracker's row lock.
    webhook = Worker(
        lambda: payment_transition(payment_id=payment.pk, to="canceled", source="webhook")
    )
    webhook.start()
    wait_for_a_blocked_connection()
    release.set()

    assert tracker.outcome() is True
    assert webhook.outcome() is False
    assert Payment.objects.get(pk=payment.pk).status == "approved"
    assert list(PaymentEvent.objects.values_list("source", "from_status", "to_status")) == [
        ("tracker", "pending", "approved")
    ]


def test_a_transition_that_loses_to_a_compatible_one_follows_from_the_new_state(terminal):
    """The tracker moved pending -> unknown while the reconciler wanted -> approved from either:
    the reconciler's UPDATE finds the row changed, reads again, and moves it on from unknown."""
    payment = PaymentFactory(terminal=terminal, status="pending")
    done, release = threading.Event(), threading.Event()
    tracker = Worker(
        held_open(
            lambda: payment_transition(payment_id=payment.pk, to="unknown", source="tracker"),
            done,
            release,
        )
    )
    tracker.start()
    assert done.wait(10)
    reconciler = Worker(
        lambda: payment_transition(
            payment_id=payment.pk,
            to="approved",
            allowed_from=["pending", "unknown"],
            source="reconciler",
        )
    )
    reconciler.start()
    wait_for_a_blocked_connection()
    release.set()

    assert tracker.outcome() is True
    assert reconciler.outcome() is True
    assert list(
        PaymentEvent.objects.order_by("pk").values_list("from_status", "to_status", "source")
    ) == [("pending", "unknown", "tracker"), ("unknown", "approved", "reconciler")]


def test_many_simultaneous_transitions_make_exactly_one_change(terminal):
    for _ in range(5):
        payment = PaymentFactory(terminal=terminal, status="pending")
        start = threading.Barrier(4)

        def move(to, source, payment_id=payment.pk, start=start):
            start.wait(10)
            return payment_transition(payment_id=payment_id, to=to, source=source)

        workers = [
            Worker(lambda: move("approved", "tracker")),
            Worker(lambda: move("canceled", "webhook")),
            Worker(lambda: move("declined", "reconciler")),
            Worker(lambda: move("timed_out", "sweeper")),
        ]
        for worker in workers:
            worker.start()
        outcomes = [worker.outcome() for worker in workers]

        assert sorted(outcomes) == [False, False, False, True]
        event = PaymentEvent.objects.get(payment=payment)
        assert Payment.objects.get(pk=payment.pk).status == event.to_status


def test_two_starts_racing_for_one_terminal_make_one_payment(terminal, tenant_a):
    cashier = tenant_a.users["cashier"]
    manager = tenant_a.users["merchant_manager"]
    done, release = threading.Event(), threading.Event()

    def create(user):
        return payment_create(
            user=user, terminal=terminal, kind="sale", amount_minor=500, currency="USD"
        )

    first = Worker(held_open(lambda: create(cashier), done, release))
    first.start()
    assert done.wait(10)
    # The second INSERT waits on the partial unique index until the first commits, then is refused.
    second = Worker(lambda: create(manager))
    second.start()
    wait_for_a_blocked_connection()
    release.set()

    assert isinstance(first.outcome(), Payment)
    assert isinstance(second.outcome(), TerminalOccupied)
    assert Payment.objects.filter(terminal=terminal).count() == 1

"""A worker host killed with SIGKILL while it tracks payments of all five providers: the real
`celery -A config worker` runs in a subprocess on this test's database and Redis, starts the
payments and follows them (Payroc by long-poll, the others by short reads); it is killed; the
customers pay meanwhile; once the dead worker's leases expire the sweeper (`payments_sweep`, what
beat runs) restarts tracking, and a fresh worker finishes every payment, each charged once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from payments.engine import payments_sweep
from payments.models import Payment, PaymentStatus
from sandbox.models import SandboxPayment
from sandbox.scenarios import APPROVE
from sandbox.services import payment_decide
from tests.payments.engine_support import PROVIDERS, Desk, settled, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


ROOT = Path(__file__).resolve().parents[2]
# The dead worker's leases: short, so the sweeper may take its payments over soon after the kill.
LEASE_S = 8


def worker_env(settings, live_server) -> dict[str, str]:
    db = settings.DATABASES["default"]
    url = f"postgres://{db['USER']}@/{db['NAME']}?host={db['HOST']}"
    if db.get("PORT"):
        url += f"&port={db['PORT']}"
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": url,
        "REDIS_URL": settings.REDIS_URL,
        "CREDENTIALS_KEYS": ",".join(settings.CREDENTIALS_KEYS),
        "SANDBOX_BASE_URL": live_server.url,
        "PAYMENTS_TRACKING_LEASE_S": str(LEASE_S),
        "LOG_LEVEL": "WARNING",
    }


@pytest.fixture
def worker_host(settings, live_server, broker, tmp_path):
    """Starts `celery -A config worker` in a subprocess; yields the process (killed at the end)."""
    log = tmp_path / "worker.log"
    started = []

    def start():
        with log.open("ab") as out:
            process = subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "celery"),
                    "-A",
                    "config",
                    "worker",
                    "-Q",
                    "celery,tracking",
                    "--pool",
                    "threads",
                    "--concurrency",
                    "6",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                    "--loglevel",
                    "WARNING",
                ],
                cwd=ROOT,
                env=worker_env(settings, live_server),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        started.append(process)
        return process

    start.log = log
    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
    # The killed worker's unacknowledged messages (its running long-poll, its scheduled reads)
    # wait in Redis for the visibility timeout; nothing after this test may run them.
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete("unacked", "unacked_index", "unacked_mutex")


@pytest.fixture
def desks(sandbox_settings, tenant_a):
    return [Desk(provider, tenant_a) for provider in PROVIDERS]


def test_a_worker_killed_while_tracking_is_replaced_and_each_payment_is_charged_once(
    desks, worker_host, broker
):
    payments = [desk.take(0) for desk in desks]  # each waits for its customer
    host = worker_host()

    def tracked():
        assert host.poll() is None, worker_host.log.read_text()[-3000:]
        rows = Payment.objects.filter(pk__in=[p.pk for p in payments])
        return all(
            p.status == PaymentStatus.PENDING and p.lease_owner.startswith("track:") for p in rows
        )

    wait_until(tracked, timeout=120)

    os.kill(host.pid, signal.SIGKILL)
    assert host.wait(timeout=30) == -signal.SIGKILL
    dead_leases = {
        p.pk: (p.lease_owner, p.lease_until)
        for p in Payment.objects.filter(pk__in=[p.pk for p in payments])
    }
    for desk, payment in zip(desks, payments, strict=True):  # the customers pay meanwhile
        emulated = SandboxPayment.objects.get(
            device__account=desk.env.sandbox_account, order_ref=payment.reference
        )
        assert payment_decide(payment=emulated, outcome=APPROVE)
    for payment in payments:
        payment.refresh_from_db()
        assert payment.status == PaymentStatus.PENDING  # nobody follows them now
        assert (payment.lease_owner, payment.lease_until) == dead_leases[payment.pk]

    # The sweeper runs before any worker is back: a fresh worker would also run the emulators'
    # queued webhooks, whose reads may finish a payment first, and a payment finished that way
    # is never the sweeper's to restart.
    restarted = set()

    def all_restarted():
        # What beat does every 15 s, here as often as the test looks.
        payments_sweep()
        restarted.update(
            Payment.objects.filter(
                pk__in=[p.pk for p in payments],
                events__action="tracking_restarted",
                events__source="sweeper",
            ).values_list("pk", flat=True)
        )
        return len(restarted) == len(payments)

    wait_until(all_restarted, timeout=LEASE_S + 90, interval=0.5)
    with fresh_worker():
        for payment in payments:
            settled(payment, PaymentStatus.APPROVED, timeout=60)

    for desk, payment in zip(desks, payments, strict=True):
        assert desk.charges(payment) == 1, desk.provider
        assert desk.starts(payment) == 1, desk.provider
        assert payment.events.filter(action="tracking_restarted").count() == 1, desk.provider
        # The sweeper took over only after the dead worker's lease had expired.
        restart = payment.events.get(action="tracking_restarted")
        assert restart.created_at > dead_leases[payment.pk][1], desk.provider
        assert payment.events.filter(to_status="approved").count() == 1


def fresh_worker():
    """A fresh worker in this process (the one the flow tests use)."""
    from celery.contrib.testing.worker import start_worker

    from config.celery import app

    return start_worker(
        app,
        pool="threads",
        concurrency=4,
        queues=["celery", "tracking"],
        perform_ping_check=False,
        loglevel="WARNING",
        shutdown_timeout=30,
    )

"""Held status calls wait on Redis (sandbox/wakeups.py), one connection each while they wait: a
gevent web worker holds hundreds at once, more than redis-py's default pool of 100 allows."""

from __future__ import annotations

import logging
import threading

import pytest

from sandbox import wakeups

pytestmark = pytest.mark.django_db(transaction=True)

HELD = 150


def test_more_held_calls_than_a_default_redis_pool_all_wait_and_wake(caplog):
    barrier = threading.Barrier(HELD)
    woken: list[bool] = []

    def held(n: int):
        barrier.wait()
        woken.append(wakeups.wait(900_000 + n, 5.0))

    with caplog.at_level(logging.WARNING, logger="sandbox.wakeups"):
        threads = [threading.Thread(target=held, args=(n,)) for n in range(HELD)]
        for thread in threads:
            thread.start()
        client = wakeups._client(__import__("django.conf").conf.settings.REDIS_URL)
        # Every call is waiting once each of its BLPOPs is parked at the server.
        from tests.waiting import wait_until

        wait_until(lambda: int(client.info("clients")["blocked_clients"]) >= HELD, timeout=20)
        for n in range(HELD):
            client.rpush(wakeups._key(900_000 + n), 1)
        for thread in threads:
            thread.join(timeout=30)

    assert not [r for r in caplog.records if "failed" in r.getMessage()]
    assert woken.count(True) == HELD

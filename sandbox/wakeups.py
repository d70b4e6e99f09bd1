"""Wakes the emulators' held status calls (Payroc's long-poll) when a payment changes, through Redis.

A held call used to re-read its payment every 0.2 s with a database connection held all along:
fine for a few, not for the hundreds a tracking pool holds at once (a connection each, above
PostgreSQL's `max_connections`, and a thousand reads a second). Now a change (every one goes
through `sandbox.webhooks.payment_changed`) pushes a token on the payment's list once its
transaction commits, and a held call waits on that list with `BLPOP`, its database connection
handed back meanwhile; it still re-reads every SANDBOX_HELD_CALL_READ_S (10 s), and when time decides (a magic
outcome or the request's timeout is due), so a change whose announcement was lost (Redis down) is
seen too. (Every 2 s, it was as many reads a second as polling: 200 held calls, 100 reads.) Every process that
changes sandbox payments (gunicorn, a worker, a test) shares the Redis of settings.REDIS_URL.
"""

from __future__ import annotations

import logging
import time
from functools import lru_cache

import redis
from django.conf import settings
from django.db import connection, transaction

from sandbox import conf

logger = logging.getLogger(__name__)

TOKEN_TTL_S = 120  # a token nobody waited for is dropped after this
HELD_CALLS_MAX = 2000  # held calls one process may wait on at once


@lru_cache(maxsize=4)
def _client(url: str) -> redis.Redis:
    # One connection per held call (BLPOP holds it): a gevent worker holds hundreds at once, above
    # redis-py's default of 100 a pool ("Too many connections").
    return redis.Redis.from_url(
        url, socket_connect_timeout=2, health_check_interval=30, max_connections=HELD_CALLS_MAX
    )


def _key(payment_pk: int) -> str:
    return f"sandbox:payment-changed:{payment_pk}"


def announce(payment_pk: int) -> None:
    """Wake the calls held on this payment once the current transaction commits. Never raises."""

    def push():
        try:
            pipe = _client(settings.REDIS_URL).pipeline()
            pipe.rpush(_key(payment_pk), 1)
            pipe.expire(_key(payment_pk), TOKEN_TTL_S)
            pipe.execute()
        except redis.RedisError as exc:
            logger.warning("sandbox: could not announce payment %s changed: %s", payment_pk, exc)

    transaction.on_commit(push)


def wait(payment_pk: int, timeout_s: float) -> bool:
    """Wait up to `timeout_s` for a change of the payment (True when one was announced), without a
    database connection held meanwhile."""
    if not connection.in_atomic_block:
        connection.close()
    timeout_s = max(0.01, min(timeout_s, conf.setting("SANDBOX_HELD_CALL_READ_S")))
    try:
        return _client(settings.REDIS_URL).blpop([_key(payment_pk)], timeout=timeout_s) is not None
    except redis.RedisError as exc:
        logger.warning("sandbox: waiting for payment %s failed: %s", payment_pk, exc)
        time.sleep(timeout_s)
        return False

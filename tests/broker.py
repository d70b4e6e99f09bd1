"""What is waiting in the Celery broker: tests assert what a service scheduled by reading the real
Redis queues (each pytest-xdist process has its own Redis database, see config/settings.py), never by
patching the code that schedules."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime

import redis
from django.conf import settings


@dataclass(frozen=True)
class Scheduled:
    task: str
    args: list
    queue: str
    eta: datetime | None  # when a countdown was given


class Broker:
    def __init__(self) -> None:
        self.redis = redis.Redis.from_url(settings.CELERY_BROKER_URL)

    def purge(self) -> None:
        for queue in settings.CELERY_TASK_QUEUES:
            self.redis.delete(queue)

    def scheduled(self, task: str | None = None) -> list[Scheduled]:
        """The messages waiting in every declared queue, oldest first (of ``task`` only if given)."""
        found = []
        for queue in settings.CELERY_TASK_QUEUES:
            for raw in reversed(self.redis.lrange(queue, 0, -1)):  # LPUSH: newest first
                message = json.loads(raw)
                headers = message["headers"]
                args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
                eta = headers.get("eta")
                found.append(
                    Scheduled(
                        task=headers["task"],
                        args=args,
                        queue=queue,
                        eta=datetime.fromisoformat(eta) if eta else None,
                    )
                )
        return [item for item in found if task is None or item.task == task]


def point_broker_at(url: str) -> None:
    """Send Celery's messages to `url` from now on. Celery makes its connection pool and producer
    pool from broker_url once; both are dropped so the next send connects to `url`."""
    from config.celery import app

    app.conf.broker_url = url
    app._pool = None
    app.amqp._producer_pool = None


def dead_redis_url() -> str:
    """A Redis that is down: a loopback port nothing listens on (every connection is refused)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"

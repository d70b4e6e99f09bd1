"""Work a person asks for while the broker (Redis) is down is kept, and the person is told so.

Services schedule with `task.apply_async_on_commit(…)` / `delay_on_commit(…)` (tests/test_scheduling.py
keeps it that way); the app's task class (`QueuedTask`, config/celery.py) sends the message once the
transaction has committed. When the broker cannot be reached, the send is given up after one short
try and logged as one line instead of failing the request: the row that describes the work (a
`SyncRun` queued, a `Payment` created) is committed already, and the periodic jobs send it once the
broker is back (`terminals_sync_due` requeues lost runs; the payments sweeper starts created payments
and re-tracks pending ones). A request that could not send something is noted here (the names are
also `request.unsent_tasks`), and `QueuedWorkMiddleware` tells the person, unless the view said it
in its own words and emptied `request.unsent_tasks`.
"""

from __future__ import annotations

import contextvars
import logging

from celery.contrib.django.task import DjangoTask
from django.db import transaction
from kombu.exceptions import OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

BROKER_DOWN = (OperationalError, RedisConnectionError, RedisTimeoutError, OSError)
# One quick retry, not Celery's default three: the person is waiting for the page.
PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2}
QUEUED_MESSAGE = (
    "The worker cannot be reached right now: what you asked for is saved and queued, "
    "and it will start once the worker can be reached."
)

# Names of the tasks the current request could not send; None outside a request (a worker, beat).
_unsent: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "unsent_tasks", default=None
)


def unsent() -> list[str]:
    """The tasks the current request could not send to the broker (so far)."""
    return list(_unsent.get() or [])


def send(task, args=None, kwargs=None, **options) -> bool:
    """Sends `task` now; False (logged, noted for the request) when the broker cannot be reached.
    Once a send failed in this request the others are not tried: the broker is down."""
    noted = _unsent.get()
    if noted:
        noted.append(task.name)
        return False
    options.setdefault("retry_policy", PUBLISH_RETRY_POLICY)
    try:
        task.apply_async(args, kwargs, **options)
    except BROKER_DOWN as exc:
        logger.warning(
            "broker unreachable: %s not sent, left for the periodic jobs (%s)",
            task.name,
            type(exc).__name__,
        )
        if noted is not None:  # in a request (a worker's next periodic run tries again)
            noted.append(task.name)
        return False
    return True


def on_commit(func) -> None:
    """`transaction.on_commit(func)`, without opening a database connection only to learn that no
    transaction is open. Outside one (autocommit) Django runs `func` at once, but asks the connection
    whether it is in autocommit first, which takes a connection from the pool (a round trip to check
    it) in a green tracking process that gave its connection back before its provider call. With no
    connection open there is no transaction: `func` runs at once, as Django would run it."""
    connection = transaction.get_connection()
    if (
        connection.connection is None
        and not connection.in_atomic_block
        and connection.settings_dict["AUTOCOMMIT"]
    ):
        func()
    else:
        transaction.on_commit(func)


class QueuedTask(DjangoTask):
    """The app's task class: `apply_async_on_commit` / `delay_on_commit` send through `send`."""

    def apply_async_on_commit(self, args=None, kwargs=None, **options) -> None:
        on_commit(lambda: send(self, args, kwargs, **options))

    def delay_on_commit(self, *args, **kwargs) -> None:
        on_commit(lambda: send(self, args, kwargs))


class QueuedWorkMiddleware:
    """Tells the person when their request saved work the worker could not be sent yet."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.unsent_tasks = []
        token = _unsent.set(request.unsent_tasks)
        try:
            response = self.get_response(request)
            if unsent() and hasattr(request, "_messages"):
                from django.contrib import messages

                messages.warning(request, QUEUED_MESSAGE)
            return response
        finally:
            _unsent.reset(token)

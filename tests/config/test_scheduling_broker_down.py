"""The app's task class when the broker is down (config/scheduling.py): outside a request (a worker,
beat) a send that fails is logged and given up without poisoning the next one; inside a request the
person is told their work is queued."""

from __future__ import annotations

import logging

import pytest
from django.conf import settings
from django.http import HttpResponse
from django.test import RequestFactory

from config.scheduling import QUEUED_MESSAGE, QueuedWorkMiddleware, send
from tests.broker import Broker, dead_redis_url, point_broker_at

TASK = "terminals.tasks.sync_account"


@pytest.fixture
def queues():
    broker = Broker()
    broker.purge()
    yield broker
    point_broker_at(settings.CELERY_BROKER_URL)
    broker.purge()


def test_a_send_outside_a_request_fails_alone_and_the_next_one_goes_through(queues, caplog):
    from terminals.tasks import sync_account

    point_broker_at(dead_redis_url())
    with caplog.at_level(logging.WARNING, logger="config.scheduling"):
        assert send(sync_account, (1,)) is False
    assert [r.getMessage() for r in caplog.records] == [
        f"broker unreachable: {TASK} not sent, left for the periodic jobs (OperationalError)"
    ]
    point_broker_at(settings.CELERY_BROKER_URL)
    assert send(sync_account, (2,)) is True
    assert [task.args for task in queues.scheduled(TASK)] == [[2]]


def test_a_request_whose_work_could_not_be_sent_is_told_it_is_queued(queues, db):
    from django.contrib.messages import get_messages
    from django.contrib.messages.storage.fallback import FallbackStorage
    from django.contrib.sessions.backends.db import SessionStore

    from terminals.tasks import sync_account

    def view(request):
        sent = [send(sync_account, (n,)) for n in (1, 2)]
        assert sent == [False, False]  # the second is not even tried
        assert request.unsent_tasks == [TASK, TASK]
        return HttpResponse("ok")

    request = RequestFactory().post("/terminals/sync/")
    request.session = SessionStore()
    request._messages = FallbackStorage(request)
    point_broker_at(dead_redis_url())
    QueuedWorkMiddleware(view)(request)
    assert [str(m) for m in get_messages(request)] == [QUEUED_MESSAGE]


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_a_send_goes_at_once_without_taking_a_connection(queues):
    """A green tracker gives its database connection back before its provider call; scheduling its
    next step afterwards must not take one again only to learn there is no transaction."""
    from django.db import connection, transaction

    from terminals.tasks import sync_account

    connection.close()
    sync_account.apply_async_on_commit(args=(1,))
    assert connection.connection is None
    assert [task.args for task in queues.scheduled(TASK)] == [[1]]

    with transaction.atomic():
        sync_account.delay_on_commit(2)
        assert [task.args for task in queues.scheduled(TASK)] == [[1]]  # not before the commit
    assert [task.args for task in queues.scheduled(TASK)] == [[1], [2]]

    connection.ensure_connection()  # open and in autocommit: Django's own on_commit, at once
    sync_account.delay_on_commit(3)
    assert [task.args for task in queues.scheduled(TASK)] == [[1], [2], [3]]

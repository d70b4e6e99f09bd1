"""'Sync now' while the broker (Redis) is down: the run is saved, the person reads that it is queued
and starts once the worker can be reached (no 500), and beat sends it once the broker is back.

The requests run outside a test transaction (`transaction=True`), as in production: the message is
sent when the view's own transaction commits, inside the request."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from config.scheduling import QUEUED_MESSAGE
from dashboard.models import Role
from terminals import services
from terminals.models import SyncRun, SyncState
from tests.broker import dead_redis_url, point_broker_at

SYNC_TASK = "terminals.tasks.sync_account"
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def dead_broker():
    """The broker is a Redis that is down; the cache and the test's own queues stay where they are."""
    point_broker_at(dead_redis_url())
    yield
    point_broker_at(settings.CELERY_BROKER_URL)


def test_sync_now_while_the_broker_is_down_says_the_sync_is_queued(
    client, tenant_a, usaepay_account, broker, dead_broker
):
    client.force_login(tenant_a.users[Role.RESELLER_ADMIN])
    response = client.post("/terminals/sync/", {"provider": "usaepay"})

    run = SyncRun.objects.get()
    assert run.state == SyncState.QUEUED and run.account == usaepay_account
    assert response.status_code == 302 and response["Location"] == f"/terminals/sync/?run={run.pk}"
    page = client.get(response["Location"]).content.decode()
    assert QUEUED_MESSAGE in page
    assert broker.scheduled(SYNC_TASK) == []  # nothing reached the real broker either


def test_sync_now_by_htmx_while_the_broker_is_down_says_so_in_the_progress(
    client, tenant_a, usaepay_account, dead_broker
):
    client.force_login(tenant_a.users[Role.RESELLER_ADMIN])
    response = client.post("/terminals/sync/", {"provider": "usaepay"}, HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    body = response.content.decode()
    assert 'data-testid="sync-queued"' in body and "once the worker can be reached" in body
    assert SyncRun.objects.get().state == SyncState.QUEUED
    # Said in the progress itself, so it is not said again on the next page.
    assert QUEUED_MESSAGE not in client.get("/terminals/").content.decode()


def test_a_run_queued_while_the_broker_was_down_is_sent_by_beat_once_it_is_back(
    client, tenant_a, usaepay_account, broker, dead_broker
):
    client.force_login(tenant_a.users[Role.RESELLER_ADMIN])
    client.post("/terminals/sync/", {"provider": "usaepay"})
    run = SyncRun.objects.get()
    assert broker.scheduled(SYNC_TASK) == []

    point_broker_at(settings.CELERY_BROKER_URL)  # Redis is back
    later = timezone.now() + services.SYNC_REQUEUE_AFTER + timedelta(seconds=1)
    services.terminals_sync_due(now=later)
    assert [task.args for task in broker.scheduled(SYNC_TASK)] == [[run.pk]]

"""A Payroc tracker holds no database connection while its long-poll is held at the provider: the
connection is handed back as the request leaves, after the adapter's own queries (the bearer token
it reads from the database on every call). Hundreds of held long-polls on the gevent tracking pool
would otherwise each hold one of its pool's connections for up to a minute."""

from __future__ import annotations

import threading

import pytest
from django.core.signals import request_started
from django.db import connections

from payments.engine import payment_start_execute, payment_track
from payments.models import PaymentStatus
from tests.payments.engine_support import Desk

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_tracker_holds_no_database_connection_during_a_held_long_poll(
    sandbox_settings, tenant_a
):
    desk = Desk("payroc", tenant_a)
    payment = desk.take(0)  # waits for its customer: the status call is held
    payment_start_execute(payment_id=payment.pk)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING

    tracker: dict = {}
    seen: list[bool] = []

    def arrived(sender, environ=None, **kwargs):
        # The emulator (the live server's thread) receives the held call: is the tracker's
        # connection open now?
        if "/payment-instructions/" in (environ or {}).get("PATH_INFO", ""):
            seen.append(tracker["wrapper"].connection is not None)

    def track():
        tracker["wrapper"] = connections["default"]  # this thread's own connection
        try:
            payment_track(payment_id=payment.pk, owner=payment.lease_owner)
        finally:
            connections.close_all()

    request_started.connect(arrived, weak=False)
    try:
        thread = threading.Thread(target=track)
        thread.start()
        thread.join(timeout=60)
    finally:
        request_started.disconnect(arrived)

    assert not thread.is_alive()
    assert seen == [False], seen  # one held call, made with the connection handed back

"""How often a tracker reads a payment: a provider that pushes every outcome by webhook (KOMOJU,
Klearly) is read only as a backstop once the account holds its webhook secret; USAePay, whose
webhooks tell card outcomes but not a request cancelled on the terminal, every 5 s with its key;
the others (and those accounts without their webhook secret) at the provider's poll interval.
Steps are run by hand here and the next step is read from the real broker, so the cadence is what
a worker would follow. That a webhook makes the tracker read at once, USAePay's included, is
tests/payments/test_webhooks.py."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from credentials import vault
from payments.engine import payment_start_execute, payment_track, tracking_cadence_s
from payments.models import PaymentStatus
from providers.registry import capabilities_for
from tests.payments.engine_support import Desk

pytestmark = pytest.mark.django_db(transaction=True)


def _next_read_countdown(broker, payment) -> float:
    """Seconds until the tracker's next step of `payment`, as the broker holds it."""
    steps = [s for s in broker.scheduled("payments.tasks.track_payment") if s.args == []]
    assert len(steps) == 1, steps
    assert steps[0].eta is not None
    return (steps[0].eta - timezone.now()).total_seconds()


def _after_one_step(desk, broker):
    payment = desk.take(0)  # waits for its customer
    payment_start_execute(payment_id=payment.pk)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING
    broker.purge()
    payment_track(payment_id=payment.pk, owner=payment.lease_owner)  # one read: still pending
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING
    return payment


def _pending_after_one_step(provider, tenant, broker):
    """A payment of `provider` pending after one tracker step, with nothing left in the broker."""
    payment = _after_one_step(Desk(provider, tenant), broker)
    broker.purge()
    return payment


@pytest.mark.parametrize("provider", ["komoju", "klearly"])
def test_a_provider_whose_webhooks_tell_every_outcome_is_read_only_as_a_backstop(
    provider, sandbox_settings, tenant_a, broker
):
    sandbox_settings.PAYMENTS_WEBHOOK_BACKSTOP_S = None  # the product's cadence, not the tests'
    desk = Desk(provider, tenant_a)
    caps = capabilities_for(provider)
    assert caps.webhooks_tell_every_outcome and caps.webhook_backstop_s > 3 * caps.poll_interval_s

    payment = _after_one_step(desk, broker)

    assert tracking_cadence_s(payment) == caps.webhook_backstop_s
    countdown = _next_read_countdown(broker, payment)
    assert caps.webhook_backstop_s - 2 < countdown <= caps.webhook_backstop_s
    # Its lease covers the pause, so the sweeper does not take a waiting tracker for a dead one.
    assert payment.lease_until > timezone.now() + timedelta(seconds=caps.webhook_backstop_s)


@pytest.mark.parametrize("provider", ["komoju", "klearly"])
def test_the_backstop_read_follows_its_setting(provider, sandbox_settings, tenant_a, broker):
    sandbox_settings.PAYMENTS_WEBHOOK_BACKSTOP_S = 7
    desk = Desk(provider, tenant_a)

    payment = _after_one_step(desk, broker)

    assert tracking_cadence_s(payment) == 7
    assert 5 < _next_read_countdown(broker, payment) <= 7


@pytest.mark.parametrize("provider", ["komoju", "klearly"])
def test_without_its_webhook_secret_the_account_is_polled_at_the_providers_interval(
    provider, sandbox_settings, tenant_a, broker
):
    desk = Desk(provider, tenant_a)
    secrets = {k: v for k, v in desk.account.secrets().items() if k != "webhook_secret"}
    desk.account.secrets_encrypted = vault.encrypt(secrets)  # an account set up without webhooks
    desk.account.save(update_fields=["secrets_encrypted"])

    payment = _after_one_step(desk, broker)

    assert tracking_cadence_s(payment) == capabilities_for(provider).poll_interval_s
    assert _next_read_countdown(broker, payment) <= capabilities_for(provider).poll_interval_s


def test_a_provider_without_webhooks_is_polled_at_its_interval(sandbox_settings, tenant_a, broker):
    provider = "mobilepay"
    desk = Desk(provider, tenant_a)
    caps = capabilities_for(provider)
    assert not caps.has_webhooks and caps.webhook_poll_interval_s is None

    payment = _after_one_step(desk, broker)

    interval = capabilities_for(provider).poll_interval_s
    assert tracking_cadence_s(payment) == interval
    assert 0 < _next_read_countdown(broker, payment) <= interval


def test_usaepay_with_its_webhook_key_is_read_every_5_s(sandbox_settings, tenant_a, broker):
    """USAePay's webhooks tell an approved or declined sale (their read is at once), not a payment
    request cancelled or timed out on the terminal: with the signature key held, a read every 5 s
    sees those."""
    sandbox_settings.PAYMENTS_WEBHOOK_BACKSTOP_S = None  # the product's cadence, not the tests'
    desk = Desk("usaepay", tenant_a)
    caps = capabilities_for("usaepay")
    assert desk.account.secrets().get("webhook_signature_key")
    assert not caps.webhooks_tell_every_outcome and caps.webhook_poll_interval_s == 5.0

    payment = _after_one_step(desk, broker)

    assert tracking_cadence_s(payment) == 5.0
    assert 3 < _next_read_countdown(broker, payment) <= 5.0
    assert payment.lease_until > timezone.now() + timedelta(seconds=5)
    # Inside the key's budget: 12 reads a minute of one payment, of the 45 allowed.
    assert 60 / caps.webhook_poll_interval_s < caps.requests_per_minute


def test_usaepay_without_its_webhook_key_is_polled_every_2_s(sandbox_settings, tenant_a, broker):
    sandbox_settings.PAYMENTS_WEBHOOK_BACKSTOP_S = None
    desk = Desk("usaepay", tenant_a)
    secrets = {k: v for k, v in desk.account.secrets().items() if k != "webhook_signature_key"}
    desk.account.secrets_encrypted = vault.encrypt(secrets)  # an account set up without webhooks
    desk.account.save(update_fields=["secrets_encrypted"])

    payment = _after_one_step(desk, broker)

    assert tracking_cadence_s(payment) == 2.0 == capabilities_for("usaepay").poll_interval_s
    assert 0 < _next_read_countdown(broker, payment) <= 2.0


@pytest.mark.parametrize("provider", ["usaepay", "mobilepay"])
def test_a_step_that_finds_the_payment_pending_costs_one_query_and_keeps_its_lease(
    provider, sandbox_settings, tenant_a, broker
):
    """A thousand open payments are a few hundred steps a second: a step that changes nothing
    reads the row (which shows its chain still holds a long enough lease) and writes nothing (the
    lease covers the pause before the next step)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    payment = _pending_after_one_step(provider, tenant_a, broker)
    lease_until = payment.lease_until

    with CaptureQueriesContext(connection) as queries:
        payment_track(payment_id=payment.pk, owner=payment.lease_owner)

    statements = [q["sql"].split()[0] for q in queries.captured_queries]
    assert statements == ["SELECT"], queries.captured_queries
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING
    assert payment.lease_until == lease_until
    assert payment.lease_until > timezone.now() + timedelta(
        seconds=capabilities_for(provider).poll_interval_s
    )
    assert _next_read_countdown(broker, payment) <= capabilities_for(provider).poll_interval_s


@pytest.mark.parametrize("provider", ["usaepay", "mobilepay"])
def test_a_step_whose_lease_runs_short_renews_it_before_reading(
    provider, sandbox_settings, tenant_a, broker
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from payments.engine import LEASE_S
    from payments.models import Payment

    payment = _pending_after_one_step(provider, tenant_a, broker)
    # Shorter than a read that times out and the pause after it.
    short = timezone.now() + timedelta(seconds=LEASE_S / 3)
    Payment.objects.filter(pk=payment.pk).update(lease_until=short)

    with CaptureQueriesContext(connection) as queries:
        payment_track(payment_id=payment.pk, owner=payment.lease_owner)

    statements = [q["sql"].split()[0] for q in queries.captured_queries]
    assert statements == ["SELECT", "UPDATE"], queries.captured_queries
    owner = payment.lease_owner
    payment.refresh_from_db()
    assert payment.lease_owner == owner
    assert payment.lease_until > timezone.now() + timedelta(seconds=LEASE_S * 2 / 3)
    assert _next_read_countdown(broker, payment) <= capabilities_for(provider).poll_interval_s


@pytest.mark.parametrize("provider", ["usaepay", "mobilepay"])
def test_a_step_of_a_chain_whose_lease_another_tracker_took_changes_nothing_and_ends(
    provider, sandbox_settings, tenant_a, broker
):
    from payments.models import Payment

    payment = _pending_after_one_step(provider, tenant_a, broker)
    taken = timezone.now() + timedelta(seconds=80)
    Payment.objects.filter(pk=payment.pk).update(lease_owner="sweep:other", lease_until=taken)

    assert payment_track(payment_id=payment.pk, owner=payment.lease_owner) is None

    payment.refresh_from_db()
    assert (payment.lease_owner, payment.lease_until) == ("sweep:other", taken)
    assert broker.scheduled("payments.tasks.track_payment") == []

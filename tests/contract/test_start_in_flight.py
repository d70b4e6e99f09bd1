"""A start that stalls past our read timeout and lands later is charged once, over real HTTP.

The independent check that found the double charge: the first start to USAePay or Integra stalls
past the client's read timeout (the sandbox's latency switch; a short read timeout on the test's
client instead of our 30 s), then lands. The look-up right after the timeout finds nothing yet, and
an earlier `start_exactly_once` took that as "not started" and started again. Now it raises
StartInFlight, and the caller's later looks (`look_for_start`) find the one start.
"""

from __future__ import annotations

import httpx
import pytest

from credentials.management.provider_check import follow_to_final
from providers.base import PaymentKind, PaymentState
from providers.errors import StartInFlight
from providers.recovery import look_for_start, start_exactly_once
from sandbox.models import SandboxPayment
from sandbox.scenarios import APPROVE
from sandbox.services import device_set_switches, payment_decide
from tests.contract.conftest import make_env
from tests.contract.test_provider_contract import WAIT_AMOUNT, settle
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

UNKEYED = ["usaepay", "mobilepay"]  # no idempotency key: a second start would be a second charge
RUNS = 3
STALL_MS = 2500  # the emulator holds the start this long before processing it
READ_TIMEOUT_S = 0.4


@pytest.fixture(params=UNKEYED)
def env(request, sandbox_settings, tenant_a):
    env = make_env(request.param, tenant_a.merchant)
    assert not env.adapter.capabilities.has_idempotency_key
    env.adapter.client.timeout = httpx.Timeout(5.0, read=READ_TIMEOUT_S)
    yield env
    env.adapter.close()


def test_a_stalled_first_start_that_lands_later_is_one_charge_found_by_its_order_id(env):
    for _ in range(RUNS):
        device_set_switches(device=env.device, latency_ms=STALL_MS)
        req = env.start_request(WAIT_AMOUNT)
        sent = []

        def only_the_first_request_stalls(request, sent=sent):
            # The emulator read the latency when the start arrived; every later call is prompt, so
            # the look-up right after the timeout answers "not listed" while the start is held.
            sent.append(request)
            if len(sent) == 2:
                device_set_switches(device=env.device, latency_ms=0)

        env.adapter.client.event_hooks["request"].append(only_the_first_request_stalls)
        try:
            with pytest.raises(StartInFlight) as caught:
                returned = start_exactly_once(env.adapter, req)
                # What came back instead, and what was sent (a one-off failure under load, seen once)
                pytest.fail(f"no StartInFlight: {returned!r} after {[r.url.path for r in sent]}")
        finally:
            env.adapter.client.event_hooks["request"].remove(only_the_first_request_stalls)
            device_set_switches(device=env.device, latency_ms=0)
        assert len(sent) >= 2  # the start, then at least one prompt look-up

        def found(req=req, look_until=caught.value.look_until):
            try:
                return look_for_start(env.adapter, req, look_until=look_until)
            except StartInFlight:
                return None  # not listed yet: the stalled start has not landed

        started = wait_until(found, timeout=20, interval=0.2)
        assert started.provider_ref and started.state is PaymentState.PENDING
        assert env.starts(req.reference) == 1  # the stalled start, and no other

        payment = SandboxPayment.objects.get(order_ref=req.reference)
        assert payment_decide(payment=payment, outcome=APPROVE)
        final = settle(
            env, follow_to_final(env.adapter, started, kind=PaymentKind.SALE, timeout_s=30)
        )
        assert final.state is PaymentState.APPROVED
        assert env.charges(req.reference) == 1
        assert env.starts(req.reference) == 1
    assert env.charges() == RUNS

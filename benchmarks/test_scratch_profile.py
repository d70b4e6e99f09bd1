import cProfile, pstats, time, io
import pytest
from benchmarks.test_bench_tracking import emulators, seed_lanes, take_all  # noqa
from payments.engine import payment_start_execute, payment_track
from payments.models import Payment

pytestmark = pytest.mark.django_db(transaction=True)

@pytest.mark.parametrize("provider", ["mobilepay", "usaepay"])
def test_profile(provider, emulators, tenant_a, capsys):
    from tests.broker import Broker
    terminals = seed_lanes(tenant_a, emulators.url, [(provider, 1)])
    (payment,) = take_all(tenant_a, terminals)
    payment_start_execute(payment_id=payment.pk)
    payment.refresh_from_db()
    owner = payment.lease_owner
    for _ in range(3):
        payment_track(payment_id=payment.pk, owner=owner)
    prof = cProfile.Profile()
    n = 30
    t0 = time.perf_counter(); c0 = time.process_time()
    prof.enable()
    for _ in range(n):
        payment_track(payment_id=payment.pk, owner=owner)
    prof.disable()
    wall = (time.perf_counter() - t0) / n * 1000; cpu = (time.process_time() - c0) / n * 1000
    Broker().purge()
    s = io.StringIO()
    pstats.Stats(prof, stream=s).sort_stats("cumulative").print_stats(45)
    with capsys.disabled():
        print(f"\n{provider}: wall {wall:.1f} ms cpu {cpu:.1f} ms per step")
        print(s.getvalue()[:9000])

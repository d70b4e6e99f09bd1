"""The tracking worker runs on Celery's gevent pool (`-P gevent`), and the sandbox emulators can be
served by gunicorn's gevent worker: both monkey-patch the standard library before Django loads.
psycopg 3 then waits on PostgreSQL cooperatively (it picks a select-based wait instead of its C
wait once `select` is patched), so a greenlet blocked in a query lets every other greenlet run.
Checked in a fresh interpreter, patched first, as the worker starts."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from django.conf import settings

pytestmark = pytest.mark.django_db(transaction=True)

SCRIPT = textwrap.dedent(
    """
    from gevent import monkey

    monkey.patch_all()

    import sys

    import gevent
    import psycopg
    from psycopg import waiting

    dsn = sys.argv[1]
    print("wait", waiting.wait.__name__)
    holder = psycopg.connect(dsn, autocommit=True)
    holder.execute("SELECT pg_advisory_lock(4242)")
    order = []

    def blocked():
        # Waits in PostgreSQL until the lock is released below.
        with psycopg.connect(dsn, autocommit=True) as conn:
            order.append("blocked waits")
            conn.execute("SELECT pg_advisory_lock(4242)")
            order.append("blocked got the lock")

    def other():
        with psycopg.connect(dsn, autocommit=True) as conn:
            order.append("other ran: " + str(conn.execute("SELECT 1").fetchone()[0]))
        holder.execute("SELECT pg_advisory_unlock(4242)")

    first = gevent.spawn(blocked)
    gevent.sleep(0.2)  # let it reach its query
    second = gevent.spawn(other)
    gevent.joinall([first, second], raise_error=True)
    print("order", " | ".join(order))
    """
)


def test_a_greenlet_waiting_in_postgresql_lets_the_others_run(tmp_path):
    db = settings.DATABASES["default"]
    dsn = f"host={db['HOST']} user={db['USER']} dbname={db['NAME']}"
    if db.get("PORT"):
        dsn += f" port={db['PORT']}"
    script = tmp_path / "green.py"
    script.write_text(SCRIPT)

    # A wait that blocked the whole process would never let `other` release the lock: the
    # script would hang, and the timeout (a deadlock detector, not a speed bound) fails the test.
    done = subprocess.run(
        [sys.executable, str(script), dsn], capture_output=True, text=True, timeout=120
    )

    assert done.returncode == 0, done.stderr[-2000:]
    assert "wait wait_c" not in done.stdout  # the C wait would block the hub
    assert "order blocked waits | other ran: 1 | blocked got the lock" in done.stdout, done.stdout


POOLED = textwrap.dedent(
    """
    from gevent import monkey

    monkey.patch_all()

    import django
    import gevent

    django.setup()

    from django.conf import settings
    from django.db import connection

    print("pool", settings.DATABASES["default"]["OPTIONS"].get("pool", {}).get("max_size"))
    # A connection leaves the pool without a health-check round trip (one per task or request).
    print("checks", settings.DATABASES["default"]["CONN_HEALTH_CHECKS"])
    pids = []

    def task():
        # What a tracker or a request does: queries on this greenlet's connection, held a moment,
        # handed back at its end.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid(), pg_sleep(0.02)")
            pids.append(cursor.fetchone()[0])
        connection.close()

    gevent.joinall([gevent.spawn(task) for _ in range(60)], raise_error=True)
    print("tasks", len(pids), "connections", len(set(pids)))
    """
)


def test_greenlets_share_a_pool_of_connections_instead_of_one_each(tmp_path):
    """60 greenlets at once, each with a query, in a process gevent patched (as the tracking worker
    and the gevent web worker are): they take turns on at most DATABASE_POOL_MAX_SIZE connections,
    where one connection each would exceed PostgreSQL's `max_connections` at a tracking pool's size."""
    import os

    db = settings.DATABASES["default"]
    script = tmp_path / "pooled.py"
    script.write_text(POOLED)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"postgres://{db['USER']}@/{db['NAME']}?host={db['HOST']}",
        "REDIS_URL": settings.REDIS_URL,
        "DATABASE_POOL_MAX_SIZE": "4",
        "PYTHONPATH": str(settings.BASE_DIR),
    }

    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=settings.BASE_DIR,
    )

    assert done.returncode == 0, done.stderr[-2000:]
    assert "pool 4" in done.stdout, done.stdout
    assert "checks False" in done.stdout, done.stdout
    tasks, connections = (int(w) for w in done.stdout.split("tasks ")[1].split(" connections "))
    assert tasks == 60
    assert 1 <= connections <= 4, done.stdout


MIDWAY = textwrap.dedent(
    """
    from gevent import monkey

    # gunicorn's gevent worker: its patch_all() patches `threading` first, and gevent's look over
    # the patched module's objects touches django.conf.settings, which loads the settings then,
    # before `socket` is patched.
    monkey.patch_thread()

    from django.conf import settings

    database = settings.DATABASES["default"]
    print("conn_max_age", database["CONN_MAX_AGE"], "pool", "pool" in database.get("OPTIONS", {}))
    """
)


def test_settings_loaded_midway_through_gevents_patching_are_green(tmp_path):
    import os

    db = settings.DATABASES["default"]
    script = tmp_path / "midway.py"
    script.write_text(MIDWAY)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"postgres://{db['USER']}@/{db['NAME']}?host={db['HOST']}",
        "REDIS_URL": settings.REDIS_URL,
        "PYTHONPATH": str(settings.BASE_DIR),
    }

    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env
    )

    assert done.returncode == 0, done.stderr[-2000:]
    assert "conn_max_age 0 pool True" in done.stdout, done.stdout

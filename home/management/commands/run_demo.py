"""`make demo`: migrate, load the demo data, then run web, a Celery worker, a tracking worker and beat until Ctrl-C.

Each child runs in its own session so that Ctrl-C reaches only this supervisor, which then stops the
children in order, waits for them, and stops the embedded PostgreSQL and Redis it relies on.

The supervisor heals the demo while it runs: an embedded PostgreSQL or Redis that stops is started
again, and a web, worker or beat process that exits is restarted; each is said in its output
("PostgreSQL stopped; restarting it.", "worker exited with -9; restarting it."). A process that
exits five times within a minute stops the demo instead of restarting for ever.
"""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import DatabaseError, connections

from config import embedded
from home.demo_data import DEMO_PASSWORD, USERS, place_demo_terminals

# Shared by every starter of gunicorn: the access-log format without secrets, escaped lines.
GUNICORN_CONF = settings.BASE_DIR / "config" / "gunicorn.conf.py"


class Command(BaseCommand):
    help = "Run the whole product with demo data (web, worker, beat) until Ctrl-C."

    def handle(self, *args, **options):
        port = int(os.environ.get("PORT", "8000"))
        python = sys.executable
        bin_dir = os.path.dirname(python)
        embedded.DATA_DIR.mkdir(parents=True, exist_ok=True)

        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        call_command("demo")

        env = {**os.environ, "PORT": str(port), "PYTHONUNBUFFERED": "1"}
        commands = {
            "web": [
                os.path.join(bin_dir, "gunicorn"),
                "--config",
                str(GUNICORN_CONF),
                "config.wsgi",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
                # The demo's web also serves the sandbox emulators, whose Payroc long-poll is held
                # up to 30 s: on gevent each held call is a greenlet (its database connection handed
                # back while it waits), so the tracking pool's 500 long-polls never take the
                # threads the dashboard's own pages need. Greenlets share a pool of database
                # connections (config/settings.py).
                "--worker-class",
                "gevent",
                "--worker-connections",
                "1000",
                "--timeout",
                "120",
                "--graceful-timeout",
                "5",
                "--access-logfile",
                "-",
            ],
            "worker": [
                os.path.join(bin_dir, "celery"),
                "-A",
                "config",
                "worker",
                "--pool",
                "threads",
                "--concurrency",
                "8",
                "-Q",  # the short work; trackers have their own worker below
                settings.CELERY_TASK_DEFAULT_QUEUE,
                "--loglevel",
                "INFO",
                "--hostname",
                f"demo@{port}",
            ],
            # Trackers wait on providers (a Payroc long-poll holds its call up to a minute): on
            # their own queue, so waiting never starves the short work, and on gevent, where a
            # waiting tracker is a greenlet: 500 held long-polls cost 500 sockets, not 500 threads,
            # and share a pool of DATABASE_POOL_MAX_SIZE database connections (config/settings.py).
            # benchmarks/test_bench_tracking.py follows 1,000 open payments on this pool.
            "tracker": [
                os.path.join(bin_dir, "celery"),
                "-A",
                "config",
                "worker",
                "--pool",
                "gevent",
                "--concurrency",
                "500",
                "-Q",
                "tracking",
                "--loglevel",
                "INFO",
                "--hostname",
                f"demo-tracking@{port}",
            ],
            "beat": [
                os.path.join(bin_dir, "celery"),
                "-A",
                "config",
                "beat",
                "--loglevel",
                "INFO",
                "--schedule",
                str(embedded.DATA_DIR / "celerybeat-schedule"),
            ],
        }
        children: dict[str, subprocess.Popen] = {}
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        exits: dict[str, list[float]] = {name: [] for name in commands}
        self._down: set[str] = set()  # embedded servers found stopped, not yet running again
        self._next_try: dict[str, float] = {}
        try:
            for name, argv in commands.items():
                children[name] = subprocess.Popen(argv, env=env, start_new_session=True)
            url = f"http://127.0.0.1:{port}/"
            self._wait_healthy(url, lambda: stopping)
            self._place_terminals(lambda: stopping)
            if not stopping:
                self._banner(url)
            while not stopping:
                self._heal_embedded_servers(python, env)
                for name, child in children.items():
                    if stopping or child.poll() is None:
                        continue
                    now = time.monotonic()
                    exits[name] = [t for t in exits[name] if now - t < 60] + [now]
                    if len(exits[name]) >= 5:
                        self._say(
                            f"{name} exited with {child.returncode} five times within a minute; "
                            "stopping the demo.",
                            error=True,
                        )
                        stopping = True
                        continue
                    self._say(f"{name} exited with {child.returncode}; restarting it.", error=True)
                    with contextlib.suppress(ProcessLookupError):  # what is left of its group
                        os.killpg(child.pid, signal.SIGKILL)
                    children[name] = subprocess.Popen(
                        commands[name], env=env, start_new_session=True
                    )
                    self._say(f"{name} restarted.")
                time.sleep(0.5)
        finally:
            self.stdout.write("Stopping web, worker and beat…")
            for child in children.values():
                if child.poll() is None:
                    os.killpg(child.pid, signal.SIGTERM)
            deadline = time.monotonic() + 15
            for child in children.values():
                try:
                    child.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    os.killpg(child.pid, signal.SIGKILL)
                    child.wait()
            connections.close_all()
            if not os.environ.get("REDIS_URL"):
                embedded.stop_redis()
            if not os.environ.get("DATABASE_URL"):
                embedded.stop_postgres()
            self.stdout.write("Demo stopped; no process left running.")

    def _say(self, message: str, *, error: bool = False) -> None:
        stream = self.stderr if error else self.stdout
        stream.write(message)
        stream.flush()

    def _heal_embedded_servers(self, python: str, env: dict) -> None:
        """Starts again an embedded PostgreSQL or Redis that stopped (not when DATABASE_URL or
        REDIS_URL names another server). Each start runs in a fresh process: pgserver remembers
        the server it started in this one and would not start it again."""
        servers = (
            ("PostgreSQL", "DATABASE_URL", embedded.postgres_running, "ensure_postgres"),
            ("Redis", "REDIS_URL", embedded.redis_running, "ensure_redis"),
        )
        for name, url_variable, running, starter in servers:
            if os.environ.get(url_variable) or running():
                continue
            if name not in self._down:
                self._down.add(name)
                self._say(f"{name} stopped; restarting it.", error=True)
            if time.monotonic() < self._next_try.get(name, 0):
                continue
            # A killed postmaster's backends may hold its shared memory for a moment: try again.
            with contextlib.suppress(subprocess.TimeoutExpired):
                subprocess.run(
                    [python, "-c", f"from config import embedded; embedded.{starter}()"],
                    cwd=settings.BASE_DIR,
                    env=env,
                    capture_output=True,
                    timeout=180,  # a loaded machine takes long to start PostgreSQL: never kill it midway
                )
            if running():
                self._down.discard(name)
                self._say(f"{name} is running again.")
            else:
                self._next_try[name] = time.monotonic() + 2

    def _wait_healthy(self, url: str, should_stop) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not should_stop():
            with contextlib.suppress(OSError, ValueError):  # not answering yet
                with urllib.request.urlopen(url + "healthz", timeout=3) as response:
                    if json.load(response).get("workers", 0) >= 1:
                        return
            time.sleep(0.5)

    def _place_terminals(self, should_stop) -> None:
        """Once the worker's first syncs have listed the demo terminals, put them in their stores."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not should_stop():
            try:
                if place_demo_terminals() == 0:
                    self.stdout.write("Demo terminals are in their stores.")
                    return
            except DatabaseError:  # PostgreSQL stopped meanwhile: the supervisor's loop heals it
                connections.close_all()
                return
            time.sleep(1)
        self.stderr.write("Some demo terminals were not listed yet; they stay in no store.")

    def _banner(self, url: str) -> None:
        width = 72
        self.stdout.write("=" * width)
        self.stdout.write(self.style.SUCCESS(f"Terminal Dashboard is running at {url}"))
        self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}):")
        for email, role, *_ in USERS:
            self.stdout.write(f"  {email:<28} {role.label}")
        if settings.SANDBOX_ENABLED:
            self.stdout.write(f"Sandbox terminals: {url}sandbox/")
        self.stdout.write("Press Ctrl-C to stop everything.")
        self.stdout.write("=" * width)

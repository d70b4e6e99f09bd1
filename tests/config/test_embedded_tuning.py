"""The embedded development PostgreSQL commits without waiting on the disk, and has room for the
test suite's parallel workers (config/embedded.py)."""

import psycopg
import pytest

from config import embedded

SETTINGS = {**embedded.DEVELOPMENT_SETTINGS, **embedded.RESTART_SETTINGS}


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_the_embedded_server_runs_with_the_development_settings(name):
    server = embedded.ensure_postgres()  # the embedded server, whatever DATABASE_URL says
    with psycopg.connect(host=server["HOST"], user=server["USER"], dbname="postgres") as conn:
        assert conn.execute(f"SHOW {name}").fetchone()[0] == SETTINGS[name]

"""The embedded development PostgreSQL commits without waiting on the disk (config/embedded.py)."""

import psycopg
import pytest

from config import embedded


@pytest.mark.parametrize("name", sorted(embedded.DEVELOPMENT_SETTINGS))
def test_the_embedded_server_runs_with_the_development_settings(name):
    server = embedded.ensure_postgres()  # the embedded server, whatever DATABASE_URL says
    with psycopg.connect(host=server["HOST"], user=server["USER"], dbname="postgres") as conn:
        assert conn.execute(f"SHOW {name}").fetchone()[0] == embedded.DEVELOPMENT_SETTINGS[name]

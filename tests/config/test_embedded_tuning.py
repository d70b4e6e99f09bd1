"""The embedded development PostgreSQL commits without waiting on the disk (config/embedded.py)."""

import os

import pytest
from django.db import connection

from config.embedded import DEVELOPMENT_SETTINGS


@pytest.mark.skipif(bool(os.environ.get("DATABASE_URL")), reason="runs on the embedded server")
@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(DEVELOPMENT_SETTINGS))
def test_the_embedded_server_runs_with_the_development_settings(name):
    with connection.cursor() as cursor:
        cursor.execute(f"SHOW {name}")
        assert cursor.fetchone()[0] == DEVELOPMENT_SETTINGS[name]

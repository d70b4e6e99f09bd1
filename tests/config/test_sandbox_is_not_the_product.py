"""The sandbox is the provider, not the product: under production settings its app is not
installed (no tables, no code loaded) unless SANDBOX_ENABLED asks for it, and the deploy check
still passes."""

import json
import subprocess
import sys

from tests.dashboard.test_accounts import ROOT, _production_env

PROBE = """
import json, sys
import django
django.setup()
from django.conf import settings
from django.urls import get_resolver
get_resolver().url_patterns  # the whole URLconf, every view module
from config.celery import app
app.loader.import_default_modules()  # every app's tasks
print(json.dumps({
    "installed": "sandbox" in settings.INSTALLED_APPS,
    "loaded": sorted(m for m in sys.modules if m == "sandbox" or m.startswith("sandbox.")),
}))
"""


def _run(args, **env):
    return subprocess.run(
        args,
        cwd=ROOT,
        env=_production_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _probe(**env) -> dict:
    result = _run([sys.executable, "-c", PROBE], **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_does_not_install_or_load_the_sandbox():
    assert _probe() == {"installed": False, "loaded": []}


def test_production_installs_the_sandbox_when_asked():
    found = _probe(SANDBOX_ENABLED="1")
    assert found["installed"] is True and "sandbox.models" in found["loaded"]


def test_production_plans_no_sandbox_table():
    result = _run([sys.executable, "manage.py", "showmigrations", "--plan"])
    assert result.returncode == 0, result.stderr
    assert "credentials.0001_initial" in result.stdout
    assert "sandbox." not in result.stdout


def test_check_deploy_passes_without_the_sandbox():
    result = _run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_the_demo_says_it_needs_the_sandbox():
    result = _run([sys.executable, "manage.py", "demo"])
    assert result.returncode != 0
    assert "The demo needs the sandbox: set SANDBOX_ENABLED=1." in result.stderr

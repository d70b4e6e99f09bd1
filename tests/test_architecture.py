"""The boxes' edges (ARCHITECTURE.md's dependency table): arrows point down the table only,
providers/ and sandbox/ meet only over HTTP, and nothing imports home/ (the top of the house)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = {"home", "payments", "terminals", "credentials", "dashboard", "sandbox"}
OURS = APPS | {"config", "providers"}

# package -> the first-party top-level packages it may import (besides itself), from the table:
#   home/         every package below; nothing imports it
#   payments/     terminals, credentials, dashboard, providers
#   terminals/    credentials, dashboard, providers
#   credentials/  dashboard, providers
#   dashboard/    Django only: none of the apps above
#   config/       Django and the standard library; none of ours
#   providers/    httpx and the standard library; never Django
#   sandbox/      its own models and dashboard.access; never the other apps, never providers/
MAY_IMPORT = {
    "home": {"config", "payments", "terminals", "credentials", "dashboard", "providers", "sandbox"},
    "payments": {"terminals", "credentials", "dashboard", "providers"},
    "terminals": {"credentials", "dashboard", "providers"},
    "credentials": {"dashboard", "providers"},
    "dashboard": set(),
    "config": set(),
    "providers": set(),
    "sandbox": {"dashboard"},
}
# the one piece of dashboard the sandbox may use: the access-policy decorator every view declares
SANDBOX_MAY_IMPORT_FROM_DASHBOARD = {"dashboard.access"}
NEVER_DJANGO = {"providers"}


def _imports(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def _modules(package: str):
    return [p for p in (ROOT / package).rglob("*.py") if "migrations" not in p.parts]


def _offences(package: str) -> list[str]:
    offences = []
    for path in _modules(package):
        where = path.relative_to(ROOT)
        for name in _imports(path):
            top = name.split(".")[0]
            if top in OURS and top != package and top not in MAY_IMPORT[package]:
                offences.append(f"{where} imports {name}")
            if package in NEVER_DJANGO and top == "django":
                offences.append(f"{where} imports {name}")
            if (
                package == "sandbox"
                and top == "dashboard"
                and name not in SANDBOX_MAY_IMPORT_FROM_DASHBOARD
            ):
                offences.append(f"{where} imports {name}")
    return offences


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_package_imports_only_what_its_box_may(package):
    assert _offences(package) == []


def test_nothing_imports_home():
    importers = [
        f"{path.relative_to(ROOT)} imports {name}"
        for package in MAY_IMPORT
        if package != "home"
        for path in _modules(package)
        for name in _imports(path)
        if name.split(".")[0] == "home"
    ]
    assert importers == []


def test_the_table_names_every_package_of_ours():
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "benchmarks"}
    assert packages == set(MAY_IMPORT)


def test_the_walk_sees_the_code():
    assert len(_modules("providers")) >= 8 and len(_modules("sandbox")) >= 8
    assert _modules("home") and _modules("config") and _modules("dashboard")


def test_the_walk_catches_a_forbidden_import(tmp_path, monkeypatch):
    """The check itself can fail: a dashboard module importing terminals is reported."""
    fake = tmp_path / "dashboard"
    fake.mkdir()
    (fake / "bad.py").write_text("from terminals.models import Terminal\nimport django\n")
    monkeypatch.setattr(__import__(__name__, fromlist=["ROOT"]), "ROOT", tmp_path)
    assert _offences("dashboard") == ["dashboard/bad.py imports terminals.models"]

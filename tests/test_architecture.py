"""The boxes' edges (ARCHITECTURE.md): arrows point down the dependency table only, and
providers/ and sandbox/ meet only over HTTP."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIRST_PARTY = {"dashboard", "terminals", "payments", "credentials", "providers", "sandbox"}

# package -> first-party modules it must never import
FORBIDDEN = {
    "providers": {"dashboard", "terminals", "payments", "credentials", "sandbox", "django"},
    "sandbox": {"terminals", "payments", "credentials", "providers"},
    "credentials": {"terminals", "payments", "sandbox"},
    "terminals": {"payments", "sandbox"},
    "payments": {"sandbox"},
}
# the one piece of dashboard the sandbox may use: the access-policy decorator (and the settings module)
SANDBOX_MAY_IMPORT_FROM_DASHBOARD = {"dashboard.access"}


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


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_what_its_box_may(package):
    offences = []
    for path in _modules(package):
        for name in _imports(path):
            top = name.split(".")[0]
            if top in FORBIDDEN[package]:
                offences.append(f"{path.relative_to(ROOT)} imports {name}")
            if (
                package == "sandbox"
                and top == "dashboard"
                and name not in SANDBOX_MAY_IMPORT_FROM_DASHBOARD
            ):
                offences.append(f"{path.relative_to(ROOT)} imports {name}")
    assert offences == []


def test_the_walk_sees_the_code():
    assert len(_modules("providers")) >= 8 and len(_modules("sandbox")) >= 8

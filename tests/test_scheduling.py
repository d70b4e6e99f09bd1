"""One owner for scheduling: services schedule work (after commit), tasks are one call to a service.

Read from the source, like tests/test_architecture.py: a task that re-enqueues itself, a view that
enqueues, or a module-level import of tasks by services (an import cycle) fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ["home", "dashboard", "terminals", "credentials", "payments", "config"]
SCHEDULING_CALLS = {
    "delay",
    "apply_async",
    "delay_on_commit",
    "apply_async_on_commit",
    "send_task",
    "on_commit",
}
# Service modules: the only ones that schedule work, and what tasks call (payments splits its
# services by concern: payments/engine.py starts and follows payments, payments/actions.py acts on them).
# credentials splits its services the same way: credentials/refresh.py refreshes tokens,
# credentials/rotation.py rotates credentials.
SERVICE_MODULES = {"services", "engine", "actions", "refresh", "rotation"}
# The app's task class: how a service's apply_async_on_commit reaches the broker (and what happens
# when it cannot), not a place that decides to schedule anything.
TASK_CLASS_MODULE = ROOT / "config" / "scheduling.py"


def modules():
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def called_names(node: ast.AST) -> set[str]:
    return {
        call.func.attr
        for call in ast.walk(node)
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
    }


def task_modules():
    return [path for path in modules() if path.name == "tasks.py"]


def test_there_are_task_modules_to_check():
    assert {path.parent.name for path in task_modules()} >= {"terminals", "credentials"}


@pytest.mark.parametrize("path", task_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_each_task_is_one_call_to_a_service_and_schedules_nothing(path):
    for function in tree(path).body:
        if not isinstance(function, ast.FunctionDef):
            continue
        body = [
            statement
            for statement in function.body
            if not (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant))
        ]
        assert len(body) == 1, f"{path.name}:{function.name} is more than one call"
        calls = [node for node in ast.walk(body[0]) if isinstance(node, ast.Call)]
        services_calls = [
            call
            for call in calls
            if isinstance(call.func, ast.Attribute)
            and isinstance(call.func.value, ast.Name)
            and call.func.value.id in SERVICE_MODULES
        ]
        assert len(services_calls) == 1, f"{function.name} must call one service"
        assert not called_names(body[0]) & SCHEDULING_CALLS, f"{function.name} schedules work"


@pytest.mark.parametrize(
    "path",
    [path for path in modules() if path.stem not in SERVICE_MODULES and path != TASK_CLASS_MODULE],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_only_services_schedule_work(path):
    assert not called_names(tree(path)) & SCHEDULING_CALLS


def test_every_task_sends_through_the_task_class_that_survives_a_broker_outage():
    from config.celery import app
    from config.scheduling import QueuedTask
    from terminals.tasks import sync_account

    assert isinstance(sync_account, QueuedTask)
    assert all(
        isinstance(task, QueuedTask)
        for name, task in app.tasks.items()
        if name.startswith(tuple(f"{app_name}." for app_name in APPS))
    )


@pytest.mark.parametrize("path", list(modules()), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_imports_tasks_at_import_time(path):
    """Tasks import services; services reach a task only when they schedule it (inside the
    function), so the import arrow points one way: tasks → services."""
    for node in tree(path).body:  # module level only
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        assert not [name for name in names if name.endswith(".tasks")], (
            f"{path.relative_to(ROOT)} imports a tasks module at import time"
        )

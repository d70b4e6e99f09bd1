"""Thin Celery tasks: each loads by id and calls one service (terminals/services.py), in one line.

They never schedule anything: the services do (``_sync_schedule``), after commit.
"""

from celery import shared_task

from terminals import services


@shared_task(ignore_result=True)
def sync_due_accounts() -> int:
    """Beat, every few seconds: start the syncs whose per-account cadence has come round."""
    return len(services.terminals_sync_due())


@shared_task(ignore_result=True)
def sync_account(run_id: int) -> None:
    """One sync run of one account (a transient failure is rescheduled by the service)."""
    services.sync_run_execute(run_id=run_id)

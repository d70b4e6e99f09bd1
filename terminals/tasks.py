"""Thin Celery tasks: load by id, call the service (terminals/services.py), nothing else."""

from celery import shared_task

from terminals import services
from terminals.models import SyncState


@shared_task(ignore_result=True)
def sync_due_accounts() -> int:
    """Beat, every few seconds: start the syncs whose per-account cadence has come round."""
    return len(services.terminals_sync_due())


@shared_task(ignore_result=True)
def sync_account(run_id: int) -> None:
    """One sync run of one account; a transient provider failure is tried again a little later."""
    run = services.sync_run_execute(run_id=run_id)
    if run is not None and run.state == SyncState.RETRYING:
        sync_account.apply_async((run_id,), countdown=services.retry_delay_s(run))

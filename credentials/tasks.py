"""Thin Celery tasks: each calls one service (credentials/services.py, refresh.py, rotation.py), in
one line."""

from celery import shared_task

from credentials import refresh, rotation


@shared_task(ignore_result=True)
def refresh_expiring_tokens() -> int:
    """Beat, every 30 s: claim the accounts whose token expires soon and schedule their refresh."""
    return refresh.tokens_refresh_due()


@shared_task(ignore_result=True)
def refresh_account_token(account_id: int, lease: str | None = None) -> bool:
    return refresh.token_refresh(account_id=account_id, lease=lease)


@shared_task(ignore_result=True)
def rotation_policy() -> dict:
    """Beat, hourly: self-rotations that are due, reminders for keys near their age limit."""
    return rotation.rotation_policy_run()


@shared_task(ignore_result=True)
def self_rotate_account(account_id: int) -> object:
    return rotation.self_rotate_scheduled(account_id=account_id)

"""Thin Celery tasks: each calls one service (credentials/services.py), in one line."""

from celery import shared_task

from credentials import services


@shared_task(ignore_result=True)
def refresh_expiring_tokens() -> int:
    """Beat, every minute: replace access tokens that expire within five minutes."""
    return services.token_refresh_due(within_seconds=300)

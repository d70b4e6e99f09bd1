"""Thin Celery tasks: each calls one service, in one line."""

from celery import shared_task

# tests/test_scheduling.py wants each task to call `services.<one function>`.
from payments import actions as services

# --- Actions (payments/actions.py): abort, capture, void, refund provider calls -----------------


@shared_task(ignore_result=True)
def abort_payment(*, payment_id: int) -> None:
    services.payment_abort_execute(payment_id=payment_id)


@shared_task(ignore_result=True)
def capture_payment(*, payment_id: int, amount_minor: int | None = None) -> None:
    services.payment_capture_execute(payment_id=payment_id, amount_minor=amount_minor)


@shared_task(ignore_result=True)
def void_payment(*, payment_id: int) -> None:
    services.payment_void_execute(payment_id=payment_id)


@shared_task(ignore_result=True)
def refund_payment(*, refund_id: int) -> None:
    services.payment_refund_execute(refund_id=refund_id)


# --- end of actions tasks ------------------------------------------------------------------------

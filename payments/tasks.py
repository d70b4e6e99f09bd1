"""Thin Celery tasks: each calls one service of payments/engine.py (or payments/actions.py), in one
line. They never schedule anything: the services do, after commit. Tasks named `track_*` go to the
`tracking` queue (config/settings.py CELERY_TASK_ROUTES); the others to `celery`."""

from celery import shared_task

from payments import actions, engine, services

# -- engine: start, track, sweep, reconcile ----------------------------------------------------------


@shared_task(ignore_result=True)
def start_payment(payment_id: int) -> None:
    """Send the payment's one start to its provider."""
    engine.payment_start_execute(payment_id=payment_id)


@shared_task(ignore_result=True)
def capture_sale(payment_id: int) -> None:
    """Capture in full a sale the provider reserved (MobilePay)."""
    engine.payment_capture_sale(payment_id=payment_id)


@shared_task(ignore_result=True)
def track_payment(payment_id: int, owner: str = "") -> None:
    """One tracker step under the payment's lease (Payroc: a long-poll; others: one status read)."""
    engine.payment_track(payment_id=payment_id, owner=owner)


@shared_task(ignore_result=True)
def track_payment_now(payment_id: int, reason: str = "") -> None:
    """An immediate read asked for by a webhook or an action."""
    engine.payment_track_now(payment_id=payment_id, reason=reason)


@shared_task(ignore_result=True)
def track_start_look(payment_id: int, look_until: str) -> None:
    """One look by our order id for a start whose answer was lost."""
    engine.payment_look_for_start(payment_id=payment_id, look_until=look_until)


@shared_task(ignore_result=True)
def payments_sweep() -> int:
    """Beat: restart tracking for open payments whose lease expired."""
    return engine.payments_sweep()


@shared_task(ignore_result=True)
def payments_reconcile() -> int:
    """Beat: schedule a look at each unknown payment whose next look is due."""
    return engine.payments_reconcile()


@shared_task(ignore_result=True)
def reconcile_payment(payment_id: int) -> None:
    """Ask the provider about one unknown payment."""
    engine.payment_reconcile(payment_id=payment_id)


# -- actions: abort, capture, void, refund (the provider call of a person's action) ----------------


@shared_task(ignore_result=True)
def abort_payment(*, payment_id: int) -> None:
    actions.payment_abort_execute(payment_id=payment_id)


@shared_task(ignore_result=True)
def capture_payment(*, payment_id: int, amount_minor: int | None = None) -> None:
    actions.payment_capture_execute(payment_id=payment_id, amount_minor=amount_minor)


@shared_task(ignore_result=True)
def void_payment(*, payment_id: int) -> None:
    actions.payment_void_execute(payment_id=payment_id)


@shared_task(ignore_result=True)
def refund_payment(*, refund_id: int) -> None:
    actions.payment_refund_execute(refund_id=refund_id)


@shared_task(ignore_result=True)
def print_receipt(*, payment_id: int) -> None:
    services.payment_print_receipt_execute(payment_id=payment_id)

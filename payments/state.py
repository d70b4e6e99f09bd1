"""The payment state machine: the one place a payment's status changes.

```
created ──► pending ──► approved | declined | canceled | timed_out | failed      (final)
   │           │  └──► authorized ──► approved (captured) | canceled             (auth-only, MobilePay Reserved)
   │           └──────► unknown ──► any final state, once reconciliation knows
   └──► failed (provider rejected the request; nothing ran on the terminal)
```

`TRANSITIONS` is the single table of what may follow what. `payment_transition` applies a change as
one conditional UPDATE (`filter(pk=…, status=<what we read>)`) and writes the PaymentEvent in the same
transaction, the healthchecks `sendalerts` pattern: one row changed means this caller won; none means
another worker got there first, and the call is a no-op returning False. Views, start tasks,
trackers, webhooks, the sweeper and the reconciler all change status only through it.

`occupies_terminal` needs no care here: PostgreSQL computes it from the status (see the model).
No lock is held beyond the UPDATE's own row lock, for the length of one short transaction; callers
make provider calls outside it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Expression
from django.utils import timezone

from payments.models import FINAL_STATUSES, EventSource, Payment, PaymentEvent, PaymentStatus
from payments.redaction import redact

logger = logging.getLogger(__name__)

S = PaymentStatus
_FINAL = frozenset(S(s) for s in FINAL_STATUSES)

# What may follow what. Final states are final.
TRANSITIONS: Mapping[PaymentStatus, frozenset[PaymentStatus]] = {
    # The provider accepted the start (pending), refused it with nothing run on the terminal
    # (failed), or the answer was lost and it cannot tell us yet (unknown).
    S.CREATED: frozenset({S.PENDING, S.FAILED, S.UNKNOWN}),
    S.PENDING: frozenset(
        {S.APPROVED, S.DECLINED, S.CANCELED, S.TIMED_OUT, S.FAILED, S.AUTHORIZED, S.UNKNOWN}
    ),
    # Captured (approved) or its authorisation cancelled; unknown when a capture's answer was lost.
    S.AUTHORIZED: frozenset({S.APPROVED, S.CANCELED, S.UNKNOWN}),
    # Reconciliation learnt the outcome; or the provider shows the payment still running (a start
    # that stalled on the wire and landed late), so tracking resumes; or it is reserved.
    S.UNKNOWN: _FINAL | {S.PENDING, S.AUTHORIZED},
    **{final: frozenset() for final in _FINAL},
}

# Columns a transition may set besides the status (e.g. provider_ref when a start is accepted, the
# card details when approved). Status, finished_at and the generated occupies_terminal are the
# machine's own; identity, amounts asked and ownership never change after creation.
UPDATABLE_FIELDS = frozenset(
    {
        "provider_ref",
        "transaction_ref",
        "provider_data",
        "captured_minor",
        "card_brand",
        "card_last4",
        "auth_code",
        "message",
        "started_at",
        "deadline_at",
        "lease_owner",
        "lease_until",
        "needs_attention",
        "attention_reason",
    }
)


class IllegalTransition(ValueError):
    """A caller asked for a change the state machine never allows (a programming error)."""


def allowed_sources(to: PaymentStatus | str) -> frozenset[PaymentStatus]:
    """The states from which a payment may move to `to`."""
    to = S(to)
    return frozenset(source for source, targets in TRANSITIONS.items() if to in targets)


def can_transition(from_status: PaymentStatus | str, to: PaymentStatus | str) -> bool:
    return S(to) in TRANSITIONS[S(from_status)]


def payment_transition(
    *,
    payment_id: int,
    to: PaymentStatus | str,
    source: EventSource | str,
    allowed_from: Iterable[PaymentStatus | str] | None = None,
    actor=None,
    provider_status: str = "",
    detail: str = "",
    payload: Mapping[str, Any] | None = None,
    now: datetime | None = None,
    **fields: Any,
) -> bool:
    """Move payment `payment_id` to `to` if it is in one of `allowed_from` (default: every state the
    table allows `to` from), setting `fields` with it, and append its PaymentEvent.

    Returns True when this call made the change; False, changing nothing, when the payment is in a
    state outside `allowed_from` (already final, or another worker moved it first). Reaching a final
    state sets `finished_at`, ends the tracker's lease and clears `needs_attention` (unless `fields`
    say otherwise). `provider_status` is the provider's raw word, stored on the payment and the
    event; `payload` is redacted before it is stored; so is `fields["provider_data"]`.

    Raises IllegalTransition when `allowed_from` names a state the table never allows `to` from,
    TypeError for a field a transition may not set, Payment.DoesNotExist for an unknown id.
    """
    to = S(to)
    source = EventSource(source)
    permitted = allowed_sources(to)
    if allowed_from is None:
        allowed = permitted
    else:
        allowed = frozenset(S(status) for status in allowed_from)
        if illegal := allowed - permitted:
            raise IllegalTransition(
                f"A payment never moves from {', '.join(sorted(illegal))} to {to}."
            )
    if unknown_fields := set(fields) - UPDATABLE_FIELDS:
        raise TypeError(f"A transition cannot set {', '.join(sorted(unknown_fields))}.")

    now = now or timezone.now()
    updates: dict[str, Any] = {**fields, "status": to}
    if "provider_data" in updates and not isinstance(updates["provider_data"], Expression):
        updates["provider_data"] = redact(updates["provider_data"])
    if provider_status:
        updates["provider_status"] = provider_status[:100]
    if to in _FINAL:
        updates["finished_at"] = now
        updates.setdefault("lease_owner", "")
        updates.setdefault("lease_until", None)
        updates.setdefault("needs_attention", False)
    stored_payload = redact(dict(payload)) if payload else {}

    # Each pass either wins, finds the payment outside `allowed`, or saw another transition commit
    # between its read and its UPDATE; the machine has no cycle longer than its states, so a few
    # passes always settle.
    for _ in range(len(S)):
        with transaction.atomic():
            current = Payment.objects.filter(pk=payment_id).values_list("status", flat=True).first()
            if current is None:
                raise Payment.DoesNotExist(f"No payment {payment_id}")
            if current not in allowed:
                logger.debug(
                    "payment %s is %s: not moving it to %s (%s)", payment_id, current, to, source
                )
                return False
            changed = Payment.objects.filter(pk=payment_id, status=current).update(**updates)
            if changed:
                PaymentEvent.objects.create(
                    payment_id=payment_id,
                    from_status=current,
                    to_status=to,
                    source=source,
                    actor=actor,
                    provider_status=provider_status[:100],
                    detail=detail[:500],
                    payload=stored_payload,
                    created_at=now,
                )
                return True
        # Another transition committed between our read and our UPDATE: read again.
    return False


def payment_note(
    *,
    payment_id: int,
    action: str,
    source: EventSource | str,
    actor=None,
    detail: str = "",
    provider_status: str = "",
    payload: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> PaymentEvent:
    """Append an event that changes no state: a user action ("abort_requested"), a provider answer
    worth keeping on the timeline, a reconciler's finding. `payload` is redacted."""
    return PaymentEvent.objects.create(
        payment_id=payment_id,
        action=action[:40],
        source=EventSource(source),
        actor=actor,
        detail=detail[:500],
        provider_status=provider_status[:100],
        payload=redact(dict(payload)) if payload else {},
        created_at=now or timezone.now(),
    )

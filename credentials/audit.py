"""The credentials audit trail: every create, edit, verification, refresh, rotation step, policy
change and refused reveal, with who (a person, or "system" for beat and workers), when, from which
address and how it went.

`audit_record` is the one way to write an entry; nothing updates or deletes one (a PostgreSQL trigger,
credentials migration 0004, refuses it). The `detail` is plain words for a person and never holds a
secret: callers pass the provider's reason or a count, never a value they were given.

    from credentials.audit import audit_record
    from credentials.models import AuditAction, AuditOutcome

    audit_record(action=AuditAction.ROTATION_STARTED, outcome=AuditOutcome.SUCCESS,
                 account=account, request=request, detail="USAePay API key and PIN")
"""

from __future__ import annotations

from credentials.models import AuditAction, AuditEntry, AuditOutcome, ProviderAccount
from dashboard.client_address import client_address

__all__ = ["AuditAction", "AuditEntry", "AuditOutcome", "audit_record", "SYSTEM"]

SYSTEM = "system"
DETAIL_MAX = AuditEntry._meta.get_field("detail").max_length


def audit_record(
    *,
    action: str,
    outcome: str = AuditOutcome.SUCCESS,
    actor=None,
    account: ProviderAccount | None = None,
    request=None,
    source_address: str = "",
    detail: str = "",
) -> AuditEntry:
    """Append one entry. `request` (a person's request) gives the actor and the source address
    unless they are passed; with neither the entry is the system's (beat, a worker, a command).
    The merchant is the account's, so a reseller admin sees the entries of its merchants."""
    if request is not None:
        if actor is None:
            user = getattr(request, "user", None)
            actor = user if user is not None and user.is_authenticated else None
        if not source_address:
            source_address = client_address(request) or ""
    if action not in AuditAction.values:
        raise ValueError(f"unknown audit action {action!r}")
    if outcome not in AuditOutcome.values:
        raise ValueError(f"unknown audit outcome {outcome!r}")
    return AuditEntry.objects.create(
        action=action,
        outcome=outcome,
        actor=actor,
        actor_label=getattr(actor, "email", "") or SYSTEM,
        account=account,
        merchant_id=account.merchant_id if account is not None else None,
        source_address=source_address[:45],
        request_id=(getattr(request, "request_id", "") or "")[:64] if request is not None else "",
        detail=" ".join(str(detail).split())[:DETAIL_MAX],
    )

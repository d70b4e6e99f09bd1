"""Stand-in for credentials.audit's `audit_record` (built in parallel by the credentials console
work); the lead switches the imports to credentials.audit at merge. Records nothing."""

from __future__ import annotations


def audit_record(
    *,
    action: str,
    outcome: str,
    actor=None,
    account=None,
    request=None,
    source_address: str = "",
    detail: str = "",
) -> None:
    return None

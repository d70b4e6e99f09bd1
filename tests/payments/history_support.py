"""Payments for the history tests, written straight into the ledger (no provider, no event): the
history only reads rows, so each test sets exactly the columns it looks at."""

from __future__ import annotations

import re
from datetime import timedelta

from django.db import connection
from django.utils import timezone

from tests.factories import PaymentFactory, make_account, make_payment_terminal

ROW = re.compile(r'data-testid="history-row" data-payment="([0-9a-f-]{36})"')


def listed(response) -> list[str]:
    """The payment uuids of a history page, in the order shown."""
    assert response.status_code == 200
    return ROW.findall(response.content.decode())


def pay(terminal, *, ago: timedelta = timedelta(minutes=1), **columns):
    """A payment of `terminal`, created `ago` before now; approved sales are fully captured."""
    columns.setdefault("status", "approved")
    columns.setdefault("kind", "sale")
    columns.setdefault("amount_minor", 1250)
    if (
        columns["status"] == "approved"
        and columns["kind"] in ("sale", "auth")
        and "captured_minor" not in columns
    ):
        columns["captured_minor"] = columns["amount_minor"]
    return PaymentFactory(terminal=terminal, created_at=timezone.now() - ago, **columns)


def seed_rows(terminal, count: int, *, reference_prefix: str = "BULK", step_ms: int = 1) -> None:
    """`count` approved sales of `terminal` in one INSERT … SELECT (newest now, one every `step_ms`)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO payments_payment (
                uuid, kind, amount_minor, currency, terminal_id, merchant_id, store_id, account_id,
                provider, authorized_occupies_terminal, idempotency_key, reference, provider_ref,
                transaction_ref, provider_data, status, provider_status, captured_minor,
                refunded_minor, card_brand, card_last4, auth_code, message, note, created_at,
                finished_at, lease_owner, needs_attention, attention_reason
            )
            SELECT gen_random_uuid(), 'sale', 100 + mod(g, 9000), 'USD', %(terminal)s, %(merchant)s,
                   %(store)s, %(account)s, %(provider)s, false, gen_random_uuid(),
                   %(prefix)s || g, '', '', '{}', 'approved', 'COMPLETE', 100 + mod(g, 9000), 0,
                   'Visa', lpad(mod(g, 10000)::text, 4, '0'), '', '', '',
                   now() - g * %(step)s * interval '1 millisecond',
                   now() - g * %(step)s * interval '1 millisecond', '', false, ''
            FROM generate_series(1, %(count)s) AS g
            """,
            {
                "terminal": terminal.pk,
                "merchant": terminal.merchant_id,
                "store": terminal.store_id,
                "account": terminal.account_id,
                "provider": terminal.provider,
                "prefix": reference_prefix,
                "count": count,
                "step": step_ms,
            },
        )


__all__ = ["listed", "pay", "seed_rows", "make_account", "make_payment_terminal"]

"""Reads behind the payment history: keyset pages, totals per currency, the 30-day series and the
rows of the two CSV exports. Each takes a queryset that already starts at `Payment.objects.for_user`
and is filtered (`payments.filters.PaymentHistoryFilter`); nothing here changes a payment.

Pages are keyset pages, never OFFSET: a cursor is a row's (created_at, id), "older" reads the rows
below it and "newer" the rows above it, each one index range scan (payments 0002's indexes lead with
the scope's column and end in created_at, id), so page 2,000 costs what page 1 costs and a payment
that arrives while someone pages stays out of the pages already seen. No page count is computed.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate

from payments.models import FINAL_STATUSES, Payment, PaymentKind, PaymentStatus
from providers.money import MINOR_UNIT_EXPONENTS

PAGE_SIZE = 25
CHART_DAYS = 30
EXPORT_CHUNK_ROWS = 2000
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_CURSOR = re.compile(r"^(\d{1,17})_(\d{1,19})$")

SALE_KINDS = [PaymentKind.SALE, PaymentKind.AUTH]
# An approved sale's money is what was captured (a partly captured authorisation counts its part).
APPROVED_SALE = Q(kind__in=SALE_KINDS, status=PaymentStatus.APPROVED)
APPROVED_REFUND = Q(kind=PaymentKind.REFUND, status=PaymentStatus.APPROVED)
# The approval rate: sales and authorisations approved (or authorised), of those that reached a
# result (open and unknown payments have none yet): see `_fold`.


def units(amount_minor: int | None, currency: str) -> Decimal:
    """Minor units as a Decimal in the currency's units: 1250 USD → 12.50, 1000 JPY → 1000."""
    return Decimal(int(amount_minor or 0)).scaleb(-MINOR_UNIT_EXPONENTS.get(currency, 2))


# --- keyset pages ------------------------------------------------------------------------------


class BadCursor(ValueError):
    """A page link that is not one of ours (edited or cut short)."""


@dataclass(frozen=True)
class Cursor:
    created_at: dt.datetime
    pk: int

    def encode(self) -> str:
        micros = (self.created_at - _EPOCH) // dt.timedelta(microseconds=1)
        return f"{micros}_{self.pk}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        match = _CURSOR.match(text or "")
        if not match:
            raise BadCursor("This page link is not valid any more: start again from the newest.")
        micros, pk = (int(g) for g in match.groups())
        try:
            moment = _EPOCH + dt.timedelta(microseconds=micros)
        except OverflowError:
            raise BadCursor(
                "This page link is not valid any more: start again from the newest."
            ) from None
        return cls(moment, pk)

    @classmethod
    def of(cls, payment: Payment) -> Cursor:
        return cls(payment.created_at, payment.pk)


def _below(cursor: Cursor) -> Q:
    # (created_at, id) < cursor; the first term keeps it one index range (created_at <= t).
    return Q(created_at__lte=cursor.created_at) & (
        Q(created_at__lt=cursor.created_at) | Q(pk__lt=cursor.pk)
    )


def _above(cursor: Cursor) -> Q:
    return Q(created_at__gte=cursor.created_at) & (
        Q(created_at__gt=cursor.created_at) | Q(pk__gt=cursor.pk)
    )


@dataclass
class HistoryPage:
    rows: list[Payment]
    newer: Cursor | None = None  # "newer" link: the rows above this one
    older: Cursor | None = None  # "older" link: the rows below this one
    at_newest: bool = True


def history_page(
    queryset,
    *,
    before: Cursor | None = None,
    after: Cursor | None = None,
    size: int = PAGE_SIZE,
) -> HistoryPage:
    """One page of `queryset`, newest first: the newest rows, or those just below `before`, or
    those just above `after`. At most two queries: the rows (one more than a page, to know whether
    there are older ones) and, when a cursor was given, whether there are rows on its other side."""
    queryset = queryset.select_related("terminal", "store", "merchant")
    if after is not None:
        found = list(queryset.filter(_above(after)).order_by("created_at", "pk")[: size + 1])
        has_newer = len(found) > size
        rows = list(reversed(found[:size]))
        has_older = bool(rows) and queryset.filter(_below(Cursor.of(rows[-1]))).exists()
        if not rows:  # nothing newer than the cursor any more: show what is just below it
            return history_page(queryset, before=Cursor(after.created_at, after.pk + 1), size=size)
    else:
        ordered = queryset.order_by("-created_at", "-pk")
        found = list((ordered.filter(_below(before)) if before else ordered)[: size + 1])
        has_older = len(found) > size
        rows = found[:size]
        has_newer = (
            before is not None
            and queryset.filter(_above(Cursor.of(rows[0]) if rows else before)).exists()
        )
    return HistoryPage(
        rows=rows,
        newer=Cursor.of(rows[0]) if rows and has_newer else None,
        older=Cursor.of(rows[-1]) if rows and has_older else None,
        at_newest=not has_newer,
    )


# --- totals --------------------------------------------------------------------------------


@dataclass
class CurrencyTotals:
    currency: str
    sales: Decimal
    sales_count: int
    refunds: Decimal
    refunds_count: int
    count: int
    succeeded: int
    decided: int

    @property
    def net(self) -> Decimal:
        return self.sales - self.refunds

    @property
    def approval_rate(self) -> float | None:
        """Percent of the sales that reached a result and were approved; None before any did."""
        return 100 * self.succeeded / self.decided if self.decided else None


def _grouped(queryset, *keys):
    """Count, captured and amount per (keys…, currency, kind, status): a handful of groups, each of
    three plain aggregates (cheaper than a FILTER per figure over every row); folded in Python."""
    return (
        queryset.order_by()
        .values(*keys, "currency", "kind", "status")
        .annotate(n=Count("*"), captured=Sum("captured_minor"), amount=Sum("amount_minor"))
    )


_SALE_KINDS = {str(k) for k in SALE_KINDS}
_SUCCEEDED = {"approved", "authorized"}
_DECIDED = {*FINAL_STATUSES, "authorized"}


def _fold(into: dict, row: dict) -> None:
    """Adds one group's figures to `into` (minor units, counts)."""
    kind, status = row["kind"], row["status"]
    into["count"] += row["n"]
    if kind in _SALE_KINDS:
        if status == "approved":
            into["sales"] += row["captured"] or 0
            into["sales_count"] += row["n"]
        if status in _SUCCEEDED:
            into["succeeded"] += row["n"]
        if status in _DECIDED:
            into["decided"] += row["n"]
    elif kind == PaymentKind.REFUND and status == "approved":
        into["refunds"] += row["amount"] or 0
        into["refunds_count"] += row["n"]


def _empty() -> dict:
    return dict.fromkeys(
        ("count", "sales", "sales_count", "refunds", "refunds_count", "succeeded", "decided"), 0
    )


def history_totals(queryset) -> list[CurrencyTotals]:
    """Per currency of the filtered set: approved sales (captured), approved refunds, net, count of
    every payment, and the approval rate. One aggregate query."""
    per_currency: dict[str, dict] = {}
    for row in _grouped(queryset):
        _fold(per_currency.setdefault(row["currency"], _empty()), row)
    return [
        CurrencyTotals(
            currency=currency,
            sales=units(f["sales"], currency),
            sales_count=f["sales_count"],
            refunds=units(f["refunds"], currency),
            refunds_count=f["refunds_count"],
            count=f["count"],
            succeeded=f["succeeded"],
            decided=f["decided"],
        )
        for currency, f in sorted(per_currency.items())
    ]


# --- the 30-day chart --------------------------------------------------------------------------


@dataclass
class DayPoint:
    day: dt.date
    volume: Decimal = Decimal(0)
    count: int = 0
    succeeded: int = 0
    decided: int = 0

    @property
    def approval_rate(self) -> float | None:
        return 100 * self.succeeded / self.decided if self.decided else None


@dataclass
class CurrencySeries:
    currency: str
    days: list[DayPoint] = field(default_factory=list)

    @property
    def peak(self) -> Decimal:
        return max((d.volume for d in self.days), default=Decimal(0))


def history_series(queryset, *, first_day: dt.date, days: int = CHART_DAYS) -> list[CurrencySeries]:
    """Per currency, one point per calendar day (the viewer's time zone) from `first_day`: approved
    sales volume, payments, approval rate. Days without payments are zero. One aggregate query."""
    calendar = [first_day + dt.timedelta(days=i) for i in range(days)]
    figures: dict[str, dict[dt.date, dict]] = {}
    with transaction.atomic(), connection.cursor() as cursor:
        # PostgreSQL cannot estimate how many days a time-zone expression yields, so it takes every
        # row for a group of its own and, in the default 4 MB, sorts them on disk; with room for the
        # hash table it aggregates in one pass (a few hundred groups, whatever the rows).
        cursor.execute("SET LOCAL work_mem = '128MB'")
        rows = list(_grouped(queryset.annotate(day=TruncDate("created_at")), "day"))
    for row in rows:
        per_day = figures.setdefault(row["currency"], {d: _empty() for d in calendar})
        if row["day"] in per_day:
            _fold(per_day[row["day"]], row)
    series: dict[str, dict[dt.date, DayPoint]] = {
        currency: {
            day: DayPoint(
                day,
                volume=units(f["sales"], currency),
                count=f["count"],
                succeeded=f["succeeded"],
                decided=f["decided"],
            )
            for day, f in per_day.items()
        }
        for currency, per_day in figures.items()
    }
    return [
        CurrencySeries(currency, list(points.values()))
        for currency, points in sorted(series.items())
    ]


# --- CSV exports -------------------------------------------------------------------------------

EXPORT_HEADER = [
    "Payment id",
    "Created (UTC)",
    "Created (local)",
    "Finished (UTC)",
    "Kind",
    "Status",
    "Provider status",
    "Amount",
    "Currency",
    "Captured",
    "Refunded",
    "Merchant",
    "Store",
    "Terminal",
    "Terminal id at provider",
    "Provider",
    "Provider account",
    "Reference",
    "Provider reference",
    "Transaction reference",
    "Refund of payment",
    "Card brand",
    "Card last four",
    "Authorisation code",
    "Message",
    "Note",
    "Taken by",
]
_EXPORT_COLUMNS = [
    "uuid",
    "created_at",
    "finished_at",
    "kind",
    "status",
    "provider_status",
    "amount_minor",
    "currency",
    "captured_minor",
    "refunded_minor",
    "merchant__name",
    "store__name",
    "terminal__name",
    "terminal__provider_ref",
    "provider",
    "account__label",
    "reference",
    "provider_ref",
    "transaction_ref",
    "parent__uuid",
    "card_brand",
    "card_last4",
    "auth_code",
    "message",
    "note",
    "started_by__email",
]


def _utc(moment: dt.datetime | None) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds") if moment else ""


def _streamed(queryset) -> Iterator:
    """The rows of `queryset` through one server-side cursor (a named PostgreSQL cursor, fetched
    EXPORT_CHUNK_ROWS at a time) inside a read-only transaction, so the database streams them too
    (outside a transaction Django declares the cursor WITH HOLD, which makes PostgreSQL compute the
    whole result before the first fetch)."""
    with transaction.atomic():
        yield from queryset.iterator(chunk_size=EXPORT_CHUNK_ROWS)


def export_rows(queryset, *, tz: dt.tzinfo) -> Iterator[list]:
    """The header, then one row per payment, newest first: amounts in the currency's units with a
    dot, times in UTC (ISO 8601) and in `tz`. No secret is in any column (provider_data is not)."""
    kinds = dict(PaymentKind.choices)
    statuses = dict(PaymentStatus.choices)
    yield EXPORT_HEADER
    rows = queryset.order_by("-created_at", "-pk").values_list(*_EXPORT_COLUMNS)
    exponents = MINOR_UNIT_EXPONENTS
    for (
        uuid,
        created,
        finished,
        kind,
        status,
        provider_status,
        amount,
        currency,
        captured,
        refunded,
        merchant,
        store,
        terminal,
        terminal_ref,
        provider,
        account,
        reference,
        provider_ref,
        transaction_ref,
        parent,
        brand,
        last4,
        auth_code,
        message,
        note,
        taken_by,
    ) in _streamed(rows):
        exponent = -exponents.get(currency, 2)
        yield [
            str(uuid),
            created.astimezone(dt.UTC).isoformat(timespec="seconds"),
            created.astimezone(tz).isoformat(timespec="seconds"),
            _utc(finished),
            kinds.get(kind, kind),
            statuses.get(status, status),
            provider_status,
            Decimal(amount).scaleb(exponent),
            currency,
            Decimal(captured).scaleb(exponent),
            Decimal(refunded).scaleb(exponent),
            merchant,
            store or "",
            terminal or "",
            terminal_ref or "",
            provider,
            account,
            reference,
            provider_ref,
            transaction_ref,
            str(parent) if parent else "",
            brand,
            last4,
            auth_code,
            message,
            note,
            taken_by or "",
        ]


SUMMARY_HEADER = [
    "Day (local)",
    "Terminal",
    "Store",
    "Merchant",
    "Currency",
    "Payments",
    "Approved sales",
    "Approved total",
    "Refunds",
    "Net",
]


def summary_rows(queryset, *, tz: dt.tzinfo) -> Iterator[list]:
    """Per calendar day (in `tz`, the viewer's time zone), terminal and currency, newest day first: payments,
    approved sales and their total, approved refunds, net."""
    yield SUMMARY_HEADER
    grouped = (
        queryset.order_by()
        .annotate(day=TruncDate("created_at", tzinfo=tz))
        .values("day", "terminal_id", "terminal__name", "store__name", "merchant__name", "currency")
        .annotate(
            count=Count("pk"),
            sales_count=Count("pk", filter=APPROVED_SALE),
            sales=Sum("captured_minor", filter=APPROVED_SALE),
            refunds=Sum("amount_minor", filter=APPROVED_REFUND),
        )
        .order_by("-day", "merchant__name", "terminal__name", "terminal_id", "currency")
    )
    for r in _streamed(grouped):
        sales = units(r["sales"], r["currency"])
        refunds = units(r["refunds"], r["currency"])
        yield [
            r["day"].isoformat(),
            r["terminal__name"] or "No terminal (referenced refund)",
            r["store__name"] or "",
            r["merchant__name"],
            r["currency"],
            r["count"],
            r["sales_count"],
            sales,
            refunds,
            sales - refunds,
        ]

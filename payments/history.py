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
from django.db.models import (
    Case,
    CharField,
    Count,
    F,
    Func,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Cast, TruncDate

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


# Times are formatted by PostgreSQL (to_char is far cheaper than parsing and re-printing a datetime
# in Python a million times); the local column uses the session time zone, set to the viewer's for
# the export's transaction.
_UTC_ISO = 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"'
_LOCAL_ISO = 'YYYY-MM-DD"T"HH24:MI:SSTZH:TZM'


def _utc_text(field: str) -> Func:
    return Func(
        F(field),
        template=f"to_char(%(expressions)s AT TIME ZONE 'UTC', '{_UTC_ISO}')",
        output_field=CharField(),
    )


def _local_text(field: str) -> Func:
    return Func(
        F(field), template=f"to_char(%(expressions)s, '{_LOCAL_ISO}')", output_field=CharField()
    )


def _units_text(minor: int, exponent: int) -> str:
    """1250, 2 → "12.50"; 1000, 0 → "1000" (integer arithmetic: exact, and quick)."""
    if not exponent:
        return str(minor)
    whole, fraction = divmod(minor, 10**exponent)
    return f"{whole}.{fraction:0{exponent}d}"


def _streamed(queryset, *, tz: dt.tzinfo | None = None) -> Iterator:
    """The rows of `queryset` through one server-side cursor (a named PostgreSQL cursor, fetched
    EXPORT_CHUNK_ROWS at a time) inside a read-only transaction, so the database streams them too
    (outside a transaction Django declares the cursor WITH HOLD, which makes PostgreSQL compute the
    whole result before the first fetch). With `tz`, the transaction's time zone is the viewer's."""
    with transaction.atomic():
        if tz is not None:
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('TimeZone', %s, true)", [str(tz)])
        yield from queryset.iterator(chunk_size=EXPORT_CHUNK_ROWS)


# The columns whose text comes from a person or a provider: the ones a formula could hide in.
EXPORT_TEXT_COLUMNS = [
    i
    for i, name in enumerate(EXPORT_HEADER)
    if name
    not in {
        "Payment id",
        "Created (UTC)",
        "Created (local)",
        "Finished (UTC)",
        "Kind",
        "Status",
        "Amount",
        "Currency",
        "Captured",
        "Refunded",
        "Refund of payment",
    }
]


@dataclass
class ExportNames:
    """Names of the scope's merchants, stores, terminals and accounts, read once: the export's
    query then reads the payments table alone, in its index's order, so the first rows leave at once
    (with joins PostgreSQL may prefer to sort the whole set first)."""

    merchants: dict[int, str]
    stores: dict[int, str]
    terminals: dict[int, tuple[str, str]]
    accounts: dict[int, str]

    @classmethod
    def for_user(cls, user) -> ExportNames:
        from credentials.models import ProviderAccount
        from dashboard.models import Merchant, Store
        from terminals.models import Terminal

        return cls(
            merchants=dict(Merchant.objects.for_user(user).values_list("pk", "name")),
            stores=dict(Store.objects.for_user(user).values_list("pk", "name")),
            terminals={
                pk: (name, ref)
                for pk, name, ref in Terminal.objects.for_user(user).values_list(
                    "pk", "name", "provider_ref"
                )
            },
            accounts=dict(
                ProviderAccount.objects.for_user(user).order_by().values_list("pk", "label")
            ),
        )


_EXPORT_VALUES = [
    "_id",
    "_created_utc",
    "_created_local",
    "_finished_utc",
    "kind",
    "status",
    "provider_status",
    "amount_minor",
    "currency",
    "captured_minor",
    "refunded_minor",
    "merchant_id",
    "store_id",
    "terminal_id",
    "provider",
    "account_id",
    "reference",
    "provider_ref",
    "transaction_ref",
    "_parent",
    "card_brand",
    "card_last4",
    "auth_code",
    "message",
    "note",
    "started_by_id",
]


def export_rows(queryset, *, tz: dt.tzinfo, names: ExportNames) -> Iterator[list]:
    """The header, then one row per payment, newest first: amounts in the currency's units with a
    dot, times in UTC (ISO 8601) and in `tz`. No secret is in any column (provider_data is not).
    Every cell is a str (or None); the text columns are `EXPORT_TEXT_COLUMNS` (for `csv_chunks`)."""
    kinds = dict(PaymentKind.choices)
    statuses = dict(PaymentStatus.choices)
    yield EXPORT_HEADER
    parent_uuid = Payment.objects.filter(pk=OuterRef("parent_id")).order_by().values("uuid")[:1]
    rows = (
        queryset.order_by("-created_at", "-pk")
        .annotate(
            _id=Cast("uuid", CharField()),
            _created_utc=_utc_text("created_at"),
            _created_local=_local_text("created_at"),
            _finished_utc=_utc_text("finished_at"),
            # Only a refund or a capture has a parent: no look-up for the other rows.
            _parent=Case(
                When(parent_id__isnull=True, then=Value(None)),
                default=Cast(Subquery(parent_uuid), CharField()),
                output_field=CharField(),
            ),
        )
        .values_list(*_EXPORT_VALUES)
    )
    exponents = MINOR_UNIT_EXPONENTS
    merchants, stores, terminals, accounts = (
        names.merchants,
        names.stores,
        names.terminals,
        names.accounts,
    )
    no_terminal = ("", "")
    emails: dict[int | None, str] = {None: ""}  # who took the payments: few people, read as met

    def email(user_id):
        if user_id not in emails:
            from dashboard.models import User

            emails[user_id] = (
                User.objects.filter(pk=user_id).values_list("email", flat=True).first() or ""
            )
        return emails[user_id]

    for row in _streamed(rows, tz=tz):
        exponent = exponents.get(row[8], 2)
        terminal_name, terminal_ref = terminals.get(row[13], no_terminal)
        yield [
            *row[:4],
            kinds.get(row[4], row[4]),
            statuses.get(row[5], row[5]),
            row[6],
            _units_text(row[7], exponent),
            row[8],
            _units_text(row[9], exponent),
            _units_text(row[10], exponent),
            merchants.get(row[11], ""),
            stores.get(row[12], ""),
            terminal_name,
            terminal_ref,
            *row[14:15],
            accounts.get(row[15], ""),
            *row[16:25],
            email(row[25]),
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

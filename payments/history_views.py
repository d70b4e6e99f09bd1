"""The payment history: the list (filters in the URL, keyset pages, jump to date, live rows for open
payments), its totals per currency, the 30-day chart and the two CSV exports. Read-only views: every
queryset starts at `Payment.objects.for_user(user)` and goes through `PaymentHistoryFilter`; the reads
are in payments/history.py."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from dashboard.access import access
from dashboard.csv_export import csv_chunks
from payments.filters import RANGES, PaymentHistoryFilter, local_midnight
from payments.history import (
    CHART_DAYS,
    EXPORT_TEXT_COLUMNS,
    BadCursor,
    Cursor,
    ExportNames,
    export_rows,
    history_page,
    history_series,
    history_totals,
    summary_rows,
)
from payments.history_chart import chart_svg
from payments.models import Payment, PaymentKind, PaymentStatus

# Query parameters that move through the list rather than filter it.
NAVIGATION = ("before", "after", "date")
LIVE_REFRESH_S = 2


def _filterset(request, data=None) -> PaymentHistoryFilter:
    return PaymentHistoryFilter(
        request.GET if data is None else data,
        queryset=Payment.objects.for_user(request.user),
        user=request.user,
    )


def _filter_query(request) -> str:
    """The query string of the filters alone (no page cursor), for totals, chart and exports."""
    return urlencode(
        [(k, v) for k, values in request.GET.lists() if k not in NAVIGATION for v in values if v]
    )


def _fields(filterset: PaymentHistoryFilter, *, show_merchant: bool) -> list[dict]:
    """The filter form's controls in order, each with its value and its messages."""
    values = filterset.values
    errors = filterset.form.errors
    many_hint = "" if filterset.lists_everything else "Choose a merchant to list its "

    def field(name, label, kind="select", **extra):
        return {
            "name": name,
            "label": label,
            "kind": kind,
            "value": values[name],
            "errors": list(errors.get(name, [])),
            **extra,
        }

    fields = [
        field("range", "Dates", options=RANGES, empty=None),
        field("from_date", "From (custom dates)", "date"),
        field("to_date", "To (custom dates)", "date"),
    ]
    if show_merchant or values["merchant"]:  # a merchant in the URL is shown, with its message
        fields.append(
            field("merchant", "Merchant", options=filterset.merchant_options, empty="Any merchant")
        )
    fields += [
        field(
            "store",
            "Store",
            options=[("none", "No store"), *filterset.store_options],
            empty="Any store",
            hint=many_hint and many_hint + "stores",
        ),
        field(
            "terminal",
            "Terminal",
            options=filterset.terminal_options,
            empty="Any terminal",
            hint=many_hint and many_hint + "terminals",
        ),
        field("provider", "Provider", options=filterset.provider_options, empty="Any provider"),
        field("status", "Status", options=PaymentStatus.choices, empty="Any status"),
        field("kind", "Kind", options=PaymentKind.choices, empty="Any kind"),
        field("currency", "Currency", options=filterset.currency_options, empty="Any currency"),
        field("amount_min", "Amount from", "text", inputmode="decimal", placeholder="e.g. 10.00"),
        field("amount_max", "Amount to", "text", inputmode="decimal", placeholder="e.g. 99.99"),
        field("last4", "Card last four", "text", inputmode="numeric", placeholder="e.g. 0010"),
        field(
            "q",
            "Reference or payment id",
            "search",
            placeholder="Our reference, the provider's, or the payment id",
        ),
    ]
    return fields


def _filter_context(request, filterset: PaymentHistoryFilter) -> dict:
    values = filterset.values
    show_merchant = len(filterset.merchant_options) > 1
    return {
        "fields": _fields(filterset, show_merchant=show_merchant),
        "filter_pairs": [
            (k, v) for k, vs in request.GET.lists() if k not in NAVIGATION for v in vs if v
        ],
        "filterset": filterset,
        "values": values,
        "show_merchant": show_merchant,
        "narrowing": filterset.narrowing(),
        "filter_query": _filter_query(request),
        "can_export": request.user.has_perm("payments.export_payments"),
    }


def _navigation(request) -> tuple[dict, dict]:
    """(keyset arguments, problems by parameter) from ?before=, ?after= and ?date=."""
    cursor_args: dict = {}
    problems: dict[str, str] = {}
    for name in ("before", "after"):
        if request.GET.get(name):
            try:
                cursor_args[name] = Cursor.decode(request.GET[name])
            except BadCursor as exc:
                problems["cursor"] = str(exc)
    day_text = request.GET.get("date", "").strip()
    if day_text:
        try:
            day = dt.date.fromisoformat(day_text)
            # The page that starts with the last payment of that day (the viewer's calendar).
            cursor_args = {"before": Cursor(local_midnight(day + dt.timedelta(days=1)), 0)}
        except (ValueError, OverflowError):
            problems["date"] = "Enter a date as YYYY-MM-DD, e.g. 2026-11-30."
    return cursor_args, problems


@access("payments.view_payments")
@require_GET
def history(request):
    """Every payment in the user's scope, newest first, 25 a page (keyset, no page count)."""
    filterset = _filterset(request)
    cursor_args, problems = _navigation(request)
    page = None
    if filterset.is_valid() and not problems:
        page = history_page(filterset.qs, **cursor_args)
    context = _filter_context(request, filterset)
    context.update(
        {
            "page": page,
            "problems": problems,
            "jump_date": request.GET.get("date", ""),
            "live_refresh_s": LIVE_REFRESH_S,
            "open_statuses": {"created", "pending", "authorized", "unknown"},
        }
    )
    return render(request, "payments/history.html", context)


@access("payments.view_payments")
@require_GET
def totals(request):
    """Totals per currency of the filtered set (loaded by the list page after it shows)."""
    filterset = _filterset(request)
    context = _filter_context(request, filterset)
    context["totals"] = history_totals(filterset.qs) if filterset.is_valid() else None
    template = "payments/history_totals.html"
    return render(request, f"{template}#totals" if request.htmx else template, context)


@access("payments.view_payments")
@require_GET
def chart(request):
    """The last 30 days (the viewer's calendar) of the current filter: volume per day per currency
    and the approval rate, as SVG and as a table."""
    data = request.GET.copy()
    for name in ("from_date", "to_date", *NAVIGATION):
        data.pop(name, None)
    data["range"] = "last30"
    filterset = _filterset(request, data)
    context = _filter_context(request, filterset)
    first_day = timezone.localdate() - dt.timedelta(days=CHART_DAYS - 1)
    series = history_series(filterset.qs, first_day=first_day) if filterset.is_valid() else None
    context.update(
        {
            "series": [
                {"series": s, "svg": chart_svg(s, chart_id=f"chart-{s.currency.lower()}")}
                for s in series or []
            ],
            "chart_valid": series is not None,
            "first_day": first_day,
            "last_day": timezone.localdate(),
        }
    )
    return render(request, "payments/history_chart.html", context)


def _csv(request, chunks, name: str) -> StreamingHttpResponse:
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    return StreamingHttpResponse(
        chunks,
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}-{stamp}.csv"'},
    )


def _invalid_export(request, filterset):
    """A bad filter value: the list page with the message beside its filter (200), never a file of
    more payments than were asked for."""
    context = _filter_context(request, filterset)
    context.update({"page": None, "problems": {}, "live_refresh_s": LIVE_REFRESH_S})
    return render(request, "payments/history.html", context)


@access("payments.export_payments")
@require_GET
def export(request):
    """Every payment of the filtered set as CSV, streamed through a server-side cursor."""
    filterset = _filterset(request)
    if not filterset.is_valid():
        return _invalid_export(request, filterset)
    tz = timezone.get_current_timezone()
    names = ExportNames.for_user(request.user)
    rows = export_rows(filterset.qs, tz=tz, names=names)
    chunks = csv_chunks(rows, text_columns=EXPORT_TEXT_COLUMNS)
    return _csv(request, chunks, "payments")


@access("payments.export_payments")
@require_GET
def summary_export(request):
    """Per day, terminal and currency: payments, approved total, refunds, net (CSV)."""
    filterset = _filterset(request)
    if not filterset.is_valid():
        return _invalid_export(request, filterset)
    tz = timezone.get_current_timezone()
    return _csv(request, csv_chunks(summary_rows(filterset.qs, tz=tz)), "payments-daily")

"""The credentials pages: the console, one account, "Verify now" and the audit trail. Every one is
behind the second factor for platform and reseller admins (`second_factor=True`,
dashboard/second_factor.py); merchant managers and cashiers get 403 as before (a manager sees on the
home page that an account exists and whether it works)."""

from datetime import UTC

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from credentials import services
from credentials.console import (
    PAGE_SIZE,
    STATE_FILTER_CHOICES,
    AuditFilter,
    ConsoleFilter,
    account_health,
    console_page,
)
from credentials.models import AuditAction, AuditEntry, AuditOutcome, ProviderAccount
from dashboard.access import access, scoped
from dashboard.csv_export import csv_chunks
from providers.registry import UnknownProvider, provider_choices, secret_fields

AUDIT_PAGE_SIZE = 50
CONSOLE_FILTERS = ("state", "provider", "reseller", "merchant")
AUDIT_FILTERS = ("action", "outcome", "merchant", "account", "actor", "since", "until")


@access("credentials.view_accounts", second_factor=True)
@require_GET
def account_list(request):
    """The console: every account in the user's scope, grouped by reseller and merchant."""
    user = request.user
    now = timezone.now()
    filterset = ConsoleFilter(
        request.GET, queryset=ProviderAccount.objects.for_user(user), user=user, now=now
    )
    page = console_page(filterset.qs, PAGE_SIZE, request.GET.get("page"))
    groups: list[tuple] = []  # (merchant, [(account, health), ...]) in page order
    for account in page.object_list:
        if not groups or groups[-1][0].pk != account.merchant_id:
            groups.append((account.merchant, []))
        groups[-1][1].append((account, account_health(account, now=now)))
    values = {name: filterset.form[name].value() or "" for name in CONSOLE_FILTERS}
    return render(
        request,
        "credentials/account_list.html",
        {
            "page": page,
            "groups": groups,
            "filterset": filterset,
            "values": values,
            "filtered": any(values.values()),
            "state_options": STATE_FILTER_CHOICES,
            "provider_options": provider_choices(),
            "reseller_options": filterset.reseller_options,
            "merchant_options": filterset.merchant_options,
            "show_reseller": filterset.show_reseller,
        },
    )


def _with_token(queryset):
    return queryset.select_related("merchant__reseller", "access_token")


@access(
    "credentials.view_accounts",
    obj=scoped(ProviderAccount, name="account", refine=_with_token),
    second_factor=True,
)
def account_detail(request, account):
    try:
        labels = {field.name: field.label for field in secret_fields(account.provider)}
    except UnknownProvider:
        labels = {}
    secrets = [
        (labels.get(name, name), masked) for name, masked in account.masked_secrets().items()
    ]
    events = account.audit_events.all()[:50]
    return render(
        request,
        "credentials/account_detail.html",
        {
            "account": account,
            "health": account_health(account),
            "secrets": secrets,
            "events": events,
        },
    )


@access(
    "credentials.verify_account",
    obj=scoped(ProviderAccount, name="account"),
    second_factor=True,
)
@require_POST
def account_verify(request, account):
    """ "Verify now": the provider is asked at once, within the account's budget for presses."""
    outcome = services.account_verify(account=account, actor=request.user, request=request)
    if outcome.refused:  # over the budget: nothing was asked, the person is told when to ask
        messages.info(request, outcome.message)
    else:
        (messages.success if outcome.ok else messages.error)(request, outcome.message)
    return redirect("credentials:account_detail", pk=account.pk)


@access("credentials.view_audit", second_factor=True)
@require_GET
def audit_list(request):
    """The audit trail of the user's accounts, newest first; `?format=csv` exports the filter.
    Read-only: no URL changes or deletes an entry (and the database refuses it)."""
    user = request.user
    filterset = AuditFilter(request.GET, queryset=AuditEntry.objects.for_user(user), user=user)
    values = {name: filterset.form[name].value() or "" for name in AUDIT_FILTERS}
    if not filterset.is_valid():
        entries = AuditEntry.objects.none()
    else:
        entries = filterset.qs
    if request.GET.get("format") == "csv" and filterset.is_valid():
        return _audit_csv(entries)
    page = Paginator(
        entries.select_related("account", "merchant").order_by("-created_at", "-pk"),
        AUDIT_PAGE_SIZE,
    ).get_page(request.GET.get("page"))
    return render(
        request,
        "credentials/audit_list.html",
        {
            "page": page,
            "filterset": filterset,
            "values": values,
            "filtered": any(values.values()),
            "action_options": AuditAction.choices,
            "outcome_options": AuditOutcome.choices,
            "merchant_options": filterset.merchant_options,
        },
    )


AUDIT_CSV_HEADER = [
    "Time (UTC)",
    "Action",
    "Outcome",
    "Who",
    "Merchant",
    "Provider account",
    "Source address",
    "Detail",
    "Request id",
]


def _audit_rows(entries):
    yield AUDIT_CSV_HEADER
    for e in (
        entries.select_related("account", "merchant")
        .order_by("-created_at", "-pk")
        .iterator(chunk_size=2000)
    ):
        yield [
            e.created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            e.get_action_display(),
            e.get_outcome_display(),
            e.actor_label,
            e.merchant.name if e.merchant_id else "",
            str(e.account) if e.account_id else "",
            e.source_address,
            e.detail,
            e.request_id,
        ]


def _audit_csv(entries) -> StreamingHttpResponse:
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    return StreamingHttpResponse(
        csv_chunks(_audit_rows(entries)),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="credentials-audit-{stamp}.csv"'},
    )

"""Fleet list (filters, status refresh, CSV export, bulk store assignment, Sync now) and the terminal
page (details, history, rename, store, probe). Every queryset starts at `for_user(user)`; changes go
through terminals/services.py."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponseNotAllowed, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from credentials.models import ProviderAccount
from dashboard.access import access, scoped
from dashboard.csv_export import csv_chunks
from dashboard.models import Store
from dashboard.params import get_choice, get_id, get_ids
from providers.registry import capabilities_for, provider_choices
from terminals import services
from terminals.filters import SORTS, STATUS_CHOICES, FleetFilter
from terminals.forms import NO_STORE, RenameForm, StoreChoiceForm
from terminals.models import SyncRun, Terminal, TerminalEvent

PAGE_SIZE = 25
STATUS_REFRESH_S = 3
HISTORY_LENGTH = 50


def _next_url(request, default: str) -> str:
    """Where to go back to: a path of this site (the page that sent the form), else `default`."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if (
        candidate.startswith("/")
        and candidate.isprintable()
        and url_has_allowed_host_and_scheme(candidate, allowed_hosts={request.get_host()})
    ):
        return candidate
    return default


# --- fleet ---------------------------------------------------------------------------------------


@access("terminals.view_terminals")
@require_GET
def fleet(request):
    user = request.user
    filterset = FleetFilter(request.GET, queryset=Terminal.objects.for_user(user), user=user)
    terminals = filterset.qs
    if request.GET.get("format") == "csv":
        if not user.has_perm("terminals.export_terminals"):
            raise PermissionDenied("Your role may not export the fleet.")
        return _csv_response(terminals)

    page = Paginator(terminals.select_related("merchant", "store"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    merchants = filterset.merchant_options
    store_options = filterset.store_options
    sort = request.GET.get("sort", "")
    context = {
        "page": page,
        "filterset": filterset,
        "values": {
            name: filterset.form[name].value() or ""
            for name in ("q", "merchant", "store", "provider", "status")
        },
        "filtered": any(
            filterset.form[name].value()
            for name in ("q", "merchant", "store", "provider", "status")
        ),
        "merchant_options": merchants,
        "store_options": store_options,
        "store_hint": len(merchants) > 1 and not filterset.form.cleaned_data.get("merchant"),
        "provider_options": provider_choices(),
        "status_options": STATUS_CHOICES,
        "columns": [
            {
                "label": label,
                "key": key,
                "sorted": sort.lstrip("-") == key,
                "descending": sort == f"-{key}",
                "next_sort": key if sort != key else f"-{key}",
            }
            for key, _, label in SORTS
        ],
        "show_merchant": len(merchants) > 1,
        "can_assign": user.has_perm("terminals.assign_store"),
        "can_export": user.has_perm("terminals.export_terminals"),
        "can_sync": user.has_perm("terminals.sync_terminals"),
        "can_view_accounts": not page.object_list and user.has_perm("credentials.view_accounts"),
        "refresh_s": STATUS_REFRESH_S,
        "status_ids": urlencode([("id", t.pk) for t in page.object_list]),
    }
    return render(request, "terminals/fleet.html", context)


CSV_HEADER = [
    "Name",
    "Merchant",
    "Store",
    "Provider",
    "Provider account",
    "Identifier",
    "Identifier kind",
    "Serial number",
    "Model",
    "Status",
    "Status source",
    "Status reason",
    "Provider status",
    "Last checked (UTC)",
    "Last seen (UTC)",
    "Active",
]


def _csv_rows(terminals):
    yield CSV_HEADER
    for t in terminals.select_related("merchant", "store", "account").iterator(chunk_size=2000):
        yield [
            t.name,
            t.merchant.name,
            t.store.name if t.store else "",
            t.get_provider_display(),
            t.account.label,
            t.provider_ref,
            t.ref_label,
            t.serial_number,
            t.model,
            t.status,
            t.get_status_source_display(),
            t.status_reason,
            t.provider_status,
            t.status_checked_at.isoformat(timespec="seconds") if t.status_checked_at else "",
            t.last_seen_at.isoformat(timespec="seconds") if t.last_seen_at else "",
            "yes" if t.is_active else "no",
        ]


def _csv_response(terminals) -> StreamingHttpResponse:
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    return StreamingHttpResponse(
        csv_chunks(_csv_rows(terminals)),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="terminals-{stamp}.csv"'},
    )


@access("terminals.view_terminals")
@require_GET
def statuses(request):
    """The status badges of the given terminals as out-of-band swaps (a read, never a provider call)."""
    ids = get_ids(request.GET, "id", limit=200)
    terminals = (
        Terminal.objects.for_user(request.user).filter(pk__in=ids)
        if ids
        else Terminal.objects.none()
    )
    return render(request, "terminals/_statuses.html", {"terminals": terminals})


@access("terminals.assign_store")
def assign(request):
    """Bulk action: the selected terminals into one store of their merchant, after a confirmation."""
    fleet_url = reverse("terminals:fleet")
    if request.method != "POST":
        return redirect(fleet_url)
    next_url = _next_url(request, fleet_url)
    ids = get_ids(request.POST, "terminal", limit=1000)
    terminals = Terminal.objects.for_user(request.user).filter(pk__in=ids)
    selected = list(
        terminals.select_related("merchant", "store").order_by("merchant__name", "name")
    )
    if not selected:
        messages.warning(request, "Select at least one terminal first.")
        return redirect(next_url)
    merchant_ids = {t.merchant_id for t in selected}
    stores = (
        Store.objects.for_user(request.user)
        .filter(merchant_id__in=merchant_ids)
        .select_related("merchant")
    )
    confirming = request.POST.get("confirm") == "1"
    form = StoreChoiceForm(request.POST if confirming else None, stores=stores)
    if confirming and form.is_valid():
        store = form.cleaned_data["store"]
        outcome = services.terminals_assign_store(
            terminals=terminals, store=store, actor=request.user
        )
        where = f"“{store.name}”" if store else "no store"
        parts = [
            f"{outcome.assigned} terminal{'s' if outcome.assigned != 1 else ''} moved to {where}."
        ]
        if outcome.unchanged:
            parts.append(f"{outcome.unchanged} already there.")
        if outcome.skipped:
            parts.append(
                f"{outcome.skipped} skipped: a terminal can only go to a store of its own merchant."
            )
        (messages.success if not outcome.skipped else messages.warning)(request, " ".join(parts))
        return redirect(next_url)
    return render(
        request,
        "terminals/assign_confirm.html",
        {
            "terminals": selected,
            "form": form,
            "next": next_url,
            "merchant_count": len(merchant_ids),
            "no_stores": not stores,
        },
    )


# --- sync ----------------------------------------------------------------------------------------


def _sync_context(runs: list[SyncRun], ids: list[int]) -> dict:
    finished = [r for r in runs if not r.is_active]
    return {
        "runs": runs,
        "tracking": bool(ids),
        "active": len(runs) - len(finished),
        "done": len(finished),
        "failed": sum(1 for r in finished if r.state == "failed"),
        "totals": {
            k: sum(getattr(r, k) for r in finished)
            for k in ("added", "updated", "deactivated", "listed")
        },
        "progress_url": reverse("terminals:sync")
        + ("?" + urlencode([("run", i) for i in ids]) if ids else ""),
        "poll": bool(ids) and len(finished) < len(runs),
    }


@access("terminals.sync_terminals")
def sync(request):
    """POST: "Sync now" for the accounts behind the fleet (optionally one merchant or provider).
    GET ?run=…: the progress of those runs (HTMX polls the partial until all are done); without
    runs: the latest syncs the user may see."""
    if request.method == "POST":
        accounts = ProviderAccount.objects.for_user(request.user).active()
        merchant = get_id(request.POST, "merchant")
        provider = get_choice(request.POST, "provider", dict(provider_choices()))
        if merchant is not None:
            accounts = accounts.filter(merchant_id=merchant)
        if provider is not None:
            accounts = accounts.filter(provider=provider)
        runs = services.terminals_sync_request(accounts=list(accounts), user=request.user)
        if not runs:
            messages.info(request, "There is no active provider account to sync.")
            return redirect(_next_url(request, reverse("terminals:fleet")))
        ids = [r.pk for r in runs]
        if request.htmx:
            runs = list(SyncRun.objects.filter(pk__in=ids).select_related("account__merchant"))
            context = _sync_context(runs, ids)
            # The broker was down (config.scheduling.QueuedWorkMiddleware lists what it could not
            # send): said here, in the progress, and so not again as a message.
            unsent = getattr(request, "unsent_tasks", [])
            context["queued_note"] = bool(unsent)
            unsent.clear()
            return render(request, "terminals/sync.html#progress", context)
        return redirect(reverse("terminals:sync") + "?" + urlencode([("run", i) for i in ids]))
    if request.method != "GET":
        return HttpResponseNotAllowed(["GET", "POST"])

    ids = get_ids(request.GET, "run", limit=500)
    runs = SyncRun.objects.for_user(request.user).select_related("account__merchant")
    runs = list(runs.filter(pk__in=ids) if ids else runs[:25])
    context = _sync_context(runs, ids)
    if request.htmx:
        response = render(request, "terminals/sync.html#progress", context)
        if ids and not context["poll"]:
            response["HX-Trigger"] = "terminals-synced"
        return response
    return render(request, "terminals/sync.html", context)


# --- one terminal --------------------------------------------------------------------------------


def _detail_context(request, terminal: Terminal, **overrides) -> dict:
    user = request.user
    capabilities = capabilities_for(terminal.provider)
    stores = (
        Store.objects.for_user(user)
        .filter(merchant_id=terminal.merchant_id)
        .select_related("merchant")
    )
    context = {
        "terminal": terminal,
        "api_name": services.api_name(terminal.provider),
        "capabilities": capabilities,
        "rename_note": services.rename_note(terminal.provider),
        "rename_form": RenameForm(initial={"name": terminal.name}),
        "store_form": StoreChoiceForm(
            initial={"store": terminal.store_id or NO_STORE}, stores=stores, none_label="No store"
        ),
        "events": TerminalEvent.objects.filter(terminal=terminal).select_related("actor")[
            :HISTORY_LENGTH
        ],
        "refresh_s": STATUS_REFRESH_S,
    }
    context.update(overrides)
    return context


@access("terminals.view_terminals", obj=scoped(Terminal))
@require_GET
def detail(request, terminal):
    terminal = Terminal.objects.select_related("merchant", "store", "account").get(pk=terminal.pk)
    return render(request, "terminals/detail.html", _detail_context(request, terminal))


@access("terminals.rename_terminal", obj=scoped(Terminal))
def rename(request, terminal):
    terminal = Terminal.objects.select_related("merchant", "store", "account").get(pk=terminal.pk)
    form = RenameForm(request.POST or None, initial={"name": terminal.name})
    if request.method == "POST" and form.is_valid():
        try:
            outcome = services.terminal_rename(
                terminal=terminal, name=form.cleaned_data["name"], actor=request.user
            )
        except services.RenameRefused as refused:
            form.add_error(None, refused.message)
        except ValidationError as invalid:
            form.add_error("name", invalid)
        else:
            messages.success(request, outcome.message)
            return redirect("terminals:detail", pk=terminal.pk)
        terminal.refresh_from_db()
    return render(
        request,
        "terminals/detail.html",
        _detail_context(request, terminal, rename_form=form, rename_open=True),
    )


@access("terminals.assign_store", obj=scoped(Terminal))
def assign_store(request, terminal):
    terminal = Terminal.objects.select_related("merchant", "store", "account").get(pk=terminal.pk)
    stores = (
        Store.objects.for_user(request.user)
        .filter(merchant_id=terminal.merchant_id)
        .select_related("merchant")
    )
    form = StoreChoiceForm(request.POST or None, stores=stores, none_label="No store")
    if request.method == "POST" and form.is_valid():
        store = form.cleaned_data["store"]
        outcome = services.terminals_assign_store(
            terminals=Terminal.objects.filter(pk=terminal.pk), store=store, actor=request.user
        )
        if outcome.assigned:
            messages.success(
                request, f"Moved to “{store.name}”." if store else "Taken out of its store."
            )
        else:
            messages.info(request, "Nothing changed: the terminal is already there.")
        return redirect("terminals:detail", pk=terminal.pk)
    return render(
        request, "terminals/detail.html", _detail_context(request, terminal, store_form=form)
    )


@access("terminals.probe_terminal", obj=scoped(Terminal))
@require_POST
def probe(request, terminal):
    outcome = services.terminal_probe(terminal=terminal, actor=request.user)
    if outcome.refused:  # over the budget: nothing was asked, the person is told when to ask
        messages.info(request, outcome.message)
    else:
        (messages.success if outcome.ok else messages.error)(request, outcome.message)
    return redirect("terminals:detail", pk=terminal.pk)

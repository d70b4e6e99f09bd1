"""The home page per role and /healthz: the top of the house, so it may read every app below it."""

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from dashboard.access import access, public
from dashboard.models import Merchant, Reseller, Role, Store, membership_of
from terminals.models import Terminal

DESK_REFRESH_S = 3

# --- health ---------------------------------------------------------------------------------------


@public("load balancers and monitors; reveals no configuration")
@never_cache
@require_GET
def healthz(request):
    from config.celery import app as celery_app

    checks: dict = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception:
        checks["database"] = "unavailable"
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        checks["broker"] = "ok"
    except Exception:
        checks["broker"] = "unavailable"
    workers = 0
    if checks["broker"] == "ok":
        try:
            workers = len(celery_app.control.ping(timeout=settings.HEALTHZ_WORKER_PING_S) or [])
        except Exception:
            workers = 0
    checks["workers"] = workers
    healthy = checks["database"] == "ok" and checks["broker"] == "ok" and workers >= 1
    if not healthy and workers == 0:
        checks["failing"] = [name for name in ("database", "broker") if checks[name] != "ok"] or [
            "workers"
        ]
    elif not healthy:
        checks["failing"] = [name for name in ("database", "broker") if checks[name] != "ok"]
    return JsonResponse(checks, status=200 if healthy else 503)


# --- home -----------------------------------------------------------------------------------------


@access()
def home(request):
    user = request.user
    membership = membership_of(user)
    counts = {
        "resellers": Reseller.objects.for_user(user).count()
        if membership is not None and membership.role == Role.PLATFORM_ADMIN
        else None,
        "merchants": Merchant.objects.for_user(user).count(),
        "stores": Store.objects.for_user(user).count(),
    }
    terminal_counts = Terminal.objects.for_user(
        user
    ).status_counts()  # one query, active terminals only
    from credentials.console import console_summary, merchant_accounts

    credentials_summary = (
        console_summary(user) if user.has_perm("credentials.view_accounts") else None
    )
    # A merchant manager sees that its accounts exist and whether they work, nothing more.
    provider_accounts = (
        merchant_accounts(user)
        if membership is not None and membership.role == Role.MERCHANT_MANAGER
        else None
    )
    return render(
        request,
        "home/home.html",
        {
            **_desk(user),
            "refresh_s": DESK_REFRESH_S,
            "counts": counts,
            "terminal_counts": terminal_counts,
            "terminal_total": sum(terminal_counts.values()),
            "credentials_summary": credentials_summary,
            "provider_accounts": provider_accounts,
        },
    )


def _desk(user) -> dict:
    """The merchant's desk: today's takings per currency, open payments, the last ten, the flags."""
    from django.db.models import Count, Q, Sum
    from django.utils import timezone

    from payments.forms import format_minor
    from payments.models import Payment

    payments = Payment.objects.for_user(user)
    start = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    rows = (
        payments.filter(created_at__gte=start, status="approved")
        .values("currency")
        .annotate(
            approved=Sum("amount_minor", filter=Q(kind__in=["sale", "auth"])),
            refunded=Sum("amount_minor", filter=Q(kind="refund")),
            count=Count("pk", filter=Q(kind__in=["sale", "auth"])),
        )
        .order_by("currency")
    )
    takings = [
        {
            "currency": r["currency"],
            "approved": format_minor(r["approved"] or 0, r["currency"]),
            "refunded": format_minor(r["refunded"] or 0, r["currency"]),
            "net": format_minor((r["approved"] or 0) - (r["refunded"] or 0), r["currency"])
            if (r["approved"] or 0) >= (r["refunded"] or 0)
            else "-" + format_minor((r["refunded"] or 0) - (r["approved"] or 0), r["currency"]),
            "count": r["count"],
        }
        for r in rows
    ]
    flags = payments.filter(status__in=["unknown", "authorized"]).aggregate(
        unknown=Count("pk", filter=Q(status="unknown")),
        authorized=Count("pk", filter=Q(status="authorized")),
    )
    return {
        "takings": takings,
        "open_payments": list(payments.open().select_related("terminal", "merchant")[:20]),
        "recent_payments": list(payments.select_related("terminal", "merchant")[:10]),
        "flags": flags,
    }

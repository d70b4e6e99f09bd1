"""The home page per role and /healthz: the top of the house, so it may read every app below it."""

from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from dashboard.access import access, public
from dashboard.models import Merchant, Reseller, Role, Store, membership_of
from terminals.models import Terminal

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
            workers = len(celery_app.control.ping(timeout=0.5) or [])
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
        if membership.role == Role.PLATFORM_ADMIN
        else None,
        "merchants": Merchant.objects.for_user(user).count(),
        "stores": Store.objects.for_user(user).count(),
    }
    terminal_counts = Terminal.objects.for_user(
        user
    ).status_counts()  # one query, active terminals only
    return render(
        request,
        "home/home.html",
        {
            "counts": counts,
            "terminal_counts": terminal_counts,
            "terminal_total": sum(terminal_counts.values()),
        },
    )

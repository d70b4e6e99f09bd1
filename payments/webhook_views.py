"""`POST /webhooks/<provider>/<account uuid>/`: providers call it; no session, no CSRF token."""

from __future__ import annotations

from django.http import Http404, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from dashboard.access import public
from payments.webhooks import MAX_BODY_BYTES, webhook_account, webhook_receive
from providers.registry import provider_choices


@public("providers deliver webhooks; each is checked by its signature over the raw body")
@csrf_exempt
@require_POST
def receive(request, provider: str, account_uuid):
    known = provider in dict(provider_choices())  # a NUL or a stranger never reaches a query
    account = webhook_account(provider=provider, account_uuid=account_uuid) if known else None
    if account is None:
        raise Http404("No such webhook address.")
    try:
        length = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        length = 0
    if length > MAX_BODY_BYTES:
        return HttpResponse("Too large.", status=413, content_type="text/plain")
    answer = webhook_receive(account=account, headers=dict(request.headers), body=request.body)
    return HttpResponse(answer.text, status=answer.status, content_type="text/plain")

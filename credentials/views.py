from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from credentials import services
from credentials.models import ProviderAccount
from dashboard.access import access, scoped
from providers.registry import UnknownProvider, secret_fields


@access("credentials.view_accounts")
def account_list(request):
    accounts = ProviderAccount.objects.for_user(request.user).select_related(
        "merchant", "access_token"
    )
    page = Paginator(accounts, 25).get_page(request.GET.get("page"))
    return render(request, "credentials/account_list.html", {"page": page})


@access("credentials.view_accounts", obj=scoped(ProviderAccount, name="account"))
def account_detail(request, account):
    try:
        labels = {field.name: field.label for field in secret_fields(account.provider)}
    except UnknownProvider:
        labels = {}
    secrets = [
        (labels.get(name, name), masked) for name, masked in account.masked_secrets().items()
    ]
    events = account.audit_events.select_related("actor")[:50]
    return render(
        request,
        "credentials/account_detail.html",
        {"account": account, "secrets": secrets, "events": events},
    )


@access("credentials.verify_account", obj=scoped(ProviderAccount, name="account"))
@require_POST
def account_verify(request, account):
    """ "Verify now": the provider is asked at once, within the account's budget for presses."""
    outcome = services.account_verify(account=account, actor=request.user)
    if outcome.refused:  # over the budget: nothing was asked, the person is told when to ask
        messages.info(request, outcome.message)
    else:
        (messages.success if outcome.ok else messages.error)(request, outcome.message)
    return redirect("credentials:account_detail", pk=account.pk)

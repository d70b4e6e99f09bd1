"""Adding, editing and rotating a provider account: platform admins only (`credentials.manage_accounts`;
others get 403). Views parse, call one service of credentials/rotation.py, render."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from credentials import rotation, webhook_check
from credentials.forms import (
    AccountAddForm,
    AccountEditForm,
    ProviderChoiceForm,
    RotateForm,
    RotationPolicyForm,
)
from credentials.models import ProviderAccount
from dashboard.access import access, scoped
from dashboard.models import Merchant
from dashboard.second_factor import reauthentication_required
from providers.registry import capabilities_for, provider_class, secret_fields

MANAGE = "credentials.manage_accounts"


@access(MANAGE, second_factor=True)
@reauthentication_required
def account_add(request):
    """Step one (GET ?provider=): the provider; step two: its own fields, verified before saving."""
    chosen = request.POST.get("provider") or request.GET.get("provider")
    picker = ProviderChoiceForm({"provider": chosen} if chosen else None)
    if not chosen or not picker.is_valid():
        return render(request, "credentials/account_add_provider.html", {"picker": picker})
    merchants = Merchant.objects.for_user(request.user).order_by("name")
    if request.method == "POST":
        form = AccountAddForm(request.POST, merchants=merchants)
        if form.is_valid():
            outcome = rotation.account_add(
                merchant=form.cleaned_data["merchant"],
                provider=form.cleaned_data["provider"],
                environment=form.cleaned_data["environment"],
                label=form.cleaned_data["label"],
                secrets=form.secrets(),
                settings=form.settings(),
                actor=request.user,
                request=request,
            )
            if outcome.ok:
                messages.success(request, outcome.message)
                return redirect("credentials:account_webhook", pk=outcome.account.pk)
            form.add_error(outcome.field, outcome.message)
    else:
        form = AccountAddForm(initial={"provider": chosen}, merchants=merchants)
    return render(
        request,
        "credentials/account_add.html",
        {"form": form, "provider": provider_class(picker.cleaned_data["provider"])},
    )


@access(MANAGE, obj=scoped(ProviderAccount, name="account"), second_factor=True)
@reauthentication_required
def account_edit(request, account):
    if request.method == "POST":
        form = AccountEditForm(request.POST, account=account)
        if form.is_valid():
            outcome = rotation.account_edit(
                account=account,
                label=form.cleaned_data["label"],
                environment=form.cleaned_data["environment"],
                settings=form.settings(),
                new_secrets=form.secrets(),
                actor=request.user,
                request=request,
            )
            if outcome.ok:
                messages.success(request, outcome.message)
                return redirect("credentials:account_detail", pk=account.pk)
            form.add_error(outcome.field, outcome.message)
    else:
        form = AccountEditForm(account=account)
    return render(request, "credentials/account_edit.html", {"form": form, "account": account})


@access(MANAGE, obj=scoped(ProviderAccount, name="account"), second_factor=True)
def account_webhook(request, account):
    """What the merchant configures at the provider: our webhook URL and which secret signs it."""
    has_webhooks = capabilities_for(account.provider).has_webhooks
    url = request.build_absolute_uri(
        reverse("webhooks:receive", args=[account.provider, account.uuid])
    )
    masks = account.masked_secrets()
    signing = [
        (field.label, masks.get(field.name, "not set"))
        for field in secret_fields(account.provider)
        if "webhook" in field.name
    ]
    return render(
        request,
        "credentials/account_webhook.html",
        {
            "account": account,
            "has_webhooks": has_webhooks,
            "url": url,
            "signing": signing,
            "can_send_test": webhook_check.webhook_test_offered(account),
        },
    )


@access(MANAGE, obj=scoped(ProviderAccount, name="account"), second_factor=True)
@require_POST
def account_webhook_test(request, account):
    """ "Send a test webhook": the sandbox sends one, the page says whether it arrived, signed."""
    outcome = webhook_check.webhook_test_send(account=account, actor=request.user, request=request)
    if outcome.refused:
        messages.info(request, outcome.message)
    else:
        (messages.success if outcome.ok else messages.error)(request, outcome.message)
    return redirect("credentials:account_webhook", pk=account.pk)


@access(MANAGE, obj=scoped(ProviderAccount, name="account"), second_factor=True)
@reauthentication_required
def account_rotate(request, account):
    """Rotation: new provider-issued secrets (verified, then activated), the self-service rotation
    where the provider has one, the recovery actions, and the account's rotation policy."""
    names = rotation.issued_secret_names(account.provider)
    kind = rotation.self_rotation_kind(account.provider)
    if request.method == "POST":
        form = RotateForm(request.POST, account=account, names=names)
        if form.is_valid():
            outcome = rotation.credential_rotate(
                account=account, new_secrets=form.secrets(), actor=request.user, request=request
            )
            if outcome.ok:
                messages.success(request, outcome.message)
                return redirect("credentials:account_rotate", pk=account.pk)
            form.add_error(None, outcome.message)
    else:
        form = RotateForm(account=account, names=names)
    account.refresh_from_db()
    policy = RotationPolicyForm(
        initial={
            "self_rotate_every_days": account.self_rotate_every_days,
            "key_age_limit_days": account.key_age_limit_days,
        },
        self_rotates=bool(kind),
    )
    return render(
        request,
        "credentials/account_rotate.html",
        {
            "account": account,
            "form": form,
            "policy": policy,
            "self_rotation": kind,
            "can_create_token": rotation.can_create_token(account.provider),
            "api": rotation.api_name(account.provider),
            "recovery_steps": account.recovery_steps.splitlines(),
        },
    )


def _said(request, outcome) -> None:
    if outcome.ok:
        messages.success(request, outcome.message)
    elif outcome.needs_attention:
        messages.warning(request, outcome.message)
    else:
        messages.error(request, outcome.message)


@access(MANAGE, obj=scoped(ProviderAccount, name="account"), second_factor=True)
@reauthentication_required
@require_POST
def account_self_rotate(request, account):
    _said(
        request,
        rotation.credential_self_rotate(account=account, actor=request.user, request=request),
    )
    return redirect("credentials:account_rotate", pk=account.pk)


@access(MANAGE, obj=scoped(ProviderAccount, name="account"), second_factor=True)
@reauthentication_required
@require_POST
def account_token_create(request, account):
    _said(
        request,
        rotation.credential_token_create(account=account, actor=request.user, request=request),
    )
    return redirect("credentials:account_rotate", pk=account.pk)


@access(MANAGE, obj=scoped(ProviderAccount, name="account"), second_factor=True)
@require_POST
def account_rotation_abandon(request, account):
    _said(request, rotation.rotation_abandon(account=account, actor=request.user, request=request))
    return redirect("credentials:account_rotate", pk=account.pk)


@access(MANAGE, obj=scoped(ProviderAccount, name="account"), second_factor=True)
@require_POST
def account_rotation_policy(request, account):
    form = RotationPolicyForm(
        request.POST, self_rotates=bool(rotation.self_rotation_kind(account.provider))
    )
    if form.is_valid():
        rotation.rotation_policy_set(
            account=account,
            self_rotate_every_days=form.cleaned_data.get("self_rotate_every_days"),
            key_age_limit_days=form.cleaned_data.get("key_age_limit_days"),
            actor=request.user,
            request=request,
        )
        messages.success(request, "Rotation policy saved.")
    else:
        errors = "; ".join(str(e) for errs in form.errors.values() for e in errs)
        messages.error(request, f"The policy was not saved: {errors}")
    return redirect("credentials:account_rotate", pk=account.pk)

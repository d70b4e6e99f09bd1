from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count
from django.shortcuts import redirect, render

from dashboard import services
from dashboard.access import SESSION_ENDED, SESSION_ENDED_MESSAGE, access, public, scoped
from dashboard.forms import LoginForm, MerchantForm, ResellerForm, StoreForm
from dashboard.models import Merchant, Reseller, Store
from dashboard.params import BadParameter, get_id, get_text

PAGE_SIZE = 25
SEARCH_MAX_LENGTH = 100


def _page(request, queryset):
    return Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))


def _saved(form, save):
    """What `save(form=form)` saved, or None when the form is invalid or the service refused it (its
    ValidationError is then shown on the form)."""
    if not form.is_valid():
        return None
    try:
        return save(form=form)
    except ValidationError as refused:
        form.add_error(None, refused)
        return None


def bad_request(request, exception):
    """The 400 page (`handler400`): says which parameter was wrong and why (`dashboard.params`)."""
    reason = str(exception) if isinstance(exception, BadParameter) else ""
    return render(request, "400.html", {"reason": reason}, status=400)


# --- accounts -------------------------------------------------------------------------------------


class _LoginView(auth_views.LoginView):
    def get(self, request, *args, **kwargs):
        if request.GET.get("reason") == SESSION_ENDED:
            messages.info(request, SESSION_ENDED_MESSAGE)
        return super().get(request, *args, **kwargs)


login = public("the login page")(
    _LoginView.as_view(
        template_name="registration/login.html",
        authentication_form=LoginForm,
        redirect_authenticated_user=True,
    )
)


class LogoutView(auth_views.LogoutView):
    """Logs out and says so on the login page it lands on."""

    def post(self, request, *args, **kwargs):
        was_logged_in = request.user.is_authenticated
        response = super().post(request, *args, **kwargs)
        if was_logged_in:
            messages.info(request, "You have been logged out.")
        return response


logout = public("logging out ends whatever session there is")(LogoutView.as_view())
password_change = access()(
    auth_views.PasswordChangeView.as_view(template_name="registration/password_change.html")
)
password_change_done = access()(
    auth_views.PasswordChangeDoneView.as_view(
        template_name="registration/password_change_done.html"
    )
)


# --- resellers ------------------------------------------------------------------------------------


@access("dashboard.manage_resellers")
def reseller_list(request):
    resellers = (
        Reseller.objects.for_user(request.user)
        .annotate(merchant_count=Count("merchants"))
        .order_by("name")
    )
    return render(request, "dashboard/reseller_list.html", {"page": _page(request, resellers)})


@access("dashboard.manage_resellers")
def reseller_create(request):
    form = ResellerForm(request.POST or None)
    if request.method == "POST" and (reseller := _saved(form, services.reseller_save)):
        messages.success(request, f"Reseller “{reseller.name}” created.")
        return redirect("dashboard:reseller_list")
    return render(
        request,
        "dashboard/form.html",
        {"form": form, "title": "New reseller", "cancel": "dashboard:reseller_list"},
    )


@access("dashboard.manage_resellers", obj=scoped(Reseller))
def reseller_edit(request, reseller):
    form = ResellerForm(request.POST or None, instance=reseller)
    if request.method == "POST" and _saved(form, services.reseller_save):
        messages.success(request, "Reseller saved.")
        return redirect("dashboard:reseller_list")
    return render(
        request,
        "dashboard/form.html",
        {"form": form, "title": f"Edit {reseller.name}", "cancel": "dashboard:reseller_list"},
    )


# --- merchants ------------------------------------------------------------------------------------


@access("dashboard.manage_merchants")
def merchant_list(request):
    merchants = (
        Merchant.objects.for_user(request.user)
        .select_related("reseller")
        .annotate(store_count=Count("stores"))
        .order_by("name")
    )
    query = get_text(request.GET, "q", max_length=SEARCH_MAX_LENGTH)
    if query:
        merchants = merchants.filter(name__icontains=query)
    return render(
        request, "dashboard/merchant_list.html", {"page": _page(request, merchants), "q": query}
    )


@access("dashboard.manage_merchants")
def merchant_create(request):
    form = MerchantForm(request.POST or None, resellers=Reseller.objects.for_user(request.user))
    if request.method == "POST" and (merchant := _saved(form, services.merchant_save)):
        messages.success(request, f"Merchant “{merchant.name}” created. Add its first store next.")
        return redirect("dashboard:merchant_detail", pk=merchant.pk)
    return render(
        request,
        "dashboard/form.html",
        {"form": form, "title": "New merchant", "cancel": "dashboard:merchant_list"},
    )


@access("dashboard.manage_merchants", obj=scoped(Merchant))
def merchant_detail(request, merchant):
    stores = Store.objects.for_user(request.user).filter(merchant=merchant)
    return render(
        request, "dashboard/merchant_detail.html", {"merchant": merchant, "stores": stores}
    )


@access("dashboard.manage_merchants", obj=scoped(Merchant))
def merchant_edit(request, merchant):
    form = MerchantForm(
        request.POST or None, instance=merchant, resellers=Reseller.objects.for_user(request.user)
    )
    if request.method == "POST" and _saved(form, services.merchant_save):
        messages.success(request, "Merchant saved.")
        return redirect("dashboard:merchant_detail", pk=merchant.pk)
    return render(
        request,
        "dashboard/form.html",
        {"form": form, "title": f"Edit {merchant.name}", "cancel": "dashboard:merchant_list"},
    )


# --- stores ---------------------------------------------------------------------------------------


@access("dashboard.manage_stores")
def store_list(request):
    stores = Store.objects.for_user(request.user).select_related("merchant")
    merchant_id = get_id(request.GET, "merchant")
    if merchant_id is not None:
        stores = stores.filter(merchant_id=merchant_id)
    return render(request, "dashboard/store_list.html", {"page": _page(request, stores)})


@access("dashboard.manage_stores")
def store_create(request):
    merchants = Merchant.objects.for_user(request.user)
    initial = {}
    if (merchant_id := get_id(request.GET, "merchant")) is not None:
        initial["merchant"] = merchants.filter(pk=merchant_id).first()
    form = StoreForm(request.POST or None, merchants=merchants, initial=initial)
    if request.method == "POST" and (store := _saved(form, services.store_save)):
        messages.success(request, f"Store “{store.name}” created.")
        return redirect("dashboard:store_list")
    return render(
        request,
        "dashboard/form.html",
        {"form": form, "title": "New store", "cancel": "dashboard:store_list"},
    )


@access("dashboard.manage_stores", obj=scoped(Store))
def store_edit(request, store):
    form = StoreForm(
        request.POST or None, instance=store, merchants=Merchant.objects.for_user(request.user)
    )
    if request.method == "POST" and _saved(form, services.store_save):
        messages.success(request, "Store saved.")
        return redirect("dashboard:store_list")
    return render(
        request,
        "dashboard/form.html",
        {"form": form, "title": f"Edit {store.name}", "cancel": "dashboard:store_list"},
    )

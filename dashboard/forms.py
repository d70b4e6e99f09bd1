import zoneinfo

import iso4217
from django import forms
from django.contrib.auth.forms import AuthenticationForm

from dashboard.models import Merchant, Reseller, Store, User, normalise_email
from dashboard.names import clash_message, clean_display_name, name_clash
from dashboard.services import store_merchant_change_refusal

# Every ISO 4217 currency with a minor unit, from the `iso4217` package: the one table the
# adapters (providers/money.py) and the emulators (sandbox/amounts.py) read too.
_CURRENCIES = sorted(
    (currency.code, f"{currency.code} ({currency.currency_name})")
    for currency in iso4217.Currency
    if currency.exponent is not None
)
_TIME_ZONES = [
    (tz, tz) for tz in sorted(zoneinfo.available_timezones()) if "/" in tz or tz == "UTC"
]


PASSWORD_MAX_LENGTH = 4096  # a cap on what is hashed per attempt; no one types more


class LoginForm(AuthenticationForm):
    """The login form; the email is matched in any case (and so counted by the lockout)."""

    password = forms.CharField(
        label="Password",
        strip=False,
        max_length=PASSWORD_MAX_LENGTH,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def clean_username(self):
        # AuthenticationForm sets the field's max_length without its validator; the lockout keeps
        # usernames in a 255-character column, so a longer one never reaches authenticate().
        username = normalise_email(self.cleaned_data.get("username"))
        limit = User._meta.get_field("email").max_length
        if len(username) > limit:
            raise forms.ValidationError(
                f"An email address has at most {limit} characters.", code="max_length"
            )
        return username


def axes_username(request, credentials) -> str:
    """The username the lockout counts failures for: the email as it is looked up, so changing its
    case does not reset the count (AXES_USERNAME_CALLABLE)."""
    if credentials:
        return normalise_email(credentials.get("username"))
    return normalise_email(request.POST.get("username"))


def _clean_name(form, value) -> str:
    """The shared name rule (dashboard/names.py), with the model field's length."""
    max_length = form._meta.model._meta.get_field("name").max_length
    return clean_display_name(value, max_length=max_length, min_length=2)


class ResellerForm(forms.ModelForm):
    class Meta:
        model = Reseller
        fields = ["name"]

    def clean_name(self):
        name = _clean_name(self, self.cleaned_data["name"])
        taken = name_clash(Reseller.objects.all(), name, exclude_pk=self.instance.pk)
        if taken is not None:
            raise forms.ValidationError(
                clash_message(taken, name, "A reseller with this name already exists.")
            )
        return name


class MerchantForm(forms.ModelForm):
    """`resellers` is the caller's scope; a reseller admin has exactly one and does not choose."""

    default_currency = forms.ChoiceField(choices=_CURRENCIES, initial="USD")

    class Meta:
        model = Merchant
        fields = ["reseller", "name", "contact_email", "default_currency"]

    def __init__(self, *args, resellers, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reseller"].queryset = resellers
        if resellers.count() == 1:
            self.fields["reseller"].initial = resellers.first()
            self.fields["reseller"].widget = forms.HiddenInput()

    def clean_name(self):
        return _clean_name(self, self.cleaned_data["name"])

    def clean(self):
        cleaned = super().clean()
        reseller, name = cleaned.get("reseller"), cleaned.get("name")
        if reseller and name:
            taken = name_clash(
                Merchant.objects.filter(reseller=reseller), name, exclude_pk=self.instance.pk
            )
            if taken is not None:
                self.add_error(
                    "name",
                    clash_message(
                        taken, name, "This reseller already has a merchant with this name."
                    ),
                )
        return cleaned


class StoreForm(forms.ModelForm):
    """A store of one of `merchants` (the caller's scope). An existing store keeps its merchant once
    anything stands in it (`store_merchant_change_refusal`)."""

    time_zone = forms.ChoiceField(choices=_TIME_ZONES, initial="UTC")

    class Meta:
        model = Store
        fields = ["merchant", "name", "address", "time_zone"]

    def __init__(self, *args, merchants, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["merchant"].queryset = merchants

    def clean_name(self):
        return _clean_name(self, self.cleaned_data["name"])

    def clean(self):
        cleaned = super().clean()
        merchant, name = cleaned.get("merchant"), cleaned.get("name")
        if merchant and self.instance.pk and merchant.pk != self.instance.merchant_id:
            refusal = store_merchant_change_refusal(store=self.instance, merchant=merchant)
            if refusal:
                self.add_error("merchant", refusal)
                return cleaned
        if merchant and name:
            taken = name_clash(
                Store.objects.filter(merchant=merchant), name, exclude_pk=self.instance.pk
            )
            if taken is not None:
                self.add_error(
                    "name",
                    clash_message(taken, name, "This merchant already has a store with this name."),
                )
        return cleaned

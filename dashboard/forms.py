import zoneinfo

import iso4217
from django import forms

from dashboard.models import Merchant, Reseller, Store

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


def _clean_name(value: str) -> str:
    value = " ".join((value or "").split())
    if len(value) < 2:
        raise forms.ValidationError("Use at least 2 characters.")
    return value


class ResellerForm(forms.ModelForm):
    class Meta:
        model = Reseller
        fields = ["name"]

    def clean_name(self):
        name = _clean_name(self.cleaned_data["name"])
        if Reseller.objects.filter(name__iexact=name).exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError("A reseller with this name already exists.")
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
        return _clean_name(self.cleaned_data["name"])

    def clean(self):
        cleaned = super().clean()
        reseller, name = cleaned.get("reseller"), cleaned.get("name")
        if reseller and name:
            clash = Merchant.objects.filter(reseller=reseller, name__iexact=name).exclude(
                pk=self.instance.pk
            )
            if clash.exists():
                self.add_error("name", "This reseller already has a merchant with this name.")
        return cleaned


class StoreForm(forms.ModelForm):
    time_zone = forms.ChoiceField(choices=_TIME_ZONES, initial="UTC")

    class Meta:
        model = Store
        fields = ["merchant", "name", "address", "time_zone"]

    def __init__(self, *args, merchants, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["merchant"].queryset = merchants

    def clean_name(self):
        return _clean_name(self.cleaned_data["name"])

    def clean(self):
        cleaned = super().clean()
        merchant, name = cleaned.get("merchant"), cleaned.get("name")
        if merchant and name:
            clash = Store.objects.filter(merchant=merchant, name__iexact=name).exclude(
                pk=self.instance.pk
            )
            if clash.exists():
                self.add_error("name", "This merchant already has a store with this name.")
        return cleaned

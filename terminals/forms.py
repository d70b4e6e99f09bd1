from django import forms

from dashboard.names import clean_display_name
from terminals.models import NAME_MAX_LENGTH

NO_STORE = "none"


class RenameForm(forms.Form):
    name = forms.CharField(
        label="Name",
        max_length=NAME_MAX_LENGTH,
        strip=False,
        error_messages={
            "max_length": "Use at most %(limit_value)d characters (this has %(show_value)d)."
        },
        widget=forms.TextInput(attrs={"maxlength": NAME_MAX_LENGTH, "autocomplete": "off"}),
        help_text=f"1 to {NAME_MAX_LENGTH} characters.",
    )

    def clean_name(self):
        return clean_display_name(self.cleaned_data["name"], max_length=NAME_MAX_LENGTH)


class StoreChoiceForm(forms.Form):
    """One of `stores` (already scoped to the user), or explicitly no store. `cleaned_data["store"]`
    is a Store or None."""

    store = forms.ChoiceField(label="Store")

    def __init__(
        self, *args, stores, none_label="No store (take them out of their store)", **kwargs
    ):
        super().__init__(*args, **kwargs)
        self.stores = {str(store.pk): store for store in stores}
        grouped: dict[str, list] = {}
        for store in self.stores.values():
            grouped.setdefault(store.merchant.name, []).append((str(store.pk), store.name))
        choices: list = [("", "Choose a store…")]
        choices += (
            [(merchant, options) for merchant, options in grouped.items()]
            if len(grouped) > 1
            else next(iter(grouped.values()), [])
        )
        choices.append((NO_STORE, none_label))
        self.fields["store"].choices = choices

    def clean_store(self):
        value = self.cleaned_data["store"]
        if value == NO_STORE:
            return None
        return self.stores[value]

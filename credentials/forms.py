"""The provider account form, built from the provider registry: its provider choices are the
registered adapters, and the secret and setting fields are the chosen adapter's own
(``secret_fields``, ``setting_fields``), so a new provider needs no change here."""

from __future__ import annotations

from django import forms

from credentials.environments import ENVIRONMENT_CHOICES, endpoints_for
from providers.registry import UnknownProvider, provider_choices, provider_class

SECRET_PREFIX = "secret_"
SETTING_PREFIX = "setting_"


class ProviderAccountForm(forms.Form):
    """A provider account's provider, environment and label, then the fields that provider needs.

    The provider comes from the bound data (or ``initial``); its secrets are password inputs that
    are never rendered back. ``secrets()`` and ``settings()`` give what ``account_create`` takes.
    """

    provider = forms.ChoiceField(choices=provider_choices, label="Provider")
    environment = forms.ChoiceField(choices=ENVIRONMENT_CHOICES, label="Environment")
    label = forms.CharField(max_length=100, label="Label")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        chosen = (self.data.get("provider") if self.is_bound else None) or self.initial.get(
            "provider"
        )
        try:
            adapter = provider_class(chosen) if chosen else None
        except UnknownProvider:
            adapter = None  # the provider field itself refuses it
        self.adapter = adapter
        if adapter is None:
            return
        for field in adapter.secret_fields:
            self.fields[SECRET_PREFIX + field.name] = forms.CharField(
                label=field.label, widget=forms.PasswordInput(render_value=False)
            )
        for field in adapter.setting_fields:
            self.fields[SETTING_PREFIX + field.name] = forms.CharField(
                label=field.label, required=False
            )

    def clean(self):
        cleaned = super().clean()
        provider, environment = cleaned.get("provider"), cleaned.get("environment")
        if provider and environment:
            try:
                endpoints_for(provider, environment)
            except LookupError:
                self.add_error(
                    "environment",
                    f"{self.adapter.display_name} has no {dict(ENVIRONMENT_CHOICES)[environment]} "
                    "environment we know of.",
                )
        return cleaned

    def secrets(self) -> dict[str, str]:
        return self._prefixed(SECRET_PREFIX)

    def settings(self) -> dict[str, str]:
        return {name: value for name, value in self._prefixed(SETTING_PREFIX).items() if value}

    def _prefixed(self, prefix: str) -> dict[str, str]:
        return {
            name.removeprefix(prefix): value
            for name, value in self.cleaned_data.items()
            if name.startswith(prefix)
        }


# -- adding, editing and rotating an account (credentials/account_views.py) ---------------------------


def known_environments(provider: str | None) -> list[tuple[str, str]]:
    """The environments the provider has (our sandbox, its test system, live): never a typed URL."""
    if not provider:
        return list(ENVIRONMENT_CHOICES)
    known = []
    for value, label in ENVIRONMENT_CHOICES:
        try:
            endpoints_for(provider, value)
        except LookupError:
            continue
        known.append((value, label))
    return known


class ProviderChoiceForm(forms.Form):
    """Step one of adding an account: which provider (its fields follow from the choice)."""

    provider = forms.ChoiceField(choices=provider_choices, label="Provider")


class AccountAddForm(ProviderAccountForm):
    """A new account: the merchant (from the admin's scope), then the provider's own fields. The
    provider is fixed by step one and sent along hidden."""

    merchant = forms.ModelChoiceField(queryset=None, label="Merchant")
    field_order = ["merchant", "label", "environment"]

    def __init__(self, *args, merchants, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["provider"].widget = forms.HiddenInput()
        self.fields["merchant"].queryset = merchants
        self.fields["environment"].choices = known_environments(self.adapter and self.adapter.name)
        for name, field in self.fields.items():
            if name.startswith(SECRET_PREFIX):
                field.help_text = "Write-only: shown masked once saved."
                field.widget.attrs["autocomplete"] = "off"
        self.order_fields(self.field_order)


class AccountEditForm(forms.Form):
    """An account's label, environment, settings and (optionally) new secrets. A secret left empty
    keeps the stored one; the stored ones are never sent to the browser, only their masks."""

    label = forms.CharField(max_length=100, label="Label")
    environment = forms.ChoiceField(label="Environment")

    def __init__(self, *args, account, **kwargs):
        kwargs.setdefault(
            "initial",
            {
                "label": account.label,
                "environment": account.environment,
                **{SETTING_PREFIX + k: _setting_text(v) for k, v in account.settings.items()},
            },
        )
        super().__init__(*args, **kwargs)
        self.account = account
        adapter = provider_class(account.provider)
        self.fields["environment"].choices = known_environments(account.provider)
        masks = account.masked_secrets()
        for field in adapter.secret_fields:
            self.fields[SECRET_PREFIX + field.name] = forms.CharField(
                label=new_label(field.label),
                required=False,
                widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
                help_text=f"Now {masks.get(field.name, 'not set')}; leave empty to keep it.",
            )
        for field in adapter.setting_fields:
            self.fields[SETTING_PREFIX + field.name] = forms.CharField(
                label=field.label, required=False
            )

    def secrets(self) -> dict[str, str]:
        return {
            name.removeprefix(SECRET_PREFIX): value
            for name, value in self.cleaned_data.items()
            if name.startswith(SECRET_PREFIX) and value
        }

    def settings(self) -> dict[str, str]:
        return {
            name.removeprefix(SETTING_PREFIX): value
            for name, value in self.cleaned_data.items()
            if name.startswith(SETTING_PREFIX) and value
        }


def new_label(label: str) -> str:
    """ "Partner secret" -> "New partner secret"; an initialism stays as it is ("New API key")."""
    if len(label) > 1 and label[1].islower():
        label = label[0].lower() + label[1:]
    return f"New {label}"


def _setting_text(value) -> str:
    return ",".join(str(item) for item in value) if isinstance(value, list) else str(value)


class RotateForm(forms.Form):
    """New values for the secrets only the provider issues (the others are kept)."""

    def __init__(self, *args, account, names, **kwargs):
        super().__init__(*args, **kwargs)
        labels = {
            field.name: field.label for field in provider_class(account.provider).secret_fields
        }
        masks = account.masked_secrets()
        for name in names:
            self.fields[SECRET_PREFIX + name] = forms.CharField(
                label=new_label(labels[name]),
                required=False,
                widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
                help_text=f"Now {masks.get(name, 'not set')}; leave empty to keep it.",
            )

    def clean(self):
        cleaned = super().clean()
        if not any(cleaned.get(name) for name in self.fields):
            raise forms.ValidationError("Enter at least one new secret.")
        return cleaned

    def secrets(self) -> dict[str, str]:
        return {
            name.removeprefix(SECRET_PREFIX): value
            for name, value in self.cleaned_data.items()
            if value
        }


class RotationPolicyForm(forms.Form):
    self_rotate_every_days = forms.IntegerField(
        label="Rotate by ourselves every (days)",
        required=False,
        min_value=1,
        max_value=3650,
        help_text="Empty: only when a person rotates.",
    )
    key_age_limit_days = forms.IntegerField(
        label="Age limit of the provider-issued key (days)",
        required=False,
        min_value=15,
        max_value=3650,
        help_text="A reminder comes 14 days before it. Empty: no limit.",
    )

    def __init__(self, *args, self_rotates: bool, **kwargs):
        super().__init__(*args, **kwargs)
        if not self_rotates:
            del self.fields["self_rotate_every_days"]

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

"""The Charge form: an amount typed as the merchant would, in the currency of the terminal's merchant."""

from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation

from django import forms
from django.conf import settings

from payments.services import reference_generate
from providers.base import MAX_REFERENCE_LENGTH
from providers.money import minor_unit_exponent

# The merchant's maximum per payment, in minor units (a setting, not a Merchant field: one number
# for every merchant until a merchant asks for its own).
DEFAULT_PAYMENT_MAX_MINOR = 1_000_000


def payment_max_minor() -> int:
    return int(getattr(settings, "PAYMENT_MAX_MINOR", DEFAULT_PAYMENT_MAX_MINOR))


def parse_amount(text: str, currency: str) -> int:
    """ "12.50" → 1250 (EUR), "1,000" → 1000 (JPY); ValueError with the message for the form."""
    exponent = minor_unit_exponent(currency)
    cleaned = (text or "").strip().replace(" ", "").replace("\u00a0", "")
    if "," in cleaned and "." not in cleaned and exponent and cleaned.count(",") == 1:
        head, tail = cleaned.split(",")
        if len(tail) != 3:  # "12,50": a decimal comma
            cleaned = f"{head}.{tail}"
    cleaned = cleaned.replace(",", "")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError("Enter the amount as a number, e.g. 12.50.") from None
    if not value.is_finite():
        raise ValueError("Enter the amount as a number, e.g. 12.50.")
    if value.adjusted() > 15:  # "1e999999": beyond any maximum, and beyond Decimal's exponents
        raise ValueError("That amount is too large.")
    if value <= 0:
        raise ValueError("The amount must be greater than zero.")
    scaled = value.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        if exponent == 0:
            raise ValueError(f"{currency} has no decimals: enter a whole amount.")
        raise ValueError(f"{currency} has at most {exponent} decimals.")
    return int(scaled)


def format_minor(amount_minor: int, currency: str) -> str:
    exponent = minor_unit_exponent(currency)
    if exponent == 0:
        return f"{amount_minor:,}"
    units, fraction = divmod(amount_minor, 10**exponent)
    return f"{units:,}.{fraction:0{exponent}d}"


# Card brands as the providers spell them ("visa", "master", "mastercard", "VISA") → as printed.
CARD_BRANDS = {
    "visa": "Visa",
    "master": "Mastercard",
    "mastercard": "Mastercard",
    "amex": "American Express",
    "american_express": "American Express",
    "americanexpress": "American Express",
    "discover": "Discover",
    "jcb": "JCB",
    "diners": "Diners Club",
    "diners_club": "Diners Club",
    "dinersclub": "Diners Club",
    "unionpay": "UnionPay",
    "maestro": "Maestro",
    "interac": "Interac",
}


def card_brand_display(brand: str) -> str:
    """ "master" → "Mastercard", "visa" → "Visa"; a brand not listed as the provider sent it."""
    brand = (brand or "").strip()
    key = brand.lower().replace(" ", "_").replace("-", "_")
    return CARD_BRANDS.get(key) or CARD_BRANDS.get(key.replace("_", "")) or brand


class ChargeForm(forms.Form):
    token = forms.UUIDField(widget=forms.HiddenInput)
    amount = forms.CharField(
        label="Amount",
        max_length=20,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )
    kind = forms.ChoiceField(
        label="Kind",
        choices=[("sale", "Sale"), ("auth", "Authorise only (capture later)")],
        initial="sale",
        widget=forms.RadioSelect,
    )
    reference = forms.CharField(label="Reference", max_length=MAX_REFERENCE_LENGTH)
    note = forms.CharField(label="Note", max_length=200, required=False)
    confirm_duplicate = forms.BooleanField(label="Charge again anyway", required=False)

    def __init__(self, *args, currency: str, can_auth: bool, **kwargs):
        # "Charge again anyway" is shown only after the duplicate guard warned (the view adds it).
        super().__init__(*args, **kwargs)
        self.currency = currency
        self.fields["amount"].label = f"Amount ({currency})"
        if not self.is_bound:
            self.initial.setdefault("token", uuid.uuid4())
            self.initial.setdefault("reference", reference_generate())
        if not can_auth:
            del self.fields["kind"]
        self.fields["confirm_duplicate"].widget = forms.HiddenInput()

    def ask_to_confirm_duplicate(self, message: str) -> None:
        self.fields["confirm_duplicate"].widget = forms.CheckboxInput()
        self.add_error("confirm_duplicate", message)

    def clean_amount(self) -> int:
        try:
            amount_minor = parse_amount(self.cleaned_data["amount"], self.currency)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None
        limit = payment_max_minor()
        if amount_minor > limit:
            raise forms.ValidationError(
                f"The most one payment may be is {format_minor(limit, self.currency)} {self.currency}."
            )
        return amount_minor


class RefundForm(forms.Form):
    amount = forms.CharField(label="Amount to refund", max_length=20)
    reason = forms.CharField(label="Reason", max_length=200, required=False)
    confirm = forms.BooleanField(label="Yes, give this money back to the customer")

    def __init__(self, *args, currency: str, refundable_minor: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.currency = currency
        self.refundable_minor = refundable_minor
        self.fields["amount"].label = f"Amount to refund ({currency})"

    def clean_amount(self) -> int:
        try:
            amount_minor = parse_amount(self.cleaned_data["amount"], self.currency)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None
        if amount_minor > self.refundable_minor:
            raise forms.ValidationError(
                f"At most {format_minor(self.refundable_minor, self.currency)} {self.currency} is left to refund."
            )
        return amount_minor

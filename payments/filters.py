"""The payment history's filters and search (django-filter); the state lives in the URL's query.

Every choice offered comes from the user's own scope (`for_user`): merchants, their stores and
terminals, the providers of their accounts, their currencies, each read once as plain tuples that both
validate the query and fill the selects (so the page's query count does not depend on them). An id
outside the scope is not a choice: it is refused with a message beside its filter, like every other
bad value, and the list is then not shown (a bad filter is never silently dropped, which would show
more than was asked for).

Dates are calendar days in the viewer's time zone (the middleware activates it); the database
compares UTC instants.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime, time, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation

import django_filters
from django import forms
from django.db.models import Q
from django.utils import timezone

from credentials.models import ProviderAccount
from dashboard.models import Merchant, Role, Store, membership_of
from payments.models import Payment, PaymentKind, PaymentStatus
from providers.money import MINOR_UNIT_EXPONENTS
from providers.registry import provider_choices
from terminals.models import Terminal

NO_STORE = "none"
RANGES = [
    ("today", "Today"),
    ("yesterday", "Yesterday"),
    ("last7", "Last 7 days"),
    ("last30", "Last 30 days"),
    ("month", "This month"),
    ("all", "All time"),
    ("custom", "Custom dates"),
]
# Without a range in the URL: a cashier sees today's payments, the others the last 30 days.
CASHIER_DEFAULT_RANGE = "today"
DEFAULT_RANGE = "last30"
FILTER_NAMES = (
    "range",
    "from_date",
    "to_date",
    "merchant",
    "store",
    "terminal",
    "provider",
    "status",
    "kind",
    "currency",
    "amount_min",
    "amount_max",
    "last4",
    "q",
)
MAX_SEARCH_LENGTH = 100
_LAST4 = re.compile(r"^\d{4}$")
_AMOUNT = re.compile(r"^\d{1,12}([.,]\d{1,4})?$")


def default_range(user) -> str:
    membership = membership_of(user)
    return (
        CASHIER_DEFAULT_RANGE
        if membership is not None and membership.role == Role.CASHIER
        else DEFAULT_RANGE
    )


def local_midnight(day: date) -> datetime:
    """The first instant of `day` in the active (the viewer's) time zone."""
    return timezone.make_aware(datetime.combine(day, time.min))


def range_bounds(
    name: str, from_date: date | None, to_date: date | None, today: date | None = None
):
    """[start, end) of a named range as aware datetimes (None: open on that side)."""
    today = today or timezone.localdate()
    tomorrow = today + timedelta(days=1)
    if name == "today":
        return local_midnight(today), local_midnight(tomorrow)
    if name == "yesterday":
        return local_midnight(today - timedelta(days=1)), local_midnight(today)
    if name == "last7":
        return local_midnight(today - timedelta(days=6)), local_midnight(tomorrow)
    if name == "last30":
        return local_midnight(today - timedelta(days=29)), local_midnight(tomorrow)
    if name == "month":
        first = today.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
        return local_midnight(first), local_midnight(following)
    if name == "custom":
        return (
            local_midnight(from_date) if from_date else None,
            local_midnight(to_date + timedelta(days=1)) if to_date else None,
        )
    return None, None


def parse_amount_units(text: str) -> Decimal:
    """ "12.50" or "12,50" → Decimal("12.50"); ValueError with the message for the filter."""
    cleaned = (text or "").strip().replace(" ", "")
    if not _AMOUNT.match(cleaned):
        raise ValueError("Enter an amount in the currency's units, e.g. 12.50.")
    try:
        return Decimal(cleaned.replace(",", "."))
    except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
        raise ValueError("Enter an amount in the currency's units, e.g. 12.50.") from None


def _codes_by_exponent() -> dict[int, list[str]]:
    groups: dict[int, list[str]] = {}
    for code, exponent in MINOR_UNIT_EXPONENTS.items():
        groups.setdefault(exponent, []).append(code)
    return groups


CODES_BY_EXPONENT = _codes_by_exponent()


def amount_condition(value: Decimal, *, lower: bool, currency: str | None) -> Q:
    """amount_minor >= (lower) or <= value in each currency's own minor units: 12.5 is 1250 cents,
    12 yen is 12, 12.5 dinars (BHD) is 12500 fils. A bound finer than the currency's decimals is
    rounded inwards (at least 12.505 USD means at least 12.51)."""
    rounding = ROUND_CEILING if lower else ROUND_FLOOR
    lookup = "amount_minor__gte" if lower else "amount_minor__lte"

    def minor(exponent: int) -> int:
        return int(value.scaleb(exponent).to_integral_value(rounding=rounding))

    if currency:
        return Q(**{lookup: minor(MINOR_UNIT_EXPONENTS[currency])})
    condition = Q()
    for exponent, codes in CODES_BY_EXPONENT.items():
        condition |= Q(currency__in=codes, **{lookup: minor(exponent)})
    return condition


class HistoryForm(forms.Form):
    """The filter form's cross-field checks (django-filter builds the fields)."""

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("from_date"), cleaned.get("to_date")
        if start and end and end < start:
            self.add_error("to_date", "The end date is before the start date.")
        low, high = cleaned.get("amount_min"), cleaned.get("amount_max")
        if low is not None and high is not None and high < low:
            self.add_error("amount_max", "The largest amount is below the smallest.")
        return cleaned

    def _clean_amount(self, name):
        text = self.cleaned_data.get(name) or ""
        if not text.strip():
            return None
        try:
            return parse_amount_units(text)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean_amount_min(self):
        return self._clean_amount("amount_min")

    def clean_amount_max(self):
        return self._clean_amount("amount_max")

    def clean_last4(self):
        text = (self.cleaned_data.get("last4") or "").strip()
        if text and not _LAST4.match(text):
            raise forms.ValidationError("Enter the card's last four digits, e.g. 0010.")
        return text

    def clean_q(self):
        text = (self.cleaned_data.get("q") or "").strip()
        if len(text) > MAX_SEARCH_LENGTH:
            raise forms.ValidationError(f"Search for at most {MAX_SEARCH_LENGTH} characters.")
        return text


class PaymentHistoryFilter(django_filters.FilterSet):
    range = django_filters.ChoiceFilter(
        choices=RANGES, method="filter_range", label="Dates", empty_label=None
    )
    from_date = django_filters.DateFilter(method="ignore", label="From")
    to_date = django_filters.DateFilter(method="ignore", label="To")
    merchant = django_filters.ChoiceFilter(method="filter_merchant", label="Merchant")
    store = django_filters.ChoiceFilter(method="filter_store", label="Store")
    terminal = django_filters.ChoiceFilter(method="filter_terminal", label="Terminal")
    provider = django_filters.ChoiceFilter(label="Provider")
    status = django_filters.ChoiceFilter(choices=PaymentStatus.choices, label="Status")
    kind = django_filters.ChoiceFilter(choices=PaymentKind.choices, label="Kind")
    currency = django_filters.ChoiceFilter(label="Currency")
    amount_min = django_filters.CharFilter(method="ignore", label="Amount from")
    amount_max = django_filters.CharFilter(method="ignore", label="Amount to")
    last4 = django_filters.CharFilter(method="filter_last4", label="Card last four")
    q = django_filters.CharFilter(method="search", label="Search")

    class Meta:
        model = Payment
        fields: list[str] = []
        form = HistoryForm

    def __init__(self, data, queryset, *, user, **kwargs):
        data = data.copy() if data is not None else {}
        if not data.get("range"):
            has_dates = data.get("from_date") or data.get("to_date")
            data["range"] = "custom" if has_dates else default_range(user)
        super().__init__(data, queryset, **kwargs)
        merchants = list(
            Merchant.objects.for_user(user)
            .order_by("name")
            .values_list("pk", "name", "default_currency")
        )
        self.merchant_options = [(str(pk), name) for pk, name, _ in merchants]
        self.currency_options = [(c, c) for c in sorted({c for *_, c in merchants if c})]
        merchant = data.get("merchant", "")
        # Many merchants: their stores and terminals would make long lists, so picking a merchant
        # lists its own (a store or terminal already in the URL stays a choice, if in scope).
        narrowed = merchant in {pk for pk, _ in self.merchant_options}
        many = len(self.merchant_options) > 1
        stores = Store.objects.for_user(user).order_by("name")
        terminals = Terminal.objects.for_user(user).order_by("name", "pk")
        if narrowed:
            stores = stores.filter(merchant_id=int(merchant))
            terminals = terminals.filter(merchant_id=int(merchant))
        elif many:
            store, terminal = data.get("store", ""), data.get("terminal", "")
            stores = stores.filter(pk=int(store)) if store.isdigit() else stores.none()
            terminals = (
                terminals.filter(pk=int(terminal)) if terminal.isdigit() else terminals.none()
            )
        self.lists_everything = narrowed or not many
        self.store_options = [(str(pk), name) for pk, name in stores.values_list("pk", "name")]
        self.terminal_options = [
            (str(pk), f"{name} ({store_name})" if store_name else name)
            for pk, name, store_name in terminals.values_list("pk", "name", "store__name")
        ]
        offered = set(
            ProviderAccount.objects.for_user(user)
            .order_by()
            .values_list("provider", flat=True)
            .distinct()
        )
        self.provider_options = [(v, label) for v, label in provider_choices() if v in offered]
        self.filters["merchant"].extra["choices"] = self.merchant_options
        self.filters["store"].extra["choices"] = [(NO_STORE, "No store"), *self.store_options]
        self.filters["terminal"].extra["choices"] = self.terminal_options
        self.filters["provider"].extra["choices"] = self.provider_options
        self.filters["currency"].extra["choices"] = self.currency_options

    # --- filters ---------------------------------------------------------------------------

    def ignore(self, queryset, name, value):
        return queryset  # applied together in filter_queryset (dates, amounts)

    def filter_range(self, queryset, name, value):
        data = self.form.cleaned_data
        start, end = range_bounds(value, data.get("from_date"), data.get("to_date"))
        if start is not None:
            queryset = queryset.filter(created_at__gte=start)
        if end is not None:
            queryset = queryset.filter(created_at__lt=end)
        return queryset

    def filter_merchant(self, queryset, name, value):
        return queryset.filter(merchant_id=int(value))

    def filter_store(self, queryset, name, value):
        if value == NO_STORE:
            return queryset.filter(store__isnull=True)
        return queryset.filter(store_id=int(value))

    def filter_terminal(self, queryset, name, value):
        return queryset.filter(terminal_id=int(value))

    def filter_last4(self, queryset, name, value):
        return queryset.filter(card_last4=value) if value else queryset

    def search(self, queryset, name, value):
        """Our reference, the provider's reference (either of its handles) or the payment's id,
        each matched exactly (indexed)."""
        if not value:
            return queryset
        condition = Q(reference=value) | Q(provider_ref=value) | Q(transaction_ref=value)
        try:
            condition |= Q(uuid=uuid.UUID(value))
        except ValueError:
            pass
        return queryset.filter(condition)

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        data = self.form.cleaned_data
        currency = data.get("currency") or None
        if data.get("amount_min") is not None:
            queryset = queryset.filter(
                amount_condition(data["amount_min"], lower=True, currency=currency)
            )
        if data.get("amount_max") is not None:
            queryset = queryset.filter(
                amount_condition(data["amount_max"], lower=False, currency=currency)
            )
        return queryset

    # --- for the page ----------------------------------------------------------------------

    @property
    def values(self) -> dict[str, str]:
        return {name: str(self.form[name].value() or "") for name in FILTER_NAMES}

    def narrowing(self) -> bool:
        """Whether anything beyond the default date range narrows the list."""
        values = self.values
        return any(values[n] for n in FILTER_NAMES if n not in ("range", "from_date", "to_date"))

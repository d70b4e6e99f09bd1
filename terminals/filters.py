"""The fleet page's filters, search and sorting (django-filter). The state lives in the URL's query.

The merchant and store choices are the user's own (`for_user`), read once as (id, name) pairs that
both validate the query and fill the selects, so the page's query count does not depend on them.
(The merchant list is not a form field's choices: a form deep-copies its choices on every request.)
"""

from __future__ import annotations

import django_filters
from django.db.models import Q

from dashboard.models import Merchant, Store
from dashboard.params import parse_id
from providers.registry import provider_choices
from terminals.models import Terminal, TerminalStatus

SEARCH_MAX_LENGTH = 100
INACTIVE = "inactive"
NO_STORE = "none"
STATUS_CHOICES = [*TerminalStatus.choices, (INACTIVE, "inactive (no longer listed)")]

# (query value, ordering expression, column label)
SORTS = [
    ("name", "name", "Name"),
    ("merchant", "merchant__name", "Merchant"),
    ("store", "store__name", "Store"),
    ("provider", "provider", "Provider"),
    ("status", "status", "Status"),
    ("checked", "status_checked_at", "Checked"),
]


class FleetOrdering(django_filters.OrderingFilter):
    """Sorting on one column, with the primary key as a tie-breaker so pages never overlap."""

    def filter(self, qs, value):
        qs = super().filter(qs, value)
        ordering = list(qs.query.order_by) or ["name"]
        return qs.order_by(*ordering, "pk")


class FleetFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search", max_length=SEARCH_MAX_LENGTH)
    merchant = django_filters.NumberFilter(method="filter_merchant", label="Merchant")
    store = django_filters.ChoiceFilter(method="filter_store", label="Store")
    provider = django_filters.ChoiceFilter(choices=provider_choices, label="Provider")
    status = django_filters.ChoiceFilter(
        choices=STATUS_CHOICES, method="filter_status", label="Status"
    )
    sort = FleetOrdering(fields=[(expr, key) for key, expr, _ in SORTS], label="Sort")

    class Meta:
        model = Terminal
        fields: list[str] = []

    def __init__(self, data, queryset, *, user, **kwargs):
        super().__init__(data, queryset, **kwargs)
        self.merchant_options = list(
            Merchant.objects.for_user(user).order_by("name").values_list("pk", "name")
        )
        merchant_ids = {str(pk) for pk, _ in self.merchant_options}
        merchant = (data or {}).get("merchant", "")
        store = (data or {}).get("store", "")
        stores = Store.objects.for_user(user).order_by("name")
        if merchant in merchant_ids:
            stores = stores.filter(merchant_id=merchant)
        elif len(self.merchant_options) > 1:
            # Many merchants: their stores would make a long list; picking a merchant lists its stores.
            store_id = parse_id(store)
            stores = stores.filter(pk=store_id) if store_id is not None else None
        self.store_options = list(stores.values_list("pk", "name")) if stores is not None else []
        self.merchant_ids = merchant_ids
        self.filters["store"].extra["choices"] = [(NO_STORE, "No store")] + [
            (str(pk), name) for pk, name in self.store_options
        ]

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(name__icontains=value)
            | Q(serial_number__icontains=value)
            | Q(provider_ref__icontains=value)
        )

    def filter_merchant(self, queryset, name, value):
        # Only the user's merchants are offered; any other id matches nothing (and reveals nothing).
        if value != int(value) or str(int(value)) not in self.merchant_ids:
            return queryset.none()
        return queryset.filter(merchant_id=int(value))

    def filter_store(self, queryset, name, value):
        if value == NO_STORE:
            return queryset.filter(store__isnull=True)
        return queryset.filter(store_id=int(value))

    def filter_status(self, queryset, name, value):
        if value == INACTIVE:
            return queryset.filter(is_active=False)
        return queryset.filter(status=value)

    def filter_queryset(self, queryset):
        # Inactive terminals (no longer listed by their provider) show only when asked for.
        if self.form.cleaned_data.get("status") != INACTIVE:
            queryset = queryset.filter(is_active=True)
        return super().filter_queryset(queryset)

"""Payment and PaymentEvent in the operators' admin (dashboard/admin_site.py): read-only, for platform
admins. Payments change only through payments/state.py, never here."""

from __future__ import annotations

from django.contrib import admin

from dashboard.admin_site import ReadOnlyAdmin, ReadOnlyInline, site
from payments.forms import format_minor
from payments.models import Payment, PaymentEvent

PAYMENT_FIELDS = [f.name for f in Payment._meta.concrete_fields]
EVENT_FIELDS = [
    "created_at",
    "from_status",
    "to_status",
    "action",
    "source",
    "actor",
    "provider_status",
    "detail",
    "payload",
]


class PaymentEventInline(ReadOnlyInline):
    model = PaymentEvent
    fields = EVENT_FIELDS
    readonly_fields = EVENT_FIELDS
    ordering = ("created_at", "pk")


@admin.register(Payment, site=site)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "reference",
        "kind",
        "amount",
        "status",
        "merchant",
        "store",
        "terminal",
        "provider",
        "card",
    )
    list_filter = ("status", "kind", "provider", "created_at")
    search_fields = ("=reference", "=provider_ref", "=transaction_ref", "=uuid")
    list_select_related = ("merchant", "store", "terminal")
    list_per_page = 25
    ordering = ("-created_at", "-id")
    fields = PAYMENT_FIELDS
    readonly_fields = PAYMENT_FIELDS
    inlines = [PaymentEventInline]

    @admin.display(description="amount")
    def amount(self, payment):
        return f"{format_minor(payment.amount_minor, payment.currency)} {payment.currency}"

    @admin.display(description="card")
    def card(self, payment):
        return f"{payment.card_brand} ••••{payment.card_last4}" if payment.card_last4 else "—"


@admin.register(PaymentEvent, site=site)
class PaymentEventAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "payment",
        "from_status",
        "to_status",
        "action",
        "source",
        "actor",
    )
    list_filter = ("source", "to_status")
    list_select_related = ("payment", "actor")
    list_per_page = 50
    ordering = ("-created_at", "-id")
    fields = ["payment", *EVENT_FIELDS]
    readonly_fields = ["payment", *EVENT_FIELDS]

    def scoped_queryset(self, request):
        return PaymentEvent.objects.filter(payment__in=Payment.objects.for_user(request.user))

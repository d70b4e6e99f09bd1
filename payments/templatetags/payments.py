from django import template

from payments.forms import format_minor

register = template.Library()


@register.filter
def money(payment) -> str:
    """A payment's amount as the merchant reads it: "12.50 EUR", "1,000 JPY"."""
    return f"{format_minor(payment.amount_minor, payment.currency)} {payment.currency}"

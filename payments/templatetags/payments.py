from django import template

from payments.forms import card_brand_display, format_minor

register = template.Library()


@register.filter
def money(payment) -> str:
    """A payment's amount as the merchant reads it: "12.50 EUR", "1,000 JPY"."""
    return f"{format_minor(payment.amount_minor, payment.currency)} {payment.currency}"


# The timeline's words for an event that changed no state (its `action`); others read as the action's
# name in plain words.
EVENT_WORDS = {
    "abort_requested": "Asked to abort",
    "abort_refused": "The provider refused the abort",
    "abort_unreachable": "The abort may not have reached the terminal",
    "capture_requested": "Asked to capture",
    "void_requested": "Asked to cancel the authorisation",
    "refund_settled": "Added to the sale's refunded total",
    "tracking_restarted": "Tracking restarted",
    "needs_attention": "Needs attention",
}


@register.filter
def event_words(action: str) -> str:
    """ "abort_requested" → "Asked to abort"; an action not listed → its name in words."""
    return EVENT_WORDS.get(action) or action.replace("_", " ").capitalize()


@register.filter
def card_brand(brand: str) -> str:
    """A card brand as printed on the card: "master" → "Mastercard"."""
    return card_brand_display(brand)

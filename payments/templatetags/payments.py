from django import template

from payments.forms import format_minor

register = template.Library()


@register.filter
def money(payment) -> str:
    """A payment's amount as the merchant reads it: "12.50 EUR", "1,000 JPY"."""
    return f"{format_minor(payment.amount_minor, payment.currency)} {payment.currency}"


# The timeline's words for notes that change no state (payments.actions, engine, services).
ACTION_WORDS = {
    "abort_requested": "Abort asked for",
    "abort_unreachable": "The abort could not reach the terminal",
    "abort_refused": "The provider refused the abort",
    "capture_requested": "Capture asked for",
    "void_requested": "Cancelling the authorisation asked for",
    "receipt_print_requested": "Receipt printing asked for",
    "receipt_printed": "Receipt printed on the terminal",
    "receipt_print_failed": "The terminal did not print the receipt",
    "refund_settled": "Refund counted against the sale",
    "tracking_restarted": "Tracking restarted",
    "needs_attention": "Needs someone to settle it by hand",
}


@register.filter
def action_words(action: str) -> str:
    """A timeline note's action in words: "abort_requested" → "Abort asked for"."""
    return ACTION_WORDS.get(action) or (action or "").replace("_", " ").capitalize()

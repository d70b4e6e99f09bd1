"""Template helpers of the credentials pages."""

from django import template
from django.utils.html import escape
from django.utils.safestring import mark_safe

register = template.Library()


@register.simple_tag
def choice_options(choices, selected):
    """`<option>`s for (value, label) pairs, the one equal to `selected` (as text) selected, in one
    pass (a platform admin's merchant list can be long)."""
    selected = str(selected or "")
    return mark_safe(
        "\n".join(
            f'<option value="{escape(value)}"{" selected" if str(value) == selected else ""}>'
            f"{escape(label)}</option>"
            for value, label in choices
        )
    )

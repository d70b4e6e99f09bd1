"""The history page's repeated markup, rendered in one pass like the fleet's rows (a page of rows and
a few hundred filter options through template nodes cost more than the rest of the page). Every value
is escaped."""

from __future__ import annotations

from html import escape as _escape

from django import template
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe

from payments.forms import format_minor
from payments.models import OPEN_STATUSES

register = template.Library()


def escape(value) -> str:
    return _escape(str(value), quote=True)


@register.simple_tag
def history_options(options, value):
    """<option>s of (value, label) pairs, the one equal to `value` selected."""
    selected = str(value)
    return mark_safe(
        "".join(
            f'<option value="{escape(v)}"{" selected" if str(v) == selected else ""}>{escape(label)}</option>'
            for v, label in options
        )
    )


@register.simple_tag
def history_rows(payments, *, show_merchant: bool, live_refresh_s: int):
    """The list's rows: time in the viewer's zone, amount, kind, status (a live link polling the
    payment page's status partial while open), terminal, store, merchant, card, reference."""
    rows = []
    for p in payments:
        detail = reverse("payments:detail", args=[p.uuid])
        local = timezone.localtime(p.created_at)
        status = escape(p.get_status_display())
        if p.status in OPEN_STATUSES:
            badge = (
                f'<a class="badge badge-{p.status}" data-testid="live-status" href="{detail}"'
                f' hx-get="{reverse("payments:status", args=[p.uuid])}"'
                ' hx-select="[data-testid=status-words]" hx-headers=\'{"X-Poll": "1"}\''
                f' hx-trigger="every {int(live_refresh_s)}s" hx-swap="innerHTML">{status}</a>'
            )
        else:
            badge = f'<span class="badge badge-{p.status}">{status}</span>'
        card = f"{escape(p.card_brand)} ••••{escape(p.card_last4)}" if p.card_last4 else "—"
        cells = [
            f'<td><time datetime="{local.isoformat()}">{local:%Y-%m-%d %H:%M:%S}</time></td>',
            f'<td class="num">{format_minor(p.amount_minor, p.currency)} {escape(p.currency)}</td>',
            f"<td>{escape(p.get_kind_display())}</td>",
            f"<td>{badge}</td>",
            f"<td>{escape(p.terminal.name) if p.terminal_id else '—'}</td>",
            f"<td>{escape(p.store.name) if p.store_id else '—'}</td>",
        ]
        if show_merchant:
            cells.append(f"<td>{escape(p.merchant.name)}</td>")
        cells += [
            f"<td>{card}</td>",
            f'<td><a href="{detail}">{escape(p.reference)}</a></td>',
        ]
        rows.append(f'<tr data-testid="history-row" data-payment="{p.uuid}">{"".join(cells)}</tr>')
    return mark_safe("\n".join(rows))

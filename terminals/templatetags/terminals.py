from datetime import datetime
from html import escape as _escape

from django import template
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe

register = template.Library()


def escape(value) -> str:
    """HTML-escape like django.utils.html.escape (& < > " '), without its lazy-string wrapper: the
    fleet renders hundreds of values per page."""
    return _escape(str(value), quote=True)


@register.filter
def ago(moment: datetime | None) -> str:
    """ "12 s ago", "3 min ago", "5 h ago", "2 d ago"; "never" for None."""
    if moment is None:
        return "never"
    seconds = max(0, int((timezone.now() - moment).total_seconds()))
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} d ago"


@register.filter
def until(moment: datetime | None) -> int:
    """Whole seconds from now until `moment` (0 once it has passed)."""
    if moment is None:
        return 0
    return max(0, int((moment - timezone.now()).total_seconds() + 0.999))


def _status_badge_html(terminal, oob: bool = False) -> str:
    status = terminal.status if terminal.is_active else "inactive"
    attrs = f' id="status-{terminal.pk}" class="terminal-status" data-testid="status-{terminal.pk}" data-status="{status}"'
    if oob:
        attrs += ' hx-swap-oob="true"'
    if terminal.status_reason:
        attrs += f' title="{escape(terminal.status_reason)}"'
    if not terminal.is_active:
        inner = (
            '<span class="badge badge-inactive">inactive</span> '
            f'<small class="muted">· deactivated {ago(terminal.deactivated_at)}</small>'
        )
    else:
        inner = (
            f'<span class="badge badge-{status}">{escape(terminal.get_status_display())}</span> '
            f'<small class="muted">· checked {ago(terminal.status_checked_at)}</small>'
        )
    return f"<span{attrs}>{inner}</span>"


@register.simple_tag
def status_badge(terminal, oob: bool = False):
    """The terminal's status badge with its age ("online · checked 12 s ago"), under a stable id so
    the fleet's HTMX refresh can swap it out of band. One function for the list, the terminal page
    and the refresh partial."""
    return mark_safe(_status_badge_html(terminal, oob))


@register.simple_tag
def fleet_rows(terminals, *, show_merchant: bool, can_assign: bool):
    """The fleet table's rows, rendered in one pass like the admin's change list: a page of rows
    through template nodes costs more than the rest of the page. Every value is escaped."""
    # The terminal page is the fleet URL plus the id (terminals/urls.py: "<int:pk>/"); one reverse per page.
    fleet_url = reverse("terminals:fleet")
    rows = []
    for t in terminals:
        name = escape(t.name)
        cells = []
        if can_assign:
            cells.append(
                f'<td class="select"><input type="checkbox" name="terminal" value="{t.pk}" form="bulk" '
                f'aria-label="Select {name}"></td>'
            )
        cells.append(
            f'<td><a href="{fleet_url}{t.pk}/" data-testid="terminal-name">{name}</a></td>'
        )
        if show_merchant:
            cells.append(f"<td>{escape(t.merchant.name)}</td>")
        cells.append(
            f"<td>{escape(t.store.name)}</td>"
            if t.store
            else '<td><span class="muted">No store</span></td>'
        )
        cells.append(f"<td>{escape(t.get_provider_display())}</td>")
        cells.append(
            f'<td class="small">{escape(t.model or "—")}<br><code>{escape(t.serial_number or t.provider_ref)}</code></td>'
        )
        cells.append(f'<td class="small">{_status_badge_html(t)}</td>')
        rows.append(f'<tr data-testid="terminal-row" data-terminal="{t.pk}">{"".join(cells)}</tr>')
    return mark_safe("\n".join(rows))


@register.simple_tag
def options(choices, selected):
    """`<option>`s for (value, label) pairs, the one equal to `selected` (compared as text) selected.
    Rendered in one pass: the fleet's merchant list can be long."""
    selected = str(selected or "")
    return mark_safe(
        "\n".join(
            f'<option value="{escape(value)}"{" selected" if str(value) == selected else ""}>{escape(label)}</option>'
            for value, label in choices
        )
    )

"""The history's 30-day chart as server-side SVG: per currency, approved volume per day (bars, left
axis) and the approval rate (line, right axis, 0–100 %). No script, no CDN, no inline style: shapes
carry classes that payments/history.css colours. The page puts the same numbers in a table for
screen readers and for reading exact values; the SVG's title and description say what it shows."""

from __future__ import annotations

from decimal import Decimal
from html import escape

from django.utils.safestring import SafeString, mark_safe

from payments.history import CurrencySeries

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 48, 16, 40
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM


def nice_ceiling(value: Decimal) -> Decimal:
    """The axis top: the smallest 1, 2 or 5 × 10ⁿ at or above `value` (at least 1)."""
    if value <= 0:
        return Decimal(1)
    magnitude = Decimal(10) ** (len(str(int(value))) - 1)
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude  # pragma: no cover


def _label(value: Decimal) -> str:
    return f"{value:,.0f}" if value >= 10 else f"{value:,.2f}".rstrip("0").rstrip(".")


def chart_svg(series: CurrencySeries, *, chart_id: str) -> SafeString:
    days = series.days
    top = nice_ceiling(series.peak)
    slot = PLOT_W / max(len(days), 1)
    bar_w = slot * 0.7
    parts = [
        f'<svg class="history-chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" data-testid="chart-{escape(series.currency)}" '
        'preserveAspectRatio="xMidYMid meet" focusable="false">',
        f'<title id="{chart_id}-title">{escape(series.currency)}: approved volume and approval rate per day</title>',
        f'<desc id="{chart_id}-desc">Bars: approved sales per day in {escape(series.currency)}, '
        f"from {days[0].day:%d %b} to {days[-1].day:%d %b}, highest {_label(series.peak)}. "
        "Line: the approval rate, 0 to 100 percent. The table below gives every value.</desc>",
    ]
    # Grid and axes: volume on the left, the rate on the right.
    for i in range(5):
        y = TOP + PLOT_H - PLOT_H * i / 4
        parts.append(
            f'<line class="chart-grid" x1="{LEFT}" x2="{LEFT + PLOT_W}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
        parts.append(
            f'<text class="chart-axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_label(top * i / 4)}</text>'
        )
        parts.append(
            f'<text class="chart-axis chart-rate-axis" x="{LEFT + PLOT_W + 6}" y="{y + 4:.1f}">{25 * i}%</text>'
        )
    for index, point in enumerate(days):
        x = LEFT + slot * index + (slot - bar_w) / 2
        if point.volume > 0:
            h = float(point.volume / top) * PLOT_H
            parts.append(
                f'<rect class="chart-bar" x="{x:.1f}" y="{TOP + PLOT_H - h:.1f}" width="{bar_w:.1f}" height="{h:.1f}">'
                f"<title>{point.day:%d %b}: {_label(point.volume)} {escape(series.currency)}</title></rect>"
            )
        if index % 5 == 0 or index == len(days) - 1:
            parts.append(
                f'<text class="chart-axis" x="{x + bar_w / 2:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">{point.day:%d %b}</text>'
            )
    # The rate line, broken where a day had no decided payment.
    segment: list[str] = []
    segments: list[list[str]] = []
    for index, point in enumerate(days):
        rate = point.approval_rate
        if rate is None:
            if segment:
                segments.append(segment)
            segment = []
            continue
        x = LEFT + slot * index + slot / 2
        y = TOP + PLOT_H - PLOT_H * rate / 100
        segment.append(f"{x:.1f},{y:.1f}")
    if segment:
        segments.append(segment)
    for points in segments:
        if len(points) == 1:
            x, y = points[0].split(",")
            parts.append(f'<circle class="chart-dot" cx="{x}" cy="{y}" r="3"/>')
        else:
            parts.append(f'<polyline class="chart-line" points="{" ".join(points)}"/>')
    parts.append(
        f'<line class="chart-axis-line" x1="{LEFT}" x2="{LEFT + PLOT_W}" y1="{TOP + PLOT_H}" y2="{TOP + PLOT_H}"/>'
    )
    parts.append("</svg>")
    return mark_safe("".join(parts))

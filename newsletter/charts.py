"""Server-rendered SVG charts for the dashboard: no JavaScript, colours from CSS classes (so the
admin's light and dark themes apply), and each chart beside a data table (the template's) that
screen readers and copy-paste use. Numbers only go in; every label is escaped here."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 720, 200
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 10, 24  # room for the axis labels


@dataclass(frozen=True)
class Series:
    label: str
    values: Sequence[float]
    css: str  # "s1".."s4": the colour (dashboard.css)


def _nice_max(value: float) -> float:
    """The y axis' top: 1, 2 or 5 times a power of ten, at least ``value`` (and at least 1)."""
    if value <= 1:
        return 1
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return float(step * magnitude)
    return float(10 * magnitude)


def _frame(title: str, days: Sequence[dt.date], top: float, body: str, width: int) -> SafeString:
    plot_h = HEIGHT - TOP - BOTTOM
    grid = []
    for fraction in (0, 0.5, 1):
        y = TOP + plot_h * (1 - fraction)
        value = top * fraction
        grid.append(
            f'<line class="grid" x1="{LEFT}" x2="{width - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{value:,.0f}</text>'
        )
    labels = []
    if days:
        for index in sorted({0, len(days) // 2, len(days) - 1}):
            x = _x(index, len(days), width)
            anchor = "start" if index == 0 else "end" if index == len(days) - 1 else "middle"
            labels.append(
                f'<text class="axis" x="{x:.1f}" y="{HEIGHT - 6}" text-anchor="{anchor}">{days[index]:%b %-d}</text>'
            )
    svg = (
        f'<svg class="chart w{width}" viewBox="0 0 {width} {HEIGHT}" width="{width}" height="{HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" focusable="false"><title>{escape(title)}</title>'
        f"{''.join(grid)}{''.join(labels)}{body}</svg>"
    )
    return mark_safe(svg)  # noqa: S308 (numbers and escaped labels only)


def _x(index: int, count: int, width: int) -> float:
    span = width - LEFT - RIGHT
    return LEFT + (span * index / (count - 1) if count > 1 else span / 2)


def _y(value: float, top: float) -> float:
    return TOP + (HEIGHT - TOP - BOTTOM) * (1 - value / top)


def line_chart(title: str, days: Sequence[dt.date], series: Sequence[Series], width: int = WIDTH) -> SafeString:
    """One line per series over ``days``."""
    top = _nice_max(max((value for s in series for value in s.values), default=0))
    lines = []
    for s in series:
        points = " ".join(f"{_x(i, len(days), width):.1f},{_y(v, top):.1f}" for i, v in enumerate(s.values))
        lines.append(f'<polyline class="line {s.css}" points="{points}"/>')
    return _frame(title, days, top, "".join(lines), width)


def bar_chart(title: str, days: Sequence[dt.date], series: Sequence[Series], width: int = WIDTH) -> SafeString:
    """Bars per day, the series stacked (each day's total is the bar's height)."""
    totals = [sum(s.values[i] for s in series) for i in range(len(days))]
    top = _nice_max(max(totals, default=0))
    slot = (width - LEFT - RIGHT) / max(len(days), 1)
    bars = []
    for i in range(len(days)):
        base = 0.0
        for s in series:
            value = s.values[i]
            if value:
                y_top, y_base = _y(base + value, top), _y(base, top)
                x = LEFT + slot * i + slot * 0.15
                bars.append(
                    f'<rect class="bar {s.css}" x="{x:.1f}" y="{y_top:.1f}" width="{slot * 0.7:.1f}" '
                    f'height="{y_base - y_top:.1f}"/>'
                )
            base += value
    return _frame(title, days, top, "".join(bars), width)


def legend(series: Sequence[Series]) -> SafeString:
    items = (format_html('<li><span class="key {}"></span>{}</li>', s.css, s.label) for s in series)
    return format_html('<ul class="legend">{}</ul>', mark_safe("".join(items)))  # noqa: S308 (each item escaped)

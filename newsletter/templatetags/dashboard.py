from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def percent(value: float | None) -> str:
    """0.0123 → "1.2%"; None (nothing to divide by) → an en dash."""
    return "–" if value is None else f"{value:.1%}"

"""``{% backoffice_dashboard as dashboard %}``: the admin index's queues and KPIs
(:func:`settlements.backoffice.dashboard_build`) for staff who may read the ledger; the queues
alone for the others."""

from __future__ import annotations

from django import template

from ..backoffice import Dashboard, dashboard_build, dashboard_queues

register = template.Library()


@register.simple_tag(takes_context=True)
def backoffice_dashboard(context) -> Dashboard | dict:
    user = context["request"].user
    if user.has_perm("settlements.view_journalentry"):
        return dashboard_build()
    return {"queues": dashboard_queues()}


@register.filter
def get_item(mapping, key):
    """``mapping[key]`` in a template (``None`` when absent)."""
    return mapping.get(key) if hasattr(mapping, "get") else None

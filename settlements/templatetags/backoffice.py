"""``{% backoffice_dashboard as dashboard %}``: the admin index's queues and KPIs
(:func:`settlements.backoffice.dashboard_build`) for staff who may read the ledger; the queues
alone for the others. Either way only the queues the user's roles may open
(:func:`settlements.backoffice.queues_visible_to`): no link to a page that would answer 403."""

from __future__ import annotations

import dataclasses

from django import template

from ..backoffice import Dashboard, dashboard_build, dashboard_queues, queues_visible_to

register = template.Library()


@register.simple_tag(takes_context=True)
def backoffice_dashboard(context) -> Dashboard | dict:
    user = context["request"].user
    if user.has_perm("settlements.view_journalentry"):
        board = dashboard_build()
        return dataclasses.replace(board, queues=queues_visible_to(user, board.queues))
    return {"queues": queues_visible_to(user, dashboard_queues())}


@register.filter
def get_item(mapping, key):
    """``mapping[key]`` in a template (``None`` when absent)."""
    return mapping.get(key) if hasattr(mapping, "get") else None

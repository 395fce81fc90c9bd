"""Template tags of passive investing: the investor's pool positions on the dashboard (the
marketplace's page loads this library by name; no marketplace code imports the pools)."""

from django import template

from ..selectors import pool_positions_of

register = template.Library()


@register.inclusion_tag("pools/_dashboard_positions.html")
def pool_positions(user) -> dict:
    """``{% pool_positions user %}``: each pool where ``user`` holds shares, with the shares,
    their value, the gain and the redemptions queued (:func:`pools.selectors.pool_position`)."""
    return {"positions": pool_positions_of(investor=user)}

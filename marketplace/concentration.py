"""Concentration limits: how much of PayMint's money may ride on one debtor, one seller, and
one investor's exposure to one debtor (``settings.PAYMINT``: ``MAX_DEBTOR_EXPOSURE``,
``MAX_SELLER_EXPOSURE``, ``MAX_INVESTOR_DEBTOR_EXPOSURE``, in the invoice's currency).

The checks read sums over *other* rows (other invoices, other investments), which no row lock
of the caller covers, so each comes with the lock that serializes its competing writers:
listings take :func:`lock_listing_concentration` (advisory locks on the seller and the debtor)
before :func:`check_listing_concentration`; fundings lock the investor's cash account before
:func:`check_investor_concentration` (see :mod:`marketplace.services` for the lock order).
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import connection

from invoices.models import Invoice
from invoices.selectors import exposure
from paymint.core.db import advisory_xact_lock
from paymint.core.errors import Conflict

from .enums import InvestmentStatus
from .error_codes import MarketplaceError
from .models import Investment, Listing

#: The investor's outstanding principal on one debtor, written out (the ORM's compile of the
#: two joins and the aggregate cost about 0.5 ms of CPU per funding, issue #19).
_INVESTOR_DEBTOR_EXPOSURE_SQL = (
    f'SELECT SUM(i."amount" - i."principal_repaid") FROM "{Investment._meta.db_table}" i '  # noqa: S608  # nosec B608 - names from code, values bound
    f'INNER JOIN "{Listing._meta.db_table}" l ON (i."listing_id" = l."id") '
    f'INNER JOIN "{Invoice._meta.db_table}" v ON (l."invoice_id" = v."id") '
    f'WHERE i."investor_id" = %s AND i."status" = %s AND i."currency" = %s '
    f'AND v."debtor_key" = %s'
)


class ConcentrationLimit(Conflict):
    code = MarketplaceError.CONCENTRATION_LIMIT


def lock_listing_concentration(*, invoice: Invoice) -> None:
    """Serialize the listings of ``invoice``'s seller and of its debtor (across sellers) until
    commit: the exposures :func:`check_listing_concentration` reads are sums over other
    invoices, which no row lock of this transaction covers. Runs after the invoice row lock."""
    names = [f"paymint:listing:seller:{invoice.seller_id}"]
    if invoice.debtor_key:
        names.append(f"paymint:listing:debtor:{invoice.debtor_key}")
    advisory_xact_lock(*names)


def check_listing_concentration(*, invoice: Invoice, advance: Decimal) -> None:
    """Refuse a listing that would take the debtor's (across all sellers) or the seller's
    outstanding advances above ``MAX_DEBTOR_EXPOSURE`` / ``MAX_SELLER_EXPOSURE``. Call it
    under :func:`lock_listing_concentration`, or concurrent listings all pass."""
    config = settings.PAYMINT
    on_debtor = exposure(currency=invoice.currency, debtor_key=invoice.debtor_key,
                         exclude_invoice=invoice) if invoice.debtor_key else Decimal(0)
    if on_debtor + advance > config["MAX_DEBTOR_EXPOSURE"]:
        raise ConcentrationLimit(
            f"PayMint's exposure to this debtor would exceed {config['MAX_DEBTOR_EXPOSURE']} "
            f"{invoice.currency}.", code=MarketplaceError.DEBTOR_CONCENTRATION_LIMIT)
    of_seller = exposure(currency=invoice.currency, seller=invoice.seller,
                         exclude_invoice=invoice)
    if of_seller + advance > config["MAX_SELLER_EXPOSURE"]:
        raise ConcentrationLimit(
            f"Your outstanding advances would exceed {config['MAX_SELLER_EXPOSURE']} "
            f"{invoice.currency}.", code=MarketplaceError.SELLER_CONCENTRATION_LIMIT)


def investor_debtor_exposure_sql(*, investor, invoice: Invoice, currency: str
                                 ) -> tuple[str, list]:
    """The investor's outstanding principal on ``invoice``'s debtor as an SQL scalar subquery
    and its parameters (NULL for none), for a caller that reads it in one statement with its
    other reads after the investor's cash account is locked (the funding: with the cash
    balance); hand the value to :func:`check_investor_concentration` (``current``)."""
    return (f"({_INVESTOR_DEBTOR_EXPOSURE_SQL})",
            [investor.pk, InvestmentStatus.ACTIVE, currency, invoice.debtor_key])


def check_investor_concentration(*, investor, invoice: Invoice, currency: str,
                                  amount: Decimal, current=None) -> None:
    """Refuse an investment that would take the investor's outstanding principal on one
    debtor above ``MAX_INVESTOR_DEBTOR_EXPOSURE``. Call it with the investor's cash account
    locked (every funding by the investor locks it first), or two fundings of different
    listings of one debtor both pass. ``current``: the exposure as the caller read it after
    that lock (:func:`investor_debtor_exposure_sql`, its NULL as 0); read here when None.
    """
    cap = settings.PAYMINT["MAX_INVESTOR_DEBTOR_EXPOSURE"]
    if current is None:
        sql, params = investor_debtor_exposure_sql(investor=investor, invoice=invoice,
                                                   currency=currency)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {sql}", params)  # noqa: S608 - our own fragment
            current = cursor.fetchone()[0]
    # str(): exact for PostgreSQL's numeric, and no binary noise from SQLite's float SUM.
    current = Decimal(0) if current is None else Decimal(str(current))
    if current + amount > cap:
        raise ConcentrationLimit(
            f"Your exposure to this debtor would exceed {cap} {currency} "
            f"(now {current}).", code=MarketplaceError.INVESTOR_CONCENTRATION_LIMIT,
            fields={"amount": [f"At most {max(cap - current, Decimal(0))}."]})

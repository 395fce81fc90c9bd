"""Reads for the marketplace."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from django.db.models import Count, DecimalField, ExpressionWrapper, F, QuerySet, Sum

from accounts.enums import Role
from accounts.error_codes import AccountsError
from accounts.selectors import kyc_is_approved_cached
from invoices.enums import InvoiceStatus
from invoices.verification import checks_for_investors
from paymint.core import clock
from paymint.core.error_codes import CoreError
from paymint.core.errors import NotFound, PermissionDenied, ValidationFailed
from paymint.core.money import quantize_money
from paymint.core.permissions import is_active_staff
from paymint.core.prepared import PreparedValues
from paymint.core.renderers import json_loads
from paymint.core.tallies import tallies_kept
from settlements.ledger import exact_sum, investor_invoice_postings

from .enums import InvestmentStatus
from .error_codes import MarketplaceError
from .filters import ListingFilter
from .models import Investment, InvestmentTotal, Listing


def _uuid(value, code: MarketplaceError) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        raise NotFound("Not found.", code=code) from None


def marketplace_access_check(*, user) -> None:
    """Who may read the marketplace (listings, their search and filters, a listing's detail
    and quotes; API and dashboards): active operations staff, and investors whose KYC is
    approved. Listings show debtors, amounts and other sellers' business, so sellers and
    investors still in onboarding are refused. Sellers follow their own listing through their
    invoices (``invoice_get_for_seller``).

    Raises:
        PermissionDenied: ``NOT_AUTHENTICATED`` (anonymous), ``NOT_AN_INVESTOR`` (a seller or
            any other non-staff account), ``KYC_NOT_APPROVED`` (an investor whose KYC is not
            submitted, pending review or rejected) - the codes :func:`investment_create` uses.
    """
    if is_active_staff(user):
        return
    if not getattr(user, "is_authenticated", False):
        raise PermissionDenied("Sign in to see the marketplace.", code=CoreError.NOT_AUTHENTICATED)
    if user.role != Role.INVESTOR:
        raise PermissionDenied("The marketplace is open to investors only.",
                               code=MarketplaceError.NOT_AN_INVESTOR)
    if not kyc_is_approved_cached(user=user):
        raise PermissionDenied("Your KYC must be approved before you can see the marketplace.",
                               code=AccountsError.KYC_NOT_APPROVED)


def listing_list_for_reader(*, user) -> QuerySet[Listing]:
    """:func:`listing_open_list` for a user allowed to read the marketplace.

    Raises:
        PermissionDenied: see :func:`marketplace_access_check`.
    """
    marketplace_access_check(user=user)
    return listing_open_list()


#: Sort keys offered on the marketplace page -> ORDER BY (ties broken newest first).
LISTING_SORTS: dict[str, tuple[str, ...]] = {
    "yield": ("-discount_rate", "due_date"),
    "tenor": ("due_date", "-discount_rate"),
    "-tenor": ("-due_date", "-discount_rate"),
    "amount": ("remaining", "due_date"),
    "-amount": ("-remaining", "due_date"),
    "newest": ("-listed_at", "-id"),
}

_REMAINING = ExpressionWrapper(
    F("advance_amount") - F("funded_amount"),
    output_field=DecimalField(max_digits=20, decimal_places=7),
)


def _open_unexpired(now) -> QuerySet[Listing]:
    """The listings :func:`listing_search` searches at ``now``: open, unexpired, with
    ``remaining`` annotated."""
    return listing_open_list().filter(expires_at__gt=now).annotate(remaining=_REMAINING)


def listing_search(*, user, filters=None, sort: str = "yield") -> QuerySet[Listing]:
    """Open, unexpired listings matching ``filters`` (the parameters of
    :class:`~marketplace.filters.ListingFilter`: a dict or a ``QueryDict``), with the invoice
    joined and the amount still to be funded annotated as ``remaining`` (one query), sorted by
    ``sort`` (:data:`LISTING_SORTS`; the API's cursor pages order by their own key). The one
    search of the API and the marketplace page.

    Raises:
        PermissionDenied: see :func:`marketplace_access_check`.
        ValidationFailed: ``VALIDATION_ERROR`` with the invalid filters in ``fields``.
    """
    marketplace_access_check(user=user)
    queryset = _open_unexpired(clock.now())
    if not filters or not any(name in filters for name in ListingFilter.base_filters):
        # No filter asked for (the default list): nothing to validate or apply.
        return queryset.order_by(*LISTING_SORTS.get(sort, LISTING_SORTS["yield"]))
    filterset = ListingFilter(filters, queryset=queryset)
    if not filterset.is_valid():
        raise ValidationFailed("Please correct the highlighted fields.",
                               code=CoreError.VALIDATION_ERROR,
                               fields={k: list(v) for k, v in filterset.errors.items()})
    return filterset.qs.order_by(*LISTING_SORTS.get(sort, LISTING_SORTS["yield"]))


def listing_search_values(*, user, filters=None, fields: tuple[str, ...]):
    """:func:`listing_search`'s listings as ``.values(*fields)`` rows (``fields`` may name
    ``remaining``), for a list that pages them with its own ordering (the API's cursor). The
    unfiltered search - the marketplace's default page, the most read - is a
    :class:`~paymint.core.prepared.PreparedValues`: its SQL is compiled once per process (the
    same statement and rows as the queryset).

    Raises:
        PermissionDenied: see :func:`marketplace_access_check`.
        ValidationFailed: ``VALIDATION_ERROR`` with the invalid filters in ``fields``.
    """
    if filters and any(name in filters for name in ListingFilter.base_filters):
        return listing_search(user=user, filters=filters).values(*fields)
    marketplace_access_check(user=user)
    decoders = {name: decode for name, decode in _LISTING_DOCUMENTS.items() if name in fields}
    return PreparedValues(f"marketplace.listing_search:{','.join(fields)}", Listing,
                          lambda now: (_open_unexpired(now).order_by(*LISTING_SORTS["yield"])
                                       .values(*fields)),
                          {"now": clock.now()}, decoders=decoders)


class InvestorChecks(list):
    """An invoice's stored verification checks (the list ``json.loads`` gives) with their
    investor wording (:func:`~invoices.verification.checks_for_investors`) made once:
    ``shown``. What :func:`listing_search_values` reads for ``invoice__verification``."""

    __slots__ = ("shown",)


def investor_checks(checks) -> list[dict]:
    """The investor wording of stored checks: made once per document for
    :class:`InvestorChecks`, else now."""
    if type(checks) is InvestorChecks:
        return checks.shown
    return checks_for_investors(checks)


#: Decoded listing documents by their database text, shared by the reads of this process: the
#: marketplace's pages send the same invoices' documents again and again, and decoding them
#: (plus the checks' wording) cost ~0.8 ms of a page's ~4 ms (issue #19). Never changed by
#: their readers; emptied when it holds ``_DOCUMENTS_MAX`` of them.
_DOCUMENTS: dict[tuple[str, str], Any] = {}
_DOCUMENTS_MAX = 4096


def _document(kind: str, text: str, decode: Callable[[str], Any]):
    key = (kind, text)
    value = _DOCUMENTS.get(key)
    if value is None:
        try:
            value = decode(text)
        except json.JSONDecodeError:
            return text  # as Django's JSONField answers a text it cannot decode
        if len(_DOCUMENTS) >= _DOCUMENTS_MAX:
            _DOCUMENTS.clear()
        _DOCUMENTS[key] = value
    return value


def _checks_from_text(text: str):
    checks = json_loads(text)
    if type(checks) is not list:
        return checks
    shared = InvestorChecks(checks)
    shared.shown = checks_for_investors(checks)
    return shared


_LISTING_DOCUMENTS: dict[str, Callable[[str], Any]] = {
    "invoice__verification": lambda text: _document("checks", text, _checks_from_text),
    "invoice__risk_factors": lambda text: _document("risk", text, json_loads),
}


def listing_investor_checks(*, listing: Listing) -> list[dict]:
    """The invoice's verification checks as a listing shows them: outcomes in neutral words
    (:func:`invoices.verification.checks_for_investors`), never the messages written for the
    seller."""
    return checks_for_investors(listing.invoice.verification)


def listing_open_list() -> QuerySet[Listing]:
    """Listings open for funding (invoice ``LISTED``: ``is_open``, which the database keeps
    equal to it, so that the test reads the listing alone), newest first, with the invoice
    joined."""
    return Listing.objects.filter(is_open=True).select_related("invoice")


def listing_get_open(*, listing_id) -> Listing:
    """An open listing by its public id.

    Raises:
        NotFound: ``LISTING_NOT_FOUND`` when missing or not open.
    """
    listing = (
        listing_open_list().filter(public_id=_uuid(listing_id,
                                                   MarketplaceError.LISTING_NOT_FOUND)).first()
    )
    if listing is None:
        raise NotFound("Listing not found.", code=MarketplaceError.LISTING_NOT_FOUND)
    return listing


def listing_get_visible(*, listing_id, user) -> Listing:
    """A listing the user may read: for a marketplace reader (:func:`marketplace_access_check`)
    an open one, or one the user invested in; staff read any.

    Raises:
        PermissionDenied: see :func:`marketplace_access_check` (before any lookup, so a refused
            user learns nothing about which ids exist).
        NotFound: ``LISTING_NOT_FOUND`` when missing or not visible to the user.
    """
    marketplace_access_check(user=user)
    pk = _uuid(listing_id, MarketplaceError.LISTING_NOT_FOUND)
    listing = (
        Listing.objects.select_related("invoice")
        .filter(public_id=pk)
        .first()
    )
    if listing is None or not (
        listing.invoice.status == InvoiceStatus.LISTED
        or is_active_staff(user)
        or listing.investments.filter(investor=user).exists()
    ):
        raise NotFound("Listing not found.", code=MarketplaceError.LISTING_NOT_FOUND)
    return listing


def investment_list_for_investor(*, investor) -> QuerySet[Investment]:
    """The investor's own investments with their listing and invoice, newest first
    (``investor``: the user or its id)."""
    return (
        Investment.objects.filter(investor=investor)
        .select_related("listing", "listing__invoice")
        .order_by("-created_at", "-id")
    )


def investment_list_values_for_investor(*, investor, fields: tuple[str, ...]):
    """:func:`investment_list_for_investor` as ``.values(*fields)`` rows, compiled once per
    process (:class:`~paymint.core.prepared.PreparedValues`; the same statement and rows)."""
    return PreparedValues(
        f"marketplace.investment_list_for_investor:{','.join(fields)}", Investment,
        lambda investor_id: investment_list_for_investor(investor=investor_id).values(*fields),
        {"investor_id": investor.pk})


def investment_get_for_investor(*, investor, investment_id) -> Investment:
    """The investor's own investment (UUID), with listing and invoice.

    Raises:
        NotFound: ``INVESTMENT_NOT_FOUND`` for a missing id or someone else's investment.
    """
    investment = (
        investment_list_for_investor(investor=investor)
        .filter(public_id=_uuid(investment_id, MarketplaceError.INVESTMENT_NOT_FOUND))
        .first()
    )
    if investment is None:
        raise NotFound("Investment not found.", code=MarketplaceError.INVESTMENT_NOT_FOUND)
    return investment


def investment_statement_lines(*, investment: Investment) -> QuerySet:
    """Itemized cash movements of one investment: the postings on the investor's cash account
    that belong to the investment's invoice (funding, distributions, refunds), oldest first."""
    return investor_invoice_postings(investor_id=investment.investor_id,
                                     invoice_id=investment.listing.invoice_id)


def investor_audience(
    investments: Iterable, *, listing: Listing, value: Callable[[Any], Decimal] | None = None
) -> dict[int, dict[str, str]]:
    """Who among investors hears of an event on ``listing`` and what each may be told
    (:mod:`paymint.core.events` recipients): investor id -> their own total of ``value``
    (default: the amount funded) over their ``investments``, the listing's currency and id,
    and the id of one of their investments (for the link). Never another investor's figure.

    ``investments``: :class:`~marketplace.models.Investment` rows or objects with
    ``investor_id`` (and ``public_id`` when there is one).
    """
    value = value or (lambda inv: inv.amount)
    audience: dict[int, dict[str, str]] = {}
    totals: dict[int, Decimal] = {}
    for inv in investments:
        totals[inv.investor_id] = totals.get(inv.investor_id, Decimal(0)) + value(inv)
        entry = audience.setdefault(
            inv.investor_id,
            {"currency": listing.currency, "listing_id": str(listing.public_id)},
        )
        if getattr(inv, "public_id", None) and "investment_id" not in entry:
            entry["investment_id"] = str(inv.public_id)
    for investor_id, total in totals.items():
        audience[investor_id]["amount"] = str(quantize_money(total, listing.currency))
    return audience


def listing_progress(*, listing_ids: Iterable[str]) -> list[dict]:
    """Funding progress of the listings ``listing_ids`` (public UUIDs; malformed ones are
    skipped): ``{"listing_id", "seller_id", "funded_amount", "advance_amount", "currency",
    "percent", "investor_count", "status"}`` (amounts as strings; percent 0-100, rounded down),
    one query. For the live progress bars (:mod:`notifications.live`)."""
    ids = []
    for raw in listing_ids:
        try:
            ids.append(uuid.UUID(str(raw)))
        except ValueError:
            continue
    rows = Listing.objects.filter(public_id__in=ids).values(
        "public_id", "invoice__seller_id", "funded_amount", "advance_amount", "currency",
        "investor_count", "invoice__status",
    )
    return [
        {
            "listing_id": str(r["public_id"]),
            "seller_id": r["invoice__seller_id"],
            "funded_amount": str(quantize_money(r["funded_amount"], r["currency"])),
            "advance_amount": str(quantize_money(r["advance_amount"], r["currency"])),
            "currency": r["currency"],
            "percent": (int(r["funded_amount"] * 100 // r["advance_amount"])
                        if r["advance_amount"] else 0),
            "investor_count": r["investor_count"],
            "status": r["invoice__status"],
        }
        for r in rows
    ]


def listing_progress_for_reader(*, user, listing_ids: Iterable[str]) -> list[dict]:
    """:func:`listing_progress` of the listings among ``listing_ids`` that ``user`` may see:
    their own (a seller's invoices) and, for a marketplace reader, the open ones and those
    they invested in (:func:`listing_get_visible`'s rule). Others are left out silently."""
    rows = listing_progress(listing_ids=list(listing_ids)[:50])
    try:
        marketplace_access_check(user=user)
        reader = True
    except PermissionDenied:
        reader = False
    invested = set()
    if reader:
        invested = {
            str(pk) for pk in Investment.objects.filter(
                investor=user, listing__public_id__in=[r["listing_id"] for r in rows]
            ).values_list("listing__public_id", flat=True)
        }
    return [
        r for r in rows
        if r["seller_id"] == user.pk
        or (reader and (r["status"] == InvoiceStatus.LISTED or is_active_staff(user)
                        or r["listing_id"] in invested))
    ]


def investment_outstanding_by_currency() -> dict[str, Decimal]:
    """``{currency: amount - principal repaid}`` of the active investments (the back office's
    outstanding principal), storage precision. One query over the investment tally
    (:class:`~.models.InvestmentTotal`, a few rows, kept by PostgreSQL), or over the
    investments on SQLite."""
    if tallies_kept():
        rows = (InvestmentTotal.objects.filter(status=InvestmentStatus.ACTIVE)
                .values("currency").annotate(n=Sum("investments"),
                                             total=Sum(F("amount") - F("principal_repaid"))))
    else:
        rows = (Investment.objects.filter(status=InvestmentStatus.ACTIVE).values("currency")
                .annotate(n=Count("id"), total=Sum(F("amount") - F("principal_repaid")))
                .order_by())
    return {r["currency"]: exact_sum(r["total"])
            for r in sorted(rows, key=lambda r: r["currency"]) if r["n"]}

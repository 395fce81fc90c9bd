"""Investor pages: the dashboard (wallet, deposit instructions, portfolio), the marketplace
with filters, a listing's detail with the investment calculator, and the two-step invest flow.

The marketplace pages are for investors whose KYC is approved, and staff
(:func:`marketplace.selectors.marketplace_access_check`, applied by the selectors they call);
anyone else signed in gets a page that says why and what to do instead (403).

Investing: the first POST (amount) renders a confirmation page with the quote and a fresh
idempotency key in a hidden field; the second POST (``confirm=1``) calls
:func:`marketplace.services.investment_create` with that key, so a double-click or a resent
form funds once.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal
from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts.enums import Role
from accounts.selectors import kyc_profile_for_user
from paymint.core import clock
from paymint.core.errors import ApplicationError, NotFound, PermissionDenied
from paymint.core.money import Money
from paymint.core.web import is_htmx, role_required

from .forms import AmountForm, InvestConfirmForm, MarketplaceFilterForm
from .models import Listing
from .selectors import (
    investment_get_for_investor,
    investment_list_for_investor,
    investment_statement_lines,
    listing_get_visible,
    listing_investor_checks,
    listing_search,
)
from .services import investment_create
from .web_selectors import (
    expected_remaining,
    investor_portfolio,
    listing_quote,
    portfolio_xirr,
)

LISTINGS_PER_PAGE = 20
INVESTMENTS_PER_PAGE = 20


def marketplace_page(view: Callable) -> Callable:
    """Sign-in required; when the marketplace selectors refuse the user
    (:func:`marketplace.selectors.marketplace_access_check`), render
    ``marketplace/no_access.html`` - why, and what to do (complete KYC; sellers: their own
    invoices) - with status 403 instead of the page."""

    @wraps(view)
    @login_required
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except PermissionDenied as exc:
            return render(
                request,
                "marketplace/no_access.html",
                {"error": exc, "profile": kyc_profile_for_user(user=request.user)},
                status=exc.http_status,
            )

    return wrapper


def _listing_or_404(request: HttpRequest, listing_id) -> Listing:
    try:
        return listing_get_visible(listing_id=listing_id, user=request.user)
    except NotFound:
        raise Http404("Listing not found.") from None


@role_required(Role.INVESTOR)
@require_GET
def investor_dashboard(request: HttpRequest) -> HttpResponse:
    """Cash per currency, how to deposit, and the portfolio: expected vs realised return per
    position, XIRR per currency, allocation by grade and by debtor, upcoming repayments and
    overdue positions."""
    investor = request.user
    today = clock.today()
    page = Paginator(
        investment_list_for_investor(investor=investor), INVESTMENTS_PER_PAGE
    ).get_page(request.GET.get("page"))
    # The one portfolio read, shared with GET /api/v1/portfolio.
    portfolio = investor_portfolio(investor=investor, today=today)
    return render(
        request,
        "marketplace/investor_dashboard.html",
        {
            "profile": kyc_profile_for_user(user=investor),
            "balances": portfolio.balances,
            "totals": portfolio.totals,
            "xirr": portfolio.xirr,
            "allocation": portfolio.allocation,
            "allocation_chart": _doughnut(portfolio.allocation,
                                          lambda r: f"Grade {r['grade']}"),
            "by_debtor": portfolio.by_debtor,
            "debtor_chart": _doughnut(portfolio.by_debtor,
                                      lambda r: r["debtor"] or "Unknown debtor"),
            "upcoming": portfolio.upcoming,
            "overdue": portfolio.overdue,
            "page": page,
        },
    )


@role_required(Role.INVESTOR)
@require_GET
def investment_statement(request: HttpRequest, investment_id) -> HttpResponse:
    """One investment: its terms, expected vs realised return and every cash movement."""
    try:
        investment = investment_get_for_investor(investor=request.user, investment_id=investment_id)
    except NotFound:
        raise Http404("Investment not found.") from None
    lines = list(investment_statement_lines(investment=investment))
    net = sum((line.amount for line in lines), Decimal(0))
    today = clock.today()
    open_positions = [investment] if investment.status == "ACTIVE" else []
    flows = {investment.currency: [(line.entry.effective_date, line.amount) for line in lines]}
    rate = portfolio_xirr(cashflows=flows, open_positions=open_positions, today=today)
    return render(
        request,
        "marketplace/investment_statement.html",
        {
            "investment": investment,
            "listing": investment.listing,
            "invoice": investment.listing.invoice,
            "lines": lines,
            "net": net,
            "remaining": expected_remaining(investment),
            "realised_profit": investment.repaid_amount - investment.amount,
            "xirr": rate.get(investment.currency),
        },
    )


def _doughnut(rows: list[dict], label) -> dict:
    """Chart.js doughnut data: one slice per row (labels carry the currency when several;
    ``currencies`` gives each slice's currency for the tooltips)."""
    several = len({r["currency"] for r in rows}) > 1
    return {
        "labels": [f"{label(r)} ({r['currency']})" if several else label(r) for r in rows],
        "currencies": [r["currency"] for r in rows],
        "datasets": [{"label": "Active amount", "data": [float(r["total"]) for r in rows]}],
    }


@marketplace_page
@require_GET
def marketplace(request: HttpRequest) -> HttpResponse:
    """Open listings, filtered and sorted from a GET form."""
    form = MarketplaceFilterForm(request.GET or None)
    if form.is_bound and form.is_valid():
        listings = listing_search(user=request.user, filters=form.filters(),
                                  sort=form.sort_key())
    elif form.is_bound:
        listings = listing_search(user=request.user).none()
    else:
        listings = listing_search(user=request.user)
    page = Paginator(listings, LISTINGS_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    template = "marketplace/_listing_rows.html" if is_htmx(request) else "marketplace/list.html"
    return render(request, template, {
        "form": form, "page": page, "query": query.urlencode(),
        "chips": form.active_filters(request.GET),
    })


@marketplace_page
@require_GET
def listing_detail(request: HttpRequest, listing_id) -> HttpResponse:
    """A listing: terms, risk factors, verification checks, the calculator and invest form.

    ``?amount=`` fills the calculator (server-side quote); htmx requests get only the quote.
    """
    listing = _listing_or_404(request, listing_id)
    calculator = AmountForm(
        request.GET if "amount" in request.GET else None, currency=listing.currency
    )
    quote = None
    if calculator.is_bound and calculator.is_valid():
        quote = listing_quote(listing=listing, amount=calculator.cleaned_data["amount"])
    context = {
        "listing": listing,
        "invoice": listing.invoice,
        "checks": listing_investor_checks(listing=listing),
        "calculator": calculator,
        "quote": quote,
        "invest_form": _invest_form(
            listing, initial={"amount": quote.principal} if quote else None
        ),
    }
    if is_htmx(request):
        return render(request, "marketplace/_quote.html", context)
    return render(request, "marketplace/listing_detail.html", context)


@marketplace_page
@role_required(Role.INVESTOR)
@require_POST
def listing_invest(request: HttpRequest, listing_id) -> HttpResponse:
    """Step 1 (no ``confirm``): show the quote to confirm, with a fresh idempotency key.
    Step 2 (``confirm=1``): fund the listing once per key."""
    listing = _listing_or_404(request, listing_id)
    if request.POST.get("confirm"):
        form = InvestConfirmForm(request.POST, currency=listing.currency)
        # On failure the listing page shows the amount again with the errors next to it.
        retry = _invest_form(listing, {"amount": request.POST.get("amount", "")})
        retry.is_valid()
        if not form.is_valid():
            retry.add_error(None, "Please enter the amount and confirm again.")
            return _detail_with_errors(request, listing, retry)
        try:
            investment, created = investment_create(
                investor=request.user,
                listing=listing,
                amount=form.cleaned_data["amount"],
                idempotency_key=form.cleaned_data["idempotency_key"],
            )
        except ApplicationError as exc:
            retry.add_application_error(exc)
            return _detail_with_errors(request, listing, retry)
        if created:
            messages.success(
                request,
                f"You funded {Money(investment.amount, investment.currency)} of invoice "
                f"{listing.invoice.invoice_number}. Expected back "
                f"{Money(investment.expected_return, investment.currency)} "
                f"on {listing.due_date:%d %b %Y}.",
            )
        else:
            messages.info(request, "This investment was already recorded.")
        return redirect("investor-dashboard")

    form = _invest_form(listing, request.POST)
    if not form.is_valid():
        return _detail_with_errors(request, listing, form)
    amount = form.cleaned_data["amount"]
    return render(
        request,
        "marketplace/invest_confirm.html",
        {
            "listing": listing,
            "invoice": listing.invoice,
            "quote": listing_quote(listing=listing, amount=amount),
            "amount": amount,
            "idempotency_key": uuid.uuid4().hex,
        },
    )


def _invest_form(listing: Listing, data=None, **kwargs) -> AmountForm:
    return AmountForm(
        data, currency=listing.currency, label="Amount to invest", auto_id="invest_%s", **kwargs
    )


def _detail_with_errors(request: HttpRequest, listing: Listing, invest_form) -> HttpResponse:
    context = {
        "listing": listing,
        "invoice": listing.invoice,
        "checks": listing_investor_checks(listing=listing),
        "calculator": AmountForm(currency=listing.currency),
        "quote": None,
        "invest_form": invest_form,
    }
    return render(request, "marketplace/listing_detail.html", context, status=400)

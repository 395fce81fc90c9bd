"""Investor pages of passive investing: the pools (figures, NAV chart, allocation, deposit and
redeem with a confirmation step, the calculator, your position and queued redemptions) and the
auto-invest settings with their log. They call the same services and selectors as the API.

Money forms take two steps: the first POST renders a confirmation with a fresh idempotency key
in a hidden field; the second (``confirm=1``) calls the service with it, so a double-click or a
resent form acts once.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from marketplace.selectors import marketplace_access_check
from marketplace.views import marketplace_page
from paymint.core.errors import ApplicationError, NotFound
from paymint.core.money import Money

from .forms import (
    AutoInvestRuleForm,
    CalculatorForm,
    PoolAmountForm,
    PoolDepositConfirmForm,
    PoolRedeemConfirmForm,
    PoolRedeemForm,
)
from .nav import amount_for_shares
from .selectors import (
    auto_invest_log_for_investor,
    pool_get,
    pool_list,
    pool_nav_history,
    pool_position,
    pool_quote,
    pool_stats,
    redemption_get_for_investor,
)
from .services import auto_invest_rule_set, pool_deposit, redemption_cancel, redemption_request

LOG_PER_PAGE = 25
CENT = Decimal("0.01")


def _pool_or_404(request: HttpRequest, pool_id):
    """The pool, for a user the marketplace rule lets in (403 page otherwise); 404 for an
    unknown pool."""
    marketplace_access_check(user=request.user)
    try:
        return pool_get(pool_id=pool_id)
    except NotFound:
        raise Http404 from None


def _nav_chart(pool) -> dict:
    rows = list(pool_nav_history(pool=pool))[-90:]
    return {
        "labels": [r.date.isoformat() for r in rows],
        "datasets": [{"label": "NAV per share", "data": [float(r.nav_per_share) for r in rows]}],
    }


def _allocation_charts(pool, stats: dict) -> dict:
    """Chart.js data of the page's allocation charts (the same figures are listed beside
    them): outstanding principal by grade and by days-past-due bucket, and utilisation
    (invested vs uninvested cash). Money in the pool's currency."""
    nav = stats["nav"]
    by_grade = stats["outstanding_by_grade"]
    by_bucket = stats["outstanding_by_bucket"]
    return {
        "grade_chart": {
            "labels": [f"Grade {g}" for g in by_grade],
            "datasets": [{"label": pool.currency, "data": [float(v) for v in by_grade.values()]}],
            "currencies": [pool.currency] * len(by_grade),
        },
        "bucket_chart": {
            "labels": list(by_bucket),
            "datasets": [{"label": pool.currency, "data": [float(v) for v in by_bucket.values()]}],
        },
        "utilisation_chart": {
            "labels": ["Invested", "Uninvested cash"],
            "datasets": [{"label": pool.currency, "data": [float(nav.principal), float(nav.cash)]}],
            "currencies": [pool.currency, pool.currency],
        },
    }


def _pool_context(request, pool, **forms) -> dict:
    stats = pool_stats(pool=pool)
    calculator = CalculatorForm(request.GET or None)
    quote = None
    if calculator.is_bound and calculator.is_valid():
        quote = pool_quote(pool=pool, **calculator.cleaned_data)
    return {
        "pool": pool,
        "stats": stats,
        "nav": stats["nav"],
        "position": pool_position(pool=pool, investor=request.user, nav=stats["nav"]),
        "history": list(pool_nav_history(pool=pool))[-30:],
        "nav_chart": _nav_chart(pool),
        **_allocation_charts(pool, stats),
        "calculator": calculator,
        "quote": quote,
        "deposit_form": forms.get("deposit_form") or PoolAmountForm(auto_id="deposit_%s"),
        "redeem_form": forms.get("redeem_form") or PoolRedeemForm(auto_id="redeem_%s"),
    }


@marketplace_page
@require_GET
def pools(request: HttpRequest) -> HttpResponse:
    """The pools, one per currency."""
    marketplace_access_check(user=request.user)
    return render(request, "pools/list.html", {"pools": pool_list()})


@marketplace_page
@require_GET
def pool_page(request: HttpRequest, pool_id) -> HttpResponse:
    """A pool: NAV and its terms, APY with its formula, utilisation and allocation, the NAV
    chart, your position and queued redemptions, deposit and redeem forms, the calculator."""
    pool = _pool_or_404(request, pool_id)
    return render(request, "pools/pool.html", _pool_context(request, pool))


def _with_errors(request, pool, **forms) -> HttpResponse:
    return render(request, "pools/pool.html", _pool_context(request, pool, **forms), status=400)


@marketplace_page
@require_POST
def pool_deposit_page(request: HttpRequest, pool_id) -> HttpResponse:
    """Step 1: the amount, confirmed on a page with the NAV it buys at. Step 2: deposit once
    per key."""
    pool = _pool_or_404(request, pool_id)
    if request.POST.get("confirm"):
        form = PoolDepositConfirmForm(request.POST, auto_id="deposit_%s")
        if not form.is_valid():
            return _with_errors(request, pool, deposit_form=form)
        try:
            made, created = pool_deposit(
                pool=pool,
                investor=request.user,
                amount=form.cleaned_data["amount"],
                idempotency_key=form.cleaned_data["idempotency_key"],
            )
        except ApplicationError as exc:
            form.add_application_error(exc)
            return _with_errors(request, pool, deposit_form=form)
        if created:
            messages.success(
                request,
                f"You bought {made.shares:f} shares for {Money(made.amount, pool.currency)}.",
            )
        else:
            messages.info(request, "This deposit was already recorded.")
        return redirect("pool", pool_id=pool.public_id)
    form = PoolAmountForm(request.POST, auto_id="deposit_%s")
    if not form.is_valid():
        return _with_errors(request, pool, deposit_form=form)
    return render(
        request,
        "pools/confirm.html",
        {
            "pool": pool,
            "action": "deposit",
            "amount": form.cleaned_data["amount"],
            "nav": pool_stats(pool=pool)["nav"],
            "idempotency_key": uuid.uuid4().hex,
        },
    )


@marketplace_page
@require_POST
def pool_redeem_page(request: HttpRequest, pool_id) -> HttpResponse:
    """Step 1: the shares, confirmed with today's estimate and the queue. Step 2: queue the
    redemption once per key."""
    pool = _pool_or_404(request, pool_id)
    if request.POST.get("confirm"):
        form = PoolRedeemConfirmForm(request.POST, auto_id="redeem_%s")
        if not form.is_valid():
            return _with_errors(request, pool, redeem_form=form)
        try:
            _, created = redemption_request(
                pool=pool,
                investor=request.user,
                shares=form.cleaned_data["shares"],
                idempotency_key=form.cleaned_data["idempotency_key"],
            )
        except ApplicationError as exc:
            form.add_application_error(exc)
            return _with_errors(request, pool, redeem_form=form)
        messages.success(
            request,
            "Your redemption is queued; it is paid first in, first "
            "out, at the NAV of the day it is paid."
            if created
            else "This redemption was already recorded.",
        )
        return redirect("pool", pool_id=pool.public_id)
    form = PoolRedeemForm(request.POST, auto_id="redeem_%s")
    if not form.is_valid():
        return _with_errors(request, pool, redeem_form=form)
    stats = pool_stats(pool=pool)
    return render(
        request,
        "pools/confirm.html",
        {
            "pool": pool,
            "action": "redeem",
            "shares": form.cleaned_data["shares"],
            "nav": stats["nav"],
            "queue": stats["redemption_queue"],
            "estimate": amount_for_shares(
                form.cleaned_data["shares"],
                net_assets=stats["nav"].net_assets,
                shares_outstanding=pool.shares_outstanding,
                currency=pool.currency,
            ),
            "idempotency_key": uuid.uuid4().hex,
        },
    )


@marketplace_page
@require_POST
def pool_redemption_cancel_page(request: HttpRequest, pool_id, redemption_id) -> HttpResponse:
    """Cancel your own queued redemption."""
    pool = _pool_or_404(request, pool_id)
    try:
        found = redemption_get_for_investor(
            investor=request.user, pool=pool, redemption_id=redemption_id
        )
    except NotFound:
        raise Http404 from None
    try:
        redemption_cancel(request=found, investor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Your redemption request is cancelled.")
    return redirect("pool", pool_id=pool.public_id)


@marketplace_page
@require_http_methods(["GET", "POST"])
def auto_invest_page(request: HttpRequest) -> HttpResponse:
    """Your auto-invest rule (the same service as ``PUT api/v1/auto-invest``) and its log."""
    marketplace_access_check(user=request.user)
    rule = getattr(request.user, "auto_invest_rule", None)
    status = 200
    if request.method == "POST":
        form = AutoInvestRuleForm(request.POST)
        if form.is_valid():
            try:
                auto_invest_rule_set(investor=request.user, **form.rule())
            except ApplicationError as exc:
                form.add_application_error(exc)
            else:
                messages.success(request, "Your auto-invest rule is saved.")
                return redirect("auto-invest")
        status = 400
    elif rule is not None:
        form = AutoInvestRuleForm(
            initial={
                "currencies": rule.currencies,
                "grades": rule.grades,
                "min_tenor_days": rule.min_tenor_days,
                "max_tenor_days": rule.max_tenor_days,
                # Shown with the form's two decimals (stored with the ledger's seven).
                "min_discount_rate": (rule.min_discount_rate * 100).quantize(CENT),
                "amount_per_invoice": rule.amount_per_invoice.quantize(CENT),
                "max_per_debtor": rule.max_per_debtor.quantize(CENT),
                "cash_to_keep": rule.cash_to_keep.quantize(CENT),
                "paused": rule.paused,
            }
        )
    else:
        form = AutoInvestRuleForm()
    page = Paginator(auto_invest_log_for_investor(investor=request.user), LOG_PER_PAGE).get_page(
        request.GET.get("page")
    )
    return render(
        request, "pools/auto_invest.html", {"form": form, "rule": rule, "page": page}, status=status
    )

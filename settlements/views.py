"""The wallet pages: balances, deposit instructions and ledger entries, the CSV statement, and
withdrawals (ask for an amount, confirm, request the payout)."""

from __future__ import annotations

import csv
import uuid

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from accounts.enums import Role
from accounts.error_codes import AccountsError
from accounts.two_factor import totp_device_for_user
from paymint.core import clock
from paymint.core.errors import ApplicationError
from paymint.core.money import Money
from paymint.core.web import role_required

from .forms import WithdrawalForm
from .ledger import wallet_balances, wallet_entries, withdrawal_list_for_user
from .selectors import wallet_statement_rows
from .services import withdrawal_needs_otp, withdrawal_request

ENTRIES_PER_PAGE = 50
RECENT_WITHDRAWALS = 10


@role_required(Role.SELLER, Role.INVESTOR)
@require_GET
def wallet(request: HttpRequest) -> HttpResponse:
    """Cash balances per currency, recent withdrawals and every movement on the user's cash
    accounts."""
    page = Paginator(wallet_entries(user=request.user), ENTRIES_PER_PAGE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "settlements/wallet.html",
        {
            "balances": wallet_balances(user=request.user),
            "withdrawals": withdrawal_list_for_user(user=request.user)[:RECENT_WITHDRAWALS],
            "page": page,
        },
    )


class _Echo:
    """A file-like object whose ``write`` returns the line (for streaming csv.writer)."""

    def write(self, value: str) -> str:
        return value


def statement_csv_response(user) -> StreamingHttpResponse:
    """The user's full statement as a streamed CSV download
    (:func:`settlements.selectors.wallet_statement_rows`): the wallet page's link and
    ``GET /api/v1/wallet/statement.csv``."""
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in wallet_statement_rows(user=user)),
        content_type="text/csv; charset=utf-8",
    )
    filename = f"paymint-statement-{clock.today():%Y-%m-%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


@role_required(Role.SELLER, Role.INVESTOR)
@require_GET
def wallet_statement_csv(request: HttpRequest) -> StreamingHttpResponse:
    """The full statement, oldest first, with the running balance per currency."""
    return statement_csv_response(request.user)


# --- Withdrawals ------------------------------------------------------------------------------
# Step 1 (POST without ``confirm``) validates the form and renders a confirmation page with a
# fresh idempotency key in a hidden field; step 2 (``confirm=1``) requests the withdrawal with
# that key, so a double click or a resent form holds the money once. Large withdrawals
# (:func:`settlements.services.withdrawal_needs_otp`) ask for a code from the authenticator app
# on the confirmation page; a wrong code shows that page again.

#: Service error codes answered by showing the confirmation page again (with the message).
OTP_ERRORS = frozenset({AccountsError.OTP_REQUIRED, AccountsError.INVALID_OTP})


@role_required(Role.SELLER, Role.INVESTOR)
@require_http_methods(["GET", "POST"])
def withdrawal_new(request: HttpRequest) -> HttpResponse:
    """The withdrawal form (GET), its confirmation (POST) and the request (POST confirm=1)."""
    balances = wallet_balances(user=request.user)
    form = WithdrawalForm(request.POST or None, currencies=[b["currency"] for b in balances])
    context = {"form": form, "balances": balances}
    if request.method == "GET":
        return render(request, "settlements/withdraw.html", context)
    if not form.is_valid():
        return render(request, "settlements/withdraw.html", context, status=400)
    amount, currency = form.cleaned_data["amount"], form.cleaned_data["currency"]
    available = next((b["balance"] for b in balances if b["currency"] == currency), None)
    confirm_context = {
        "amount": amount,
        "currency": currency,
        "available": available,
        "needs_otp": withdrawal_needs_otp(amount=amount, currency=currency),
        "has_device": totp_device_for_user(user=request.user) is not None,
    }
    if not form.cleaned_data["confirm"]:
        return render(
            request,
            "settlements/withdraw_confirm.html",
            {**confirm_context, "idempotency_key": uuid.uuid4().hex},
        )
    try:
        withdrawal, created = withdrawal_request(
            user=request.user,
            amount=amount,
            currency=currency,
            idempotency_key=form.cleaned_data["idempotency_key"],
            otp_code=form.cleaned_data["otp_code"],
        )
    except ApplicationError as exc:
        if exc.code in OTP_ERRORS:
            return render(
                request,
                "settlements/withdraw_confirm.html",
                {**confirm_context, "idempotency_key": form.cleaned_data["idempotency_key"],
                 "otp_error": exc.message},
                status=400,
            )
        form.add_application_error(exc)
        return render(request, "settlements/withdraw.html", context, status=400)
    if created:
        messages.success(
            request,
            f"Withdrawal {withdrawal.reference} of {Money(withdrawal.amount, currency)} "
            "requested. We hold the money and pay it to your bank account.",
        )
    else:
        messages.info(request, "This withdrawal was already requested.")
    return redirect("wallet")

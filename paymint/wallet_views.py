"""The wallet's withdrawal pages: ask for an amount, confirm, then request the payout.

Kept outside ``settlements/`` (whose views module belongs to the settlements work); it only
calls :func:`settlements.services.withdrawal_request` and reads wallet selectors.

Step 1 (POST without ``confirm``) validates the form and renders a confirmation page with a
fresh idempotency key in a hidden field; step 2 (``confirm=1``) requests the withdrawal with
that key, so a double click or a resent form holds the money once. Large withdrawals
(:func:`settlements.services.withdrawal_needs_otp`) ask for a code from the authenticator app
on the confirmation page; a wrong code shows that page again.
"""

from __future__ import annotations

import uuid

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accounts.enums import Role
from accounts.error_codes import AccountsError
from accounts.forms import ServiceErrorFormMixin
from accounts.two_factor import totp_device_for_user
from accounts.views import role_required
from paymint.core.errors import ApplicationError
from paymint.core.money import MINOR_UNITS, Money, quantize_money
from settlements.ledger import wallet_balances
from settlements.services import withdrawal_needs_otp, withdrawal_request

#: Service error codes answered by showing the confirmation page again (with the message).
_OTP_ERRORS = frozenset({AccountsError.OTP_REQUIRED, AccountsError.INVALID_OTP})


class WithdrawalForm(ServiceErrorFormMixin, forms.Form):
    amount = forms.DecimalField(
        label="Amount to withdraw",
        max_digits=18,
        decimal_places=7,
        widget=forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal", "min": "0"}),
    )
    currency = forms.ChoiceField(label="Currency")
    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)
    idempotency_key = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)
    otp_code = forms.CharField(required=False, max_length=16)

    def __init__(self, *args, currencies: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        choices = currencies or list(settings.PAYMINT["CURRENCIES"])
        self.fields["currency"].choices = [(c, c) for c in choices]
        if len(choices) == 1:
            self.fields["currency"].initial = choices[0]

    def clean(self):
        data = super().clean()
        amount, currency = data.get("amount"), data.get("currency")
        if amount is not None and amount <= 0:
            self.add_error("amount", "Enter a positive amount.")
        elif (
            amount is not None
            and currency in MINOR_UNITS
            and quantize_money(amount, currency) != amount
        ):
            self.add_error("amount", f"Too many decimals for {currency}.")
        return data


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
        if exc.code in _OTP_ERRORS:
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

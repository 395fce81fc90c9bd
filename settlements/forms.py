"""Forms of the wallet pages (shape only; the rules are the services')."""

from __future__ import annotations

from django import forms
from django.conf import settings

from paymint.core.money import MINOR_UNITS, quantize_money
from paymint.core.web import ServiceErrorFormMixin


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

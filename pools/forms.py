"""Dashboard forms of passive investing: the pool's deposit, redemption and calculator forms
(two steps for money: the amount, then a confirmation carrying an idempotency key) and the
auto-invest rule."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.conf import settings

from paymint.core.web import ServiceErrorFormMixin


class PoolAmountForm(ServiceErrorFormMixin, forms.Form):
    amount = forms.DecimalField(
        label="Amount", min_value=Decimal("0.01"), max_digits=18, decimal_places=2
    )


class PoolRedeemForm(ServiceErrorFormMixin, forms.Form):
    shares = forms.DecimalField(
        label="Shares to redeem",
        min_value=Decimal("0.0000000001"),
        max_digits=30,
        decimal_places=10,
    )


class ConfirmMixin(forms.Form):
    confirm = forms.CharField(widget=forms.HiddenInput)
    idempotency_key = forms.CharField(max_length=64, widget=forms.HiddenInput)


class PoolDepositConfirmForm(ConfirmMixin, PoolAmountForm):
    pass


class PoolRedeemConfirmForm(ConfirmMixin, PoolRedeemForm):
    pass


class CalculatorForm(forms.Form):
    amount = forms.DecimalField(
        label="Amount", min_value=Decimal("0.01"), max_digits=18, decimal_places=2
    )
    days = forms.IntegerField(label="Horizon (days)", min_value=1, max_value=3650)


class AutoInvestRuleForm(ServiceErrorFormMixin, forms.Form):
    currencies = forms.MultipleChoiceField(label="Currencies", widget=forms.CheckboxSelectMultiple)
    grades = forms.MultipleChoiceField(label="Risk grades", widget=forms.CheckboxSelectMultiple)
    min_tenor_days = forms.IntegerField(
        label="Tenor from (days)", min_value=0, max_value=3650, initial=0
    )
    max_tenor_days = forms.IntegerField(
        label="Tenor to (days)", min_value=0, max_value=3650, initial=180
    )
    min_discount_rate = forms.DecimalField(
        label="Minimum discount rate (% a year)",
        min_value=0,
        max_value=100,
        max_digits=6,
        decimal_places=2,
        initial=0,
    )
    amount_per_invoice = forms.DecimalField(
        label="Amount per invoice", min_value=0, max_digits=18, decimal_places=2
    )
    max_per_debtor = forms.DecimalField(
        label="Maximum per debtor", min_value=0, max_digits=18, decimal_places=2
    )
    cash_to_keep = forms.DecimalField(
        label="Cash to keep", min_value=0, max_digits=18, decimal_places=2, initial=0
    )
    paused = forms.BooleanField(label="Paused", required=False)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["currencies"].choices = [(c, c) for c in settings.PAYMINT["CURRENCIES"]]
        self.fields["grades"].choices = [(g, g) for g in settings.PAYMINT["GRADE_PRICING"]]

    def rule(self) -> dict:
        """The rule for :func:`pools.services.auto_invest_rule_set` (rate as a fraction)."""
        data = dict(self.cleaned_data)
        data["min_discount_rate"] = data["min_discount_rate"] / 100
        return data

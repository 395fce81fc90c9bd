"""Dashboard forms for the marketplace: filters, the investment calculator and the two-step
invest form (amount, then confirmation with an idempotency key)."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.http import QueryDict

from invoices.enums import DebtorIndustry, RiskGrade
from paymint.core.money import MINOR_UNITS, quantize_money
from paymint.core.web import ServiceErrorFormMixin

SORT_CHOICES = [
    ("yield", "Highest yield"),
    ("tenor", "Shortest tenor"),
    ("-tenor", "Longest tenor"),
    ("amount", "Smallest amount left"),
    ("-amount", "Largest amount left"),
    ("newest", "Newest"),
]


class MarketplaceFilterForm(forms.Form):
    grade = forms.MultipleChoiceField(
        label="Risk grade",
        required=False,
        choices=[(g.value, g.value) for g in RiskGrade if g != RiskGrade.E],
        widget=forms.CheckboxSelectMultiple,
    )
    currency = forms.ChoiceField(label="Currency", required=False)
    # At most 100 years ahead: beyond it today + tenor overflows the date type.
    tenor_min = forms.IntegerField(label="Tenor from (days)", required=False, min_value=0,
                                   max_value=36_500)
    tenor_max = forms.IntegerField(label="Tenor to (days)", required=False, min_value=0,
                                   max_value=36_500)
    amount_min = forms.DecimalField(
        label="Amount left from", required=False, min_value=0, max_digits=18, decimal_places=2
    )
    amount_max = forms.DecimalField(
        label="Amount left to", required=False, min_value=0, max_digits=18, decimal_places=2
    )
    yield_min = forms.DecimalField(
        label="Yield from (% a year)", required=False, min_value=0, max_digits=6,
        decimal_places=2,
    )
    industry = forms.ChoiceField(
        label="Debtor industry", required=False,
        choices=[("", "Any"), *DebtorIndustry.choices],
    )
    sort = forms.ChoiceField(label="Sort by", required=False, choices=SORT_CHOICES)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["currency"].choices = [("", "Any")] + [
            (code, code) for code in settings.PAYMINT["CURRENCIES"]
        ]

    def clean(self) -> dict:
        data = super().clean()
        for low, high in (("tenor_min", "tenor_max"), ("amount_min", "amount_max")):
            if data.get(low) is not None and data.get(high) is not None and data[low] > data[high]:
                self.add_error(high, "Must not be below the lower bound.")
        return data

    def active_filters(self, query: QueryDict) -> list[dict]:
        """The valid filters in ``query`` (the page's GET parameters) as removable chips, in
        form order: ``[{"label": "Grade A", "amount": None, "currency": "", "remove":
        "grade=B&sort=yield"}, ...]``; amount filters carry ``amount`` (a Decimal in
        ``currency``, the currency filter or "" for any) for the page to format; ``remove`` is
        the query string without that one filter (and without ``page``).
        The sort order is not a filter; an invalid form has no chips (its errors show)."""
        if not self.is_bound or not self.is_valid():
            return []
        data = self.cleaned_data
        currency = data.get("currency") or ""
        chips = []

        def chip(label: str, name: str, value: str | None = None, amount=None) -> None:
            rest = query.copy()
            rest.pop("page", None)
            if value is None:
                rest.pop(name, None)
            else:
                rest.setlist(name, [v for v in rest.getlist(name) if v != value])
            chips.append({"label": label, "amount": amount, "currency": currency,
                          "remove": rest.urlencode()})

        for grade in data.get("grade") or []:
            chip(f"Grade {grade}", "grade", grade)
        if currency:
            chip(f"Currency {currency}", "currency")
        if data.get("tenor_min") is not None:
            chip(f"Tenor from {data['tenor_min']} days", "tenor_min")
        if data.get("tenor_max") is not None:
            chip(f"Tenor up to {data['tenor_max']} days", "tenor_max")
        if data.get("amount_min") is not None:
            chip("Amount left from", "amount_min", amount=data["amount_min"])
        if data.get("amount_max") is not None:
            chip("Amount left up to", "amount_max", amount=data["amount_max"])
        if data.get("yield_min") is not None:
            chip(f"Yield from {data['yield_min']} % a year", "yield_min")
        if data.get("industry"):
            chip(f"Industry: {dict(DebtorIndustry.choices)[data['industry']]}", "industry")
        return chips

    def filters(self) -> dict:
        """The page's choices as :class:`~marketplace.filters.ListingFilter` parameters (the
        API's names; the yield is entered in percent here, a fraction there)."""
        data = self.cleaned_data
        filters = {
            "grade": data.get("grade") or [],
            "currency": data.get("currency") or "",
            "min_tenor": data.get("tenor_min"),
            "max_tenor": data.get("tenor_max"),
            "min_amount": data.get("amount_min"),
            "max_amount": data.get("amount_max"),
            "min_yield": (data["yield_min"] / 100) if data.get("yield_min") is not None
            else None,
            "industry": data.get("industry") or "",
        }
        return {name: value for name, value in filters.items() if value not in (None, "", [])}

    def sort_key(self) -> str:
        return self.cleaned_data.get("sort") or "yield"


class AmountForm(ServiceErrorFormMixin, forms.Form):
    """An amount in the listing's currency (the calculator and the first invest step)."""

    amount = forms.DecimalField(
        label="Amount",
        min_value=0,
        max_digits=18,
        decimal_places=7,
        widget=forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal", "min": "0"}),
    )

    def __init__(self, *args, currency: str = "", label: str = "Amount", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.currency = currency
        self.fields["amount"].label = f"{label} ({currency})" if currency else label
        if currency:
            places = MINOR_UNITS.get(currency, 2)
            self.fields["amount"].widget.attrs["step"] = "1" if places == 0 else f"{10**-places}"

    def clean_amount(self):
        amount = self.cleaned_data["amount"]
        if amount <= 0:
            raise forms.ValidationError("Enter a positive amount.")
        if self.currency in MINOR_UNITS and quantize_money(amount, self.currency) != amount:
            raise forms.ValidationError(f"Too many decimals for {self.currency}.")
        return amount


class InvestConfirmForm(AmountForm):
    """The second invest step: the amount and the key minted on the confirmation page."""

    confirm = forms.BooleanField(widget=forms.HiddenInput)
    idempotency_key = forms.CharField(max_length=64, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["amount"].widget = forms.HiddenInput()

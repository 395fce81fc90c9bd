"""The marketplace's listing filters: one :class:`ListingFilter` (django-filter) behind
:func:`marketplace.selectors.listing_search`, which the API (``GET /api/v1/marketplace``, its
query parameters as they are) and the marketplace page (its form's fields mapped to these
names) both use.

Parameters: ``grade`` (A-E, repeatable), ``currency``, ``min_tenor``/``max_tenor`` (days from
today's business date to the due date), ``min_amount``/``max_amount`` (the amount still to be
funded), ``min_yield`` (annual discount rate, a fraction), ``industry`` (NACE section).
"""

from __future__ import annotations

import datetime as dt

import django_filters
from django import forms

from invoices.enums import DebtorIndustry, RiskGrade
from paymint.core import clock

from .models import Listing

#: Largest tenor filter, in days (100 years): beyond it ``today + tenor`` overflows ``date``.
MAX_TENOR_FILTER_DAYS = 36_500


class DaysFilter(django_filters.NumberFilter):
    """A whole number of days from today's business date to the listing's due date."""

    field_class = forms.IntegerField

    def __init__(self, *, lookup_expr: str, **kwargs) -> None:
        super().__init__(
            field_name="due_date",
            lookup_expr=lookup_expr,
            min_value=0,
            max_value=MAX_TENOR_FILTER_DAYS,
            **kwargs,
        )

    def filter(self, qs, value):
        if value in (None, ""):
            return qs
        return super().filter(qs, clock.today() + dt.timedelta(days=value))


class ListingFilter(django_filters.FilterSet):
    """Filters of open listings. The queryset must carry ``remaining`` (the amount still to be
    funded), as :func:`marketplace.selectors.listing_search` annotates it."""

    # distinct=False: the invoice is a to-one join (one row per listing), so the DISTINCT that
    # django-filter adds by default only made PostgreSQL sort every matching row (issue #19).
    grade = django_filters.MultipleChoiceFilter(
        field_name="invoice__risk_grade", choices=RiskGrade.choices, distinct=False
    )
    currency = django_filters.CharFilter(
        field_name="currency", method="filter_currency", max_length=3
    )
    min_tenor = DaysFilter(lookup_expr="gte")
    max_tenor = DaysFilter(lookup_expr="lte")
    min_amount = django_filters.NumberFilter(
        field_name="remaining", lookup_expr="gte", max_digits=20, decimal_places=2
    )
    max_amount = django_filters.NumberFilter(
        field_name="remaining", lookup_expr="lte", max_digits=20, decimal_places=2
    )
    min_yield = django_filters.NumberFilter(
        field_name="discount_rate", lookup_expr="gte", max_digits=9, decimal_places=6, min_value=0
    )
    industry = django_filters.ChoiceFilter(
        field_name="invoice__debtor_industry", choices=DebtorIndustry.choices
    )

    class Meta:
        model = Listing
        fields: list[str] = []

    def get_form_class(self):
        """The form class, built once per process: django-filter builds one (a form field per
        filter) for every FilterSet instance, the same every time."""
        cls = type(self)
        if "built_form_class" not in cls.__dict__:
            cls.built_form_class = super().get_form_class()
        return cls.built_form_class

    def filter_currency(self, queryset, name, value):
        return queryset.filter(currency=value.upper()) if value else queryset

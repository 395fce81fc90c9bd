"""Filters of the wallet's ledger entries (django-filter): ``kind`` (entry kind, repeatable),
``date_from`` / ``date_to`` (effective date, inclusive) and ``currency``. Used by
:func:`settlements.selectors.wallet_entry_search` (``GET /api/v1/wallet/entries``)."""

from __future__ import annotations

import django_filters

from .enums import EntryKind
from .models import Posting


class WalletEntryFilter(django_filters.FilterSet):
    kind = django_filters.MultipleChoiceFilter(field_name="entry__kind", choices=EntryKind.choices)
    date_from = django_filters.DateFilter(field_name="entry__effective_date", lookup_expr="gte")
    date_to = django_filters.DateFilter(field_name="entry__effective_date", lookup_expr="lte")
    currency = django_filters.CharFilter(field_name="currency", lookup_expr="iexact")

    class Meta:
        model = Posting
        fields: list[str] = []

"""Shared pieces of the back office: read-only admins and inlines, the reason form."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connection
from django.utils.functional import cached_property

#: Above this many rows (the planner's estimate), an unfiltered admin list shows the estimate
#: instead of counting every row.
ESTIMATE_COUNT_ABOVE = 100_000


class EstimatedCountPaginator(Paginator):
    """The admin's paginator for large tables: an unfiltered list of a table PostgreSQL
    estimates at more than :data:`ESTIMATE_COUNT_ABOVE` rows takes its count from the
    planner's statistics (``pg_class.reltuples``, kept by autovacuum/ANALYZE) instead of a
    ``COUNT(*)`` over the whole table (seconds at millions of rows); a filtered or searched
    list, or a small table, is counted exactly."""

    @cached_property
    def count(self) -> int:
        query = getattr(self.object_list, "query", None)
        if (query is not None and connection.vendor == "postgresql"
                and not query.where and not query.distinct):
            with connection.cursor() as cursor:
                cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                               [query.model._meta.db_table])
                row = cursor.fetchone()
            if row is not None and row[0] > ESTIMATE_COUNT_ABOVE:
                return int(row[0])
        return super().count


class FixedChoicesFilter(admin.SimpleListFilter):
    """A list filter on ``field`` offering fixed ``choices()`` instead of the column's distinct
    values: Django's ``AllValuesFieldListFilter`` runs ``SELECT DISTINCT field`` over the whole
    table on every list view (a full scan - no PostgreSQL index serves a DISTINCT - about one
    second at 1,000,000 invoices). Subclasses set ``title``, ``parameter_name`` (the field) and
    ``choices``; a value outside the choices still filters (a link from elsewhere)."""

    def choices_list(self) -> list[tuple[str, str]]:
        raise NotImplementedError

    def lookups(self, request, model_admin):
        return self.choices_list()

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        return queryset.filter(**{self.parameter_name: self.value()})


class CurrencyFilter(FixedChoicesFilter):
    """``currency`` among the currencies PayMint holds (``PAYMINT["CURRENCIES"]``), not the
    table's distinct values."""

    title = "currency"
    parameter_name = "currency"

    def choices_list(self) -> list[tuple[str, str]]:
        return [(code, code) for code in settings.PAYMINT["CURRENCIES"]]


class LargeTableAdmin(admin.ModelAdmin):
    """A list that grows without bound (invoices, listings, investments, journal entries):
    no second ``COUNT(*)`` of the whole table for "N total" (``show_full_result_count``), the
    page count from :class:`EstimatedCountPaginator`; subclasses name the foreign keys their
    ``list_display`` shows in ``list_select_related`` (one join instead of a query per row)."""

    show_full_result_count = False
    paginator = EstimatedCountPaginator


class ReadOnlyAdmin(LargeTableAdmin):
    """Financial records: viewable, never added, changed or deleted in the admin. They grow
    without bound: lists as :class:`LargeTableAdmin`."""

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return request.method in ("GET", "HEAD") and super().has_view_permission(request, obj)


class ReadOnlyInline(admin.TabularInline):
    """History rows shown under a record (status events, postings, notes): read-only."""

    extra = 0
    can_delete = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request, obj=None):
        return False


class ReasonForm(forms.Form):
    """The reason staff give for a decision (shown to the user or kept in the audit trail)."""

    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), label="Reason")

"""Shared pieces of the back office: read-only admins and inlines, the reason form."""

from __future__ import annotations

from django import forms
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

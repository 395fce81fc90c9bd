"""Shared pieces of the back office: read-only admins and inlines, the reason form."""

from __future__ import annotations

from django import forms
from django.contrib import admin


class ReadOnlyAdmin(admin.ModelAdmin):
    """Financial records: viewable, never added, changed or deleted in the admin."""

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

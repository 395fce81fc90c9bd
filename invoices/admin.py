"""Back office for invoices: everything read-only, history inline, nothing deletable."""

import datetime as dt

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import FileResponse
from django.shortcuts import get_object_or_404
from django.urls import path

from paymint.core import clock
from settlements.services import aging_bucket, days_past_due

from .enums import InvoiceStatus
from .models import Invoice, InvoiceStatusEvent

#: Statuses in which an unpaid invoice ages.
OUTSTANDING = (InvoiceStatus.DISBURSED, InvoiceStatus.OVERDUE, InvoiceStatus.DEFAULTED,
               InvoiceStatus.WRITTEN_OFF)


class AgingBucketFilter(admin.SimpleListFilter):
    """Days-past-due buckets of outstanding invoices (1-30, 31-60, 61-90, 90+)."""

    title = "days past due"
    parameter_name = "aging"
    BUCKETS = {"1-30": (1, 30), "31-60": (31, 60), "61-90": (61, 90), "90+": (91, None)}

    def lookups(self, request, model_admin):
        return [(key, key) for key in self.BUCKETS]

    def queryset(self, request, queryset):
        if self.value() not in self.BUCKETS:
            return queryset
        low, high = self.BUCKETS[self.value()]
        today = clock.today()
        queryset = queryset.filter(status__in=OUTSTANDING,
                                   due_date__lte=today - dt.timedelta(days=low))
        if high is not None:
            queryset = queryset.filter(due_date__gte=today - dt.timedelta(days=high))
        return queryset


class InvoiceStatusEventInline(admin.TabularInline):
    model = InvoiceStatusEvent
    extra = 0
    can_delete = False
    readonly_fields = ("created_at", "from_status", "to_status", "actor", "reason")
    fields = readonly_fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    list_display = ("invoice_number", "seller", "debtor_name", "face_value", "currency",
                    "due_date", "days_past_due", "risk_grade", "status", "created_at")
    list_filter = ("status", AgingBucketFilter, "risk_grade", "currency", "extraction_method")
    search_fields = ("invoice_number", "debtor_name", "issuer_name", "seller__email",
                     "document_sha256", "repayment_reference")
    inlines = [InvoiceStatusEventInline]
    list_select_related = ("seller",)

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def get_urls(self):
        view = self.admin_site.admin_view(self.document_view)
        return [path("<int:pk>/document/", view, name="invoices_invoice_document"),
                *super().get_urls()]

    def document_view(self, request, pk: int):
        """The stored document, inline, for staff only (admin_view checks staff access)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        invoice = get_object_or_404(Invoice, pk=pk)
        response = FileResponse(invoice.document.open("rb"),
                                content_type=invoice.document_content_type)
        response["Content-Disposition"] = f'inline; filename="{invoice.public_id}.'\
            f'{invoice.document_extension}"'
        response["X-Frame-Options"] = "SAMEORIGIN"
        response["Cache-Control"] = "no-store"
        return response

    @admin.display(description="days past due")
    def days_past_due(self, obj: Invoice) -> str:
        if obj.status not in OUTSTANDING or obj.due_date is None:
            return "-"
        dpd = days_past_due(obj.due_date, clock.today())
        return f"{dpd} ({aging_bucket(dpd)})"

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

"""Back office for invoices: everything read-only, history inline, nothing deletable."""

from django.contrib import admin

from .models import Invoice, InvoiceStatusEvent


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
                    "due_date", "risk_grade", "status", "created_at")
    list_filter = ("status", "risk_grade", "currency", "extraction_method")
    search_fields = ("invoice_number", "debtor_name", "issuer_name", "seller__email",
                     "document_sha256", "repayment_reference")
    inlines = [InvoiceStatusEventInline]
    list_select_related = ("seller",)

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

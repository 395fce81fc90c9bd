"""Back office for invoices: everything read-only, history inline, nothing deletable."""

import csv
import datetime as dt

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path

from compliance.public import AuditHistoryMixin, audit_record
from paymint.core import clock
from paymint.core.admin import (
    CurrencyFilter,
    FixedChoicesFilter,
    LargeTableAdmin,
    ReadOnlyInline,
    ReasonForm,
)
from paymint.core.errors import ApplicationError
from paymint.core.storage import private_file_redirect

from .enums import InvoiceStatus
from .extraction.schema import EXTRACTION_METHODS
from .models import Invoice, InvoiceStatusEvent
from .pricing import aging_bucket, days_past_due
from .selectors import invoice_preview_png, invoice_private_file
from .services import invoice_mark_disputed, invoice_ops_reject, invoice_ops_verify

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


class ExtractionMethodFilter(FixedChoicesFilter):
    """The extraction pipeline's methods (:data:`invoices.extraction.schema.EXTRACTION_METHODS`),
    not the table's distinct values."""

    title = "extraction method"
    parameter_name = "extraction_method"

    def choices_list(self):
        return list(EXTRACTION_METHODS)


class InvoiceStatusEventInline(ReadOnlyInline):
    model = InvoiceStatusEvent
    fields = ("created_at", "from_status", "to_status", "actor", "reason")


@admin.register(Invoice)
class InvoiceAdmin(AuditHistoryMixin, LargeTableAdmin):
    list_display = ("invoice_number", "seller", "debtor_name", "face_value", "currency",
                    "due_date", "days_past_due", "risk_grade", "status", "created_at")
    # Fixed choices everywhere (status and grade are the model's choices): no filter runs a
    # SELECT DISTINCT over the table (benchmarks/README.md, issue #19).
    list_filter = ("status", AgingBucketFilter, "risk_grade", CurrencyFilter,
                   ExtractionMethodFilter)
    search_fields = ("invoice_number", "debtor_name", "issuer_name", "seller__email",
                     "document_sha256", "repayment_reference")
    inlines = [InvoiceStatusEventInline]
    list_select_related = ("seller",)
    actions = ["verify", "reject", "mark_disputed", "export_csv"]

    def _run(self, request, queryset, service, verb, *, reason: str = "") -> None:
        done = 0
        action = f"invoice.{service.__name__.removeprefix('invoice_')}"  # invoice.ops_verify ...
        for invoice in queryset:
            from_status = invoice.status
            try:
                if service is invoice_ops_verify:
                    after = service(invoice=invoice, actor=request.user, note=reason)
                else:
                    after = service(invoice=invoice, actor=request.user, reason=reason)
                done += 1
            except ApplicationError as exc:
                audit_record(action=action, target=invoice, reason=reason, request=request,
                             changes={"outcome": "refused", "code": exc.code})
                self.message_user(request, f"{invoice}: {exc.message}", messages.ERROR)
            else:
                audit_record(action=action, target=invoice, reason=reason, request=request,
                             changes={"outcome": "ok", "status": [
                                 from_status, getattr(after, "status", from_status)]})
        if done:
            self.message_user(request, f"{verb} {done} invoice(s).", messages.SUCCESS)

    def _with_reason(self, request, queryset, action, service, verb):
        if "apply" in request.POST:
            form = ReasonForm(request.POST)
            if form.is_valid():
                self._run(request, queryset, service, verb, reason=form.cleaned_data["reason"])
                return None
        else:
            form = ReasonForm()
        return TemplateResponse(request, "admin/alert_decision.html", {
            **self.admin_site.each_context(request), "title": f"{verb} invoices",
            "alerts": queryset, "form": form, "action": action, "opts": self.model._meta,
        })

    @admin.action(description="Mark verified by operations", permissions=["change"])
    def verify(self, request, queryset):
        self._run(request, queryset, invoice_ops_verify, "Verified")

    @admin.action(description="Reject (reason required)", permissions=["change"])
    def reject(self, request, queryset):
        return self._with_reason(request, queryset, "reject", invoice_ops_reject, "Rejected")

    @admin.action(description="Mark disputed (reason required)", permissions=["change"])
    def mark_disputed(self, request, queryset):
        return self._with_reason(request, queryset, "mark_disputed", invoice_mark_disputed,
                                 "Marked disputed")

    @admin.action(description="Export selected to CSV")
    def export_csv(self, request, queryset):
        response = HttpResponse(content_type="text/csv")
        response["Content-Disposition"] = 'attachment; filename="invoices.csv"'
        audit_record(action="invoice.export_csv", request=request, kind="access",
                     changes={"invoices": [str(i) for i in queryset.values_list("public_id",
                                                                                flat=True)]})
        writer = csv.writer(response)
        writer.writerow(["id", "number", "seller", "debtor", "face_value", "currency",
                         "due_date", "grade", "score", "status"])
        for inv in queryset.select_related("seller"):
            writer.writerow([inv.public_id, inv.invoice_number, inv.seller.email,
                             inv.debtor_name, inv.face_value, inv.currency, inv.due_date,
                             inv.risk_grade, inv.risk_score, inv.status])
        return response

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def get_urls(self):
        view = self.admin_site.admin_view(self.document_view)
        preview = self.admin_site.admin_view(self.preview_view)
        return [path("<int:pk>/document/", view, name="invoices_invoice_document"),
                path("<int:pk>/preview.png", preview, name="invoices_invoice_preview"),
                *super().get_urls()]

    def preview_view(self, request, pk: int):
        """The document's first page as a PNG rendered by PayMint (never the uploaded bytes),
        shown inline in the back office (e.g. the double-financing comparison); staff only."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        invoice = get_object_or_404(Invoice, pk=pk)
        png = invoice_preview_png(invoice=invoice)
        if png is None:
            raise Http404("No preview for this document.")
        audit_record(action="document.preview", target=invoice, request=request, kind="access",
                     changes={"document": invoice.document.name})
        response = HttpResponse(png, content_type="image/png")
        response["Cache-Control"] = "private, no-store"
        response["X-Content-Type-Options"] = "nosniff"
        return response

    def document_view(self, request, pk: int):
        """The stored document, for staff only (admin_view checks staff access): a redirect to
        a short-lived signed URL bound to this staff user, served as an attachment."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        invoice = get_object_or_404(Invoice, pk=pk)
        audit_record(action="document.view", target=invoice, request=request, kind="access",
                     changes={"document": invoice.document.name})
        return private_file_redirect(request, kind="invoice", object_id=invoice.public_id,
                                     private_file=invoice_private_file(invoice))

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

"""Back office for compliance alerts: worked through services, never deleted."""

from __future__ import annotations

import csv

from django.contrib import admin, messages
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from paymint.core.admin import ReadOnlyInline, ReasonForm
from paymint.core.errors import ApplicationError

from .enums import AlertStatus
from .models import AccountHold, AlertNote, ComplianceAlert, SanctionedParty
from .sar import sar_export
from .screening import account_hold_release
from .services import alert_transition


class AlertNoteInline(ReadOnlyInline):
    model = AlertNote
    fields = ("created_at", "author", "text")




@admin.register(ComplianceAlert)
class ComplianceAlertAdmin(admin.ModelAdmin):
    list_display = ("created_at", "kind", "severity", "title", "status", "assigned_to",
                    "invoice", "user")
    list_filter = ("status", "kind", "severity")
    search_fields = ("title", "dedupe_key")
    list_select_related = ("assigned_to", "invoice", "user")
    inlines = [AlertNoteInline]
    actions = ["start_review", "resolve", "escalate", "download_sar", "export_csv"]
    readonly_fields = ("documents_side_by_side", "kind", "severity", "status", "dedupe_key",
                       "title", "evidence",
                       "invoice", "related_invoice", "user", "assigned_to", "resolved_by",
                       "resolved_at", "resolution", "created_at", "updated_at")

    def has_add_permission(self, request):
        return False

    @admin.display(description="documents")
    def documents_side_by_side(self, obj: ComplianceAlert) -> str:
        """The alert's invoice and the invoice it matches, side by side."""
        frames = []
        for label, invoice in (("this invoice", obj.invoice),
                               ("matching invoice", obj.related_invoice)):
            if invoice is None:
                continue
            url = reverse("admin:invoices_invoice_document", args=[invoice.pk])
            frames.append(format_html(
                '<figure style="flex:1;margin:0"><figcaption>{} - {} ({})</figcaption>'
                '<iframe src="{}" title="{}" style="width:100%;height:560px;border:1px solid '
                '#ccc"></iframe></figure>',
                label, invoice.invoice_number or invoice.public_id, invoice.seller.email, url,
                label,
            ))
        if not frames:
            return "-"
        return format_html('<div style="display:flex;gap:1rem">{}</div>',
                           format_html_join("", "{}", ((f,) for f in frames)))

    def has_delete_permission(self, request, obj=None):
        return False

    def _apply(self, request, queryset, to_status, reason=""):
        done = 0
        for alert in queryset:
            try:
                alert_transition(alert=alert, to_status=to_status, actor=request.user,
                                 reason=reason)
                done += 1
            except ApplicationError as exc:
                self.message_user(request, f"{alert.title}: {exc.message}", messages.ERROR)
        if done:
            self.message_user(request, f"{done} alert(s) now {to_status.lower()}.",
                              messages.SUCCESS)

    @admin.action(description="Start review (assign to me)")
    def start_review(self, request, queryset):
        self._apply(request, queryset, AlertStatus.IN_REVIEW)

    def _with_reason(self, request, queryset, action, to_status):
        if "apply" in request.POST:
            form = ReasonForm(request.POST)
            if form.is_valid():
                self._apply(request, queryset, to_status, form.cleaned_data["reason"])
                return None
        else:
            form = ReasonForm()
        return TemplateResponse(request, "admin/alert_decision.html", {
            **self.admin_site.each_context(request), "title": f"{action.title()} alerts",
            "alerts": queryset, "form": form, "action": action, "opts": self.model._meta,
        })

    @admin.action(description="Resolve (reason required)")
    def resolve(self, request, queryset):
        return self._with_reason(request, queryset, "resolve", AlertStatus.RESOLVED)

    @admin.action(description="Escalate / file SAR (reason required)")
    def escalate(self, request, queryset):
        return self._with_reason(request, queryset, "escalate", AlertStatus.ESCALATED)

    @admin.action(description="Download suspicious-activity report (one alert)")
    def download_sar(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one alert for a SAR.", messages.ERROR)
            return None
        alert = queryset.get()
        response = HttpResponse(sar_export(alert, fmt="json"), content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="sar-{alert.public_id}.json"'
        return response

    @admin.action(description="Export selected to CSV")
    def export_csv(self, request, queryset):
        response = HttpResponse(content_type="text/csv")
        response["Content-Disposition"] = 'attachment; filename="compliance-alerts.csv"'
        writer = csv.writer(response)
        writer.writerow(["id", "created_at", "kind", "severity", "status", "title",
                         "assigned_to", "resolution", "evidence"])
        for alert in queryset.select_related("assigned_to"):
            writer.writerow([alert.public_id, alert.created_at.isoformat(), alert.kind,
                             alert.severity, alert.status, alert.title,
                             alert.assigned_to.email if alert.assigned_to else "",
                             alert.resolution, alert.evidence])
        return response


@admin.register(SanctionedParty)
class SanctionedPartyAdmin(admin.ModelAdmin):
    """The loaded sanctions lists (read-only; loaded with ``manage.py load_sanctions_list``)."""

    list_display = ("name", "source", "list_id", "party_type", "program", "loaded_at")
    list_filter = ("source", "party_type")
    search_fields = ("name", "list_id")

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AccountHold)
class AccountHoldAdmin(admin.ModelAdmin):
    """Accounts blocked pending review; released with a note through the service."""

    list_display = ("user", "reason", "alert", "created_at", "released_at", "released_by")
    list_filter = ("reason",)
    actions = ["release"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Release selected holds (reason required)")
    def release(self, request, queryset):
        if "apply" in request.POST:
            form = ReasonForm(request.POST)
            if form.is_valid():
                for hold in queryset:
                    try:
                        account_hold_release(hold=hold, actor=request.user,
                                             note=form.cleaned_data["reason"])
                    except ApplicationError as exc:
                        self.message_user(request, exc.message, messages.ERROR)
                return None
        else:
            form = ReasonForm()
        return TemplateResponse(request, "admin/alert_decision.html", {
            **self.admin_site.each_context(request), "title": "Release holds",
            "alerts": queryset, "form": form, "action": "release", "opts": self.model._meta,
        })

"""Back office for compliance alerts: worked through services, never deleted."""

from __future__ import annotations

import csv

from auditlog.filters import ResourceTypeFilter
from auditlog.mixins import LogEntryAdminMixin
from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.http import HttpResponse, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from paymint.core.admin import ReadOnlyAdmin, ReadOnlyInline, ReasonForm
from paymint.core.errors import ApplicationError

from .admin_history import AuditHistoryMixin
from .audit import audit_events_export, audit_record
from .data_protection import erasure_execute, erasure_reject
from .enums import AlertStatus
from .models import (
    AccountHold,
    AlertNote,
    AuditEvent,
    ComplianceAlert,
    DataErasureRequest,
    SanctionedParty,
)
from .sar import sar_export
from .screening import (
    EDD_MAX_LENGTH,
    PEP_APPROVAL_PERMISSION,
    account_hold_release,
    can_approve_pep_relationship,
)
from .services import ESCALATE_PERMISSION, alert_add_note, alert_assign, alert_transition


class AssignForm(forms.Form):
    assignee = forms.ModelChoiceField(
        queryset=get_user_model().objects.filter(is_staff=True, is_active=True)
        .order_by("email"), label="Assign to")


class NoteForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), label="Note")


EDD_FIELDS = ("edd_source_of_wealth", "edd_source_of_funds")


class HoldReleaseForm(ReasonForm):
    """The reason for releasing holds and, with PEP holds selected, the enhanced due
    diligence findings (``edd=True``)."""

    edd_source_of_wealth = forms.CharField(
        max_length=EDD_MAX_LENGTH, label="Source of wealth (EDD)",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Where the customer's overall wealth comes from, and how it was verified.")
    edd_source_of_funds = forms.CharField(
        max_length=EDD_MAX_LENGTH, label="Source of funds (EDD)",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Where the money used on PayMint comes from, and how it was verified.")

    def __init__(self, *args, edd: bool, **kwargs):
        super().__init__(*args, **kwargs)
        if not edd:
            for name in EDD_FIELDS:
                del self.fields[name]


class AlertNoteInline(ReadOnlyInline):
    model = AlertNote
    fields = ("created_at", "author", "text")




@admin.register(ComplianceAlert)
class ComplianceAlertAdmin(AuditHistoryMixin, admin.ModelAdmin):
    list_display = ("created_at", "kind", "severity", "title", "status", "assigned_to",
                    "invoice", "user")
    list_filter = ("status", "kind", "severity")
    search_fields = ("title", "dedupe_key")
    list_select_related = ("assigned_to", "invoice", "user")
    inlines = [AlertNoteInline]
    actions = ["start_review", "assign", "add_note", "resolve", "escalate", "download_sar",
               "export_csv"]
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
            preview = reverse("admin:invoices_invoice_preview", args=[invoice.pk])
            download = reverse("admin:invoices_invoice_document", args=[invoice.pk])
            frames.append(format_html(
                '<figure><figcaption>{} - {} ({}) '
                '<a href="{}">download</a></figcaption>'
                '<img src="{}" alt="first page of {}" loading="lazy"></figure>',
                label, invoice.invoice_number or invoice.public_id, invoice.seller.email,
                download, preview, label,
            ))
        if not frames:
            return "-"
        return format_html('<div class="pm-doc-compare">{}</div>',
                           format_html_join("", "{}", ((f,) for f in frames)))

    def has_delete_permission(self, request, obj=None):
        return False

    def has_escalate_alert_permission(self, request) -> bool:
        """The escalate and SAR download actions: the compliance officer only (the services
        check it again)."""
        return request.user.has_perm(ESCALATE_PERMISSION)

    def _apply(self, request, queryset, to_status, reason=""):
        done = 0
        action = f"alert.{to_status.lower()}"
        for alert in queryset:
            from_status = alert.status
            try:
                alert_transition(alert=alert, to_status=to_status, actor=request.user,
                                 reason=reason)
                done += 1
            except ApplicationError as exc:
                audit_record(action=action, target=alert, reason=reason, request=request,
                             changes={"outcome": "refused", "code": exc.code})
                self.message_user(request, f"{alert.title}: {exc.message}", messages.ERROR)
            else:
                audit_record(action=action, target=alert, reason=reason, request=request,
                             changes={"outcome": "ok", "status": [from_status, to_status]})
        if done:
            self.message_user(request, f"{done} alert(s) now {to_status.lower()}.",
                              messages.SUCCESS)

    @admin.action(description="Start review (assign to me)", permissions=["change"])
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

    def _form_action(self, request, queryset, action: str, form_class, title: str, apply):
        """Show ``form_class`` for the selected alerts; on submit call ``apply(alert, data)``
        for each (errors are reported per alert)."""
        form = form_class(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            done = 0
            for alert in queryset:
                try:
                    apply(alert, form.cleaned_data)
                    done += 1
                except ApplicationError as exc:
                    self.message_user(request, f"{alert.title}: {exc.message}", messages.ERROR)
            if done:
                self.message_user(request, f"{title}: {done} alert(s).", messages.SUCCESS)
            return None
        return TemplateResponse(request, "admin/alert_decision.html", {
            **self.admin_site.each_context(request), "title": f"{title} alerts",
            "alerts": queryset, "form": form, "action": action, "opts": self.model._meta,
        })

    @admin.action(description="Assign to a staff member", permissions=["change"])
    def assign(self, request, queryset):
        def apply(alert, data):
            assignee = data["assignee"]
            previous = alert.assigned_to.email if alert.assigned_to_id else None
            alert_assign(alert=alert, assignee=assignee, actor=request.user)
            audit_record(action="alert.assign", target=alert, request=request,
                         changes={"assigned_to": [previous, assignee.email]})

        return self._form_action(request, queryset, "assign", AssignForm, "Assign", apply)

    @admin.action(description="Add a working note", permissions=["change"])
    def add_note(self, request, queryset):
        def apply(alert, data):
            note = alert_add_note(alert=alert, author=request.user, text=data["text"])
            audit_record(action="alert.note", target=alert, request=request, reason=note.text)

        return self._form_action(request, queryset, "add_note", NoteForm, "Note on", apply)

    @admin.action(description="Resolve (reason required)", permissions=["change"])
    def resolve(self, request, queryset):
        return self._with_reason(request, queryset, "resolve", AlertStatus.RESOLVED)

    @admin.action(description="Escalate / file SAR (reason required)",
                  permissions=["escalate_alert"])
    def escalate(self, request, queryset):
        return self._with_reason(request, queryset, "escalate", AlertStatus.ESCALATED)

    @admin.action(description="Download suspicious-activity report (one alert)",
                  permissions=["escalate_alert"])
    def download_sar(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one alert for a SAR.", messages.ERROR)
            return None
        alert = queryset.get()
        try:
            body = sar_export(alert, actor=request.user, fmt="json")
        except ApplicationError as exc:
            audit_record(action="sar.export", target=alert, request=request, kind="access",
                         changes={"outcome": "refused", "code": exc.code})
            self.message_user(request, exc.message, messages.ERROR)
            return None
        audit_record(action="sar.export", target=alert, request=request, kind="access",
                     changes={"format": "json", "bytes": len(body)})
        response = HttpResponse(body, content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="sar-{alert.public_id}.json"'
        return response

    @admin.action(description="Export selected to CSV")
    def export_csv(self, request, queryset):
        response = HttpResponse(content_type="text/csv")
        response["Content-Disposition"] = 'attachment; filename="compliance-alerts.csv"'
        audit_record(action="alert.export_csv", request=request, kind="access",
                     changes={"alerts": [str(a) for a in queryset.values_list("public_id",
                                                                              flat=True)]})
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
class SanctionedPartyAdmin(AuditHistoryMixin, ReadOnlyAdmin):
    """The loaded sanctions lists (read-only; loaded with ``manage.py load_sanctions_list``)."""

    list_display = ("name", "source", "list_id", "party_type", "program", "loaded_at")
    list_filter = ("source", "party_type")
    search_fields = ("name", "list_id")


@admin.register(AccountHold)
class AccountHoldAdmin(AuditHistoryMixin, admin.ModelAdmin):
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

    @admin.action(description="Release selected holds (reason required; PEP: EDD and "
                              "senior-management approval)", permissions=["change"])
    def release(self, request, queryset):
        """Release the selected holds through :func:`account_hold_release`. PEP holds ask for
        the EDD findings from staff who may approve them; others are told they cannot, and
        the service refuses them (``SENIOR_APPROVAL_REQUIRED``)."""
        holds = list(queryset.select_related("user", "alert"))
        approver = can_approve_pep_relationship(request.user)
        pep = any(h.reason == AccountHold.Reason.PEP_REVIEW for h in holds)
        form = HoldReleaseForm(request.POST if "apply" in request.POST else None,
                               edd=pep and approver)
        if form.is_bound and form.is_valid():
            reason = form.cleaned_data["reason"]
            done = 0
            for hold in holds:
                pep_hold = hold.reason == AccountHold.Reason.PEP_REVIEW
                edd = ({name: form.cleaned_data.get(name, "") for name in EDD_FIELDS}
                       if pep_hold else {})
                outcome = {"hold_reason": hold.reason}
                try:
                    account_hold_release(hold=hold, actor=request.user, note=reason, **edd)
                except ApplicationError as exc:
                    audit_record(action="hold.release", target=hold, reason=reason,
                                 request=request,
                                 changes={"outcome": "refused", "code": exc.code, **outcome})
                    self.message_user(request, f"{hold.user}: {exc.message}", messages.ERROR)
                else:
                    if pep_hold:
                        outcome["approval"] = "senior_management"
                    audit_record(action="hold.release", target=hold, reason=reason,
                                 request=request, changes={"outcome": "ok", **outcome})
                    done += 1
            if done:
                self.message_user(request, f"Released {done} hold(s).", messages.SUCCESS)
            return None
        if pep and not approver:
            self.message_user(
                request, "PEP holds need senior-management approval: you do not have the "
                f"permission {PEP_APPROVAL_PERMISSION}, so PEP holds will not be released. "
                "Ask a senior manager.", messages.WARNING)
        return TemplateResponse(request, "admin/hold_release.html", {
            **self.admin_site.each_context(request), "title": "Release holds",
            "holds": holds, "form": form, "action": "release", "pep": pep and approver,
            "opts": self.model._meta,
        })


# --- Audit trail ------------------------------------------------------------------------------

if admin.site.is_registered(AuditEvent):  # django-auditlog's own LogEntryAdmin
    admin.site.unregister(AuditEvent)


@admin.register(AuditEvent)
class AuditEventAdmin(LogEntryAdminMixin, admin.ModelAdmin):
    """The audit trail: read-only, never deleted here; filter, search and export (streamed).

    Reached per record through the History button of audited records
    (:class:`~compliance.admin_history.AuditHistoryMixin`), which filters on the record
    (``content_type`` + ``object_pk``) or, for a user, on ``subject_user``.
    """

    date_hierarchy = "timestamp"
    list_display = ("timestamp", "what", "resource_url", "actor_email", "subject_user",
                    "remote_addr", "cid", "short_reason")
    list_filter = ("action", ResourceTypeFilter, "event")
    list_select_related = ("content_type", "actor", "subject_user")
    search_fields = ("object_repr", "actor_email", "event", "cid", "=object_pk", "reason")
    show_full_result_count = False
    actions = ["export_csv", "export_jsonl"]
    fieldsets = (
        (None, {"fields": ("timestamp", "what", "resource_url", "subject_user", "reason")}),
        ("Who and from where", {"fields": ("user_url", "actor_email", "remote_addr",
                                           "user_agent", "cid")}),
        ("Changes", {"fields": ("msg", "changes")}),
    )
    #: Filters the History links use, on top of those in ``list_filter``.
    EXTRA_LOOKUPS = ("object_pk", "content_type__id__exact", "subject_user__id__exact",
                     "actor__id__exact", "cid")

    def get_readonly_fields(self, request, obj=None):
        return ["timestamp", "what", "resource_url", "subject_user", "reason", "user_url",
                "actor_email", "remote_addr", "user_agent", "cid", "msg", "changes"]

    def lookup_allowed(self, lookup, value, request=None):
        return lookup in self.EXTRA_LOOKUPS or super().lookup_allowed(lookup, value, request)

    def get_queryset(self, request):
        self.request = request  # LogEntryAdminMixin's links read it
        return super().get_queryset(request)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="what", ordering="event")
    def what(self, obj: AuditEvent) -> str:
        return obj.event or obj.get_action_display()

    @admin.display(description="reason")
    def short_reason(self, obj: AuditEvent) -> str:
        return obj.reason if len(obj.reason) <= 60 else obj.reason[:57] + "..."

    def _export(self, request, queryset, fmt: str):
        audit_record(action="audit.export", request=request, kind="access",
                     changes={"format": fmt, "filter": request.GET.urlencode()})
        content_type = "text/csv" if fmt == "csv" else "application/x-ndjson"
        response = StreamingHttpResponse(
            audit_events_export(queryset.order_by("timestamp", "id"), fmt=fmt),
            content_type=content_type,
        )
        response["Content-Disposition"] = f'attachment; filename="audit-trail.{fmt}"'
        return response

    @admin.action(description="Export selected to CSV")
    def export_csv(self, request, queryset):
        return self._export(request, queryset, "csv")

    @admin.action(description="Export selected to JSON lines")
    def export_jsonl(self, request, queryset):
        return self._export(request, queryset, "jsonl")


# --- Data-subject erasure requests -------------------------------------------------------------


@admin.register(DataErasureRequest)
class DataErasureRequestAdmin(AuditHistoryMixin, admin.ModelAdmin):
    """Erasure requests: staff execute (anonymize) or reject them, with a reason."""

    list_display = ("created_at", "user", "status", "decided_by", "decided_at")
    list_filter = ("status",)
    search_fields = ("user__email", "public_id")
    list_select_related = ("user", "decided_by")
    actions = ["execute", "reject"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def _decide(self, request, queryset, action: str, service, verb: str):
        if "apply" in request.POST:
            form = ReasonForm(request.POST)
            if form.is_valid():
                done = 0
                for erasure in queryset:
                    try:
                        service(erasure_request=erasure, actor=request.user,
                                reason=form.cleaned_data["reason"])
                        done += 1
                    except ApplicationError as exc:
                        self.message_user(request, f"{erasure.user}: {exc.message} "
                                          f"({exc.code})", messages.ERROR)
                if done:
                    self.message_user(request, f"{verb} {done} request(s).", messages.SUCCESS)
                return None
        else:
            form = ReasonForm()
        return TemplateResponse(request, "admin/reason_action.html", {
            **self.admin_site.each_context(request), "title": f"{action.title()} erasure",
            "objects": queryset, "form": form, "action": action, "opts": self.model._meta,
        })

    @admin.action(description="Execute erasure (anonymize personal data)",
                  permissions=["change"])
    def execute(self, request, queryset):
        return self._decide(request, queryset, "execute", erasure_execute, "Executed")

    @admin.action(description="Reject (reason required)", permissions=["change"])
    def reject(self, request, queryset):
        return self._decide(request, queryset, "reject", erasure_reject, "Rejected")

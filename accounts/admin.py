"""Back office for users and the KYC/KYB review queue.

Decisions go through ``accounts.services`` (who decided, when and why are recorded); the
status and decision fields are read-only here; profiles and their history cannot be deleted.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from compliance.public import AuditHistoryMixin, audit_record
from paymint.core.admin import ReadOnlyInline
from paymint.core.errors import ApplicationError

from .enums import KycStatus
from .forms import AdminPasswordChangeServiceForm
from .four_eyes import kyc_approve_with_four_eyes, kyc_requires_four_eyes
from .models import KycApproval, KycDocument, KycProfile, KycStatusEvent, User
from .selectors import kyc_profiles_with_tax_id
from .services import kyc_reject


@admin.register(User)
class UserAdmin(AuditHistoryMixin, DjangoUserAdmin):
    audit_history_by_subject = True  # History: every audit event about the user
    list_display = ("email", "role", "is_active", "is_staff", "date_joined")
    list_filter = ("role", "is_staff", "is_active")
    search_fields = ("email",)
    ordering = ("-date_joined",)
    readonly_fields = ("public_id", "deposit_reference", "last_login", "date_joined")
    fieldsets = (
        (None, {"fields": ("email", "password", "role", "public_id", "deposit_reference")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"fields": ("email", "role", "password1", "password2")}),)
    change_password_form = AdminPasswordChangeServiceForm  # also revokes API refresh tokens

    def has_delete_permission(self, request, obj=None):
        return False


class KycStatusEventInline(ReadOnlyInline):
    model = KycStatusEvent
    fields = ("created_at", "from_status", "to_status", "actor", "reason")


class KycDocumentInline(admin.StackedInline):
    """The uploaded documents with an inline preview (served by the staff-only view)."""

    model = KycDocument
    extra = 0
    can_delete = False
    fields = ("preview", "original_filename", "content_type", "size", "sha256", "uploaded_at")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="Document")
    def preview(self, obj: KycDocument) -> str:
        # The link redirects to a short-lived signed URL that serves the file as an attachment;
        # an image still previews through <img> (which ignores the attachment disposition).
        url = reverse("kyc-document", args=[obj.public_id])
        download = format_html(
            '<a href="{}" download rel="noopener noreferrer">Download ({})</a>',
            url,
            obj.content_type,
        )
        if obj.content_type.startswith("image/"):
            return format_html(
                '<img src="{}" alt="Uploaded document" class="pm-doc-preview"><br>{}',
                url,
                download,
            )
        return download


class KycApprovalInline(admin.TabularInline):
    """Four-eyes approvals given so far (per submission)."""

    model = KycApproval
    extra = 0
    can_delete = False
    fields = ("created_at", "reviewer", "submitted_at", "reason")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class DecisionReasonForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=True,
        label="Reason (shown to the applicant)",
    )


@admin.register(KycProfile)
class KycProfileAdmin(AuditHistoryMixin, admin.ModelAdmin):
    list_display = (
        "legal_name",
        "kind",
        "user",
        "country",
        "tax_id",
        "bank_account_masked",
        "status",
        "submitted_at",
        "decided_by",
        "decided_at",
    )
    list_filter = ("status", "kind", "country")
    # The tax id is encrypted: searched by its keyed hash in get_search_results, not here.
    search_fields = ("legal_name", "user__email")
    # The payout IBAN is shown masked only (bank_account_masked), never as a form field.
    exclude = ("bank_account_iban",)
    ordering = ("status", "submitted_at")
    readonly_fields = (
        "user",
        "kind",
        "legal_name",
        "country",
        "tax_id",
        "tax_id_scheme",
        "address",
        "date_of_birth",
        "identity_document_number",
        "bank_account_masked",
        "declared_investment",
        "four_eyes",
        "status",
        "submitted_at",
        "decided_at",
        "decided_by",
        "decision_reason",
        "created_at",
        "updated_at",
    )
    inlines = [KycDocumentInline, KycApprovalInline, KycStatusEventInline]

    @admin.display(description="Two approvals needed", boolean=True)
    def four_eyes(self, obj: KycProfile) -> bool:
        return kyc_requires_four_eyes(obj)

    @admin.display(description="Payout account")
    def bank_account_masked(self, obj: KycProfile) -> str:
        return obj.bank_account_masked or "-"

    def get_search_results(self, request, queryset, search_term):
        """Name and email as usual, plus an exact tax id match through its keyed hash."""
        results, may_have_duplicates = super().get_search_results(
            request, queryset, search_term
        )
        if search_term.strip():
            by_tax_id = queryset.filter(
                pk__in=kyc_profiles_with_tax_id(tax_id=search_term).values("pk")
            )
            results = results | by_tax_id
        return results, may_have_duplicates

    actions = ["approve_selected", "reject_selected"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def _decide(self, request, queryset, decide, verb: str, reason: str) -> None:
        done = 0
        action = "kyc.approve" if decide is kyc_approve_with_four_eyes else "kyc.reject"
        for profile in queryset:
            from_status = profile.status
            try:
                result = decide(profile=profile, reviewer=request.user, reason=reason)
            except ApplicationError as exc:
                audit_record(action=action, target=profile, reason=reason, request=request,
                             changes={"outcome": "refused", "code": exc.code})
                self.message_user(request, f"{profile.legal_name}: {exc.message}", messages.ERROR)
                continue
            if isinstance(result, KycProfile):
                outcome = {"outcome": "ok", "status": [from_status, result.status]}
            else:  # a four-eyes outcome
                outcome = {"outcome": "ok", "status": [from_status, result.profile.status],
                           "approvals": f"{result.approvals} of {result.required}"}
            audit_record(action=action, target=profile, reason=reason, request=request,
                         changes=outcome)
            if getattr(result, "approved", True):
                done += 1
            else:
                self.message_user(
                    request,
                    f"{profile.legal_name}: your approval is recorded ({result.approvals} of "
                    f"{result.required}); a second reviewer must approve too.",
                    messages.WARNING,
                )
        if done:
            self.message_user(request, f"{verb} {done} profile(s).", messages.SUCCESS)

    @admin.action(description="Approve selected profiles (two approvals for large investors)",
                  permissions=["change"])
    def approve_selected(self, request, queryset):
        return self._with_reason(
            request,
            queryset,
            "approve_selected",
            kyc_approve_with_four_eyes,
            "Approved",
            require=False,
        )

    @admin.action(description="Reject selected profiles (reason required)",
                  permissions=["change"])
    def reject_selected(self, request, queryset):
        return self._with_reason(
            request, queryset, "reject_selected", kyc_reject, "Rejected", require=True
        )

    def _with_reason(self, request, queryset, action, decide, verb, *, require: bool):
        queryset = queryset.filter(status=KycStatus.PENDING_REVIEW)
        if "apply" in request.POST:
            form = DecisionReasonForm(request.POST)
            if not require:
                form.fields["reason"].required = False
            if form.is_valid():
                self._decide(request, queryset, decide, verb, form.cleaned_data["reason"])
                return None
        else:
            form = DecisionReasonForm()
            if not require:
                form.fields["reason"].required = False
        return TemplateResponse(
            request,
            "admin/kyc_decision.html",
            {
                **self.admin_site.each_context(request),
                "title": f"{verb[:-1]} KYC/KYB",
                "profiles": queryset,
                "form": form,
                "action": action,
                "opts": self.model._meta,
            },
        )

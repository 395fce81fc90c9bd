"""Back office for the ledger, withdrawals and payouts, and the on-chain mirror: read-only,
nothing deletable; every action calls one service (which checks the role itself)."""

import datetime as dt

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from accounts.selectors import kyc_profile_for_user, user_by_email
from compliance.public import AuditHistoryMixin, audit_record
from paymint.core import clock
from paymint.core.admin import CurrencyFilter, ReadOnlyAdmin, ReadOnlyInline, ReasonForm
from paymint.core.errors import ApplicationError

from .backoffice import (
    investor_annual_statement_csv,
    investor_annual_statement_pdf,
    platform_report_csv,
)
from .enums import (
    AllocationKind,
    AllocationStatus,
    BankEventStatus,
    BankFileFormat,
    PayoutBatchStatus,
    WithdrawalStatus,
)
from .models import (
    BankEvent,
    ChainTransaction,
    ChainTransactionEvent,
    JournalEntry,
    LedgerAccount,
    PayoutBatch,
    PayoutBatchEvent,
    PayoutItem,
    Posting,
    Settlement,
    StellarAccount,
    SuspenseAllocation,
    Withdrawal,
)
from .services import (
    allocation_approve,
    allocation_propose,
    allocation_reject,
    bank_statement_apply,
    payout_batch_approve,
    payout_batch_create,
    payout_batch_export,
    payout_retry,
    refund_propose,
)
from .stellar.enums import ChainTxStatus
from .stellar.outbox import chain_tx_requeue


class PostingInline(ReadOnlyInline):
    model = Posting
    fields = ("leg", "account", "amount", "currency", "memo")


@admin.register(JournalEntry)
class JournalEntryAdmin(AuditHistoryMixin, ReadOnlyAdmin):
    list_display = ("created_at", "kind", "description", "currency", "invoice", "effective_date")
    list_select_related = ("invoice",)
    list_filter = ("kind", CurrencyFilter)
    search_fields = ("idempotency_key", "description")
    inlines = [PostingInline]


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ReadOnlyAdmin):
    """Ledger accounts; ``report/?month=YYYY-MM`` downloads the monthly platform report
    (CSV: activity, defaults and recoveries, the balance sheet at the month's end)."""

    list_display = ("key", "kind", "currency", "owner", "invoice")
    list_select_related = ("owner", "invoice")
    list_filter = ("kind", CurrencyFilter)
    search_fields = ("key", "owner__email")

    def get_urls(self):
        return [
            path("report/", self.admin_site.admin_view(self.report_view),
                 name="settlements_platform_report"),
            path("statement/", self.admin_site.admin_view(self.statement_view),
                 name="settlements_investor_statement"),
            *super().get_urls(),
        ]

    def statement_view(self, request):
        """``?investor=EMAIL&year=YYYY&format=csv|pdf``: the investor's annual statement."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        investor = user_by_email(email=request.GET.get("investor", ""))
        year = request.GET.get("year", "")
        if investor is None or not year.isdigit():
            raise Http404("Give ?investor=EMAIL&year=YYYY")
        fmt = "pdf" if request.GET.get("format") == "pdf" else "csv"
        if fmt == "pdf":
            profile = kyc_profile_for_user(user=investor)
            body = investor_annual_statement_pdf(
                investor=investor, year=int(year),
                legal_name=profile.legal_name if profile else "")
        else:
            body = investor_annual_statement_csv(investor=investor, year=int(year))
        audit_record(action="report.investor_statement", request=request, kind="access",
                     subject_user=investor, changes={"year": year, "format": fmt})
        response = HttpResponse(body, content_type="application/pdf" if fmt == "pdf"
                                else "text/csv")
        response["Content-Disposition"] = (
            f'attachment; filename="paymint-statement-{year}-{investor.public_id}.{fmt}"')
        return response

    def report_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            month = dt.date.fromisoformat(f"{request.GET.get('month', '')}-01")
        except ValueError:
            month = clock.today()
        body = platform_report_csv(month=month)
        audit_record(action="report.platform_monthly", request=request, kind="access",
                     changes={"month": f"{month:%Y-%m}", "bytes": len(body)})
        response = HttpResponse(body, content_type="text/csv")
        response["Content-Disposition"] = (
            f'attachment; filename="paymint-platform-report-{month:%Y-%m}.csv"')
        return response


class AllocationForm(forms.Form):
    kind = forms.ChoiceField(choices=AllocationKind.choices)
    reference = forms.CharField(max_length=64, help_text="The investor's deposit reference "
                                "(PM-...) or the invoice's repayment reference.")
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))


class RefundForm(forms.Form):
    """Where an unmatched credit goes back to: the sender's account (IBAN and BIC checked
    by the service)."""

    payee_name = forms.CharField(max_length=70, label="Sender's account holder")
    payee_iban = forms.CharField(max_length=42, label="Sender's IBAN")
    payee_bic = forms.CharField(max_length=11, required=False, label="Sender's BIC",
                                help_text="Derived from the IBAN when left empty.")
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))


class ReceiptForm(AllocationForm):
    """A receipt no webhook announced (a cheque, a transfer the bank did not report)."""

    amount = forms.DecimalField(max_digits=20, decimal_places=7, min_value=0)
    currency = forms.ChoiceField(choices=[])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["currency"].choices = [(c, c) for c in settings.PAYMINT["CURRENCIES"]]


@admin.register(BankEvent)
class BankEventAdmin(AuditHistoryMixin, ReadOnlyAdmin):
    """Every bank event applied. Filter on status "Reference matched no one: in suspense":
    the unmatched queue, whose credits finance allocates or refunds to the sender (four
    eyes)."""

    list_display = ("event_id", "event_type", "reference", "amount", "currency", "status",
                    "created_at")
    list_filter = ("event_type", "status")
    search_fields = ("event_id", "reference")
    actions = ["allocate", "refund"]

    def _credit_action(self, request, queryset, *, form_class, propose, done, action: str,
                       title: str):
        """One unmatched credit, a form, then ``propose(actor=, bank_event=, **cleaned_data)``;
        ``done(result)`` is the success message. Service errors come back as admin messages."""
        events = list(queryset.filter(status=BankEventStatus.UNMATCHED)[:2])
        if len(events) != 1:
            self.message_user(request, "Select one unmatched credit.", messages.ERROR)
            return None
        form = form_class(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            try:
                result = propose(actor=request.user, bank_event=events[0], **form.cleaned_data)
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                return None
            self.message_user(request, done(result))
            return None
        return TemplateResponse(request, "admin/reason_action.html", {
            **self.admin_site.each_context(request), "title": title,
            "objects": events, "form": form, "action": action, "opts": self.model._meta,
        })

    @admin.action(description="Refund an unmatched credit to its sender (four eyes, as a "
                  "payout)", permissions=["allocate"])
    def refund(self, request, queryset):
        return self._credit_action(
            request, queryset, form_class=RefundForm, propose=refund_propose, action="refund",
            title="Refund an unmatched credit to its sender",
            done=lambda refund: (f"Refund {refund.refund_reference} proposed: another finance "
                                 "user must approve it (Suspense allocations); it is then "
                                 "paid out in the next payout batch."))

    def has_allocate_permission(self, request) -> bool:
        return _has_perm(request, "propose_allocation")

    @admin.action(description="Allocate an unmatched credit (four eyes, reason required)",
                  permissions=["allocate"])
    def allocate(self, request, queryset):
        return self._credit_action(
            request, queryset, form_class=AllocationForm, propose=allocation_propose,
            action="allocate", title="Allocate an unmatched credit",
            done=lambda allocation: (f"Proposed: {allocation}. Another finance user must "
                                     "approve it (Suspense allocations)."))


@admin.register(Settlement)
class SettlementAdmin(AuditHistoryMixin, ReadOnlyAdmin):
    list_display = ("invoice", "repaid_amount", "currency", "status", "completed_at")
    list_filter = ("status",)


class ChainTransactionEventInline(ReadOnlyInline):
    model = ChainTransactionEvent
    fields = ("created_at", "from_status", "to_status", "tx_hash", "reason")


@admin.register(ChainTransaction)
class ChainTransactionAdmin(ReadOnlyAdmin):
    """The Stellar outbox: every transaction the platform built, its hash, sequence, time
    bounds, result codes and status history. A FAILED row can be requeued (with a reason)
    once its cause is fixed; nothing else is editable."""

    list_display = ("created_at", "purpose", "status", "invoice", "short_hash", "sequence",
                    "operation_count", "attempts", "last_error")
    list_filter = ("status", "purpose")
    search_fields = ("tx_hash", "idempotency_key", "invoice__invoice_number")
    list_select_related = ("invoice",)
    inlines = [ChainTransactionEventInline]
    actions = ["requeue"]

    def has_requeue_permission(self, request) -> bool:
        """The requeue action: ``change_chaintransaction`` (the read-only admin refuses every
        change on a POST, so the action cannot use the ``change`` permission check)."""
        opts = self.model._meta
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")

    @admin.display(description="hash")
    def short_hash(self, obj: ChainTransaction) -> str:
        return f"{obj.tx_hash[:12]}..." if obj.tx_hash else "-"

    @admin.display(description="ops")
    def operation_count(self, obj: ChainTransaction) -> int:
        return len(obj.operations)

    @admin.action(description="Requeue failed transactions (reason required)",
                  permissions=["requeue"])
    def requeue(self, request, queryset):
        failed = list(queryset.filter(status=ChainTxStatus.FAILED))
        if not failed:
            self.message_user(request, "Only FAILED transactions can be requeued.",
                              messages.ERROR)
            return None
        if "apply" in request.POST:
            form = ReasonForm(request.POST)
            if form.is_valid():
                for chain_tx in failed:
                    try:
                        chain_tx_requeue(chain_tx=chain_tx, actor=request.user,
                                         reason=form.cleaned_data["reason"])
                    except ApplicationError as exc:
                        self.message_user(request, f"{chain_tx}: {exc.message}",
                                          messages.ERROR)
                        return None
                self.message_user(request, f"{len(failed)} transaction(s) requeued.")
                return None
        else:
            form = ReasonForm()
        return TemplateResponse(request, "admin/reason_action.html", {
            **self.admin_site.each_context(request), "title": "Requeue chain transactions",
            "objects": failed, "form": form, "action": "requeue", "opts": self.model._meta,
        })


@admin.register(StellarAccount)
class StellarAccountAdmin(AuditHistoryMixin, ReadOnlyAdmin):
    """Stellar accounts users proved control of with SEP-10."""

    list_display = ("account_id", "user", "verified_at")
    search_fields = ("account_id", "user__email")
    list_select_related = ("user",)


# --- Withdrawals and payouts ----------------------------------------------------------------


def _has_perm(request, codename: str) -> bool:
    return request.user.has_perm(f"settlements.{codename}")


class WithdrawalPayoutInline(ReadOnlyInline):
    model = PayoutItem
    fk_name = "withdrawal"
    fields = ("batch", "attempt", "end_to_end_id", "status", "failure_reason", "settled_at",
              "return_event")
    verbose_name_plural = "payout attempts"


@admin.register(Withdrawal)
class WithdrawalAdmin(AuditHistoryMixin, ReadOnlyAdmin):
    """Withdrawals with their status, hold entry, payout attempts and history (the audit
    trail). A failed one can be retried by finance once the user fixed their bank details."""

    list_display = ("created_at", "reference", "user", "amount", "currency", "status",
                    "failure_reason")
    list_filter = ("status", CurrencyFilter)
    search_fields = ("reference", "user__email")
    list_select_related = ("user",)
    fields = ("reference", "user", "amount", "currency", "status", "failure_reason",
              "hold_entry", "created_at", "updated_at")
    inlines = [WithdrawalPayoutInline]
    actions = ["retry"]

    def has_retry_permission(self, request) -> bool:
        return _has_perm(request, "retry_payout")

    @admin.action(description="Retry failed or returned payouts (reason required)",
                  permissions=["retry"])
    def retry(self, request, queryset):
        failed = list(queryset.filter(status__in=(WithdrawalStatus.FAILED,
                                                  WithdrawalStatus.RETURNED)))
        if not failed:
            self.message_user(request, "Only failed or returned withdrawals can be retried.",
                              messages.ERROR)
            return None
        if "apply" in request.POST:
            form = ReasonForm(request.POST)
            if form.is_valid():
                for withdrawal in failed:
                    try:
                        payout_retry(withdrawal=withdrawal, actor=request.user,
                                     reason=form.cleaned_data["reason"])
                    except ApplicationError as exc:
                        self.message_user(request, f"{withdrawal}: {exc.message}",
                                          messages.ERROR)
                        return None
                self.message_user(request, f"{len(failed)} payout(s) will be retried in "
                                  "the next batch.")
                return None
        else:
            form = ReasonForm()
        return TemplateResponse(request, "admin/reason_action.html", {
            **self.admin_site.each_context(request), "title": "Retry failed payouts",
            "objects": failed, "form": form, "action": "retry", "opts": self.model._meta,
        })


class PayoutItemInline(ReadOnlyInline):
    model = PayoutItem
    fields = ("end_to_end_id", "paid_for", "amount", "currency", "creditor_name",
              "masked_iban", "creditor_bic", "status", "failure_reason", "settled_at")
    readonly_fields = fields

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("withdrawal", "allocation")

    @admin.display(description="for")
    def paid_for(self, obj: PayoutItem) -> str:
        """The withdrawal, or the refund of a suspense credit: a link to its page."""
        if obj.withdrawal_id:
            url = reverse("admin:settlements_withdrawal_change", args=[obj.withdrawal_id])
            return format_html('<a href="{}">{}</a>', url, obj.payout_reference)
        url = reverse("admin:settlements_suspenseallocation_change", args=[obj.allocation_id])
        return format_html('refund <a href="{}">{}</a>', url, obj.payout_reference)

    @admin.display(description="IBAN")
    def masked_iban(self, obj: PayoutItem) -> str:
        iban = obj.creditor_iban or ""
        return f"{iban[:4]} **** {iban[-4:]}" if len(iban) > 8 else iban


class PayoutBatchEventInline(ReadOnlyInline):
    model = PayoutBatchEvent
    fields = ("created_at", "from_status", "to_status", "actor", "reason")


class PayoutBatchMakeForm(forms.Form):
    currency = forms.ChoiceField(choices=[])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["currency"].choices = [(c, c) for c in settings.PAYMINT["CURRENCIES"]]


class BankStatementForm(forms.Form):
    statement = forms.FileField(label="camt.054 file (XML)")


@admin.register(PayoutBatch)
class PayoutBatchAdmin(AuditHistoryMixin, ReadOnlyAdmin):
    """Payout batches (maker-checker). Finance makes a batch per currency ("Make a payout
    batch"), another finance user approves it, the bank file is downloaded (built once,
    the same bytes every time), and the bank's camt.054 is uploaded ("Upload a bank
    statement"). Operations see the batches and their items but cannot act."""

    change_list_template = "admin/settlements/payoutbatch/change_list.html"
    change_form_template = "admin/settlements/payoutbatch/change_form.html"
    list_display = ("created_at", "reference", "currency", "status", "item_count",
                    "total_amount", "created_by", "approved_by", "exported_at")
    list_filter = ("status", "currency")
    search_fields = ("reference", "items__end_to_end_id")
    list_select_related = ("created_by", "approved_by")
    fields = ("reference", "currency", "status", "item_count", "total_amount", "created_by",
              "approved_by", "approved_at", "exported_by", "exported_at", "execution_date",
              "file_format", "file_name", "file_sha256", "settled_at")
    inlines = [PayoutItemInline, PayoutBatchEventInline]
    actions = ["approve"]

    def has_approve_permission(self, request) -> bool:
        return _has_perm(request, "approve_payoutbatch")

    @admin.action(description="Approve (four eyes: not a batch you made)",
                  permissions=["approve"])
    def approve(self, request, queryset):
        for batch in queryset.filter(status=PayoutBatchStatus.DRAFT):
            try:
                payout_batch_approve(batch=batch, actor=request.user)
            except ApplicationError as exc:
                self.message_user(request, f"{batch.reference}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"{batch.reference} approved.")

    def get_urls(self):
        prefix = f"{self.model._meta.app_label}_{self.model._meta.model_name}"
        return [
            path("make/", self.admin_site.admin_view(self.make_view), name=f"{prefix}_make"),
            path("statement/", self.admin_site.admin_view(self.statement_view),
                 name=f"{prefix}_statement"),
            path("<int:pk>/download/", self.admin_site.admin_view(self.download_view),
                 name=f"{prefix}_download"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {
            **(extra_context or {}),
            "can_make": _has_perm(request, "create_payoutbatch"),
            "can_settle": _has_perm(request, "settle_payoutbatch"),
        })

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return super().change_view(request, object_id, form_url, {
            **(extra_context or {}), "can_export": _has_perm(request, "export_payoutbatch"),
        })

    def _form_page(self, request, title: str, form, *, multipart: bool = False):
        return TemplateResponse(request, "admin/settlements/payoutbatch/form.html", {
            **self.admin_site.each_context(request), "title": title, "form": form,
            "opts": self.model._meta, "multipart": multipart,
        })

    def make_view(self, request):
        if not _has_perm(request, "create_payoutbatch"):
            raise PermissionDenied
        form = PayoutBatchMakeForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                result = payout_batch_create(actor=request.user,
                                             currency=form.cleaned_data["currency"])
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                for reference, reason in result.skipped:
                    self.message_user(request, f"{reference} skipped: {reason}",
                                      messages.WARNING)
                self.message_user(request, f"{result.batch.reference} made: "
                                  f"{result.batch.item_count} payout(s), "
                                  f"{result.batch.total_amount} {result.batch.currency}. "
                                  "Another finance user must approve it.")
                return redirect(reverse("admin:settlements_payoutbatch_change",
                                        args=[result.batch.pk]))
        return self._form_page(request, "Make a payout batch", form)

    def statement_view(self, request):
        if not _has_perm(request, "settle_payoutbatch"):
            raise PermissionDenied
        form = BankStatementForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["statement"]
            try:
                outcome = bank_statement_apply(data=upload.read(), actor=request.user,
                                               file_name=upload.name)
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                self.message_user(request, f"Statement {outcome.message_id}: "
                                  f"{len(outcome.paid)} paid, {len(outcome.failed)} failed, "
                                  f"{len(outcome.returned)} returned after payment, "
                                  f"{len(outcome.duplicates)} already applied.")
                for e2e, code, message in outcome.refused:
                    self.message_user(request, f"{e2e} refused ({code}): {message}",
                                      messages.ERROR)
                return redirect(reverse("admin:settlements_payoutbatch_changelist"))
        return self._form_page(request, "Upload a bank statement (camt.054)", form,
                               multipart=True)

    def download_view(self, request, pk: int):
        if request.method != "POST":  # exporting changes state: a POST with the CSRF token
            return redirect(reverse("admin:settlements_payoutbatch_change", args=[pk]))
        if not _has_perm(request, "export_payoutbatch"):
            raise PermissionDenied
        batch = get_object_or_404(PayoutBatch, pk=pk)
        try:
            batch = payout_batch_export(batch=batch, actor=request.user)
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return redirect(reverse("admin:settlements_payoutbatch_change", args=[pk]))
        content_type = ("application/xml" if batch.file_format == BankFileFormat.PAIN_001
                        else "text/csv")
        response = HttpResponse(batch.file_content.encode(), content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="{batch.file_name}"'
        return response


@admin.register(SuspenseAllocation)
class SuspenseAllocationAdmin(AuditHistoryMixin, ReadOnlyAdmin):
    """Unmatched money allocated by hand, four eyes: proposals (from the unmatched queue in
    Bank events - an allocation or a refund to the sender -, or "Record a bank receipt" for
    money no webhook announced) approved or rejected by a second finance user. An approved
    refund is paid out in the next payout batch of its currency."""

    change_list_template = "admin/settlements/suspenseallocation/change_list.html"
    list_display = ("created_at", "kind", "reference", "amount", "currency", "status",
                    "bank_event", "refund_to", "proposed_by", "decided_by")
    exclude = ("payee_iban",)  # shown masked ("refund to"), never in full

    def get_readonly_fields(self, request, obj=None):
        return [*(f for f in super().get_readonly_fields(request, obj) if f != "payee_iban"),
                "refund_to"]

    @admin.display(description="refund to")
    def refund_to(self, obj: SuspenseAllocation) -> str:
        if obj.kind != AllocationKind.REFUND:
            return "-"
        iban = obj.payee_iban or ""
        return f"{obj.payee_name} ({iban[:4]} **** {iban[-4:]})"
    list_filter = ("status", "kind", "currency")
    search_fields = ("reference", "bank_event__event_id")
    list_select_related = ("bank_event", "proposed_by", "decided_by")
    actions = ["approve", "reject"]

    def has_decide_permission(self, request) -> bool:
        return _has_perm(request, "approve_allocation")

    @admin.action(description="Approve (four eyes: not one you proposed)",
                  permissions=["decide"])
    def approve(self, request, queryset):
        for allocation in queryset.filter(status=AllocationStatus.PROPOSED):
            try:
                allocation_approve(allocation=allocation, actor=request.user)
            except ApplicationError as exc:
                self.message_user(request, f"{allocation}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"{allocation.reference}: posted.")

    @admin.action(description="Reject (reason required)", permissions=["decide"])
    def reject(self, request, queryset):
        proposed = list(queryset.filter(status=AllocationStatus.PROPOSED))
        if not proposed:
            self.message_user(request, "Only proposed allocations can be rejected.",
                              messages.ERROR)
            return None
        form = ReasonForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            for allocation in proposed:
                try:
                    allocation_reject(allocation=allocation, actor=request.user,
                                      reason=form.cleaned_data["reason"])
                except ApplicationError as exc:
                    self.message_user(request, f"{allocation}: {exc.message}", messages.ERROR)
            return None
        return TemplateResponse(request, "admin/reason_action.html", {
            **self.admin_site.each_context(request), "title": "Reject allocations",
            "objects": proposed, "form": form, "action": "reject", "opts": self.model._meta,
        })

    def get_urls(self):
        return [
            path("receipt/", self.admin_site.admin_view(self.receipt_view),
                 name="settlements_suspenseallocation_receipt"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {
            **(extra_context or {}), "can_propose": _has_perm(request, "propose_allocation"),
        })

    def receipt_view(self, request):
        if not _has_perm(request, "propose_allocation"):
            raise PermissionDenied
        form = ReceiptForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                allocation = allocation_propose(actor=request.user, **form.cleaned_data)
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                self.message_user(request, f"Proposed: {allocation}. Another finance user "
                                  "must approve it.")
                return redirect(reverse("admin:settlements_suspenseallocation_changelist"))
        return TemplateResponse(request, "admin/settlements/payoutbatch/form.html", {
            **self.admin_site.each_context(request), "opts": self.model._meta,
            "title": "Record a bank receipt (manual repayment or deposit entry)", "form": form,
        })

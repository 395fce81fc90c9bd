"""Back office for the ledger and its on-chain mirror: read-only, nothing deletable."""

from django.contrib import admin, messages
from django.template.response import TemplateResponse

from compliance.public import AuditHistoryMixin
from paymint.core.admin import ReadOnlyAdmin, ReadOnlyInline, ReasonForm
from paymint.core.errors import ApplicationError

from .models import (
    BankEvent,
    ChainTransaction,
    ChainTransactionEvent,
    JournalEntry,
    LedgerAccount,
    Posting,
    Settlement,
    StellarAccount,
)
from .stellar.enums import ChainTxStatus
from .stellar.outbox import chain_tx_requeue


class PostingInline(ReadOnlyInline):
    model = Posting
    fields = ("leg", "account", "amount", "currency", "memo")


@admin.register(JournalEntry)
class JournalEntryAdmin(AuditHistoryMixin, ReadOnlyAdmin):
    list_display = ("created_at", "kind", "description", "currency", "invoice", "effective_date")
    list_filter = ("kind", "currency")
    search_fields = ("idempotency_key", "description")
    inlines = [PostingInline]


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ReadOnlyAdmin):
    list_display = ("key", "kind", "currency", "owner", "invoice")
    list_filter = ("kind", "currency")
    search_fields = ("key", "owner__email")


@admin.register(BankEvent)
class BankEventAdmin(AuditHistoryMixin, ReadOnlyAdmin):
    list_display = ("event_id", "event_type", "reference", "amount", "currency", "status",
                    "created_at")
    list_filter = ("event_type", "status")
    search_fields = ("event_id", "reference")


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

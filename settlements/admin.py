"""Back office for the ledger: read-only, nothing deletable."""

from django.contrib import admin

from paymint.core.admin import ReadOnlyAdmin, ReadOnlyInline

from .models import BankEvent, JournalEntry, LedgerAccount, Posting, Settlement


class PostingInline(ReadOnlyInline):
    model = Posting
    fields = ("leg", "account", "amount", "currency", "memo")


@admin.register(JournalEntry)
class JournalEntryAdmin(ReadOnlyAdmin):
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
class BankEventAdmin(ReadOnlyAdmin):
    list_display = ("event_id", "event_type", "reference", "amount", "currency", "status",
                    "created_at")
    list_filter = ("event_type", "status")
    search_fields = ("event_id", "reference")


@admin.register(Settlement)
class SettlementAdmin(ReadOnlyAdmin):
    list_display = ("invoice", "repaid_amount", "currency", "status", "completed_at")
    list_filter = ("status",)

"""Back office for the ledger: read-only, nothing deletable."""

from django.contrib import admin

from .models import BankEvent, JournalEntry, LedgerAccount, Posting, Settlement


class ReadOnlyAdmin(admin.ModelAdmin):
    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return request.method in ("GET", "HEAD") and super().has_view_permission(request, obj)


class PostingInline(admin.TabularInline):
    model = Posting
    extra = 0
    can_delete = False
    readonly_fields = ("leg", "account", "amount", "currency", "memo")
    fields = readonly_fields

    def has_add_permission(self, request, obj=None):
        return False


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

"""Back office for listings and investments: read-only."""

from django.contrib import admin

from compliance.public import AuditHistoryMixin
from paymint.core.admin import CurrencyFilter, ReadOnlyAdmin

from .models import Investment, Listing


class InvestmentInline(admin.TabularInline):
    model = Investment
    extra = 0
    can_delete = False
    readonly_fields = ("investor", "amount", "currency", "discount_rate", "expected_return",
                       "discount_fee", "repaid_amount", "status", "created_at")
    fields = readonly_fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Listing)
class ListingAdmin(AuditHistoryMixin, ReadOnlyAdmin):
    list_display = ("invoice", "currency", "advance_amount", "funded_amount", "investor_count",
                    "expires_at", "disbursed_on")
    list_select_related = ("invoice",)
    # Newest first by creation (a listing is created when it is listed): the order of the
    # listing_created_id index. The model's (-listed_at, -id) has no index: at 200,000
    # listings the page sorted them all (212 ms).
    ordering = ("-created_at", "-id")
    inlines = [InvestmentInline]


@admin.register(Investment)
class InvestmentAdmin(AuditHistoryMixin, ReadOnlyAdmin):
    list_display = ("investor", "listing", "amount", "currency", "status", "created_at")
    list_select_related = ("investor", "listing")
    list_filter = ("status", CurrencyFilter)

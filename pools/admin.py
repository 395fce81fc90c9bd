"""Back office of the liquidity pools: the pool with its figures, its holdings (each active
investment with its accrued fee, days-past-due bucket and provision), the share register, the
redemption queue and the daily NAV computations, all read-only; actions call one service each:
pause or resume deposits, pause allocation (four eyes: a second member of staff confirms),
resume allocation."""

from django.contrib import admin, messages
from django.utils.html import format_html, format_html_join

from paymint.core.admin import ReadOnlyAdmin, ReadOnlyInline
from paymint.core.errors import ApplicationError

from .models import NavSnapshot, Pool, PoolHolding, RedemptionRequest
from .selectors import pool_holdings, pool_stats
from .services import pool_allocation_pause, pool_settings_update


class PoolHoldingInline(ReadOnlyInline):
    model = PoolHolding
    fields = ("investor", "shares", "invested", "updated_at")


class RedemptionInline(ReadOnlyInline):
    model = RedemptionRequest
    fields = (
        "created_at",
        "investor",
        "shares",
        "shares_paid",
        "amount_paid",
        "status",
        "payable_from",
    )
    ordering = ("created_at", "id")


@admin.register(Pool)
class PoolAdmin(ReadOnlyAdmin):
    list_display = (
        "name",
        "currency",
        "shares_outstanding",
        "deposits_paused",
        "allocation_paused",
        "allocation_pause_requested_by",
    )
    fields = (
        "name",
        "currency",
        "account",
        "inception_date",
        "shares_outstanding",
        "deposits_paused",
        "allocation_paused",
        "allocation_pause_requested_by",
        "grades",
        "min_tenor_days",
        "max_tenor_days",
        "max_listing_share",
        "max_debtor_exposure",
        "max_seller_exposure",
        "cash_buffer_rate",
        "figures",
        "investments",
    )
    inlines = [PoolHoldingInline, RedemptionInline]
    actions = ["pause_deposits", "resume_deposits", "pause_allocation", "resume_allocation"]

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), "figures", "investments"]

    @admin.display(description="Figures now (NAV terms, provisions by bucket, queue)")
    def figures(self, obj: Pool) -> str:
        stats = pool_stats(pool=obj)
        nav = stats["nav"]
        return (
            f"cash {nav.cash:.2f} + principal {nav.principal:.2f} + accrued fee "
            f"{nav.accrued_fee:.2f} - provisions {nav.provisions:.2f} - redemptions owed "
            f"{nav.redemptions_owed:.2f} = {nav.net_assets} {obj.currency}; "
            f"NAV/share {nav.nav_per_share}; by bucket {stats['outstanding_by_bucket']}; "
            f"queue {stats['redemption_queue']['requests']} request(s)"
        )

    def has_change_pool_permission(self, request) -> bool:
        return request.user.has_perm("pools.change_pool")

    def _each(self, request, queryset, work, done: str) -> None:
        for pool in queryset:
            try:
                message = work(pool) or done
            except ApplicationError as exc:
                self.message_user(request, f"{pool}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"{pool}: {message}")

    @admin.action(description="Pause deposits", permissions=["change_pool"])
    def pause_deposits(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda p: (
                pool_settings_update(pool=p, actor=request.user, deposits_paused=True) and None
            ),
            "deposits paused",
        )

    @admin.action(description="Resume deposits", permissions=["change_pool"])
    def resume_deposits(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda p: (
                pool_settings_update(pool=p, actor=request.user, deposits_paused=False) and None
            ),
            "deposits resumed",
        )

    @admin.action(
        description="Pause allocation (four eyes: a second member of staff confirms)",
        permissions=["change_pool"],
    )
    def pause_allocation(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda p: (
                "allocation paused"
                if pool_allocation_pause(pool=p, actor=request.user).allocation_paused
                else "pause requested; another member of staff must confirm"
            ),
            "",
        )

    @admin.action(description="Resume allocation", permissions=["change_pool"])
    def resume_allocation(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda p: (
                pool_settings_update(pool=p, actor=request.user, allocation_paused=False) and None
            ),
            "allocation resumed",
        )


    @admin.display(description="Holdings (active investments, valued as the NAV values them)")
    def investments(self, obj: Pool) -> str:
        rows = pool_holdings(pool=obj)
        if not rows:
            return "None."
        head = format_html(
            "<tr>{}</tr>",
            format_html_join(
                "",
                '<th scope="col">{}</th>',
                (
                    (h,)
                    for h in (
                        "Invoice",
                        "Debtor",
                        "Grade",
                        "Due",
                        "Principal",
                        "Accrued fee",
                        "Days past due",
                        "Provision",
                    )
                ),
            ),
        )
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
            "<td>{}</td><td>{}</td></tr>",
            (
                (
                    r["invoice_number"],
                    r["debtor"],
                    r["grade"],
                    r["due_date"],
                    r["principal"],
                    r["accrued_fee"],
                    r["bucket"],
                    r["provision"],
                )
                for r in rows
            ),
        )
        return format_html("<table><thead>{}</thead><tbody>{}</tbody></table>", head, body)


@admin.register(NavSnapshot)
class NavSnapshotAdmin(ReadOnlyAdmin):
    """The NAV computation of each day: every term of the formula."""

    list_display = (
        "date",
        "pool",
        "cash",
        "principal",
        "accrued_fee",
        "provisions",
        "redemptions_owed",
        "net_assets",
        "shares_outstanding",
        "nav_per_share",
    )
    list_filter = ("pool",)
    date_hierarchy = "date"


@admin.register(RedemptionRequest)
class RedemptionRequestAdmin(ReadOnlyAdmin):
    """The redemption queue (first in, first out)."""

    list_display = (
        "created_at",
        "pool",
        "investor",
        "shares",
        "shares_paid",
        "amount_paid",
        "status",
        "payable_from",
    )
    list_filter = ("pool", "status")
    ordering = ("created_at", "id")

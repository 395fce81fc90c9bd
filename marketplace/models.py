"""Listings (an invoice offered for funding) and investments (the fractions investors fund)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from paymint.core.models import PublicModel
from paymint.core.tallies import Tally

from .enums import InvestmentStatus


class Listing(PublicModel):
    """The financing terms of a listed invoice, fixed when the seller lists it.

    Amounts in ``currency``; rates are fractions; the discount rate is annual, ACT/365.
    ``funded_amount`` is a counter updated with ``F()`` under this row's lock.
    """

    invoice = models.OneToOneField(
        "invoices.Invoice", on_delete=models.PROTECT, related_name="listing"
    )
    currency = models.CharField(max_length=3)
    face_value = models.DecimalField(max_digits=20, decimal_places=7)
    advance_rate = models.DecimalField(max_digits=9, decimal_places=6)
    advance_amount = models.DecimalField(max_digits=20, decimal_places=7)
    discount_rate = models.DecimalField(max_digits=9, decimal_places=6)
    platform_fee_rate = models.DecimalField(max_digits=9, decimal_places=6)
    platform_fee = models.DecimalField(max_digits=20, decimal_places=7)
    min_ticket = models.DecimalField(max_digits=20, decimal_places=7)
    min_fill_rate = models.DecimalField(
        max_digits=9, decimal_places=6, null=True, blank=True,
        help_text="If set, a listing at least this fraction funded at expiry is disbursed "
        "partially instead of cancelled.",
    )
    due_date = models.DateField()
    late_rate = models.DecimalField(
        max_digits=9, decimal_places=6,
        help_text="Annual late-interest rate (fraction, ACT/365) on what investors are owed "
        "once the invoice is overdue.",
    )
    late_fee_rate = models.DecimalField(
        max_digits=9, decimal_places=6,
        help_text="One-off platform late fee, fraction of the face value, due when overdue.",
    )
    recourse = models.BooleanField(
        default=True, help_text="On default the seller repays investors (recourse factoring)."
    )
    late_fee = models.DecimalField(max_digits=20, decimal_places=7, default=0)
    late_fee_paid = models.DecimalField(max_digits=20, decimal_places=7, default=0)
    funded_amount = models.DecimalField(max_digits=20, decimal_places=7, default=0)
    investor_count = models.PositiveIntegerField(default=0)
    listed_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    funded_at = models.DateTimeField(null=True, blank=True)
    disbursed_on = models.DateField(null=True, blank=True)
    is_open = models.BooleanField(
        default=False, editable=False,
        help_text="The invoice is LISTED (open for funding until expires_at). Kept by "
        "the database: the invoice status writer's UPDATE sets it, in its statement "
        "(marketplace migration 0003), so that the marketplace's open-listing test "
        "reads the listing alone and a partial index serves it.",
    )

    class Meta:
        ordering = ["-listed_at", "-id"]
        indexes = [
            # The marketplace list's order (-created_at, -id): chosen from EXPLAIN (ANALYZE,
            # BUFFERS) at 200,000 listings (migration 0002).
            models.Index(fields=["created_at", "id"], name="listing_created_id"),
            # The open listings alone, in the same order: the marketplace list and its filters
            # (migration 0004, EXPLAIN at 200,000 listings of which 20,000 open).
            models.Index(fields=["created_at", "id"], name="listing_open_created_id",
                         condition=Q(is_open=True)),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(funded_amount__gte=0, funded_amount__lte=F("advance_amount")),
                name="listing_never_overfunded",
            ),
            models.CheckConstraint(
                condition=Q(advance_amount__gt=0, advance_amount__lte=F("face_value")),
                name="listing_advance_within_face_value",
            ),
            models.CheckConstraint(
                condition=Q(advance_rate__gt=0, advance_rate__lte=1),
                name="listing_advance_rate_range",
            ),
            models.CheckConstraint(
                condition=Q(platform_fee__gte=0, platform_fee__lt=F("advance_amount")),
                name="listing_fee_below_advance",
            ),
            models.CheckConstraint(
                condition=Q(min_fill_rate__isnull=True)
                | Q(min_fill_rate__gt=0, min_fill_rate__lte=1),
                name="listing_min_fill_rate_range",
            ),
        ]

    def __str__(self) -> str:
        return f"Listing of {self.invoice_id}: {self.funded_amount}/{self.advance_amount}"

    @property
    def remaining_amount(self):
        return self.advance_amount - self.funded_amount


class Investment(PublicModel):
    """An investor's fraction of a listing, with the quote they accepted.

    The accepted ``discount_rate`` and ``expected_*`` figures are stored at funding time and never
    recomputed; ``discount_fee`` is fixed at disbursement (when the days are known) with the
    quote's own rule, :func:`invoices.pricing.investment_discount_fee` of ``amount`` (the
    invoice's discount fee is the sum of its investments' fees).
    """

    listing = models.ForeignKey(Listing, on_delete=models.PROTECT, related_name="investments")
    investor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="investments"
    )
    amount = models.DecimalField(max_digits=20, decimal_places=7)
    currency = models.CharField(max_length=3)
    discount_rate = models.DecimalField(max_digits=9, decimal_places=6)
    expected_days = models.PositiveIntegerField()
    expected_discount_fee = models.DecimalField(max_digits=20, decimal_places=7)
    expected_return = models.DecimalField(max_digits=20, decimal_places=7)
    discount_fee = models.DecimalField(max_digits=20, decimal_places=7, null=True, blank=True)
    # What has been paid back, by component, and late interest accrued (storage precision;
    # rounded to the minor unit once, when claimed).
    principal_repaid = models.DecimalField(max_digits=20, decimal_places=7, default=0)
    fee_repaid = models.DecimalField(max_digits=20, decimal_places=7, default=0)
    late_interest_accrued = models.DecimalField(max_digits=20, decimal_places=7, default=0)
    late_interest_repaid = models.DecimalField(max_digits=20, decimal_places=7, default=0)
    interest_accrued_through = models.DateField(null=True, blank=True)
    loss = models.DecimalField(max_digits=20, decimal_places=7, default=0)
    repaid_amount = models.DecimalField(max_digits=20, decimal_places=7, default=0)
    status = models.CharField(
        max_length=10, choices=InvestmentStatus.choices, default=InvestmentStatus.ACTIVE
    )
    idempotency_key = models.CharField(max_length=255, blank=True)
    request_fingerprint = models.CharField(max_length=64, blank=True)
    funding_entry = models.OneToOneField(
        "settlements.JournalEntry", on_delete=models.PROTECT, related_name="investment"
    )

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="investment_amount_positive"),
            models.CheckConstraint(condition=Q(principal_repaid__lte=F("amount")),
                                   name="investment_principal_not_overpaid"),
            models.UniqueConstraint(
                fields=["investor", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="investment_unique_idempotency_key",
            ),
        ]


class InvestmentTotal(models.Model):
    """Investments summed per (status, currency): ``investments`` (how many), ``amount`` and
    ``principal_repaid`` (sums, in ``currency``) - the back office's outstanding principal
    without reading every investment. A tally (:mod:`paymint.core.tallies`): appended to by
    PostgreSQL triggers in the statement that writes the investments (migration 0005), folded
    by beat; read by summing the rows of a key. Nothing else writes here."""

    status = models.CharField(max_length=12)
    currency = models.CharField(max_length=3)
    investments = models.BigIntegerField()
    amount = models.DecimalField(max_digits=30, decimal_places=7)
    principal_repaid = models.DecimalField(max_digits=30, decimal_places=7)

    def __str__(self) -> str:
        return f"{self.status} {self.currency}: {self.investments}"


#: :class:`InvestmentTotal` as a tally (registered in ``MarketplaceConfig.ready``).
INVESTMENT_TOTALS = Tally(table="marketplace_investmenttotal", keys=("status", "currency"),
                          sums=("investments", "amount", "principal_repaid"),
                          lock_key=0x1ED6E7_0005)

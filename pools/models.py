"""Passive investing: auto-invest rules (an investor's standing order to fund listings that
match) and their log. Amounts in the listing's currency (``DecimalField(20, 7)``), rates as
annual fractions (ACT/365), tenors in days."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from paymint.core.models import PublicModel, TimeStampedModel

from .enums import AutoInvestOutcome, RedemptionStatus


class AutoInvestRule(PublicModel):
    """An investor's auto-invest rule: when a listing opens that matches it (currency, grade,
    tenor, minimum discount rate), fund ``amount_per_invoice`` of it through the ordinary
    funding service, within ``max_per_debtor`` of outstanding principal on the listing's
    debtor and keeping ``cash_to_keep`` in the wallet. Amounts apply in each of
    ``currencies`` (in that currency's units). ``last_invested_at`` drives the fair order:
    the rule served least recently goes first."""

    investor = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="auto_invest_rule"
    )
    currencies = models.JSONField(default=list, help_text='ISO 4217 codes, e.g. ["EUR"].')
    grades = models.JSONField(default=list, help_text='Risk grades, e.g. ["A", "B"].')
    min_tenor_days = models.PositiveIntegerField(default=0)
    max_tenor_days = models.PositiveIntegerField(default=365)
    min_discount_rate = models.DecimalField(
        max_digits=9,
        decimal_places=6,
        default=0,
        help_text="Minimum annual discount rate of the listing (fraction, ACT/365).",
    )
    amount_per_invoice = models.DecimalField(max_digits=20, decimal_places=7)
    max_per_debtor = models.DecimalField(max_digits=20, decimal_places=7)
    cash_to_keep = models.DecimalField(max_digits=20, decimal_places=7, default=0)
    paused = models.BooleanField(default=False)
    last_invested_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(amount_per_invoice__gt=0), name="auto_invest_amount_positive"
            ),
            models.CheckConstraint(
                condition=Q(max_per_debtor__gte=F("amount_per_invoice")),
                name="auto_invest_debtor_cap_above_amount",
            ),
            models.CheckConstraint(
                condition=Q(cash_to_keep__gte=0), name="auto_invest_cash_to_keep_non_negative"
            ),
            models.CheckConstraint(
                condition=Q(min_tenor_days__lte=F("max_tenor_days")), name="auto_invest_tenor_range"
            ),
        ]

    def __str__(self) -> str:
        return f"Auto-invest of {self.investor_id}"


class AutoInvestLog(PublicModel):
    """What one auto-invest rule did with one listing: the investment it made (with the quote
    stored on the investment) or why it skipped. One row per investor and listing; a later run
    (the beat job) may turn a skip into an investment. ``rule_snapshot`` is the rule as it was
    when it acted."""

    investor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="auto_invest_logs"
    )
    rule = models.ForeignKey(
        AutoInvestRule,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="logs",
        help_text="Empty for a pool's allocation (its policy is in the snapshot).",
    )
    listing = models.ForeignKey(
        "marketplace.Listing", on_delete=models.PROTECT, related_name="auto_invest_logs"
    )
    investment = models.OneToOneField(
        "marketplace.Investment",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="auto_invest_log",
    )
    outcome = models.CharField(max_length=10, choices=AutoInvestOutcome.choices)
    reason = models.CharField(max_length=60, blank=True, help_text="The refusal's error code.")
    amount = models.DecimalField(max_digits=20, decimal_places=7, null=True, blank=True)
    currency = models.CharField(max_length=3)
    rule_snapshot = models.JSONField(default=dict)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["investor", "listing"], name="auto_invest_log_once_per_listing"
            ),
        ]


class Pool(PublicModel):
    """A liquidity pool: one per currency, owned by the platform.

    Its money is in the ledger: its cash is the ``INVESTOR_CASH`` account of ``account`` (a
    platform-owned investor user), its investments are ordinary ``Investment`` rows whose
    investor is ``account``. ``shares_outstanding`` is the share register's total, changed
    only under this row's lock, with the holdings it sums. Policy fields: which listings it
    funds (grades, tenor in days), how much of each (``max_listing_share`` of the advance, a
    fraction), exposure caps per debtor and per seller (currency units, outstanding
    principal), and the cash buffer kept for redemptions (a fraction of net assets).
    """

    currency = models.CharField(max_length=3, unique=True)
    name = models.CharField(max_length=100)
    account = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="pool"
    )
    shares_outstanding = models.DecimalField(max_digits=30, decimal_places=10, default=0)
    inception_date = models.DateField()
    deposits_paused = models.BooleanField(default=False)
    allocation_paused = models.BooleanField(default=False)
    allocation_pause_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Staff who asked to pause allocation; a second member of "
        "staff confirms (four eyes).",
    )
    grades = models.JSONField(default=list)
    min_tenor_days = models.PositiveIntegerField(default=7)
    max_tenor_days = models.PositiveIntegerField(default=180)
    max_listing_share = models.DecimalField(max_digits=9, decimal_places=6, default="0.25")
    max_debtor_exposure = models.DecimalField(max_digits=20, decimal_places=7)
    max_seller_exposure = models.DecimalField(max_digits=20, decimal_places=7)
    cash_buffer_rate = models.DecimalField(max_digits=9, decimal_places=6, default="0.10")
    last_allocated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(shares_outstanding__gte=0), name="pool_shares_non_negative"
            ),
            models.CheckConstraint(
                condition=Q(max_listing_share__gt=0, max_listing_share__lte=1),
                name="pool_listing_share_range",
            ),
            models.CheckConstraint(
                condition=Q(cash_buffer_rate__gte=0, cash_buffer_rate__lt=1),
                name="pool_cash_buffer_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class PoolHolding(PublicModel):
    """One investor's line in a pool's share register: ``shares`` (10 decimals) and
    ``invested`` (what the shares cost, less the cost of shares redeemed, currency units:
    the basis of the gain shown)."""

    pool = models.ForeignKey(Pool, on_delete=models.PROTECT, related_name="holdings")
    investor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="pool_holdings"
    )
    shares = models.DecimalField(max_digits=30, decimal_places=10, default=0)
    invested = models.DecimalField(max_digits=20, decimal_places=7, default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["pool", "investor"], name="pool_holding_unique"),
            models.CheckConstraint(condition=Q(shares__gte=0), name="pool_holding_shares_gte_0"),
        ]


class PoolDeposit(PublicModel):
    """Shares bought with cash: ``amount`` (currency units) at ``nav_per_share``, one ledger
    entry (investor cash -> pool cash). Idempotent per investor and key."""

    pool = models.ForeignKey(Pool, on_delete=models.PROTECT, related_name="deposits")
    investor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="pool_deposits"
    )
    amount = models.DecimalField(max_digits=20, decimal_places=7)
    shares = models.DecimalField(max_digits=30, decimal_places=10)
    nav_per_share = models.DecimalField(max_digits=30, decimal_places=10)
    entry = models.OneToOneField(
        "settlements.JournalEntry", on_delete=models.PROTECT, related_name="pool_deposit"
    )
    idempotency_key = models.CharField(max_length=255, blank=True)
    request_fingerprint = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gt=0, shares__gt=0), name="pool_deposit_positive"
            ),
            models.UniqueConstraint(
                fields=["investor", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="pool_deposit_unique_key",
            ),
        ]


class RedemptionRequest(PublicModel):
    """A request to sell ``shares`` back to the pool, paid first-in first-out (by
    ``created_at``, ``id``) from the pool's uninvested cash, at the NAV per share of the day
    each part is paid; ``shares_paid`` and ``amount_paid`` grow with each partial fill. Not
    paid before ``payable_from`` (the notice period)."""

    pool = models.ForeignKey(Pool, on_delete=models.PROTECT, related_name="redemptions")
    investor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="pool_redemptions"
    )
    shares = models.DecimalField(max_digits=30, decimal_places=10)
    shares_paid = models.DecimalField(max_digits=30, decimal_places=10, default=0)
    amount_paid = models.DecimalField(max_digits=20, decimal_places=7, default=0)
    status = models.CharField(
        max_length=10, choices=RedemptionStatus.choices, default=RedemptionStatus.QUEUED
    )
    payable_from = models.DateField()
    idempotency_key = models.CharField(max_length=255, blank=True)
    request_fingerprint = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(shares__gt=0), name="redemption_shares_positive"),
            models.CheckConstraint(
                condition=Q(shares_paid__gte=0, shares_paid__lte=F("shares")),
                name="redemption_paid_within_shares",
            ),
            models.UniqueConstraint(
                fields=["investor", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="redemption_unique_key",
            ),
        ]

    @property
    def shares_left(self):
        return self.shares - self.shares_paid


class RedemptionPayment(TimeStampedModel):
    """One (partial) payment of a redemption: ``shares`` at ``nav_per_share`` for ``amount``,
    one ledger entry (pool cash -> investor cash)."""

    request = models.ForeignKey(
        RedemptionRequest, on_delete=models.PROTECT, related_name="payments"
    )
    shares = models.DecimalField(max_digits=30, decimal_places=10)
    amount = models.DecimalField(max_digits=20, decimal_places=7)
    nav_per_share = models.DecimalField(max_digits=30, decimal_places=10)
    entry = models.OneToOneField(
        "settlements.JournalEntry",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="pool_redemption_payment",
        help_text="Empty for a part worth less than the minor unit (shares retired, nothing paid).",
    )


class NavSnapshot(TimeStampedModel):
    """A pool's NAV on one business day (the daily job, or the first computation of the day;
    recomputed during the day, the row keeps the latest): each term of the formula, the net
    assets (currency units, rounded once), the shares outstanding and the NAV per share."""

    pool = models.ForeignKey(Pool, on_delete=models.PROTECT, related_name="nav_history")
    date = models.DateField()
    cash = models.DecimalField(max_digits=20, decimal_places=7)
    principal = models.DecimalField(max_digits=20, decimal_places=7)
    accrued_fee = models.DecimalField(max_digits=20, decimal_places=7)
    provisions = models.DecimalField(max_digits=20, decimal_places=7)
    redemptions_owed = models.DecimalField(max_digits=20, decimal_places=7, default=0)
    net_assets = models.DecimalField(max_digits=20, decimal_places=7)
    shares_outstanding = models.DecimalField(max_digits=30, decimal_places=10)
    nav_per_share = models.DecimalField(max_digits=30, decimal_places=10)
    breakdown = models.JSONField(default=dict)

    class Meta:
        ordering = ["date"]
        constraints = [
            models.UniqueConstraint(fields=["pool", "date"], name="nav_snapshot_once_a_day"),
        ]

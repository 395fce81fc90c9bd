"""Choices of passive investing."""

from django.db import models


class AutoInvestOutcome(models.TextChoices):
    INVESTED = "INVESTED", "Invested"
    SKIPPED = "SKIPPED", "Skipped (the funding service refused, or nothing to invest)"


class AutoInvestSkip(models.TextChoices):
    """Why a rule put nothing into a listing before asking the funding service (whose own
    refusals are logged with their error code)."""

    NOTHING_LEFT = "NOTHING_LEFT", "The listing was fully funded"
    NO_CASH_ABOVE_KEEP = "NO_CASH_ABOVE_KEEP", "No cash above the amount to keep"
    DEBTOR_CAP_REACHED = "DEBTOR_CAP_REACHED", "The rule's maximum on this debtor is reached"
    AMOUNT_BELOW_MIN_TICKET = "AMOUNT_BELOW_MIN_TICKET", "What the rule allows is below the ticket"


class RedemptionStatus(models.TextChoices):
    """A redemption request: queued (FIFO, possibly partly paid), paid in full, cancelled
    (only while queued; the shares not yet paid go back to the holder)."""

    QUEUED = "QUEUED", "Queued"
    PAID = "PAID", "Paid"
    CANCELLED = "CANCELLED", "Cancelled"


#: Provision buckets: the aging buckets of ``invoices.pricing`` and ``DEFAULT`` (90+ days past
#: due, defaulted or written off).
PROVISION_BUCKETS = ("current", "1-30", "31-60", "61-90", "default")

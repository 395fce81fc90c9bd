"""Invoices: the uploaded document, what was read from it, its checks, score and offer."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q

from paymint.core.models import PublicModel
from paymint.core.tallies import Tally

from .enums import DebtorIndustry, InvoiceStatus, RiskGrade


def new_repayment_reference() -> str:
    """Reference the debtor quotes when paying, e.g. ``INV-4KX9QM2T7P``."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "INV-" + "".join(secrets.choice(alphabet) for _ in range(10))


def document_upload_to(instance: Invoice, filename: str) -> str:
    # Private path keyed by the seller's and invoice's UUIDs; never the client's filename.
    ext = instance.document_extension
    return f"invoices/{instance.seller.public_id}/{instance.public_id}.{ext}"


class Invoice(PublicModel):
    """An invoice a seller (originator) wants financed.

    Money fields are in ``currency`` (ISO 4217): ``face_value`` is the invoice's grand total
    incl. tax, the amount the debtor owes. Rates are fractions (``0.10`` = 10 % a year).
    """

    seller = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="invoices"
    )
    status = models.CharField(
        max_length=20, choices=InvoiceStatus.choices, default=InvoiceStatus.UPLOADED
    )

    # The document, stored privately.
    document = models.FileField(upload_to=document_upload_to, max_length=300)
    document_sha256 = models.CharField(max_length=64, db_index=True)
    document_phash = models.CharField(max_length=16, blank=True, db_index=True,
                                      help_text="Perceptual hash of the first page")
    fingerprint = models.CharField(max_length=64, blank=True, db_index=True,
                                   help_text="Normalized invoice identity (double financing)")
    document_content_type = models.CharField(max_length=64)
    document_size = models.PositiveIntegerField()
    original_filename = models.CharField(max_length=255, blank=True)

    # Extraction output (values + confidence per field) and the method used.
    extraction = models.JSONField(default=dict, blank=True)
    extraction_method = models.CharField(max_length=20, blank=True)
    extraction_error_code = models.CharField(max_length=40, blank=True)
    extraction_error_message = models.CharField(max_length=300, blank=True)

    # The fields as confirmed by the seller (start as the extracted values).
    invoice_number = models.CharField(max_length=100, blank=True)
    issuer_name = models.CharField(max_length=200, blank=True)
    issuer_tax_id = models.CharField(max_length=32, blank=True)
    debtor_name = models.CharField(max_length=200, blank=True)
    debtor_tax_id = models.CharField(max_length=32, blank=True)
    debtor_industry = models.CharField(max_length=1, choices=DebtorIndustry.choices, blank=True)
    debtor_key = models.CharField(
        max_length=200, blank=True, db_index=True,
        help_text="Normalized debtor identity (tax id, else name) for exposure and history",
    )
    currency = models.CharField(max_length=3, blank=True)
    face_value = models.DecimalField(max_digits=20, decimal_places=7, null=True, blank=True)
    amount_due = models.DecimalField(max_digits=20, decimal_places=7, null=True, blank=True)
    issue_date = models.DateField(null=True, blank=True)
    due_date = models.DateField(null=True, blank=True)

    # Verification, risk and the offer (set by services, read-only for clients).
    verification = models.JSONField(default=list, blank=True)
    risk_score = models.PositiveSmallIntegerField(null=True, blank=True)
    risk_grade = models.CharField(max_length=1, choices=RiskGrade.choices, blank=True)
    risk_factors = models.JSONField(default=list, blank=True)
    probability_of_default = models.DecimalField(
        max_digits=9, decimal_places=6, null=True, blank=True,
        help_text="Estimated probability of default of the grade (fraction), for calibration",
    )
    advance_rate = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    discount_rate = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)

    ops_verified_at = models.DateTimeField(null=True, blank=True,
                                           help_text="Checked by operations staff")
    ops_verified_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                        on_delete=models.PROTECT, related_name="+")
    disputed_at = models.DateTimeField(null=True, blank=True,
                                       help_text="Marked disputed: cannot be listed or funded")
    dispute_reason = models.TextField(blank=True)
    debtor_confirmed_at = models.DateTimeField(
        null=True, blank=True, help_text="When the debtor confirmed the invoice (signed link)"
    )

    repayment_reference = models.CharField(
        max_length=20, unique=True, default=new_repayment_reference, editable=False
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["seller", "invoice_number", "debtor_name"]),
            # The ops invoice list's order (-created_at, -id), and the same under a status
            # filter: chosen from EXPLAIN (ANALYZE, BUFFERS) at 1M invoices (migration 0007).
            models.Index(fields=["created_at", "id"], name="invoice_created_id"),
            models.Index(fields=["status", "created_at", "id"],
                         name="invoice_status_created_id"),
            # The seller's own invoices newest first, and their count per status (index-only):
            # the seller dashboard and the seller's API list (migration 0011).
            models.Index(fields=["seller", "created_at", "id"], include=["status"],
                         name="invoice_seller_created_id"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=InvoiceStatus.values), name="invoice_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(advance_rate__isnull=True)
                | Q(advance_rate__gt=0, advance_rate__lte=1),
                name="invoice_advance_rate_range",
            ),
            models.CheckConstraint(
                condition=Q(discount_rate__isnull=True)
                | Q(discount_rate__gte=0, discount_rate__lt=1),
                name="invoice_discount_rate_range",
            ),
            models.CheckConstraint(
                condition=Q(risk_score__isnull=True) | Q(risk_score__lte=100),
                name="invoice_risk_score_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.invoice_number or self.public_id} ({self.status})"

    @property
    def document_extension(self) -> str:
        return {
            "application/pdf": "pdf",
            "image/png": "png",
            "image/jpeg": "jpg",
            "application/xml": "xml",
            "application/json": "json",
        }.get(self.document_content_type, "bin")

    @property
    def tenor_days(self) -> int | None:
        """Days from the issue date to the due date."""
        if self.issue_date and self.due_date:
            return (self.due_date - self.issue_date).days
        return None


class InvoiceStatusEvent(models.Model):
    """Append-only audit row per status change: from, to, who, why, when."""

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="events")
    from_status = models.CharField(max_length=20, choices=InvoiceStatus.choices, blank=True)
    to_status = models.CharField(max_length=20, choices=InvoiceStatus.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT
    )
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.from_status or '-'} -> {self.to_status}"


class DebtorConfirmation(PublicModel):
    """A request to the debtor to confirm (or dispute) that an invoice is genuine and unpaid,
    answered through a signed, expiring link (no account needed)."""

    class Status(models.TextChoices):
        REQUESTED = "REQUESTED", "Requested"
        CONFIRMED = "CONFIRMED", "Confirmed by the debtor"
        DISPUTED = "DISPUTED", "Disputed by the debtor"

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT,
                                related_name="debtor_confirmations")
    email = models.EmailField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.REQUESTED)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    expires_at = models.DateTimeField()
    responded_at = models.DateTimeField(null=True, blank=True)
    response_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.email}: {self.status}"


class InvoiceTotal(models.Model):
    """Invoices counted per (status, risk grade, currency), with their face value summed (in
    ``currency``; blank grade and currency before pricing and extraction) - the back office's
    default rates without reading every invoice. A tally (:mod:`paymint.core.tallies`):
    appended to by PostgreSQL triggers in the statement that writes the invoices (migration
    0008), folded by beat; read by summing the rows of a key. Nothing else writes here."""

    status = models.CharField(max_length=20)
    risk_grade = models.CharField(max_length=1, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    invoices = models.BigIntegerField()
    face_value = models.DecimalField(max_digits=30, decimal_places=7)

    def __str__(self) -> str:
        return f"{self.status} {self.risk_grade} {self.currency}: {self.invoices}"


class OverdueBookTotal(models.Model):
    """The overdue book - invoices OVERDUE or DEFAULTED with a due date - counted per (status,
    currency, due date), with their face value summed (in ``currency``): the back office's aging
    table and its 12-month history read a few rows per due date, not every overdue invoice.
    A tally (:mod:`paymint.core.tallies`) kept by PostgreSQL triggers (migration 0010), folded
    by beat; read by summing the rows of a key. Nothing else writes here."""

    status = models.CharField(max_length=20)
    currency = models.CharField(max_length=3, blank=True)
    due_date = models.DateField()
    invoices = models.BigIntegerField()
    face_value = models.DecimalField(max_digits=30, decimal_places=7)

    def __str__(self) -> str:
        return f"{self.status} {self.currency} {self.due_date}: {self.invoices}"


#: :class:`InvoiceTotal` as a tally (registered in ``InvoicesConfig.ready``).
INVOICE_TOTALS = Tally(table="invoices_invoicetotal", keys=("status", "risk_grade", "currency"),
                       sums=("invoices", "face_value"), lock_key=0x1ED6E7_0008)
#: :class:`OverdueBookTotal` as a tally (registered in ``InvoicesConfig.ready``).
OVERDUE_BOOK_TOTALS = Tally(table="invoices_overduebooktotal",
                            keys=("status", "currency", "due_date"),
                            sums=("invoices", "face_value"), lock_key=0x1ED6E7_0010)

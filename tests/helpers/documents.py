"""Real invoices from ``../shared/invoices`` taken through the real upload, extraction,
scoring and listing services (use :mod:`tests.factories` when reading the document is not the
point of the test)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from invoices.services import (
    invoice_run_extraction,
    invoice_score,
    invoice_submit,
    invoice_update_fields,
    invoice_upload,
)
from marketplace.services import listing_create
from paymint.core import clock

SHARED_INVOICES = Path(settings.BASE_DIR).parent / "shared" / "invoices"
MUSTANG_PDF = SHARED_INVOICES / "zugferd" / "MustangGnuaccountingBeispielRE-20201121_508.pdf"
LISTING_DAY = dt.date(2020, 11, 22)  # day after the Mustang invoice's issue
MUSTANG_DUE = dt.date(2020, 12, 12)


def mustang_bytes(variant: str = "") -> bytes:
    """The Mustang PDF; a non-empty ``variant`` appends a PDF comment so the bytes (and hash)
    differ while the embedded e-invoice still reads the same."""
    data = MUSTANG_PDF.read_bytes()
    return data + f"\n%{variant}\n".encode() if variant else data


def uploaded(data: bytes, name: str = "invoice.pdf", content_type: str = "application/pdf"):
    """``data`` as the uploaded file a browser or the mobile app would send."""
    return SimpleUploadedFile(name, data, content_type=content_type)


def priced_invoice(seller, *, variant: str = "", invoice_number: str | None = None):
    """Upload + extract + (optional renumber) + submit + score through the services."""
    with clock.frozen_at(LISTING_DAY):
        invoice = invoice_upload(seller=seller, uploaded_file=uploaded(mustang_bytes(variant)))
        invoice = invoice_run_extraction(invoice_id=invoice.pk)
        if invoice_number is not None:
            invoice = invoice_update_fields(invoice=invoice, actor=seller,
                                            changes={"invoice_number": invoice_number})
        invoice = invoice_submit(invoice=invoice, actor=seller)
        invoice = invoice_score(invoice_id=invoice.pk)
    invoice.refresh_from_db()
    return invoice


def listed_invoice(seller, *, variant: str = "", invoice_number: str | None = None,
                   advance_rate=None):
    """A LISTED Mustang invoice (listed on :data:`LISTING_DAY`); returns its Listing."""
    invoice = priced_invoice(seller, variant=variant, invoice_number=invoice_number)
    with clock.frozen_at(LISTING_DAY):
        return listing_create(invoice=invoice, seller=seller, advance_rate=advance_rate)


def list_mustang_invoice(seller, *, min_fill_rate=None):
    """Like :func:`listed_invoice`, with the seller's optional minimum fill."""
    invoice = priced_invoice(seller)
    with clock.frozen_at(LISTING_DAY):
        return listing_create(invoice=invoice, seller=seller, min_fill_rate=min_fill_rate)

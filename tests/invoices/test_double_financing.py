"""Double-financing detection across sellers: exact document, look-alike page, normalized
invoice identity. A hit refuses the submission (or the listing) and raises one compliance
alert with both documents, which ops compare side by side in the admin."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import TestCase
from django.urls import reverse
from PIL import Image

from compliance.enums import AlertKind, AlertSeverity
from compliance.models import ComplianceAlert
from invoices.enums import InvoiceStatus
from invoices.services import invoice_submit, invoice_update_fields, invoice_upload
from paymint.core import clock
from paymint.core.errors import ApplicationError
from tests.helpers import LISTING_DAY, SHARED_INVOICES, make_user, mustang_bytes


@pytest.fixture
def rival(staff):
    """Another approved seller (a different company)."""
    return make_user(
        "SELLER",
        "rival@example.com",
        kyc={"legal_name": "Rival GmbH", "country": "DE", "tax_id": "DE129273398"},
        approve_by=staff,
    )


def upload(seller, data: bytes, name="invoice.pdf"):
    with TestCase.captureOnCommitCallbacks(execute=True):
        invoice = invoice_upload(seller=seller, uploaded_file=SimpleUploadedFile(name, data))
    invoice.refresh_from_db()
    return invoice


def submit(invoice, seller):
    with clock.frozen_at(LISTING_DAY), TestCase.captureOnCommitCallbacks(execute=True):
        return invoice_submit(invoice=invoice, actor=seller)


def refused(invoice, seller) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        submit(invoice, seller)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.EXTRACTED  # nothing of the submission written
    return caught.value


@pytest.fixture
def first(seller):
    invoice = upload(seller, mustang_bytes())
    submit(invoice, seller)
    return invoice


def test_the_same_file_from_another_seller_is_blocked_with_a_high_alert(first, rival):
    copy = upload(rival, mustang_bytes())
    error = refused(copy, rival)
    assert (error.code, error.http_status) == ("DUPLICATE_DOCUMENT", 409)
    alert = ComplianceAlert.objects.get()
    assert alert.kind == AlertKind.DOUBLE_FINANCING
    assert alert.severity == AlertSeverity.HIGH
    assert {alert.invoice_id, alert.related_invoice_id} == {copy.pk, first.pk}
    assert "by_hash" in alert.evidence["detectors"]
    # Trying again raises no second alert for the same pair.
    refused(copy, rival)
    assert ComplianceAlert.objects.count() == 1


def test_a_resaved_copy_is_caught_by_its_page_image(first, rival):
    resaved = upload(rival, mustang_bytes("resaved"))  # other bytes, same page
    assert resaved.document_sha256 != first.document_sha256
    assert resaved.document_phash == first.document_phash
    invoice_update_fields(invoice=resaved, actor=rival, changes={"debtor_name": "T. Est"})
    error = refused(resaved, rival)
    assert error.code == "DUPLICATE_DOCUMENT_IMAGE"
    assert ComplianceAlert.objects.get().evidence["detectors"] == ["by_image"]


def test_the_same_invoice_typed_differently_is_caught_by_its_fingerprint(first, rival):
    other_page = (SHARED_INVOICES / "invoice2data" / "AzureInterior.pdf").read_bytes()
    retyped = upload(rival, other_page)
    invoice_update_fields(
        invoice=retyped,
        actor=rival,
        changes={
            "invoice_number": "re 20201121 / 508",
            "debtor_name": "THEODOR EST.",
            "issuer_tax_id": "DE 136 695 976",
            "face_value": "571.04",
            "currency": "EUR",
            "issue_date": "2020-11-21",
            "due_date": "2020-12-12",
            "issuer_name": "Bei Spiel",
        },
    )
    error = refused(retyped, rival)
    assert error.code == "DUPLICATE_INVOICE"
    assert "by_fingerprint" in ComplianceAlert.objects.get().evidence["detectors"]


def test_other_invoices_from_the_same_template_are_not_duplicates(first, seller):
    """Mustang 507 has the same layout, seller, debtor and amount as 508 (page hash distance
    0) but another number and date: a different invoice."""
    sibling_pdf = SHARED_INVOICES / "zugferd" / "MustangGnuaccountingBeispielRE-20190610_507.pdf"
    sibling = upload(seller, sibling_pdf.read_bytes())
    assert sibling.document_phash == first.document_phash
    # (its embedded XML carries the placeholder buyer VAT id DE999999999, not on the page)
    invoice_update_fields(
        invoice=sibling,
        actor=seller,
        changes={"issue_date": "2020-11-20", "due_date": "2020-12-20", "debtor_tax_id": ""},
    )
    submit(sibling, seller)
    sibling.refresh_from_db()
    assert sibling.status == InvoiceStatus.PRICED
    assert not ComplianceAlert.objects.exists()


def test_ops_compare_both_documents_side_by_side(first, rival, ops_client, client):
    copy = upload(rival, mustang_bytes())
    refused(copy, rival)
    alert = ComplianceAlert.objects.get()
    client = ops_client
    page = client.get(reverse("admin:compliance_compliancealert_change", args=[alert.pk]))
    assert page.status_code == 200
    for invoice in (first, copy):
        url = reverse("admin:invoices_invoice_document", args=[invoice.pk])
        assert url.encode() in page.content
        document = client.get(url, follow=True)  # to a signed, staff-bound download URL
        assert document.status_code == 200
        assert document["Content-Disposition"].startswith("attachment")
        # The first pages shown inline are PayMint's own PNG renderings.
        preview_url = reverse("admin:invoices_invoice_preview", args=[invoice.pk])
        assert f'<img src="{preview_url}"'.encode() in page.content
        preview = client.get(preview_url)
        assert preview.status_code == 200 and preview["Content-Type"] == "image/png"
        assert preview.content.startswith(b"\x89PNG") and "attachment" not in preview.get(
            "Content-Disposition", "")
        assert Image.open(io.BytesIO(preview.content)).size[1] > 800  # legible, not a thumb
    assert b"<iframe" not in page.content
    # Sellers never reach the staff document views.
    client.force_login(rival)
    for name in ("admin:invoices_invoice_document", "admin:invoices_invoice_preview"):
        url = reverse(name, args=[first.pk])
        assert client.get(url).status_code in (302, 403)  # to the login, or refused


def test_a_structured_xml_e_invoice_can_be_uploaded(seller):
    xml = (SHARED_INVOICES / "zugferd"
           / "MustangGnuaccountingBeispielRE-20201121_508.embedded-factur-x.xml").read_bytes()
    invoice = upload(seller, xml, name="invoice.xml")
    assert invoice.document_content_type == "application/xml"
    assert invoice.status == InvoiceStatus.EXTRACTED
    assert invoice.extraction_method.startswith("einvoice")
    assert invoice.invoice_number == "RE-20201121/508"
    assert invoice.document_phash == ""  # no page to hash

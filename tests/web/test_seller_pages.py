"""The seller's pages with a real e-invoice: upload, review and correct, submit, offer, list."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils.html import escape, strip_tags

from invoices.enums import InvoiceStatus
from invoices.models import Invoice
from invoices.services import invoice_run_extraction
from marketplace.models import Listing
from tests.factories import InvoiceFactory
from tests.helpers import MUSTANG_PDF, form_data, make_user

pytestmark = pytest.mark.django_db


def upload(client, data: bytes | None = None, name: str = MUSTANG_PDF.name):
    document = SimpleUploadedFile(
        name, data or MUSTANG_PDF.read_bytes(), content_type="application/pdf"
    )
    return client.post(reverse("invoice-upload"), {"document": document})


@pytest.fixture
def other_seller(staff):
    return make_user(
        "SELLER",
        "other-seller@example.com",
        kyc={"legal_name": "Other GmbH", "country": "DE", "tax_id": "DE136695976"},
        approve_by=staff,
    )


def test_seller_uploads_reviews_corrects_submits_and_lists(seller, login, committed, business_day):
    client = login(seller)
    dashboard = client.get(reverse("seller-dashboard"))
    assert dashboard.status_code == 200
    assert b'enctype="multipart/form-data"' in dashboard.content
    assert b'name="document"' in dashboard.content

    with committed():
        response = upload(client)
    invoice = Invoice.objects.get(seller=seller)
    assert response.status_code == 302
    assert response["Location"] == reverse("seller-invoice", args=[invoice.public_id])
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.EXTRACTED

    page = client.get(response["Location"])
    assert page.status_code == 200
    html = page.content.decode()
    assert "RE-20201121/508" in html
    assert "Bei Spiel GmbH" in html
    assert 'value="571.04"' in html
    assert 'value="2020-12-12"' in html
    assert "confidence" in html
    # The document is linked through the owner-only document view.
    assert reverse("invoice-document", args=[invoice.public_id]) in html
    # The debtor has no tax id on this invoice: confidence 0, flagged for the seller.
    assert "please check" in html
    assert "field-low-confidence" in html
    assert "Submit for financing" in html

    form = page.context["fields_form"]
    response = client.post(
        page.request["PATH_INFO"],
        form_data(
            form,
            action="save",
            debtor_name="Theodor Est e.K.",
        ),
    )
    assert response.status_code == 302
    invoice.refresh_from_db()
    assert invoice.debtor_name == "Theodor Est e.K."
    assert invoice.invoice_number == "RE-20201121/508"  # untouched fields stay

    # An invalid correction is shown next to its field and writes nothing.
    page = client.get(reverse("seller-invoice", args=[invoice.public_id]))
    response = client.post(
        page.request["PATH_INFO"],
        form_data(
            page.context["fields_form"],
            action="save",
            currency="EURO",
        ),
    )
    assert response.status_code == 200
    assert response.context["fields_form"].errors["currency"]
    invoice.refresh_from_db()
    assert invoice.currency == "EUR"

    # Submit: verification and (after commit) scoring -> an offer.
    page = client.get(reverse("seller-invoice", args=[invoice.public_id]))
    with committed():
        response = client.post(
            page.request["PATH_INFO"],
            form_data(
                page.context["fields_form"],
                action="submit",
            ),
        )
    assert response.status_code == 302
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PRICED, invoice.risk_factors
    page = client.get(reverse("seller-invoice", args=[invoice.public_id]))
    html = page.content.decode()
    offer = page.context["offer"]
    assert offer is not None
    assert "Net advance paid to you" in html
    assert f"{offer.net_advance:,.2f} EUR" in html
    assert f"Risk grade <strong>{invoice.risk_grade}</strong>" in html
    assert "Why this grade" in html
    for check in invoice.verification:
        assert escape(check["message"]) in html

    response = client.post(page.request["PATH_INFO"], {"action": "list", "advance_rate": ""})
    assert response.status_code == 302
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.LISTED
    listing = Listing.objects.get(invoice=invoice)
    page = client.get(reverse("seller-invoice", args=[invoice.public_id]))
    html = page.content.decode()
    # The seller follows the listing's funding on their own page (the marketplace is for
    # approved investors only, so no link to it).
    assert page.context["listing"] == listing
    assert "<progress" in html
    # As read on the page (the figures sit in elements the live updates rewrite).
    text = " ".join(strip_tags(html).split())
    assert f"of {listing.advance_amount:,.2f} EUR funded by 0 investors" in text
    assert reverse("listing-detail", args=[listing.public_id]) not in html
    # Timeline: every status change, with who made it.
    statuses = [e.to_status for e in page.context["timeline"]]
    assert statuses == ["UPLOADED", "EXTRACTED", "SUBMITTED", "PRICED", "LISTED"]
    assert "you" in html

    dashboard = client.get(reverse("seller-dashboard"))
    assert b"<progress" in dashboard.content
    assert b"Listed on the marketplace" in dashboard.content


def test_submit_with_unsaved_changes_is_refused(seller, login, committed, business_day):
    client = login(seller)
    with committed():
        response = upload(client)
    page = client.get(response["Location"])
    response = client.post(
        page.request["PATH_INFO"],
        form_data(
            page.context["fields_form"],
            action="submit",
            invoice_number="CHANGED",
        ),
    )
    assert response.status_code == 200
    assert "save your corrections" in str(response.context["fields_form"].non_field_errors())
    assert Invoice.objects.get(seller=seller).status == InvoiceStatus.EXTRACTED


def test_listing_above_the_cap_shows_the_error_next_to_the_field(seller, login, business_day):

    invoice = InvoiceFactory(mustang=True, seller=seller)
    client = login(seller)
    url = reverse("seller-invoice", args=[invoice.public_id])
    response = client.post(url, {"action": "list", "advance_rate": "100"})
    assert response.status_code == 200
    assert response.context["list_form"].errors["advance_rate"] == ["Above the cap."]
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PRICED
    assert not Listing.objects.exists()


def test_progress_fragment_polls_until_extracted(seller, login):
    client = login(seller)
    response = upload(client)  # no commit: the extraction task has not run yet
    invoice = Invoice.objects.get(seller=seller)
    assert invoice.status == InvoiceStatus.UPLOADED
    url = reverse("seller-invoice", args=[invoice.public_id])

    page = client.get(url)
    assert b"We are reading your invoice" in page.content
    assert b'hx-trigger="every 2s"' in page.content
    assert b'http-equiv="refresh"' in page.content  # no-JS fallback

    fragment = client.get(url, {"fragment": "progress"}, HTTP_HX_REQUEST="true")
    assert fragment.status_code == 200
    assert b"<html" not in fragment.content
    assert b'hx-get="' in fragment.content

    invoice_run_extraction(invoice_id=invoice.pk)
    fragment = client.get(url, {"fragment": "progress"}, HTTP_HX_REQUEST="true")
    assert fragment["HX-Refresh"] == "true"
    assert response.status_code == 302


def test_unsupported_upload_shows_error_on_the_field(seller, login):
    client = login(seller)
    response = upload(client, b"hello, not an invoice", name="invoice.pdf")
    assert response.status_code == 400
    assert response.context["upload_form"].errors["document"] == ["Unsupported file type."]
    assert not Invoice.objects.exists()


def test_upload_before_kyb_approval_is_refused(login, staff):
    pending = make_user(
        "SELLER",
        "pending@example.com",
        kyc={"legal_name": "Pending GmbH", "country": "DE", "tax_id": "DE136695976"},
    )
    client = login(pending)
    assert b"being reviewed" in client.get(reverse("seller-dashboard")).content
    response = upload(client)
    assert response.status_code == 400
    assert "KYB must be approved" in str(response.context["upload_form"].non_field_errors())
    assert not Invoice.objects.exists()


def test_document_is_served_to_its_owner_only(seller, other_seller, login, make_investor):
    client = login(seller)
    upload(client)
    invoice = Invoice.objects.get(seller=seller)
    page_url = reverse("seller-invoice", args=[invoice.public_id])
    document_url = reverse("invoice-document", args=[invoice.public_id])

    # A redirect to a short-lived signed URL that serves it as an attachment.
    response = client.get(document_url, follow=True)
    assert response.redirect_chain[0][0].startswith("/files/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in response["Cache-Control"]
    assert b"".join(response.streaming_content) == MUSTANG_PDF.read_bytes()

    intruder = login(other_seller)
    assert intruder.get(page_url).status_code == 404
    assert intruder.get(document_url).status_code == 404
    assert intruder.post(page_url, {"action": "save", "invoice_number": "X"}).status_code == 404

    investor = login(make_investor())
    assert investor.get(page_url).status_code == 403
    assert investor.get(document_url).status_code == 403
    invoice.refresh_from_db()
    assert invoice.invoice_number != "X"


def test_unknown_invoice_id_is_404(seller, login):
    client = login(seller)
    url = reverse("seller-invoice", args=["00000000-0000-0000-0000-000000000000"])
    assert client.get(url).status_code == 404
    assert client.get("/seller/invoices/not-a-uuid/").status_code == 404


def test_listing_twice_shows_why_on_the_page(seller, login, business_day):

    invoice = InvoiceFactory(mustang=True, seller=seller)
    client = login(seller)
    url = reverse("seller-invoice", args=[invoice.public_id])
    assert client.post(url, {"action": "list", "advance_rate": ""}).status_code == 302
    again = client.post(url, {"action": "list", "advance_rate": ""})  # a second click
    assert again.status_code == 200
    assert b"cannot move to listed" in again.content.lower()
    assert Listing.objects.count() == 1


def test_unknown_action_is_a_bad_request(seller, login):
    client = login(seller)
    upload(client)
    invoice = Invoice.objects.get(seller=seller)
    url = reverse("seller-invoice", args=[invoice.public_id])
    assert client.post(url, {"action": "delete"}).status_code == 400

"""The document beside the extracted fields: PayMint-rendered PNG pages for the owning seller
only, paging through multi-page documents, and a box over the region each field was read from
when the extraction knows it (``extraction["fields"][name]["region"]``)."""

from __future__ import annotations

import io
import re

import pypdfium2 as pdfium
import pytest
from django.urls import reverse
from PIL import Image

from invoices.models import Invoice
from invoices.services import invoice_run_extraction, invoice_upload
from invoices.web_selectors import invoice_field_regions
from tests.helpers import make_user, mustang_bytes, uploaded

pytestmark = pytest.mark.django_db


@pytest.fixture
def invoice(seller):
    created = invoice_upload(seller=seller, uploaded_file=uploaded(mustang_bytes("viewer")))
    return invoice_run_extraction(invoice_id=created.pk)


def blank_pdf(pages: int) -> bytes:
    pdf = pdfium.PdfDocument.new()
    for _ in range(pages):
        pdf.new_page(595, 842)  # A4 in points
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def page_url(invoice: Invoice, page: int) -> str:
    return reverse("invoice-page-image", args=[invoice.public_id, page])


def test_owner_sees_rendered_pages_never_the_pdf(invoice, seller, login):
    client = login(seller)
    html = client.get(reverse("seller-invoice", args=[invoice.public_id])).content.decode()
    assert f'<img src="{page_url(invoice, 1)}"' in html
    assert "Page 1 of 1" in html
    for tag in ("<iframe", "<object", "<embed"):
        assert tag not in html
    assert 'aria-label="Document pages"' not in html  # one page: no pager

    response = client.get(page_url(invoice, 1))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["Cache-Control"] == "private, no-store"
    assert response["X-Content-Type-Options"] == "nosniff"
    image = Image.open(io.BytesIO(response.content))
    assert image.format == "PNG"
    assert image.width > 500 and image.height > image.width  # an A4 page, portrait
    assert client.get(page_url(invoice, 2)).status_code == 404
    assert client.get(page_url(invoice, 0)).status_code == 404


def test_other_users_get_nothing(invoice, staff, make_investor, client):
    other = make_user("SELLER", "other-viewer@example.com",
                      kyc={"legal_name": "Other GmbH", "country": "DE",
                           "tax_id": "DE136695976"}, approve_by=staff)
    client.force_login(other)
    assert client.get(page_url(invoice, 1)).status_code == 404
    client.force_login(make_investor())
    response = client.get(page_url(invoice, 1))
    assert response.status_code in (302, 403, 404)
    assert response.get("Content-Type") != "image/png"
    client.logout()
    assert client.get(page_url(invoice, 1)).status_code == 302  # to sign-in


def test_multi_page_document_pages_through(seller, login):
    created = invoice_upload(seller=seller, uploaded_file=uploaded(blank_pdf(3), "three.pdf"))
    client = login(seller)
    url = reverse("seller-invoice", args=[created.public_id])

    first = client.get(url).content.decode()
    assert f'<img src="{page_url(created, 1)}"' in first
    assert "Page 1 of 3" in first
    assert 'href="?doc_page=2#document-viewer"' in first
    assert 'rel="prev"' not in first

    second = client.get(url, {"doc_page": 2}).content.decode()
    assert f'<img src="{page_url(created, 2)}"' in second
    assert 'href="?doc_page=1#document-viewer"' in second
    assert 'href="?doc_page=3#document-viewer"' in second

    last = client.get(url, {"doc_page": 99}).content.decode()  # clamped to the last page
    assert f'<img src="{page_url(created, 3)}"' in last
    assert 'rel="next"' not in last
    assert "Page 1 of 3" in client.get(url, {"doc_page": "x"}).content.decode()

    for page in (1, 2, 3):
        assert client.get(page_url(created, page))["Content-Type"] == "image/png"
    assert client.get(page_url(created, 4)).status_code == 404


def set_regions(invoice: Invoice, regions: dict) -> None:
    extraction = dict(invoice.extraction)
    extraction["fields"] = {name: {"value": extraction.get(name), "region": region}
                            for name, region in regions.items()}
    Invoice.objects.filter(pk=invoice.pk).update(extraction=extraction)


def test_regions_are_boxed_on_their_page(invoice, seller, login):
    set_regions(invoice, {
        "buyer_name": {"page": 0, "x0": 0.1, "top": 0.2, "x1": 0.4, "bottom": 0.25},
        "total_amount": {"page": 0, "x0": 0.6, "top": 0.7, "x1": 0.9, "bottom": 0.73},
        "due_date": {"page": 1, "x0": 0.1, "top": 0.1, "x1": 0.2, "bottom": 0.2},
        "invoice_number": {"page": 0, "x0": 0.5, "top": 0.1, "x1": 0.3, "bottom": 0.2},  # x0>x1
        "issue_date": None,
    })
    html = login(seller).get(reverse("seller-invoice", args=[invoice.public_id])).content.decode()
    boxes = dict(re.findall(r'<rect data-field="(\w+)" ([^>]*)>', html))
    assert boxes == {
        "debtor_name": 'x="100.0" y="200.0" width="300.0" height="50.0"',
        "face_value": 'x="600.0" y="700.0" width="300.0" height="30.0"',
    }
    assert '<svg class="doc-regions" viewBox="0 0 1000 1000"' in html
    assert "<title>Debtor (your customer)</title>" in html
    # Each field read off a page says which; the one on page 2 is boxed there, not here.
    notes = re.findall(r'name="(\w+)"[^>]*>\s*(?:<small[^>]*>[^<]*</small>\s*)*'
                       r'<small class="help region-note">Read from page (\d+)', html)
    assert ("due_date", "2") in notes
    assert html.count("region-note") == 3
    assert 'style="' not in html  # boxes are SVG attributes: nothing for CSP to block


def test_no_regions_no_boxes(invoice, seller, login):
    """The Mustang invoice is read from its embedded XML: no field has a region."""
    assert invoice_field_regions(invoice=invoice) == {}
    html = login(seller).get(reverse("seller-invoice", args=[invoice.public_id])).content.decode()
    assert "doc-regions" not in html
    assert "region-note" not in html
    assert f'<img src="{page_url(invoice, 1)}"' in html


@pytest.mark.parametrize("region", [
    {"page": -1, "x0": 0.1, "top": 0.1, "x1": 0.2, "bottom": 0.2},
    {"page": 0, "x0": -0.1, "top": 0.1, "x1": 0.2, "bottom": 0.2},
    {"page": 0, "x0": 0.1, "top": 0.1, "x1": 1.2, "bottom": 0.2},
    {"page": 0, "x0": 0.1, "top": 0.3, "x1": 0.2, "bottom": 0.2},
    {"page": "one", "x0": 0.1, "top": 0.1, "x1": 0.2, "bottom": 0.2},
    {"page": 0, "x0": 0.1, "top": 0.1},
    "0.1,0.1,0.2,0.2",
])
def test_malformed_regions_are_left_out(invoice, region):
    set_regions(invoice, {"buyer_name": region})
    invoice.refresh_from_db()
    assert invoice_field_regions(invoice=invoice) == {}

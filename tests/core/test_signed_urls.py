"""Uploads are served only through short-lived signed URLs bound to the object and the user,
as attachments (local storage; the S3 variant is in test_storage_s3.py)."""

from __future__ import annotations

import time

import pytest
from django.core import signing
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse

from accounts.kyc_documents import kyc_submit_with_document
from accounts.models import KycDocument
from invoices.services import invoice_upload
from paymint.core.storage import DOWNLOAD_SALT, private_file_token
from tests.helpers import (
    MUSTANG_PDF,
    PNG_BYTES,
    api_client_for,
    make_user,
    signing_clock_ahead,
    uploaded,
)

pytestmark = pytest.mark.django_db

PDF = MUSTANG_PDF.read_bytes()


@pytest.fixture
def login():
    def _login(user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return _login


@pytest.fixture
def invoice(seller):
    return invoice_upload(seller=seller, uploaded_file=uploaded(PDF))


@pytest.fixture
def other_seller(staff):
    return make_user("SELLER", "other@example.com",
                     kyc={"legal_name": "Other GmbH", "country": "DE", "tax_id": "DE136695976"},
                     approve_by=staff)


def signed_location(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 302, response.status_code
    assert "no-store" in response["Cache-Control"]
    location = response["Location"]
    assert location.startswith("/files/")
    return location


def assert_attachment(response, data: bytes, content_type: str, filename: str) -> None:
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="{filename}"'
    assert response["Content-Type"] == content_type
    assert response["X-Content-Type-Options"] == "nosniff"
    assert set(response["Cache-Control"].replace(" ", "").split(",")) >= {"private", "no-store"}
    assert "sandbox" in response["Content-Security-Policy"]
    assert b"".join(response.streaming_content) == data


def test_the_seller_downloads_the_invoice_through_a_signed_url(seller, invoice, login,
                                                               monkeypatch):
    client = login(seller)
    location = signed_location(client, reverse("invoice-document", args=[invoice.public_id]))
    assert_attachment(client.get(location), PDF, "application/pdf",
                      f"invoice-{invoice.public_id}.pdf")
    # Each request mints a new URL (a link on a page never goes stale): a second later...
    signing_clock_ahead(monkeypatch, 1)
    assert signed_location(
        client, reverse("invoice-document", args=[invoice.public_id])
    ) != location


def test_a_signed_url_works_only_for_its_user(seller, other_seller, invoice, login, ops_client):
    location = signed_location(login(seller), reverse("invoice-document",
                                                      args=[invoice.public_id]))
    # Another seller holding the link is refused, and cannot mint one for it either.
    other = login(other_seller)
    refused = other.get(location)
    assert refused.status_code == 403
    assert b"issued to someone else" in refused.content
    assert other.get(reverse("invoice-document", args=[invoice.public_id])).status_code == 404
    # Anonymous: sent to sign in first.
    anonymous = Client().get(location)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith(reverse("login"))
    # Two-factor verified staff may open it.
    assert ops_client.get(location).status_code == 200


def test_an_expired_or_tampered_signature_is_refused(seller, invoice, login, settings):
    client = login(seller)
    payload = {"k": "invoice", "o": str(invoice.public_id), "u": str(seller.public_id)}

    class Earlier(signing.TimestampSigner):
        def timestamp(self):
            return signing.b62_encode(int(time.time()) - settings.PRIVATE_FILE_URL_MAX_AGE - 5)

    expired = Earlier(salt=DOWNLOAD_SALT).sign_object(payload)
    response = client.get(reverse("private-file", args=[expired]))
    assert response.status_code == 403
    assert b"expired" in response.content

    fresh = Earlier(salt=DOWNLOAD_SALT).sign_object(payload)
    settings.PRIVATE_FILE_URL_MAX_AGE = 3600  # the expiry is configurable
    assert client.get(reverse("private-file", args=[fresh])).status_code == 200

    good = private_file_token(kind="invoice", object_id=invoice.public_id, user=seller)
    tampered = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
    assert client.get(reverse("private-file", args=[tampered])).status_code == 403
    # A token signed for another purpose (another salt) is not a download token.
    foreign = signing.TimestampSigner(salt="something-else").sign_object(payload)
    assert client.get(reverse("private-file", args=[foreign])).status_code == 403


def test_the_api_answers_a_signed_document_url_usable_with_the_bearer_token(seller, invoice):
    api = api_client_for(seller)
    body = api.get(f"/api/v1/invoices/{invoice.public_id}").json()
    url = body["document_url"]
    assert url.startswith("http://testserver/files/")
    listed = api.get("/api/v1/invoices").json()["results"][0]["document_url"]
    assert listed.startswith("http://testserver/files/")
    download = api.get(url.removeprefix("http://testserver"))
    assert_attachment(download, PDF, "application/pdf", f"invoice-{invoice.public_id}.pdf")
    # Without credentials the URL alone is not enough.
    bare = Client().get(url.removeprefix("http://testserver"), HTTP_AUTHORIZATION="Bearer x")
    assert bare.status_code == 403


def test_kyc_documents_are_served_the_same_way(login, ops_client, staff):
    applicant = make_user("INVESTOR", "kyc-owner@example.com")
    kyc_submit_with_document(
        user=applicant, legal_name="Ann Owner", country="FR", tax_id="FR40303265045",
        document=uploaded(PNG_BYTES, "passport.png", "image/png"),
    )
    document = KycDocument.objects.get()
    url = reverse("kyc-document", args=[document.public_id])
    owner = login(applicant)
    location = signed_location(owner, url)
    assert_attachment(owner.get(location), PNG_BYTES, "image/png",
                      f"kyc-{document.public_id}.png")
    # Staff without their second factor get nothing; verified staff get their own URL.
    assert login(staff).get(url).status_code == 404
    staff_location = signed_location(ops_client, url)
    assert ops_client.get(staff_location).status_code == 200
    # The owner's link is the owner's: another user is refused.
    stranger = login(make_user("INVESTOR", "stranger@example.com"))
    assert stranger.get(location).status_code == 403
    assert stranger.get(url).status_code == 404


def test_a_file_no_longer_kept_answers_404(login):
    applicant = make_user("INVESTOR", "erased-file@example.com")
    kyc_submit_with_document(
        user=applicant, legal_name="Gone File", country="FR", tax_id="FR40303265045",
        document=uploaded(PNG_BYTES, "passport.png", "image/png"),
    )
    document = KycDocument.objects.get()
    owner = login(applicant)
    location = signed_location(owner, reverse("kyc-document", args=[document.public_id]))
    document.file.delete(save=False)
    KycDocument.objects.filter(pk=document.pk).update(file="")
    assert owner.get(location).status_code == 404


def test_admin_document_views_redirect_staff_to_a_signed_attachment(invoice, ops_client):
    url = reverse("admin:invoices_invoice_document", args=[invoice.pk])
    location = signed_location(ops_client, url)
    assert_attachment(ops_client.get(location), PDF, "application/pdf",
                      f"invoice-{invoice.public_id}.pdf")


def test_media_is_never_served_from_media_url(settings, invoice, client, seller):
    name = default_storage.save("kyc/probe.pdf", ContentFile(b"%PDF-1.4 private"))
    assert default_storage.exists(name)
    client.force_login(seller)
    for path in (f"{settings.MEDIA_URL}{name}", f"{settings.MEDIA_URL}{invoice.document.name}",
                 f"/{invoice.document.name}"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert b"private" not in response.content

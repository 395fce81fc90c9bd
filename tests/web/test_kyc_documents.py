"""KYC/KYB documents: uploaded with onboarding, checked by content, stored privately, served to
their owner and to two-factor verified staff only, through short-lived signed attachment URLs
(images also preview in the admin)."""

from __future__ import annotations

import hashlib

import pytest
from django.test import Client
from django.urls import reverse

from accounts.kyc_documents import kyc_submit_with_document
from accounts.models import KycDocument, KycProfile
from tests.helpers import MUSTANG_PDF, PNG_BYTES, make_user, mark_email_verified, uploaded

pytestmark = pytest.mark.django_db

KYB = {"legal_name": "Bei Spiel GmbH", "country": "DE", "tax_id": "DE136695976"}


@pytest.fixture
def applicant(db):
    user = make_user("SELLER", "applicant@example.com")
    mark_email_verified(user)
    return user


def test_onboarding_requires_a_document_and_checks_its_content(applicant, login):
    client = login(applicant)
    missing = client.post(reverse("kyc"), KYB)
    assert missing.status_code == 200
    assert missing.context["form"].errors["document"]

    fake = uploaded(b"MZ\x90\x00 not really a pdf", "passport.pdf", "application/pdf")
    response = client.post(reverse("kyc"), {**KYB, "document": fake})
    assert response.status_code == 200
    assert response.context["form"].errors["document"] == ["Upload a PDF, PNG or JPEG file."]
    assert 'id="id_document_error"' in response.content.decode()
    assert not KycProfile.objects.filter(user=applicant).exists()
    assert not KycDocument.objects.exists()


def test_document_over_the_size_limit_is_refused(applicant, login, settings):
    settings.KYC_DOCUMENT_MAX_BYTES = 1024
    client = login(applicant)
    pdf = uploaded(MUSTANG_PDF.read_bytes(), "register.pdf")
    response = client.post(reverse("kyc"), {**KYB, "document": pdf})
    assert response.status_code == 200
    assert "larger than" in response.context["form"].errors["document"][0]
    assert not KycDocument.objects.exists()


def test_document_is_stored_privately_and_served_to_owner_and_verified_staff(
    applicant, login, ops_client, staff
):
    data = MUSTANG_PDF.read_bytes()
    client = login(applicant)
    response = client.post(reverse("kyc"), {**KYB, "document": uploaded(data, "register.pdf")})
    assert response.status_code == 302
    document = KycDocument.objects.get()
    assert document.content_type == "application/pdf"
    assert document.sha256 == hashlib.sha256(data).hexdigest()
    assert document.size == len(data)
    assert document.file.name == f"kyc/{document.public_id}.pdf"  # never the upload's name
    url = reverse("kyc-document", args=[document.public_id])

    # The link redirects to a short-lived signed URL that serves it as an attachment.
    own = client.get(url, follow=True)
    assert own.redirect_chain[0][0].startswith("/files/")
    assert own.status_code == 200
    assert own["Content-Type"] == "application/pdf"
    assert own["Content-Disposition"].startswith("attachment")
    assert own["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in own["Cache-Control"]
    assert b"".join(own.streaming_content) == data

    # Staff read it only with a two-factor verified session.
    unverified_staff = login(staff)
    assert unverified_staff.get(url).status_code == 404
    assert ops_client.get(url, follow=True).status_code == 200

    other = make_user("SELLER", "other@example.com")
    assert login(other).get(url).status_code == 404
    anonymous = Client().get(url)
    assert anonymous.status_code == 302

    # The admin's change page links to it (a PDF is downloaded, not framed).
    profile = KycProfile.objects.get(user=applicant)
    change = ops_client.get(reverse("admin:accounts_kycprofile_change", args=[profile.pk]))
    assert change.status_code == 200
    assert f'<a href="{url}" download'.encode() in change.content
    assert b"<iframe" not in change.content


def test_image_documents_preview_as_images_in_the_admin(applicant, ops_client):
    kyc_submit_with_document(
        user=applicant, **KYB, document=uploaded(PNG_BYTES, "id.png", "image/png")
    )
    profile = KycProfile.objects.get(user=applicant)
    change = ops_client.get(reverse("admin:accounts_kycprofile_change", args=[profile.pk]))
    document = KycDocument.objects.get()
    url = reverse("kyc-document", args=[document.public_id])
    assert f'<img src="{url}"'.encode() in change.content


def test_resubmission_after_rejection_keeps_the_document_on_file(applicant, login, staff):
    from accounts.services import kyc_reject

    profile = kyc_submit_with_document(
        user=applicant, **KYB, document=uploaded(PNG_BYTES, "id.png", "image/png")
    )
    kyc_reject(profile=profile, reviewer=staff, reason="Address missing")
    client = login(applicant)
    page = client.get(reverse("kyc"))
    assert not page.context["form"].fields["document"].required
    assert b"Document on file" in page.content
    response = client.post(reverse("kyc"), {**KYB, "address": "Musterstr. 1, Berlin"})
    assert response.status_code == 302
    assert KycDocument.objects.count() == 1


def test_investor_onboarding_declares_the_planned_investment(login):
    investor = make_user("INVESTOR", "ivy@example.com")
    mark_email_verified(investor)
    client = login(investor)
    page = client.get(reverse("kyc"))
    assert "declared_investment" in page.context["form"].fields
    response = client.post(
        reverse("kyc"),
        {
            "legal_name": "Ivy Investor",
            "country": "FR",
            "tax_id": "FR40303265045",
            "declared_investment": "250000",
            "document": uploaded(PNG_BYTES, "passport.png", "image/png"),
        },
    )
    assert response.status_code == 302
    assert KycProfile.objects.get(user=investor).declared_investment == 250000
    # Sellers are not asked.
    seller = make_user("SELLER", "sal@example.com")
    assert "declared_investment" not in login(seller).get(reverse("kyc")).context["form"].fields

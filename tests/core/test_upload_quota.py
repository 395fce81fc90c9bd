"""Per-user daily upload quota (files and bytes, invoices and KYC documents together)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from accounts.kyc_documents import kyc_submit_with_document
from accounts.models import KycDocument, KycProfile
from invoices.models import Invoice
from invoices.services import invoice_upload
from paymint.core.errors import ApplicationError
from paymint.core.uploads import UploadQuotaExceeded, upload_usage
from tests.helpers import MUSTANG_PDF, PNG_BYTES, api_client_for, make_user, mustang_bytes, uploaded

PDF = MUSTANG_PDF.read_bytes()


@pytest.fixture(autouse=True)
def _onboarding_documents_are_old(request):
    """The seller's onboarding document (``kyc_ready``) was sent days ago: the quotas below
    count only this test's uploads."""
    if "seller" in request.fixturenames:
        request.getfixturevalue("seller")
        KycDocument.objects.update(uploaded_at=timezone.now() - dt.timedelta(days=3))


def stored_files() -> list[Path]:
    root = Path(django_settings.STORAGES["default"]["OPTIONS"]["location"])
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.mark.django_db
def test_the_file_count_quota_refuses_the_next_upload_and_writes_nothing(seller, settings):
    settings.UPLOAD_QUOTA_FILES_PER_DAY = 2
    onboarding = stored_files()
    for n in range(2):
        invoice_upload(seller=seller, uploaded_file=uploaded(mustang_bytes(f"v{n}")))
    files_before = stored_files()
    assert len(files_before) == len(onboarding) + 2

    with pytest.raises(UploadQuotaExceeded) as refused:
        invoice_upload(seller=seller, uploaded_file=uploaded(mustang_bytes("v2")))
    assert refused.value.code == "UPLOAD_QUOTA_EXCEEDED"
    assert refused.value.http_status == 429
    assert "2 files per 24 hours" in refused.value.message
    assert Invoice.objects.filter(seller=seller).count() == 2
    assert stored_files() == files_before

    # Through the API: the stable error body, still nothing written.
    response = api_client_for(seller).post(
        "/api/v1/invoices", {"document": uploaded(mustang_bytes("v3"))}, format="multipart"
    )
    assert response.status_code == 429
    assert response.json()["code"] == "UPLOAD_QUOTA_EXCEEDED"
    assert response.json()["fields"]["document"]
    assert Invoice.objects.filter(seller=seller).count() == 2
    assert stored_files() == files_before


@pytest.mark.django_db
def test_the_byte_quota_counts_the_sizes(seller, settings):
    settings.UPLOAD_QUOTA_BYTES_PER_DAY = len(PDF) * 2 + 10
    invoice_upload(seller=seller, uploaded_file=uploaded(PDF))
    invoice_upload(seller=seller, uploaded_file=uploaded(mustang_bytes("b")))  # PDF + 4 bytes
    assert upload_usage(user=seller) == (2, len(PDF) * 2 + 4)
    with pytest.raises(UploadQuotaExceeded, match="MB per 24 hours"):
        invoice_upload(seller=seller, uploaded_file=uploaded(mustang_bytes("c")))
    assert Invoice.objects.filter(seller=seller).count() == 2


@pytest.mark.django_db
def test_uploads_older_than_24_hours_no_longer_count(seller, settings):
    settings.UPLOAD_QUOTA_FILES_PER_DAY = 1
    first = invoice_upload(seller=seller, uploaded_file=uploaded(PDF))
    with pytest.raises(UploadQuotaExceeded):
        invoice_upload(seller=seller, uploaded_file=uploaded(mustang_bytes("x")))
    Invoice.objects.filter(pk=first.pk).update(
        created_at=timezone.now() - dt.timedelta(hours=24, minutes=1)
    )
    invoice_upload(seller=seller, uploaded_file=uploaded(mustang_bytes("x")))
    assert Invoice.objects.filter(seller=seller).count() == 2


@pytest.mark.django_db
def test_content_size_and_type_checks_still_come_first_and_cost_no_quota(seller, settings):
    settings.UPLOAD_QUOTA_FILES_PER_DAY = 1
    settings.INVOICE_UPLOAD_MAX_BYTES = 1024
    with pytest.raises(ApplicationError) as too_large:
        invoice_upload(seller=seller, uploaded_file=uploaded(PDF))
    assert (too_large.value.code, too_large.value.http_status) == ("FILE_TOO_LARGE", 413)
    with pytest.raises(ApplicationError) as wrong_type:
        invoice_upload(seller=seller, uploaded_file=uploaded(b"MZ\x90\x00 exe", "x.pdf"))
    assert wrong_type.value.code == "UNSUPPORTED_FILE_TYPE"
    assert upload_usage(user=seller) == (0, 0)


@pytest.mark.django_db
def test_kyc_documents_share_the_quota_and_nothing_is_written(settings):
    settings.UPLOAD_QUOTA_FILES_PER_DAY = 1
    applicant = make_user("INVESTOR", "quota-investor@example.com")
    details = {"legal_name": "Quinn Quota", "country": "FR", "tax_id": "FR40303265045"}
    kyc_submit_with_document(user=applicant, **details,
                             document=uploaded(PNG_BYTES, "id.png", "image/png"))
    profile = KycProfile.objects.get(user=applicant)
    assert profile.status == "PENDING_REVIEW"
    KycProfile.objects.filter(pk=profile.pk).update(status="REJECTED",
                                                    decision_reason="Blurry")
    files_before = stored_files()

    with pytest.raises(UploadQuotaExceeded):
        kyc_submit_with_document(user=applicant, **{**details, "address": "New address"},
                                 document=uploaded(PNG_BYTES, "id2.png", "image/png"))
    assert KycDocument.objects.filter(uploaded_by=applicant).count() == 1
    profile.refresh_from_db()
    assert profile.status == "REJECTED" and profile.address == ""  # the resubmission rolled back
    assert stored_files() == files_before

    # A resubmission without a new document uploads nothing and is not limited.
    kyc_submit_with_document(user=applicant, **{**details, "address": "New address"})
    profile.refresh_from_db()
    assert profile.status == "PENDING_REVIEW" and profile.address == "New address"


@pytest.mark.django_db
def test_the_dashboard_upload_shows_the_quota_error(seller, settings, client):
    settings.UPLOAD_QUOTA_FILES_PER_DAY = 1
    invoice_upload(seller=seller, uploaded_file=uploaded(PDF))
    client.force_login(seller)
    from django.urls import reverse

    response = client.post(reverse("invoice-upload"),
                           {"document": uploaded(mustang_bytes("d"), "second.pdf")})
    assert response.status_code == 400
    assert "1 files per 24 hours" in response.content.decode()
    assert Invoice.objects.filter(seller=seller).count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_concurrent_uploads_cannot_both_take_the_last_slot(seller, settings):
    from tests.helpers import run_in_threads

    settings.UPLOAD_QUOTA_FILES_PER_DAY = 1

    def work(i: int):
        return invoice_upload(seller=seller, uploaded_file=uploaded(mustang_bytes(f"t{i}")))

    results = run_in_threads(4, work)
    created = [r for r in results if isinstance(r, Invoice)]
    refused = [r for r in results if isinstance(r, UploadQuotaExceeded)]
    assert len(created) == 1 and len(refused) == 3, results
    assert Invoice.objects.filter(seller=seller).count() == 1

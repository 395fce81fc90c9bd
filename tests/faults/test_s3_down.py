"""S3 down (the moto server stopped): an upload answers 503 SERVICE_UNAVAILABLE in the standard
JSON body with Retry-After and leaves no row behind; reading the invoice still works (its
document link is presigned without calling S3; the download itself goes to S3)."""

from __future__ import annotations

import pytest

from invoices.models import Invoice
from paymint.core.models import IdempotencyRecord
from tests.core.test_storage_s3 import s3  # noqa: F401 - the moto S3 fixture, stoppable
from tests.helpers import api_client_for, mustang_bytes, uploaded

pytestmark = [pytest.mark.faults, pytest.mark.slow, pytest.mark.django_db]


def upload(client, key: str):
    return client.post(
        "/api/v1/invoices",
        {"document": uploaded(mustang_bytes("s3-down"), name="invoice.pdf")},
        format="multipart",
        HTTP_IDEMPOTENCY_KEY=key,
    )


def test_upload_and_download_with_s3_down(s3, seller, django_capture_on_commit_callbacks):  # noqa: F811
    client = api_client_for(seller)
    client.raise_request_exception = False
    with django_capture_on_commit_callbacks(execute=True):
        stored = upload(client, "before-outage")
    assert stored.status_code == 201, stored.content
    invoice_id = stored.json()["id"]

    s3["stop"]()
    before = (Invoice.objects.count(), IdempotencyRecord.objects.count())
    response = upload(client, "during-outage")
    assert response.status_code == 503, response.content
    assert response["Retry-After"] == "5"
    assert response.json()["code"] == "SERVICE_UNAVAILABLE"
    assert response.json()["dependency"] == "storage"
    assert (Invoice.objects.count(), IdempotencyRecord.objects.count()) == before

    # Reading the invoice needs no S3 (its document link is presigned offline).
    assert client.get(f"/api/v1/invoices/{invoice_id}").status_code == 200

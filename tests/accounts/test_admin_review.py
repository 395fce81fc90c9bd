"""KYC/KYB review in Django admin: actions call the services and record who decided and why."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.enums import KycStatus
from accounts.models import KycProfile, KycStatusEvent
from accounts.services import kyc_submit, user_register
from tests.helpers import STRONG_PASSWORD, kyc_ready


@pytest.fixture
def pending_seller(db):
    user = kyc_ready(user_register(email="acme@example.com", password=STRONG_PASSWORD,
                                   role="SELLER"))
    return kyc_submit(user=user, legal_name="Bei Spiel GmbH", country="DE",
                      tax_id="DE136695976")


@pytest.fixture
def admin_client(ops_client):
    return ops_client


def _changelist():
    return reverse("admin:accounts_kycprofile_changelist")


def test_approve_action_records_reviewer_and_reason(admin_client, staff, pending_seller):
    response = admin_client.post(_changelist(), {
        "action": "approve_selected", "_selected_action": [pending_seller.pk], "apply": "1",
        "reason": "Registry extract checked",
    })
    assert response.status_code == 302
    profile = KycProfile.objects.get(pk=pending_seller.pk)
    assert profile.status == KycStatus.APPROVED
    assert profile.decided_by == staff
    assert profile.decision_reason == "Registry extract checked"
    event = KycStatusEvent.objects.filter(profile=profile).last()
    assert (event.from_status, event.to_status, event.actor) == (
        KycStatus.PENDING_REVIEW, KycStatus.APPROVED, staff)


def test_reject_requires_a_reason(admin_client, pending_seller):
    response = admin_client.post(_changelist(), {
        "action": "reject_selected", "_selected_action": [pending_seller.pk], "apply": "1",
        "reason": "",
    })
    assert response.status_code == 200  # the form again, with the error
    assert b"This field is required" in response.content
    assert KycProfile.objects.get(pk=pending_seller.pk).status == KycStatus.PENDING_REVIEW

    response = admin_client.post(_changelist(), {
        "action": "reject_selected", "_selected_action": [pending_seller.pk], "apply": "1",
        "reason": "Tax id belongs to another company",
    })
    profile = KycProfile.objects.get(pk=pending_seller.pk)
    assert profile.status == KycStatus.REJECTED
    assert profile.decision_reason == "Tax id belongs to another company"


def test_profiles_cannot_be_deleted_or_edited_in_admin(admin_client, pending_seller):
    url = reverse("admin:accounts_kycprofile_delete", args=[pending_seller.pk])
    assert admin_client.post(url, {"post": "yes"}).status_code == 403
    assert KycProfile.objects.filter(pk=pending_seller.pk).exists()


def test_non_staff_cannot_open_the_review_queue(client, pending_seller):
    client.force_login(pending_seller.user)
    response = client.get(_changelist())
    assert response.status_code == 302  # to the admin login
    assert "login" in response["Location"]

"""Four-eyes KYC approval: investors declaring more than KYC_FOUR_EYES_ABOVE need two
different staff approvals (accounts.four_eyes), also through the admin action."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.enums import KycStatus
from accounts.four_eyes import kyc_approve_with_four_eyes, kyc_requires_four_eyes
from accounts.kyc_documents import kyc_submit_with_document
from accounts.models import KycApproval, KycProfile, KycStatusEvent
from accounts.services import kyc_reject, staff_user_create
from paymint.core.errors import Conflict, InvalidTransition, PermissionDenied
from tests.helpers import PNG_BYTES, STRONG_PASSWORD, make_user, uploaded

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _limit(settings):
    settings.KYC_FOUR_EYES_ABOVE = Decimal("100000")


@pytest.fixture
def second_staff(db):
    return staff_user_create(email="ops2@example.com", password=STRONG_PASSWORD)


def pending_investor(email="big@example.com", declared="250000.00"):
    user = make_user("INVESTOR", email)
    return kyc_submit_with_document(
        user=user,
        legal_name="Big Investor",
        country="FR",
        tax_id="FR40303265045",
        document=uploaded(PNG_BYTES, "passport.png", "image/png"),
        declared_investment=Decimal(declared) if declared is not None else None,
    )


def test_large_investor_needs_two_different_reviewers(staff, second_staff):
    profile = pending_investor()
    assert kyc_requires_four_eyes(profile)

    first = kyc_approve_with_four_eyes(profile=profile, reviewer=staff, reason="ID matches")
    assert (first.approved, first.approvals, first.required) == (False, 1, 2)
    profile.refresh_from_db()
    assert profile.status == KycStatus.PENDING_REVIEW
    assert KycApproval.objects.filter(profile=profile).count() == 1

    events_before = KycStatusEvent.objects.count()
    with pytest.raises(Conflict) as exc:
        kyc_approve_with_four_eyes(profile=profile, reviewer=staff)
    assert exc.value.code == "FOUR_EYES_SAME_REVIEWER"
    assert KycApproval.objects.filter(profile=profile).count() == 1
    assert KycStatusEvent.objects.count() == events_before

    second = kyc_approve_with_four_eyes(profile=profile, reviewer=second_staff, reason="Funds ok")
    assert (second.approved, second.approvals) == (True, 2)
    profile.refresh_from_db()
    assert profile.status == KycStatus.APPROVED
    assert profile.decided_by == second_staff
    assert "ops@example.com" in profile.decision_reason
    assert "ops2@example.com" in profile.decision_reason
    assert list(
        KycApproval.objects.filter(profile=profile).values_list("reviewer__email", flat=True)
    ) == ["ops@example.com", "ops2@example.com"]

    with pytest.raises(InvalidTransition):
        kyc_approve_with_four_eyes(profile=profile, reviewer=staff)


@pytest.mark.parametrize("declared", [None, "100000.00", "5000"])
def test_at_or_below_the_limit_one_approval_is_enough(staff, declared):
    profile = pending_investor(declared=declared)
    assert not kyc_requires_four_eyes(profile)
    outcome = kyc_approve_with_four_eyes(profile=profile, reviewer=staff)
    assert outcome.approved
    assert outcome.profile.status == KycStatus.APPROVED
    assert not KycApproval.objects.exists()


def test_the_limit_is_a_setting(staff, settings):
    settings.KYC_FOUR_EYES_ABOVE = Decimal("1000")
    profile = pending_investor(declared="5000")
    assert not kyc_approve_with_four_eyes(profile=profile, reviewer=staff).approved


def test_sellers_are_never_four_eyes(staff):
    user = make_user("SELLER", "acme@example.com")
    profile = kyc_submit_with_document(
        user=user,
        legal_name="Bei Spiel GmbH",
        country="DE",
        tax_id="DE136695976",
        document=uploaded(PNG_BYTES, "register.png", "image/png"),
        declared_investment=Decimal("9999999"),  # ignored for sellers
    )
    assert profile.declared_investment is None
    assert kyc_approve_with_four_eyes(profile=profile, reviewer=staff).approved


def test_an_approval_before_a_rejection_does_not_count_after_resubmission(staff, second_staff):
    profile = pending_investor()
    kyc_approve_with_four_eyes(profile=profile, reviewer=staff)
    kyc_reject(profile=profile, reviewer=second_staff, reason="Passport expired")
    profile = kyc_submit_with_document(
        user=profile.user,
        legal_name="Big Investor",
        country="FR",
        tax_id="FR40303265045",
        declared_investment=Decimal("250000"),
    )  # the document on file is kept
    outcome = kyc_approve_with_four_eyes(profile=profile, reviewer=second_staff)
    assert not outcome.approved  # staff's earlier approval was for the old submission
    assert kyc_approve_with_four_eyes(profile=profile, reviewer=staff).approved


def test_only_staff_and_never_on_their_own_profile(staff):
    profile = pending_investor()
    other = make_user("INVESTOR", "other@example.com")
    with pytest.raises(PermissionDenied):
        kyc_approve_with_four_eyes(profile=profile, reviewer=other)
    with pytest.raises(PermissionDenied):
        kyc_approve_with_four_eyes(profile=profile, reviewer=profile.user)
    assert not KycApproval.objects.exists()


def _verified_admin_client(user) -> Client:
    client = Client()
    client.force_login(user)
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


def test_admin_action_records_the_first_approval_and_the_second_decides(staff, second_staff):
    profile = pending_investor()
    changelist = reverse("admin:accounts_kycprofile_changelist")
    data = {
        "action": "approve_selected",
        "_selected_action": [profile.pk],
        "apply": "1",
        "reason": "Checked",
    }

    first = _verified_admin_client(staff).post(changelist, data, follow=True)
    assert b"a second reviewer must approve too" in first.content
    assert KycProfile.objects.get(pk=profile.pk).status == KycStatus.PENDING_REVIEW

    again = _verified_admin_client(staff)
    again_response = again.post(changelist, data, follow=True)
    assert b"second, different reviewer" in again_response.content

    second = _verified_admin_client(second_staff).post(changelist, data, follow=True)
    assert b"Approved 1 profile(s)." in second.content
    assert KycProfile.objects.get(pk=profile.pk).status == KycStatus.APPROVED

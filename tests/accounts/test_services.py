"""Registration and KYC/KYB: services, the state machine, the audit trail."""

from __future__ import annotations

import pytest

from accounts.enums import KycKind, KycStatus, Role
from accounts.models import KycProfile, KycStatusEvent, User
from accounts.services import (
    kyc_approve,
    kyc_reject,
    kyc_submit,
    kyc_transition,
    staff_user_create,
    user_register,
)
from compliance.taxids import InvalidTaxId, validate_tax_id
from paymint.core.errors import ApplicationError, InvalidTransition, PermissionDenied
from tests.helpers import STRONG_PASSWORD, db_counts, kyc_ready

pytestmark = pytest.mark.django_db

KYB = {"legal_name": "Bei Spiel GmbH", "country": "DE", "tax_id": "DE136695976"}


@pytest.fixture
def applicant(db):
    return kyc_ready(
        user_register(email="Applicant@Example.COM", password=STRONG_PASSWORD, role="SELLER"))


class TestRegister:
    def test_creates_a_user_with_normalised_email(self, applicant):
        assert applicant.email == "applicant@example.com"
        assert applicant.username == applicant.email
        assert applicant.role == Role.SELLER
        assert applicant.check_password(STRONG_PASSWORD)
        assert applicant.deposit_reference.startswith("PM-")
        assert not applicant.is_staff

    @pytest.mark.parametrize(
        ("kwargs", "code"),
        [
            ({"role": "STAFF"}, "INVALID_ROLE"),
            ({"role": "ADMIN"}, "INVALID_ROLE"),
            ({"password": "short"}, "WEAK_PASSWORD"),
            ({"password": "12345678901"}, "WEAK_PASSWORD"),
            ({"password": "new-user@example.com"}, "WEAK_PASSWORD"),
        ],
    )
    def test_refusals_write_nothing(self, db, kwargs, code):
        params = {"email": "new-user@example.com", "password": STRONG_PASSWORD, "role": "INVESTOR"}
        params.update(kwargs)
        with pytest.raises(ApplicationError) as info:
            user_register(**params)
        assert info.value.code == code
        assert not User.objects.filter(email="new-user@example.com").exists()

    def test_email_taken_in_any_case(self, applicant):
        count = User.objects.count()
        with pytest.raises(ApplicationError) as info:
            user_register(email="APPLICANT@example.com", password=STRONG_PASSWORD, role="INVESTOR")
        assert (info.value.code, info.value.http_status) == ("EMAIL_TAKEN", 409)
        assert User.objects.count() == count

    def test_staff_user(self, db):
        staff = staff_user_create(email="Ops@Example.com", password=STRONG_PASSWORD)
        assert (staff.email, staff.role, staff.is_staff, staff.is_superuser) == (
            "ops@example.com",
            Role.STAFF,
            True,
            False,  # never a superuser: the operations role by default
        )
        assert [g.name for g in staff.groups.all()] == ["operations"]


class TestKycSubmit:
    def test_submit_validates_and_stores_the_tax_id_compact(self, applicant):
        profile = kyc_submit(
            user=applicant, legal_name=" Bei Spiel GmbH ", country="de", tax_id="136 695 976"
        )
        assert profile.status == KycStatus.PENDING_REVIEW
        assert profile.kind == KycKind.KYB
        assert (profile.legal_name, profile.country) == ("Bei Spiel GmbH", "DE")
        assert (profile.tax_id, profile.tax_id_scheme) == ("DE136695976", "stdnum.eu.vat")
        assert profile.submitted_at is not None
        event = KycStatusEvent.objects.get(profile=profile)
        assert (event.from_status, event.to_status, event.actor) == (
            "DRAFT",
            "PENDING_REVIEW",
            applicant,
        )

    def test_investor_gets_kyc(self, db):
        investor = kyc_ready(
            user_register(email="i@example.com", password=STRONG_PASSWORD, role="INVESTOR"))
        profile = kyc_submit(
            user=investor, legal_name="Anna SARL", country="FR", tax_id="FR40303265045"
        )
        assert profile.kind == KycKind.KYC

    @pytest.mark.parametrize(
        ("country", "tax_id"),
        [
            ("DE", "DE123456789"),  # bad check digit
            ("DE", "123"),
            ("DE", ""),
            ("FR", "FR40303265046"),
            ("IN", "27AAPFU0939F1Z4"),  # GSTIN with a wrong check character
        ],
    )
    def test_invalid_tax_id_writes_nothing(self, applicant, country, tax_id):
        before = db_counts()
        with pytest.raises(InvalidTaxId) as info:
            kyc_submit(user=applicant, legal_name="X GmbH", country=country, tax_id=tax_id)
        assert (info.value.code, info.value.http_status) == ("INVALID_TAX_ID", 400)
        assert "tax_id" in info.value.fields
        assert db_counts() == before

    def test_tax_id_of_another_country_is_refused(self, applicant):
        """A valid German VAT number does not identify a French company."""
        before = db_counts()
        with pytest.raises(InvalidTaxId):
            kyc_submit(user=applicant, legal_name="X SARL", country="FR", tax_id="DE136695976")
        assert db_counts() == before

    @pytest.mark.parametrize(
        ("legal_name", "country", "field"),
        [("  ", "DE", "legal_name"), ("X GmbH", "DEU", "country"), ("X GmbH", "", "country")],
    )
    def test_missing_details(self, applicant, legal_name, country, field):
        before = db_counts()
        with pytest.raises(ApplicationError) as info:
            kyc_submit(user=applicant, legal_name=legal_name, country=country, tax_id="DE136695976")
        assert info.value.code == "VALIDATION_ERROR"
        assert field in info.value.fields
        assert db_counts() == before

    def test_cannot_resubmit_while_pending(self, applicant):
        kyc_submit(user=applicant, **KYB)
        before = db_counts()
        with pytest.raises(InvalidTransition) as info:
            kyc_submit(user=applicant, **{**KYB, "legal_name": "Changed GmbH"})
        assert info.value.code == "KYC_ALREADY_SUBMITTED"
        assert db_counts() == before
        assert KycProfile.objects.get().legal_name == "Bei Spiel GmbH"

    def test_staff_do_not_do_kyc(self, staff):
        with pytest.raises(PermissionDenied):
            kyc_submit(user=staff, **KYB)
        assert not KycProfile.objects.exists()


class TestReview:
    def test_approve_records_who_when_why(self, applicant, staff):
        profile = kyc_submit(user=applicant, **KYB)
        profile = kyc_approve(profile=profile, reviewer=staff, reason="  ")
        assert profile.status == KycStatus.APPROVED
        assert (profile.decided_by, profile.decision_reason) == (staff, "Approved")
        assert profile.decided_at is not None
        assert [e.to_status for e in profile.events.all()] == ["PENDING_REVIEW", "APPROVED"]

    def test_reject_then_resubmit_then_approve(self, applicant, staff):
        profile = kyc_submit(user=applicant, **KYB)
        profile = kyc_reject(profile=profile, reviewer=staff, reason="Blurry register extract")
        assert (profile.status, profile.decision_reason) == ("REJECTED", "Blurry register extract")
        profile = kyc_submit(user=applicant, **{**KYB, "legal_name": "Bei Spiel GmbH & Co"})
        assert profile.status == KycStatus.PENDING_REVIEW
        assert (profile.decided_by, profile.decision_reason) == (None, "")
        profile = kyc_approve(profile=profile, reviewer=staff)
        assert [e.to_status for e in profile.events.all()] == [
            "PENDING_REVIEW",
            "REJECTED",
            "PENDING_REVIEW",
            "APPROVED",
        ]

    def test_reject_needs_a_reason(self, applicant, staff):
        profile = kyc_submit(user=applicant, **KYB)
        before = db_counts()
        with pytest.raises(ApplicationError) as info:
            kyc_reject(profile=profile, reviewer=staff, reason="   ")
        assert info.value.code == "REASON_REQUIRED"
        assert db_counts() == before

    def test_only_active_staff_review(self, applicant, staff, make_investor):
        profile = kyc_submit(user=applicant, **KYB)
        investor = make_investor()
        staff.is_active = False
        staff.save()
        before = db_counts()
        for reviewer in (investor, staff, applicant):
            with pytest.raises(PermissionDenied):
                kyc_approve(profile=profile, reviewer=reviewer)
        assert KycProfile.objects.get(pk=profile.pk).status == KycStatus.PENDING_REVIEW
        assert db_counts()["KycStatusEvent"] == before["KycStatusEvent"]

    def test_staff_cannot_review_themself(self, applicant):
        profile = kyc_submit(user=applicant, **KYB)
        User.objects.filter(pk=applicant.pk).update(is_staff=True)
        applicant.refresh_from_db()
        with pytest.raises(PermissionDenied):
            kyc_approve(profile=profile, reviewer=applicant)
        assert KycProfile.objects.get().status == KycStatus.PENDING_REVIEW

    @pytest.mark.parametrize(
        ("start", "to_status"),
        [
            ("DRAFT", "APPROVED"),
            ("DRAFT", "REJECTED"),
            ("APPROVED", "REJECTED"),
            ("APPROVED", "PENDING_REVIEW"),
            ("REJECTED", "APPROVED"),
        ],
    )
    def test_illegal_moves(self, applicant, staff, start, to_status):
        profile = KycProfile.objects.get(user=applicant)  # the draft the document made
        KycProfile.objects.filter(pk=profile.pk).update(
            legal_name="X", country="DE", status=start,
            decision_reason="r" if start == "REJECTED" else "")
        profile.refresh_from_db()
        with pytest.raises(InvalidTransition) as info:
            kyc_transition(profile=profile, to_status=to_status, actor=staff, reason="r")
        assert info.value.code == "INVALID_KYC_TRANSITION"
        assert KycProfile.objects.get().status == start
        assert not KycStatusEvent.objects.exists()


class TestTaxIds:
    @pytest.mark.parametrize(
        ("value", "country", "compact"),
        [
            ("DE136695976", "DE", "DE136695976"),
            ("136695976", "DE", "DE136695976"),
            ("FR 40 303 265 045", "FR", "FR40303265045"),
            ("ATU13585627", "AT", "ATU13585627"),
        ],
    )
    def test_valid(self, value, country, compact):
        assert validate_tax_id(value, country).compact == compact

    def test_unsupported_country(self):
        with pytest.raises(InvalidTaxId):
            validate_tax_id("123", "ZZ")

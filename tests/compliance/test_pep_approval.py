"""Senior-management approval of PEP relationships (FATF R.12, AMLD art. 20(b)): releasing a
PEP_REVIEW hold needs active staff holding compliance.approve_pep_relationship, a note, the
EDD findings (source of wealth and of funds) and another person than the alert's assignee;
sanctions holds keep their rule. Service and admin (over HTTP)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.enums import KycStatus, Role
from accounts.models import KycProfile
from accounts.services import kyc_approve
from compliance.enums import AlertKind, AlertStatus
from compliance.holds import user_is_on_hold
from compliance.models import AccountHold, AlertNote, AuditEvent, ComplianceAlert
from compliance.screening import (
    ParsedParty,
    account_hold_release,
    parse_opensanctions_csv,
    sanctions_list_load,
    screen_user,
)
from compliance.services import alert_assign, alert_transition
from paymint.core.errors import PermissionDenied, ValidationFailed
from tests.factories import UserFactory
from tests.helpers import make_user

PEP_CSV = Path(settings.BASE_DIR) / "compliance/sanctions_data/opensanctions_peps_sample.csv"
WEALTH = "Salary as deputy minister 2010-2020 and inherited family property (land register)"
FUNDS = "Sale of a flat in Paris in 2024 (notarial deed), paid from the seller's bank account"
HOLDS = "admin:compliance_accounthold_changelist"


def _staff(email: str, *codenames: str):
    """A non-superuser staff member holding the given compliance permissions."""
    user = UserFactory(email=email, role=Role.STAFF, is_staff=True, roles=())
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="compliance", codename__in=codenames)
    )
    return type(user).objects.get(pk=user.pk)  # fresh: no cached permissions


@pytest.fixture
def analyst(db):
    """Ops staff who work alerts and release holds, without senior-management rights."""
    return _staff(
        "analyst@example.com", "view_accounthold", "change_accounthold", "change_compliancealert"
    )


@pytest.fixture
def senior(db):
    """A senior manager (the MLRO): works alerts and may approve PEP relationships."""
    return _staff(
        "mlro@example.com",
        "view_accounthold",
        "change_accounthold",
        "change_compliancealert",
        "approve_pep_relationship",
    )


@pytest.fixture
def pep_hold(db):
    sanctions_list_load(source="PEP", parties=parse_opensanctions_csv(PEP_CSV))
    user = make_user(
        "INVESTOR",
        "applicant@example.com",
        kyc={"legal_name": "Zhanna Primerchuk", "country": "FR", "tax_id": "FR40303265045"},
    )
    screen_user(user)
    hold = AccountHold.objects.get(user=user)
    assert hold.reason == AccountHold.Reason.PEP_REVIEW and hold.alert.kind == AlertKind.PEP_MATCH
    return hold


def _snapshot(hold: AccountHold) -> dict:
    """Everything a refused release must leave as it was."""
    row = AccountHold.objects.filter(pk=hold.pk).values().get()
    return {
        "hold": row,
        "alert": ComplianceAlert.objects.filter(pk=hold.alert_id).values().get(),
        "notes": AlertNote.objects.count(),
        "audit": AuditEvent.objects.count(),
    }


def _release(hold, actor, **overrides):
    kwargs = {
        "note": "EDD complete; relationship approved",
        "edd_source_of_wealth": WEALTH,
        "edd_source_of_funds": FUNDS,
        **overrides,
    }
    return account_hold_release(hold=hold, actor=actor, **kwargs)


# --- Service ---------------------------------------------------------------------------------


def test_staff_without_the_permission_cannot_release_a_pep_hold(pep_hold, analyst, senior):
    # The permission alone is not enough: the approver must be active staff.
    outsider = make_user("INVESTOR", "outsider@example.com")
    outsider.user_permissions.add(Permission.objects.get(codename="approve_pep_relationship"))
    type(senior).objects.filter(pk=senior.pk).update(is_active=False)
    senior.refresh_from_db()
    before = _snapshot(pep_hold)

    with pytest.raises(PermissionDenied) as refused:
        _release(pep_hold, analyst)
    assert refused.value.code == "SENIOR_APPROVAL_REQUIRED"
    assert "senior-management approval" in refused.value.message
    for actor in (type(outsider).objects.get(pk=outsider.pk), senior):
        with pytest.raises(PermissionDenied) as refused:
            _release(pep_hold, actor)
        assert refused.value.code == "PERMISSION_DENIED"

    assert _snapshot(pep_hold) == before
    assert user_is_on_hold(pep_hold.user)


@pytest.mark.parametrize(
    ("overrides", "code", "fields"),
    [
        ({"edd_source_of_wealth": "", "edd_source_of_funds": ""}, "EDD_REQUIRED",
         {"edd_source_of_wealth", "edd_source_of_funds"}),
        ({"edd_source_of_wealth": "  \n "}, "EDD_REQUIRED", {"edd_source_of_wealth"}),
        ({"edd_source_of_funds": ""}, "EDD_REQUIRED", {"edd_source_of_funds"}),
        ({"edd_source_of_funds": "x" * 501}, "EDD_TOO_LONG", {"edd_source_of_funds"}),
        ({"note": " "}, "NOTE_REQUIRED", {"note"}),
    ],
)
def test_a_senior_manager_needs_the_edd_findings_and_a_note(pep_hold, senior, overrides, code,
                                                            fields):
    before = _snapshot(pep_hold)
    with pytest.raises(ValidationFailed) as refused:
        _release(pep_hold, senior, **overrides)
    assert refused.value.code == code
    assert set(refused.value.fields) == fields
    assert _snapshot(pep_hold) == before
    assert user_is_on_hold(pep_hold.user)


def test_the_staff_member_assigned_the_alert_cannot_approve_it(pep_hold, senior, analyst):
    # The senior manager starts the review: the alert is assigned to them.
    alert_transition(alert=pep_hold.alert, to_status=AlertStatus.IN_REVIEW, actor=senior)
    before = _snapshot(pep_hold)
    with pytest.raises(PermissionDenied) as refused:
        _release(pep_hold, senior)
    assert refused.value.code == "FOUR_EYES_REQUIRED"
    assert _snapshot(pep_hold) == before
    assert user_is_on_hold(pep_hold.user)

    # Handed to an analyst who works the case, the senior manager may approve.
    alert_assign(alert=pep_hold.alert, assignee=analyst, actor=senior)
    assert _release(pep_hold, senior).released_by == senior


def test_a_senior_release_records_the_edd_and_the_approver_and_kyc_can_then_be_approved(
    pep_hold, senior, analyst, staff
):
    alert = pep_hold.alert
    alert_transition(alert=alert, to_status=AlertStatus.IN_REVIEW, actor=analyst)
    profile = KycProfile.objects.get(user=pep_hold.user)

    released = _release(
        pep_hold, senior, note="  EDD complete; relationship approved  ",
        edd_source_of_wealth=f"  {WEALTH}\n", edd_source_of_funds=FUNDS,
    )

    hold = AccountHold.objects.get(pk=pep_hold.pk)
    assert released == hold
    assert hold.released_at is not None and hold.released_by == senior
    assert hold.release_note == "EDD complete; relationship approved"
    assert hold.edd_source_of_wealth == WEALTH and hold.edd_source_of_funds == FUNDS
    assert not user_is_on_hold(pep_hold.user)
    # The alert's history says who approved, and on what findings.
    note = AlertNote.objects.filter(alert=alert).latest("id")
    assert note.author == senior
    assert "PEP relationship approved (senior management)" in note.text
    assert WEALTH in note.text and FUNDS in note.text
    # The release, EDD included, is in the audit trail with its actor.
    event = AuditEvent.objects.filter(object_pk=str(hold.pk), event="",
                                      content_type__model="accounthold").latest("id")
    assert event.actor == senior
    assert event.changes["edd_source_of_funds"] == ["", FUNDS]
    assert event.changes["released_by"][1] == senior.pk

    assert kyc_approve(profile=profile, reviewer=staff).status == KycStatus.APPROVED
    # Released once: a second call changes nothing.
    again = account_hold_release(hold=hold, actor=senior, note="again",
                                 edd_source_of_wealth="other", edd_source_of_funds="other")
    assert again.release_note == hold.release_note and again.edd_source_of_funds == FUNDS


def test_the_database_refuses_a_pep_release_without_edd(pep_hold, senior):
    with pytest.raises(IntegrityError), transaction.atomic():
        AccountHold.objects.filter(pk=pep_hold.pk).update(
            released_at=timezone.now(), released_by=senior, release_note="approved"
        )


def test_sanctions_holds_keep_their_release_rule(db, analyst):
    sanctions_list_load(
        source="OFAC",
        parties=[ParsedParty(list_id="1", name="TESTOVA, Anastasiya", party_type="INDIVIDUAL")],
    )
    user = make_user(
        "INVESTOR",
        "a.testova@example.com",
        kyc={"legal_name": "Anastasiya Testova", "country": "FR", "tax_id": "FR40303265045"},
    )
    screen_user(user)
    hold = AccountHold.objects.get(user=user)
    assert hold.reason == AccountHold.Reason.SANCTIONS_HIT
    # Worked and released by the same analyst, without the permission and without EDD.
    alert_transition(alert=hold.alert, to_status=AlertStatus.IN_REVIEW, actor=analyst)
    released = account_hold_release(hold=hold, actor=analyst, note="False positive (DOB)")
    assert released.released_by == analyst and not user_is_on_hold(user)
    assert released.edd_source_of_wealth == "" and released.edd_source_of_funds == ""


# --- Admin -----------------------------------------------------------------------------------


def _admin_client(user) -> Client:
    """Signed in to the admin with a verified TOTP device, as the ops_client fixture."""
    from django.apps import apps

    client = Client()
    client.force_login(user)
    if apps.is_installed("django_otp.plugins.otp_totp"):
        from django_otp import DEVICE_ID_SESSION_KEY
        from django_otp.plugins.otp_totp.models import TOTPDevice

        device = TOTPDevice.objects.create(user=user, name="ops phone", confirmed=True)
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
    return client


def _post_release(client, hold, **data):
    return client.post(
        reverse(HOLDS),
        {"action": "release", "_selected_action": [hold.pk], **data},
        follow=True,
    )


def test_admin_release_of_a_pep_hold_without_the_permission_is_refused(pep_hold, analyst):
    client = _admin_client(analyst)
    page = _post_release(client, pep_hold)  # the action's form
    assert page.status_code == 200
    text = page.content.decode()
    assert "you do not have the permission compliance.approve_pep_relationship" in text
    assert "edd_source_of_wealth" not in text

    response = _post_release(client, pep_hold, apply="1", reason="Looks fine to me")
    assert response.status_code == 200
    assert "it needs senior-management approval" in response.content.decode()
    assert user_is_on_hold(pep_hold.user)
    assert AccountHold.objects.get(pk=pep_hold.pk).released_at is None
    event = AuditEvent.objects.get(event="hold.release")
    assert event.actor == analyst and event.reason == "Looks fine to me"
    assert event.changes == {"outcome": "refused", "code": "SENIOR_APPROVAL_REQUIRED",
                             "hold_reason": "PEP_REVIEW"}


def test_admin_release_of_a_pep_hold_asks_for_the_edd_and_records_the_approval(
    pep_hold, senior_staff, ops_client
):
    staff = senior_staff  # operations + compliance + senior_management
    page = _post_release(ops_client, pep_hold)
    text = page.content.decode()
    assert 'name="edd_source_of_wealth"' in text and 'name="edd_source_of_funds"' in text
    assert "senior-management approval of the business" in text

    # Without the findings the form is shown again and nothing is released.
    response = _post_release(ops_client, pep_hold, apply="1", reason="Approved by the MLRO")
    assert 'name="edd_source_of_funds"' in response.content.decode()
    assert AccountHold.objects.get(pk=pep_hold.pk).released_at is None
    assert not AuditEvent.objects.filter(event="hold.release").exists()

    response = _post_release(
        ops_client, pep_hold, apply="1", reason="Approved by the MLRO",
        edd_source_of_wealth=WEALTH, edd_source_of_funds=FUNDS,
    )
    assert "Released 1 hold(s)." in response.content.decode()
    hold = AccountHold.objects.get(pk=pep_hold.pk)
    assert hold.released_by == staff and hold.release_note == "Approved by the MLRO"
    assert (hold.edd_source_of_wealth, hold.edd_source_of_funds) == (WEALTH, FUNDS)
    assert not user_is_on_hold(pep_hold.user)
    event = AuditEvent.objects.get(event="hold.release")
    assert event.actor == staff and event.reason == "Approved by the MLRO"
    assert event.changes == {"outcome": "ok", "hold_reason": "PEP_REVIEW",
                             "approval": "senior_management"}

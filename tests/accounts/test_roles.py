"""Back-office roles (accounts.roles): staff are not superusers; what they may see and do in
the admin comes from the groups ``migrate`` creates. An operations user reaches every list it
works from and runs its actions, deletes nothing, manages no staff accounts and cannot approve
a PEP relationship without the senior_management role."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ImproperlyConfigured
from django.test import Client, RequestFactory
from django.urls import reverse

from accounts import roles as roles_module
from accounts.enums import KycStatus
from accounts.models import KycProfile, User
from accounts.roles import ROLES, role_groups, roles_sync
from accounts.services import staff_user_create
from compliance.enums import AlertKind, AlertStatus
from compliance.holds import user_is_on_hold
from compliance.models import AccountHold, ComplianceAlert
from compliance.screening import (
    ParsedParty,
    can_approve_pep_relationship,
    parse_opensanctions_csv,
    sanctions_list_load,
    screen_user,
)
from compliance.services import alert_raise
from invoices.models import Invoice
from paymint.core.errors import ValidationFailed
from tests.factories import InvoiceFactory
from tests.helpers import STRONG_PASSWORD, admin_sign_in, kyc_ready, make_user

PEP_CSV = Path(settings.BASE_DIR) / "compliance/sanctions_data/opensanctions_peps_sample.csv"

#: The project's apps: the only ones the roles grant anything in.
OUR_APPS = {"accounts", "invoices", "marketplace", "settlements", "compliance", "pools"}
#: The admin lists operations work from (every business record the back office shows).
OPERATIONS_CHANGELISTS = [
    "accounts_user", "accounts_kycprofile", "invoices_invoice", "marketplace_listing",
    "marketplace_investment", "settlements_journalentry", "settlements_ledgeraccount",
    "settlements_bankevent", "settlements_settlement", "settlements_chaintransaction",
    "settlements_stellaraccount", "compliance_compliancealert", "compliance_sanctionedparty",
    "compliance_accounthold", "compliance_auditevent",
]
#: Access management, second factors, tokens, lockouts, erasure requests: not operations'.
NOT_OPERATIONS = [
    "auth_group", "otp_totp_totpdevice", "token_blacklist_outstandingtoken",
    "token_blacklist_blacklistedtoken", "axes_accessattempt", "compliance_dataerasurerequest",
]


def _perms(group: Group) -> set[str]:
    return {f"{p.content_type.app_label}.{p.codename}"
            for p in group.permissions.select_related("content_type")}


def _staff(email: str, *roles: str) -> User:
    return staff_user_create(email=email, password=STRONG_PASSWORD, roles=roles)


@pytest.fixture
def operator(db):
    return _staff("operator@example.com", "operations")


@pytest.fixture
def operator_client(operator):
    return admin_sign_in(Client(), operator)


def _action_choices(response) -> set[str]:
    return {name for name, _ in response.context["action_form"].fields["action"].choices
            if name}


# --- The roles themselves -------------------------------------------------------------------


def test_migrate_creates_the_role_groups_with_exactly_their_permissions(db):
    # The test database was made by ``migrate``: nothing here created the groups.
    groups = {g.name: g for g in Group.objects.filter(name__in=ROLES)}
    assert set(groups) == {"operations", "compliance", "senior_management", "finance"}
    for name, permissions in ROLES.items():
        assert _perms(groups[name]) == set(permissions), name
    granted = set().union(*(_perms(g) for g in groups.values()))
    assert not {p for p in granted if p.split(".")[1].startswith(("delete_", "add_"))}
    assert {p.split(".")[0] for p in granted} == OUR_APPS  # not auth, otp, tokens, axes
    assert "accounts.change_user" not in granted  # no one edits staff flags or groups
    pep = "compliance.approve_pep_relationship"
    assert [n for n, g in groups.items() if pep in _perms(g)] == ["senior_management"]
    sar = "compliance.escalate_alert"
    assert [n for n, g in groups.items() if sar in _perms(g)] == ["compliance"]


def test_roles_sync_is_idempotent_and_puts_back_what_was_changed(db):
    operations = Group.objects.get(name="operations")
    operations.permissions.remove(Permission.objects.get(codename="change_invoice"))
    operations.permissions.add(Permission.objects.get(codename="delete_invoice"))
    groups_before = Group.objects.count()

    roles_sync()
    roles_sync()

    assert Group.objects.count() == groups_before
    assert _perms(Group.objects.get(name="operations")) == set(ROLES["operations"])


def test_a_misspelled_permission_in_the_roles_is_refused(db, monkeypatch):
    monkeypatch.setitem(roles_module.ROLES, "operations", ("invoices.aprove_invoice",))
    with pytest.raises(ImproperlyConfigured, match="invoices.aprove_invoice"):
        roles_sync()


# --- staff_user_create ----------------------------------------------------------------------


def test_staff_are_created_with_their_roles_and_never_as_superusers(db):
    user = _staff("Mlro@Example.com", "compliance", "senior_management")
    assert (user.email, user.is_staff, user.is_superuser) == ("mlro@example.com", True, False)
    assert {g.name for g in user.groups.all()} == {"compliance", "senior_management"}
    assert user.has_perm("compliance.approve_pep_relationship")
    assert not user.has_perm("invoices.change_invoice")


@pytest.mark.parametrize("roles", [("operations", "superuser"), ()])
def test_an_unknown_role_is_refused_and_nothing_is_written(db, roles):
    with pytest.raises(ValidationFailed) as refused:
        staff_user_create(email="x@example.com", password=STRONG_PASSWORD, roles=roles)
    assert refused.value.code == "UNKNOWN_ROLE"
    assert not User.objects.filter(email="x@example.com").exists()


# --- Operations in the admin ----------------------------------------------------------------


def test_operations_open_every_list_they_work_from(operator_client):
    for name in OPERATIONS_CHANGELISTS:
        response = operator_client.get(reverse(f"admin:{name}_changelist"))
        assert response.status_code == 200, name


def test_operations_do_not_reach_access_management_or_erasure_requests(
    operator_client, seller, operator
):
    for name in NOT_OPERATIONS:
        assert operator_client.get(reverse(f"admin:{name}_changelist")).status_code == 403, name
    # Users: read-only. No staff flags, groups or passwords set here.
    change = reverse("admin:accounts_user_change", args=[operator.pk])
    assert operator_client.get(change).status_code == 200
    response = operator_client.post(change, {"email": operator.email, "is_staff": "on",
                                             "is_superuser": "on", "is_active": "on"})
    assert response.status_code == 403
    operator.refresh_from_db()
    assert not operator.is_superuser
    password = reverse("admin:auth_user_password_change", args=[seller.pk])
    response = operator_client.post(password, {"password1": "x" * 20, "password2": "x" * 20})
    assert response.status_code == 403
    assert operator_client.get(reverse("admin:accounts_user_add")).status_code == 403


def test_operations_delete_nothing(operator, operator_client, seller):
    request = RequestFactory().get("/")
    request.user = operator
    for model, model_admin in admin.site._registry.items():
        assert not model_admin.has_delete_permission(request), model._meta.label
        assert "delete_selected" not in model_admin.get_actions(request), model._meta.label
    assert not [p for p in operator.get_all_permissions() if ".delete_" in p]
    invoice = InvoiceFactory(mustang=True, seller=seller)
    delete = reverse("admin:invoices_invoice_delete", args=[invoice.pk])
    assert operator_client.post(delete, {"post": "yes"}).status_code == 403
    assert Invoice.objects.filter(pk=invoice.pk).exists()


def test_operations_approve_a_kyb_in_the_admin(operator_client, operator):
    applicant = make_user("SELLER", "new-seller@example.com", kyc={
        "legal_name": "Bei Spiel GmbH", "country": "DE", "tax_id": "DE136695976"})
    profile = KycProfile.objects.get(user=applicant)
    changelist = reverse("admin:accounts_kycprofile_changelist")
    assert {"approve_selected", "reject_selected"} <= _action_choices(
        operator_client.get(changelist))
    operator_client.post(changelist, {"action": "approve_selected",
                                      "_selected_action": [profile.pk], "apply": "1",
                                      "reason": ""})
    profile.refresh_from_db()
    assert (profile.status, profile.decided_by) == (KycStatus.APPROVED, operator)


def test_operations_verify_an_invoice_in_the_admin(operator_client, operator, seller):
    invoice = InvoiceFactory(mustang=True, seller=seller)
    response = operator_client.post(reverse("admin:invoices_invoice_changelist"),
                                    {"action": "verify", "_selected_action": [invoice.pk]})
    assert response.status_code == 302
    invoice.refresh_from_db()
    assert invoice.ops_verified_by == operator


def test_operations_resolve_an_alert_in_the_admin(operator_client, seller):
    alert = alert_raise(kind=AlertKind.AML_RULE, dedupe_key="aml:roles:1",
                        title="Large deposit", evidence={}, user=seller)
    changelist = reverse("admin:compliance_compliancealert_changelist")
    offered = _action_choices(operator_client.get(changelist))
    assert {"start_review", "assign", "add_note", "resolve"} <= offered
    assert offered.isdisjoint({"escalate", "download_sar"})  # the MLRO's (compliance role)
    operator_client.post(changelist, {"action": "start_review", "_selected_action": [alert.pk]})
    operator_client.post(changelist, {"action": "resolve", "_selected_action": [alert.pk],
                                      "apply": "1", "reason": "Salary payment, documented"})
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED


def test_operations_release_a_sanctions_hold_in_the_admin(operator_client, operator, staff):
    sanctions_list_load(source="OFAC", parties=[
        ParsedParty(list_id="1", name="TESTOVA, Anastasiya", party_type="INDIVIDUAL")])
    user = make_user("INVESTOR", "a.testova@example.com", kyc={
        "legal_name": "Anastasiya Testova", "country": "FR", "tax_id": "FR40303265045"})
    screen_user(user)
    hold = AccountHold.objects.get(user=user, reason=AccountHold.Reason.SANCTIONS_HIT)
    operator_client.post(reverse("admin:compliance_accounthold_changelist"), {
        "action": "release", "_selected_action": [hold.pk], "apply": "1",
        "reason": "False positive: date of birth differs"})
    hold.refresh_from_db()
    assert hold.released_by == operator and not user_is_on_hold(user)


@pytest.mark.django_db
def test_requeue_is_offered_to_operations_only():
    from settlements.models import ChainTransaction

    chain_admin = admin.site._registry[ChainTransaction]
    # The read-only outbox admin answers change checks with "no" on a POST, so the requeue
    # action has its own permission check: change_chaintransaction.
    for roles, offered in ((("operations",), True), (("compliance",), False)):
        request = RequestFactory().post("/")
        request.user = _staff(f"{roles[0]}@example.com", *roles)
        assert ("requeue" in chain_admin.get_actions(request)) is offered, roles


def test_staff_who_may_only_view_alerts_get_no_action_that_changes_them(db, seller):
    board = _staff("board@example.com", "senior_management")  # view_compliancealert only
    client = admin_sign_in(Client(), board)
    alert = alert_raise(kind=AlertKind.AML_RULE, dedupe_key="aml:roles:2",
                        title="Large deposit", evidence={}, user=seller)
    changelist = reverse("admin:compliance_compliancealert_changelist")
    offered = _action_choices(client.get(changelist))
    assert offered.isdisjoint({"start_review", "assign", "add_note", "resolve", "escalate"})
    client.post(changelist, {"action": "resolve", "_selected_action": [alert.pk],
                             "apply": "1", "reason": "not mine to decide"})
    client.post(changelist, {"action": "start_review", "_selected_action": [alert.pk]})
    alert.refresh_from_db()
    assert (alert.status, alert.assigned_to) == (AlertStatus.OPEN, None)


#: Admin actions that only read (exports); every other action changes data.
READ_ACTIONS = {"export_csv", "export_jsonl", "download_sar"}


def test_every_action_that_changes_data_needs_more_than_view_permission(db):
    viewer_group = Group.objects.create(name="viewer (test)")
    viewer_group.permissions.set(Permission.objects.filter(codename__startswith="view_"))
    viewer = _staff("viewer@example.com", "senior_management")
    viewer.groups.set([viewer_group])
    viewer = User.objects.get(pk=viewer.pk)
    for method in ("get", "post"):
        request = getattr(RequestFactory(), method)("/")
        request.user = viewer
        for model, model_admin in admin.site._registry.items():
            if model._meta.app_label not in OUR_APPS:
                continue  # third-party admins: no role has any permission there (above)
            offered = set(model_admin.get_actions(request))
            assert offered <= READ_ACTIONS, (model._meta.label, method, offered)


# --- PEP relationships: senior management ---------------------------------------------------


def test_a_pep_release_needs_the_senior_management_role(operator_client, operator):
    sanctions_list_load(source="PEP", parties=parse_opensanctions_csv(PEP_CSV))
    user = make_user("INVESTOR", "applicant@example.com", kyc={
        "legal_name": "Zhanna Primerchuk", "country": "FR", "tax_id": "FR40303265045"})
    screen_user(user)
    hold = AccountHold.objects.get(user=user, reason=AccountHold.Reason.PEP_REVIEW)
    release = {"action": "release", "_selected_action": [hold.pk], "apply": "1",
               "reason": "EDD complete, relationship approved",
               "edd_source_of_wealth": "Ministerial salary, inherited property",
               "edd_source_of_funds": "Savings account at a French bank"}
    holds = reverse("admin:compliance_accounthold_changelist")

    assert not can_approve_pep_relationship(operator)
    response = operator_client.post(holds, release, follow=True)
    assert "senior-management approval" in response.content.decode()
    hold.refresh_from_db()
    assert hold.released_at is None and user_is_on_hold(user)

    operator.groups.add(*role_groups(["senior_management"]))
    operator = User.objects.get(pk=operator.pk)  # fresh: no cached permissions
    assert can_approve_pep_relationship(operator)
    response = operator_client.post(holds, release, follow=True)
    assert "Released 1 hold(s)." in response.content.decode()
    hold.refresh_from_db()
    assert hold.released_by == operator and not user_is_on_hold(user)
    assert ComplianceAlert.objects.get(pk=hold.alert_id).kind == AlertKind.PEP_MATCH


def test_services_check_the_role_whatever_the_entry_point(db, seller):
    """The services themselves refuse staff whose role lacks the permission (not only the
    admin's action list): compliance-only staff cannot decide KYC or invoice checks,
    operations-only staff cannot decide erasure requests, and nothing is written."""
    from accounts.services import kyc_approve, kyc_submit, user_register
    from compliance.data_protection import erasure_reject, erasure_request_create
    from invoices.services import invoice_ops_verify
    from paymint.core.errors import PermissionDenied

    compliance_only = staff_user_create(email="mlro-only@example.com",
                                        password=STRONG_PASSWORD, roles=("compliance",))
    operations_only = staff_user_create(email="ops-only@example.com",
                                        password=STRONG_PASSWORD, roles=("operations",))

    applicant = kyc_ready(user_register(email="applicant@example.com",
                                        password=STRONG_PASSWORD, role="INVESTOR"))
    profile = kyc_submit(user=applicant, legal_name="Ada Example", country="FR",
                         tax_id="FR40303265045")
    with pytest.raises(PermissionDenied, match="accounts.change_kycprofile"):
        kyc_approve(profile=profile, reviewer=compliance_only)
    profile.refresh_from_db()
    assert profile.status != KycStatus.APPROVED
    kyc_approve(profile=profile, reviewer=operations_only)
    profile.refresh_from_db()
    assert profile.status == KycStatus.APPROVED

    invoice = InvoiceFactory(mustang=True, seller=seller)
    before = Invoice.objects.filter(pk=invoice.pk).values_list("status", flat=True).get()
    with pytest.raises(PermissionDenied, match="invoices.change_invoice") as refused:
        invoice_ops_verify(invoice=invoice, actor=compliance_only)
    assert refused.value.code == "STAFF_ONLY"
    assert Invoice.objects.filter(pk=invoice.pk).values_list("status", flat=True).get() == before

    request = erasure_request_create(user=applicant)
    with pytest.raises(PermissionDenied, match="compliance.change_dataerasurerequest"):
        erasure_reject(erasure_request=request, actor=operations_only, reason="open positions")
    request.refresh_from_db()
    assert (request.status, request.decided_at, request.decided_by) == ("REQUESTED", None, None)
    erasure_reject(erasure_request=request, actor=compliance_only, reason="open positions")
    request.refresh_from_db()
    assert (request.status, request.decided_by) == ("REJECTED", compliance_only)


def test_private_documents_and_requeue_need_the_role_not_just_staff(db, seller):
    """Two-factor verified staff open another user's KYC document or invoice document only
    when their role may view them, and requeue a chain transaction only with the permission
    to change it; the owner always opens their own."""
    from accounts.kyc_documents import kyc_document_get_for_viewer, kyc_submit_with_document
    from accounts.models import KycDocument
    from invoices.selectors import invoice_document_for_viewer
    from paymint.core.errors import NotFound, PermissionDenied
    from settlements.stellar.enums import ChainPurpose
    from settlements.stellar.outbox import chain_tx_enqueue, chain_tx_requeue
    from tests.helpers import MUSTANG_PDF, uploaded

    def verified(user):
        user.is_verified = lambda: True  # signed in with the second factor (django-otp)
        return user

    pep_approver = verified(staff_user_create(email="board@example.com",
                                              password=STRONG_PASSWORD,
                                              roles=("senior_management",)))
    operator = verified(staff_user_create(email="ops2@example.com", password=STRONG_PASSWORD))

    applicant = make_user("INVESTOR", "kyc-owner@example.com")
    kyc_submit_with_document(
        user=applicant, legal_name="Ada Example", country="FR", tax_id="FR40303265045",
        document=uploaded(MUSTANG_PDF.read_bytes(), "id.pdf", "application/pdf"),
    )
    document = KycDocument.objects.get(profile__user=applicant)
    with pytest.raises(NotFound):
        kyc_document_get_for_viewer(user=pep_approver, document_id=document.public_id)
    assert kyc_document_get_for_viewer(user=operator, document_id=document.public_id) == document
    assert kyc_document_get_for_viewer(user=applicant, document_id=document.public_id) == document

    invoice = InvoiceFactory(mustang=True, seller=seller)
    with pytest.raises(NotFound):
        invoice_document_for_viewer(user=pep_approver, object_id=invoice.public_id)
    assert invoice_document_for_viewer(user=operator, object_id=invoice.public_id)

    row = chain_tx_enqueue(purpose=ChainPurpose.SETTLEMENT_PAYOUT, idempotency_key="roles-requeue",
                           source="G" + "A" * 55, operations=[])
    with pytest.raises(PermissionDenied, match="settlements.change_chaintransaction"):
        chain_tx_requeue(chain_tx=row, actor=pep_approver, reason="fixed the trustline")

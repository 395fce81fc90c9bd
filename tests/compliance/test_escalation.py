"""Escalating an alert to a suspicious activity report (SAR) and exporting the SAR file are
the compliance officer's (MLRO's) decisions: ``compliance.escalate_alert``, held by the
``compliance`` role only. Operations staff still work alerts (review, note, resolve) but are
refused the escalation and the export by the services, and are not offered the admin
actions."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from accounts.models import User
from accounts.roles import ROLES
from accounts.services import staff_user_create
from compliance.enums import AlertKind, AlertStatus
from compliance.models import AlertNote, AuditEvent, ComplianceAlert
from compliance.sar import sar_export, sar_report
from compliance.services import alert_raise, alert_transition
from paymint.core.errors import PermissionDenied
from tests.helpers import STRONG_PASSWORD, admin_sign_in

CHANGELIST = "admin:compliance_compliancealert_changelist"


@pytest.fixture
def operator(db):
    return staff_user_create(email="ops-only@example.com", password=STRONG_PASSWORD,
                             roles=("operations",))


@pytest.fixture
def mlro(db):
    return staff_user_create(email="mlro@example.com", password=STRONG_PASSWORD,
                             roles=("compliance",))


@pytest.fixture
def alert_in_review(operator):
    alert = alert_raise(kind=AlertKind.AML_RULE, dedupe_key="aml:escalation:1",
                        title="Structuring pattern", evidence={"amount": "9900"})
    return alert_transition(alert=alert, to_status=AlertStatus.IN_REVIEW, actor=operator)


def _state(alert: ComplianceAlert) -> tuple:
    row = ComplianceAlert.objects.get(pk=alert.pk)
    return (row.status, row.resolved_by_id, row.resolved_at, row.resolution,
            AlertNote.objects.filter(alert=alert).count())


def _action_choices(client) -> set[str]:
    response = client.get(reverse(CHANGELIST))
    return {name for name, _ in response.context["action_form"].fields["action"].choices
            if name}


def test_only_the_compliance_role_holds_the_escalation_permission(db):
    holders = {g.name for g in Group.objects.filter(
        permissions__codename="escalate_alert",
        permissions__content_type__app_label="compliance")}
    assert holders == {"compliance"}
    assert [name for name, perms in ROLES.items()
            if "compliance.escalate_alert" in perms] == ["compliance"]


def test_operations_cannot_escalate_and_nothing_is_written(operator, alert_in_review):
    before = _state(alert_in_review)
    with pytest.raises(PermissionDenied) as refused:
        alert_transition(alert=alert_in_review, to_status=AlertStatus.ESCALATED,
                         actor=operator, reason="Structuring, SAR filed")
    assert refused.value.code == "ESCALATION_NOT_ALLOWED"
    assert "compliance.escalate_alert" in refused.value.message
    assert _state(alert_in_review) == before
    # Working the alert otherwise is still theirs: resolving is allowed.
    resolved = alert_transition(alert=alert_in_review, to_status=AlertStatus.RESOLVED,
                                actor=operator, reason="Salary, documented")
    assert resolved.status == AlertStatus.RESOLVED


def test_the_compliance_officer_escalates(mlro, alert_in_review):
    escalated = alert_transition(alert=alert_in_review, to_status=AlertStatus.ESCALATED,
                                 actor=mlro, reason="Structuring, SAR filed")
    assert (escalated.status, escalated.resolved_by) == (AlertStatus.ESCALATED, mlro)


def test_operations_cannot_export_a_sar(operator, mlro, alert_in_review):
    for export in (lambda: sar_export(alert_in_review, actor=operator),
                   lambda: sar_export(alert_in_review, actor=operator, fmt="xml"),
                   lambda: sar_report(alert_in_review, actor=operator)):
        with pytest.raises(PermissionDenied) as refused:
            export()
        assert refused.value.code == "ESCALATION_NOT_ALLOWED"
    report = json.loads(sar_export(alert_in_review, actor=mlro))
    assert report["report_id"] == f"SAR-{alert_in_review.public_id}"


def test_the_admin_offers_escalate_and_sar_download_to_the_compliance_officer_only(
    operator, mlro, alert_in_review
):
    operator_client = admin_sign_in(Client(), operator)
    mlro_client = admin_sign_in(Client(), User.objects.get(pk=mlro.pk))
    offered = _action_choices(operator_client)
    assert {"start_review", "resolve", "add_note"} <= offered
    assert offered.isdisjoint({"escalate", "download_sar"})
    assert {"escalate", "download_sar"} <= _action_choices(mlro_client)

    # Posting the action anyway: Django refuses an action not offered, nothing is written.
    changelist = reverse(CHANGELIST)
    before = _state(alert_in_review)
    operator_client.post(changelist, {"action": "escalate",
                                      "_selected_action": [alert_in_review.pk],
                                      "apply": "1", "reason": "Structuring, SAR filed"})
    response = operator_client.post(changelist, {"action": "download_sar",
                                                 "_selected_action": [alert_in_review.pk]})
    assert response.get("Content-Disposition") is None
    assert _state(alert_in_review) == before
    assert not AuditEvent.objects.filter(event__in=["alert.escalated", "sar.export"]).exists()

    mlro_client.post(changelist, {"action": "escalate",
                                  "_selected_action": [alert_in_review.pk],
                                  "apply": "1", "reason": "Structuring, SAR filed"})
    assert ComplianceAlert.objects.get(pk=alert_in_review.pk).status == AlertStatus.ESCALATED
    response = mlro_client.post(changelist, {"action": "download_sar",
                                              "_selected_action": [alert_in_review.pk]})
    assert response.status_code == 200
    assert json.loads(response.content)["alert"]["status"] == AlertStatus.ESCALATED

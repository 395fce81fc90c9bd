"""The back office by role (issue #13, "Each role sees exactly its actions"): the index links
only to lists the user's roles may open (finance is not sent to compliance alerts it would be
refused), and the payout records are in the audit trail like the other money models."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from accounts.services import staff_user_create
from compliance.audit import audit_events_for_object
from compliance.models import AuditEvent
from compliance.public import alert_raise
from settlements.enums import PayoutItemStatus
from settlements.models import PayoutItem
from settlements.services import (
    allocation_approve,
    bank_event_apply,
    payout_batch_approve,
    payout_batch_create,
    payout_batch_export,
    refund_propose,
)
from tests.helpers import STRONG_PASSWORD, admin_sign_in, bank_event
from tests.settlements.test_payouts import (  # noqa: F401 - fixtures
    checker,
    maker,
    payee,
    withdraw,
)

QUEUES = re.compile(r'<ul class="queues">(.*?)</ul>', re.S)
HREF = re.compile(r'href="([^"]+)"')


def queue_links(client) -> list[str]:
    page = client.get(reverse("admin:index"))
    assert page.status_code == 200
    block = QUEUES.search(page.content.decode())
    return [link.replace("&amp;", "&") for link in HREF.findall(block.group(1))] \
        if block else []


@pytest.mark.parametrize("roles", [("finance",), ("operations",), ("compliance",),
                                   ("senior_management",), ("operations", "compliance")])
def test_every_queue_on_the_index_opens_for_its_reader(roles, db):
    user = staff_user_create(email=f"{'-'.join(roles)}@example.com", password=STRONG_PASSWORD,
                             roles=roles)
    alert_raise(kind="AML_RULE", title="A large deposit", severity="HIGH",
                evidence={"amount": "1"}, dedupe_key="alert:index-links")
    client = admin_sign_in(Client(), user)
    links = queue_links(client)
    for link in links:
        assert client.get(link).status_code == 200, (roles, link)
    alerts = [link for link in links if "/compliance/compliancealert/" in link]
    kyc = [link for link in links if "/accounts/kycprofile/" in link]
    if roles == ("finance",):
        # Finance runs the money: the payout and suspense queues, no alerts, no KYC files.
        assert links and not alerts and not kyc
        assert any("/settlements/payoutbatch/" in link for link in links)
        assert any("/settlements/bankevent/?status__exact=UNMATCHED" in link
                   for link in links)
    if "compliance" in roles:
        assert alerts and kyc


def test_payout_records_are_in_the_audit_trail_with_the_ibans_masked(
        maker, checker, staff):  # noqa: F811 - fixtures
    user = payee(0, staff)
    withdraw(user, "100.00")
    batch = payout_batch_create(actor=maker, currency="EUR").batch
    payout_batch_approve(batch=batch, actor=checker)
    payout_batch_export(batch=batch, actor=maker)
    # django-auditlog's rows (the services' own action rows carry an ``event`` name).
    batch_events = audit_events_for_object(batch).filter(
        event="", action__in=(AuditEvent.Action.CREATE, AuditEvent.Action.UPDATE))
    statuses = [e.changes["status"][1] for e in batch_events.order_by("id")
                if "status" in e.changes]
    assert statuses == ["DRAFT", "APPROVED", "EXPORTED"], [e.changes for e in batch_events]
    assert all("file_content" not in e.changes for e in batch_events)

    item = batch.items.get()
    bank_event_apply(payload=bank_event("evt_audit", "withdrawal.paid", item.end_to_end_id,
                                        "100.00"))
    item_events = audit_events_for_object(PayoutItem.objects.get(pk=item.pk)).filter(
        event="", action=AuditEvent.Action.UPDATE)
    change = item_events.get().changes
    assert change["status"] == [PayoutItemStatus.SENT, PayoutItemStatus.PAID]
    assert item_events.get().subject_user == user

    credit = bank_event_apply(payload=bank_event("evt_audit_u", "deposit.received",
                                                 "PM-NOBODY55", "9.00"))
    refund = refund_propose(actor=maker, bank_event=credit, payee_name="Hans Sender",
                            payee_iban="DE89370400440532013000", reason="sender asked")
    allocation_approve(allocation=refund, actor=checker)
    refund_events = audit_events_for_object(refund).filter(
        event="", action__in=(AuditEvent.Action.CREATE, AuditEvent.Action.UPDATE)
    ).order_by("id")
    assert [e.action for e in refund_events] == [AuditEvent.Action.CREATE,
                                                 AuditEvent.Action.UPDATE]
    created = refund_events[0].changes
    assert created["amount"][1].startswith("9.00") and created["kind"][1] == "REFUND"
    # Encrypted at rest, never in the trail.
    assert "DE89370400440532013000" not in str([e.changes for e in AuditEvent.objects.all()])
    assert created["payee_iban"][1] == "[masked]"
    assert refund_events[1].changes["status"] == ["PROPOSED", "POSTED"]

"""Payouts in the admin: finance makes, approves (not its own), downloads and settles
batches through the services; operations see withdrawals and batches but cannot act."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from accounts.services import staff_user_create
from compliance.models import AuditEvent
from settlements.bankfiles import StatementLine, camt054_build
from settlements.enums import PayoutBatchStatus, WithdrawalStatus
from settlements.models import PayoutBatch, Withdrawal
from tests.helpers import STRONG_PASSWORD, admin_sign_in
from tests.settlements.test_payouts import payee, withdraw

CHANGELIST = "admin:settlements_payoutbatch_changelist"


def finance_client(email: str):
    user = staff_user_create(email=email, password=STRONG_PASSWORD, roles=("finance",))
    return user, admin_sign_in(Client(), user)


@pytest.fixture
def withdrawals(staff):
    return [withdraw(payee(n, staff), "25.00") for n in range(2)]


def _actions(response) -> set[str]:
    if response.context["action_form"] is None:  # no action offered at all
        return set()
    return {name for name, _ in response.context["action_form"].fields["action"].choices
            if name}


def test_finance_runs_a_batch_from_the_admin(db, withdrawals):
    maker, maker_client = finance_client("maker@example.com")
    checker, checker_client = finance_client("checker@example.com")

    page = maker_client.get(reverse(CHANGELIST))
    assert page.status_code == 200
    assert b"Make a payout batch" in page.content and "approve" in _actions(page)
    made = maker_client.post(reverse("admin:settlements_payoutbatch_make"),
                             {"currency": "EUR"})
    assert made.status_code == 302
    batch = PayoutBatch.objects.get()
    assert (batch.created_by, batch.item_count) == (maker, 2)

    # The maker's approval is refused with the service's message; the checker's goes through.
    refused = maker_client.post(reverse(CHANGELIST), {
        "action": "approve", "_selected_action": [batch.pk]}, follow=True)
    assert b"another finance user must approve it" in refused.content
    assert PayoutBatch.objects.get().status == PayoutBatchStatus.DRAFT
    checker_client.post(reverse(CHANGELIST), {"action": "approve",
                                              "_selected_action": [batch.pk]})
    assert PayoutBatch.objects.get().status == PayoutBatchStatus.APPROVED

    download = reverse("admin:settlements_payoutbatch_download", args=[batch.pk])
    assert maker_client.get(download).status_code == 302  # a GET changes nothing
    assert PayoutBatch.objects.get().status == PayoutBatchStatus.APPROVED
    first = maker_client.post(download)
    assert first.status_code == 200
    assert first["Content-Type"] == "application/xml"
    assert first["Content-Disposition"].endswith('.pain001.xml"')
    assert b"<NbOfTxs>2</NbOfTxs>" in first.content
    assert checker_client.post(download).content == first.content  # the same file
    assert AuditEvent.objects.filter(event="payout_batch.download").count() == 1

    batch.refresh_from_db()
    statement = camt054_build(
        message_id="CAMT-ADMIN", account_iban="DE89370400440532013000",
        created_at=dt.datetime(2026, 12, 7, 9, 0),
        lines=[StatementLine(i.end_to_end_id, Decimal("25.00"), "EUR", paid=True)
               for i in batch.items.all()])
    uploaded = maker_client.post(reverse("admin:settlements_payoutbatch_statement"), {
        "statement": SimpleUploadedFile("camt.xml", statement, "application/xml")},
        follow=True)
    assert b"2 paid, 0 failed" in uploaded.content
    assert PayoutBatch.objects.get().status == PayoutBatchStatus.SETTLED
    assert set(Withdrawal.objects.values_list("status", flat=True)) == {
        WithdrawalStatus.PAID}


def test_operations_see_payouts_but_cannot_act(ops_client, withdrawals):
    withdrawal_list = ops_client.get(reverse("admin:settlements_withdrawal_changelist"))
    assert withdrawal_list.status_code == 200
    assert "retry" not in _actions(withdrawal_list)
    batches = ops_client.get(reverse(CHANGELIST))
    assert batches.status_code == 200
    assert "approve" not in _actions(batches)
    assert b"Make a payout batch" not in batches.content
    assert ops_client.post(reverse("admin:settlements_payoutbatch_make"),
                           {"currency": "EUR"}).status_code == 403
    assert ops_client.get(reverse("admin:settlements_payoutbatch_statement")).status_code == 403
    assert not PayoutBatch.objects.exists()

"""Every event of issue #12, triggered through the real services: exactly one notification per
recipient, the right people and nobody else, each seeing only their own amounts; replays
notify nobody again and a rolled-back change notifies nobody."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from decimal import Decimal

import django_otp.oath as oath
import pytest
from django.db import transaction
from django.test import TestCase
from rest_framework.test import APIClient

from accounts.services import kyc_reject, kyc_submit, user_password_set
from accounts.two_factor import totp_disable, totp_enrolment_confirm, totp_enrolment_start
from invoices.confirmation import (
    confirmation_token,
    debtor_confirmation_request,
    debtor_confirmation_respond,
)
from invoices.services import invoice_ops_reject
from marketplace.services import investment_create, listing_create
from notifications.models import Notification
from paymint.core import clock
from paymint.core.errors import ApplicationError
from paymint.core.events import EventName, event_dispatch
from paymint.core.models import DomainEvent
from settlements.services import bank_event_apply, withdrawal_request
from settlements.tasks import invoices_age_task
from tests.helpers import (
    LISTING_DAY,
    MUSTANG_DUE,
    STRONG_PASSWORD,
    bank_event,
    deposit,
    kyc_ready,
    listed_invoice,
    make_user,
    priced_invoice,
)

pytestmark = pytest.mark.django_db

E = EventName


def after_commit():
    """Run what commits schedule (the dispatch of domain events) at the end of the block."""
    return TestCase.captureOnCommitCallbacks(execute=True)


def told(user) -> Counter:
    """How many notifications of each event ``user`` has."""
    return Counter(Notification.objects.filter(recipient=user).values_list("name", flat=True))


def body_of(user, name) -> str:
    n = Notification.objects.get(recipient=user, name=name)
    return f"{n.title}\n{n.body}"


def replay_every_dispatch():
    """Dispatch every dispatched event again (as if its acknowledgement had been lost)."""
    done = list(
        DomainEvent.objects.filter(dispatched_at__isnull=False).values_list("pk", flat=True)
    )
    DomainEvent.objects.filter(pk__in=done).update(dispatched_at=None)
    for event_id in done:
        event_dispatch(event_id=event_id)


@pytest.fixture
def other_seller(staff):
    return make_user(
        "SELLER",
        "other-seller@example.com",
        kyc={"legal_name": "Other GmbH", "country": "DE", "tax_id": "DE811569869"},
        approve_by=staff,
    )


def test_the_invoice_lifecycle_tells_each_party_once_and_only_their_share(
    seller, make_investor, other_seller
):
    with after_commit():
        # onboarded through the real services: the KYC decision is one of what they are told
        a, b = make_investor(onboarded=True), make_investor(onboarded=True)
        deposit(a, "400.00", event_id="evt_dep_a")
        deposit(b, "300.00", event_id="evt_dep_b")
        listing = listed_invoice(seller)
        with clock.frozen_at(LISTING_DAY):
            investment_create(investor=a, listing=listing, amount="300.00")
            investment_create(investor=b, listing=listing, amount="213.94")
    invoice = listing.invoice
    invoice.refresh_from_db()
    assert invoice.status == "DISBURSED"
    with clock.frozen_at(MUSTANG_DUE), after_commit():
        bank_event_apply(
            payload=bank_event(
                "evt_repay", "repayment.received", invoice.repayment_reference, "571.04"
            )
        )
    invoice.refresh_from_db()
    assert invoice.status == "SETTLED"

    assert told(seller) == Counter(
        {  # (the seller fixture's KYC decision was not dispatched)
            E.INVOICE_EXTRACTED: 1,
            E.INVOICE_PRICED: 1,
            E.LISTING_FUNDED: 1,
            E.INVOICE_DISBURSED: 1,
            E.REPAYMENT_RECEIVED: 1,
            E.INVOICE_SETTLED: 1,
        }
    )
    for investor in (a, b):
        assert told(investor) == Counter(
            {
                E.KYC_APPROVED: 1,
                E.DEPOSIT_RECEIVED: 1,
                E.INVESTMENT_CONFIRMED: 1,
                E.LISTING_FUNDED: 1,
                E.REPAYMENT_RECEIVED: 1,
                E.INVOICE_SETTLED: 1,
            }
        )
    assert told(other_seller) == Counter()  # nothing of another seller's invoice

    # Each investor sees their own amounts, never the other's.
    assert "300.00 EUR" in body_of(a, E.INVESTMENT_CONFIRMED)
    assert "213.94" not in body_of(a, E.INVESTMENT_CONFIRMED)
    assert "213.94 EUR" in body_of(b, E.LISTING_FUNDED)
    assert "300.00" not in body_of(b, E.LISTING_FUNDED)
    repaid_a, repaid_b = (body_of(x, E.REPAYMENT_RECEIVED) for x in (a, b))
    inv_a, inv_b = listing.investments.order_by("id")
    assert (
        f"{inv_a.repaid_amount:,.2f} EUR" in repaid_a
        and f"{inv_b.repaid_amount:,.2f}" not in repaid_a
    )
    assert f"{inv_b.repaid_amount:,.2f} EUR" in repaid_b
    listing.refresh_from_db()
    net = listing.funded_amount - listing.platform_fee
    assert f"{net:,.2f} EUR" in body_of(seller, E.INVOICE_DISBURSED)
    assert (
        Notification.objects.get(recipient=a, name=E.INVESTMENT_CONFIRMED).link
        == f"/investor/investments/{inv_a.public_id}/"
    )
    assert (
        Notification.objects.get(recipient=seller, name=E.INVOICE_SETTLED).link
        == f"/seller/invoices/{invoice.public_id}/"
    )

    # Replays notify nobody again: the webhook sent twice, every dispatch run twice.
    before = Notification.objects.count()
    with clock.frozen_at(MUSTANG_DUE), after_commit(), pytest.raises(ApplicationError):
        bank_event_apply(
            payload=bank_event(
                "evt_repay", "repayment.received", invoice.repayment_reference, "571.04"
            )
        )
    replay_every_dispatch()
    assert Notification.objects.count() == before


def test_overdue_default_and_write_off_reach_the_seller_and_each_investor_with_their_loss(
    seller, make_investor, settings
):
    settings.PAYMINT = {
        **settings.PAYMINT,
        "GRACE_PERIOD_DAYS": 5,
        "DEFAULT_AFTER_DAYS_PAST_DUE": 90,
    }
    with after_commit():
        a, b = make_investor(), make_investor()
        deposit(a, "300.00")
        deposit(b, "300.00")
        invoice = priced_invoice(seller)
        with clock.frozen_at(LISTING_DAY):
            listing = listing_create(invoice=invoice, seller=seller, recourse=False)
            investment_create(investor=a, listing=listing, amount="300.00")
            investment_create(investor=b, listing=listing, amount="213.94")
        for day in (MUSTANG_DUE + dt.timedelta(days=6), MUSTANG_DUE + dt.timedelta(days=90)):
            with clock.frozen_at(day):
                invoices_age_task()
                invoices_age_task()  # twice a day: nothing more
    for user in (seller, a, b):
        counts = told(user)
        assert (
            counts[E.INVOICE_OVERDUE],
            counts[E.INVOICE_DEFAULTED],
            counts[E.INVOICE_WRITTEN_OFF],
        ) == (1, 1, 1), (user, counts)
    assert "6 days past" in body_of(seller, E.INVOICE_OVERDUE)
    inv_a, inv_b = listing.investments.order_by("id")
    loss_a = body_of(a, E.INVOICE_WRITTEN_OFF)
    assert f"{inv_a.loss:,.2f} EUR" in loss_a and f"{inv_b.loss:,.2f}" not in loss_a
    assert "loss" not in body_of(seller, E.INVOICE_WRITTEN_OFF).lower()


def test_money_in_and_out_kyc_and_rejections(seller, make_investor, staff):
    with after_commit():
        investor = make_investor(onboarded=True)  # told of the KYC decision
        deposit(investor, "100.00", event_id="evt_dep")
        paid, _ = withdrawal_request(
            user=investor, amount=Decimal("30.00"), currency="EUR", idempotency_key="wd-1"
        )
        failed, _ = withdrawal_request(
            user=investor, amount=Decimal("20.00"), currency="EUR", idempotency_key="wd-2"
        )
        bank_event_apply(
            payload=bank_event("evt_wd_paid", "withdrawal.paid", paid.reference, "30.00")
        )
        payload = bank_event("evt_wd_fail", "withdrawal.failed", failed.reference, "20.00")
        payload["data"]["reason"] = "account closed"
        bank_event_apply(payload=payload)

        applicant = kyc_ready(make_user("INVESTOR", "applicant@example.com"))
        profile = kyc_submit(
            user=applicant, legal_name="Applicant", country="FR", tax_id="FR40303265045"
        )
        kyc_reject(profile=profile, reviewer=staff, reason="The document is unreadable.")

        invoice = priced_invoice(seller, variant="to-reject", invoice_number="REJ-1")
        invoice_ops_reject(invoice=invoice, actor=staff, reason="Duplicate of RE-9")
    assert told(investor) == Counter(
        {E.KYC_APPROVED: 1, E.DEPOSIT_RECEIVED: 1, E.WITHDRAWAL_PAID: 1, E.WITHDRAWAL_FAILED: 1}
    )
    assert "account closed" in body_of(investor, E.WITHDRAWAL_FAILED)
    assert "20.00 EUR" in body_of(investor, E.WITHDRAWAL_FAILED)
    assert told(applicant) == Counter({E.KYC_REJECTED: 1})
    assert "The document is unreadable." in body_of(applicant, E.KYC_REJECTED)
    assert "Duplicate of RE-9" in body_of(seller, E.INVOICE_REJECTED)
    assert told(staff) == Counter()


def test_the_debtors_answer_reaches_the_seller(seller):
    with after_commit():
        first = priced_invoice(seller, variant="d1", invoice_number="DEB-1")
        second = priced_invoice(seller, variant="d2", invoice_number="DEB-2")
        yes = debtor_confirmation_request(invoice=first, seller=seller, email="ap@debtor.example")
        no = debtor_confirmation_request(invoice=second, seller=seller, email="ap@debtor.example")
        debtor_confirmation_respond(token=confirmation_token(yes), confirmed=True)
        debtor_confirmation_respond(
            token=confirmation_token(no), confirmed=False, note="We never ordered this."
        )
    assert told(seller)[E.DEBTOR_CONFIRMED] == 1 and told(seller)[E.DEBTOR_DISPUTED] == 1
    assert "We never ordered this." in body_of(seller, E.DEBTOR_DISPUTED)


def test_security_events(make_investor):
    investor = make_investor()
    client = APIClient()

    def sign_in(agent: str):
        with after_commit():
            response = client.post(
                "/api/v1/auth/token",
                {"email": investor.email, "password": STRONG_PASSWORD},
                format="json",
                HTTP_USER_AGENT=agent,
            )
        assert response.status_code == 200, response.content

    sign_in("PayMint/1.0 (Android 14)")  # the first sign-in: nothing to compare with
    sign_in("PayMint/1.0 (Android 14)")  # the same device again
    assert told(investor)[E.SECURITY_NEW_SIGN_IN] == 0
    sign_in("Firefox/128.0 (Linux)")  # a new device
    assert told(investor)[E.SECURITY_NEW_SIGN_IN] == 1
    assert "Firefox/128.0" in body_of(investor, E.SECURITY_NEW_SIGN_IN)

    with after_commit():
        user_password_set(user=investor, password="another-long-password-77")
        device = totp_enrolment_start(user=investor)

    def code():
        return f"{oath.totp(device.bin_key, step=device.step, digits=device.digits):06d}"

    with after_commit():
        totp_enrolment_confirm(user=investor, token=code())
    device.refresh_from_db()
    device.last_t = -1  # the next step's code
    device.save()
    with after_commit():
        totp_disable(user=investor, password="another-long-password-77", token=code())
    counts = told(investor)
    assert counts[E.SECURITY_PASSWORD_CHANGED] == 1
    assert counts[E.SECURITY_TWO_FACTOR_CHANGED] == 2
    titles = set(
        Notification.objects.filter(
            recipient=investor, name=E.SECURITY_TWO_FACTOR_CHANGED
        ).values_list("title", flat=True)
    )
    assert titles == {"Two-factor authentication turned on", "Two-factor authentication turned off"}


def test_a_rolled_back_change_notifies_nobody(make_investor, seller):
    investor = make_investor()
    before = (Notification.objects.count(), DomainEvent.objects.count())
    with after_commit(), pytest.raises(RuntimeError), transaction.atomic():
        user_password_set(user=investor, password="yet-another-password-99")
        raise RuntimeError("the request failed after the change")
    # A refused funding (no cash) writes no event either.
    listing = listed_invoice(seller, variant="rb")
    with after_commit(), clock.frozen_at(LISTING_DAY), pytest.raises(ApplicationError):
        investment_create(investor=investor, listing=listing, amount="100.00")
    assert Notification.objects.filter(recipient=investor).count() == told(investor).total()
    assert told(investor) == Counter()
    assert DomainEvent.objects.filter(name=E.SECURITY_PASSWORD_CHANGED).count() == 0
    assert DomainEvent.objects.filter(name=E.INVESTMENT_CONFIRMED).count() == 0
    assert Notification.objects.count() == before[0]

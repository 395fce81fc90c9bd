"""Distribution of payments on an invoice through the waterfall, and late-interest accrual.

A payment (the debtor's, partial, late or too much; or the seller's under recourse) first lands
in the invoice's escrow account together with a :class:`~settlements.models.Settlement` intent
row; :func:`settlement_execute` then divides it with
:func:`settlements.waterfall.settlement_waterfall` in one balanced entry.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from invoices.enums import INVOICE_TRANSITIONS, REPAYABLE_STATUSES, InvoiceStatus
from invoices.models import Invoice
from invoices.pricing import late_interest_exact
from invoices.services import invoice_transition
from marketplace.enums import InvestmentStatus
from marketplace.lock_objects import listing_lock
from marketplace.models import Investment, Listing
from marketplace.selectors import investor_audience
from paymint.core import clock
from paymint.core.db import update_columns
from paymint.core.errors import ApplicationError
from paymint.core.events import EventName, event_emit
from paymint.core.money import quantize_money
from paymint.core.queue import enqueue_on_commit

from ..enums import AccountKind, EntryKind, SettlementSource, SettlementStatus
from ..error_codes import SettlementsError
from ..ledger.posting import (
    STORAGE_QUANTUM,
    Leg,
    account_balance,
    account_key,
    ledger_account,
    ledger_accounts_for_owners,
    ledger_post,
    platform_account,
)
from ..models import BankEvent, LedgerAccount, Settlement
from ..stellar.tokens import chain_on_settlement
from ..waterfall import InvestorClaim, settlement_waterfall

ZERO = Decimal(0)


def repayment_receive(*, event: BankEvent):
    """Record a debtor's payment quoted with the invoice's repayment reference (inside the
    bank event's transaction): bank clearing -> invoice escrow, plus a settlement intent whose
    task is enqueued after commit. Any amount is accepted once the advance was paid out:
    partial payments, late payments, overpayments and recoveries after default.

    Raises:
        ApplicationError: ``UNKNOWN_REFERENCE`` (422), ``INVOICE_NOT_AWAITING_REPAYMENT``
            (409), ``CURRENCY_MISMATCH`` (422).
    """
    invoice = Invoice.objects.filter(repayment_reference__iexact=event.reference).first()
    if invoice is None:
        raise ApplicationError(f"No invoice has repayment reference {event.reference}.",
                               code=SettlementsError.UNKNOWN_REFERENCE, http_status=422)
    listing = Listing.objects.filter(invoice=invoice).first()
    if listing is None:
        raise ApplicationError("This invoice was never financed.",
                               code=SettlementsError.INVOICE_NOT_AWAITING_REPAYMENT,
                               http_status=409)
    listing_lock(listing_id=listing.pk)
    invoice.refresh_from_db(fields=["status"])
    if invoice.status not in REPAYABLE_STATUSES:
        raise ApplicationError("This invoice is not awaiting repayment.",
                               code=SettlementsError.INVOICE_NOT_AWAITING_REPAYMENT,
                               http_status=409)
    if event.currency != invoice.currency:
        raise ApplicationError(
            f"The invoice is in {invoice.currency}, the payment in {event.currency}.",
            code=SettlementsError.CURRENCY_MISMATCH, http_status=422,
        )
    bank = platform_account(AccountKind.PLATFORM_BANK_CLEARING, event.currency)
    escrow = ledger_account(AccountKind.INVOICE_ESCROW, event.currency, invoice=invoice)
    entry = ledger_post(
        kind=EntryKind.REPAYMENT,
        idempotency_key=f"bank:{event.event_id}",
        currency=event.currency,
        legs=[Leg(bank, -event.amount, "debtor payment"),
              Leg(escrow, event.amount, "repayment held for distribution")],
        effective_date=clock.today(),
        description=f"Payment on invoice {invoice.invoice_number} by {invoice.debtor_name}",
        invoice=invoice,
    )
    settlement = Settlement.objects.create(
        invoice=invoice, source=SettlementSource.DEBTOR, bank_event=event,
        repaid_amount=event.amount, currency=event.currency,
    )
    enqueue_on_commit("settlements.tasks.settlement_execute_task", settlement.pk)
    return entry


class Position:
    """The columns of one active investment that distribution reads and writes.

    A plain object with slots, read with ``values_list``: a settlement builds one per
    investor, and an ``Investment`` instance (with its investor) costs ~15x as much to build.
    Accepted wherever an ``Investment`` is (:func:`accrue_late_interest`,
    :func:`investor_claims`).
    """

    __slots__ = ("pk", "investor_id", "amount", "discount_fee", "principal_repaid",
                 "fee_repaid", "late_interest_accrued", "late_interest_repaid",
                 "interest_accrued_through", "repaid_amount", "loss")

    def __init__(self, pk, investor_id, amount, discount_fee, principal_repaid, fee_repaid,
                 late_interest_accrued, late_interest_repaid, interest_accrued_through,
                 repaid_amount, loss) -> None:
        self.pk = pk
        self.investor_id = investor_id
        self.amount = amount
        self.discount_fee = discount_fee
        self.principal_repaid = principal_repaid
        self.fee_repaid = fee_repaid
        self.late_interest_accrued = late_interest_accrued
        self.late_interest_repaid = late_interest_repaid
        self.interest_accrued_through = interest_accrued_through
        self.repaid_amount = repaid_amount
        self.loss = loss


def active_positions(*, listing: Listing) -> list[Position]:
    """The listing's active investments as :class:`Position` rows, in id order (the order
    that breaks largest-remainder ties). One query."""
    rows = (Investment.objects.filter(listing=listing, status=InvestmentStatus.ACTIVE)
            .order_by("id").values_list(*Position.__slots__))
    return [Position(*row) for row in rows]


def accrue_late_interest(*, listing: Listing, investments: list[Investment] | list[Position],
                         until: dt.date) -> None:
    """Bring each investment's late interest up to ``until`` (exclusive), at the listing's late
    rate (annual, ACT/365 simple interest) on what the investor is still owed of principal and
    discount fee, counted from the due date. Kept at storage precision; rounded when claimed.
    Mutates the investments (instances or :class:`Position` rows) and writes the changed ones
    in one statement; call with the listing locked.
    """
    changed = []
    for inv in investments:
        start = max(inv.interest_accrued_through or listing.due_date, listing.due_date)
        days = (until - start).days
        if days <= 0:
            continue
        outstanding = (inv.amount - inv.principal_repaid) + (inv.discount_fee - inv.fee_repaid)
        inv.late_interest_accrued += late_interest_exact(outstanding, listing.late_rate, days)
        inv.late_interest_accrued = inv.late_interest_accrued.quantize(STORAGE_QUANTUM)
        inv.interest_accrued_through = until
        changed.append(inv)
    if changed:
        update_columns(Investment, pks=[inv.pk for inv in changed], columns={
            "late_interest_accrued": [inv.late_interest_accrued for inv in changed],
            "interest_accrued_through": [inv.interest_accrued_through for inv in changed],
        })


def investor_claims(investments: list[Investment] | list[Position], currency: str
                    ) -> dict[int, InvestorClaim]:
    """What each investor is still owed: ``{investment id: InvestorClaim}``."""
    claims = {}
    for inv in investments:
        accrued = inv.late_interest_accrued
        # Rounded once, when claimed (zero, the usual case, needs no rounding).
        late = quantize_money(accrued, currency) if accrued else ZERO
        claims[inv.pk] = InvestorClaim(
            principal=inv.amount - inv.principal_repaid,
            discount_fee=inv.discount_fee - inv.fee_repaid,
            late_interest=max(late - inv.late_interest_repaid, ZERO),
        )
    return claims


def seller_receivable_outstanding(*, invoice: Invoice, currency: str) -> Decimal:
    """What the seller still owes after a recourse payment (>= 0)."""
    key = account_key(AccountKind.SELLER_RECEIVABLE, currency, owner_id=invoice.seller_id,
                      invoice_id=None)
    account = LedgerAccount.objects.filter(key=key).first()
    return max(-account_balance(account), ZERO) if account is not None else ZERO


def settlement_execute(*, settlement_id: int) -> Settlement:
    """Distribute one payment through the waterfall (the settlement task's body).

    One durable transaction: lock the settlement, then the listing and invoice; accrue late
    interest to today; divide the payment between investors (principal + discount fee, then
    late interest), the platform (late fee) and the seller (recourse receivable, then reserve);
    post it as one entry out of the invoice escrow; update each investment's repaid components;
    settle the invoice once investors and platform are paid in full. Safe to run twice: a
    completed settlement returns at once and the entry's key is unique.
    """
    with transaction.atomic(durable=True):
        settlement = Settlement.objects.select_for_update().get(pk=settlement_id)
        if settlement.status == SettlementStatus.COMPLETED:
            return settlement
        return settlement_distribute(settlement)


def settlement_distribute(settlement: Settlement) -> Settlement:
    """Distribute one settlement's payment through the waterfall (the body of
    :func:`settlement_execute`, and of a recourse payment in :mod:`.collections`): under the
    listing and invoice locks, inside the caller's transaction."""
    invoice = settlement.invoice
    listing = listing_lock(listing_id=invoice.listing.pk)
    invoice.refresh_from_db(fields=["status"])
    currency = settlement.currency
    investments = active_positions(listing=listing)
    today = clock.today()
    if invoice.status == InvoiceStatus.OVERDUE:
        accrue_late_interest(listing=listing, investments=investments, until=today)
    claims = investor_claims(investments, currency)
    late_fee_owed = quantize_money(listing.late_fee - listing.late_fee_paid, currency)
    receivable_owed = (
        ZERO if settlement.source == SettlementSource.RECOURSE
        else seller_receivable_outstanding(invoice=invoice, currency=currency)
    )
    result = settlement_waterfall(
        repaid=settlement.repaid_amount, currency=currency, claims=claims,
        platform_late_fee=late_fee_owed, seller_receivable=receivable_owed,
    )

    escrow = ledger_account(AccountKind.INVOICE_ESCROW, currency, invoice=invoice)
    cash_accounts = ledger_accounts_for_owners(
        AccountKind.INVESTOR_CASH, currency, [inv.investor_id for inv in investments]
    )
    legs = [Leg(escrow, -settlement.repaid_amount, "payment distributed")]
    for inv in investments:
        payout = result.investors[inv.pk]
        total = payout.total
        if total:
            legs.append(Leg(cash_accounts[inv.investor_id], total,
                            f"principal {payout.principal:.2f}, discount fee "
                            f"{payout.discount_fee:.2f}, late interest {payout.late_interest:.2f}"))
        inv.principal_repaid += payout.principal
        inv.fee_repaid += payout.discount_fee
        inv.late_interest_repaid += payout.late_interest
        inv.repaid_amount += total
        inv.loss = max(inv.loss - total, ZERO)
    if result.platform_late_fee:
        legs.append(Leg(platform_account(AccountKind.PLATFORM_FEE_REVENUE, currency),
                        result.platform_late_fee, "late fee"))
    if result.seller_receivable:
        legs.append(Leg(ledger_account(AccountKind.SELLER_RECEIVABLE, currency,
                                       owner=invoice.seller),
                        result.seller_receivable, "recourse debt repaid"))
    if result.seller_reserve:
        legs.append(Leg(ledger_account(AccountKind.SELLER_CASH, currency, owner=invoice.seller),
                        result.seller_reserve, "reserve released"))
    entry = ledger_post(
        kind=EntryKind.SETTLEMENT,
        idempotency_key=f"settlement:{settlement.public_id}",
        currency=currency,
        legs=legs,
        effective_date=today,
        description=f"Distribution of {settlement.repaid_amount} {currency} on invoice "
        f"{invoice.invoice_number}",
        invoice=invoice,
    )
    remaining = investor_claims(investments, currency)
    fully_paid = all(c.total == 0 for c in remaining.values())
    # One UPDATE ... FROM unnest(...) for every investment (a set-based statement, not a row
    # each); the values are the ones the waterfall paid, already at storage precision.
    update_columns(Investment, pks=[inv.pk for inv in investments], columns={
        "principal_repaid": [inv.principal_repaid for inv in investments],
        "fee_repaid": [inv.fee_repaid for inv in investments],
        "late_interest_repaid": [inv.late_interest_repaid for inv in investments],
        "repaid_amount": [inv.repaid_amount for inv in investments],
        "loss": [inv.loss for inv in investments],
        "status": [InvestmentStatus.SETTLED.value if fully_paid and inv.loss == 0
                   else InvestmentStatus.ACTIVE.value for inv in investments],
    })
    if result.platform_late_fee:
        Listing.objects.filter(pk=listing.pk).update(
            late_fee_paid=F("late_fee_paid") + result.platform_late_fee)
    settlement.status = SettlementStatus.COMPLETED
    settlement.entry = entry
    settlement.completed_at = timezone.now()
    settlement.breakdown = {
        "investors": {str(k): str(v.total) for k, v in result.investors.items()},
        "platform_late_fee": str(result.platform_late_fee),
        "seller_receivable": str(result.seller_receivable),
        "seller_reserve": str(result.seller_reserve),
    }
    settlement.save(update_fields=["status", "entry", "completed_at", "breakdown",
                                   "updated_at"])
    late_fee_cleared = result.platform_late_fee == late_fee_owed
    seller_total = result.seller_receivable + result.seller_reserve
    # Each investor hears of their own payout only; the seller of the reserve released and
    # the recourse debt repaid.
    paid = investor_audience(
        [inv for inv in investments if result.investors[inv.pk].total],
        listing=listing, value=lambda inv: result.investors[inv.pk].total,
    )
    if seller_total:
        paid[invoice.seller_id] = {"amount": str(seller_total), "currency": currency,
                                   "invoice_id": str(invoice.public_id)}
    if paid:
        event_emit(name=EventName.REPAYMENT_RECEIVED,
                   key=f"repayment.received:{settlement.public_id}", recipients=paid,
                   data={"invoice_number": invoice.invoice_number,
                         "debtor_name": invoice.debtor_name, "currency": currency})
    if (fully_paid and late_fee_cleared
            and InvoiceStatus.SETTLED in INVOICE_TRANSITIONS[invoice.status]):
        invoice_transition(
            invoice=invoice, to_status=InvoiceStatus.SETTLED,
            reason=f"investors paid in full; this payment {settlement.repaid_amount} "
            f"{currency}: investors {result.investors_total}, late fee "
            f"{result.platform_late_fee}, seller {seller_total}",
            audience={inv.investor_id: {} for inv in investments},
        )
    # The on-chain mirror of the investors' payouts (outbox rows only; after the status move,
    # so that the final settlement also claws the invoice tokens back).
    chain_on_settlement(settlement)
    return settlement

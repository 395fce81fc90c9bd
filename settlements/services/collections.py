"""Collections: the daily aging of disbursed invoices through grace period, overdue and
default, and what default means for the money (recourse on the seller, or write-off).

Rules (configurable in ``settings.PAYMINT``):

* days past due (DPD) = business date - due date, never negative;
* DPD > ``GRACE_PERIOD_DAYS`` -> ``OVERDUE``: the platform late fee (late fee rate x face value)
  becomes due, and late interest accrues daily from the due date at the listing's late rate
  on what investors are still owed;
* DPD >= ``DEFAULT_AFTER_DAYS_PAST_DUE`` -> ``DEFAULTED``, late interest stops (non-accrual):
  with recourse the seller pays what investors and the platform are owed (from the seller's
  cash, the rest as a receivable on the seller), distributed through the waterfall; without
  recourse the invoice is written off and each investor's outstanding claim is their loss.
  Later recoveries from the debtor go through the same waterfall.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import transaction

from invoices.enums import AGING_STATUSES, InvoiceStatus
from invoices.models import Invoice
from invoices.pricing import days_past_due, late_fee
from invoices.services import invoice_transition
from marketplace.enums import InvestmentStatus
from marketplace.lock_objects import listing_lock
from marketplace.models import Investment, Listing
from marketplace.selectors import investor_audience
from paymint.core import clock
from paymint.core.money import quantize_money

from ..enums import AccountKind, EntryKind, SettlementSource
from ..ledger.posting import Leg, account_balance, ledger_account, ledger_post, lock_accounts
from ..models import Settlement
from ..stellar.tokens import chain_on_write_off
from .distribution import accrue_late_interest, investor_claims, settlement_distribute

ZERO = Decimal(0)

def invoice_age(*, invoice_id: int) -> Invoice:
    """Move a disbursed invoice along grace -> overdue -> default for today's business date,
    accruing late interest (the daily aging task's body). Safe to run any number of times a
    day: transitions happen once, accrual is counted up to today only."""
    config = settings.PAYMINT
    with transaction.atomic(durable=True):
        listing = listing_lock(listing_id=Listing.objects.get(invoice_id=invoice_id).pk)
        invoice = Invoice.objects.select_related("seller").get(pk=invoice_id)
        if invoice.status not in AGING_STATUSES:
            return invoice
        today = clock.today()
        dpd = days_past_due(listing.due_date, today)
        if invoice.status == InvoiceStatus.DISBURSED and dpd > config["GRACE_PERIOD_DAYS"]:
            listing.late_fee = late_fee(face_value=listing.face_value,
                                        late_fee_rate=listing.late_fee_rate,
                                        currency=listing.currency)
            listing.save(update_fields=["late_fee", "updated_at"])
            invoice_transition(
                invoice=invoice, to_status=InvoiceStatus.OVERDUE,
                reason=f"{dpd} days past due (grace period {config['GRACE_PERIOD_DAYS']} "
                f"days); late fee {listing.late_fee} {listing.currency}",
                audience=investor_audience(
                    Investment.objects.filter(listing=listing, status=InvestmentStatus.ACTIVE)
                    .order_by("id"), listing=listing),
            )
        if invoice.status == InvoiceStatus.OVERDUE:
            investments = list(
                Investment.objects.filter(listing=listing, status=InvestmentStatus.ACTIVE)
                .select_related("investor").order_by("id")
            )
            accrue_late_interest(listing=listing, investments=investments, until=today)
            if dpd >= config["DEFAULT_AFTER_DAYS_PAST_DUE"]:
                invoice_transition(invoice=invoice, to_status=InvoiceStatus.DEFAULTED,
                                   reason=f"{dpd} days past due",
                                   audience=investor_audience(investments, listing=listing))
                if listing.recourse:
                    _recourse(listing=listing, invoice=invoice, investments=investments)
                else:
                    _write_off(listing=listing, invoice=invoice, investments=investments)
        return invoice


def _recourse(*, listing: Listing, invoice: Invoice, investments: list[Investment]) -> None:
    currency = listing.currency
    claims = investor_claims(investments, currency)
    owed = sum((c.total for c in claims.values()), ZERO) + quantize_money(
        listing.late_fee - listing.late_fee_paid, currency)
    if owed <= 0:
        return
    seller_cash = ledger_account(AccountKind.SELLER_CASH, currency, owner=invoice.seller)
    receivable = ledger_account(AccountKind.SELLER_RECEIVABLE, currency, owner=invoice.seller)
    escrow = ledger_account(AccountKind.INVOICE_ESCROW, currency, invoice=invoice)
    # The transaction's one batch of account locks (settlements.ledger): the seller's cash,
    # debited here, and the escrow, debited by the distribution below (the receivable may go
    # negative and is not locked; the investors' cash and the fee revenue are only credited).
    lock_accounts([seller_cash, escrow])
    from_cash = min(max(account_balance(seller_cash), ZERO), owed)
    ledger_post(
        kind=EntryKind.RECOURSE,
        idempotency_key=f"recourse:{invoice.public_id}",
        currency=currency,
        legs=[Leg(seller_cash, -from_cash, "recourse: from the seller's cash"),
              Leg(receivable, -(owed - from_cash), "recourse: owed by the seller"),
              Leg(escrow, owed, "recourse payment for distribution")],
        effective_date=clock.today(),
        description=f"Recourse on the seller for defaulted invoice {invoice.invoice_number}",
        invoice=invoice,
    )
    settlement = Settlement.objects.create(invoice=invoice, source=SettlementSource.RECOURSE,
                                           repaid_amount=owed, currency=currency)
    settlement_distribute(settlement)


def _write_off(*, listing: Listing, invoice: Invoice, investments: list[Investment]) -> None:
    claims = investor_claims(investments, listing.currency)
    for inv in investments:
        inv.loss = claims[inv.pk].total
    Investment.objects.bulk_update(investments, ["loss", "updated_at"])
    total = sum((inv.loss for inv in investments), ZERO)
    invoice_transition(invoice=invoice, to_status=InvoiceStatus.WRITTEN_OFF,
                       reason=f"non-recourse default: {total} {listing.currency} written off "
                       f"across {len(investments)} investor(s)",
                       audience=investor_audience(investments, listing=listing,
                                                  value=lambda inv: inv.loss))
    # The on-chain mirror (outbox row only, in this transaction): claw the tokens back and
    # record the write-off on the issuer.
    chain_on_write_off(invoice=invoice, investments=investments, currency=listing.currency)

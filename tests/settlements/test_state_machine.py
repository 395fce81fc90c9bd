"""A stateful property test of the money engine: random sequences of deposits, fundings (valid
and invalid), listing expiry, repayments (partial, late, over), aging to overdue and default
(recourse or write-off), recoveries and withdrawals, driven through the real services and tasks
on PostgreSQL with the business clock moving forward.

After every step the books are checked: balanced entries, zero trial balance, no forbidden
negative balance, listings never overfunded, every settlement divided exactly, and investors
never paid more than they were owed. Every refused operation must raise a typed
``ApplicationError`` with the expected code and write nothing.
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from collections import defaultdict
from decimal import Decimal, InvalidOperation

import pytest
from django.apps import apps
from django.contrib.contenttypes.management import create_contenttypes
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db.models import Sum
from hypothesis import HealthCheck
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from accounts.services import staff_user_create
from invoices.enums import REPAYABLE_STATUSES, InvoiceStatus
from invoices.models import Invoice
from marketplace.enums import InvestmentStatus
from marketplace.models import Investment, Listing
from marketplace.services import investment_create, listing_create
from marketplace.tasks import listings_expire_task
from paymint.core import clock
from paymint.core.errors import ApplicationError
from paymint.core.money import quantize_money
from settlements.enums import MAY_GO_NEGATIVE, AccountKind, EntryKind, SettlementStatus
from settlements.ledger.posting import (
    account_balance,
    ledger_account,
    trial_balance,
    unbalanced_entries,
)
from settlements.models import (
    BankEvent,
    LedgerAccount,
    Posting,
    Settlement,
    Withdrawal,
)
from settlements.services import bank_event_apply, withdrawal_request
from settlements.tasks import invoices_age_task
from tests.helpers import (
    INVESTOR_TAX_IDS,
    LISTING_DAY,
    STRONG_PASSWORD,
    bank_event,
    db_counts,
    make_user,
    mustang_bytes,
    uploaded,
)

D = Decimal
ZERO = D(0)
GRACE = 5
DEFAULT_AFTER = 20  # shorter than production's 90 so that runs reach default more often
RUNS = itertools.count()

pytestmark = [
    pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.fuzz,
]

money = st.decimals(
    min_value=D("0.01"), max_value=D("700"), places=2, allow_nan=False, allow_infinity=False
)
FUND_AMOUNTS = st.one_of(
    st.sampled_from(
        [
            "REMAINING",
            "REMAINING",
            "OVER_REMAINING",
            "MIN",
            "BELOW_MIN",
            "HALF",
            "0",
            "-10.00",
            "1.001",
            "abc",
        ]
    ),
    st.decimals(min_value=D("40"), max_value=D("300"), places=2).map(str),
)
REPAY_AMOUNTS = st.one_of(st.sampled_from(["OWED", "FACE", "OVER", "PART"]), money.map(str))
WITHDRAW_AMOUNTS = st.one_of(st.sampled_from(["ALL", "HALF", "MORE", "0"]), money.map(str))


def parse(raw: str) -> Decimal | None:
    try:
        amount = D(raw)
    except (InvalidOperation, ValueError):
        return None
    if not amount.is_finite() or amount <= 0 or quantize_money(amount, "EUR") != amount:
        return None
    return amount


def cash_kind(user) -> str:
    return AccountKind.INVESTOR_CASH if user.is_investor else AccountKind.SELLER_CASH


def balance(kind: str, **owner) -> Decimal:
    return account_balance(ledger_account(kind, "EUR", **owner))


def claims_total(inv: Investment) -> Decimal:
    late = max(quantize_money(inv.late_interest_accrued, "EUR") - inv.late_interest_repaid, ZERO)
    return (
        (inv.amount - inv.principal_repaid) + ((inv.discount_fee or ZERO) - inv.fee_repaid) + late
    )


INVOICE_NUMBERS = itertools.count(1)


def mustang_invoice(seller, variant: str):
    """A priced copy of the Mustang invoice with its own bytes, number and face value.

    Duplicate detection refuses the same document image from the same seller with the same
    face value; so every invoice of a run gets a distinct face value (571.04 EUR + n, amount
    due likewise)."""
    from invoices.services import (
        invoice_run_extraction,
        invoice_score,
        invoice_submit,
        invoice_update_fields,
        invoice_upload,
    )

    n = next(INVOICE_NUMBERS)
    with clock.frozen_at(LISTING_DAY):
        invoice = invoice_upload(seller=seller, uploaded_file=uploaded(mustang_bytes(variant)))
        invoice = invoice_run_extraction(invoice_id=invoice.pk)
        invoice = invoice_update_fields(
            invoice=invoice,
            actor=seller,
            changes={
                "invoice_number": f"SM-{variant}",
                "face_value": D("571.04") + n,
                "amount_due": D("571.04") + n,
            },
        )
        invoice = invoice_submit(invoice=invoice, actor=seller)
        invoice = invoice_score(invoice_id=invoice.pk)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PRICED, invoice.status
    return invoice


def snapshot() -> dict:
    """Everything a refused operation must leave untouched."""
    return {
        "counts": {**db_counts(), "Withdrawal": Withdrawal.objects.count()},
        "balances": dict(
            Posting.objects.values("account__key")
            .annotate(total=Sum("amount"))
            .values_list("account__key", "total")
        ),
        "listings": sorted(
            Listing.objects.values_list(
                "pk",
                "funded_amount",
                "investor_count",
                "late_fee",
                "late_fee_paid",
                "invoice__status",
            )
        ),
        "investments": sorted(
            Investment.objects.values_list(
                "pk", "status", "repaid_amount", "late_interest_accrued", "loss"
            )
        ),
        "withdrawals": sorted(Withdrawal.objects.values_list("pk", "status")),
    }


class MoneyMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        # Every run starts from empty tables: the risk score reads the seller's and the
        # debtor's history and duplicate detection compares documents across sellers, so
        # leftovers of earlier runs would change what the services decide (and make
        # Hypothesis's replays of a failing run flaky).
        call_command("flush", verbosity=0, interactive=False, inhibit_post_migrate=True)
        # The flush emptied django_content_type too; the audit trail's rows point at it.
        ContentType.objects.clear_cache()
        for app_config in apps.get_app_configs():
            create_contenttypes(app_config, verbosity=0)
        self.run = next(RUNS)
        self.tag = f"{self.run}-{uuid.uuid4().hex[:6]}"
        self.today = LISTING_DAY
        self.staff = staff_user_create(email="ops@example.com", password=STRONG_PASSWORD)
        self.seller = make_user(
            "SELLER",
            "seller@example.com",
            kyc={"legal_name": "Bei Spiel GmbH", "country": "DE", "tax_id": "DE136695976"},
            approve_by=self.staff,
        )
        self.investors = [
            make_user(
                "INVESTOR",
                f"sm-inv{i}-{self.tag}@example.com",
                kyc={
                    "legal_name": f"Investor {i}",
                    "country": INVESTOR_TAX_IDS[i][:2],
                    "tax_id": INVESTOR_TAX_IDS[i],
                },
                approve_by=self.staff,
            )
            for i in range(3)
        ]
        self.listings: list[Listing] = []
        self.withdrawals: list[tuple[Withdrawal, list[str]]] = []
        self.events = itertools.count()

    # --- helpers -------------------------------------------------------------------------

    def event_id(self, kind: str) -> str:
        return f"sm-{kind}-{self.tag}-{next(self.events)}"

    def user(self, who: int):
        return self.investors[who] if who < len(self.investors) else self.seller

    def listing(self, which: int) -> Listing:
        listing = self.listings[which % len(self.listings)]
        listing.refresh_from_db()
        listing.invoice.refresh_from_db()
        return listing

    def now(self) -> dt.datetime:
        return dt.datetime.combine(self.today, dt.time(12, 0), tzinfo=dt.UTC)

    def refused(self, code: str, call) -> None:
        before = snapshot()
        with clock.frozen_at(self.today), pytest.raises(ApplicationError) as caught:
            call()
        assert caught.value.code == code, (caught.value.code, str(caught.value))
        assert snapshot() == before, f"{code}: a refused operation wrote something"

    # --- set-up --------------------------------------------------------------------------

    @initialize(
        specs=st.lists(
            st.tuples(
                st.booleans(),
                st.sampled_from([None, D("0.5"), D("0.9")]),
                st.sampled_from([0, 1, 2, 2]),
            ),
            min_size=1,
            max_size=3,
        ),
        deposits=st.lists(
            st.sampled_from(["0", "300.00", "1000.00", "1000.00"]), min_size=3, max_size=3
        ),
    )
    def setup(self, specs, deposits):
        for i, (recourse, min_fill, _) in enumerate(specs):
            invoice = mustang_invoice(self.seller, f"sm-{self.tag}-{i}")
            with clock.frozen_at(LISTING_DAY):
                self.listings.append(
                    listing_create(
                        invoice=invoice,
                        seller=self.seller,
                        recourse=recourse,
                        min_fill_rate=min_fill,
                    )
                )
        for investor, amount in zip(self.investors, deposits, strict=True):
            if D(amount):
                self.deposit_to(investor, amount)
        # some listings start funded (by one investor, or 300.00 + the rest by two)
        for i, (_, _, funders) in enumerate(specs):
            if funders == 2:
                self.deposit_to(self.investors[1], "300.00")
                self.fund(1, i, "300.00")
            if funders:
                self.fund_the_rest(i)

    def deposit_to(self, user, amount) -> None:
        with clock.frozen_at(self.today):
            bank_event_apply(
                payload=bank_event(
                    self.event_id("dep"), "deposit.received", user.deposit_reference, amount
                )
            )

    # --- rules ---------------------------------------------------------------------------

    @rule(who=st.integers(0, 3), amount=money)
    def deposit(self, who, amount):
        user = self.user(who)
        if not user.is_investor:
            # A seller's reference is no investor wallet: the money waits in suspense.
            payload = bank_event(
                self.event_id("dep"), "deposit.received", user.deposit_reference, amount
            )
            before = balance(AccountKind.SUSPENSE)
            with clock.frozen_at(self.today):
                event = bank_event_apply(payload=payload)
            assert event.status == "UNMATCHED"
            assert balance(AccountKind.SUSPENSE) == before + amount
            return
        before = balance(AccountKind.INVESTOR_CASH, owner=user)
        event_id = self.event_id("dep")
        payload = bank_event(event_id, "deposit.received", user.deposit_reference, amount)
        with clock.frozen_at(self.today):
            bank_event_apply(payload=payload)
        assert balance(AccountKind.INVESTOR_CASH, owner=user) == before + amount
        # a redelivery of the same event is refused and changes nothing
        self.refused("DUPLICATE_EVENT", lambda: bank_event_apply(payload=payload))

    @rule(who=st.integers(0, 3), which=st.integers(0, 2), raw=FUND_AMOUNTS)
    def fund(self, who, which, raw):
        listing = self.listing(which)
        investor = self.user(who)
        remaining = listing.advance_amount - listing.funded_amount
        raw = {
            "REMAINING": str(remaining),
            "OVER_REMAINING": str(remaining + D("0.01")),
            "MIN": str(listing.min_ticket),
            "BELOW_MIN": str(listing.min_ticket - D("0.01")),
            "HALF": str(quantize_money(remaining / 2, "EUR")),
        }.get(raw, raw)
        amount = parse(raw)
        cash = balance(AccountKind.INVESTOR_CASH, owner=investor) if investor.is_investor else ZERO
        if not investor.is_investor:
            expected = "NOT_AN_INVESTOR"
        elif amount is None:
            expected = "INVALID_AMOUNT"
        elif listing.invoice.status != InvoiceStatus.LISTED:
            expected = "LISTING_NOT_OPEN"
        elif self.now() >= listing.expires_at:
            expected = "LISTING_EXPIRED"
        elif amount > remaining:
            expected = "AMOUNT_EXCEEDS_REMAINING"
        elif amount < listing.min_ticket and amount != remaining:
            expected = "BELOW_MIN_TICKET"
        elif amount > cash:
            expected = "INSUFFICIENT_FUNDS"
        else:
            expected = None
        call = lambda: investment_create(investor=investor, listing=listing, amount=raw)  # noqa: E731
        if expected is not None:
            self.refused(expected, call)
            return
        seller_before = balance(AccountKind.SELLER_CASH, owner=self.seller)
        with clock.frozen_at(self.today):
            investment, created = call()
        assert created and investment.amount == amount
        assert balance(AccountKind.INVESTOR_CASH, owner=investor) == cash - amount
        listing.refresh_from_db()
        listing.invoice.refresh_from_db()
        assert listing.funded_amount == listing.advance_amount - remaining + amount
        if amount == remaining:  # full funding disburses at once
            assert listing.invoice.status == InvoiceStatus.DISBURSED
            assert listing.disbursed_on == self.today
            assert (
                balance(AccountKind.SELLER_CASH, owner=self.seller) - seller_before
                == listing.advance_amount - listing.platform_fee
            )
            assert not listing.investments.filter(discount_fee__isnull=True).exists()
        else:
            assert listing.invoice.status == InvoiceStatus.LISTED

    @rule(which=st.integers(0, 2))
    def fund_the_rest(self, which):
        """The richest investor takes what is left of an open listing (topping up first)."""
        listing = self.listing(which)
        if listing.invoice.status != InvoiceStatus.LISTED or self.now() >= listing.expires_at:
            return
        remaining = listing.advance_amount - listing.funded_amount
        cash = {u: balance(AccountKind.INVESTOR_CASH, owner=u) for u in self.investors}
        investor = max(self.investors, key=cash.get)
        if cash[investor] < remaining:
            self.deposit_to(investor, remaining - cash[investor])
        self.fund(self.investors.index(investor), which, "REMAINING")

    @rule()
    def expire(self):
        """Move the clock to the listings' expiry and run the expiry task."""
        first = min(listing.expires_at for listing in self.listings)
        while self.now() < first:
            self.today += dt.timedelta(days=1)
        before = {}
        for listing in self.listings:
            listing.refresh_from_db()
            listing.invoice.refresh_from_db()
            if listing.invoice.status == InvoiceStatus.LISTED and self.now() >= listing.expires_at:
                before[listing.pk] = listing.funded_amount
        cash_before = {u.pk: balance(AccountKind.INVESTOR_CASH, owner=u) for u in self.investors}
        with clock.frozen_at(self.today):
            listings_expire_task()
        refunds = defaultdict(Decimal)
        for listing in self.listings:
            if listing.pk not in before:
                continue
            listing.refresh_from_db()
            listing.invoice.refresh_from_db()
            funded = before[listing.pk]
            if (
                listing.min_fill_rate is not None
                and funded > 0
                and funded >= listing.advance_amount * listing.min_fill_rate
            ):
                assert listing.invoice.status == InvoiceStatus.DISBURSED
                assert listing.funded_amount == funded
            else:
                assert listing.invoice.status == InvoiceStatus.CANCELLED
                for inv in listing.investments.all():
                    assert inv.status == InvestmentStatus.REFUNDED
                    refunds[inv.investor_id] += inv.amount
        for user in self.investors:
            assert (
                balance(AccountKind.INVESTOR_CASH, owner=user)
                == cash_before[user.pk] + refunds[user.pk]
            )

    @rule(days=st.sampled_from([3, 6, 10, 25, 45]))
    def age(self, days):
        self.today += dt.timedelta(days=days)
        with clock.frozen_at(self.today):
            invoices_age_task()
        for listing in self.listings:
            listing.refresh_from_db()
            status = Invoice.objects.get(pk=listing.invoice_id).status
            dpd = (self.today - listing.due_date).days
            if status in (InvoiceStatus.DISBURSED, InvoiceStatus.OVERDUE):
                assert dpd < DEFAULT_AFTER, (status, dpd)
                assert (status == InvoiceStatus.OVERDUE) == (dpd > GRACE), (status, dpd)
            if status == InvoiceStatus.OVERDUE:
                assert listing.late_fee > 0

    def _repay(self, listing: Listing, raw: str) -> None:
        invoice = listing.invoice
        investments = list(listing.investments.filter(status=InvestmentStatus.ACTIVE))
        owed = sum((claims_total(i) for i in investments), ZERO) + (
            listing.late_fee - listing.late_fee_paid
        )
        amount = {
            "OWED": max(quantize_money(owed, "EUR"), D("0.01")),
            "FACE": listing.face_value,
            "OVER": listing.face_value + D("100.00"),
            "PART": D("100.00"),
        }.get(raw) or D(raw)
        payload = bank_event(
            self.event_id("rep"), "repayment.received", invoice.repayment_reference, amount
        )
        call = lambda: bank_event_apply(payload=payload)  # noqa: E731
        if invoice.status not in REPAYABLE_STATUSES:
            self.refused("INVOICE_NOT_AWAITING_REPAYMENT", call)
            return
        seller = {
            k: balance(k, owner=self.seller)
            for k in (AccountKind.SELLER_CASH, AccountKind.SELLER_RECEIVABLE)
        }
        repaid_before = sum(i.repaid_amount for i in listing.investments.all())
        with clock.frozen_at(self.today):
            call()  # the settlement task runs eagerly on commit
        event = BankEvent.objects.get(event_id=payload["id"])
        settlement = Settlement.objects.get(bank_event=event)
        assert settlement.status == SettlementStatus.COMPLETED
        listing.refresh_from_db()
        invoice.refresh_from_db()
        breakdown = settlement.breakdown
        seller_part = D(breakdown["seller_receivable"]) + D(breakdown["seller_reserve"])
        # where the money went, read from the balances, adds up to the payment
        investors = sum(i.repaid_amount for i in listing.investments.all()) - repaid_before
        seller_delta = sum(balance(k, owner=self.seller) - v for k, v in seller.items())
        assert investors + D(breakdown["platform_late_fee"]) + seller_delta == amount
        assert seller_delta == seller_part
        if seller_part > 0:  # the seller is paid last: everyone before is paid in full
            assert all(
                claims_total(i) == 0
                for i in listing.investments.filter(status=InvestmentStatus.ACTIVE)
            )
            assert listing.late_fee_paid == listing.late_fee
        assert balance(AccountKind.INVOICE_ESCROW, invoice=invoice) == 0

    @rule(which=st.integers(0, 2), raw=REPAY_AMOUNTS)
    def repay(self, which, raw):
        unsettled = [
            n
            for n, listing in enumerate(self.listings)
            if Invoice.objects.filter(pk=listing.invoice_id)
            .exclude(status=InvoiceStatus.SETTLED)
            .exists()
        ]
        self._repay(self.listing(unsettled[which % len(unsettled)] if unsettled else which), raw)

    def _defaulted(self) -> list[Listing]:
        return [
            listing
            for listing in self.listings
            if Invoice.objects.filter(
                pk=listing.invoice_id,
                status__in=(InvoiceStatus.DEFAULTED, InvoiceStatus.WRITTEN_OFF),
            ).exists()
        ]

    @precondition(lambda self: self._defaulted())
    @rule(which=st.integers(0, 2), raw=REPAY_AMOUNTS)
    def recover(self, which, raw):
        defaulted = self._defaulted()
        listing = defaulted[which % len(defaulted)]
        listing.refresh_from_db()
        listing.invoice.refresh_from_db()
        self._repay(listing, raw)

    @rule(who=st.integers(0, 3), raw=WITHDRAW_AMOUNTS)
    def withdraw(self, who, raw):
        user = self.user(who)
        kind = cash_kind(user)
        cash = balance(kind, owner=user)
        raw = {
            "ALL": str(cash),
            "HALF": str(quantize_money(cash / 2, "EUR")),
            "MORE": str(cash + D("0.01")),
        }.get(raw, raw)
        amount = parse(raw)
        call = lambda: withdrawal_request(user=user, amount=raw, currency="EUR")  # noqa: E731
        if amount is None:
            self.refused("INVALID_AMOUNT", call)
            return
        if amount > cash:
            self.refused("INSUFFICIENT_FUNDS", call)
            return
        with clock.frozen_at(self.today):
            withdrawal, created = call()
        assert created
        assert balance(kind, owner=user) == cash - amount
        assert balance(AccountKind.WITHDRAWAL_HOLD, owner=user) >= amount
        self.withdrawals.append((withdrawal, []))

    @precondition(lambda self: self.withdrawals)
    @rule(which=st.integers(0, 5), paid=st.booleans())
    def withdrawal_outcome(self, which, paid):
        withdrawal, delivered = self.withdrawals[which % len(self.withdrawals)]
        withdrawal.refresh_from_db()
        user = withdrawal.user
        payload = bank_event(
            self.event_id("wd"),
            "withdrawal.paid" if paid else "withdrawal.failed",
            withdrawal.reference,
            withdrawal.amount,
        )
        for old in delivered:  # redeliveries of an applied event change nothing
            again = bank_event(old, "withdrawal.paid", withdrawal.reference, withdrawal.amount)
            self.refused("DUPLICATE_EVENT", lambda again=again: bank_event_apply(payload=again))
        if delivered:
            self.refused("WITHDRAWAL_ALREADY_FINAL", lambda: bank_event_apply(payload=payload))
            return
        cash = balance(cash_kind(user), owner=user)
        hold = balance(AccountKind.WITHDRAWAL_HOLD, owner=user)
        with clock.frozen_at(self.today):
            bank_event_apply(payload=payload)
        delivered.append(payload["id"])
        withdrawal.refresh_from_db()
        assert withdrawal.status == ("PAID" if paid else "FAILED")
        assert balance(AccountKind.WITHDRAWAL_HOLD, owner=user) == hold - withdrawal.amount
        assert balance(cash_kind(user), owner=user) == cash + (0 if paid else withdrawal.amount)

    # --- invariants ----------------------------------------------------------------------

    @invariant()
    def books_balance(self):
        assert unbalanced_entries() == []
        assert all(total == 0 for total in trial_balance().values()), trial_balance()

    @invariant()
    def balances_are_their_postings_and_never_forbidden_negative(self):
        sums: dict[int, Decimal] = defaultdict(Decimal)
        for account_id, amount in Posting.objects.values_list("account_id", "amount"):
            sums[account_id] += amount
        for account in LedgerAccount.objects.all():
            derived = account_balance(account)
            assert derived == sums[account.pk], account.key
            assert account.may_go_negative == (account.kind in MAY_GO_NEGATIVE), account.key
            if account.kind not in MAY_GO_NEGATIVE:
                assert derived >= 0, f"{account.key} is negative: {derived}"
            if account.kind == AccountKind.SELLER_RECEIVABLE:
                assert derived <= 0, f"{account.key}: the seller is owed by the platform?"

    @invariant()
    def listings_funded_by_their_investments(self):
        for listing in Listing.objects.select_related("invoice"):
            investments = list(listing.investments.all())
            assert 0 <= listing.funded_amount <= listing.advance_amount
            assert listing.funded_amount == sum((i.amount for i in investments), ZERO)
            assert listing.investor_count == len(investments)
            assert listing.late_fee_paid <= listing.late_fee
            escrow = account_balance(
                ledger_account(AccountKind.INVOICE_ESCROW, "EUR", invoice=listing.invoice)
            )
            status = listing.invoice.status
            if status == InvoiceStatus.LISTED:
                assert escrow == listing.funded_amount
            else:  # refunded, or paid out and every payment distributed
                assert escrow == 0, (status, escrow)
            if status == InvoiceStatus.CANCELLED:
                assert all(i.status == InvestmentStatus.REFUNDED for i in investments)
            if status == InvoiceStatus.SETTLED:
                assert all(
                    claims_total(i) == 0 for i in investments if i.status == InvestmentStatus.ACTIVE
                )

    @invariant()
    def settlements_divide_the_payment_exactly(self):
        assert not Settlement.objects.filter(status=SettlementStatus.PENDING).exists()
        for settlement in Settlement.objects.select_related("entry"):
            repaid = settlement.repaid_amount
            entry = settlement.entry
            assert entry.kind == EntryKind.SETTLEMENT
            legs = list(entry.postings.select_related("account"))
            escrow = [p.amount for p in legs if p.account.kind == AccountKind.INVOICE_ESCROW]
            assert escrow == [-repaid]
            assert sum(p.amount for p in legs if p.amount > 0) == repaid
            b = settlement.breakdown
            investors = sum((D(v) for v in b["investors"].values()), ZERO)
            assert (
                investors
                + D(b["platform_late_fee"])
                + D(b["seller_receivable"])
                + D(b["seller_reserve"])
            ) == repaid
            to_investors = sum(
                p.amount for p in legs if p.account.kind == AccountKind.INVESTOR_CASH
            )
            assert to_investors == investors

    @invariant()
    def investors_never_paid_more_than_owed(self):
        for inv in Investment.objects.select_related("listing__invoice"):
            fee = inv.discount_fee or ZERO
            assert 0 <= inv.principal_repaid <= inv.amount
            assert 0 <= inv.fee_repaid <= fee
            assert 0 <= inv.late_interest_repaid <= quantize_money(inv.late_interest_accrued, "EUR")
            assert inv.repaid_amount == (
                inv.principal_repaid + inv.fee_repaid + inv.late_interest_repaid
            )
            assert inv.loss >= 0
            if inv.listing.invoice.status == InvoiceStatus.WRITTEN_OFF:
                assert inv.loss == claims_total(inv)
        # what the ledger paid each investor on each invoice is what the investments recorded
        paid = dict(
            ((row["entry__invoice_id"], row["account__owner_id"]), row["total"])
            for row in Posting.objects.filter(
                entry__kind=EntryKind.SETTLEMENT, account__kind=AccountKind.INVESTOR_CASH
            )
            .values("entry__invoice_id", "account__owner_id")
            .annotate(total=Sum("amount"))
        )
        recorded = {
            (row["listing__invoice_id"], row["investor_id"]): row["total"]
            for row in Investment.objects.values("listing__invoice_id", "investor_id").annotate(
                total=Sum("repaid_amount")
            )
            if row["total"]
        }
        assert paid == recorded


@pytest.fixture
def _rules(settings):
    settings.PAYMINT = {
        **settings.PAYMINT,
        "GRACE_PERIOD_DAYS": GRACE,
        "DEFAULT_AFTER_DAYS_PAST_DUE": DEFAULT_AFTER,
    }


def test_money_engine_state_machine(_rules):
    run_state_machine_as_test(
        MoneyMachine,
        settings=hsettings(
            max_examples=15,
            stateful_step_count=25,
            deadline=None,
            derandomize=False,
            suppress_health_check=list(HealthCheck),
            database=None,
        ),
    )

"""Default on chain: a non-recourse write-off claws every holder's invoice tokens back and
records the write-off on the issuer (outbox rows written with the write-off); later recoveries
pay each holder, to the stroop, what the ledger's recovery paid the investments whose tokens it
held, without a second clawback; reconciliation stays quiet. A recourse default is an ordinary
(final) settlement on chain."""

from __future__ import annotations

import base64
import datetime as dt
from decimal import Decimal

import pytest
from stellar_sdk import ChangeTrust

from compliance.models import ComplianceAlert
from devtools.stellar_local import FAULT_LOST_RESPONSE
from invoices.enums import InvoiceStatus
from marketplace.services import investment_create, listing_create
from paymint.core import clock
from settlements.enums import AccountKind
from settlements.models import ChainTransaction, Settlement
from settlements.services import bank_event_apply
from settlements.stellar.enums import ChainPurpose, ChainTxStatus
from settlements.stellar.outbox import ChainRetryLater, chain_tx_enqueue
from settlements.stellar.protocol import to_stroops
from settlements.stellar.reconciliation import chain_reconcile
from settlements.stellar.submission import chain_tx_submit
from settlements.stellar.tasks import chain_submit_task
from settlements.stellar.tokens import (
    chain_on_write_off,
    invoice_asset,
    invoice_asset_code,
    run_virtual_step,
)
from settlements.tasks import invoices_age_task
from tests.factories import InvoiceFactory, mustang_listing
from tests.helpers import (
    LISTING_DAY,
    MUSTANG_DUE,
    bank_event,
    deposit,
)
from tests.settlements.stellar.test_lifecycle_on_chain import connect_wallet

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

GRACE, DEFAULT_AFTER = 5, 90
OVERDUE_DAY = MUSTANG_DUE + dt.timedelta(days=GRACE + 1)
DEFAULT_DAY = MUSTANG_DUE + dt.timedelta(days=DEFAULT_AFTER)


@pytest.fixture(autouse=True)
def _rules(settings):
    settings.PAYMINT = {
        **settings.PAYMINT,
        "GRACE_PERIOD_DAYS": GRACE,
        "DEFAULT_AFTER_DAYS_PAST_DUE": DEFAULT_AFTER,
        "LATE_RATE_MARGIN": Decimal("0.05"),
        "LATE_FEE_RATE": Decimal("0.005"),
    }


def age(on: dt.date) -> None:
    with clock.frozen_at(on):
        invoices_age_task()


def pay(invoice, amount: str, event_id: str, on: dt.date) -> Settlement:
    with clock.frozen_at(on):
        bank_event_apply(
            payload=bank_event(event_id, "repayment.received", invoice.repayment_reference, amount)
        )
    return Settlement.objects.filter(invoice=invoice).order_by("id").last()


def fund(chain, seller, make_investor, committed, *, recourse: bool):
    """The Mustang invoice funded by Anna and Bram (connected wallets that opted in to the
    token and the stablecoin) and Carl (custody): 200.00 + 150.00 + 163.94."""
    anna, bram, carl = make_investor(), make_investor(), make_investor()
    wallets = {anna.pk: connect_wallet(chain, anna), bram.pk: connect_wallet(chain, bram)}
    if recourse:
        listing = mustang_listing(seller)
    else:
        invoice = InvoiceFactory(mustang=True, seller=seller)
        with clock.frozen_at(LISTING_DAY):
            listing = listing_create(invoice=invoice, seller=seller, recourse=False)
    token = invoice_asset(listing.invoice_id)
    for wallet in wallets.values():
        chain.submit(wallet, [ChangeTrust(token), ChangeTrust(chain.eurc)])
    custody = chain.keys.custody.public_key
    holder_of = {}  # investment id -> the account its tokens were issued to
    for user, amount in ((anna, "200.00"), (bram, "150.00"), (carl, "163.94")):
        deposit(user, "300.00")
        with clock.frozen_at(LISTING_DAY), committed():
            investment, _ = investment_create(investor=user, listing=listing, amount=amount)
        holder_of[investment.pk] = wallets[user.pk].public_key if user.pk in wallets else custody
    listing.invoice.refresh_from_db()
    assert listing.invoice.status == InvoiceStatus.DISBURSED
    assert chain.gateway.asset_holders(token) == {
        holder_of[pk]: Decimal(a) for pk, a in zip(holder_of, ("200", "150", "163.94"))
    }
    return listing, token, holder_of


def eurc(chain, accounts) -> dict[str, Decimal]:
    return {a: chain.ledger.balance(a, chain.eurc) for a in accounts}


def ledger_payouts(settlement: Settlement, holder_of: dict[int, str]) -> dict[str, int]:
    """What the settlement entry credited each investor, in stroops, by token holder."""
    settlement.refresh_from_db()
    by_owner = {
        p.account.owner_id: to_stroops(p.amount)
        for p in settlement.entry.postings.select_related("account")
        if p.account.kind == AccountKind.INVESTOR_CASH
    }
    investor_of = dict(settlement.invoice.listing.investments.values_list("id", "investor_id"))
    paid: dict[str, int] = {}
    for investment_id, holder in holder_of.items():
        paid[holder] = paid.get(holder, 0) + by_owner.get(investor_of[investment_id], 0)
    return {k: v for k, v in paid.items() if v}


def test_write_off_claws_back_and_recoveries_pay_the_ledger_amounts(
    chain, seller, make_investor, committed, django_capture_on_commit_callbacks
):
    listing, token, holder_of = fund(chain, seller, make_investor, committed, recourse=False)
    invoice = listing.invoice
    accounts = sorted(set(holder_of.values()))
    issuer = chain.keys.issuer.public_key
    age(OVERDUE_DAY)
    submissions = chain.ledger.submissions

    # The write-off writes its outbox row in its own transaction; nothing is sent before commit.
    with django_capture_on_commit_callbacks() as callbacks:
        age(DEFAULT_DAY)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.WRITTEN_OFF
    write_off = ChainTransaction.objects.get(invoice=invoice, purpose=ChainPurpose.WRITE_OFF)
    assert write_off.status == ChainTxStatus.PENDING and write_off.operations == []
    investments = list(listing.investments.order_by("id"))
    losses = {str(i.pk): i.loss for i in investments}
    assert all(loss > i.amount for loss, i in zip(losses.values(), investments))
    assert {k: Decimal(v) for k, v in write_off.payload["losses"].items()} == losses
    assert chain.ledger.submissions == submissions
    # After commit: one chain submission (and the domain events' dispatch, which tell people).
    published = [callback.args[0].name for callback in callbacks]
    assert published.count("settlements.stellar.tasks.chain_submit_task") == 1, published
    with committed():
        for callback in callbacks:
            callback()

    # Every holder's tokens are clawed back, with the write-off recorded on the issuer.
    assert set(chain.gateway.asset_holders(token).values()) == {Decimal(0)}
    assert all(chain.ledger.balance(a, token) == 0 for a in accounts)
    loss_total = sum(losses.values(), Decimal(0))
    data = chain.gateway.account(issuer)["data"][f"{invoice_asset_code(invoice.pk)}.writeoff"]
    assert base64.b64decode(data).decode() == f"written off {loss_total} EUR"
    rows = ChainTransaction.objects.filter(invoice=invoice).order_by("id")
    assert all(r.status == ChainTxStatus.CONFIRMED for r in rows)
    assert [(r.purpose, len(r.operations)) for r in rows] == [
        (ChainPurpose.TOKEN_CREATE, 3),
        (ChainPurpose.TOKEN_ISSUE, 2),
        (ChainPurpose.TOKEN_ISSUE, 2),
        (ChainPurpose.TOKEN_ISSUE, 1),
        (ChainPurpose.WRITE_OFF, 0),
        (ChainPurpose.TOKEN_CLAWBACK, 4),  # the data entry + one clawback per holder
    ]
    clawback = rows.get(purpose=ChainPurpose.TOKEN_CLAWBACK)
    assert clawback.depends_on_id == write_off.pk and clawback.source == issuer
    assert {op["from"]: op["amount"] for op in clawback.operations[1:]} == {
        holder_of[i.pk]: f"{i.amount:.7f}" for i in investments
    }
    write_off.refresh_from_db()
    expected_losses: dict[str, int] = {}
    for i in investments:
        expected_losses[holder_of[i.pk]] = expected_losses.get(holder_of[i.pk], 0) + to_stroops(
            i.loss
        )
    assert {
        k: to_stroops(Decimal(v)) for k, v in write_off.payload["loss_by_holder"].items()
    } == expected_losses

    # Running every submission, the aging and the hook again changes nothing.
    submissions = chain.ledger.submissions
    with committed():
        for row in rows:
            assert chain_submit_task.delay(row.pk).result == ChainTxStatus.CONFIRMED
        age(DEFAULT_DAY)
        chain_on_write_off(invoice=invoice, investments=investments, currency="EUR")
    assert chain.ledger.submissions == submissions
    assert ChainTransaction.objects.filter(invoice=invoice).count() == rows.count()
    assert set(chain.gateway.asset_holders(token).values()) == {Decimal(0)}
    assert chain_reconcile() == []

    # A partial recovery: paid by the ledger's amounts (no tokens are held any more), no
    # second clawback; then the rest, which settles the invoice - still no clawback.
    for n, (amount, days) in enumerate((("200.00", 120), ("400.00", 130))):
        before = eurc(chain, accounts)
        with committed():
            settlement = pay(
                invoice, amount, f"evt_recovery_{n}", MUSTANG_DUE + dt.timedelta(days=days)
            )
        after = eurc(chain, accounts)
        paid = {a: to_stroops(after[a] - before[a]) for a in accounts if after[a] != before[a]}
        expected = ledger_payouts(settlement, holder_of)
        assert paid == expected
        assert sum(expected.values()) == to_stroops(
            sum((Decimal(v) for v in settlement.breakdown["investors"].values()), Decimal(0))
        )
        snapshot = ChainTransaction.objects.get(
            settlement=settlement, purpose=ChainPurpose.SETTLEMENT_SNAPSHOT
        )
        assert snapshot.status == ChainTxStatus.CONFIRMED
        assert snapshot.payload["written_off"] is True and snapshot.payload["final"] is False
        assert snapshot.payload["allocation_basis"] == "ledger"
        payout = ChainTransaction.objects.get(
            settlement=settlement, purpose=ChainPurpose.SETTLEMENT_PAYOUT
        )
        assert payout.status == ChainTxStatus.CONFIRMED and len(payout.operations) == 3
        assert chain_reconcile() == []
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.SETTLED
    assert (
        ChainTransaction.objects.filter(
            invoice=invoice, purpose=ChainPurpose.TOKEN_CLAWBACK
        ).count()
        == 1
    )
    assert (
        not ChainTransaction.objects.filter(invoice=invoice)
        .exclude(status=ChainTxStatus.CONFIRMED)
        .exists()
    )
    assert ComplianceAlert.objects.count() == 0


def test_reconciliation_waits_for_a_clawback_whose_outcome_is_unknown(
    chain, seller, make_investor, committed, django_capture_on_commit_callbacks, monkeypatch
):
    listing, token, holder_of = fund(chain, seller, make_investor, committed, recourse=False)
    age(OVERDUE_DAY)
    with django_capture_on_commit_callbacks():  # the tasks are run by hand below
        age(DEFAULT_DAY)
        write_off = ChainTransaction.objects.get(purpose=ChainPurpose.WRITE_OFF)
        assert chain_tx_submit(chain_tx_id=write_off.pk).status == ChainTxStatus.CONFIRMED
        clawback = ChainTransaction.objects.get(purpose=ChainPurpose.TOKEN_CLAWBACK)
        chain.ledger.inject_fault(FAULT_LOST_RESPONSE)  # applied, the answer is lost ...
        with monkeypatch.context() as patch, pytest.raises(ChainRetryLater):
            # ... and Horizon has not ingested it yet: the outcome stays unknown.
            patch.setattr(chain.gateway, "transaction_by_hash", lambda tx_hash: None)
            chain_tx_submit(chain_tx_id=clawback.pk)
    clawback.refresh_from_db()
    assert clawback.status == ChainTxStatus.SUBMITTED
    assert set(chain.gateway.asset_holders(token).values()) == {Decimal(0)}
    assert chain_reconcile() == []  # not yet known: no token_supply alert
    submissions = chain.ledger.submissions
    assert chain_tx_submit(chain_tx_id=clawback.pk).status == ChainTxStatus.CONFIRMED
    assert chain.ledger.submissions == submissions  # found by its hash, not sent again
    assert chain_reconcile() == []
    assert ComplianceAlert.objects.count() == 0


def test_a_recovery_before_the_write_off_ran_on_chain_pays_and_both_complete(
    chain, seller, make_investor, committed, django_capture_on_commit_callbacks
):
    """The write-off's task is late (a lost task, a retry): the recovery does not wait for it
    (nor it for the recovery), pays the ledger's amounts, and the clawback still takes all."""
    listing, token, holder_of = fund(chain, seller, make_investor, committed, recourse=False)
    invoice = listing.invoice
    accounts = sorted(set(holder_of.values()))
    age(OVERDUE_DAY)
    with django_capture_on_commit_callbacks() as write_off_tasks:
        age(DEFAULT_DAY)
    before = eurc(chain, accounts)
    with committed():
        settlement = pay(invoice, "200.00", "evt_early", MUSTANG_DUE + dt.timedelta(days=95))
    after = eurc(chain, accounts)
    paid = {a: to_stroops(after[a] - before[a]) for a in accounts}
    assert paid == ledger_payouts(settlement, holder_of)
    assert set(chain.gateway.asset_holders(token).values()) != {Decimal(0)}  # not yet
    with committed():
        for task in write_off_tasks:
            task()
    assert set(chain.gateway.asset_holders(token).values()) == {Decimal(0)}
    rows = ChainTransaction.objects.filter(invoice=invoice)
    assert not rows.exclude(status=ChainTxStatus.CONFIRMED).exists()
    assert rows.filter(purpose=ChainPurpose.TOKEN_CLAWBACK).count() == 1
    assert chain_reconcile() == []


def test_write_off_clawbacks_are_batched_by_100_operations(chain):
    """151 holders: the data entry and 99 clawbacks, then 52 clawbacks."""
    from stellar_sdk import Keypair

    holders = {Keypair.random().public_key: Decimal("1.5") for _ in range(151)}
    issuer = chain.keys.issuer.public_key

    class Gateway:
        def asset_holders(self, asset):
            return {**holders, issuer: Decimal(0)}

        def latest_ledger(self):
            return {"sequence": 7}

    row = chain_tx_enqueue(
        purpose=ChainPurpose.WRITE_OFF,
        idempotency_key="stellar:write-off:batching",
        source=issuer,
        operations=[],
        payload={
            "asset": f"INVZZ:{issuer}",
            "currency": "EUR",
            "loss_total": "226.50",
            "losses": {},
        },
    )
    run_virtual_step(row, Gateway())
    batches = list(ChainTransaction.objects.filter(purpose=ChainPurpose.TOKEN_CLAWBACK))
    assert [len(b.operations) for b in batches] == [100, 52]
    assert batches[0].operations[0]["type"] == "manage_data"
    assert [b.depends_on_id for b in batches] == [row.pk, batches[0].pk]
    clawed = {op["from"] for b in batches for op in b.operations if op["type"] == "clawback"}
    assert clawed == set(holders)


def test_recourse_default_is_a_final_settlement_on_chain(chain, seller, make_investor, committed):
    listing, token, holder_of = fund(chain, seller, make_investor, committed, recourse=True)
    invoice = listing.invoice
    accounts = sorted(set(holder_of.values()))
    age(OVERDUE_DAY)
    before = eurc(chain, accounts)
    with committed():
        age(DEFAULT_DAY)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.SETTLED  # the seller paid through the waterfall
    settlement = Settlement.objects.get(invoice=invoice)
    after = eurc(chain, accounts)
    assert {a: to_stroops(after[a] - before[a]) for a in accounts} == ledger_payouts(
        settlement, holder_of
    )
    assert set(chain.gateway.asset_holders(token).values()) == {Decimal(0)}
    assert not ChainTransaction.objects.filter(purpose=ChainPurpose.WRITE_OFF).exists()
    assert [r.purpose for r in ChainTransaction.objects.filter(settlement=settlement)] == [
        ChainPurpose.SETTLEMENT_SNAPSHOT,
        ChainPurpose.SETTLEMENT_PAYOUT,
        ChainPurpose.TOKEN_CLAWBACK,
    ]
    assert chain_reconcile() == []

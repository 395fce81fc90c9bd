"""An invoice's life on chain: three investors (two with SEP-10-connected wallets, one held in
custody) fund the Mustang invoice through the money services, which write the chain outbox rows
themselves (token on disbursement, payouts on settlement); each holder's stablecoin payout
equals, to the stroop, what the ledger's settlement entry paid the investments it holds; the
tokens are clawed back."""

from __future__ import annotations

import os
from decimal import Decimal

import pytest
from stellar_sdk import ChangeTrust, Keypair, TransactionEnvelope

from invoices.enums import InvoiceStatus
from marketplace.services import investment_create
from paymint.core import clock
from settlements.enums import AccountKind
from settlements.models import ChainTransaction, Settlement
from settlements.services import bank_event_apply
from settlements.stellar.enums import ChainPurpose, ChainTxStatus
from settlements.stellar.gateway import get_gateway
from settlements.stellar.protocol import to_stroops
from settlements.stellar.sep10 import sep10_challenge, stellar_account_link
from settlements.stellar.tokens import (
    allocate_stroops,
    chain_on_funding,
    chain_on_settlement,
    document_hash_on_chain,
    invoice_asset,
)
from tests.factories import mustang_listing
from tests.helpers import (
    LISTING_DAY,
    MUSTANG_DUE,
    api_client_for,
    bank_event,
    deposit,
)

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def connect_wallet(chain, user) -> Keypair:
    """The investor's wallet: funded, SEP-10 linked to the user."""
    wallet = chain.wallet("50")
    challenge = sep10_challenge(user=user, account_id=wallet.public_key)
    envelope = TransactionEnvelope.from_xdr(
        challenge["transaction"], challenge["network_passphrase"]
    )
    envelope.sign(wallet)
    stellar_account_link(user=user, challenge_xdr=envelope.to_xdr())
    return wallet


def test_three_investors_lifecycle_pays_to_the_stroop_and_claws_back(
    chain, seller, make_investor, committed
):
    anna, bram, carl = make_investor(), make_investor(), make_investor()
    wallets = {anna.pk: connect_wallet(chain, anna), bram.pk: connect_wallet(chain, bram)}
    listing = mustang_listing(seller)
    invoice = listing.invoice
    token = invoice_asset(invoice.pk)
    for wallet in wallets.values():  # the wallets opt in to the token and the stablecoin
        chain.submit(wallet, [ChangeTrust(token), ChangeTrust(chain.eurc)])

    amounts = {anna: "200.00", bram: "150.00", carl: "163.94"}  # 513.94 advance
    investments = {}
    for user, amount in amounts.items():
        deposit(user, "300.00")
    with clock.frozen_at(LISTING_DAY):
        for user, amount in amounts.items():
            with committed():
                investment, _ = investment_create(investor=user, listing=listing, amount=amount)
            investments[user] = investment
            # Tokens are minted only once the advance is disbursed (a cancelled listing
            # mints nothing).
            minted = ChainTransaction.objects.filter(invoice=invoice).count()
            assert minted == (0 if user is not carl else 4)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.DISBURSED

    custody = chain.keys.custody.public_key
    eurc_before = {
        a: chain.ledger.balance(a, chain.eurc) or Decimal(0)
        for a in (wallets[anna.pk].public_key, wallets[bram.pk].public_key, custody)
    }
    holders = {
        wallets[anna.pk].public_key: Decimal("200"),
        wallets[bram.pk].public_key: Decimal("150"),
        custody: Decimal("163.94"),
    }
    assert chain.gateway.asset_holders(token) == holders
    assert document_hash_on_chain(chain.gateway, invoice.pk) == invoice.document_sha256
    line = chain.gateway.trustline(wallets[anna.pk].public_key, token)
    assert line["is_authorized"] and line["is_clawback_enabled"]

    with clock.frozen_at(MUSTANG_DUE), committed():
        bank_event_apply(
            payload=bank_event(
                "evt_repay_chain", "repayment.received", invoice.repayment_reference, "571.04"
            )
        )
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.SETTLED
    settlement = Settlement.objects.get(invoice=invoice)
    # The settlement wrote its chain rows in the same transaction; they ran after commit.

    # The ledger is the authority: each holder is paid, to the stroop, the sum of what the
    # settlement entry credited to the investments whose tokens it holds.
    investor_total = sum(
        p.amount
        for p in settlement.entry.postings.all()
        if p.account.kind == AccountKind.INVESTOR_CASH
    )
    assert investor_total == Decimal("516.20")  # 513.94 + discount fees 0.66 + 0.88 + 0.72
    holder_of = {
        anna: wallets[anna.pk].public_key,
        bram: wallets[bram.pk].public_key,
        carl: custody,
    }
    expected = {}
    for user, investment in investments.items():
        investment.refresh_from_db()
        expected[holder_of[user]] = expected.get(holder_of[user], 0) + to_stroops(
            investment.repaid_amount
        )
    paid = {a: to_stroops(chain.ledger.balance(a, chain.eurc) - eurc_before[a]) for a in holders}
    assert paid == expected
    # (a split of the total by holdings would differ here by a fraction of a cent)
    assert expected != allocate_stroops(to_stroops(investor_total), {
        holder_of[u]: to_stroops(i.amount) for u, i in sorted(
            investments.items(), key=lambda kv: holder_of[kv[0]])
    })
    assert sum(paid.values()) == to_stroops(investor_total)

    # Tokens clawed back: nobody holds any.
    assert all(v == 0 for v in chain.gateway.asset_holders(token).values())

    rows = ChainTransaction.objects.filter(invoice=invoice).order_by("id")
    assert all(r.status == ChainTxStatus.CONFIRMED for r in rows)
    # GET /settlements/{id} shows the settlement's confirmed chain transactions: all of them
    # to the seller, those of their own investments to an investor.
    mirrored = {r.tx_hash for r in rows if r.settlement_id == settlement.pk and r.tx_hash}
    url = f"/api/v1/settlements/{settlement.public_id}"
    assert mirrored
    assert set(api_client_for(seller).get(url).json()["chain_tx_hashes"]) == mirrored
    assert set(api_client_for(anna).get(url).json()["chain_tx_hashes"]) == {
        r.tx_hash for r in rows
        if r.settlement_id == settlement.pk and r.investment_id == investments[anna].pk
        and r.tx_hash}
    assert [(r.purpose, len(r.operations)) for r in rows] == [
        (ChainPurpose.TOKEN_CREATE, 3),
        (ChainPurpose.TOKEN_ISSUE, 2),
        (ChainPurpose.TOKEN_ISSUE, 2),
        (ChainPurpose.TOKEN_ISSUE, 1),
        (ChainPurpose.SETTLEMENT_SNAPSHOT, 0),
        (ChainPurpose.SETTLEMENT_PAYOUT, 3),
        (ChainPurpose.TOKEN_CLAWBACK, 3),
    ]
    snapshot = rows.get(purpose=ChainPurpose.SETTLEMENT_SNAPSHOT)
    assert snapshot.payload["allocation"] == {
        k: f"{Decimal(v) / 10**7:.7f}" for k, v in expected.items()
    }
    assert snapshot.payload["allocation_basis"] == "ledger"
    # Running everything again writes and sends nothing new.
    submissions = chain.ledger.submissions
    with committed():
        chain_on_settlement(settlement)
        for investment in investments.values():
            chain_on_funding(investment)
    assert ChainTransaction.objects.filter(invoice=invoice).count() == rows.count()
    assert chain.ledger.submissions == submissions


def test_investor_without_trustline_is_issued_to_custody(chain, seller, make_investor, committed):
    dora = make_investor()
    connect_wallet(chain, dora)  # connected, but never opened a trustline to the token
    listing = mustang_listing(seller)
    deposit(dora, "600.00")
    with clock.frozen_at(LISTING_DAY), committed():
        investment, _ = investment_create(investor=dora, listing=listing, amount="513.94")
    issue = ChainTransaction.objects.get(purpose=ChainPurpose.TOKEN_ISSUE)
    assert issue.status == ChainTxStatus.CONFIRMED and issue.payload["custody"] is True
    assert chain.gateway.asset_holders(invoice_asset(listing.invoice_id)) == {
        chain.keys.custody.public_key: Decimal("513.94")
    }


def test_nothing_is_written_when_stellar_is_disabled(chain, settings, seller, make_investor):
    settings.STELLAR_ENABLED = False
    eve = make_investor()
    listing = mustang_listing(seller)
    deposit(eve, "600.00")
    with clock.frozen_at(LISTING_DAY):
        investment, _ = investment_create(investor=eve, listing=listing, amount="513.94")
    listing.invoice.refresh_from_db()
    assert listing.invoice.status == InvoiceStatus.DISBURSED
    assert chain_on_funding(investment) is None
    assert ChainTransaction.objects.count() == 0


def test_allocate_stroops_largest_remainder():
    assert allocate_stroops(10, {"a": 1, "b": 1, "c": 1}) == {"a": 4, "b": 3, "c": 3}
    parts = allocate_stroops(
        5_161_900_000, {"x": 2_000_000_000, "y": 1_500_000_000, "z": 1_639_400_000}
    )
    assert sum(parts.values()) == 5_161_900_000
    assert allocate_stroops(0, {"a": 5}) == {"a": 0}


@pytest.mark.skipif(
    not os.environ.get("STELLAR_TESTNET"),
    reason="needs the Stellar testnet (set STELLAR_TESTNET=1, network access)",
)
def test_testnet_horizon_answers(settings):
    settings.STELLAR_NETWORK = "testnet"
    gateway = get_gateway()
    assert gateway.latest_ledger()["sequence"] > 0
    assert gateway.base_fee() >= 100


def test_reconciliation_finds_nothing_then_an_out_of_band_mint(
    chain, seller, make_investor, committed
):
    from stellar_sdk import Payment

    from compliance.models import ComplianceAlert
    from settlements.stellar.reconciliation import chain_reconcile

    fay = make_investor()
    listing = mustang_listing(seller)
    deposit(fay, "600.00")
    with clock.frozen_at(LISTING_DAY), committed():
        investment, _ = investment_create(investor=fay, listing=listing, amount="513.94")
    assert chain_reconcile() == []
    token = invoice_asset(listing.invoice_id)
    chain.submit(chain.keys.issuer, [Payment(chain.keys.custody.public_key, token, "1")])
    findings = chain_reconcile()
    assert [f["check"] for f in findings] == ["token_supply"]
    assert findings[0]["on_chain"] == "514.9400000"
    alert = ComplianceAlert.objects.get()
    assert alert.kind == "RECONCILIATION" and alert.invoice_id == listing.invoice_id
    chain_reconcile()  # the same finding again: still one alert
    assert ComplianceAlert.objects.count() == 1


def test_cancelled_listing_mints_nothing_and_min_fill_mints_what_was_paid(
    chain, seller, make_investor, committed
):
    import datetime as dt

    from marketplace.services import listing_expire

    gus, hal = make_investor(), make_investor()
    cancelled = mustang_listing(seller)
    deposit(gus, "600.00")
    with clock.frozen_at(LISTING_DAY), committed():
        investment_create(investor=gus, listing=cancelled, amount="100.00")
    with clock.frozen_at(cancelled.expires_at + dt.timedelta(minutes=1)), committed():
        listing_expire(listing_id=cancelled.pk)
    cancelled.invoice.refresh_from_db()
    assert cancelled.invoice.status == InvoiceStatus.CANCELLED
    assert ChainTransaction.objects.count() == 0

    partial = mustang_listing(seller, min_fill_rate=Decimal("0.5"))
    deposit(hal, "600.00")
    with clock.frozen_at(LISTING_DAY), committed():
        investment_create(investor=hal, listing=partial, amount="300.00")
    with clock.frozen_at(partial.expires_at + dt.timedelta(minutes=1)), committed():
        listing_expire(listing_id=partial.pk)
    assert chain.gateway.asset_holders(invoice_asset(partial.invoice_id)) == {
        chain.keys.custody.public_key: Decimal("300")
    }


def test_partial_payments_pay_the_ledger_amounts_and_only_the_last_claws_back(
    chain, seller, make_investor, committed
):
    ida, jon = make_investor(), make_investor()
    wallet = connect_wallet(chain, ida)
    listing = mustang_listing(seller)
    token = invoice_asset(listing.invoice_id)
    chain.submit(wallet, [ChangeTrust(token), ChangeTrust(chain.eurc)])
    for user, amount in ((ida, "313.94"), (jon, "200.00")):
        deposit(user, "400.00")
        with clock.frozen_at(LISTING_DAY), committed():
            investment_create(investor=user, listing=listing, amount=amount)
    invoice = listing.invoice
    invoice.refresh_from_db()
    custody = chain.keys.custody.public_key
    holder = {ida.pk: wallet.public_key, jon.pk: custody}
    balance = {a: chain.ledger.balance(a, chain.eurc) for a in holder.values()}
    for n, amount in enumerate(("250.00", "321.04")):
        with clock.frozen_at(MUSTANG_DUE), committed():
            bank_event_apply(payload=bank_event(
                f"evt_part_{n}", "repayment.received", invoice.repayment_reference, amount))
        settlement = Settlement.objects.filter(invoice=invoice).order_by("id").last()
        expected: dict[str, int] = {}
        for posting in settlement.entry.postings.filter(account__kind=AccountKind.INVESTOR_CASH):
            account = holder[posting.account.owner_id]
            expected[account] = expected.get(account, 0) + to_stroops(posting.amount)
        now = {a: chain.ledger.balance(a, chain.eurc) for a in holder.values()}
        assert {a: to_stroops(now[a] - balance[a]) for a in now} == expected
        balance = now
        holdings = chain.gateway.asset_holders(token)
        if n == 0:  # tokens stay while investors are still owed
            assert holdings == {wallet.public_key: Decimal("313.94"), custody: Decimal("200")}
        else:
            assert all(v == 0 for v in holdings.values())
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.SETTLED
    assert ChainTransaction.objects.filter(
        invoice=invoice, purpose=ChainPurpose.TOKEN_CLAWBACK
    ).count() == 1


def test_ops_requeue_a_failed_transaction_from_the_admin(chain, ops_client, committed):
    from django.urls import reverse
    from stellar_sdk import Keypair

    from settlements.stellar.outbox import chain_tx_enqueue

    stranger = Keypair.random().public_key  # no such account: the payment fails
    with committed():
        row = chain_tx_enqueue(
            purpose=ChainPurpose.SETTLEMENT_PAYOUT, idempotency_key="admin-requeue",
            source=chain.keys.distribution.public_key,
            operations=[{"type": "payment", "destination": stranger,
                         "asset": f"EURC:{chain.eurc.issuer}", "amount": "1.0000000",
                         "source": chain.keys.distribution.public_key}],
        )
    row.refresh_from_db()
    assert row.status == ChainTxStatus.FAILED
    assert row.result_codes["operations"] == ["op_no_destination"]
    url = reverse("admin:settlements_chaintransaction_changelist")
    page = ops_client.get(reverse("admin:settlements_chaintransaction_change", args=[row.pk]))
    assert page.status_code == 200 and row.tx_hash.encode() in page.content
    chain.ledger.fund(stranger, "5")
    ops_client.post(url, {"action": "requeue", "_selected_action": [row.pk]})
    row.refresh_from_db()
    assert row.status == ChainTxStatus.FAILED  # the form asks for a reason first
    with committed():
        ops_client.post(url, {"action": "requeue", "_selected_action": [row.pk], "apply": "1",
                              "reason": "destination funded"})
    row.refresh_from_db()
    assert row.events.filter(to_status=ChainTxStatus.PENDING,
                             reason__contains="destination funded").exists()
    assert row.status == ChainTxStatus.FAILED  # still no EURC trustline: op_no_trust
    assert row.result_codes["operations"] == ["op_no_trust"]

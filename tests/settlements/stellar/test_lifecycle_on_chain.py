"""An invoice's life on chain: three investors (two with SEP-10-connected wallets, one held in
custody) fund the Mustang invoice; its token is issued; the debtor repays; the investors'
stablecoin payouts equal, to the stroop, a largest-remainder allocation of the ledger's
investor total by the amounts funded; the tokens are clawed back."""

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
from settlements.stellar.sep10 import sep10_challenge, stellar_account_link
from settlements.stellar.tokens import (
    allocate_stroops,
    chain_on_funding,
    chain_on_settlement,
    document_hash_on_chain,
    invoice_asset,
    to_stroops,
)
from tests.conftest import LISTING_DAY, MUSTANG_DUE, bank_event, deposit, list_mustang_invoice

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
    listing = list_mustang_invoice(seller)
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
                chain_on_funding(investment)  # the lead wires this on commit
            investments[user] = investment
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.DISBURSED

    custody = chain.keys.custody.public_key
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
    eurc_before = {a: chain.ledger.balance(a, chain.eurc) for a in holders}
    with committed():
        chain_on_settlement(settlement)

    # The allocation computed from the ledger: the investors' total of the settlement entry,
    # split by the amounts funded (largest remainder, in stroops).
    investor_total = sum(
        p.amount
        for p in settlement.entry.postings.all()
        if p.account.kind == AccountKind.INVESTOR_CASH
    )
    assert investor_total == Decimal("516.19")  # 513.94 + discount fees 2.25
    holder_of = {
        anna: wallets[anna.pk].public_key,
        bram: wallets[bram.pk].public_key,
        carl: custody,
    }
    weights = {}
    for user, investment in investments.items():
        weights[holder_of[user]] = weights.get(holder_of[user], 0) + to_stroops(investment.amount)
    expected = allocate_stroops(to_stroops(investor_total), dict(sorted(weights.items())))
    paid = {a: to_stroops(chain.ledger.balance(a, chain.eurc) - eurc_before[a]) for a in holders}
    assert paid == expected
    assert sum(paid.values()) == to_stroops(investor_total)

    # Tokens clawed back: nobody holds any.
    assert all(v == 0 for v in chain.gateway.asset_holders(token).values())

    rows = ChainTransaction.objects.filter(invoice=invoice).order_by("id")
    assert all(r.status == ChainTxStatus.CONFIRMED for r in rows)
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
    listing = list_mustang_invoice(seller)
    deposit(dora, "600.00")
    with clock.frozen_at(LISTING_DAY), committed():
        investment, _ = investment_create(investor=dora, listing=listing, amount="513.94")
        chain_on_funding(investment)
    issue = ChainTransaction.objects.get(purpose=ChainPurpose.TOKEN_ISSUE)
    assert issue.status == ChainTxStatus.CONFIRMED and issue.payload["custody"] is True
    assert chain.gateway.asset_holders(invoice_asset(listing.invoice_id)) == {
        chain.keys.custody.public_key: Decimal("513.94")
    }


def test_nothing_is_written_when_stellar_is_disabled(chain, settings, seller, make_investor):
    settings.STELLAR_ENABLED = False
    eve = make_investor()
    listing = list_mustang_invoice(seller)
    deposit(eve, "600.00")
    with clock.frozen_at(LISTING_DAY):
        investment, _ = investment_create(investor=eve, listing=listing, amount="513.94")
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
    listing = list_mustang_invoice(seller)
    deposit(fay, "600.00")
    with clock.frozen_at(LISTING_DAY), committed():
        investment, _ = investment_create(investor=fay, listing=listing, amount="513.94")
        chain_on_funding(investment)
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

"""The batches the settlement and write-off steps write: at most 100 operations per
transaction, each batch depending on the one before, and idempotency keys
``<prefix>:payout:<index>`` / ``<prefix>:clawback:<index>`` - unique constraints on rows
already written, so they must never change."""

from __future__ import annotations

from decimal import Decimal

import pytest
from stellar_sdk import Keypair

from settlements.models import ChainTransaction, Settlement
from settlements.stellar.enums import ChainPurpose
from settlements.stellar.outbox import asset_str, chain_tx_enqueue
from settlements.stellar.tokens import invoice_asset, run_virtual_step
from tests.factories import InvoiceFactory

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


class HoldersGateway:
    """151 accounts holding 1.5 tokens each (and the issuer, which holds none)."""

    def __init__(self, issuer: str):
        self.issuer = issuer
        self.holders = {Keypair.random().public_key: Decimal("1.5") for _ in range(151)}

    def asset_holders(self, asset):
        return {**self.holders, self.issuer: Decimal(0)}

    def latest_ledger(self):
        return {"sequence": 7}


def batches(**filters) -> list[tuple]:
    return [
        (r.purpose, r.idempotency_key, r.payload, len(r.operations), r.depends_on_id, r.source,
         r.settlement_id)
        for r in ChainTransaction.objects.filter(**filters).exclude(
            purpose__in=[ChainPurpose.SETTLEMENT_SNAPSHOT, ChainPurpose.WRITE_OFF]
        ).order_by("id")
    ]


def test_final_settlement_writes_payout_then_clawback_batches_with_stable_keys(chain):
    invoice = InvoiceFactory()
    settlement = Settlement.objects.create(
        invoice=invoice, repaid_amount=Decimal("226.50"), currency="EUR"
    )
    issuer, distribution = chain.keys.issuer.public_key, chain.keys.distribution.public_key
    token = asset_str(invoice_asset(invoice.pk))
    gateway = HoldersGateway(issuer)
    key = f"stellar:settlement:{settlement.pk}"
    snapshot = chain_tx_enqueue(
        purpose=ChainPurpose.SETTLEMENT_SNAPSHOT,
        idempotency_key=key,
        source=distribution,
        operations=[],
        invoice=invoice,
        settlement=settlement,
        payload={"asset": token, "currency": "EUR", "total": "226.5000000", "investors": {},
                 "final": True, "written_off": False},
    )

    run_virtual_step(snapshot, gateway)

    rows = list(ChainTransaction.objects.filter(invoice=invoice).order_by("id"))
    eurc = asset_str(chain.eurc)
    assert batches(invoice=invoice) == [
        (ChainPurpose.SETTLEMENT_PAYOUT, f"{key}:payout:0", {"batch": 0, "asset": eurc}, 100,
         snapshot.pk, distribution, settlement.pk),
        (ChainPurpose.SETTLEMENT_PAYOUT, f"{key}:payout:1", {"batch": 1, "asset": eurc}, 51,
         rows[1].pk, distribution, settlement.pk),
        (ChainPurpose.TOKEN_CLAWBACK, f"{key}:clawback:0", {"batch": 0, "asset": token}, 100,
         rows[2].pk, issuer, settlement.pk),
        (ChainPurpose.TOKEN_CLAWBACK, f"{key}:clawback:1", {"batch": 1, "asset": token}, 51,
         rows[3].pk, issuer, settlement.pk),
    ]
    paid = {op["destination"]: op["amount"] for r in rows[1:3] for op in r.operations}
    assert paid == {a: "1.5000000" for a in gateway.holders}
    clawed = {op["from"]: op["amount"] for r in rows[3:] for op in r.operations}
    assert clawed == {a: "1.5000000" for a in gateway.holders}


def test_write_off_writes_clawback_batches_with_stable_keys(chain):
    invoice = InvoiceFactory()
    issuer = chain.keys.issuer.public_key
    token = asset_str(invoice_asset(invoice.pk))
    write_off = chain_tx_enqueue(
        purpose=ChainPurpose.WRITE_OFF,
        idempotency_key=f"stellar:write-off:{invoice.pk}",
        source=issuer,
        operations=[],
        invoice=invoice,
        payload={"asset": token, "currency": "EUR", "loss_total": "226.50", "losses": {}},
    )

    run_virtual_step(write_off, HoldersGateway(issuer))

    rows = list(ChainTransaction.objects.filter(invoice=invoice).order_by("id"))
    key = f"stellar:write-off:{invoice.pk}"
    assert batches(invoice=invoice) == [
        (ChainPurpose.TOKEN_CLAWBACK, f"{key}:clawback:0", {"batch": 0, "asset": token}, 100,
         write_off.pk, issuer, None),
        (ChainPurpose.TOKEN_CLAWBACK, f"{key}:clawback:1", {"batch": 1, "asset": token}, 52,
         rows[1].pk, issuer, None),
    ]
    assert rows[1].operations[0]["type"] == "manage_data"  # the data entry heads the first

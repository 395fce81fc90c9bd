"""Reconciliation of the chain with PayMint's records (the ``chain_reconcile_task`` body).

Checks, each raising a ``RECONCILIATION`` compliance alert once per finding:

* ``confirmed_not_on_chain``: a CONFIRMED outbox row whose hash Horizon does not know, or knows
  as failed.
* ``token_supply``: per invoice token, the on-chain supply (sum of holders' balances) differs
  from what the outbox issued minus what it clawed back (a written-off invoice's clawback
  batches count like a final settlement's; a token with an issue or clawback whose outcome is
  still unknown, ``SUBMITTED``, is checked on the next run).
* ``payout_total``: per settlement, the stablecoin paid by confirmed payout batches differs
  from the investors' total in the ledger's settlement breakdown (checked once every batch is
  final).
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from compliance.public import alert_raise

from ..models import ChainTransaction, Settlement
from .enums import FINAL_CHAIN_STATUSES, VIRTUAL_PURPOSES, ChainPurpose, ChainTxStatus
from .gateway import HorizonGateway, get_gateway
from .outbox import asset_from_str

ZERO = Decimal(0)


def _finding(kind: str, key: str, title: str, evidence: dict, invoice=None) -> dict:
    alert_raise(
        kind="RECONCILIATION",
        severity="HIGH",
        dedupe_key=f"stellar-recon:{kind}:{key}",
        title=title[:200],
        evidence={"check": kind, **evidence},
        invoice=invoice,
    )
    return {"check": kind, "key": key, **evidence}


def chain_reconcile(*, gateway: HorizonGateway | None = None, recent: int = 500) -> list[dict]:
    """Run every check; returns the findings (each also raised as an alert)."""
    gateway = gateway or get_gateway()
    findings: list[dict] = []
    confirmed = (
        ChainTransaction.objects.filter(status=ChainTxStatus.CONFIRMED)
        .exclude(purpose__in=VIRTUAL_PURPOSES)
        .order_by("-id")[:recent]
    )
    for row in confirmed:
        record = gateway.transaction_by_hash(row.tx_hash)
        if record is None or not record.get("successful"):
            findings.append(
                _finding(
                    "confirmed_not_on_chain",
                    row.tx_hash,
                    f"Stellar transaction {row.tx_hash[:12]} recorded as confirmed is not on chain",
                    {"chain_transaction": str(row.public_id), "on_chain": record is not None},
                    row.invoice,
                )
            )

    issued: dict[str, Decimal] = defaultdict(lambda: ZERO)
    invoices: dict[str, object] = {}
    in_flight: set[str] = set()
    for row in ChainTransaction.objects.filter(
        status__in=[ChainTxStatus.CONFIRMED, ChainTxStatus.SUBMITTED],
        purpose__in=[ChainPurpose.TOKEN_ISSUE, ChainPurpose.TOKEN_CLAWBACK],
    ).select_related("invoice"):
        for spec in row.operations:
            if spec["type"] not in ("payment", "clawback"):
                continue  # trustline flags, the write-off's data entry
            if row.status == ChainTxStatus.SUBMITTED:
                in_flight.add(spec["asset"])  # may or may not have landed yet
                continue
            sign = 1 if spec["type"] == "payment" else -1
            issued[spec["asset"]] += sign * Decimal(spec["amount"])
            invoices[spec["asset"]] = row.invoice
    for asset, expected in sorted(issued.items()):
        if asset in in_flight:
            continue
        on_chain = sum(gateway.asset_holders(asset_from_str(asset)).values(), ZERO)
        if on_chain != expected:
            findings.append(
                _finding(
                    "token_supply",
                    f"{asset}:{on_chain}",
                    f"Token {asset.split(':')[0]} supply on chain {on_chain} != issued {expected}",
                    {"asset": asset, "on_chain": str(on_chain), "expected": str(expected)},
                    invoices.get(asset),
                )
            )

    settlement_ids = (
        ChainTransaction.objects.filter(purpose=ChainPurpose.SETTLEMENT_PAYOUT)
        .values_list("settlement_id", flat=True)
        .distinct()
    )
    for settlement in Settlement.objects.filter(pk__in=settlement_ids).select_related("invoice"):
        batches = list(
            ChainTransaction.objects.filter(
                settlement=settlement, purpose=ChainPurpose.SETTLEMENT_PAYOUT
            )
        )
        if any(b.status not in FINAL_CHAIN_STATUSES for b in batches):
            continue
        paid = sum(
            (
                Decimal(spec["amount"])
                for b in batches
                if b.status == ChainTxStatus.CONFIRMED
                for spec in b.operations
            ),
            ZERO,
        )
        ledger_total = sum(
            (Decimal(v) for v in (settlement.breakdown.get("investors") or {}).values()), ZERO
        )
        if paid != ledger_total:
            findings.append(
                _finding(
                    "payout_total",
                    f"{settlement.public_id}:{paid}",
                    f"Settlement payouts on chain {paid} != ledger {ledger_total}",
                    {
                        "settlement": str(settlement.public_id),
                        "paid": str(paid),
                        "ledger": str(ledger_total),
                    },
                    settlement.invoice,
                )
            )
    return findings

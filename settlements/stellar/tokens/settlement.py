"""Settlement and write-off on chain: the virtual steps the outbox runs (no envelope).

``SETTLEMENT_SNAPSHOT`` snapshots the token holders, allocates the investors' total by the
ledger's amounts (or, when tokens moved, by holdings with the largest-remainder method in
stroops) and writes ``SETTLEMENT_PAYOUT`` batches and, on the final settlement,
``TOKEN_CLAWBACK`` batches; after a write-off it pays the ledger's amounts only. ``WRITE_OFF``
writes the clawback batches with the ``<code>.writeoff`` data entry. Batches hold at most
``MAX_OPS_PER_TX`` operations and are chained by ``depends_on``.
"""

from __future__ import annotations

import base64
from collections.abc import Hashable, Mapping
from decimal import Decimal
from typing import TypeVar

from stellar_sdk import Asset

from ...models import ChainTransaction
from ..enums import ChainPurpose, ChainTxStatus
from ..gateway import HorizonGateway, platform_keys, stablecoin_asset
from ..outbox import (
    ChainRetryLater,
    asset_str,
    chain_tx_alert,
    chain_tx_enqueue,
    chain_tx_transition,
)
from ..protocol import format_stroops, to_stroops

K = TypeVar("K", bound=Hashable)
MAX_OPS_PER_TX = 100


def allocate_stroops(total: int, weights: Mapping[K, int]) -> dict[K, int]:
    """Split ``total`` stroops pro rata to integer ``weights`` with the largest-remainder
    method (exact integer arithmetic); ties go to the earlier key. Parts sum to ``total``."""
    if total < 0:
        raise ValueError("total must be non-negative")
    weight_sum = sum(weights.values())
    if weight_sum <= 0 or any(w < 0 for w in weights.values()):
        raise ValueError("weights must be non-negative with a positive sum")
    parts: dict[K, int] = {}
    remainders = []
    for index, (key, weight) in enumerate(weights.items()):
        parts[key], remainder = divmod(total * weight, weight_sum)
        remainders.append((-remainder, index, key))
    for _, _, key in sorted(remainders)[: total - sum(parts.values())]:
        parts[key] += 1
    return parts


def _chunks(items: list, size: int = MAX_OPS_PER_TX) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def run_virtual_step(chain_tx: ChainTransaction, gateway: HorizonGateway) -> None:
    if chain_tx.purpose == ChainPurpose.SETTLEMENT_SNAPSHOT:
        _settlement_snapshot(chain_tx, gateway)
    elif chain_tx.purpose == ChainPurpose.WRITE_OFF:
        _write_off_snapshot(chain_tx, gateway)


def _wait_for(chain_tx: ChainTransaction, purposes: list[str], what: str) -> None:
    """Retry later while an earlier row of ``purposes`` on the same invoice is not final
    (earlier only: two steps never wait for each other)."""
    in_flight = ChainTransaction.objects.filter(
        invoice_id=chain_tx.invoice_id, purpose__in=purposes, pk__lt=chain_tx.pk
    ).exclude(status__in=[ChainTxStatus.CONFIRMED, ChainTxStatus.FAILED])
    if in_flight.exists():
        raise ChainRetryLater(f"{what} still in flight", countdown=60)


def _holders(asset_spec: str, gateway: HorizonGateway) -> dict[str, int]:
    """``{account: stroops}`` of every account holding some of the invoice token now."""
    code, issuer = asset_spec.split(":")
    return {
        account: to_stroops(balance)
        for account, balance in sorted(gateway.asset_holders(Asset(code, issuer)).items())
        if balance > 0 and account != issuer
    }


def _issued(invoice_id: int) -> tuple[dict[str, int], dict[int, str]]:
    """From the confirmed ``TOKEN_ISSUE`` rows: stroops issued per account, and the account
    each investment's tokens were issued to."""
    issued: dict[str, int] = {}
    holder_of_investment: dict[int, str] = {}
    for row in ChainTransaction.objects.filter(
        invoice_id=invoice_id,
        purpose=ChainPurpose.TOKEN_ISSUE,
        status=ChainTxStatus.CONFIRMED,
    ):
        issued[row.payload["holder"]] = issued.get(row.payload["holder"], 0) + to_stroops(
            Decimal(row.payload["amount"])
        )
        holder_of_investment[row.investment_id] = row.payload["holder"]
    return issued, holder_of_investment


def _settlement_snapshot(chain_tx: ChainTransaction, gateway: HorizonGateway) -> None:
    _wait_for(chain_tx, [ChainPurpose.TOKEN_CREATE, ChainPurpose.TOKEN_ISSUE], "token issuance")
    payload = chain_tx.payload
    if payload.get("written_off"):
        _recovery_snapshot(chain_tx, gateway)
        return
    holders = _holders(payload["asset"], gateway)
    issued, holder_of_investment = _issued(chain_tx.invoice_id)
    if not holders:
        chain_tx.last_error = "no token holders"
        chain_tx.save(update_fields=["last_error", "updated_at"])
        chain_tx_alert(chain_tx, "no_token_holders", "no account holds the invoice token")
        chain_tx_transition(
            chain_tx=chain_tx, to_status=ChainTxStatus.FAILED, reason="no token holders"
        )
        return
    total = to_stroops(Decimal(payload["total"]))
    ledger_allocation = _ledger_allocation(payload.get("investors", {}), holder_of_investment)
    if sum(holders.values()) != sum(issued.values()):
        chain_tx_alert(
            chain_tx,
            "token_supply_mismatch",
            f"on chain {sum(holders.values())} stroops, issued {sum(issued.values())}",
        )
        ledger_allocation = None
    elif holders != {k: v for k, v in sorted(issued.items()) if v}:
        chain_tx_alert(chain_tx, "token_holders_moved",
                       "tokens moved between holders since issuance")
        ledger_allocation = None
    if (
        ledger_allocation is not None
        and sum(ledger_allocation.values()) == total
        and set(ledger_allocation) <= set(holders)
    ):
        allocation, basis = {k: ledger_allocation.get(k, 0) for k in holders}, "ledger"
    else:
        allocation, basis = allocate_stroops(total, holders), "holdings"
    previous = _enqueue_payouts(chain_tx, allocation)
    if payload.get("final"):
        _enqueue_clawbacks(
            chain_tx,
            holders,
            key_prefix=f"stellar:settlement:{chain_tx.settlement_id}",
            previous=previous,
        )
    chain_tx.payload = {
        **payload,
        "holders": {k: format_stroops(v) for k, v in holders.items()},
        "allocation": {k: format_stroops(v) for k, v in allocation.items()},
        "allocation_basis": basis,
    }
    payments = sum(1 for amount in allocation.values() if amount > 0)
    chain_tx.ledger = int(gateway.latest_ledger()["sequence"])
    chain_tx_transition(
        chain_tx=chain_tx,
        to_status=ChainTxStatus.CONFIRMED,
        reason=f"{len(holders)} holders, {payments} payments",
        fields=("payload", "ledger"),
    )


def _enqueue_payouts(chain_tx: ChainTransaction, allocation: Mapping[str, int]):
    """``SETTLEMENT_PAYOUT`` batches (<= 100 payments) paying ``allocation`` (stroops per
    account) in the settlement's stablecoin, chained after ``chain_tx``; returns the last row
    written (``chain_tx`` when nothing is paid)."""
    stablecoin = asset_str(stablecoin_asset(chain_tx.payload["currency"]))
    distribution = platform_keys().distribution.public_key
    payments = [
        {
            "type": "payment",
            "destination": account,
            "asset": stablecoin,
            "amount": format_stroops(amount),
            "source": distribution,
        }
        for account, amount in allocation.items()
        if amount > 0
    ]
    return _enqueue_batches(
        chain_tx,
        purpose=ChainPurpose.SETTLEMENT_PAYOUT,
        key_prefix=f"stellar:settlement:{chain_tx.settlement_id}:payout",
        source=distribution,
        operations=payments,
        asset=stablecoin,
        previous=chain_tx,
    )


def _enqueue_clawbacks(
    chain_tx: ChainTransaction,
    holders: Mapping[str, int],
    *,
    key_prefix: str,
    previous: ChainTransaction,
    first_operations: list[dict] | None = None,
) -> ChainTransaction:
    """``TOKEN_CLAWBACK`` batches (source issuer, <= 100 operations each) clawing every
    holding in ``holders`` (stroops) back, ``first_operations`` at the head of the first
    batch; chained after ``previous``. Returns the last row written."""
    issuer_id = platform_keys().issuer.public_key
    asset = chain_tx.payload["asset"]
    operations = [*(first_operations or [])] + [
        {
            "type": "clawback",
            "asset": asset,
            "from": account,
            "amount": format_stroops(amount),
            "source": issuer_id,
        }
        for account, amount in holders.items()
    ]
    return _enqueue_batches(
        chain_tx,
        purpose=ChainPurpose.TOKEN_CLAWBACK,
        key_prefix=f"{key_prefix}:clawback",
        source=issuer_id,
        operations=operations,
        asset=asset,
        previous=previous,
    )


def _enqueue_batches(
    chain_tx: ChainTransaction,
    *,
    purpose: str,
    key_prefix: str,
    source: str,
    operations: list[dict],
    asset: str,
    previous: ChainTransaction,
) -> ChainTransaction:
    """Write ``operations`` as ``purpose`` rows of at most ``MAX_OPS_PER_TX`` (100) operations
    each, in order, on ``chain_tx``'s invoice and settlement, each depending on the row before
    it (the first on ``previous``), so that they are submitted one after the other.

    Batch ``index`` (from 0) has the idempotency key ``<key_prefix>:<index>`` and the payload
    ``{"batch": index, "asset": asset}``; the keys are unique constraints on rows already
    written, so callers keep their prefixes. Idempotent: existing rows are returned as they
    are. Returns the last row written, ``previous`` when ``operations`` is empty."""
    for index, batch in enumerate(_chunks(operations)):
        previous = chain_tx_enqueue(
            purpose=purpose,
            idempotency_key=f"{key_prefix}:{index}",
            source=source,
            operations=batch,
            invoice=chain_tx.invoice,
            settlement=chain_tx.settlement,
            depends_on=previous,
            payload={"batch": index, "asset": asset},
        )
    return previous


def _write_off_snapshot(chain_tx: ChainTransaction, gateway: HorizonGateway) -> None:
    """The ``WRITE_OFF`` step: once issuance and earlier settlement snapshots are final,
    snapshot the holders and write the clawback batches, the first recording the write-off
    as a data entry on the issuer. The payload gains ``holders`` (clawed back) and
    ``loss_by_holder`` (the ledger's losses summed by the account each investment's tokens
    were issued to, under ``"unissued"`` for an investment without a confirmed issue)."""
    _wait_for(
        chain_tx,
        [ChainPurpose.TOKEN_CREATE, ChainPurpose.TOKEN_ISSUE, ChainPurpose.SETTLEMENT_SNAPSHOT],
        "token issuance or settlement snapshot",
    )
    payload = chain_tx.payload
    holders = _holders(payload["asset"], gateway)
    _, holder_of_investment = _issued(chain_tx.invoice_id)
    loss_by_holder: dict[str, int] = {}
    for investment_id, loss in payload.get("losses", {}).items():
        holder = holder_of_investment.get(int(investment_id), "unissued")
        loss_by_holder[holder] = loss_by_holder.get(holder, 0) + to_stroops(Decimal(loss))
    code = payload["asset"].split(":")[0]
    record = f"written off {payload['loss_total']} {payload['currency']}"
    data_entry = {
        "type": "manage_data",
        "name": f"{code}.writeoff",
        "value_b64": base64.b64encode(record.encode()[:64]).decode(),
        "source": platform_keys().issuer.public_key,
    }
    _enqueue_clawbacks(
        chain_tx,
        holders,
        key_prefix=f"stellar:write-off:{chain_tx.invoice_id}",
        previous=chain_tx,
        first_operations=[data_entry],
    )
    chain_tx.payload = {
        **payload,
        "holders": {k: format_stroops(v) for k, v in holders.items()},
        "loss_by_holder": {k: format_stroops(v) for k, v in sorted(loss_by_holder.items())},
        "record": record,
    }
    chain_tx.ledger = int(gateway.latest_ledger()["sequence"])
    chain_tx_transition(
        chain_tx=chain_tx,
        to_status=ChainTxStatus.CONFIRMED,
        reason=f"{len(holders)} holders to claw back",
        fields=("payload", "ledger"),
    )


def _recovery_snapshot(chain_tx: ChainTransaction, gateway: HorizonGateway) -> None:
    """A settlement on a written-off invoice: its tokens are (being) clawed back, so the
    payouts follow the ledger only (each investment's amount to the account its tokens were
    issued to), whatever the accounts hold now, and nothing is clawed back. Independent of the
    ``WRITE_OFF`` step's progress (stablecoin from distribution, tokens from the issuer). Stops
    with an alert when an investment with a payout has no confirmed token issue."""
    payload = chain_tx.payload
    total = to_stroops(Decimal(payload["total"]))
    _, holder_of_investment = _issued(chain_tx.invoice_id)
    allocation = _ledger_allocation(payload.get("investors", {}), holder_of_investment)
    if allocation is None or sum(allocation.values()) != total:
        detail = "an investment with a payout has no confirmed token issue"
        chain_tx.last_error = detail
        chain_tx.save(update_fields=["last_error", "updated_at"])
        chain_tx_alert(chain_tx, "no_ledger_basis", detail)
        chain_tx_transition(chain_tx=chain_tx, to_status=ChainTxStatus.FAILED, reason=detail)
        return
    allocation = dict(sorted(allocation.items()))
    _enqueue_payouts(chain_tx, allocation)
    chain_tx.payload = {
        **payload,
        "allocation": {k: format_stroops(v) for k, v in allocation.items()},
        "allocation_basis": "ledger",
    }
    chain_tx.ledger = int(gateway.latest_ledger()["sequence"])
    chain_tx_transition(
        chain_tx=chain_tx,
        to_status=ChainTxStatus.CONFIRMED,
        reason=f"recovery after write-off, {len(allocation)} payments",
        fields=("payload", "ledger"),
    )


def _ledger_allocation(
    investors: Mapping[str, str], holder_of_investment: Mapping[int, str]
) -> dict[str, int] | None:
    """The ledger's payout per token holder in stroops: each investment's amount (from the
    settlement's breakdown, ``{investment id: amount}``) summed by the account holding its
    tokens. ``None`` when an investment with a payout has no confirmed token issue."""
    allocation: dict[str, int] = {}
    for investment_id, amount in investors.items():
        stroops = to_stroops(Decimal(amount))
        if not stroops:
            continue
        holder = holder_of_investment.get(int(investment_id))
        if holder is None:
            return None
        allocation[holder] = allocation.get(holder, 0) + stroops
    return allocation

"""Invoice tokens and settlement on chain.

Each financed invoice is a classic Stellar asset ``INV<base32 of the invoice id>`` issued by the
platform issuer (flags ``AUTH_REQUIRED | AUTH_REVOCABLE | AUTH_CLAWBACK_ENABLED``, so only
trustlines the issuer authorizes can hold it and it can be clawed back). One token unit = one
currency unit of principal funded (7 decimals).

Transactions per invoice (all through the outbox, see :mod:`.outbox`):

* ``TOKEN_CREATE`` (source issuer, 3 operations): ``manage_data`` ``<code>.sha256`` = the
  invoice document's SHA-256 on the issuer; ``change_trust`` by the custody account;
  ``set_trust_line_flags`` authorizing the custody trustline.
* ``TOKEN_ISSUE`` per investment (source issuer): to the investor's SEP-10-connected account
  (2 operations: authorize the investor's trustline, pay the tokens) or, without a connected
  account or trustline, to the custody account (1 operation).
* On each settlement, ``SETTLEMENT_SNAPSHOT`` (no envelope): snapshot the token holders and
  pay each holder what the ledger's settlement entry paid the investments it holds, and write
  ``SETTLEMENT_PAYOUT`` batches (source distribution, <= 100 payments each) and, on the final
  settlement, ``TOKEN_CLAWBACK`` batches (source issuer, <= 100 clawbacks).
* On a non-recourse write-off, ``WRITE_OFF`` (no envelope): snapshot the token holders and
  write ``TOKEN_CLAWBACK`` batches (source issuer, <= 100 operations each) that claw every
  holding back, the first with a ``<code>.writeoff`` data entry on the issuer (``written off
  <total> <currency>``). The ledger's loss per investment is kept in the row's payload (it is
  authoritative; nothing is paid on chain). Later recoveries are paid like any settlement, by
  the ledger's amounts and the account each investment's tokens were issued to (the tokens
  are gone), and never claw back again.

Authority: the PostgreSQL ledger is the system of record. Its settlement entry fixes each
investment's payout in the currency's minor unit (largest remainder, see
:mod:`settlements.waterfall`); the chain pays exactly those amounts (cents are whole stroops).
Only when the token holdings on chain no longer match what was issued (tokens moved between
authorized holders) is the investors' total split by holdings, with the largest-remainder
method in stroops, and a ``token_holders_moved`` alert raised for ops.

Wiring: :func:`chain_on_disbursement` runs inside the disbursement transaction
(:func:`marketplace.services._disburse`), so tokens exist only for advances actually paid (a
cancelled listing mints nothing); :func:`chain_on_settlement` runs inside the settlement
transaction (:func:`settlements.services.distribution._distribute`), :func:`chain_on_write_off`
inside the write-off (:func:`settlements.services.collections._write_off`). They only write
outbox rows, whose submission tasks are enqueued after commit (no network I/O in the money
transaction).
"""

from __future__ import annotations

import base64
from collections.abc import Hashable, Mapping
from decimal import Decimal
from typing import TypeVar

from django.conf import settings
from stellar_sdk import Asset, Keypair, TransactionBuilder
from stellar_sdk.operation.set_options import AuthorizationFlag

from ...models import ChainTransaction
from ..enums import ChainPurpose, ChainTxStatus
from ..gateway import HorizonGateway, platform_keys, stablecoin_asset
from ..local_ledger import (
    TL_AUTHORIZED,
    LocalLedger,
    format_stroops,
    to_stroops,
)
from ..outbox import (
    ChainRetryLater,
    _alert,
    asset_str,
    chain_tx_enqueue,
    chain_tx_transition,
)

K = TypeVar("K", bound=Hashable)
MAX_OPS_PER_TX = 100
_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
ISSUER_FLAGS = (
    AuthorizationFlag.AUTHORIZATION_REQUIRED
    | AuthorizationFlag.AUTHORIZATION_REVOCABLE
    | AuthorizationFlag.AUTHORIZATION_CLAWBACK_ENABLED
)


def invoice_asset_code(invoice_id: int) -> str:
    """``"INV"`` + the invoice id in base32 (RFC 4648 alphabet), at most 12 characters."""
    if invoice_id <= 0:
        raise ValueError("invoice id must be positive")
    digits = ""
    n = invoice_id
    while n:
        n, r = divmod(n, 32)
        digits = _B32[r] + digits
    code = "INV" + digits
    if len(code) > 12:
        raise ValueError("invoice id too large for a 12-character asset code")
    return code


def invoice_asset(invoice_id: int) -> Asset:
    return Asset(invoice_asset_code(invoice_id), platform_keys().issuer.public_key)


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


def connected_account_id(user) -> str | None:
    from ...models import StellarAccount

    return (
        StellarAccount.objects.filter(user=user)
        .order_by("-verified_at")
        .values_list("account_id", flat=True)
        .first()
    )


# --- Outbox writers for the money flows ------------------------------------------------------


def chain_token_create(*, invoice) -> ChainTransaction:
    """The invoice's token: document hash on the issuer, custody trustline authorized."""
    keys = platform_keys()
    issuer, custody = keys.issuer.public_key, keys.custody.public_key
    asset = asset_str(invoice_asset(invoice.pk))
    digest = bytes.fromhex(invoice.document_sha256) if invoice.document_sha256 else b""
    operations = [
        {
            "type": "manage_data",
            "name": f"{invoice_asset_code(invoice.pk)}.sha256",
            "value_b64": base64.b64encode(digest).decode(),
            "source": issuer,
        },
        {"type": "change_trust", "asset": asset, "source": custody},
        {
            "type": "set_trust_line_flags",
            "trustor": custody,
            "asset": asset,
            "set_flags": TL_AUTHORIZED,
            "source": issuer,
        },
    ]
    return chain_tx_enqueue(
        purpose=ChainPurpose.TOKEN_CREATE,
        idempotency_key=f"stellar:token-create:{invoice.pk}",
        source=issuer,
        operations=operations,
        invoice=invoice,
        payload={"asset": asset},
    )


def chain_on_disbursement(*, invoice, investments) -> list[ChainTransaction]:
    """Issue every investor's share of the invoice token when the advance is disbursed.

    ``investments``: the listing's investments (any order; issued in id order). Writes the
    ``TOKEN_CREATE`` row and one ``TOKEN_ISSUE`` row per investment into the caller's
    transaction (outbox rows only; submitted after commit). Idempotent: running it again
    returns the existing rows. Returns ``[]`` when ``STELLAR_ENABLED`` is off.
    """
    if not settings.STELLAR_ENABLED:
        return []
    from ...models import StellarAccount

    investor_ids = {inv.investor_id for inv in investments}
    connected: dict[int, str] = {}
    for user_id, account_id in (
        StellarAccount.objects.filter(user_id__in=investor_ids)
        .order_by("user_id", "verified_at")
        .values_list("user_id", "account_id")
    ):
        connected[user_id] = account_id  # the most recently verified wins
    create = chain_token_create(invoice=invoice)
    return [
        chain_on_funding(inv, invoice=invoice, holder=connected.get(inv.investor_id),
                         token_create=create)
        for inv in sorted(investments, key=lambda inv: inv.pk)
    ]


def chain_on_funding(
    investment, *, invoice=None, holder: str | None = None, token_create=None
) -> ChainTransaction | None:
    """Issue one investor's share of the invoice token (outbox rows only), to their
    SEP-10-connected account or else to custody. ``invoice``, ``holder`` (the connected
    account id) and ``token_create`` may be passed by :func:`chain_on_disbursement` to save
    queries. Call inside the money transaction; idempotent per investment."""
    if not settings.STELLAR_ENABLED:
        return None
    invoice = invoice or investment.listing.invoice
    create = token_create or chain_token_create(invoice=invoice)
    keys = platform_keys()
    issuer, custody = keys.issuer.public_key, keys.custody.public_key
    asset = asset_str(invoice_asset(invoice.pk))
    holder = holder or connected_account_id(investment.investor) or custody
    amount = format_stroops(to_stroops(investment.amount))
    operations = []
    if holder != custody:
        operations.append(
            {
                "type": "set_trust_line_flags",
                "trustor": holder,
                "asset": asset,
                "set_flags": TL_AUTHORIZED,
                "source": issuer,
            }
        )
    operations.append(
        {
            "type": "payment",
            "destination": holder,
            "asset": asset,
            "amount": amount,
            "source": issuer,
        }
    )
    return chain_tx_enqueue(
        purpose=ChainPurpose.TOKEN_ISSUE,
        idempotency_key=f"stellar:token-issue:{investment.pk}",
        source=issuer,
        operations=operations,
        invoice=invoice,
        investment=investment,
        depends_on=create,
        payload={"asset": asset, "holder": holder, "amount": amount, "custody": holder == custody},
    )


def chain_on_write_off(*, invoice, investments, currency: str) -> ChainTransaction | None:
    """Record a non-recourse write-off on chain (outbox row only; call inside the write-off's
    transaction): a ``WRITE_OFF`` step that, when run, snapshots the token holders and writes
    the ``TOKEN_CLAWBACK`` batches with the ``written off`` data entry (see module doc).

    ``investments``: the written-off investments with their ``loss`` (``currency`` units) set
    by the ledger; kept in the payload per investment id. Idempotent per invoice. Returns
    ``None`` when ``STELLAR_ENABLED`` is off or the invoice never had a token (disbursed before
    the chain mirror was on: nothing to claw back).
    """
    if not settings.STELLAR_ENABLED:
        return None
    if not ChainTransaction.objects.filter(
        invoice=invoice, purpose=ChainPurpose.TOKEN_CREATE
    ).exists():
        return None
    losses = {str(inv.pk): str(inv.loss) for inv in sorted(investments, key=lambda i: i.pk)}
    total = sum((Decimal(v) for v in losses.values()), Decimal(0))
    return chain_tx_enqueue(
        purpose=ChainPurpose.WRITE_OFF,
        idempotency_key=f"stellar:write-off:{invoice.pk}",
        source=platform_keys().issuer.public_key,
        operations=[],
        invoice=invoice,
        payload={
            "asset": asset_str(invoice_asset(invoice.pk)),
            "currency": currency,
            "loss_total": str(total),
            "losses": losses,
        },
    )


def chain_on_settlement(settlement) -> ChainTransaction | None:
    """Pay the investors' part of a completed settlement on chain (outbox rows only): a
    snapshot step, then payout batches and, when the invoice is settled, clawbacks. After a
    write-off (its ``WRITE_OFF`` row exists: the tokens were clawed back), a recovery is paid
    by the ledger's amounts only and claws nothing back (``written_off`` in the payload)."""
    if not settings.STELLAR_ENABLED:
        return None
    from invoices.enums import InvoiceStatus

    investors = settlement.breakdown.get("investors") or {}
    total = sum((Decimal(v) for v in investors.values()), Decimal(0))
    if total <= 0:
        return None
    invoice = settlement.invoice
    written_off = ChainTransaction.objects.filter(
        invoice=invoice, purpose=ChainPurpose.WRITE_OFF
    ).exists()
    return chain_tx_enqueue(
        purpose=ChainPurpose.SETTLEMENT_SNAPSHOT,
        idempotency_key=f"stellar:settlement:{settlement.pk}",
        source=platform_keys().distribution.public_key,
        operations=[],
        invoice=invoice,
        settlement=settlement,
        payload={
            "asset": asset_str(invoice_asset(invoice.pk)),
            "currency": settlement.currency,
            "total": format_stroops(to_stroops(total)),
            "investors": {k: str(v) for k, v in sorted(investors.items(), key=lambda kv:
                                                         int(kv[0]))},
            "final": invoice.status == InvoiceStatus.SETTLED and not written_off,
            "written_off": written_off,
        },
    )


# --- Steps run by the outbox ------------------------------------------------------------------


def preflight(chain_tx: ChainTransaction, gateway: HorizonGateway) -> None:
    """Before the first build: a share for an investor whose account has no trustline to the
    token goes to custody instead (an op_no_trust would consume the fee and sequence)."""
    if chain_tx.purpose != ChainPurpose.TOKEN_ISSUE or chain_tx.payload.get("custody"):
        return
    payload = chain_tx.payload
    holder = payload["holder"]
    if gateway.trustline(holder, Asset(*payload["asset"].split(":"))) is not None:
        return
    custody = platform_keys().custody.public_key
    chain_tx.operations = [
        {
            "type": "payment",
            "destination": custody,
            "asset": payload["asset"],
            "amount": payload["amount"],
            "source": chain_tx.source,
        }
    ]
    chain_tx.payload = {
        **payload,
        "holder": custody,
        "custody": True,
        "fallback": f"no trustline on {holder}",
    }


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
        _alert(chain_tx, "no_token_holders", "no account holds the invoice token")
        chain_tx_transition(
            chain_tx=chain_tx, to_status=ChainTxStatus.FAILED, reason="no token holders"
        )
        return
    total = to_stroops(Decimal(payload["total"]))
    ledger_allocation = _ledger_allocation(payload.get("investors", {}), holder_of_investment)
    if sum(holders.values()) != sum(issued.values()):
        _alert(
            chain_tx,
            "token_supply_mismatch",
            f"on chain {sum(holders.values())} stroops, issued {sum(issued.values())}",
        )
        ledger_allocation = None
    elif holders != {k: v for k, v in sorted(issued.items()) if v}:
        _alert(chain_tx, "token_holders_moved", "tokens moved between holders since issuance")
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
    previous = chain_tx
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
    for index, batch in enumerate(_chunks(payments)):
        previous = chain_tx_enqueue(
            purpose=ChainPurpose.SETTLEMENT_PAYOUT,
            idempotency_key=f"stellar:settlement:{chain_tx.settlement_id}:payout:{index}",
            source=distribution,
            operations=batch,
            invoice=chain_tx.invoice,
            settlement=chain_tx.settlement,
            depends_on=previous,
            payload={"batch": index, "asset": stablecoin},
        )
    return previous


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
    for index, batch in enumerate(_chunks(operations)):
        previous = chain_tx_enqueue(
            purpose=ChainPurpose.TOKEN_CLAWBACK,
            idempotency_key=f"{key_prefix}:clawback:{index}",
            source=issuer_id,
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
        _alert(chain_tx, "no_ledger_basis", detail)
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


# --- Platform accounts on the local network -----------------------------------------------------


def _submit_now(gateway: HorizonGateway, source: Keypair, operations, signers) -> dict:
    account = gateway.load_account(source.public_key)
    builder = TransactionBuilder(
        account, gateway.network_passphrase, base_fee=settings.STELLAR_BASE_FEE
    )
    builder.add_time_bounds(0, gateway.network_time() + settings.STELLAR_TX_TIMEOUT_SECONDS)
    for op in operations:
        builder.append_operation(op)
    envelope = builder.build()
    for signer in signers:
        envelope.sign(signer)
    return gateway.submit(envelope.to_xdr())


def local_platform_bootstrap(
    ledger: LocalLedger,
    gateway: HorizonGateway,
    *,
    currencies: tuple[str, ...] = ("EUR",),
    stablecoin_supply: str = "10000000",
) -> None:
    """Create the platform's accounts on the local network (tests, demo): fund them, set the
    issuer's flags and home domain, stablecoin trustlines for distribution and custody, and
    mint ``stablecoin_supply`` of each stablecoin to the distribution account."""
    from stellar_sdk import ChangeTrust, Payment, SetOptions

    keys = platform_keys()
    assert keys.stablecoin_issuer is not None
    for kp in (keys.issuer, keys.distribution, keys.custody, keys.stablecoin_issuer, keys.sep10):
        ledger.fund(kp.public_key, "10000")
    _submit_now(
        gateway,
        keys.issuer,
        [SetOptions(set_flags=ISSUER_FLAGS, home_domain=settings.STELLAR_HOME_DOMAIN)],
        [keys.issuer],
    )
    for currency in currencies:
        coin = stablecoin_asset(currency)
        _submit_now(
            gateway,
            keys.distribution,
            [
                ChangeTrust(coin, source=keys.distribution.public_key),
                ChangeTrust(coin, source=keys.custody.public_key),
                Payment(
                    keys.distribution.public_key,
                    coin,
                    stablecoin_supply,
                    source=keys.stablecoin_issuer.public_key,
                ),
            ],
            [keys.distribution, keys.custody, keys.stablecoin_issuer],
        )


def document_hash_on_chain(gateway: HorizonGateway, invoice_id: int) -> str | None:
    """The document SHA-256 recorded on the issuer for this invoice (hex), if any."""
    record = gateway.account(platform_keys().issuer.public_key) or {}
    value = (record.get("data") or {}).get(f"{invoice_asset_code(invoice_id)}.sha256")
    return base64.b64decode(value).hex() if value else None

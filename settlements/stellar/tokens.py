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
* On each settlement, ``SETTLEMENT_SNAPSHOT`` (no envelope): snapshot the token holders, split
  the investors' total from the ledger by holdings with the largest-remainder method in
  stroops, and write ``SETTLEMENT_PAYOUT`` batches (source distribution, <= 100 payments each)
  and, on the final settlement, ``TOKEN_CLAWBACK`` batches (source issuer, <= 100 clawbacks).

The lead wires :func:`chain_on_funding` and :func:`chain_on_settlement` with
``transaction.on_commit``; both only write outbox rows (no network I/O).
"""

from __future__ import annotations

import base64
from collections.abc import Hashable, Mapping
from decimal import Decimal
from typing import TypeVar

from django.conf import settings
from django.db import transaction
from stellar_sdk import Asset, Keypair, TransactionBuilder
from stellar_sdk.operation.set_options import AuthorizationFlag

from ..models import ChainTransaction
from .enums import ChainPurpose, ChainTxStatus
from .gateway import HorizonGateway, platform_keys, stablecoin_asset
from .local_ledger import (
    TL_AUTHORIZED,
    LocalLedger,
    format_stroops,
    to_stroops,
)
from .outbox import (
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
    from ..models import StellarAccount

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


def chain_on_funding(investment) -> ChainTransaction | None:
    """Issue the investor's share of the invoice token (outbox rows only). Call inside the
    funding transaction or from its on_commit; idempotent per investment."""
    if not settings.STELLAR_ENABLED:
        return None
    invoice = investment.listing.invoice
    create = chain_token_create(invoice=invoice)
    keys = platform_keys()
    issuer, custody = keys.issuer.public_key, keys.custody.public_key
    asset = asset_str(invoice_asset(invoice.pk))
    holder = connected_account_id(investment.investor) or custody
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


def chain_on_settlement(settlement) -> ChainTransaction | None:
    """Pay the investors' part of a completed settlement on chain (outbox rows only): a
    snapshot step, then payout batches and, when the invoice is settled, clawbacks."""
    if not settings.STELLAR_ENABLED:
        return None
    from invoices.enums import InvoiceStatus

    investors = settlement.breakdown.get("investors") or {}
    total = sum((Decimal(v) for v in investors.values()), Decimal(0))
    if total <= 0:
        return None
    invoice = settlement.invoice
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
            "final": invoice.status == InvoiceStatus.SETTLED,
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


def _settlement_snapshot(chain_tx: ChainTransaction, gateway: HorizonGateway) -> None:
    open_issues = ChainTransaction.objects.filter(
        invoice_id=chain_tx.invoice_id,
        purpose__in=[ChainPurpose.TOKEN_CREATE, ChainPurpose.TOKEN_ISSUE],
    ).exclude(status__in=[ChainTxStatus.CONFIRMED, ChainTxStatus.FAILED])
    if open_issues.exists():
        raise ChainRetryLater("token issuance still in flight", countdown=60)
    payload = chain_tx.payload
    code, issuer = payload["asset"].split(":")
    asset = Asset(code, issuer)
    holders = {
        account: to_stroops(balance)
        for account, balance in sorted(gateway.asset_holders(asset).items())
        if balance > 0 and account != issuer
    }
    issued: dict[str, int] = {}
    for row in ChainTransaction.objects.filter(
        invoice_id=chain_tx.invoice_id,
        purpose=ChainPurpose.TOKEN_ISSUE,
        status=ChainTxStatus.CONFIRMED,
    ):
        issued[row.payload["holder"]] = issued.get(row.payload["holder"], 0) + to_stroops(
            Decimal(row.payload["amount"])
        )
    if not holders:
        chain_tx.last_error = "no token holders"
        chain_tx.save(update_fields=["last_error", "updated_at"])
        _alert(chain_tx, "no_token_holders", "no account holds the invoice token")
        chain_tx_transition(
            chain_tx=chain_tx, to_status=ChainTxStatus.FAILED, reason="no token holders"
        )
        return
    if sum(holders.values()) != sum(issued.values()):
        _alert(
            chain_tx,
            "token_supply_mismatch",
            f"on chain {sum(holders.values())} stroops, issued {sum(issued.values())}",
        )
    elif holders != {k: v for k, v in sorted(issued.items()) if v}:
        _alert(chain_tx, "token_holders_moved", "tokens moved between holders since issuance")
    total = to_stroops(Decimal(payload["total"]))
    allocation = allocate_stroops(total, holders)
    stablecoin = asset_str(stablecoin_asset(payload["currency"]))
    keys = platform_keys()
    distribution, issuer_id = keys.distribution.public_key, keys.issuer.public_key
    settlement_id = chain_tx.settlement_id
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
            idempotency_key=f"stellar:settlement:{settlement_id}:payout:{index}",
            source=distribution,
            operations=batch,
            invoice=chain_tx.invoice,
            settlement=chain_tx.settlement,
            depends_on=previous,
            payload={"batch": index, "asset": stablecoin},
        )
    if payload.get("final"):
        clawbacks = [
            {
                "type": "clawback",
                "asset": payload["asset"],
                "from": account,
                "amount": format_stroops(amount),
                "source": issuer_id,
            }
            for account, amount in holders.items()
        ]
        for index, batch in enumerate(_chunks(clawbacks)):
            previous = chain_tx_enqueue(
                purpose=ChainPurpose.TOKEN_CLAWBACK,
                idempotency_key=f"stellar:settlement:{settlement_id}:clawback:{index}",
                source=issuer_id,
                operations=batch,
                invoice=chain_tx.invoice,
                settlement=chain_tx.settlement,
                depends_on=previous,
                payload={"batch": index, "asset": payload["asset"]},
            )
    chain_tx.payload = {
        **payload,
        "holders": {k: format_stroops(v) for k, v in holders.items()},
        "allocation": {k: format_stroops(v) for k, v in allocation.items()},
    }
    chain_tx.ledger = int(gateway.latest_ledger()["sequence"])
    chain_tx_transition(
        chain_tx=chain_tx,
        to_status=ChainTxStatus.CONFIRMED,
        reason=f"{len(holders)} holders, {len(payments)} payments",
        fields=("payload", "ledger"),
    )


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


def chain_on_funding_after_commit(investment) -> None:
    """Convenience for the lead: ``transaction.on_commit`` wiring of :func:`chain_on_funding`
    (its own short transaction after the funding commits)."""
    investment_id = investment.pk

    def _write() -> None:
        from marketplace.models import Investment

        with transaction.atomic():
            chain_on_funding(
                Investment.objects.select_related("listing__invoice", "investor").get(
                    pk=investment_id
                )
            )

    transaction.on_commit(_write)

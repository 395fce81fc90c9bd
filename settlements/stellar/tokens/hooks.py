"""Outbox writers called from the money flows (see the package docstring for the wiring).

They run inside the caller's money transaction and only write ``ChainTransaction`` rows (the
submission tasks are enqueued after commit); each is idempotent by its row's key, and the
``chain_on_*`` functions do nothing when ``STELLAR_ENABLED`` is off.
"""

from __future__ import annotations

import base64
from decimal import Decimal

from django.conf import settings

from invoices.enums import InvoiceStatus

from ...models import ChainTransaction, StellarAccount
from ..enums import ChainPurpose
from ..gateway import platform_keys
from ..outbox import asset_str, chain_tx_enqueue
from ..protocol import TL_AUTHORIZED, format_stroops, to_stroops
from .issuance import connected_account_id, invoice_asset, invoice_asset_code


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
    investor_ids = {inv.investor_id for inv in investments}
    connected: dict[int, str] = {}
    for user_id, account_id in (
        StellarAccount.objects.filter(user_id__in=investor_ids)
        .order_by("user_id", "verified_at")
        .values_list("user_id", "account_id")
    ):
        connected[user_id] = account_id  # the most recently verified wins
    create = chain_token_create(invoice=invoice)
    custody = platform_keys().custody.public_key
    return [
        chain_on_funding(inv, invoice=invoice, holder=connected.get(inv.investor_id, custody),
                         token_create=create)
        for inv in sorted(investments, key=lambda inv: inv.pk)
    ]


def chain_on_funding(
    investment, *, invoice=None, holder: str | None = None, token_create=None
) -> ChainTransaction | None:
    """Issue one investor's share of the invoice token (outbox rows only), to their
    SEP-10-connected account or else to custody. ``invoice``, ``holder`` (the connected
    account id, or custody's) and ``token_create`` may be passed by
    :func:`chain_on_disbursement`, which looks every investor's account up in one query.
    Call inside the money transaction; idempotent per investment."""
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

"""The invoice token's asset and its issue.

The asset code (``INV`` + the invoice id in base32), the account an investor's share is issued
to (SEP-10-connected, else custody), the ``TOKEN_ISSUE`` preflight run by the outbox before the
first build (no trustline: custody instead), and the document hash read back from the issuer.
"""

from __future__ import annotations

import base64

from stellar_sdk import Asset

from ...models import ChainTransaction, StellarAccount
from ..enums import ChainPurpose
from ..gateway import HorizonGateway, platform_keys

_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


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


def connected_account_id(user) -> str | None:
    return (
        StellarAccount.objects.filter(user=user)
        .order_by("-verified_at")
        .values_list("account_id", flat=True)
        .first()
    )


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


def document_hash_on_chain(gateway: HorizonGateway, invoice_id: int) -> str | None:
    """The document SHA-256 recorded on the issuer for this invoice (hex), if any."""
    record = gateway.account(platform_keys().issuer.public_key) or {}
    value = (record.get("data") or {}).get(f"{invoice_asset_code(invoice_id)}.sha256")
    return base64.b64decode(value).hex() if value else None

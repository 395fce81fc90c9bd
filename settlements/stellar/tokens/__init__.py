"""Invoice tokens and settlement on chain.

Each financed invoice is a classic Stellar asset ``INV<base32 of the invoice id>`` issued by the
platform issuer (flags ``AUTH_REQUIRED | AUTH_REVOCABLE | AUTH_CLAWBACK_ENABLED``, so only
trustlines the issuer authorizes can hold it and it can be clawed back). One token unit = one
currency unit of principal funded (7 decimals).

Transactions per invoice (all through the outbox, see :mod:`settlements.stellar.outbox`):

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

Modules: :mod:`.hooks` (the outbox writers called inside the money transactions),
:mod:`.issuance` (asset code, the investor's account, the ``TOKEN_ISSUE`` preflight, the
document hash on chain), :mod:`.settlement` (the ``SETTLEMENT_SNAPSHOT`` and ``WRITE_OFF``
steps: snapshot, allocation, payout and clawback batches). The platform's accounts on the local
network are :mod:`devtools.stellar_local.bootstrap`.
"""

from .hooks import (
    chain_on_disbursement,
    chain_on_funding,
    chain_on_settlement,
    chain_on_write_off,
    chain_token_create,
)
from .issuance import (
    connected_account_id,
    document_hash_on_chain,
    invoice_asset,
    invoice_asset_code,
    preflight,
)
from .settlement import MAX_OPS_PER_TX, allocate_stroops, run_virtual_step

__all__ = [
    "MAX_OPS_PER_TX",
    "allocate_stroops",
    "chain_on_disbursement",
    "chain_on_funding",
    "chain_on_settlement",
    "chain_on_write_off",
    "chain_token_create",
    "connected_account_id",
    "document_hash_on_chain",
    "invoice_asset",
    "invoice_asset_code",
    "preflight",
    "run_virtual_step",
]

"""An in-process stand-in for a Stellar network behind Horizon, spoken to by the real SDK.

``Server(url, client=LocalHorizonClient(ledger))`` sends the SDK's HTTP calls here instead of
to Horizon. The ledger decodes and validates every envelope the way stellar-core does (time
bounds, fee, sequence number, signatures against signer weights and thresholds, balances and
reserves, trustlines and their authorization) and answers with Horizon's JSON, including its
error shape (``extras.result_codes``) so that the SDK raises ``BadRequestError`` as it would on
the network.

Rules reproduced (protocol 22, classic operations):

* Validation happens before anything is applied. A transaction rejected at validation
  (``tx_too_early``, ``tx_too_late``, ``tx_insufficient_fee``, ``tx_no_source_account``,
  ``tx_bad_seq``, ``tx_bad_auth``, ``tx_bad_auth_extra``, ``tx_insufficient_balance``, or
  ``tx_failed`` with ``op_bad_auth``) is not included in a ledger: no fee, no sequence.
* A transaction that passes validation is included: the fee (base fee x operations) is charged
  and the source's sequence number consumed even when an operation then fails; a failed
  operation rolls back every operation of the transaction (``tx_failed`` with per-operation
  codes, stored in history with ``successful: false``).
* Reserve: 0.5 XLM x (2 + subentries); trustlines, extra signers and data entries are
  subentries.
* Resubmitting an envelope already in history returns the stored result (as Horizon does).

Not modelled: offers, liquidity pools, claimable balances, sponsorship, Soroban, surge pricing,
liabilities, muxed ids (accepted, ignored), pre-auth/hash-x signers.

Modules: :mod:`.state` (units, flags, accounts, signature weights), :mod:`.ledger`
(validation, atomic application, history), :mod:`.operations` (one handler per operation),
:mod:`.horizon` (the SDK's HTTP client, Horizon's routes and JSON), :mod:`.problems` (errors).

Fault injection (:meth:`LocalLedger.inject_fault`): ``timeout_before_apply`` (the request never
reaches the network) and ``lost_response`` (applied, then the connection drops); both raise the
SDK's ``ConnectionError`` from :class:`LocalHorizonClient`.
"""

from settlements.stellar.protocol import (
    AUTH_CLAWBACK_ENABLED,
    AUTH_REQUIRED,
    AUTH_REVOCABLE,
    BASE_FEE,
    BASE_RESERVE,
    STROOPS_PER_UNIT,
    TL_AUTHORIZED,
    TL_AUTHORIZED_TO_MAINTAIN_LIABILITIES,
    TL_CLAWBACK_ENABLED,
    format_stroops,
    to_stroops,
)

from .horizon import LocalHorizonClient
from .ledger import LocalLedger
from .state import FAULT_LOST_RESPONSE, FAULT_TIMEOUT_BEFORE_APPLY, FAULTS, ManualClock

__all__ = [
    "AUTH_CLAWBACK_ENABLED",
    "AUTH_REQUIRED",
    "AUTH_REVOCABLE",
    "BASE_FEE",
    "BASE_RESERVE",
    "FAULTS",
    "FAULT_LOST_RESPONSE",
    "FAULT_TIMEOUT_BEFORE_APPLY",
    "STROOPS_PER_UNIT",
    "TL_AUTHORIZED",
    "TL_AUTHORIZED_TO_MAINTAIN_LIABILITIES",
    "TL_CLAWBACK_ENABLED",
    "LocalHorizonClient",
    "LocalLedger",
    "ManualClock",
    "format_stroops",
    "to_stroops",
]

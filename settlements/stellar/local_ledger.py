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

Fault injection (:meth:`LocalLedger.inject_fault`): ``timeout_before_apply`` (the request never
reaches the network) and ``lost_response`` (applied, then the connection drops); both raise the
SDK's ``ConnectionError`` from :class:`LocalHorizonClient`.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from stellar_sdk import Asset, Keypair, Network
from stellar_sdk.client.base_sync_client import BaseSyncClient
from stellar_sdk.client.response import Response
from stellar_sdk.exceptions import BadSignatureError
from stellar_sdk.exceptions import ConnectionError as SdkConnectionError
from stellar_sdk.fee_bump_transaction_envelope import FeeBumpTransactionEnvelope
from stellar_sdk.operation import (
    AccountMerge,
    AllowTrust,
    BumpSequence,
    ChangeTrust,
    Clawback,
    CreateAccount,
    ManageData,
    Payment,
    SetOptions,
    SetTrustLineFlags,
)
from stellar_sdk.signer_key import SignerKeyType
from stellar_sdk.transaction_envelope import TransactionEnvelope

STROOPS_PER_UNIT = 10_000_000
BASE_FEE = 100
BASE_RESERVE = 5_000_000  # 0.5 XLM
MAX_INT64 = 2**63 - 1
MAX_SIGNERS = 20
PROTOCOL_VERSION = 22

# Account flags (AccountFlags in the XDR).
AUTH_REQUIRED = 1
AUTH_REVOCABLE = 2
AUTH_IMMUTABLE = 4
AUTH_CLAWBACK_ENABLED = 8
# Trustline flags (TrustLineFlags in the XDR).
TL_AUTHORIZED = 1
TL_AUTHORIZED_TO_MAINTAIN_LIABILITIES = 2
TL_CLAWBACK_ENABLED = 4

LOW, MED, HIGH = 1, 2, 3

FAULT_TIMEOUT_BEFORE_APPLY = "timeout_before_apply"
FAULT_LOST_RESPONSE = "lost_response"
FAULTS = frozenset({FAULT_TIMEOUT_BEFORE_APPLY, FAULT_LOST_RESPONSE})


def to_stroops(amount: str | Decimal) -> int:
    """``"12.5"`` -> ``125000000``; raises ``ValueError`` below one stroop."""
    value = Decimal(amount) * STROOPS_PER_UNIT
    if value != value.to_integral_value():
        raise ValueError(f"{amount} has more than 7 decimal places")
    return int(value)


def format_stroops(stroops: int) -> str:
    """Horizon's amount format: ``"12.5000000"``."""
    return f"{Decimal(stroops) / STROOPS_PER_UNIT:.7f}"


def asset_key(asset: Asset) -> str:
    return "native" if asset.is_native() else f"{asset.code}:{asset.issuer}"


class ManualClock:
    """A settable clock (unix seconds) to inject into :class:`LocalLedger` in tests."""

    def __init__(self, start: float | None = None) -> None:
        self.now = int(time.time() if start is None else start)

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: int) -> int:
        self.now += int(seconds)
        return self.now


@dataclass
class TrustLine:
    balance: int = 0
    limit: int = MAX_INT64
    flags: int = 0
    last_modified_ledger: int = 0


@dataclass
class AccountState:
    account_id: str
    balance: int
    sequence: int
    master_weight: int = 1
    low_threshold: int = 0
    med_threshold: int = 0
    high_threshold: int = 0
    flags: int = 0
    home_domain: str = ""
    signers: dict[str, int] = field(default_factory=dict)
    data: dict[str, bytes] = field(default_factory=dict)
    trustlines: dict[str, TrustLine] = field(default_factory=dict)
    last_modified_ledger: int = 0

    @property
    def subentries(self) -> int:
        return len(self.trustlines) + len(self.signers) + len(self.data)

    def min_balance(self, extra_subentries: int = 0) -> int:
        return (2 + self.subentries + extra_subentries) * BASE_RESERVE

    @property
    def available(self) -> int:
        return self.balance - self.min_balance()

    def threshold(self, level: int) -> int:
        return {LOW: self.low_threshold, MED: self.med_threshold, HIGH: self.high_threshold}[level]


class TxRejected(Exception):
    """Validation failure: the transaction is not included in a ledger."""

    def __init__(self, code: str, operations: list[str] | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.operations = operations


class OpFailed(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class _SignatureChecker:
    """Checks signer weights against one transaction hash, remembering used signatures."""

    def __init__(self, tx_hash: bytes, signatures) -> None:
        self.tx_hash = tx_hash
        self.signatures = list(signatures)
        self.used = [False] * len(self.signatures)

    def _weight_of(self, signers: list[tuple[str, int]]) -> int:
        total = 0
        for key, weight in signers:
            if weight <= 0:
                continue
            keypair = Keypair.from_public_key(key)
            hint = keypair.signature_hint()
            for index, sig in enumerate(self.signatures):
                if sig.signature_hint != hint:
                    continue
                try:
                    keypair.verify(self.tx_hash, sig.signature)
                except BadSignatureError:
                    continue
                self.used[index] = True
                total += weight
                break
        return total

    def check(self, account: AccountState | None, account_id: str, needed: int) -> bool:
        """stellar-core's rule: at least one valid signature and total weight >= threshold.
        An account that does not exist (yet) is checked against its own key with weight 1."""
        if account is None:
            signers = [(account_id, 1)]
        else:
            signers = [(account.account_id, account.master_weight), *account.signers.items()]
        total = self._weight_of(signers)
        return total > 0 and total >= needed

    @property
    def all_used(self) -> bool:
        return all(self.used)


def _op_threshold(op) -> int:
    if isinstance(op, (AllowTrust, SetTrustLineFlags, BumpSequence)):
        return LOW
    if isinstance(op, AccountMerge):
        return HIGH
    if isinstance(op, SetOptions) and (
        op.master_weight is not None
        or op.low_threshold is not None
        or op.med_threshold is not None
        or op.high_threshold is not None
        or op.signer is not None
    ):
        return HIGH
    return MED


def _flag_value(flag) -> int:
    return 0 if flag is None else int(flag)


_MEMO_TYPES = {
    "NoneMemo": "none",
    "TextMemo": "text",
    "IdMemo": "id",
    "HashMemo": "hash",
    "ReturnHashMemo": "return",
}


def _iso(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class LocalLedger:
    """The network's state and history. Thread-safe (one lock around every call).

    Args:
        network_passphrase: signatures are checked against the hash under this passphrase.
        clock: unix seconds "now", used for time bounds and ledger close times.
    """

    def __init__(
        self,
        network_passphrase: str = Network.TESTNET_NETWORK_PASSPHRASE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.network_passphrase = network_passphrase
        self.clock = clock
        self._lock = threading.RLock()
        self.accounts: dict[str, AccountState] = {}
        self.history: dict[str, dict[str, Any]] = {}
        self.history_order: list[str] = []
        self.ledger_sequence = 1
        self.ledger_closed_at = int(self.clock())
        self.ledger_tx_counts = (0, 0, 0)  # successful, failed, operations in the last ledger
        self._faults: deque[str] = deque()
        self.submissions = 0  # POST /transactions that reached the network

    # --- Helpers for tests and the demo -----------------------------------------------------

    def now(self) -> int:
        return int(self.clock())

    def close_ledger(self, successful: int = 0, failed: int = 0, operations: int = 0) -> int:
        with self._lock:
            self.ledger_sequence += 1
            self.ledger_closed_at = self.now()
            self.ledger_tx_counts = (successful, failed, operations)
            return self.ledger_sequence

    def fund(self, account_id: str, xlm: str | Decimal = "10000") -> dict[str, Any]:
        """Friendbot: create ``account_id`` with ``xlm`` lumens (or top it up), in a new ledger."""
        Keypair.from_public_key(account_id)  # validates the strkey
        with self._lock:
            stroops = to_stroops(xlm)
            self.close_ledger()
            account = self.accounts.get(account_id)
            if account is None:
                account = AccountState(
                    account_id=account_id, balance=stroops, sequence=self.ledger_sequence << 32
                )
                self.accounts[account_id] = account
            else:
                account.balance += stroops
            account.last_modified_ledger = self.ledger_sequence
            return self.account_json(account)

    def inject_fault(self, fault: str, times: int = 1) -> None:
        """Make the next ``times`` transaction submissions fail with ``fault``."""
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}")
        with self._lock:
            self._faults.extend([fault] * times)

    def next_fault(self) -> str | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    def balance(self, account_id: str, asset: Asset | None = None) -> Decimal:
        """Balance in units (``Decimal``); zero without a trustline or account."""
        with self._lock:
            account = self.accounts.get(account_id)
            if account is None:
                return Decimal(0)
            if asset is None or asset.is_native():
                return Decimal(account.balance) / STROOPS_PER_UNIT
            if asset.issuer == account_id:
                return Decimal(0)
            line = account.trustlines.get(asset_key(asset))
            return Decimal(line.balance if line else 0) / STROOPS_PER_UNIT

    # --- Horizon resources -----------------------------------------------------------------

    def account_json(self, account: AccountState) -> dict[str, Any]:
        balances = []
        for key, line in account.trustlines.items():
            code, issuer = key.split(":")
            balances.append(
                {
                    "balance": format_stroops(line.balance),
                    "limit": format_stroops(line.limit),
                    "buying_liabilities": "0.0000000",
                    "selling_liabilities": "0.0000000",
                    "last_modified_ledger": line.last_modified_ledger,
                    "is_authorized": bool(line.flags & TL_AUTHORIZED),
                    "is_authorized_to_maintain_liabilities": bool(
                        line.flags & (TL_AUTHORIZED | TL_AUTHORIZED_TO_MAINTAIN_LIABILITIES)
                    ),
                    "is_clawback_enabled": bool(line.flags & TL_CLAWBACK_ENABLED),
                    "asset_type": "credit_alphanum4" if len(code) <= 4 else "credit_alphanum12",
                    "asset_code": code,
                    "asset_issuer": issuer,
                }
            )
        balances.append(
            {
                "balance": format_stroops(account.balance),
                "buying_liabilities": "0.0000000",
                "selling_liabilities": "0.0000000",
                "asset_type": "native",
            }
        )
        signers = [
            {"weight": w, "key": k, "type": "ed25519_public_key"}
            for k, w in account.signers.items()
        ]
        signers.append(
            {
                "weight": account.master_weight,
                "key": account.account_id,
                "type": "ed25519_public_key",
            }
        )
        return {
            "_links": {"self": {"href": f"/accounts/{account.account_id}"}},
            "id": account.account_id,
            "account_id": account.account_id,
            "sequence": str(account.sequence),
            "subentry_count": account.subentries,
            "home_domain": account.home_domain or None,
            "last_modified_ledger": account.last_modified_ledger,
            "thresholds": {
                "low_threshold": account.low_threshold,
                "med_threshold": account.med_threshold,
                "high_threshold": account.high_threshold,
            },
            "flags": {
                "auth_required": bool(account.flags & AUTH_REQUIRED),
                "auth_revocable": bool(account.flags & AUTH_REVOCABLE),
                "auth_immutable": bool(account.flags & AUTH_IMMUTABLE),
                "auth_clawback_enabled": bool(account.flags & AUTH_CLAWBACK_ENABLED),
            },
            "balances": balances,
            "signers": signers,
            "data": {k: base64.b64encode(v).decode() for k, v in account.data.items()},
            "num_sponsoring": 0,
            "num_sponsored": 0,
            "paging_token": account.account_id,
        }

    def get_account(self, account_id: str) -> dict[str, Any] | None:
        with self._lock:
            account = self.accounts.get(account_id)
            return None if account is None else self.account_json(account)

    def holders(
        self, asset: str, *, cursor: str = "", limit: int = 10, order: str = "asc"
    ) -> list[dict[str, Any]]:
        """Accounts with a trustline to ``asset`` (``CODE:ISSUER``), paged by account id."""
        with self._lock:
            ids = sorted(a for a, s in self.accounts.items() if asset in s.trustlines)
            if order == "desc":
                ids = [a for a in reversed(ids) if not cursor or a < cursor]
            else:
                ids = [a for a in ids if not cursor or a > cursor]
            return [self.account_json(self.accounts[a]) for a in ids[:limit]]

    def transaction(self, tx_hash: str) -> dict[str, Any] | None:
        with self._lock:
            record = self.history.get(tx_hash)
            return None if record is None else dict(record["json"])

    def latest_ledger_json(self) -> dict[str, Any]:
        with self._lock:
            successful, failed, operations = self.ledger_tx_counts
            return {
                "id": hashlib.sha256(str(self.ledger_sequence).encode()).hexdigest(),
                "paging_token": str(self.ledger_sequence << 32),
                "hash": hashlib.sha256(f"ledger-{self.ledger_sequence}".encode()).hexdigest(),
                "sequence": self.ledger_sequence,
                "successful_transaction_count": successful,
                "failed_transaction_count": failed,
                "operation_count": operations,
                "tx_set_operation_count": operations,
                "closed_at": _iso(self.ledger_closed_at),
                "total_coins": "105443902087.3472865",
                "fee_pool": "0.0000000",
                "base_fee_in_stroops": BASE_FEE,
                "base_reserve_in_stroops": BASE_RESERVE,
                "max_tx_set_size": 1000,
                "protocol_version": PROTOCOL_VERSION,
            }

    def fee_stats_json(self) -> dict[str, Any]:
        percentiles = {
            k: str(BASE_FEE)
            for k in (
                "max",
                "min",
                "mode",
                "p10",
                "p20",
                "p30",
                "p40",
                "p50",
                "p60",
                "p70",
                "p80",
                "p90",
                "p95",
                "p99",
            )
        }
        return {
            "last_ledger": str(self.ledger_sequence),
            "last_ledger_base_fee": str(BASE_FEE),
            "ledger_capacity_usage": "0.01",
            "fee_charged": percentiles,
            "max_fee": dict(percentiles),
        }

    # --- Submission --------------------------------------------------------------------------

    def submit(self, envelope_xdr: str) -> tuple[int, dict[str, Any]]:
        """Validate and apply one envelope; returns (HTTP status, Horizon JSON)."""
        with self._lock:
            self.submissions += 1
            try:
                if FeeBumpTransactionEnvelope.is_fee_bump_transaction_envelope(envelope_xdr):
                    envelope = FeeBumpTransactionEnvelope.from_xdr(
                        envelope_xdr, self.network_passphrase
                    )
                else:
                    envelope = TransactionEnvelope.from_xdr(envelope_xdr, self.network_passphrase)
            except Exception:  # noqa: BLE001 - any decoding error is a malformed request
                return 400, _problem(
                    "transaction_malformed",
                    "Transaction Malformed",
                    "Horizon could not decode the transaction envelope.",
                    {"envelope_xdr": envelope_xdr},
                )
            tx_hash = envelope.hash_hex()
            previous = self.history.get(tx_hash)
            if previous is not None:
                return previous["response"]
            try:
                if isinstance(envelope, FeeBumpTransactionEnvelope):
                    inner = envelope.transaction.inner_transaction_envelope
                    plan = self._validate_fee_bump(envelope, inner)
                else:
                    inner = envelope
                    plan = self._validate(envelope, fee_source=None)
            except TxRejected as rejected:
                codes: dict[str, Any] = {"transaction": rejected.code}
                if rejected.operations is not None:
                    codes["operations"] = rejected.operations
                return 400, _tx_failed_problem(envelope_xdr, codes)
            return self._apply(envelope, inner, plan, envelope_xdr)

    def _validate(self, envelope: TransactionEnvelope, *, fee_source: str | None) -> dict[str, Any]:
        tx = envelope.transaction
        if not tx.operations:
            raise TxRejected("tx_missing_operation")
        now = self.now()
        bounds = tx.preconditions.time_bounds if tx.preconditions else None
        if bounds is not None:
            if bounds.min_time and now < bounds.min_time:
                raise TxRejected("tx_too_early")
            if bounds.max_time and now > bounds.max_time:
                raise TxRejected("tx_too_late")
        fee = BASE_FEE * len(tx.operations)
        if fee_source is None and tx.fee < fee:
            raise TxRejected("tx_insufficient_fee")
        source_id = tx.source.account_id
        source = self.accounts.get(source_id)
        if source is None:
            raise TxRejected("tx_no_source_account")
        if tx.sequence != source.sequence + 1:
            raise TxRejected("tx_bad_seq")
        checker = _SignatureChecker(envelope.hash(), envelope.signatures)
        if not checker.check(source, source_id, source.threshold(LOW)):
            raise TxRejected("tx_bad_auth")
        if fee_source is None and source.available < fee:
            raise TxRejected("tx_insufficient_balance")
        op_codes = []
        for op in tx.operations:
            op_source_id = op.source.account_id if op.source else source_id
            op_source = self.accounts.get(op_source_id)
            needed = op_source.threshold(_op_threshold(op)) if op_source else 0
            ok = checker.check(op_source, op_source_id, needed)
            op_codes.append("op_success" if ok else "op_bad_auth")
        if "op_bad_auth" in op_codes:
            raise TxRejected("tx_failed", op_codes)
        if not checker.all_used:
            raise TxRejected("tx_bad_auth_extra")
        return {"fee": fee, "fee_source": fee_source or source_id, "source": source_id}

    def _validate_fee_bump(
        self, envelope: FeeBumpTransactionEnvelope, inner: TransactionEnvelope
    ) -> dict[str, Any]:
        bump = envelope.transaction
        fee = BASE_FEE * (len(inner.transaction.operations) + 1)
        if bump.fee < fee:
            raise TxRejected("tx_insufficient_fee")
        fee_source_id = bump.fee_source.account_id
        fee_source = self.accounts.get(fee_source_id)
        if fee_source is None:
            raise TxRejected("tx_no_source_account")
        checker = _SignatureChecker(envelope.hash(), envelope.signatures)
        if not checker.check(fee_source, fee_source_id, fee_source.threshold(LOW)):
            raise TxRejected("tx_bad_auth")
        if not checker.all_used:
            raise TxRejected("tx_bad_auth_extra")
        if fee_source.available < fee:
            raise TxRejected("tx_insufficient_balance")
        try:
            plan = self._validate(inner, fee_source=fee_source_id)
        except TxRejected as rejected:
            raise TxRejected("tx_fee_bump_inner_failed", rejected.operations) from rejected
        plan["fee"] = fee
        return plan

    def _apply(
        self, envelope, inner: TransactionEnvelope, plan: dict[str, Any], envelope_xdr: str
    ) -> tuple[int, dict[str, Any]]:
        tx = inner.transaction
        self.ledger_sequence += 1
        self.ledger_closed_at = self.now()
        ledger = self.ledger_sequence
        fee_payer = self.accounts[plan["fee_source"]]
        fee_payer.balance -= plan["fee"]
        fee_payer.last_modified_ledger = ledger
        source = self.accounts[plan["source"]]
        source.sequence = tx.sequence
        source.last_modified_ledger = ledger

        before = copy.deepcopy(self.accounts)
        codes: list[str] = []
        failed = False
        for op in tx.operations:
            op_source_id = op.source.account_id if op.source else plan["source"]
            try:
                if failed:  # later operations are evaluated but never committed
                    scratch = copy.deepcopy(self.accounts)
                    self._apply_op(op, op_source_id, scratch, ledger)
                else:
                    self._apply_op(op, op_source_id, self.accounts, ledger)
                codes.append("op_success")
            except OpFailed as exc:
                codes.append(exc.code)
                failed = True
        if failed:
            self.accounts = before
        self.ledger_tx_counts = (0, 1, len(codes)) if failed else (1, 0, len(codes))

        tx_hash = envelope.hash_hex()
        record = self._tx_json(envelope, inner, envelope_xdr, ledger, plan, not failed)
        if failed:
            codes_json: dict[str, Any] = {"transaction": "tx_failed", "operations": codes}
            if isinstance(envelope, FeeBumpTransactionEnvelope):
                codes_json = {
                    "transaction": "tx_fee_bump_inner_failed",
                    "inner_transaction": "tx_failed",
                    "operations": codes,
                }
            response = (400, _tx_failed_problem(envelope_xdr, codes_json))
        else:
            response = (200, record)
        stored = {"json": record, "response": response, "result_codes": codes}
        self.history[tx_hash] = stored
        self.history_order.append(tx_hash)
        if isinstance(envelope, FeeBumpTransactionEnvelope):
            self.history.setdefault(inner.hash_hex(), stored)
        return response

    def _tx_json(
        self,
        envelope,
        inner: TransactionEnvelope,
        envelope_xdr: str,
        ledger: int,
        plan: dict[str, Any],
        successful: bool,
    ) -> dict[str, Any]:
        tx = inner.transaction
        tx_hash = envelope.hash_hex()
        bounds = tx.preconditions.time_bounds if tx.preconditions else None
        memo = tx.memo
        record: dict[str, Any] = {
            "_links": {"self": {"href": f"/transactions/{tx_hash}"}},
            "id": tx_hash,
            "paging_token": str((ledger << 32) + 1),
            "successful": successful,
            "hash": tx_hash,
            "ledger": ledger,
            "created_at": _iso(self.ledger_closed_at),
            "source_account": tx.source.account_id,
            "source_account_sequence": str(tx.sequence),
            "fee_account": plan["fee_source"],
            "fee_charged": str(plan["fee"]),
            "max_fee": str(envelope.transaction.fee),
            "operation_count": len(tx.operations),
            "envelope_xdr": envelope_xdr,
            "memo_type": _MEMO_TYPES.get(type(memo).__name__, "none"),
            "signatures": [base64.b64encode(s.signature).decode() for s in envelope.signatures],
            "valid_after": _iso(bounds.min_time) if bounds and bounds.min_time else None,
            "valid_before": _iso(bounds.max_time) if bounds and bounds.max_time else None,
        }
        if isinstance(envelope, FeeBumpTransactionEnvelope):
            record["fee_bump_transaction"] = {
                "hash": tx_hash,
                "signatures": record["signatures"],
            }
            record["inner_transaction"] = {
                "hash": inner.hash_hex(),
                "signatures": [base64.b64encode(s.signature).decode() for s in inner.signatures],
                "max_fee": str(tx.fee),
            }
        return record

    # --- Operations --------------------------------------------------------------------------

    def _apply_op(self, op, source_id: str, accounts: dict[str, AccountState], ledger: int) -> None:
        source = accounts.get(source_id)
        if source is None:
            raise OpFailed("op_no_source_account")
        source.last_modified_ledger = ledger
        if isinstance(op, Payment):
            self._payment(op, source, accounts, ledger)
        elif isinstance(op, CreateAccount):
            self._create_account(op, source, accounts, ledger)
        elif isinstance(op, ChangeTrust):
            self._change_trust(op, source, accounts, ledger)
        elif isinstance(op, SetOptions):
            self._set_options(op, source)
        elif isinstance(op, SetTrustLineFlags):
            self._set_trust_line_flags(
                source,
                op.trustor,
                op.asset,
                _flag_value(op.clear_flags),
                _flag_value(op.set_flags),
                accounts,
                ledger,
            )
        elif isinstance(op, AllowTrust):
            asset = Asset(op.asset_code, source_id)
            authorize = int(op.authorize)
            clear = (TL_AUTHORIZED | TL_AUTHORIZED_TO_MAINTAIN_LIABILITIES) & ~authorize
            self._set_trust_line_flags(
                source, op.trustor, asset, clear, authorize, accounts, ledger, allow_trust=True
            )
        elif isinstance(op, ManageData):
            self._manage_data(op, source)
        elif isinstance(op, Clawback):
            self._clawback(op, source, accounts, ledger)
        elif isinstance(op, AccountMerge):
            self._account_merge(op, source, accounts, ledger)
        elif isinstance(op, BumpSequence):
            if op.bump_to < 0:
                raise OpFailed("op_bad_seq")
            source.sequence = max(source.sequence, op.bump_to)
        else:
            raise OpFailed("op_not_supported")

    @staticmethod
    def _amount(value) -> int:
        try:
            stroops = to_stroops(value)
        except ValueError as exc:
            raise OpFailed("op_malformed") from exc
        if stroops <= 0:
            raise OpFailed("op_malformed")
        return stroops

    def _payment(self, op: Payment, source: AccountState, accounts, ledger: int) -> None:
        amount = self._amount(op.amount)
        destination = accounts.get(op.destination.account_id)
        if destination is None:
            raise OpFailed("op_no_destination")
        asset = op.asset
        if asset.is_native():
            if source.available < amount:
                raise OpFailed("op_underfunded")
            source.balance -= amount
            destination.balance += amount
            destination.last_modified_ledger = ledger
            return
        key = asset_key(asset)
        if asset.issuer not in accounts:
            raise OpFailed("op_no_issuer")
        source_line = None
        if source.account_id != asset.issuer:
            source_line = source.trustlines.get(key)
            if source_line is None:
                raise OpFailed("op_src_no_trust")
            if not source_line.flags & TL_AUTHORIZED:
                raise OpFailed("op_src_not_authorized")
            if source_line.balance < amount:
                raise OpFailed("op_underfunded")
        dest_line = None
        if destination.account_id != asset.issuer:
            dest_line = destination.trustlines.get(key)
            if dest_line is None:
                raise OpFailed("op_no_trust")
            if not dest_line.flags & TL_AUTHORIZED:
                raise OpFailed("op_not_authorized")
            if dest_line.balance + amount > dest_line.limit:
                raise OpFailed("op_line_full")
        if source_line is not None:
            source_line.balance -= amount
            source_line.last_modified_ledger = ledger
        if dest_line is not None:
            dest_line.balance += amount
            dest_line.last_modified_ledger = ledger
            destination.last_modified_ledger = ledger

    def _create_account(
        self, op: CreateAccount, source: AccountState, accounts, ledger: int
    ) -> None:
        try:
            starting = to_stroops(op.starting_balance)
        except ValueError as exc:
            raise OpFailed("op_malformed") from exc
        if starting < 0 or op.destination == source.account_id:
            raise OpFailed("op_malformed")
        if op.destination in accounts:
            raise OpFailed("op_already_exists")
        if starting < 2 * BASE_RESERVE:
            raise OpFailed("op_low_reserve")
        if source.available < starting:
            raise OpFailed("op_underfunded")
        source.balance -= starting
        accounts[op.destination] = AccountState(
            account_id=op.destination,
            balance=starting,
            sequence=ledger << 32,
            last_modified_ledger=ledger,
        )

    def _change_trust(self, op: ChangeTrust, source: AccountState, accounts, ledger: int) -> None:
        asset = op.asset
        if not isinstance(asset, Asset) or asset.is_native():
            raise OpFailed("op_malformed")
        if asset.issuer == source.account_id:
            raise OpFailed("op_malformed")
        try:
            limit = to_stroops(op.limit)
        except ValueError as exc:
            raise OpFailed("op_malformed") from exc
        key = asset_key(asset)
        line = source.trustlines.get(key)
        if line is not None:
            if limit == 0:
                if line.balance:
                    raise OpFailed("op_invalid_limit")
                del source.trustlines[key]
                return
            if limit < line.balance:
                raise OpFailed("op_invalid_limit")
            line.limit = limit
            line.last_modified_ledger = ledger
            return
        if limit == 0:
            raise OpFailed("op_invalid_limit")
        issuer = accounts.get(asset.issuer)
        if issuer is None:
            raise OpFailed("op_no_issuer")
        if source.balance < source.min_balance(extra_subentries=1):
            raise OpFailed("op_low_reserve")
        flags = 0 if issuer.flags & AUTH_REQUIRED else TL_AUTHORIZED
        if issuer.flags & AUTH_CLAWBACK_ENABLED:
            flags |= TL_CLAWBACK_ENABLED
        source.trustlines[key] = TrustLine(limit=limit, flags=flags, last_modified_ledger=ledger)

    def _set_options(self, op: SetOptions, account: AccountState) -> None:
        set_flags, clear_flags = _flag_value(op.set_flags), _flag_value(op.clear_flags)
        known = AUTH_REQUIRED | AUTH_REVOCABLE | AUTH_IMMUTABLE | AUTH_CLAWBACK_ENABLED
        if (set_flags | clear_flags) & ~known:
            raise OpFailed("op_unknown_flag")
        if set_flags & clear_flags:
            raise OpFailed("op_bad_flags")
        if (set_flags or clear_flags) and account.flags & AUTH_IMMUTABLE:
            raise OpFailed("op_cant_change")
        flags = (account.flags | set_flags) & ~clear_flags
        if flags & AUTH_CLAWBACK_ENABLED and not flags & AUTH_REVOCABLE:
            raise OpFailed("op_auth_revocable_required")
        for value in (op.master_weight, op.low_threshold, op.med_threshold, op.high_threshold):
            if value is not None and not 0 <= value <= 255:
                raise OpFailed("op_threshold_out_of_range")
        if op.home_domain is not None and len(op.home_domain) > 32:
            raise OpFailed("op_invalid_home_domain")
        signer_key = signer_weight = None
        if op.signer is not None:
            if op.signer.signer_key.signer_key_type != SignerKeyType.SIGNER_KEY_TYPE_ED25519:
                raise OpFailed("op_bad_signer")
            signer_key = op.signer.signer_key.encoded_signer_key
            signer_weight = op.signer.weight
            if signer_key == account.account_id or not 0 <= signer_weight <= 255:
                raise OpFailed("op_bad_signer")
            if signer_weight and signer_key not in account.signers:
                if len(account.signers) >= MAX_SIGNERS:
                    raise OpFailed("op_too_many_signers")
                if account.balance < account.min_balance(extra_subentries=1):
                    raise OpFailed("op_low_reserve")
        account.flags = flags
        if op.master_weight is not None:
            account.master_weight = op.master_weight
        if op.low_threshold is not None:
            account.low_threshold = op.low_threshold
        if op.med_threshold is not None:
            account.med_threshold = op.med_threshold
        if op.high_threshold is not None:
            account.high_threshold = op.high_threshold
        if op.home_domain is not None:
            account.home_domain = op.home_domain
        if signer_key is not None:
            if signer_weight:
                account.signers[signer_key] = signer_weight
            else:
                account.signers.pop(signer_key, None)

    def _set_trust_line_flags(
        self,
        issuer: AccountState,
        trustor_id: str,
        asset: Asset,
        clear: int,
        set_: int,
        accounts,
        ledger: int,
        *,
        allow_trust: bool = False,
    ) -> None:
        if asset.is_native() or asset.issuer != issuer.account_id:
            raise OpFailed("op_malformed")
        if trustor_id == issuer.account_id:
            raise OpFailed("op_self_not_allowed" if allow_trust else "op_malformed")
        if set_ & TL_CLAWBACK_ENABLED or (set_ & clear):
            raise OpFailed("op_malformed")
        if allow_trust and not issuer.flags & AUTH_REQUIRED:
            raise OpFailed("op_trust_not_required")
        trustor = accounts.get(trustor_id)
        line = trustor.trustlines.get(asset_key(asset)) if trustor else None
        if line is None:
            raise OpFailed("op_no_trust_line")
        auth_bits = TL_AUTHORIZED | TL_AUTHORIZED_TO_MAINTAIN_LIABILITIES
        new_flags = (line.flags & ~clear) | set_
        if (new_flags & auth_bits) == auth_bits:
            raise OpFailed("op_invalid_state")
        revoking = (line.flags & TL_AUTHORIZED and not new_flags & TL_AUTHORIZED) or (
            line.flags & auth_bits and not new_flags & auth_bits
        )
        if revoking and not issuer.flags & AUTH_REVOCABLE:
            raise OpFailed("op_cant_revoke")
        line.flags = new_flags
        line.last_modified_ledger = ledger

    def _manage_data(self, op: ManageData, account: AccountState) -> None:
        name = op.data_name
        if not 1 <= len(name) <= 64:
            raise OpFailed("op_invalid_name")
        if op.data_value is None:
            if name not in account.data:
                raise OpFailed("op_data_name_not_found")
            del account.data[name]
            return
        if name not in account.data and account.balance < account.min_balance(1):
            raise OpFailed("op_low_reserve")
        account.data[name] = bytes(op.data_value)

    def _clawback(self, op: Clawback, issuer: AccountState, accounts, ledger: int) -> None:
        amount = self._amount(op.amount)
        asset = op.asset
        holder_id = op.from_.account_id
        if asset.is_native() or asset.issuer != issuer.account_id or holder_id == asset.issuer:
            raise OpFailed("op_malformed")
        holder = accounts.get(holder_id)
        line = holder.trustlines.get(asset_key(asset)) if holder else None
        if line is None:
            raise OpFailed("op_no_trust")
        if not line.flags & TL_CLAWBACK_ENABLED:
            raise OpFailed("op_not_clawback_enabled")
        if line.balance < amount:
            raise OpFailed("op_underfunded")
        line.balance -= amount
        line.last_modified_ledger = ledger

    def _account_merge(self, op: AccountMerge, source: AccountState, accounts, ledger: int) -> None:
        destination = accounts.get(op.destination.account_id)
        if op.destination.account_id == source.account_id:
            raise OpFailed("op_malformed")
        if destination is None:
            raise OpFailed("op_no_account")
        if source.flags & AUTH_IMMUTABLE:
            raise OpFailed("op_immutable_set")
        if source.subentries:
            raise OpFailed("op_has_sub_entries")
        destination.balance += source.balance
        destination.last_modified_ledger = ledger
        del accounts[source.account_id]


def _problem(
    kind: str, title: str, detail: str, extras: dict[str, Any] | None = None, status: int = 400
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"https://stellar.org/horizon-errors/{kind}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if extras is not None:
        body["extras"] = extras
    return body


def _tx_failed_problem(envelope_xdr: str, result_codes: dict[str, Any]) -> dict[str, Any]:
    return _problem(
        "transaction_failed",
        "Transaction Failed",
        "The transaction failed when submitted to the stellar network. The `extras.result_codes`"
        " field on this response contains further details.",
        {"envelope_xdr": envelope_xdr, "result_codes": result_codes},
    )


_NOT_FOUND = _problem(
    "not_found", "Resource Missing", "The resource at the url requested was not found.", status=404
)
_ACCOUNT_RE = re.compile(r"/accounts/(G[A-Z2-7]{55})/?$")
_TX_RE = re.compile(r"/transactions/([0-9a-fA-F]{64})/?$")


class LocalHorizonClient(BaseSyncClient):
    """The SDK's synchronous HTTP client interface, answered by a :class:`LocalLedger`."""

    def __init__(self, ledger: LocalLedger) -> None:
        self.ledger = ledger

    @staticmethod
    def _response(status: int, body: dict[str, Any], url: str) -> Response:
        content_type = "application/hal+json" if status < 400 else "application/problem+json"
        return Response(
            status_code=status,
            text=json.dumps(body),
            headers={"Content-Type": f"{content_type}; charset=utf-8"},
            url=url,
        )

    def get(
        self, url: str, params: dict[str, str] | None = None, max_content_size: int | None = None
    ) -> Response:
        parts = urlsplit(url)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        query.update({k: str(v) for k, v in (params or {}).items()})
        path = parts.path.rstrip("/") or "/"
        status, body = self._route_get(path, query, url)
        return self._response(status, body, url)

    def _route_get(self, path: str, query: dict[str, str], url: str) -> tuple[int, dict[str, Any]]:
        ledger = self.ledger
        if match := _ACCOUNT_RE.search(path):
            account = ledger.get_account(match.group(1))
            return (200, account) if account is not None else (404, _NOT_FOUND)
        if match := _TX_RE.search(path):
            record = ledger.transaction(match.group(1).lower())
            return (200, record) if record is not None else (404, _NOT_FOUND)
        if path.endswith("/accounts"):
            if "asset" not in query:
                return 400, _problem(
                    "bad_request",
                    "Bad Request",
                    "One of the filters asset, signer, sponsor is required.",
                )
            limit = min(int(query.get("limit", 10)), 200)
            order = query.get("order", "asc")
            records = ledger.holders(
                query["asset"], cursor=query.get("cursor", ""), limit=limit, order=order
            )
            base = url.split("?")[0]
            next_cursor = records[-1]["paging_token"] if records else query.get("cursor", "")
            next_query = urlencode(
                {"asset": query["asset"], "cursor": next_cursor, "limit": limit, "order": order}
            )
            return 200, {
                "_links": {"self": {"href": url}, "next": {"href": f"{base}?{next_query}"}},
                "_embedded": {"records": records},
            }
        if path.endswith("/fee_stats"):
            return 200, ledger.fee_stats_json()
        if path.endswith("/ledgers"):
            return 200, {
                "_links": {"self": {"href": url}},
                "_embedded": {"records": [ledger.latest_ledger_json()]},
            }
        if path == "/":
            return 200, {
                "horizon_version": "local",
                "core_version": "local",
                "history_latest_ledger": ledger.ledger_sequence,
                "network_passphrase": ledger.network_passphrase,
                "current_protocol_version": PROTOCOL_VERSION,
            }
        return 404, _NOT_FOUND

    def post(
        self, url: str, data: dict[str, str] | None = None, json_data: dict[str, Any] | None = None
    ) -> Response:
        path = urlsplit(url).path.rstrip("/")
        if not path.endswith("/transactions"):
            return self._response(404, _NOT_FOUND, url)
        envelope_xdr = (data or json_data or {}).get("tx", "")
        fault = self.ledger.next_fault()
        if fault == FAULT_TIMEOUT_BEFORE_APPLY:
            raise SdkConnectionError("local ledger: timed out before the request was sent")
        status, body = self.ledger.submit(envelope_xdr)
        if fault == FAULT_LOST_RESPONSE:
            raise SdkConnectionError("local ledger: connection lost after submission")
        return self._response(status, body, url)

    def stream(
        self, url: str, params: dict[str, str] | None = None
    ) -> Generator[dict[str, Any], None, None]:
        """A finite event stream: the current state of the resource, once."""
        response = self.get(url, params)
        if response.status_code == 200:
            yield response.json()

    def close(self) -> None:
        return None

"""The local network's ledger: validation, atomic application, history, Horizon JSON."""

from __future__ import annotations

import base64
import copy
import hashlib
import threading
import time
from collections import deque
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from stellar_sdk import Asset, Keypair, Network
from stellar_sdk.fee_bump_transaction_envelope import FeeBumpTransactionEnvelope
from stellar_sdk.transaction_envelope import TransactionEnvelope

from settlements.stellar.protocol import (
    AUTH_CLAWBACK_ENABLED,
    AUTH_IMMUTABLE,
    AUTH_REQUIRED,
    AUTH_REVOCABLE,
    BASE_FEE,
    BASE_RESERVE,
    PROTOCOL_VERSION,
    STROOPS_PER_UNIT,
    TL_AUTHORIZED,
    TL_AUTHORIZED_TO_MAINTAIN_LIABILITIES,
    TL_CLAWBACK_ENABLED,
    format_stroops,
    to_stroops,
)

from .operations import OperationsMixin
from .problems import problem, tx_failed_problem
from .state import (
    FAULTS,
    LOW,
    MEMO_TYPES,
    AccountState,
    OpFailed,
    SignatureChecker,
    TxRejected,
    asset_key,
    iso_time,
    op_threshold,
)


class LocalLedger(OperationsMixin):
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
                "closed_at": iso_time(self.ledger_closed_at),
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
                return 400, problem(
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
                return 400, tx_failed_problem(envelope_xdr, codes)
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
        checker = SignatureChecker(envelope.hash(), envelope.signatures)
        if not checker.check(source, source_id, source.threshold(LOW)):
            raise TxRejected("tx_bad_auth")
        if fee_source is None and source.available < fee:
            raise TxRejected("tx_insufficient_balance")
        op_codes = []
        for op in tx.operations:
            op_source_id = op.source.account_id if op.source else source_id
            op_source = self.accounts.get(op_source_id)
            needed = op_source.threshold(op_threshold(op)) if op_source else 0
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
        checker = SignatureChecker(envelope.hash(), envelope.signatures)
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
            response = (400, tx_failed_problem(envelope_xdr, codes_json))
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
            "created_at": iso_time(self.ledger_closed_at),
            "source_account": tx.source.account_id,
            "source_account_sequence": str(tx.sequence),
            "fee_account": plan["fee_source"],
            "fee_charged": str(plan["fee"]),
            "max_fee": str(envelope.transaction.fee),
            "operation_count": len(tx.operations),
            "envelope_xdr": envelope_xdr,
            "memo_type": MEMO_TYPES.get(type(memo).__name__, "none"),
            "signatures": [base64.b64encode(s.signature).decode() for s in envelope.signatures],
            "valid_after": iso_time(bounds.min_time) if bounds and bounds.min_time else None,
            "valid_before": iso_time(bounds.max_time) if bounds and bounds.max_time else None,
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

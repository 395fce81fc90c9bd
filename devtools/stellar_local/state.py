"""State of the local network: units, flags, accounts and trustlines, signature weights."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field

from stellar_sdk import Asset, Keypair
from stellar_sdk.exceptions import BadSignatureError
from stellar_sdk.operation import (
    AccountMerge,
    AllowTrust,
    BumpSequence,
    SetOptions,
    SetTrustLineFlags,
)

from settlements.stellar.protocol import (
    BASE_RESERVE,
)

MAX_INT64 = 2**63 - 1
LOW, MED, HIGH = 1, 2, 3

FAULT_TIMEOUT_BEFORE_APPLY = "timeout_before_apply"
FAULT_LOST_RESPONSE = "lost_response"
FAULTS = frozenset({FAULT_TIMEOUT_BEFORE_APPLY, FAULT_LOST_RESPONSE})


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


class SignatureChecker:
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


def op_threshold(op) -> int:
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


def flag_value(flag) -> int:
    return 0 if flag is None else int(flag)


MEMO_TYPES = {
    "NoneMemo": "none",
    "TextMemo": "text",
    "IdMemo": "id",
    "HashMemo": "hash",
    "ReturnHashMemo": "return",
}


def iso_time(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

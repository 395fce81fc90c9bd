"""Horizon result codes and what the submission does about each (:data:`TX_CODE_HANDLING`,
:data:`OP_CODE_HANDLING`, :func:`handling_for`); :class:`ChainRetryLater`, the signal to run
the task again later."""

from __future__ import annotations

import enum

from ..gateway import SubmissionRejected


class Handling(enum.StrEnum):
    RETRY = "RETRY"  # transient: try the same envelope later
    LOOKUP = "LOOKUP"  # outcome unknown: look the hash up, resend while open
    REBUILD = "REBUILD"  # cannot land any more: new sequence, new envelope
    RAISE_FEE = "RAISE_FEE"  # rebuild with a higher fee per operation
    ALERT = "ALERT"  # stop (FAILED) and raise a compliance alert


TX_CODE_HANDLING: dict[str, Handling] = {
    "tx_too_early": Handling.RETRY,
    "tx_too_late": Handling.REBUILD,
    "tx_bad_seq": Handling.REBUILD,
    "tx_insufficient_fee": Handling.RAISE_FEE,
    "tx_internal_error": Handling.LOOKUP,
    "tx_bad_auth": Handling.ALERT,
    "tx_bad_auth_extra": Handling.ALERT,
    "tx_no_source_account": Handling.ALERT,
    "tx_insufficient_balance": Handling.ALERT,
    "tx_missing_operation": Handling.ALERT,
    "tx_malformed": Handling.ALERT,
    "transaction_malformed": Handling.ALERT,
    "tx_not_supported": Handling.ALERT,
    "tx_bad_sponsorship": Handling.ALERT,
    "tx_bad_min_seq_age_or_gap": Handling.REBUILD,
    # tx_failed / tx_fee_bump_inner_failed: decided by the operation codes below.
}

#: Operation failures all stop: each one means the platform's accounts, an investor's
#: trustline or the platform's own data disagree with what PayMint expected.
OP_CODE_HANDLING: dict[str, Handling] = {
    code: Handling.ALERT
    for code in (
        "op_bad_auth",
        "op_underfunded",
        "op_low_reserve",
        "op_no_trust",
        "op_not_authorized",
        "op_line_full",
        "op_no_destination",
        "op_src_no_trust",
        "op_src_not_authorized",
        "op_no_issuer",
        "op_no_trust_line",
        "op_not_clawback_enabled",
        "op_cant_revoke",
        "op_already_exists",
        "op_malformed",
        "op_no_source_account",
        "op_invalid_limit",
        "op_invalid_state",
        "op_too_many_signers",
        "op_data_name_not_found",
    )
}


class ChainRetryLater(Exception):
    """The task should run again later (``countdown`` seconds)."""

    def __init__(self, reason: str, countdown: int = 30) -> None:
        super().__init__(reason)
        self.countdown = countdown


def handling_for(rejection: SubmissionRejected) -> Handling:
    code = rejection.transaction_code
    if code in ("tx_failed", "tx_fee_bump_inner_failed"):
        failing = [c for c in rejection.operation_codes if c != "op_success"]
        if not failing:
            return Handling.ALERT
        return max(
            (OP_CODE_HANDLING.get(c, Handling.ALERT) for c in failing),
            key=lambda h: h == Handling.ALERT,
        )
    return TX_CODE_HANDLING.get(code, Handling.ALERT)

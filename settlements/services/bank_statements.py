"""Bank statements ops upload: a camt.054 debit notification settles payout items.

Each transaction of the file becomes the bank event a webhook would have sent
(``withdrawal.paid``, or ``withdrawal.returned`` when it carries return information: the
failure of a payout still open, or the return of one already paid) and goes through the same
:func:`~settlements.services.bank.bank_event_apply`: the same postings, the same
notifications, each applied once (the event id is ``camt054:<MsgId>:<EndToEndId>``, so an
uploaded file applied twice changes nothing the second time).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from compliance.public import audit_record
from paymint.core.errors import ApplicationError, ValidationFailed
from paymint.core.permissions import require_staff

from ..bankfiles import InvalidBankStatement, camt054_parse
from ..enums import BankEventType, EntryKind
from ..error_codes import SettlementsError
from .bank import DuplicateEvent, bank_event_apply
from .payouts import PERMISSION_SETTLE

#: Largest statement accepted (bytes).
MAX_STATEMENT_BYTES = 5 * 1024 * 1024


@dataclass
class StatementOutcome:
    """What an upload did: end-to-end ids applied (paid, failed, returned after payment),
    already applied before, and refused (``[(end-to-end id, code, message)]``, e.g. an
    unknown reference)."""

    message_id: str
    paid: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    returned: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    refused: list[tuple[str, str, str]] = field(default_factory=list)


def bank_statement_apply(*, data: bytes, actor, file_name: str = "") -> StatementOutcome:
    """Apply every booked transaction of the camt.054 ``data`` (see the module docstring).
    Each line is its own transaction: a refused line (unknown end-to-end id, amount
    mismatch, already final) is reported and the others are applied.

    Raises:
        PermissionDenied: the actor lacks ``settlements.settle_payoutbatch``.
        ValidationFailed: ``INVALID_BANK_STATEMENT`` (too large, not a camt.054).
    """
    require_staff(actor, "Only finance staff can upload bank statements.",
                  permission=PERMISSION_SETTLE)
    if len(data) > MAX_STATEMENT_BYTES:
        raise ValidationFailed("The statement is too large.",
                               code=SettlementsError.INVALID_BANK_STATEMENT,
                               fields={"file": ["Too large."]})
    try:
        statement = camt054_parse(data)
    except InvalidBankStatement as exc:
        raise ValidationFailed(f"This is not a camt.054 statement PayMint can read: {exc}.",
                               code=SettlementsError.INVALID_BANK_STATEMENT,
                               fields={"file": [str(exc)]}) from None
    outcome = StatementOutcome(message_id=statement.message_id)
    for line in statement.lines:
        event_type = (BankEventType.WITHDRAWAL_PAID if line.paid
                      else BankEventType.WITHDRAWAL_RETURNED)
        payload = {
            "id": f"camt054:{statement.message_id}:{line.end_to_end_id}"[:100],
            "type": event_type.value,
            "source": "camt.054",
            "data": {"reference": line.end_to_end_id, "amount": f"{line.amount:f}",
                     "currency": line.currency,
                     "reason": f"returned by the bank ({line.reason})" if not line.paid
                     else ""},
        }
        try:
            event = bank_event_apply(payload=payload)
        except DuplicateEvent:
            outcome.duplicates.append(line.end_to_end_id)
            continue
        except ApplicationError as exc:
            outcome.refused.append((line.end_to_end_id, str(exc.code), exc.message))
            continue
        if line.paid:
            outcome.paid.append(line.end_to_end_id)
        elif event.entry.kind == EntryKind.WITHDRAWAL_RETURNED:
            outcome.returned.append(line.end_to_end_id)
        else:
            outcome.failed.append(line.end_to_end_id)
    audit_record(action="bank_statement.upload", actor=actor, kind="create",
                 changes={"file": file_name[:200], "message_id": statement.message_id,
                          "paid": outcome.paid, "failed": outcome.failed,
                          "returned": outcome.returned,
                          "duplicates": outcome.duplicates,
                          "refused": [list(r) for r in outcome.refused]})
    return outcome

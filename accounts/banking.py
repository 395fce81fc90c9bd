"""Payout bank accounts: IBAN validation (python-stdnum) and the masked form shown on screens."""

from __future__ import annotations

from stdnum import iban as stdnum_iban
from stdnum.exceptions import ValidationError as StdnumValidationError

from paymint.core.errors import ValidationFailed

from .error_codes import AccountsError


def iban_validate(value: str) -> str:
    """``value`` as a compact, upper-case IBAN (``DE89370400440532013000``); ``""`` for blank.

    Checks the country's length and format and the mod-97 check digits.

    Raises:
        ValidationFailed: ``INVALID_IBAN`` on the ``bank_account_iban`` field.
    """
    if not (value or "").strip():
        return ""
    try:
        return stdnum_iban.validate(value)
    except StdnumValidationError:
        message = "This is not a valid IBAN (check the country code, length and check digits)."
        raise ValidationFailed(
            message, code=AccountsError.INVALID_IBAN, fields={"bank_account_iban": [message]}
        ) from None


def iban_mask(value: str) -> str:
    """Country, check digits and the last four characters: ``DE89 **** 3000``; ``""`` when
    there is no account. Short values show only their first two characters."""
    compact = stdnum_iban.compact(value or "")
    if not compact:
        return ""
    if len(compact) <= 8:
        return f"{compact[:2]}** ****"
    return f"{compact[:4]} **** {compact[-4:]}"

"""Bank files of the payouts, pure (no database): the payee's account check, the payment
instruction PayMint sends (ISO 20022 pain.001 for SEPA, a CSV for other currencies) and the
debit notification the bank sends back (ISO 20022 camt.054).

- :func:`payee_account_check` validates an IBAN and BIC with schwifty (check digits, country
  length, the BIC derived from the bank code when the user gave none). It is also the place
  for a payee-name check (Verification/Confirmation of Payee): :func:`payee_name_check`
  accepts every name today.
- :func:`pain001_build`: ``pain.001.001.03`` built with sepaxml, one payment information block
  (``BtchBookg`` true), checked against the official XSD before it is returned.
- :func:`bank_csv_build`: the CSV for non-SEPA currencies; its columns are
  :data:`BANK_CSV_COLUMNS` (README, "Payouts").
- :func:`camt054_parse` reads a ``camt.054`` (versions 02 to 08: the namespace is ignored)
  into :class:`StatementLine` rows: one per transaction with its ``EndToEndId``; a
  transaction with return information (``RtrInf``) is a failed payout with its reason code.
- :func:`camt054_build` writes such a file: the local stand-in for the bank in tests and the
  demo.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from xml.etree import ElementTree as ET

from defusedxml import ElementTree as SafeET
from schwifty import BIC, IBAN
from sepaxml import SepaTransfer

from paymint.core.money import to_minor

#: The pain.001 version PayMint sends (accepted by every SEPA bank).
PAIN_001_SCHEMA = "pain.001.001.03"
#: Columns of the CSV bank file (other currencies), in order.
BANK_CSV_COLUMNS = ("end_to_end_id", "creditor_name", "creditor_iban", "creditor_bic",
                    "amount", "currency", "remittance_information", "execution_date",
                    "batch_reference")


class InvalidPayeeAccount(ValueError):
    """The payee's IBAN or BIC is not valid (the message says why)."""


class InvalidBankStatement(ValueError):
    """The uploaded file is not a camt.054 PayMint can read (the message says why)."""


@dataclass(frozen=True, slots=True)
class PayeeAccount:
    """A checked payee account: compact upper-case IBAN, BIC (8 or 11 characters, may be
    ``""`` when it cannot be derived: SEPA needs none), account holder's name."""

    iban: str
    bic: str
    name: str


@dataclass(frozen=True, slots=True)
class BankFileItem:
    """One credit transfer: ``amount`` in ``currency`` units (rounded to its minor unit)."""

    end_to_end_id: str
    amount: Decimal
    currency: str
    creditor_name: str
    creditor_iban: str
    creditor_bic: str
    remittance: str


@dataclass(frozen=True, slots=True)
class StatementLine:
    """One transaction of a camt.054: ``paid`` False when the bank returned it
    (``reason``: the ISO return reason code, e.g. ``AC04`` closed account)."""

    end_to_end_id: str
    amount: Decimal
    currency: str
    paid: bool
    reason: str = ""


@dataclass(frozen=True, slots=True)
class BankStatement:
    message_id: str
    lines: tuple[StatementLine, ...]


def payee_name_check(account: PayeeAccount) -> None:
    """The place for a payee-name check (Verification of Payee): raise
    :class:`InvalidPayeeAccount` when the bank says the name does not match the account.
    Out of scope today (issue #13): every name is accepted."""


def payee_account_check(*, iban: str, bic: str = "", name: str) -> PayeeAccount:
    """Validate a payee account with schwifty; derive the BIC from the IBAN's bank code when
    none is given and the registry knows it.

    Raises:
        InvalidPayeeAccount: no IBAN, a bad IBAN (checksum, length, country) or a bad BIC.
    """
    if not (iban or "").strip():
        raise InvalidPayeeAccount("no payout IBAN on the profile")
    try:
        parsed = IBAN(iban)
    except ValueError as exc:
        raise InvalidPayeeAccount(f"invalid IBAN: {exc}") from None
    if bic:
        try:
            checked_bic = str(BIC(bic))
        except ValueError as exc:
            raise InvalidPayeeAccount(f"invalid BIC: {exc}") from None
    else:
        derived = parsed.bic
        checked_bic = str(derived) if derived is not None else ""
    account = PayeeAccount(iban=parsed.compact, bic=checked_bic, name=name.strip()[:70])
    payee_name_check(account)
    return account


class _PayMintTransfer(SepaTransfer):
    """sepaxml's transfer with PayMint's message id (the batch reference) in the header."""

    def __init__(self, config: dict, *, message_id: str) -> None:
        self._message_id = message_id
        super().__init__(config, schema=PAIN_001_SCHEMA)

    def _create_header(self) -> None:
        self.msg_id = self._message_id
        super()._create_header()


def pain001_build(
    *,
    message_id: str,
    originator: dict,
    execution_date: dt.date,
    items: Sequence[BankFileItem],
) -> bytes:
    """A SEPA credit transfer initiation (``pain.001.001.03``, UTF-8 XML) paying ``items``
    (all EUR) from ``originator`` (``{"name", "IBAN", "BIC"}``), validated against the XSD.
    ``NbOfTxs`` is ``len(items)`` and ``CtrlSum`` their sum.

    Raises:
        ValueError: an item is not in EUR; ``sepaxml.validation.ValidationError`` when the
            document does not validate (a value the schema refuses).
    """
    transfer = _PayMintTransfer(
        {"name": originator["name"], "IBAN": originator["IBAN"], "BIC": originator["BIC"],
         "batch": True, "currency": "EUR"},
        message_id=message_id,
    )
    for item in items:
        if item.currency != "EUR":
            raise ValueError(f"pain.001 (SEPA) pays EUR only, not {item.currency}")
        payment = {
            "name": item.creditor_name,
            "IBAN": item.creditor_iban,
            "amount": to_minor(item.amount, "EUR"),
            "execution_date": execution_date,
            "description": item.remittance[:140],
            "endtoend_id": item.end_to_end_id,
        }
        if item.creditor_bic:
            payment["BIC"] = item.creditor_bic
        transfer.add_payment(payment)
    return transfer.export(validate=True)


def bank_csv_build(*, batch_reference: str, execution_date: dt.date,
                   items: Sequence[BankFileItem]) -> bytes:
    """The CSV bank file (UTF-8, comma-separated, a header row of :data:`BANK_CSV_COLUMNS`,
    amounts with the currency's decimals and a dot)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(BANK_CSV_COLUMNS)
    for item in items:
        writer.writerow([item.end_to_end_id, item.creditor_name, item.creditor_iban,
                         item.creditor_bic, f"{item.amount:f}", item.currency,
                         item.remittance[:140], execution_date.isoformat(), batch_reference])
    return out.getvalue().encode()


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(element, name: str):
    for child in element:
        if _local(child.tag) == name:
            return child
    return None


def _path(element, *names: str):
    for name in names:
        if element is None:
            return None
        element = _child(element, name)
    return element


def _all(element, name: str) -> list:
    return [e for e in element.iter() if _local(e.tag) == name]


def camt054_parse(data: bytes) -> BankStatement:
    """Read a camt.054 debit notification: for every ``Ntry`` of every ``Ntfctn``, each
    ``NtryDtls/TxDtls`` with its ``Refs/EndToEndId``, its amount (``AmtDtls/TxAmt/Amt`` or
    the entry's ``Amt`` when the entry has one transaction) and ``RtrInf/Rsn/Cd`` when
    returned. Entries that are not booked (``Sts`` other than ``BOOK``) are skipped.

    Raises:
        InvalidBankStatement: not XML, not a camt.054, a transaction without an end-to-end
            id or an amount.
    """
    try:
        root = SafeET.fromstring(data)
    except (ET.ParseError, ValueError) as exc:
        raise InvalidBankStatement(f"not an XML file: {exc}") from None
    notification = _child(root, "BkToCstmrDbtCdtNtfctn")
    if _local(root.tag) != "Document" or notification is None:
        raise InvalidBankStatement("not a camt.054 (BkToCstmrDbtCdtNtfctn) document")
    header_id = _path(notification, "GrpHdr", "MsgId")
    message_id = (header_id.text or "").strip() if header_id is not None else ""
    if not message_id:
        raise InvalidBankStatement("the statement has no GrpHdr/MsgId")
    lines = []
    for entry in _all(notification, "Ntry"):
        status = _child(entry, "Sts")
        if status is not None:
            code = _child(status, "Cd")  # camt.054.001.08 nests the code
            if ((code if code is not None else status).text or "").strip() != "BOOK":
                continue
        transactions = _all(entry, "TxDtls")
        for tx in transactions:
            e2e = _path(tx, "Refs", "EndToEndId")
            # (ElementTree elements without children are falsy: compare with None.)
            amount_node = _path(tx, "AmtDtls", "TxAmt", "Amt")
            if amount_node is None:
                amount_node = _child(tx, "Amt")
            if amount_node is None and len(transactions) == 1:
                amount_node = _child(entry, "Amt")
            if e2e is None or not (e2e.text or "").strip() or amount_node is None:
                raise InvalidBankStatement("a transaction has no EndToEndId or no amount")
            try:
                amount = Decimal((amount_node.text or "").strip())
            except InvalidOperation:
                raise InvalidBankStatement(f"bad amount {amount_node.text!r}") from None
            reason = _path(tx, "RtrInf", "Rsn", "Cd")
            returned = _child(tx, "RtrInf") is not None
            lines.append(StatementLine(
                end_to_end_id=e2e.text.strip(), amount=amount,
                currency=amount_node.get("Ccy", ""), paid=not returned,
                reason=(reason.text or "").strip() if reason is not None else
                ("returned" if returned else ""),
            ))
    return BankStatement(message_id=message_id, lines=tuple(lines))


CAMT_054_NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:camt.054.001.02"


def camt054_build(*, message_id: str, account_iban: str, created_at: dt.datetime,
                  lines: Sequence[StatementLine]) -> bytes:
    """A camt.054.001.02 debit notification for ``lines`` on ``account_iban``: one booked
    entry per line, with ``RtrInf`` (and the line's reason code) for a failed payout. What
    the local bank stand-in sends back (tests, the demo)."""
    ns = CAMT_054_NAMESPACE

    def sub(parent, name: str, text: str | None = None, **attrs):
        element = ET.SubElement(parent, f"{{{ns}}}{name}", attrs)
        if text is not None:
            element.text = text
        return element

    ET.register_namespace("", ns)
    root = ET.Element(f"{{{ns}}}Document")
    notification = sub(root, "BkToCstmrDbtCdtNtfctn")
    header = sub(notification, "GrpHdr")
    sub(header, "MsgId", message_id)
    sub(header, "CreDtTm", created_at.strftime("%Y-%m-%dT%H:%M:%S"))
    ntfctn = sub(notification, "Ntfctn")
    sub(ntfctn, "Id", message_id)
    sub(ntfctn, "CreDtTm", created_at.strftime("%Y-%m-%dT%H:%M:%S"))
    sub(sub(sub(ntfctn, "Acct"), "Id"), "IBAN", account_iban)
    for line in lines:
        entry = sub(ntfctn, "Ntry")
        sub(entry, "Amt", f"{line.amount:f}", Ccy=line.currency)
        sub(entry, "CdtDbtInd", "CRDT" if not line.paid else "DBIT")
        sub(entry, "RvslInd", "false" if line.paid else "true")
        sub(entry, "Sts", "BOOK")
        sub(sub(entry, "BookgDt"), "Dt", created_at.date().isoformat())
        sub(sub(entry, "ValDt"), "Dt", created_at.date().isoformat())
        domain = sub(sub(entry, "BkTxCd"), "Domn")
        sub(domain, "Cd", "PMNT")
        family = sub(domain, "Fmly")
        sub(family, "Cd", "ICDT")
        sub(family, "SubFmlyCd", "ESCT" if line.paid else "RRTN")
        tx = sub(sub(entry, "NtryDtls"), "TxDtls")
        sub(sub(tx, "Refs"), "EndToEndId", line.end_to_end_id)
        sub(sub(sub(tx, "AmtDtls"), "TxAmt"), "Amt", f"{line.amount:f}", Ccy=line.currency)
        if not line.paid:
            sub(sub(sub(tx, "RtrInf"), "Rsn"), "Cd", line.reason or "NARR")
    return b'<?xml version="1.0" encoding="UTF-8"?>' + ET.tostring(root, "utf-8")

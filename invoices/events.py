"""What an invoice tells people: the domain events of its status moves and of the debtor's
answer (:mod:`paymint.core.events`), emitted inside the transaction of the change.

The seller always hears; callers higher up (the marketplace, settlements) name the investors
concerned and what each may be told (``audience``: their own amount, never the others').
Shared data is what every recipient may see: the invoice number and the debtor's name (both
shown on the listing to investors), the currency, the reason of a rejection or cancellation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from paymint.core import clock
from paymint.core.events import EventName, event_emit
from paymint.core.models import DomainEvent

from .enums import InvoiceStatus
from .models import Invoice
from .pricing import advance_amount, days_past_due

#: The status moves people hear about (``invoice.extracted`` only when the document was read,
#: not when an edit voids an offer and the invoice goes back to review).
STATUS_EVENTS: dict[str, EventName] = {
    InvoiceStatus.EXTRACTED: EventName.INVOICE_EXTRACTED,
    InvoiceStatus.PRICED: EventName.INVOICE_PRICED,
    InvoiceStatus.REJECTED: EventName.INVOICE_REJECTED,
    InvoiceStatus.CANCELLED: EventName.INVOICE_CANCELLED,
    InvoiceStatus.FUNDED: EventName.LISTING_FUNDED,
    InvoiceStatus.DISBURSED: EventName.INVOICE_DISBURSED,
    InvoiceStatus.OVERDUE: EventName.INVOICE_OVERDUE,
    InvoiceStatus.DEFAULTED: EventName.INVOICE_DEFAULTED,
    InvoiceStatus.WRITTEN_OFF: EventName.INVOICE_WRITTEN_OFF,
    InvoiceStatus.SETTLED: EventName.INVOICE_SETTLED,
}
#: Reasons shown to the recipients (others stay in the invoice's history).
REASON_SHOWN = frozenset({EventName.INVOICE_REJECTED, EventName.INVOICE_CANCELLED,
                          EventName.DEBTOR_DISPUTED})


def invoice_event_emit(
    *,
    invoice: Invoice,
    name: EventName,
    key: str,
    reason: str = "",
    audience: Mapping[Any, Mapping[str, Any]] | None = None,
) -> DomainEvent:
    """Emit event ``name`` about ``invoice`` to its seller and ``audience`` (user or user pk
    -> what that user may be told), inside the caller's transaction.

    ``key`` must be deterministic for the change (e.g. the status event's id), so that a
    retried service emits nothing twice. Money goes as strings (``"1234.50"``) beside
    ``currency``.
    """
    currency = invoice.currency or ""
    data: dict[str, Any] = {
        "invoice_number": invoice.invoice_number,
        "debtor_name": invoice.debtor_name,
        "currency": currency,
    }
    if name in REASON_SHOWN and reason:
        data["reason"] = reason[:500]
    if name in (EventName.INVOICE_OVERDUE, EventName.INVOICE_DEFAULTED) and invoice.due_date:
        data["days_past_due"] = days_past_due(invoice.due_date, clock.today())
    seller: dict[str, Any] = {"invoice_id": str(invoice.public_id)}
    if invoice.face_value is not None:
        seller["face_value"] = str(invoice.face_value)
    if name == EventName.INVOICE_PRICED:
        seller["grade"] = invoice.risk_grade
        if invoice.face_value is not None and invoice.advance_rate is not None:
            seller["advance_amount"] = str(
                advance_amount(invoice.face_value, invoice.advance_rate, currency)
            )
    recipients: dict[int, dict[str, Any]] = {invoice.seller_id: seller}
    for user, entry in (audience or {}).items():
        pk = getattr(user, "pk", user)
        recipients[pk] = {**recipients.get(pk, {}), **entry}
    return event_emit(name=name, key=key, recipients=recipients, data=data)


def invoice_status_event_emit(
    *, invoice: Invoice, from_status: str, to_status: str, status_event_id: int,
    reason: str = "", audience: Mapping[Any, Mapping[str, Any]] | None = None,
) -> DomainEvent | None:
    """The event of one status move, if people hear about it (:data:`STATUS_EVENTS`); keyed
    by the move's :class:`~invoices.models.InvoiceStatusEvent` id."""
    name = STATUS_EVENTS.get(to_status)
    if name is None:
        return None
    if name == EventName.INVOICE_EXTRACTED and from_status != InvoiceStatus.UPLOADED:
        return None
    return invoice_event_emit(
        invoice=invoice, name=name, key=f"{name}:{invoice.public_id}:{status_event_id}",
        reason=reason, audience=audience,
    )

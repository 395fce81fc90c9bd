"""The status writer (:func:`invoice_transition`, the only writer of ``Invoice.status``) and
operations staff's actions on an invoice (verify, reject, mark disputed)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.utils import timezone

from compliance.public import AlertKind, AlertSeverity, alert_raise
from paymint.core.error_codes import CoreError
from paymint.core.errors import InvalidTransition, ValidationFailed
from paymint.core.permissions import require_staff

from ..enums import INVOICE_TRANSITIONS, InvoiceStatus
from ..error_codes import InvoicesError
from ..events import invoice_status_event_emit
from ..models import Invoice, InvoiceStatusEvent


def invoice_transition(
    *, invoice: Invoice, to_status: str, actor=None, reason: str = "",
    audience: Mapping[Any, Mapping[str, Any]] | None = None,
) -> Invoice:
    """Move ``invoice`` to ``to_status``: locks the row, checks
    :data:`invoices.enums.INVOICE_TRANSITIONS`, writes an :class:`InvoiceStatusEvent` and,
    for the moves people hear about (:data:`invoices.events.STATUS_EVENTS`), the domain event
    told to the seller and ``audience`` (user -> what that user may be told: the investors
    concerned, named by the caller).

    Must run inside a transaction (the caller's business change commits with it). Updates
    ``invoice.status`` in place.

    Raises:
        InvalidTransition: ``INVALID_STATUS_TRANSITION`` when the move is not allowed.
    """
    with transaction.atomic():
        current = (
            Invoice.objects.select_for_update(no_key=True).values_list("status", flat=True)
            .get(pk=invoice.pk)
        )
        if to_status not in INVOICE_TRANSITIONS[current]:
            raise InvalidTransition(
                f"An invoice that is {InvoiceStatus(current).label.lower()} cannot move to "
                f"{InvoiceStatus(to_status).label.lower()}.",
            )
        Invoice.objects.filter(pk=invoice.pk).update(status=to_status, updated_at=timezone.now())
        status_event = InvoiceStatusEvent.objects.create(
            invoice=invoice, from_status=current, to_status=to_status, actor=actor,
            reason=reason[:2000],
        )
        invoice_status_event_emit(
            invoice=invoice, from_status=current, to_status=to_status,
            status_event_id=status_event.pk, reason=reason, audience=audience,
        )
    invoice.status = to_status
    return invoice


def _require_staff(actor) -> None:
    require_staff(actor, code=InvoicesError.STAFF_ONLY, permission="invoices.change_invoice")


def invoice_ops_verify(*, invoice: Invoice, actor, note: str = "") -> Invoice:
    """Operations staff record that they checked the invoice (e.g. called the debtor). The
    check shows as a badge; the action is written to the invoice's history."""
    _require_staff(actor)
    with transaction.atomic():
        locked = Invoice.objects.select_for_update(no_key=True).get(pk=invoice.pk)
        locked.ops_verified_at = timezone.now()
        locked.ops_verified_by = actor
        locked.save(update_fields=["ops_verified_at", "ops_verified_by", "updated_at"])
        InvoiceStatusEvent.objects.create(
            invoice=locked, from_status=locked.status, to_status=locked.status, actor=actor,
            reason=f"verified by operations. {note}".strip())
    return locked


def invoice_ops_reject(*, invoice: Invoice, actor, reason: str) -> Invoice:
    """Operations staff reject an invoice before it is listed, with a reason the seller sees.

    Raises:
        ValidationFailed: ``REASON_REQUIRED``. InvalidTransition: already listed or later.
    """
    _require_staff(actor)
    if not reason.strip():
        raise ValidationFailed("A reason is required.", code=CoreError.REASON_REQUIRED,
                               fields={"reason": ["Required."]})
    with transaction.atomic():
        locked = Invoice.objects.select_for_update(no_key=True).get(pk=invoice.pk)
        return invoice_transition(invoice=locked, to_status=InvoiceStatus.REJECTED, actor=actor,
                                  reason=f"rejected by operations: {reason.strip()}")


def invoice_mark_disputed(*, invoice: Invoice, actor, reason: str) -> Invoice:
    """Mark an invoice disputed (the debtor contests it, or ops doubt it): it can no longer be
    listed or funded, and a compliance alert is raised.

    Raises:
        ValidationFailed: ``REASON_REQUIRED``.
    """
    _require_staff(actor)
    if not reason.strip():
        raise ValidationFailed("A reason is required.", code=CoreError.REASON_REQUIRED,
                               fields={"reason": ["Required."]})
    with transaction.atomic():
        locked = (Invoice.objects.select_for_update(no_key=True).select_related("seller")
                  .get(pk=invoice.pk))
        locked.disputed_at = timezone.now()
        locked.dispute_reason = reason.strip()
        locked.save(update_fields=["disputed_at", "dispute_reason", "updated_at"])
        InvoiceStatusEvent.objects.create(
            invoice=locked, from_status=locked.status, to_status=locked.status, actor=actor,
            reason=f"marked disputed: {reason.strip()}")
        alert_raise(kind=AlertKind.DEBTOR_DISPUTE, severity=AlertSeverity.HIGH,
                    dedupe_key=f"invoice-disputed:{locked.public_id}",
                    title=f"Invoice {locked.invoice_number} marked disputed",
                    evidence={"reason": reason.strip(), "by": actor.email},
                    invoice=locked, user=locked.seller)
    return locked

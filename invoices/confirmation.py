"""Debtor confirmation: a signed, expiring link the debtor uses to confirm that an invoice is
genuine and unpaid, or to dispute it.

The token is Django's ``TimestampSigner`` over the confirmation's UUID (salted), so it cannot be
forged or altered, and it expires after ``DEBTOR_CONFIRMATION_DAYS``. A confirmation improves
the invoice's score (re-scored while the offer is open) and shows a badge to investors; a
dispute raises a compliance alert.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.utils import timezone

from compliance.public import AlertKind, AlertSeverity, alert_raise
from paymint.core.errors import ApplicationError, InvalidTransition, PermissionDenied
from paymint.core.events import EventName
from paymint.core.outbox import outbox_enqueue_email

from .enums import InvoiceStatus
from .error_codes import InvoicesError
from .events import invoice_event_emit
from .models import DebtorConfirmation, Invoice
from .services import invoice_rescore

SALT = "paymint.debtor-confirmation"
#: Statuses in which the seller may ask the debtor to confirm.
CONFIRMABLE = frozenset({InvoiceStatus.EXTRACTED, InvoiceStatus.SUBMITTED, InvoiceStatus.PRICED,
                         InvoiceStatus.LISTED, InvoiceStatus.FUNDED, InvoiceStatus.DISBURSED})


class ConfirmationLinkInvalid(ApplicationError):
    code = InvoicesError.CONFIRMATION_LINK_INVALID
    http_status = 404


def confirmation_token(confirmation: DebtorConfirmation) -> str:
    return signing.TimestampSigner(salt=SALT).sign(str(confirmation.public_id))


def confirmation_from_token(token: str) -> DebtorConfirmation:
    """The confirmation a link points to.

    Raises:
        ConfirmationLinkInvalid: ``CONFIRMATION_LINK_INVALID`` (tampered) or
            ``CONFIRMATION_LINK_EXPIRED`` (older than the validity).
    """
    max_age = dt.timedelta(days=settings.DEBTOR_CONFIRMATION_DAYS)
    try:
        public_id = signing.TimestampSigner(salt=SALT).unsign(token, max_age=max_age)
    except signing.SignatureExpired:
        raise ConfirmationLinkInvalid("This confirmation link has expired.",
                                      code=InvoicesError.CONFIRMATION_LINK_EXPIRED,
                                      http_status=410) from None
    except signing.BadSignature:
        raise ConfirmationLinkInvalid("This confirmation link is not valid.") from None
    confirmation = (DebtorConfirmation.objects.select_related("invoice", "invoice__seller")
                    .filter(public_id=public_id).first())
    if confirmation is None:
        raise ConfirmationLinkInvalid("This confirmation link is not valid.")
    return confirmation


def debtor_confirmation_request(*, invoice: Invoice, seller, email: str) -> DebtorConfirmation:
    """Ask the debtor at ``email`` to confirm the invoice: one pending request per invoice and
    address; the email goes through the outbox after commit.

    Raises:
        PermissionDenied: ``NOT_INVOICE_OWNER``.
        InvalidTransition: ``INVOICE_NOT_CONFIRMABLE`` (draft, rejected, settled, ...).
    """
    if invoice.seller_id != seller.pk:
        raise PermissionDenied("Not your invoice.", code=InvoicesError.NOT_INVOICE_OWNER)
    if invoice.status not in CONFIRMABLE:
        raise InvalidTransition("The debtor can no longer be asked about this invoice.",
                                code=InvoicesError.INVOICE_NOT_CONFIRMABLE)
    email = email.strip().lower()
    with transaction.atomic():
        confirmation, created = DebtorConfirmation.objects.get_or_create(
            invoice=invoice, email=email, status=DebtorConfirmation.Status.REQUESTED,
            defaults={"requested_by": seller, "expires_at": timezone.now() + dt.timedelta(
                days=settings.DEBTOR_CONFIRMATION_DAYS)},
        )
        if created:
            link = f"{settings.SITE_URL}/debtor/confirm/{confirmation_token(confirmation)}/"
            outbox_enqueue_email(
                dedupe_key=f"debtor-confirmation:{confirmation.public_id}",
                recipient=email,
                subject=f"Please confirm invoice {invoice.invoice_number} from "
                f"{invoice.issuer_name}",
                body=(
                    f"{invoice.issuer_name} has asked PayMint to finance invoice "
                    f"{invoice.invoice_number} of {invoice.face_value} {invoice.currency}, "
                    f"due {invoice.due_date}.\n\nPlease confirm that the invoice is genuine "
                    f"and not yet paid, or tell us if it is not:\n{link}\n\nThe link is valid "
                    f"for {settings.DEBTOR_CONFIRMATION_DAYS} days."
                ),
            )
    return confirmation


def debtor_confirmation_respond(*, token: str, confirmed: bool, note: str = ""
                                ) -> DebtorConfirmation:
    """Record the debtor's answer. A confirmation stamps the invoice and, while its offer is
    still open (``PRICED``), re-scores it; a dispute raises a HIGH compliance alert.

    Raises:
        ConfirmationLinkInvalid: invalid or expired link.
        InvalidTransition: ``CONFIRMATION_ALREADY_ANSWERED``.
    """
    confirmation = confirmation_from_token(token)
    with transaction.atomic():
        locked = DebtorConfirmation.objects.select_for_update().get(pk=confirmation.pk)
        if locked.status != DebtorConfirmation.Status.REQUESTED:
            raise InvalidTransition("This request was already answered.",
                                    code=InvoicesError.CONFIRMATION_ALREADY_ANSWERED)
        locked.status = (DebtorConfirmation.Status.CONFIRMED if confirmed
                         else DebtorConfirmation.Status.DISPUTED)
        locked.responded_at = timezone.now()
        locked.response_note = note.strip()[:2000]
        locked.save(update_fields=["status", "responded_at", "response_note", "updated_at"])
        invoice = locked.invoice
        name = EventName.DEBTOR_CONFIRMED if confirmed else EventName.DEBTOR_DISPUTED
        invoice_event_emit(invoice=invoice, name=name, key=f"{name}:{locked.public_id}",
                           reason=locked.response_note)
        if confirmed:
            Invoice.objects.filter(pk=invoice.pk).update(debtor_confirmed_at=locked.responded_at)
            if invoice.status == InvoiceStatus.PRICED:
                invoice_rescore(invoice_id=invoice.pk)
        else:
            alert_raise(
                kind=AlertKind.DEBTOR_DISPUTE, severity=AlertSeverity.HIGH,
                dedupe_key=f"debtor-dispute:{locked.public_id}",
                title=f"Debtor disputed invoice {invoice.invoice_number}",
                evidence={"email": locked.email, "note": locked.response_note,
                          "invoice": str(invoice.public_id)},
                invoice=invoice, user=invoice.seller,
            )
    return locked

"""Data-subject rights: a copy of one's data (GDPR Art. 15/20) and erasure (Art. 17).

Export
    :func:`user_data_export` gathers everything PayMint holds about a user into one JSON-able
    dict: account, KYC/KYB profile (sensitive fields decrypted; the user's own only), document
    metadata, invoices, investments, wallet balances and entries, withdrawals, erasure requests
    and the audit events about them. Staff identities (email, IP, user agent) on those events
    are replaced by "PayMint staff"; compliance alerts, notes, holds and SAR events are left
    out (disclosing them would be tipping-off, forbidden by AML law).

Erasure
    The user asks (:func:`erasure_request_create`); staff execute the request in the back
    office (:func:`erasure_execute`). Execution anonymizes the personal data - name, email
    (``erased-<uuid>@invalid``), password (unusable), address, tax id, date of birth, identity
    document number, bank account, two-factor devices, the places signed in from (IP address
    and browser), what the domain events and notifications told the user (their texts, a new
    sign-in's address) and their push devices (the apps' registered erasers,
    ``paymint.core.registries.PERSONAL_DATA_ERASERS``); the KYC document files are deleted
    from storage after commit - and deactivates the account, so the user can no longer sign
    in (session, password, access and refresh tokens all refused). Financial records the law
    requires are kept: journal entries, invoices, investments, settlements, withdrawals and
    the ledger accounts stay, linked to the anonymized user, as do compliance records and the
    audit trail (both kept for their retention periods). A user with open positions or a
    non-zero balance cannot be erased: ``ERASURE_BLOCKED`` (``fields`` say what is open).
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from auditlog.context import disable_auditlog
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.module_loading import import_string
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.auth_tokens import user_refresh_tokens_revoke
from accounts.models import KycProfile, SignInOrigin, User
from invoices.models import Invoice
from marketplace.enums import InvestmentStatus
from marketplace.models import Investment
from paymint.core.error_codes import CoreError
from paymint.core.errors import Conflict, InvalidTransition, PermissionDenied, ValidationFailed
from paymint.core.models import DomainEvent, IdempotencyRecord, OutboundMessage
from paymint.core.permissions import require_staff
from paymint.core.registries import PERSONAL_DATA_ERASERS
from settlements.ledger import (
    exact_sum,
    wallet_balances,
    wallet_entries,
    withdrawal_list_for_user,
)
from settlements.ledger.models import LedgerAccount

from .audit import audit_event_row, audit_events_about_user, audit_record
from .error_codes import ComplianceError
from .models import AccountHold, ComplianceAlert, DataErasureRequest

SCHEMA = "paymint-data-export/1"

#: KYC/KYB profile fields holding personal data, and the value erasure writes. Fields the
#: profile does not have (yet) are skipped.
PROFILE_ERASURE: dict[str, object] = {
    "legal_name": "[erased]",
    "address": "",
    "tax_id": "",
    "tax_id_hash": "",
    "date_of_birth": None,
    "identity_document_number": "",
    "bank_account_iban": "",
}
#: Sensitive profile fields included (decrypted) in the user's own export, when present.
PROFILE_EXPORT_FIELDS = ("kind", "legal_name", "country", "tax_id", "tax_id_scheme", "address",
                         "date_of_birth", "identity_document_number", "bank_account_iban",
                         "declared_investment", "status", "submitted_at", "decided_at",
                         "decision_reason")
#: Invoice statuses in which a seller still has a position (money or investors involved).
OPEN_INVOICE_STATUSES = ("LISTED", "FUNDED", "DISBURSED", "OVERDUE", "DEFAULTED", "WRITTEN_OFF")
#: Audit events never shown to the user (compliance casework; tipping-off).
HIDDEN_AUDIT_MODELS = ("compliancealert", "alertnote", "accounthold")
HIDDEN_AUDIT_PREFIXES = ("alert.", "sar.", "hold.")
#: Fields of a diff that name staff members: left out of the user's copy.
STAFF_FIELDS = ("actor", "reviewer", "author", "decided_by", "uploaded_by", "ops_verified_by",
                "assigned_to", "resolved_by", "released_by")


class ErasureBlocked(Conflict):
    """The user still has open positions or money with PayMint."""

    code = ComplianceError.ERASURE_BLOCKED


def _model_fields(model) -> set[str]:
    return {f.name for f in model._meta.get_fields()}


# --- Export -----------------------------------------------------------------------------------


def _profile_export(user: User) -> dict | None:
    profile = KycProfile.objects.filter(user=user).first()
    if profile is None:
        return None
    names = _model_fields(KycProfile)
    data = {name: getattr(profile, name) for name in PROFILE_EXPORT_FIELDS if name in names}
    data["documents"] = [
        {"id": d.public_id, "content_type": d.content_type, "size": d.size,
         "sha256": d.sha256, "original_filename": d.original_filename,
         "uploaded_at": d.uploaded_at, "file_deleted": not d.file}
        for d in profile.documents.all()
    ]
    return data


def _audit_export(user: User) -> list[dict]:
    rows = []
    for event in audit_events_about_user(user=user).iterator(chunk_size=1000):
        model = event.content_type.model if event.content_type_id else ""
        if model in HIDDEN_AUDIT_MODELS or event.event.startswith(HIDDEN_AUDIT_PREFIXES):
            continue
        row = audit_event_row(event)
        if event.actor_id != user.pk:
            row["actor_email"] = "PayMint staff" if event.actor_id else "system"
            row["actor_id"] = None
            row["remote_addr"] = ""
            row["user_agent"] = ""
        row.pop("subject_user_id")
        if isinstance(row["changes"], dict):
            row["changes"] = {k: v for k, v in row["changes"].items() if k not in STAFF_FIELDS}
        rows.append(row)
    return rows


def user_data_export(*, user: User, request=None) -> dict:
    """Everything PayMint holds about ``user`` (see the module docstring), JSON-able with
    ``DjangoJSONEncoder``: ``{"schema", "generated_at", "account", "kyc", "invoices",
    "investments", "wallet": {"balances", "entries"}, "withdrawals", "erasure_requests",
    "audit_events"}``. Amounts are decimal strings in the record's currency. The export itself
    is recorded in the audit trail (``data.export``)."""
    account = {
        "id": user.public_id, "email": user.email, "role": user.role,
        "first_name": user.first_name, "last_name": user.last_name,
        "date_joined": user.date_joined, "last_login": user.last_login,
        "email_verified_at": user.email_verified_at,
        "deposit_reference": user.deposit_reference, "is_active": user.is_active,
    }
    invoices = [
        {"id": i.public_id, "invoice_number": i.invoice_number, "status": i.status,
         "issuer_name": i.issuer_name, "issuer_tax_id": i.issuer_tax_id,
         "debtor_name": i.debtor_name, "debtor_tax_id": i.debtor_tax_id,
         "currency": i.currency, "face_value": i.face_value, "issue_date": i.issue_date,
         "due_date": i.due_date, "risk_grade": i.risk_grade,
         "original_filename": i.original_filename, "created_at": i.created_at}
        for i in Invoice.objects.filter(seller=user).order_by("created_at", "id")
    ]
    investments = [
        # The listing's id, as everywhere investors are answered: the invoice's own id is the
        # seller's (tests/security/test_authorization_matrix.py checks it never leaks).
        {"id": v.public_id, "listing": v.listing.public_id,
         "invoice_number": v.listing.invoice.invoice_number, "amount": v.amount,
         "currency": v.currency, "status": v.status, "discount_rate": v.discount_rate,
         "expected_return": v.expected_return, "principal_repaid": v.principal_repaid,
         "fee_repaid": v.fee_repaid, "late_interest_repaid": v.late_interest_repaid,
         "loss": v.loss, "created_at": v.created_at}
        for v in Investment.objects.filter(investor=user)
        .select_related("listing__invoice").order_by("created_at", "id")
    ]
    entries = [
        {"date": p.entry.effective_date, "kind": p.entry.kind,
         "description": p.entry.description, "amount": p.amount, "currency": p.currency,
         "account": p.account.kind}
        for p in wallet_entries(user=user).order_by("entry__created_at", "id")
    ]
    withdrawals = [
        {"id": w.public_id, "reference": w.reference, "amount": w.amount,
         "currency": w.currency, "status": w.status, "failure_reason": w.failure_reason,
         "created_at": w.created_at}
        for w in withdrawal_list_for_user(user=user).order_by("created_at", "id")
    ]
    erasures = [
        {"id": e.public_id, "status": e.status, "requested_at": e.created_at,
         "decided_at": e.decided_at}
        for e in DataErasureRequest.objects.filter(user=user).order_by("created_at", "id")
    ]
    export = {
        "schema": SCHEMA,
        "generated_at": timezone.now(),
        "account": account,
        "kyc": _profile_export(user),
        "invoices": invoices,
        "investments": investments,
        "wallet": {"balances": wallet_balances(user=user), "entries": entries},
        "withdrawals": withdrawals,
        "erasure_requests": erasures,
        "audit_events": _audit_export(user),
    }
    audit_record(action="data.export", actor=user, target=user, subject_user=user,
                 request=request, kind="access")
    return export


# --- Erasure ----------------------------------------------------------------------------------


def erasure_blockers(*, user: User) -> dict[str, list[str]]:
    """What keeps ``user`` from being erased: ``{"positions": [...], "balances": [...]}``
    (empty dict when nothing does). Positions: active investments, invoices being financed or
    repaid; balances: any non-zero ledger account of the user (cash, withdrawal on hold,
    amount owed under recourse)."""
    blockers: dict[str, list[str]] = {}
    positions = [
        f"investment {v.public_id} ({v.amount:f} {v.currency}) is active"
        for v in Investment.objects.filter(investor=user, status=InvestmentStatus.ACTIVE)
    ] + [
        f"invoice {i.invoice_number or i.public_id} is {i.status.lower()}"
        for i in Invoice.objects.filter(seller=user, status__in=OPEN_INVOICE_STATUSES)
    ]
    if positions:
        blockers["positions"] = positions
    accounts = (LedgerAccount.objects.filter(owner=user)
                .annotate(balance=Sum("postings__amount")).order_by("kind", "currency"))
    balances = [
        f"{a.get_kind_display().lower()}: {exact_sum(a.balance):f} {a.currency}"
        for a in accounts if exact_sum(a.balance) != Decimal(0)
    ]
    if balances:
        blockers["balances"] = balances
    return blockers


def _raise_if_blocked(user: User) -> None:
    blockers = erasure_blockers(user=user)
    if blockers:
        raise ErasureBlocked(
            "The account still has open positions or a balance: close them (and withdraw "
            "the balance) before it can be erased.",
            fields=blockers,
        )


def erasure_request_create(*, user: User, note: str = "", request=None) -> DataErasureRequest:
    """The user asks for their personal data to be erased; returns the open request (the
    existing one when they already asked).

    Raises:
        PermissionDenied: ``ERASURE_NOT_FOR_STAFF`` for staff accounts.
        ErasureBlocked: ``ERASURE_BLOCKED`` while positions or a balance are open.
    """
    if user.is_staff:
        raise PermissionDenied("Staff accounts are closed by operations, not erased here.",
                               code=ComplianceError.ERASURE_NOT_FOR_STAFF)
    _raise_if_blocked(user)
    open_requests = DataErasureRequest.objects.filter(
        user=user, status=DataErasureRequest.Status.REQUESTED)
    existing = open_requests.first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            erasure = DataErasureRequest.objects.create(user=user, note=note.strip()[:2000])
            audit_record(action="erasure.request", actor=user, target=erasure,
                         subject_user=user, request=request, kind="create",
                         reason=note.strip()[:2000])
            return erasure
    except IntegrityError:  # asked twice at once
        return open_requests.get()


def _lock_open_request(erasure_request: DataErasureRequest) -> DataErasureRequest:
    locked = DataErasureRequest.objects.select_for_update().get(pk=erasure_request.pk)
    if locked.status != DataErasureRequest.Status.REQUESTED:
        raise InvalidTransition(f"This request is already {locked.status.lower()}.",
                                code=ComplianceError.ERASURE_REQUEST_CLOSED)
    return locked


def erasure_reject(*, erasure_request: DataErasureRequest, actor: User, reason: str
                   ) -> DataErasureRequest:
    """Staff refuse an erasure request, with the reason.

    Raises:
        PermissionDenied: not staff. ValidationFailed: ``REASON_REQUIRED``.
        InvalidTransition: ``ERASURE_REQUEST_CLOSED``.
    """
    require_staff(actor, "Only operations staff decide on erasure requests.",
                  permission="compliance.change_dataerasurerequest")
    if not reason.strip():
        raise ValidationFailed("A reason is required.", code=CoreError.REASON_REQUIRED,
                               fields={"reason": ["Required."]})
    with transaction.atomic():
        locked = _lock_open_request(erasure_request)
        locked.status = DataErasureRequest.Status.REJECTED
        locked.decided_at = timezone.now()
        locked.decided_by = actor
        locked.decision_reason = reason.strip()
        locked.save(update_fields=["status", "decided_at", "decided_by", "decision_reason",
                                   "updated_at"])
        audit_record(action="erasure.reject", actor=actor, target=locked,
                     subject_user=locked.user, reason=reason)
    return locked


def erasure_execute(*, erasure_request: DataErasureRequest, actor: User, reason: str = ""
                    ) -> DataErasureRequest:
    """Staff execute an erasure request: anonymize the user's personal data and close the
    account (see the module docstring). One transaction; document files are deleted from
    storage after it commits. The anonymizing writes are not diffed into the audit trail
    (that would copy the erased values into it); one ``user.erase`` event records what was
    erased, by whom and why.

    Raises:
        PermissionDenied: actor not staff; ``ERASURE_NOT_FOR_STAFF`` for a staff account.
        InvalidTransition: ``ERASURE_REQUEST_CLOSED`` (already executed or rejected).
        ErasureBlocked: ``ERASURE_BLOCKED`` with open positions or a non-zero balance.
        Conflict: ``ERASURE_BLOCKED_COMPLIANCE`` while the account is on hold or a compliance
            alert about it is being worked.
    """
    require_staff(actor, "Only operations staff execute erasure requests.",
                  permission="compliance.change_dataerasurerequest")
    files: list = []
    with transaction.atomic():
        locked = _lock_open_request(erasure_request)
        user = User.objects.select_for_update().get(pk=locked.user_id)
        if user.is_staff:
            raise PermissionDenied("Staff accounts are closed by operations, not erased here.",
                                   code=ComplianceError.ERASURE_NOT_FOR_STAFF)
        _raise_if_blocked(user)
        under_review = (
            AccountHold.objects.filter(user=user, released_at__isnull=True).exists()
            or ComplianceAlert.objects.filter(user=user, status__in=["OPEN", "IN_REVIEW"])
            .exists()
        )
        if under_review:
            raise Conflict("The account is under compliance review (hold or open alert); "
                           "resolve it first.", code=ComplianceError.ERASURE_BLOCKED_COMPLIANCE)
        old_email = user.email
        erased_email = f"erased-{uuid.uuid4()}@invalid"
        erased: list[str] = []
        with disable_auditlog():
            user.email = user.username = erased_email
            user.first_name = user.last_name = ""
            user.email_verified_at = None
            user.is_active = False
            user.set_unusable_password()
            user.save(update_fields=["email", "username", "first_name", "last_name",
                                     "email_verified_at", "is_active", "password",
                                     "updated_at"])
            erased += ["email", "first_name", "last_name", "password"]
            profile = KycProfile.objects.select_for_update().filter(user=user).first()
            if profile is not None:
                names = _model_fields(KycProfile)
                fields = [f for f in PROFILE_ERASURE if f in names]
                for name in fields:
                    setattr(profile, name, PROFILE_ERASURE[name])
                profile.save(update_fields=[*fields, "updated_at"])
                erased += [f"kyc.{f}" for f in fields]
                for document in profile.documents.select_for_update():
                    if document.file:
                        files.append((document.file.storage, document.file.name))
                    document.file = ""
                    document.original_filename = ""
                    document.sha256 = ""
                    document.save(update_fields=["file", "original_filename", "sha256"])
            devices, _ = TOTPDevice.objects.filter(user=user).delete()
            refresh_tokens = user_refresh_tokens_revoke(user=user)
            idempotency, _ = IdempotencyRecord.objects.filter(user=user).delete()
            messages = OutboundMessage.objects.filter(recipient__iexact=old_email).update(
                recipient=erased_email, subject="[erased]", body="[erased]", html_body="",
                updated_at=timezone.now())
            origins, _ = SignInOrigin.objects.filter(user=user).delete()
            events = _domain_events_erase(user)
            by_apps: dict[str, int] = {}
            for eraser in PERSONAL_DATA_ERASERS:
                for what, count in import_string(eraser)(user=user).items():
                    by_apps[what] = by_apps.get(what, 0) + count
        locked.status = DataErasureRequest.Status.EXECUTED
        locked.decided_at = timezone.now()
        locked.decided_by = actor
        locked.decision_reason = reason.strip()
        locked.save(update_fields=["status", "decided_at", "decided_by", "decision_reason",
                                   "updated_at"])
        audit_record(
            action="user.erase", actor=actor, target=user, subject_user=user, reason=reason,
            changes={"erased_fields": erased, "document_files_deleted": len(files),
                     "two_factor_devices_deleted": devices,
                     "refresh_tokens_revoked": refresh_tokens,
                     "idempotency_records_deleted": idempotency,
                     "outbound_messages_anonymized": messages,
                     "sign_in_origins_deleted": origins,
                     "domain_events_erased": events, **by_apps,
                     "erasure_request": str(locked.public_id)},
        )
        transaction.on_commit(lambda: _delete_files(files))
    return locked


def _domain_events_erase(user: User) -> int:
    """Blank what the domain events told ``user`` (their own entry of ``recipients``: amounts,
    a rejection's reason, a new sign-in's IP address and browser); what every recipient saw
    (``data``) names no one person. Returns how many events held an entry."""
    key = str(user.pk)
    rows = [e for e in DomainEvent.objects.select_for_update().filter(recipients__has_key=key)
            if e.recipients[key]]
    for event in rows:
        event.recipients[key] = {}
    DomainEvent.objects.bulk_update(rows, ["recipients"])
    return len(rows)


def _delete_files(files: list) -> None:
    for storage, name in files:
        storage.delete(name)

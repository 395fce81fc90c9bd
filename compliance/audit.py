"""The audit trail: every state change and every staff action, append-only.

Two kinds of rows land in :class:`~compliance.models.AuditEvent`:

- **Model changes**, recorded by django-auditlog (``AUDITLOG_LOGENTRY_MODEL =
  "compliance.AuditEvent"``) for the models registered in :func:`register_audited_models`:
  ``action`` create/update/delete and ``changes = {field: [old, new]}``. Sensitive fields
  (password, date of birth, identity document number, IBAN) are recorded as changed but their
  values are masked. Status changes written with ``QuerySet.update()`` bypass model signals; they
  are covered by the status-event rows every transition writes (``InvoiceStatusEvent``,
  ``KycStatusEvent``, ``AlertNote``, journal entries), which are registered here too.
- **Named actions**, written by :func:`audit_record`: staff decisions in the back office
  (``kyc.approve``, ``alert.escalate``, ``invoice.ops_reject``, ``sar.export``,
  ``document.view``, ``user.erase`` ...) with the reason given, the outcome, and the target.

Who and from where come from :mod:`compliance.middleware` (actor, IP, user agent, request id).
:func:`audit_events_export` streams the trail as CSV or JSON lines (admin action and
``manage.py export_audit_trail``).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from auditlog.registry import auditlog
from django.apps import apps
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models, transaction
from django.db.models import QuerySet

from .middleware import USER_AGENT_MAX, client_ip
from .models import AUDIT_BATCH, AuditEvent

#: Fields whose values never enter the audit trail (the change itself is recorded): the
#: password hash and the fields encrypted at rest (KYC, the payees' IBANs of payouts).
MASKED_FIELDS = ("password", "tax_id", "tax_id_hash", "address", "date_of_birth",
                 "identity_document_number", "bank_account_iban", "creditor_iban",
                 "payee_iban")
#: Timestamps every save touches: noise in a diff.
NOISE_FIELDS = ("updated_at", "last_login")

#: The models whose changes are recorded, with django-auditlog options.
AUDITED_MODELS: dict[str, dict] = {
    "accounts.User": {"m2m_fields": {"groups", "user_permissions"}},
    "accounts.KycProfile": {},
    "accounts.KycDocument": {},
    "accounts.KycStatusEvent": {},
    "accounts.KycApproval": {},
    "invoices.Invoice": {"exclude_fields": ["extraction"]},
    "invoices.InvoiceStatusEvent": {},
    "invoices.DebtorConfirmation": {"exclude_fields": ["token_hash"]},
    "marketplace.Listing": {},
    "marketplace.Investment": {},
    "settlements.JournalEntry": {},
    "settlements.Withdrawal": {"exclude_fields": ["request_fingerprint"]},
    "settlements.Settlement": {},
    "settlements.BankEvent": {"exclude_fields": ["payload"]},
    "settlements.PayoutBatch": {"exclude_fields": ["file_content"]},  # kept, with its SHA-256
    "settlements.PayoutItem": {},
    "settlements.SuspenseAllocation": {},
    "settlements.StellarAccount": {},
    "compliance.ComplianceAlert": {},
    "compliance.AlertNote": {},
    "compliance.AccountHold": {},
    "compliance.SanctionedParty": {},
    "compliance.DataErasureRequest": {},
}

#: How to find the customer a record is about: model label -> attribute path.
SUBJECT_PATHS: dict[str, str] = {
    "accounts.user": "pk",
    "accounts.kycprofile": "user_id",
    "accounts.kycdocument": "profile.user_id",
    "accounts.kycstatusevent": "profile.user_id",
    "accounts.kycapproval": "profile.user_id",
    "invoices.invoice": "seller_id",
    "invoices.invoicestatusevent": "invoice.seller_id",
    "invoices.debtorconfirmation": "invoice.seller_id",
    "marketplace.listing": "invoice.seller_id",
    "marketplace.investment": "investor_id",
    "settlements.withdrawal": "user_id",
    "settlements.payoutitem": "withdrawal.user_id",
    "settlements.stellaraccount": "user_id",
    "compliance.compliancealert": "user_id",
    "compliance.alertnote": "alert.user_id",
    "compliance.accounthold": "user_id",
    "compliance.dataerasurerequest": "user_id",
}


def mask_value(value: str) -> str:
    """``AUDITLOG_MASK_CALLABLE``: the value of a sensitive field is never stored."""
    return "" if value in ("", "None") else "[masked]"


def register_audited_models() -> None:
    """Register :data:`AUDITED_MODELS` with django-auditlog (called from ``ready()``);
    models of apps that are not installed, and fields a model does not have, are skipped."""
    for label, options in AUDITED_MODELS.items():
        try:
            model = apps.get_model(label)
        except LookupError:
            continue
        if auditlog.contains(model):
            continue
        # Only the model's own columns: on create, django-auditlog would otherwise read
        # every reverse relation too (a query per reverse one-to-one).
        skip = {*options.get("exclude_fields", []), *NOISE_FIELDS}
        include = [f.name for f in model._meta.concrete_fields if f.name not in skip]
        auditlog.register(
            model,
            include_fields=include,
            mask_fields=[f for f in MASKED_FIELDS if f in include],
            m2m_fields=options.get("m2m_fields", set()),
        )
    user_logged_in.connect(_on_login, dispatch_uid="compliance.audit.login")
    user_logged_out.connect(_on_logout, dispatch_uid="compliance.audit.logout")


def subject_user_id_for(instance) -> int | None:
    """The id of the user a record is about (:data:`SUBJECT_PATHS`), or None."""
    if instance is None:
        return None
    path = SUBJECT_PATHS.get(instance._meta.label_lower)
    if path is None:
        return None
    value = instance
    try:
        for name in path.split("."):
            value = getattr(value, name)
            if value is None:
                return None
    except models.ObjectDoesNotExist:
        return None
    return value if isinstance(value, int) else None


#: Records that name who acted (status events, notes, approvals, journal entries): that user
#: is the event's actor even outside a request (services, tasks, the demo).
ACTOR_FIELDS: dict[str, str] = {
    "accounts.kycstatusevent": "actor",
    "accounts.kycapproval": "reviewer",
    "invoices.invoicestatusevent": "actor",
    "compliance.alertnote": "author",
    "settlements.journalentry": "actor",
    "compliance.accounthold": "released_by",  # the release (for a PEP hold, the approval)
}


def actor_for(instance):
    """The user a record names as its actor (:data:`ACTOR_FIELDS`), or None."""
    if instance is None:
        return None
    name = ACTOR_FIELDS.get(instance._meta.label_lower)
    return getattr(instance, name, None) if name else None


@contextmanager
def audit_rows_batched() -> Iterator[None]:
    """Write the audit rows of the model changes made in the block in one ``INSERT`` at its
    end, instead of one per change (a funding's entry and investment: one statement and one
    ORM insert less, issue #19). The rows are the same (django-auditlog computes them as each
    change is saved; :class:`~compliance.models.AuditEventManager` keeps them), and they are
    written in the caller's transaction, so they commit with the changes they record or not
    at all. On an exception nothing is written (the transaction is rolled back).

    Must run inside a transaction. Nested blocks write with the outermost one.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("audit_rows_batched must be used inside transaction.atomic()")
    if AUDIT_BATCH.get() is not None:
        yield
        return
    rows: list[AuditEvent] = []
    token = AUDIT_BATCH.set(rows)
    try:
        yield
    finally:
        AUDIT_BATCH.reset(token)
    if rows:
        AuditEvent.objects.bulk_create(rows)


def _action_for(action: str) -> int:
    return {
        "create": AuditEvent.Action.CREATE,
        "update": AuditEvent.Action.UPDATE,
        "delete": AuditEvent.Action.DELETE,
        "access": AuditEvent.Action.ACCESS,
    }[action]


def audit_record(
    *,
    action: str,
    actor=None,
    target: models.Model | None = None,
    changes: dict | None = None,
    reason: str = "",
    request=None,
    subject_user=None,
    kind: str = "update",
) -> AuditEvent:
    """Write one named audit event (a staff or user action) and return it.

    Args:
        action: stable dotted name, e.g. ``"kyc.approve"``, ``"sar.export"``.
        actor: who acted; defaults to the signed-in user of the current request.
        target: the record acted on (its content type, primary key and ``str()`` are kept).
        changes: what changed or the outcome, a JSON-able dict (``{"outcome": "ok"}``, a
            status move ``{"status": ["OPEN", "RESOLVED"]}``, ...).
        reason: the reason the actor gave.
        request: the request (IP, user agent) when the caller has one; otherwise the current
            request from :mod:`compliance.middleware`, if any.
        subject_user: the customer the event is about; defaults to the target's owner.
        kind: ``"create"``, ``"update"``, ``"delete"`` or ``"access"`` (a download or view).

    Works inside or outside the caller's transaction (inside, it commits or rolls back with it).
    """
    values: dict = {}
    if request is not None:
        address = client_ip(request)
        if address:
            values["remote_addr"] = address
        values["user_agent"] = request.META.get("HTTP_USER_AGENT", "")[:USER_AGENT_MAX]
        user = getattr(request, "user", None)
        if actor is None and user is not None and user.is_authenticated:
            actor = user
    if target is not None:
        values["content_type"] = ContentType.objects.get_for_model(target)
        values["object_pk"] = str(target.pk)
        values["object_id"] = target.pk if isinstance(target.pk, int) else None
        values["object_repr"] = str(target)[:1000]
    else:
        values["content_type"] = ContentType.objects.get_for_model(AuditEvent)
        values["object_pk"] = ""
        values["object_repr"] = ""
    subject_id = subject_user.pk if subject_user is not None else subject_user_id_for(target)
    return AuditEvent.objects.create(
        action=_action_for(kind),
        event=action,
        actor=actor,
        reason=reason.strip(),
        changes=json.loads(json.dumps(changes or {}, cls=DjangoJSONEncoder)),
        subject_user_id=subject_id,
        **values,
    )


def _on_login(sender, request, user, **kwargs) -> None:
    audit_record(action="auth.login", actor=user, target=user, request=request,
                 kind="access")


def _on_logout(sender, request, user, **kwargs) -> None:
    if user is not None:
        audit_record(action="auth.logout", actor=user, target=user, request=request,
                     kind="access")


# --- Reads ----------------------------------------------------------------------------------


def audit_events_for_object(obj: models.Model) -> QuerySet[AuditEvent]:
    """Events recorded on one record, newest first."""
    return AuditEvent.objects.filter(
        content_type=ContentType.objects.get_for_model(obj), object_pk=str(obj.pk)
    ).select_related("actor", "content_type")


def audit_events_about_user(*, user) -> QuerySet[AuditEvent]:
    """Events about a customer (their records and their own actions on them), oldest first."""
    return (AuditEvent.objects.filter(subject_user=user)
            .select_related("content_type").order_by("timestamp", "id"))


EXPORT_COLUMNS = ("id", "timestamp", "event", "action", "model", "object_pk", "object_repr",
                  "actor_id", "actor_email", "subject_user_id", "remote_addr", "user_agent",
                  "request_id", "reason", "changes")


def audit_event_row(event: AuditEvent) -> dict:
    """One event as a flat dict (:data:`EXPORT_COLUMNS`)."""
    return {
        "id": event.pk,
        "timestamp": event.timestamp.isoformat(),
        "event": event.event,
        "action": dict(AuditEvent.Action.choices).get(event.action, event.action),
        "model": event.content_type.model if event.content_type_id else "",
        "object_pk": event.object_pk,
        "object_repr": event.object_repr,
        "actor_id": event.actor_id,
        "actor_email": event.actor_email or "",
        "subject_user_id": event.subject_user_id,
        "remote_addr": event.remote_addr or "",
        "user_agent": event.user_agent,
        "request_id": event.cid or "",
        "reason": event.reason,
        "changes": event.changes if event.changes is not None else {},
    }


def audit_events_between(since: dt.datetime | None = None, until: dt.datetime | None = None
                         ) -> QuerySet[AuditEvent]:
    """Events with ``since <= timestamp < until``, oldest first."""
    events = AuditEvent.objects.select_related("content_type").order_by("timestamp", "id")
    if since is not None:
        events = events.filter(timestamp__gte=since)
    if until is not None:
        events = events.filter(timestamp__lt=until)
    return events


def audit_events_export(events: Iterable[AuditEvent] | QuerySet, *, fmt: str = "csv"
                        ) -> Iterator[str]:
    """Stream events as CSV (header first) or JSON lines, one chunk per event; a queryset is
    read in chunks of 2,000 rows (server-side cursor on PostgreSQL)."""
    if fmt not in ("csv", "jsonl"):
        raise ValueError(f"Unknown audit export format {fmt!r}")
    rows = events.iterator(chunk_size=2000) if isinstance(events, QuerySet) else events
    if fmt == "jsonl":
        for event in rows:
            yield json.dumps(audit_event_row(event), cls=DjangoJSONEncoder,
                             ensure_ascii=False) + "\n"
        return
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(EXPORT_COLUMNS)
    yield flush()
    for event in rows:
        row = audit_event_row(event)
        row["changes"] = json.dumps(row["changes"], cls=DjangoJSONEncoder, ensure_ascii=False)
        writer.writerow([row[c] if row[c] is not None else "" for c in EXPORT_COLUMNS])
        yield flush()


# --- Retention ------------------------------------------------------------------------------

#: PostgreSQL setting the append-only trigger checks to let the retention job delete rows.
PURGE_SETTING = "paymint.audit_retention_purge"


def audit_events_purge_before(cutoff: dt.datetime) -> int:
    """Delete events older than ``cutoff`` (the retention job only); returns the count.

    On PostgreSQL the append-only trigger refuses DELETE unless :data:`PURGE_SETTING` is on
    for the transaction; it is set here with ``SET LOCAL`` so it ends with the transaction.
    """
    postgresql = connection.vendor == "postgresql"
    with transaction.atomic():
        if postgresql:
            _set_purge(True)
        try:
            deleted, _ = AuditEvent.objects.filter(timestamp__lt=cutoff).delete()
        finally:
            if postgresql:  # also when called inside a longer transaction
                _set_purge(False)
    return deleted


def _set_purge(on: bool) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config(%s, %s, true)", [PURGE_SETTING, "on" if on else "off"])

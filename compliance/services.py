"""Writes for compliance alerts: raise (idempotent by finding), assign, note, resolve."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import Count
from django.utils import timezone

from paymint.core.error_codes import CoreError
from paymint.core.errors import InvalidTransition, ValidationFailed
from paymint.core.permissions import require_staff

from .enums import ALERT_TRANSITIONS, AlertSeverity, AlertStatus
from .error_codes import ComplianceError
from .models import AlertNote, ComplianceAlert

#: Escalating an alert to a suspicious activity report and exporting the SAR file: the
#: compliance officer's (MLRO's) decisions, the ``compliance`` role only.
ESCALATE_PERMISSION = "compliance.escalate_alert"


def alert_raise(
    *, kind: str, dedupe_key: str, title: str, evidence: dict, severity: str = "MEDIUM",
    invoice=None, related_invoice=None, user=None,
) -> ComplianceAlert:
    """Raise an alert once per finding: a second call with the same ``dedupe_key`` returns the
    existing alert. Works inside or outside the caller's transaction."""
    existing = ComplianceAlert.objects.filter(dedupe_key=dedupe_key).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return ComplianceAlert.objects.create(
                kind=kind, dedupe_key=dedupe_key[:200], title=title[:200], evidence=evidence,
                severity=severity, invoice=invoice, related_invoice=related_invoice, user=user,
            )
    except IntegrityError:
        return ComplianceAlert.objects.get(dedupe_key=dedupe_key)


def _require_staff(actor) -> None:
    require_staff(actor, "Only operations staff work compliance alerts.",
                  permission="compliance.change_compliancealert")


def require_escalation_allowed(actor) -> None:
    """Raise :class:`PermissionDenied` (``ESCALATION_NOT_ALLOWED``) unless ``actor`` is active
    staff with :data:`ESCALATE_PERMISSION` (the ``compliance`` role, or the break-glass
    superuser). Checked by the escalation and by the SAR export (:mod:`compliance.sar`)."""
    require_staff(actor, "Only the compliance officer (MLRO) escalates alerts and exports "
                  "suspicious activity reports.", code=ComplianceError.ESCALATION_NOT_ALLOWED,
                  permission=ESCALATE_PERMISSION)


def alert_transition(*, alert: ComplianceAlert, to_status: str, actor, reason: str = ""
                     ) -> ComplianceAlert:
    """The only writer of ``ComplianceAlert.status``: locks, checks
    :data:`compliance.enums.ALERT_TRANSITIONS`, and records the move as a note.

    Raises:
        PermissionDenied: actor is not staff with ``change_compliancealert``;
            ``ESCALATION_NOT_ALLOWED`` to escalate without :data:`ESCALATE_PERMISSION`.
        InvalidTransition: move not allowed.
        ValidationFailed: ``REASON_REQUIRED`` to resolve or escalate without a reason.
    """
    _require_staff(actor)
    if to_status == AlertStatus.ESCALATED:
        require_escalation_allowed(actor)
    if to_status in (AlertStatus.RESOLVED, AlertStatus.ESCALATED) and not reason.strip():
        raise ValidationFailed("A reason is required.", code=CoreError.REASON_REQUIRED,
                               fields={"reason": ["Required."]})
    with transaction.atomic():
        locked = ComplianceAlert.objects.select_for_update().get(pk=alert.pk)
        if to_status not in ALERT_TRANSITIONS[locked.status]:
            raise InvalidTransition(f"Cannot move a {locked.status} alert to {to_status}.",
                                    code=ComplianceError.INVALID_ALERT_TRANSITION)
        from_status = locked.status
        locked.status = to_status
        fields = ["status", "updated_at"]
        if to_status == AlertStatus.IN_REVIEW and locked.assigned_to_id is None:
            locked.assigned_to = actor
            fields.append("assigned_to")
        if to_status in (AlertStatus.RESOLVED, AlertStatus.ESCALATED):
            locked.resolved_by = actor
            locked.resolved_at = timezone.now()
            locked.resolution = reason.strip()
            fields += ["resolved_by", "resolved_at", "resolution"]
        locked.save(update_fields=fields)
        AlertNote.objects.create(alert=locked, author=actor,
                                 text=f"{from_status} -> {to_status}. {reason}".strip())
    return locked


def alert_assign(*, alert: ComplianceAlert, assignee, actor) -> ComplianceAlert:
    """Assign an alert to a staff member (recorded as a note)."""
    _require_staff(actor)
    _require_staff(assignee)
    with transaction.atomic():
        locked = ComplianceAlert.objects.select_for_update().get(pk=alert.pk)
        locked.assigned_to = assignee
        locked.save(update_fields=["assigned_to", "updated_at"])
        AlertNote.objects.create(alert=locked, author=actor,
                                 text=f"assigned to {assignee.email}")
    return locked


def alert_add_note(*, alert: ComplianceAlert, author, text: str) -> AlertNote:
    """Add a working note to an alert."""
    _require_staff(author)
    if not text.strip():
        raise ValidationFailed("The note is empty.", code=ComplianceError.EMPTY_NOTE,
                               fields={"text": ["Required."]})
    return AlertNote.objects.create(alert=alert, author=author, text=text.strip())


def alert_counts_open_by_severity() -> dict[str, int]:
    """Alerts still to work (open or in review) per severity, highest first, every severity
    present (0 when none): ``{"HIGH": 2, "MEDIUM": 0, "LOW": 5}``. One query (the back
    office's queues)."""
    found = dict(
        ComplianceAlert.objects.filter(status__in=(AlertStatus.OPEN, AlertStatus.IN_REVIEW))
        .values_list("severity").annotate(n=Count("id")).values_list("severity", "n"))
    return {severity: found.get(severity, 0) for severity in reversed(AlertSeverity.values)}

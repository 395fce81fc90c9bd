"""What the other apps may use of compliance - its whole public surface (an import-linter
contract keeps the rest of the app to itself, ``docs/architecture.md``).

- raise an alert for compliance staff: :func:`alert_raise` with an :class:`AlertKind` and an
  :class:`AlertSeverity`; count the alerts still to work: :func:`alert_counts_open_by_severity`;
- ask before moving money or approving KYC: :func:`require_no_hold`, :func:`user_is_on_hold`
  (:func:`open_hold_exists` asks it inside the caller's own query),
  :func:`user_has_screening_hold`, :func:`invoice_has_sanctions_hit`;
- record a staff action in the audit trail: :func:`audit_record`; write the audit rows of a
  block's model changes in one statement: :func:`audit_rows_batched`; show a record's trail
  in the admin: :class:`AuditHistoryMixin`;
- validate a tax id: :func:`validate_tax_id`, :func:`detect_tax_id` (:class:`InvalidTaxId`).

Compliance itself sits on both sides of the apps: this surface (alerts, holds, the audit
trail, tax ids) is below them; screening, monitoring, SAR, retention and data protection read
the other apps and sit above them, reached by task name or by URL only.
"""

from .admin_history import AuditHistoryMixin
from .audit import audit_record, audit_rows_batched
from .enums import AlertKind, AlertSeverity
from .holds import (
    OPEN_HOLD_EXISTS_SQL,
    invoice_has_sanctions_hit,
    open_hold_exists,
    require_no_hold,
    user_has_screening_hold,
    user_is_on_hold,
)
from .services import alert_counts_open_by_severity, alert_raise
from .taxids import EU_COUNTRIES, InvalidTaxId, detect_tax_id, validate_tax_id

__all__ = [
    "EU_COUNTRIES",
    "OPEN_HOLD_EXISTS_SQL",
    "AlertKind",
    "AlertSeverity",
    "AuditHistoryMixin",
    "InvalidTaxId",
    "alert_counts_open_by_severity",
    "alert_raise",
    "audit_record",
    "audit_rows_batched",
    "detect_tax_id",
    "invoice_has_sanctions_hit",
    "open_hold_exists",
    "require_no_hold",
    "user_has_screening_hold",
    "user_is_on_hold",
    "validate_tax_id",
]

"""Database router: django-auditlog's own ``auditlog_logentry`` table is never created.

The audit trail lives in ``compliance.AuditEvent`` (``AUDITLOG_LOGENTRY_MODEL``); auditlog's
initial migration predates swappable log models and would otherwise create its table anyway,
with a foreign key to the users table (which also breaks flushing the test database).
"""

from __future__ import annotations


class AuditlogRouter:
    def allow_migrate(self, db, app_label, model_name=None, **hints):
        if app_label == "auditlog":
            return False
        return None

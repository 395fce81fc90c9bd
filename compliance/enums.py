"""Compliance alert kinds, statuses and their allowed moves."""

from django.db import models


class AlertKind(models.TextChoices):
    DOUBLE_FINANCING = "DOUBLE_FINANCING", "Possible double financing"
    SANCTIONS_HIT = "SANCTIONS_HIT", "Sanctions screening hit"
    PEP_MATCH = "PEP_MATCH", "Politically exposed person (PEP) match: EDD required"
    AML_RULE = "AML_RULE", "Transaction monitoring rule"
    RECONCILIATION = "RECONCILIATION", "Ledger reconciliation difference"
    DEBTOR_DISPUTE = "DEBTOR_DISPUTE", "Debtor disputed an invoice"


class AlertSeverity(models.TextChoices):
    LOW = "LOW", "Low"
    MEDIUM = "MEDIUM", "Medium"
    HIGH = "HIGH", "High"


class AlertStatus(models.TextChoices):
    OPEN = "OPEN", "Open"
    IN_REVIEW = "IN_REVIEW", "In review"
    RESOLVED = "RESOLVED", "Resolved"
    ESCALATED = "ESCALATED", "Escalated (SAR filed)"


ALERT_TRANSITIONS: dict[str, frozenset[str]] = {
    AlertStatus.OPEN: frozenset({AlertStatus.IN_REVIEW, AlertStatus.RESOLVED,
                                 AlertStatus.ESCALATED}),
    AlertStatus.IN_REVIEW: frozenset({AlertStatus.RESOLVED, AlertStatus.ESCALATED}),
    AlertStatus.RESOLVED: frozenset(),
    AlertStatus.ESCALATED: frozenset(),
}

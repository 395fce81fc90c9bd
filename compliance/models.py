"""Compliance alerts worked by ops staff in the back office."""

from __future__ import annotations

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from paymint.core.models import PublicModel

from .enums import AlertKind, AlertSeverity, AlertStatus


class ComplianceAlert(PublicModel):
    """Something ops must look at, with its evidence.

    ``dedupe_key`` is unique: the same finding (e.g. the same pair of duplicate invoices) raises
    one alert however often it is detected. Status changes only through
    ``compliance.services.alert_transition``.
    """

    kind = models.CharField(max_length=24, choices=AlertKind.choices)
    severity = models.CharField(max_length=8, choices=AlertSeverity.choices,
                                default=AlertSeverity.MEDIUM)
    status = models.CharField(max_length=10, choices=AlertStatus.choices,
                              default=AlertStatus.OPEN)
    dedupe_key = models.CharField(max_length=200, unique=True)
    title = models.CharField(max_length=200)
    evidence = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    invoice = models.ForeignKey("invoices.Invoice", null=True, blank=True,
                                on_delete=models.PROTECT, related_name="alerts")
    related_invoice = models.ForeignKey("invoices.Invoice", null=True, blank=True,
                                        on_delete=models.PROTECT, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                             on_delete=models.PROTECT, related_name="alerts")
    assigned_to = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="assigned_alerts")
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="+")
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.TextField(blank=True)

    class Meta:
        ordering = ["status", "-created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.title}"


class AlertNote(models.Model):
    """Append-only working notes on an alert (who, when, what)."""

    alert = models.ForeignKey(ComplianceAlert, on_delete=models.PROTECT, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"note by {self.author_id} at {self.created_at:%Y-%m-%d %H:%M}"

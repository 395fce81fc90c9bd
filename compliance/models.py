"""Compliance alerts worked by ops staff in the back office."""

from __future__ import annotations

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from paymint.core.models import PublicModel, TimeStampedModel

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


# --- Sanctions/PEP screening and account holds ----------------------------------------------


class SanctionedParty(TimeStampedModel):
    """One entry of an official sanctions list, loaded by ``manage.py load_sanctions_list``.

    Unique per (``source``, ``list_id``): reloading a list updates entries in place and removes
    those no longer on it. ``aliases`` are the other names (a.k.a., f.k.a., original script).
    """

    class Source(models.TextChoices):
        UN = "UN", "UN Security Council consolidated list"
        OFAC = "OFAC", "OFAC Specially Designated Nationals (SDN) list"

    class PartyType(models.TextChoices):
        INDIVIDUAL = "INDIVIDUAL", "Individual"
        ENTITY = "ENTITY", "Entity"
        VESSEL = "VESSEL", "Vessel"
        AIRCRAFT = "AIRCRAFT", "Aircraft"

    source = models.CharField(max_length=8, choices=Source.choices)
    list_id = models.CharField(max_length=64,
                               help_text="Id on the list (UN reference, OFAC ent_num)")
    name = models.CharField(max_length=400)
    aliases = models.JSONField(default=list, blank=True)
    party_type = models.CharField(max_length=10, choices=PartyType.choices)
    program = models.CharField(max_length=300, blank=True)
    countries = models.JSONField(default=list, blank=True,
                                 help_text="Nationality/address countries as the list gives them")
    details = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder,
                               help_text="Dates of birth, listing date, remarks")
    loaded_at = models.DateTimeField(help_text="When the list version holding it was loaded")

    class Meta:
        verbose_name_plural = "sanctioned parties"
        ordering = ["source", "list_id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "list_id"],
                                    name="sanctioned_party_unique_list_id"),
        ]

    def __str__(self) -> str:
        return f"{self.source} {self.list_id}: {self.name}"


class AccountHold(TimeStampedModel):
    """A block on a user's money movements pending compliance review (e.g. a sanctions hit).

    Active while ``released_at`` is empty; at most one active hold per user and reason. Money
    services check :func:`compliance.screening.user_is_on_hold` before moving funds.
    """

    class Reason(models.TextChoices):
        SANCTIONS_HIT = "SANCTIONS_HIT", "Sanctions/PEP screening hit"
        AML_REVIEW = "AML_REVIEW", "Transaction monitoring review"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                             related_name="account_holds")
    reason = models.CharField(max_length=16, choices=Reason.choices)
    alert = models.ForeignKey(ComplianceAlert, null=True, blank=True, on_delete=models.PROTECT,
                              related_name="holds")
    released_at = models.DateTimeField(null=True, blank=True)
    released_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="+")
    release_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "reason"],
                                    condition=models.Q(released_at__isnull=True),
                                    name="account_hold_one_active_per_reason"),
            models.CheckConstraint(
                condition=models.Q(released_at__isnull=True) | ~models.Q(release_note=""),
                name="account_hold_release_has_note",
            ),
        ]

    def __str__(self) -> str:
        state = "released" if self.released_at else "active"
        return f"hold on {self.user_id} ({self.reason}, {state})"

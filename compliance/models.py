"""Compliance alerts worked by ops staff in the back office."""

from __future__ import annotations

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from paymint.core.models import PublicModel, TimeStampedModel

from .enums import AlertKind, AlertSeverity, AlertStatus
from .middleware import context_defaults


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
        permissions = [
            # The MLRO's decisions (the ``compliance`` role): escalating to a suspicious
            # activity report and exporting the SAR file. Working an alert otherwise needs
            # only ``change_compliancealert``.
            ("escalate_alert", "Escalate alerts and export SARs"),
        ]

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
    """One entry of an official sanctions list or of the PEP list, loaded by
    ``manage.py load_sanctions_list``.

    Unique per (``source``, ``list_id``): reloading a list updates entries in place and removes
    those no longer on it. ``aliases`` are the other names (a.k.a., f.k.a., original script).
    ``source`` ``PEP`` entries are politically exposed persons (and entities the PEP dataset
    lists), not sanctioned parties: a match calls for enhanced due diligence, not a refusal
    (see :mod:`compliance.screening`).
    """

    class Source(models.TextChoices):
        UN = "UN", "UN Security Council consolidated list"
        OFAC = "OFAC", "OFAC Specially Designated Nationals (SDN) list"
        PEP = "PEP", "Politically exposed persons (OpenSanctions PEP dataset)"

    class PartyType(models.TextChoices):
        INDIVIDUAL = "INDIVIDUAL", "Individual"
        ENTITY = "ENTITY", "Entity"
        VESSEL = "VESSEL", "Vessel"
        AIRCRAFT = "AIRCRAFT", "Aircraft"

    source = models.CharField(max_length=8, choices=Source.choices)
    list_id = models.CharField(max_length=64,
                               help_text="Id on the list (UN reference, OFAC ent_num, "
                                         "OpenSanctions entity id)")
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
    """A block on a user's money movements pending compliance review (a sanctions hit, a PEP
    match awaiting enhanced due diligence, an AML review).

    Active while ``released_at`` is empty; at most one active hold per user and reason. Money
    services check :func:`compliance.holds.user_is_on_hold` before moving funds.

    A ``PEP_REVIEW`` hold is released only with senior-management approval (permission
    ``compliance.approve_pep_relationship``; ``released_by`` is the approver) and the
    enhanced due diligence found: ``edd_source_of_wealth`` and ``edd_source_of_funds``
    (empty on other holds; see :func:`compliance.screening.account_hold_release`).
    """

    class Reason(models.TextChoices):
        SANCTIONS_HIT = "SANCTIONS_HIT", "Sanctions screening hit"
        PEP_REVIEW = "PEP_REVIEW", "PEP match: enhanced due diligence pending"
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
    edd_source_of_wealth = models.CharField(
        max_length=500, blank=True,
        help_text="PEP holds: where the customer's overall wealth comes from (EDD finding)")
    edd_source_of_funds = models.CharField(
        max_length=500, blank=True,
        help_text="PEP holds: where the funds used on PayMint come from (EDD finding)")

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("approve_pep_relationship",
             "Can approve a business relationship with a PEP (senior management)"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["user", "reason"],
                                    condition=models.Q(released_at__isnull=True),
                                    name="account_hold_one_active_per_reason"),
            models.CheckConstraint(
                condition=models.Q(released_at__isnull=True) | ~models.Q(release_note=""),
                name="account_hold_release_has_note",
            ),
            models.CheckConstraint(
                condition=~models.Q(reason="PEP_REVIEW") | models.Q(released_at__isnull=True)
                | (~models.Q(edd_source_of_wealth="") & ~models.Q(edd_source_of_funds="")),
                name="account_hold_pep_release_has_edd",
            ),
        ]

    def __str__(self) -> str:
        state = "released" if self.released_at else "active"
        return f"hold on {self.user_id} ({self.reason}, {state})"


# --- Audit trail and data-subject requests -------------------------------------------------

from contextvars import ContextVar  # noqa: E402

from auditlog.models import AbstractLogEntry, LogEntryManager  # noqa: E402

#: The rows :class:`AuditEventManager` collects instead of inserting one by one, inside
#: :func:`compliance.audit.audit_rows_batched` (None outside it).
AUDIT_BATCH: ContextVar[list | None] = ContextVar("paymint_audit_batch", default=None)


class AuditEventManager(LogEntryManager):
    """Fills in who and from where (:mod:`compliance.middleware`) on every new event, and the
    user an event is about (:func:`compliance.audit.subject_user_id_for`) for model changes."""

    def log_create(self, instance, force_log: bool = False, **kwargs):
        from .audit import actor_for, subject_user_id_for  # why: audit imports this module

        kwargs.setdefault("subject_user_id", subject_user_id_for(instance))
        actor = actor_for(instance)  # the acting user the record names, e.g. a status event's
        if actor is not None:
            kwargs.setdefault("actor", actor)
        return super().log_create(instance, force_log=force_log, **kwargs)

    def create(self, **kwargs):
        for key, value in context_defaults().items():
            if kwargs.get(key) in (None, "") and f"{key}_id" not in kwargs:
                kwargs[key] = value
        actor = kwargs.get("actor")
        if actor is not None and not kwargs.get("actor_email"):
            kwargs["actor_email"] = actor.email
        batch = AUDIT_BATCH.get()
        if batch is not None:  # written with the block's other rows at its end
            event = self.model(**kwargs)
            batch.append(event)
            return event
        return super().create(**kwargs)


class AuditEvent(AbstractLogEntry):
    """One append-only audit row: a model change recorded by django-auditlog (create, update,
    delete with the field diff in ``changes``), or a named staff/user action written by
    :func:`compliance.audit.audit_record` (``event`` such as ``kyc.approve``, with ``reason``).

    Who and from where: ``actor`` (and ``actor_email`` as it was then), ``remote_addr``,
    ``user_agent`` and ``cid`` (the request id of :class:`paymint.core.middleware.
    RequestIdMiddleware`, carried into Celery tasks). ``subject_user`` is the customer the
    event is about (the owner of the changed record), for the data export and per-user history.

    Rows are never changed or deleted by the application: the admin is read-only and, on
    PostgreSQL, a trigger (migration ``0003``) rejects UPDATE and DELETE; only the retention
    job may delete rows older than ``RETENTION["audit_events_years"]``
    (:func:`compliance.audit.audit_events_purge_before`).
    """

    # NULL when unknown, as django-auditlog writes it.
    cid = models.CharField(max_length=255, db_index=True, blank=True, null=True,  # noqa: DJ001
                           verbose_name="request id")
    event = models.CharField(max_length=64, blank=True, db_index=True,
                             help_text="Named action (e.g. kyc.approve); empty for a model diff")
    reason = models.TextField(blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    subject_user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                     on_delete=models.PROTECT, related_name="audit_events_about")

    objects = AuditEventManager()

    class Meta(AbstractLogEntry.Meta):
        verbose_name = "audit event"
        verbose_name_plural = "audit trail"
        ordering = ["-timestamp", "-id"]
        indexes = [models.Index(fields=["content_type", "object_pk"],
                                name="audit_event_object_idx")]

    def __str__(self) -> str:
        if self.event:
            return f"{self.event} {self.object_repr}".strip()
        return super().__str__()


class DataErasureRequest(PublicModel):
    """A user's request to erase their personal data (GDPR Art. 17), executed by staff with
    :func:`compliance.data_protection.erasure_execute`. At most one open request per user."""

    class Status(models.TextChoices):
        REQUESTED = "REQUESTED", "Requested"
        EXECUTED = "EXECUTED", "Executed (personal data anonymized)"
        REJECTED = "REJECTED", "Rejected"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                             related_name="erasure_requests")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.REQUESTED)
    note = models.TextField(blank=True, help_text="What the user wrote with the request")
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="+")
    decision_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["user"],
                                    condition=models.Q(status="REQUESTED"),
                                    name="erasure_request_one_open_per_user"),
            models.CheckConstraint(condition=models.Q(status__in=["REQUESTED", "EXECUTED",
                                                                  "REJECTED"]),
                                   name="erasure_request_status_valid"),
        ]

    def __str__(self) -> str:
        return f"erasure of {self.user_id} ({self.status})"

"""Shared model bases."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models


class TimeStampedModel(models.Model):
    """Adds ``created_at``/``updated_at`` (real time, not the business clock)."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class PublicModel(TimeStampedModel):
    """A model exposed through the API: clients only ever see ``public_id`` (a UUID)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)

    class Meta:
        abstract = True


class IdempotencyRecord(TimeStampedModel):
    """The first response to an API write sent with an ``Idempotency-Key`` header.

    For writes without a business key of their own (uploads, submissions, listings, KYC):
    scoped per user and request path. ``response_status`` is empty while the first request
    is still running. Investments and withdrawals keep their key on their own rows instead.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    key = models.CharField(max_length=255)
    path = models.CharField(max_length=255)
    request_fingerprint = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "path", "key"],
                                    name="idempotency_record_unique_key")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.path} {self.key}"


class OutboundMessage(TimeStampedModel):
    """The outbox: every message to the outside world (email today) is written here first, in
    the same transaction as the business change, then delivered by a task after commit.
    ``dedupe_key`` is unique, so a retried business action never sends twice."""

    class Status(models.TextChoices):
        PENDING = "PENDING", "Pending"
        SENT = "SENT", "Sent"
        FAILED = "FAILED", "Failed"

    dedupe_key = models.CharField(max_length=200, unique=True)
    channel = models.CharField(max_length=10, default="EMAIL")
    recipient = models.EmailField()
    subject = models.CharField(max_length=200)
    body = models.TextField(help_text="The plain-text part (every email has one).")
    html_body = models.TextField(
        blank=True, help_text="The HTML alternative of the body (empty: plain text only)."
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)

    def __str__(self) -> str:
        return f"{self.channel} to {self.recipient}: {self.subject} ({self.status})"


class DomainEvent(TimeStampedModel):
    """Something happened that people should hear about (:mod:`paymint.core.events`).

    Written by the service that made it happen, in the same transaction, so an event exists
    exactly when its change committed. ``key`` is unique (``"<name>:<subject id>[:<detail>]"``):
    emitting the same event twice writes it once. ``recipients`` maps each concerned user's id
    to what that user may be told (``{"<user pk>": {...}}``); ``data`` is what every recipient
    may see. Dispatched once to the handlers the apps register, then ``dispatched_at`` is set.
    """

    key = models.CharField(max_length=200, unique=True)
    name = models.CharField(max_length=64, db_index=True)
    data = models.JSONField(default=dict, blank=True)
    recipients = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField()
    dispatched_at = models.DateTimeField(null=True, blank=True)
    dispatch_attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["occurred_at", "id"]
        indexes = [
            models.Index(
                fields=["created_at"], name="domainevent_undispatched",
                condition=models.Q(dispatched_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return self.key


class DeferredTask(models.Model):
    """A Celery task whose publication failed because the broker was down
    (:mod:`paymint.core.queue`): kept here, after the business change committed, and published
    by the beat sweep (``deferred_tasks_publish_task``) once the broker answers. Tasks are safe
    to run twice, so publishing at least once is enough; the row is deleted once published.
    ``args``/``kwargs`` are the task's JSON arguments (ids, strings)."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    name = models.CharField(max_length=200)
    args = models.JSONField(default=list, encoder=DjangoJSONEncoder)
    kwargs = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.name}{tuple(self.args)} (deferred, {self.attempts} attempt(s))"

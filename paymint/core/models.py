"""Shared model bases."""

from __future__ import annotations

import uuid

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

"""Helpers of the notification tests: emit a domain event the way a service does (inside a
transaction) and let its dispatch run after commit."""

from __future__ import annotations

import pytest
from django.db import transaction

from paymint.core.events import event_emit


@pytest.fixture
def emit(django_capture_on_commit_callbacks):
    """``emit(name, key, recipients, data=None)``: the event committed and dispatched."""

    def _emit(name, key, recipients, data=None):
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            return event_emit(name=name, key=key, recipients=recipients, data=data or {})

    return _emit

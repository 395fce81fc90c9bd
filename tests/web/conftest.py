"""Fixtures for the dashboard tests (the shared ones live in tests/conftest.py)."""

from __future__ import annotations

import pytest
from django.test import Client

from paymint.core import clock
from tests.conftest import LISTING_DAY


@pytest.fixture
def business_day():
    """Freeze the business clock on the Mustang invoice's listing day for the whole test."""
    with clock.frozen_at(LISTING_DAY, all_threads=True):
        yield LISTING_DAY


@pytest.fixture
def login():
    """``login(user)`` -> a test client signed in as ``user``."""

    def _login(user, **kwargs) -> Client:
        client = Client(**kwargs)
        client.force_login(user)
        return client

    return _login


def form_data(form, **overrides) -> dict:
    """POST data for an unbound form as the browser would send it (its initial values)."""
    data = {}
    for name, field in form.fields.items():
        value = form.get_initial_for_field(field, name)
        if value is None:
            value = ""
        elif hasattr(value, "isoformat"):
            value = value.isoformat()
        data[name] = str(value)
    data.update(overrides)
    return data

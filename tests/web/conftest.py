"""Fixtures for the dashboard tests (shared fixtures: tests/conftest.py; helpers:
tests/helpers)."""

from __future__ import annotations

import pytest
from django.test import Client

from paymint.core import clock
from tests.helpers import LISTING_DAY


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

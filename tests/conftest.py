"""Shared fixtures: approved sellers/investors, staff, API clients, signed bank webhooks.

Fixtures only: the helpers tests import live in :mod:`tests.helpers`."""

from __future__ import annotations

import os

import pytest
from django.db import connections
from django.test import Client

from accounts.enums import Role
from accounts.models import User
from accounts.roles import role_groups
from accounts.services import staff_user_create
from tests.factories import approved_user
from tests.helpers import (
    INVESTOR_TAX_IDS,
    STRONG_PASSWORD,
    admin_sign_in,
    api_client_for,
    make_user,
    signed_webhook,
)
from tests.helpers.database import cloned_test_database, template_enabled


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """Give each pytest process its own test database (``test_paymint_<pid>``), so that
    several runs on one machine (developers, CI) never drop each other's database."""
    suffix = f"p{os.getpid()}"
    for alias in connections:
        test = connections[alias].settings_dict.setdefault("TEST", {})
        base = test.get("NAME") or f"test_{connections[alias].settings_dict['NAME']}"
        test["NAME"] = f"{base}_{suffix}"


@pytest.fixture(scope="session")
def django_db_setup(request, django_test_environment, django_db_blocker,
                    django_db_modify_db_settings, django_db_keepdb):
    """pytest-django's database set-up, with the test database cloned from a migrated template
    when one exists (:mod:`tests.helpers.database`: migrating costs each process about ten
    seconds of CPU). Dropped at the end, as pytest-django does."""
    from django.test.utils import setup_databases, teardown_databases

    serialized = {"default"} if any(
        marker.kwargs.get("serialized_rollback")
        for item in request.session.items for marker in item.iter_markers("django_db")
    ) else set()
    verbosity = request.config.option.verbose
    with django_db_blocker.unblock():
        if template_enabled() and not django_db_keepdb:
            with cloned_test_database() as state:
                db_cfg = setup_databases(verbosity=verbosity, interactive=False,
                                         keepdb=state["cloned"], serialized_aliases=serialized)
        else:
            db_cfg = setup_databases(verbosity=verbosity, interactive=False,
                                     keepdb=django_db_keepdb, serialized_aliases=serialized)
    yield
    if not django_db_keepdb:
        with django_db_blocker.unblock():
            teardown_databases(db_cfg, verbosity=verbosity)


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage",
                    "OPTIONS": {"location": tmp_path / "media"}},
    }


@pytest.fixture
def staff(db):
    """The back-office account of the demo: operations and compliance roles, not a superuser
    (a PEP release needs a senior_management user besides)."""
    return staff_user_create(email="ops@example.com", password=STRONG_PASSWORD,
                             roles=("operations", "compliance"))


@pytest.fixture
def seller(staff):
    """An approved seller whose KYB matches the Mustang e-invoice's issuer (Bei Spiel GmbH),
    approved by ``staff``. Written by factories (:func:`tests.factories.approved_user`): tests of
    onboarding itself go through :func:`tests.helpers.make_user`."""
    return approved_user(
        Role.SELLER, "seller@example.com",
        kyc={"legal_name": "Bei Spiel GmbH", "country": "DE", "tax_id": "DE136695976"},
        reviewer=staff,
    )


@pytest.fixture
def make_investor(staff):
    """``make_investor()``: a new investor, ``investor<n>@example.com``, approved by ``staff``
    (written by factories, :func:`tests.factories.approved_user`). ``onboarded=True``: through
    the real services instead (registered, KYC document uploaded, profile sent and approved),
    for tests that read the document, the status events or the decision notification;
    ``approved=False``: sent that way and left pending review."""
    counter = {"n": 0}

    def _make(*, approved: bool = True, email: str | None = None, onboarded: bool = False):
        n = counter["n"]
        counter["n"] += 1
        tax_id = INVESTOR_TAX_IDS[n % len(INVESTOR_TAX_IDS)]
        email = email or f"investor{n}@example.com"
        kyc = {"legal_name": f"Investor {n}", "country": tax_id[:2], "tax_id": tax_id}
        if approved and not onboarded:
            return approved_user(Role.INVESTOR, email, kyc=kyc, reviewer=staff)
        return make_user("INVESTOR", email, kyc=kyc, approve_by=staff if approved else None)

    return _make


@pytest.fixture
def api_client():
    return api_client_for


@pytest.fixture
def webhook():
    return signed_webhook


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """``with committed(): ...`` runs the on-commit callbacks (eager Celery tasks) registered
    inside the block, as the real commit would outside a test transaction."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def ops_client(client, staff):
    """A test client signed in as ``staff`` (operations + compliance roles) with a verified
    TOTP device."""
    return admin_sign_in(client, staff)


@pytest.fixture
def senior_staff(staff):
    """``staff`` given the senior_management role too (may approve PEP relationships)."""

    staff.groups.add(*role_groups(["senior_management"]))
    return type(staff).objects.get(pk=staff.pk)  # fresh: no cached permissions


@pytest.fixture
def superuser_client(db):
    """The break-glass superuser (``createsuperuser``), signed in with two-factor."""


    root = User.objects.create_superuser(email="root@example.com", password=STRONG_PASSWORD)
    return admin_sign_in(Client(), root)

"""The API authentication's user load (accounts.authentication._UserLoader): the same User as
``User.objects.raw`` of the same statement, with ``kyc_approved``."""

from __future__ import annotations

import uuid

import pytest

import accounts.authentication as authentication
from accounts.enums import KycStatus
from accounts.models import User
from tests.helpers import make_user


def raw_user(public_id):
    found = list(User.objects.raw(authentication._USER_WITH_KYC_SQL,
                                  [KycStatus.APPROVED, public_id]))
    return found[0] if found else None


@pytest.mark.django_db
@pytest.mark.parametrize("fresh_loader", [True, False])
def test_same_user_as_the_raw_queryset(staff, make_investor, monkeypatch, fresh_loader):
    if fresh_loader:
        monkeypatch.setattr(authentication, "_USER_LOADER", None)
    approved = make_investor()
    pending = make_user("INVESTOR", "pending@example.com")
    auth = authentication.RevocableJWTAuthentication()
    for user, kyc in ((approved, True), (pending, False), (staff, False)):
        loaded, expected = auth._user_with_kyc(str(user.public_id)), raw_user(user.public_id)
        assert loaded.kyc_approved is expected.kyc_approved is kyc
        assert not loaded._state.adding and loaded._state.db == "default"
        for field in User._meta.concrete_fields:
            assert getattr(loaded, field.attname) == getattr(expected, field.attname)
    assert auth._user_with_kyc(str(uuid.uuid4())) is None
    assert auth._user_with_kyc("not-a-uuid") is None


@pytest.mark.django_db
def test_a_loader_of_another_width_is_replaced(make_investor, monkeypatch):
    investor = make_investor()
    monkeypatch.setattr(authentication, "_USER_LOADER",
                        authentication._UserLoader(["id", "public_id"]))
    loaded = authentication.RevocableJWTAuthentication()._user_with_kyc(str(investor.public_id))
    assert loaded.email == investor.email and loaded.kyc_approved is True
    assert authentication._USER_LOADER.width == len(User._meta.concrete_fields) + 1

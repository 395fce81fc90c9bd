"""Authentication hardening: brute-force lockout (django-axes) on the sign-in page and the API
token endpoint, JWT rotation/blacklist and logout, password change/reset ending other sign-ins,
and the TOTP step-up for large withdrawals."""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import socket
import time
import uuid
from decimal import Decimal

import pytest
import redis
from axes.models import AccessAttempt, AccessLog
from django.conf import settings
from django.core import mail
from django.test import Client
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.settings import api_settings
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts.auth_tokens import access_token_is_revoked, access_token_revoke
from accounts.authentication import RevocableJWTAuthentication
from paymint.core.errors import PermissionDenied
from settlements.models import JournalEntry, Posting, Withdrawal
from tests.helpers import STRONG_PASSWORD, api_client_for, db_counts, deposit, run_in_threads

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "another-horse-staple-77"
ADMIN = "/" + settings.ADMIN_URL


def web(ip: str) -> Client:
    return Client(REMOTE_ADDR=ip)


def api(ip: str = "10.0.0.1") -> APIClient:
    return APIClient(REMOTE_ADDR=ip)


def web_login(client: Client, email: str, password: str):
    return client.post(reverse("login"), {"username": email, "password": password})


def token(client: APIClient, email: str, password: str):
    return client.post("/api/v1/auth/token", {"email": email, "password": password},
                       format="json")


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def limit() -> int:
    return settings.AXES_FAILURE_LIMIT


def code_for(device: TOTPDevice, offset_steps: int = 0) -> str:
    value = totp(device.bin_key, device.step, device.t0, device.digits, device.drift + offset_steps)
    return f"{value:0{device.digits}d}"


# --- Lockout on the sign-in page ------------------------------------------------------------


def test_settings_wire_axes_first_and_last():
    assert settings.AUTHENTICATION_BACKENDS[0] == "axes.backends.AxesStandaloneBackend"
    assert settings.MIDDLEWARE[-1] == "axes.middleware.AxesMiddleware"
    assert settings.AXES_LOCKOUT_PARAMETERS == [["username", "ip_address"]]
    assert settings.AXES_COOLOFF_TIME.total_seconds() == 30 * 60
    assert limit() == 5


def test_sign_in_page_locks_after_the_limit_even_with_the_right_password(seller, make_investor):
    client = web("10.1.0.1")
    for _ in range(limit() - 1):
        response = web_login(client, seller.email, "wrong-password-1")
        assert response.status_code == 200
        assert b"correct email and password" in response.content  # the form's own error
    response = web_login(client, seller.email, "wrong-password-1")
    assert response.status_code == 429
    assert b"Sign-in temporarily locked" in response.content
    assert response["Retry-After"] == str(30 * 60)

    # Locked: the right password is refused too, and nobody is signed in.
    response = web_login(client, seller.email, STRONG_PASSWORD)
    assert response.status_code == 429
    assert not signed_in(client)
    # The email in another case is the same account, so it is locked as well.
    assert web_login(client, "SELLER@Example.com", STRONG_PASSWORD).status_code == 429

    # Another address signs in to the same account; another account signs in from here.
    other_ip = web("10.1.0.2")
    assert web_login(other_ip, seller.email, STRONG_PASSWORD).status_code == 302
    assert signed_in(other_ip)
    investor = make_investor()
    same_ip = web("10.1.0.1")
    assert web_login(same_ip, investor.email, STRONG_PASSWORD).status_code == 302
    assert signed_in(same_ip)


def test_lockout_ends_after_the_cool_off(seller):
    client = web("10.1.1.1")
    for _ in range(limit()):
        web_login(client, seller.email, "wrong-password-1")
    assert web_login(client, seller.email, STRONG_PASSWORD).status_code == 429
    # Age the recorded failures past the cool-off (30 minutes).
    AccessAttempt.objects.update(
        attempt_time=dt.datetime.now(dt.UTC) - settings.AXES_COOLOFF_TIME - dt.timedelta(minutes=1)
    )
    assert web_login(client, seller.email, STRONG_PASSWORD).status_code == 302
    assert signed_in(client)


def test_a_successful_sign_in_clears_the_failure_count(seller):
    client = web("10.1.2.1")
    for _ in range(limit() - 1):
        web_login(client, seller.email, "wrong-password-1")
    assert web_login(client, seller.email, STRONG_PASSWORD).status_code == 302
    assert AccessAttempt.objects.count() == 0
    client = web("10.1.2.1")
    for _ in range(limit() - 1):
        assert web_login(client, seller.email, "wrong-password-1").status_code == 200
    assert web_login(client, seller.email, STRONG_PASSWORD).status_code == 302


def test_admin_login_only_signs_in_through_the_locked_sign_in_page(staff):
    client = web("10.1.3.1")
    for _ in range(limit()):
        web_login(client, staff.email, "wrong-password-1")
    # The admin's own login form never authenticates: it sends to the site's sign-in page.
    response = client.post(ADMIN + "login/", {"username": staff.email,
                                              "password": STRONG_PASSWORD})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert not signed_in(client)
    assert web_login(client, staff.email, STRONG_PASSWORD).status_code == 429
    assert not signed_in(client)


# --- Lockout on the API token endpoint ------------------------------------------------------


def test_token_endpoint_locks_after_the_limit(seller, make_investor):
    client = api("10.2.0.1")
    for _ in range(limit() - 1):
        response = token(client, seller.email, "wrong-password-1")
        assert (response.status_code, response.json()["code"]) == (401, "AUTHENTICATION_FAILED")
    response = token(client, seller.email, "wrong-password-1")
    assert response.status_code == 429
    body = response.json()
    assert body["code"] == "ACCOUNT_LOCKED"
    assert set(body) == {"code", "message", "fields"}
    assert response["Retry-After"] == str(30 * 60)

    # Right password, still locked, no tokens.
    response = token(client, seller.email, STRONG_PASSWORD)
    assert (response.status_code, response.json()["code"]) == (429, "ACCOUNT_LOCKED")
    assert "access" not in response.json()
    response = token(client, "Seller@EXAMPLE.com", STRONG_PASSWORD)
    assert response.json()["code"] == "ACCOUNT_LOCKED"

    # Another IP for this account, and another account from this IP, are unaffected.
    assert token(api("10.2.0.2"), seller.email, STRONG_PASSWORD).status_code == 200
    investor = make_investor()
    assert token(api("10.2.0.1"), investor.email, STRONG_PASSWORD).status_code == 200


def test_failures_on_the_page_and_the_api_add_up(seller):
    page = web("10.2.1.1")
    for _ in range(limit() - 1):
        web_login(page, seller.email, "wrong-password-1")
    response = token(api("10.2.1.1"), seller.email, "wrong-password-1")
    assert (response.status_code, response.json()["code"]) == (429, "ACCOUNT_LOCKED")
    assert web_login(page, seller.email, STRONG_PASSWORD).status_code == 429


def test_api_sign_in_clears_the_failure_count(seller):
    client = api("10.2.2.1")
    for _ in range(limit() - 1):
        token(client, seller.email, "wrong-password-1")
    assert token(client, seller.email, STRONG_PASSWORD).status_code == 200
    for _ in range(limit() - 1):
        assert token(client, seller.email, "wrong-password-1").status_code == 401
    assert token(client, seller.email, STRONG_PASSWORD).status_code == 200


# --- JWT rotation, blacklist, logout -----------------------------------------------------------


def pair(user, ip: str = "10.3.0.1") -> dict:
    response = token(api(ip), user.email, STRONG_PASSWORD)
    assert response.status_code == 200, response.content
    return response.json()


def refresh(raw: str):
    return api().post("/api/v1/auth/token/refresh", {"refresh": raw}, format="json")


def bearer(access: str) -> APIClient:
    client = api()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def test_refresh_rotates_and_the_old_refresh_token_is_refused(seller):
    first = pair(seller)
    response = refresh(first["refresh"])
    assert response.status_code == 200
    second = response.json()
    assert set(second) == {"refresh", "access"}
    assert second["refresh"] != first["refresh"]
    assert bearer(second["access"]).get("/api/v1/me").status_code == 200

    again = refresh(first["refresh"])
    assert (again.status_code, again.json()["code"]) == (401, "TOKEN_REVOKED")
    assert refresh(second["refresh"]).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_concurrent_refreshes_with_one_token_succeed_once(seller):
    raw = pair(seller)["refresh"]
    results = run_in_threads(5, lambda i: refresh(raw).status_code)
    assert sorted(results) == [200, 401, 401, 401, 401], results


def test_invalid_expired_and_wrong_type_tokens_are_refused(seller):
    good = pair(seller)
    assert refresh("not-a-token").json()["code"] == "TOKEN_INVALID"
    assert refresh(good["access"]).json()["code"] == "TOKEN_INVALID"  # an access token
    forged = good["refresh"][:-4] + ("AAAA" if not good["refresh"].endswith("AAAA") else "BBBB")
    assert refresh(forged).json()["code"] == "TOKEN_INVALID"
    expired = RefreshToken.for_user(seller)
    expired.set_exp(lifetime=dt.timedelta(seconds=-10))
    response = refresh(str(expired))
    assert (response.status_code, response.json()["code"]) == (401, "TOKEN_EXPIRED")


def test_an_expired_access_token_says_so_and_a_forged_one_does_not(seller):
    # A mobile client refreshes on TOKEN_EXPIRED and signs in again on anything else.
    expired = AccessToken.for_user(seller)
    expired.set_exp(lifetime=dt.timedelta(seconds=-10))
    response = bearer(str(expired)).get("/api/v1/me")
    assert (response.status_code, response.json()["code"]) == (401, "TOKEN_EXPIRED")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    raw = str(expired)
    forged = raw[:-4] + ("AAAA" if not raw.endswith("AAAA") else "BBBB")
    response = bearer(forged).get("/api/v1/me")
    assert (response.status_code, response.json()["code"]) == (401, "AUTHENTICATION_FAILED")
    assert bearer(pair(seller)["access"]).get("/api/v1/me").status_code == 200


def test_logout_revokes_the_refresh_token(seller, make_investor):
    tokens = pair(seller)
    client = bearer(tokens["access"])
    response = client.post("/api/v1/auth/logout", {"refresh": tokens["refresh"]}, format="json")
    assert response.status_code == 204
    again = refresh(tokens["refresh"])
    assert (again.status_code, again.json()["code"]) == (401, "TOKEN_REVOKED")
    # Logging out twice is harmless (signed in again: the first access token is revoked too).
    response = bearer(pair(seller)["access"]).post(
        "/api/v1/auth/logout", {"refresh": tokens["refresh"]}, format="json")
    assert response.status_code == 204

    # Someone else's refresh token is refused, and stays valid.
    client = bearer(pair(seller)["access"])
    investor = make_investor()
    theirs = pair(investor, ip="10.3.0.2")
    response = client.post("/api/v1/auth/logout", {"refresh": theirs["refresh"]}, format="json")
    assert (response.status_code, response.json()["code"]) == (403, "TOKEN_NOT_OWNED")
    assert refresh(theirs["refresh"]).status_code == 200
    assert client.get("/api/v1/me").status_code == 200  # refused: nothing revoked


def test_logout_needs_a_signed_in_caller_and_a_valid_token(seller):
    tokens = pair(seller)
    response = api().post("/api/v1/auth/logout", {"refresh": tokens["refresh"]}, format="json")
    assert (response.status_code, response.json()["code"]) == (401, "NOT_AUTHENTICATED")
    assert refresh(tokens["refresh"]).status_code == 200  # not revoked
    response = bearer(tokens["access"]).post("/api/v1/auth/logout", {"refresh": "junk"},
                                             format="json")
    assert (response.status_code, response.json()["code"]) == (400, "TOKEN_INVALID")
    assert bearer(tokens["access"]).get("/api/v1/me").status_code == 200  # nothing revoked


# --- Logout revokes the access token it came with (accounts/authentication.py) ----------------


@pytest.fixture
def redis_denylist(settings):
    """The default cache (the access-token denylist) in a real Redis, as in production, under
    a key prefix of its own; returns a raw client on it and the prefix."""
    location = settings.CACHES["throttle"]["LOCATION"]  # the tests' Redis database
    prefix = f"denylist-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    settings.CACHES = {**settings.CACHES, "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": location,
        "KEY_PREFIX": prefix}}
    client = redis.Redis.from_url(location)
    yield client, prefix
    keys = client.keys(f"{prefix}:*")
    if keys:
        client.delete(*keys)


def me(access: str):
    return bearer(access).get("/api/v1/me")


def logout(tokens: dict):
    return bearer(tokens["access"]).post("/api/v1/auth/logout", {"refresh": tokens["refresh"]},
                                         format="json")


def test_settings_use_the_revocable_jwt_authentication():
    assert api_settings.DEFAULT_AUTHENTICATION_CLASSES[0] is RevocableJWTAuthentication


def test_logout_revokes_its_access_token_at_once_and_only_that_one(
        redis_denylist, seller, make_investor):
    phone, laptop = pair(seller), pair(seller, ip="10.3.1.2")
    investor = pair(make_investor(), ip="10.3.1.3")
    assert me(phone["access"]).status_code == 200

    assert logout(phone).status_code == 204

    response = me(phone["access"])
    assert response.status_code == 401
    assert response.json() == {
        "code": "TOKEN_REVOKED",
        "message": "This access token was revoked (logged out); sign in again.", "fields": {}}
    assert response["WWW-Authenticate"].startswith("Bearer")
    # On any protected endpoint, and logging out again with it is refused the same way.
    again = logout(phone)
    assert (again.status_code, again.json()["code"]) == (401, "TOKEN_REVOKED")
    # The user's other device and another user are unaffected.
    assert me(laptop["access"]).status_code == 200
    assert refresh(laptop["refresh"]).status_code == 200
    assert me(investor["access"]).status_code == 200


def test_the_denylist_is_in_the_shared_cache_and_expires_with_the_token(redis_denylist, seller):
    client, prefix = redis_denylist
    tokens = pair(seller)
    access = AccessToken(tokens["access"])
    assert logout(tokens).status_code == 204

    keys = [k.decode() for k in client.keys(f"{prefix}:*")]
    assert keys == [f"{prefix}:1:jwt:denied:{access['jti']}"]
    left = access["exp"] - int(time.time())
    assert 0 < client.ttl(keys[0]) <= left + 2  # gone when the token expires, never kept
    assert left <= settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds()


def test_revoking_a_token_about_to_expire_keeps_it_seconds_and_an_expired_one_not_at_all(
        redis_denylist, seller):
    client, prefix = redis_denylist
    access = AccessToken(pair(seller)["access"])
    assert access_token_revoke(user=seller, token=access, now=access["exp"] - 5) is True
    key = f"{prefix}:1:jwt:denied:{access['jti']}"
    assert 0 < client.ttl(key) <= 6
    assert access_token_is_revoked(jti=access["jti"])

    other = AccessToken(pair(seller, ip="10.3.1.4")["access"])
    assert access_token_revoke(user=seller, token=other, now=other["exp"] + 1) is False
    assert client.keys(f"{prefix}:*") == [key.encode()]


def test_an_access_token_of_another_user_cannot_be_revoked(redis_denylist, seller,
                                                           make_investor):
    theirs = pair(make_investor(), ip="10.3.1.5")
    with pytest.raises(PermissionDenied) as raised:
        access_token_revoke(user=seller, token=AccessToken(theirs["access"]))
    assert raised.value.code == "TOKEN_NOT_OWNED"
    assert me(theirs["access"]).status_code == 200


def test_logout_signed_in_by_session_revokes_the_refresh_token(seller):
    tokens = pair(seller)
    client = api()
    client.force_login(seller)
    response = client.post("/api/v1/auth/logout", {"refresh": tokens["refresh"]}, format="json")
    assert response.status_code == 204
    assert refresh(tokens["refresh"]).json()["code"] == "TOKEN_REVOKED"
    assert me(tokens["access"]).status_code == 200  # not the request's token: untouched


def test_an_unreachable_denylist_fails_open_and_logs(settings, seller, caplog):
    """Losing Redis must not lock everyone out: a revocation then does not stick (the token
    lives until its ``exp``, as before the denylist existed) and the error is logged."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.CACHES = {**settings.CACHES, "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": f"redis://127.0.0.1:{port}/0",
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1}}}
    tokens = pair(seller)
    with caplog.at_level(logging.ERROR, logger="accounts.auth_tokens"):
        assert logout(tokens).status_code == 204
        assert me(tokens["access"]).status_code == 200
    assert refresh(tokens["refresh"]).json()["code"] == "TOKEN_REVOKED"  # in PostgreSQL
    messages = [r.getMessage() for r in caplog.records]
    assert any("denylist unavailable; token" in m for m in messages), messages
    assert any("denylist unavailable; not checked" in m for m in messages), messages


# --- Password change and reset end the other sign-ins -------------------------------------------


def test_password_change_revokes_refresh_tokens_and_other_sessions(seller):
    here, elsewhere = web("10.4.0.1"), web("10.4.0.2")
    assert web_login(here, seller.email, STRONG_PASSWORD).status_code == 302
    assert web_login(elsewhere, seller.email, STRONG_PASSWORD).status_code == 302
    phone, laptop = pair(seller), pair(seller)

    page = here.get(reverse("password-change"))
    assert page.status_code == 200
    response = here.post(reverse("password-change"), {
        "old_password": STRONG_PASSWORD, "new_password1": NEW_PASSWORD,
        "new_password2": NEW_PASSWORD,
    })
    assert response.status_code == 302
    assert response["Location"] == reverse("account-security")

    # This session stays signed in; the other one is signed out.
    assert here.get(reverse("account-security")).status_code == 200
    response = elsewhere.get(reverse("account-security"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    # Every refresh token issued before is revoked, and so is every access token; the new
    # password signs in.
    for tokens in (phone, laptop):
        assert refresh(tokens["refresh"]).json()["code"] == "TOKEN_REVOKED"
        response = bearer(tokens["access"]).get("/api/v1/me")
        assert (response.status_code, response.json()["code"]) == (401, "AUTHENTICATION_FAILED")
    assert token(api(), seller.email, STRONG_PASSWORD).status_code == 401
    assert token(api("10.4.0.3"), seller.email, NEW_PASSWORD).status_code == 200


def test_password_change_with_a_wrong_current_password_changes_nothing(seller):
    client = web("10.4.1.1")
    client.force_login(seller)
    tokens = pair(seller)
    response = client.post(reverse("password-change"), {
        "old_password": "not-my-password", "new_password1": NEW_PASSWORD,
        "new_password2": NEW_PASSWORD,
    })
    assert response.status_code == 200
    seller.refresh_from_db()
    assert seller.check_password(STRONG_PASSWORD)
    assert refresh(tokens["refresh"]).status_code == 200


def test_password_reset_revokes_tokens_ends_sessions_and_clears_the_lockout(
        seller, django_capture_on_commit_callbacks):
    signed_in_elsewhere = web("10.5.0.2")
    signed_in_elsewhere.force_login(seller)
    tokens = pair(seller)
    client = web("10.5.0.1")
    for _ in range(limit()):
        web_login(client, seller.email, "wrong-password-1")
    assert web_login(client, seller.email, STRONG_PASSWORD).status_code == 429

    with django_capture_on_commit_callbacks(execute=True):  # the mail leaves after commit
        client.post(reverse("password-reset"), {"email": seller.email})
    link = re.search(r"https?://[^/\s]+(/password-reset/[^\s]+/)", mail.outbox[0].body).group(1)
    form_page = client.get(link, follow=True)
    response = client.post(form_page.redirect_chain[-1][0],
                           {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert response["Location"] == reverse("password-reset-complete")

    assert refresh(tokens["refresh"]).json()["code"] == "TOKEN_REVOKED"
    assert bearer(tokens["access"]).get("/api/v1/me").status_code == 401
    assert signed_in_elsewhere.get(reverse("account-security")).status_code == 302
    # The mailbox owner is not locked out of the account any more.
    assert web_login(client, seller.email, NEW_PASSWORD).status_code == 302


def test_admin_password_change_revokes_refresh_tokens(superuser_client, seller):
    # Setting someone's password in the admin is for the break-glass superuser only (the
    # staff roles have no change_user: see tests/accounts/test_roles.py).
    tokens = pair(seller)
    response = superuser_client.post(
        f"{ADMIN}accounts/user/{seller.pk}/password/",
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"},
    )
    assert response.status_code == 302, response.content[:500]
    seller.refresh_from_db()
    assert seller.check_password(NEW_PASSWORD)
    assert refresh(tokens["refresh"]).json()["code"] == "TOKEN_REVOKED"


# --- TOTP step-up for large withdrawals ----------------------------------------------------------

THRESHOLD = Decimal("10000")


@pytest.fixture
def rich_investor(make_investor):
    investor = make_investor()
    deposit(investor, "30000.00")
    return investor


@pytest.fixture
def device(rich_investor):
    return TOTPDevice.objects.create(user=rich_investor, name="phone", confirmed=True)


def money_rows() -> dict[str, int]:
    return {**db_counts(), "Withdrawal": Withdrawal.objects.count()}


def withdraw(user, amount, otp_code=None, key=None):
    payload = {"amount": str(amount), "currency": "EUR"}
    if otp_code is not None:
        payload["otp_code"] = otp_code
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return api_client_for(user).post("/api/v1/wallet/withdrawals", payload, format="json",
                                     **headers)


def test_threshold_setting():
    assert settings.PAYMINT["WITHDRAWAL_2FA_THRESHOLD"] == THRESHOLD


def test_below_the_threshold_needs_no_code(rich_investor):
    response = withdraw(rich_investor, THRESHOLD - Decimal("0.01"))
    assert response.status_code == 201, response.content


def test_at_the_threshold_without_a_device_is_refused_and_writes_nothing(rich_investor):
    before = money_rows()
    response = withdraw(rich_investor, THRESHOLD, otp_code="123456")
    assert (response.status_code, response.json()["code"]) == (403, "TWO_FACTOR_SETUP_REQUIRED")
    assert "otp_code" in response.json()["fields"]
    assert money_rows() == before


def test_above_the_threshold_without_or_with_a_wrong_code_writes_nothing(rich_investor, device):
    before = money_rows()
    entries = JournalEntry.objects.count(), Posting.objects.count()
    response = withdraw(rich_investor, "12000.00")
    assert (response.status_code, response.json()["code"]) == (400, "OTP_REQUIRED")
    assert response.json()["fields"] == {"otp_code": ["Enter the code from your "
                                                      "authenticator app."]}
    wrong = f"{(int(code_for(device)) + 1) % 1_000_000:06d}"
    response = withdraw(rich_investor, "12000.00", otp_code=wrong)
    assert (response.status_code, response.json()["code"]) == (400, "INVALID_OTP")
    assert money_rows() == before
    assert (JournalEntry.objects.count(), Posting.objects.count()) == entries


def test_above_the_threshold_with_a_valid_code_is_accepted_once(rich_investor, device):
    code = code_for(device)
    response = withdraw(rich_investor, "12000.00", otp_code=code, key="wd-big-1")
    assert response.status_code == 201, response.content
    assert Withdrawal.objects.get(user=rich_investor).amount == Decimal("12000.00")
    # The replay of the same request returns the first answer without a new code...
    replay = withdraw(rich_investor, "12000.00", otp_code=code, key="wd-big-1")
    assert replay.status_code == 201
    assert replay["Idempotent-Replayed"] == "true"
    # ...but a new withdrawal cannot reuse the code.
    device.refresh_from_db()
    again = withdraw(rich_investor, "12000.00", otp_code=code, key="wd-big-2")
    assert (again.status_code, again.json()["code"]) == (400, "INVALID_OTP")
    assert Withdrawal.objects.filter(user=rich_investor).count() == 1


def test_threshold_per_currency(settings):
    from settlements.services import withdrawal_needs_otp

    assert withdrawal_needs_otp(amount=Decimal("10000"), currency="USD")
    assert not withdrawal_needs_otp(amount=Decimal("10000"), currency="INR")
    assert withdrawal_needs_otp(amount=Decimal("900000"), currency="INR")
    settings.PAYMINT = {**settings.PAYMINT, "WITHDRAWAL_2FA_THRESHOLD": Decimal("500")}
    assert withdrawal_needs_otp(amount=Decimal("500"), currency="EUR")
    assert not withdrawal_needs_otp(amount=Decimal("499.99"), currency="EUR")


def test_dashboard_withdrawal_asks_for_the_code_above_the_threshold(rich_investor, device):
    client = Client()
    client.force_login(rich_investor)
    step1 = client.post(reverse("withdraw"), {"amount": "15000.00", "currency": "EUR"})
    assert step1.status_code == 200
    assert b'name="otp_code"' in step1.content
    key = re.search(rb'name="idempotency_key" value="([0-9a-f]+)"', step1.content).group(1)
    confirm = {"amount": "15000.00", "currency": "EUR", "confirm": "1",
               "idempotency_key": key.decode()}
    before = money_rows()

    response = client.post(reverse("withdraw"), confirm)
    assert response.status_code == 400
    assert b"enter the 6-digit code" in response.content
    response = client.post(reverse("withdraw"), {**confirm, "otp_code": "000000"
                                                 if code_for(device) != "000000" else "111111"})
    assert response.status_code == 400
    assert b"That code is not valid" in response.content
    assert money_rows() == before

    # django-otp delays the next try after a failure; a user would wait a second.
    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_count=0,
                                                   throttling_failure_timestamp=None)
    response = client.post(reverse("withdraw"), {**confirm, "otp_code": code_for(device)})
    assert response.status_code == 302
    assert Withdrawal.objects.get(user=rich_investor).amount == Decimal("15000.00")


def test_dashboard_sends_users_without_a_device_to_set_one_up(rich_investor):
    client = Client()
    client.force_login(rich_investor)
    step1 = client.post(reverse("withdraw"), {"amount": "15000.00", "currency": "EUR"})
    assert step1.status_code == 200
    assert b'name="otp_code"' not in step1.content
    assert reverse("two-factor-setup").encode() in step1.content
    small = client.post(reverse("withdraw"), {"amount": "100.00", "currency": "EUR"})
    assert b'name="otp_code"' not in small.content
    assert b"Confirm and withdraw" in small.content


def test_lockout_counts_the_email_case_insensitively():
    """Sign-in looks emails up case-insensitively, so the failure count must too."""
    from accounts.lockout import axes_username

    assert axes_username(None, {"username": "  Ann@Example.COM "}) == "ann@example.com"
    assert axes_username(None, {"email": "B@X.io", "password": "x"}) == "b@x.io"
    assert axes_username(None, {}) is None


# --- Housekeeping --------------------------------------------------------------------------------


def test_prune_task_drops_expired_tokens_and_stale_sign_in_records(seller):
    from accounts.tasks import auth_records_prune_task

    live = pair(seller, ip="10.6.0.1")
    old = RefreshToken.for_user(seller)
    OutstandingToken.objects.filter(jti=old["jti"]).update(
        expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
    web_login(web("10.6.0.4"), seller.email, STRONG_PASSWORD)  # an access log row
    web_login(web("10.6.0.2"), seller.email, "wrong-password-1")  # a fresh failure: kept
    web_login(web("10.6.0.3"), seller.email, "wrong-password-1")
    # Age them (axes itself only clears expired failures when someone signs in again).
    AccessAttempt.objects.filter(ip_address="10.6.0.3").update(
        attempt_time=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=31))
    AccessLog.objects.update(attempt_time=dt.datetime.now(dt.UTC) - dt.timedelta(days=91))

    result = auth_records_prune_task.delay().get()

    assert result == {"refresh_tokens": 1, "failed_attempts": 1, "access_logs": 1,
                      "sign_in_challenges": 0}
    assert not OutstandingToken.objects.filter(jti=old["jti"]).exists()
    assert refresh(live["refresh"]).status_code == 200
    assert list(AccessAttempt.objects.values_list("ip_address", flat=True)) == ["10.6.0.2"]


def test_a_password_set_outside_the_services_still_ends_api_sign_ins(seller):
    """``manage.py changepassword`` and similar paths bypass the services; the password hash
    carried by the tokens still shuts them out."""
    tokens = pair(seller)
    assert bearer(tokens["access"]).get("/api/v1/me").status_code == 200
    seller.set_password(NEW_PASSWORD)
    seller.save(update_fields=["password"])
    assert bearer(tokens["access"]).get("/api/v1/me").status_code == 401
    response = refresh(tokens["refresh"])
    assert (response.status_code, response.json()["code"]) == (401, "TOKEN_REVOKED")

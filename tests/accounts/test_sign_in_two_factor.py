"""API sign-in with two-factor: no tokens for the password (or a wallet signature) alone.

A user with a confirmed authenticator gets 401 ``OTP_REQUIRED`` with a single-use
``mfa_token`` from ``auth/token`` and from the SEP-10 wallet sign-in; ``auth/token/otp`` with a
current code gives the pair. Wrong codes count towards the same django-axes lockout as wrong
passwords, on the API and in the browser.
"""

from __future__ import annotations

import datetime as dt

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from accounts.models import SignInChallenge
from accounts.sign_in import sign_in_challenges_prune
from tests.helpers import STRONG_PASSWORD, run_in_threads

pytestmark = pytest.mark.django_db


def code_for(device: TOTPDevice, offset_steps: int = 0) -> str:
    value = totp(device.bin_key, device.step, device.t0, device.digits,
                 device.drift + offset_steps)
    return f"{value:0{device.digits}d}"


def wrong_code(device: TOTPDevice) -> str:
    right = {code_for(device, offset) for offset in (-1, 0, 1)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in right)


def api(ip: str = "10.0.0.1") -> APIClient:
    return APIClient(REMOTE_ADDR=ip)


def password_step(client: APIClient, user, password: str = STRONG_PASSWORD):
    return client.post("/api/v1/auth/token", {"email": user.email, "password": password},
                       format="json")


def code_step(client: APIClient, mfa_token: str, code: str):
    return client.post("/api/v1/auth/token/otp", {"mfa_token": mfa_token, "code": code},
                       format="json")


@pytest.fixture
def device(seller):
    return TOTPDevice.objects.create(user=seller, name="phone", confirmed=True)


def test_password_alone_gives_no_tokens_to_a_user_with_two_factor(seller, device):
    before = OutstandingToken.objects.count()
    response = password_step(api(), seller)
    assert response.status_code == 401, response.content
    body = response.json()
    assert body["code"] == "OTP_REQUIRED"
    assert "access" not in body and "refresh" not in body
    assert len(body["mfa_token"]) >= 40
    assert OutstandingToken.objects.count() == before
    # Only a digest is stored.
    challenge = SignInChallenge.objects.get(user=seller)
    assert body["mfa_token"] not in challenge.token_digest
    assert challenge.method == SignInChallenge.Method.PASSWORD


def test_an_unconfirmed_device_does_not_turn_two_factor_on(seller):
    TOTPDevice.objects.create(user=seller, name="pending", confirmed=False)
    response = password_step(api(), seller)
    assert response.status_code == 200 and set(response.json()) == {"access", "refresh"}


def test_the_code_step_gives_the_pair_once(seller, device):
    client = api()
    mfa_token = password_step(client, seller).json()["mfa_token"]
    response = code_step(client, mfa_token, code_for(device))
    assert response.status_code == 200, response.content
    me = client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {response.json()['access']}")
    assert me.status_code == 200 and me.json()["email"] == seller.email

    again = code_step(client, mfa_token, code_for(device, 1))
    assert again.status_code == 401 and again.json()["code"] == "MFA_TOKEN_INVALID"


def test_a_wrong_code_is_refused_and_the_token_may_be_retried(seller, device, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # django-otp's growing delay is tested by django-otp
    client = api()
    mfa_token = password_step(client, seller).json()["mfa_token"]
    before = OutstandingToken.objects.count()
    wrong = code_step(client, mfa_token, wrong_code(device))
    assert wrong.status_code == 400
    assert wrong.json()["code"] == "INVALID_OTP" and "code" in wrong.json()["fields"]
    assert OutstandingToken.objects.count() == before
    assert SignInChallenge.objects.get(user=seller).failed_attempts == 1
    assert code_step(client, mfa_token, code_for(device)).status_code == 200


@pytest.mark.parametrize("case", ["unknown", "expired", "void"])
def test_unknown_expired_and_void_tokens_are_refused(seller, device, case):
    client = api()
    mfa_token = password_step(client, seller).json()["mfa_token"]
    challenge = SignInChallenge.objects.get(user=seller)
    if case == "unknown":
        mfa_token = mfa_token[:-2] + ("AA" if not mfa_token.endswith("AA") else "BB")
    elif case == "expired":
        challenge.expires_at = timezone.now() - dt.timedelta(seconds=1)
        challenge.save(update_fields=["expires_at"])
    else:
        challenge.failed_attempts = 5
        challenge.save(update_fields=["failed_attempts"])
    response = code_step(client, mfa_token, code_for(device))
    assert response.status_code == 401 and response.json()["code"] == "MFA_TOKEN_INVALID"


def test_the_challenge_expires_after_five_minutes(seller, device):
    password_step(api(), seller)
    challenge = SignInChallenge.objects.get(user=seller)
    lifetime = challenge.expires_at - challenge.created_at
    assert dt.timedelta(seconds=299) <= lifetime <= dt.timedelta(seconds=301)
    assert sign_in_challenges_prune(now=challenge.expires_at) == 1


def test_staff_with_two_factor_need_the_code_too(staff):
    if not TOTPDevice.objects.filter(user=staff, confirmed=True).exists():
        TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    response = password_step(api(), staff)
    assert response.status_code == 401 and response.json()["code"] == "OTP_REQUIRED"


def test_wrong_codes_and_wrong_passwords_share_one_lockout(seller, device):
    client = api("10.9.9.9")
    limit = settings.AXES_FAILURE_LIMIT
    assert password_step(client, seller, "not-the-password").status_code == 401
    mfa_token = password_step(client, seller).json()["mfa_token"]
    for _ in range(limit - 2):
        assert code_step(client, mfa_token, wrong_code(device)).status_code == 400
    last = code_step(client, mfa_token, wrong_code(device))
    assert last.status_code == 429 and last.json()["code"] == "ACCOUNT_LOCKED"
    # Locked: the right code and the right password are refused too, nothing is issued.
    before = OutstandingToken.objects.count()
    right = code_step(client, mfa_token, code_for(device))
    assert right.status_code == 429 and right.json()["code"] == "ACCOUNT_LOCKED"
    assert password_step(client, seller).status_code == 429
    assert OutstandingToken.objects.count() == before
    # Another address is not locked out.
    assert password_step(api("10.9.9.10"), seller).json()["code"] == "OTP_REQUIRED"


def test_the_password_alone_does_not_clear_the_failure_count(seller, device):
    # No wrong code here, so django-otp's own delay does not apply.
    client = api("10.8.8.8")
    assert password_step(client, seller, "not-the-password").status_code == 401
    password_step(client, seller)  # right password, second factor pending
    assert AccessAttempt.objects.get(username=seller.email).failures_since_start == 1
    mfa_token = password_step(client, seller).json()["mfa_token"]
    assert code_step(client, mfa_token, code_for(device)).status_code == 200
    assert not AccessAttempt.objects.filter(username=seller.email).exists()


def test_wrong_codes_in_the_browser_count_towards_the_api_lockout(seller, device):
    ip = "10.7.7.7"
    browser = Client(REMOTE_ADDR=ip)
    response = browser.post(reverse("login"), {"username": seller.email,
                                               "password": STRONG_PASSWORD})
    assert response.status_code == 302
    limit = settings.AXES_FAILURE_LIMIT
    for _ in range(limit - 1):
        page = browser.post(reverse("two-factor-verify"), {"token": wrong_code(device)})
        assert page.status_code == 200
    assert AccessAttempt.objects.get(username=seller.email).failures_since_start == limit - 1
    # The last allowed failure is a wrong password on the API: now locked everywhere.
    assert password_step(api(ip), seller, "not-the-password").status_code == 429
    page = browser.post(reverse("two-factor-verify"), {"token": code_for(device)})
    assert page.status_code == 429 and b"locked" in page.content.lower()
    assert "_auth_user_id" not in browser.session


@pytest.mark.django_db(transaction=True)
def test_concurrent_exchanges_of_one_token_succeed_once(seller, device):
    mfa_token = password_step(api(), seller).json()["mfa_token"]
    code = code_for(device)

    def exchange(index: int) -> tuple[int, str]:
        answer = code_step(api(f"10.6.6.{index}"), mfa_token, code)
        return answer.status_code, answer.json().get("code", "")

    results = sorted(run_in_threads(5, exchange))
    assert results[0][0] == 200 and results.count(results[0]) == 1, results
    assert results[1:] == [(401, "MFA_TOKEN_INVALID")] * 4, results

"""Email verification, password reset, optional TOTP two-factor sign-in, and the admin's
two-factor requirement for staff, through the real pages."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.core import mail, signing
from django.test import Client
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.email_verification import email_verification_token, email_verify
from accounts.models import User
from paymint.core.errors import ValidationFailed
from tests.helpers import STRONG_PASSWORD, make_user, verify_from_outbox

pytestmark = pytest.mark.django_db

ADMIN = "/" + settings.ADMIN_URL


def code_for(device: TOTPDevice, offset_steps: int = 0) -> str:
    """The device's current TOTP code (``offset_steps`` moves it by 30-second steps)."""
    value = totp(device.bin_key, device.step, device.t0, device.digits, device.drift + offset_steps)
    return f"{value:0{device.digits}d}"


# --- Email verification ----------------------------------------------------------------------


def test_signup_sends_a_confirmation_link_that_verifies_once(client, committed):
    with committed():
        response = client.post(
            reverse("signup"),
            {"email": "Ina@Example.com", "password": STRONG_PASSWORD, "role": "INVESTOR"},
        )
    assert response.status_code == 302
    user = User.objects.get(email="ina@example.com")
    assert user.email_verified_at is None
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["ina@example.com"]
    assert "/verify-email/" in mail.outbox[0].body

    # Signed in but unverified: a banner on every page with a button to resend.
    page = client.get(reverse("investor-dashboard"))
    assert b"Please confirm your email address" in page.content

    # The link's GET only asks (mail scanners prefetch links); the POST confirms.
    link = re.search(r"(/verify-email/[^\s]+/)", mail.outbox[0].body).group(1)
    client.get(link)
    user.refresh_from_db()
    assert user.email_verified_at is None
    response = verify_from_outbox(client)
    assert response.status_code == 302
    user.refresh_from_db()
    first = user.email_verified_at
    assert first is not None
    assert b"Please confirm your email address" not in client.get(reverse("kyc")).content

    client.post(link)  # a second use changes nothing
    user.refresh_from_db()
    assert user.email_verified_at == first


def test_expired_tampered_and_stale_links_are_refused(settings):
    user = make_user("SELLER", "sam@example.com", email_verified=False)
    token = email_verification_token(user=user)

    with pytest.raises(ValidationFailed) as exc:
        email_verify(token=token[:-2] + "xx")
    assert exc.value.code == "VERIFICATION_LINK_INVALID"

    settings.EMAIL_VERIFICATION_MAX_AGE = -1
    with pytest.raises(ValidationFailed) as exc:
        email_verify(token=token)
    assert exc.value.code == "VERIFICATION_LINK_EXPIRED"
    settings.EMAIL_VERIFICATION_MAX_AGE = 3600

    # A link for a previous email address does not confirm the new one.
    User.objects.filter(pk=user.pk).update(email="sam.new@example.com")
    with pytest.raises(ValidationFailed) as exc:
        email_verify(token=token)
    assert exc.value.code == "VERIFICATION_LINK_INVALID"
    assert User.objects.get(pk=user.pk).email_verified_at is None

    # Another salt's signature (e.g. another feature's link) is not accepted either.
    forged = signing.TimestampSigner(salt="other").sign_object({"user": str(user.public_id)})
    with pytest.raises(ValidationFailed):
        email_verify(token=forged)


def test_bad_link_page_says_so(client):
    response = client.post(reverse("verify-email", args=["nonsense"]), follow=True)
    assert b"not valid" in response.content


def test_resend_is_limited_to_once_a_minute(client, committed):
    user = make_user("SELLER", "rae@example.com", email_verified=False)
    client.force_login(user)
    with committed():
        client.post(reverse("verify-email-resend"))
        again = client.post(reverse("verify-email-resend"), follow=True)
    assert len(mail.outbox) == 1
    assert b"wait a minute" in again.content
    verify_from_outbox(client)
    user.refresh_from_db()
    assert user.email_verified_at is not None


# --- Password reset ---------------------------------------------------------------------------


def test_password_reset_by_email_link_works_once(client, seller, committed):
    with committed():  # the mail leaves through the outbox, after commit
        response = client.post(reverse("password-reset"), {"email": "SELLER@example.com"})
    assert response.status_code == 302
    assert response["Location"] == reverse("password-reset-done")
    assert len(mail.outbox) == 1
    link = re.search(r"https?://[^/\s]+(/password-reset/[^\s]+/)", mail.outbox[0].body).group(1)

    form_page = client.get(link, follow=True)
    assert form_page.context["validlink"]
    post_url = form_page.redirect_chain[-1][0]
    new_password = "another-horse-staple-77"
    response = client.post(post_url, {"new_password1": new_password, "new_password2": new_password})
    assert response.status_code == 302
    assert response["Location"] == reverse("password-reset-complete")
    seller.refresh_from_db()
    assert seller.check_password(new_password)

    # The same link cannot be used again.
    again = Client().get(link, follow=True)
    assert not again.context["validlink"]
    assert b"already used or it expired" in again.content


def test_password_reset_for_unknown_email_looks_the_same(client, db):
    response = client.post(reverse("password-reset"), {"email": "nobody@example.com"})
    assert response.status_code == 302
    assert mail.outbox == []


# --- Optional TOTP for users -------------------------------------------------------------------


def test_enable_totp_then_sign_in_needs_the_code(client, seller):
    client.force_login(seller)
    page = client.get(reverse("two-factor-setup"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "<svg" in html and "<?xml" not in html  # inline QR code
    assert "otpauth://totp/" in html
    device = TOTPDevice.objects.get(user=seller, confirmed=False)
    # Reloading shows the same secret.
    assert client.get(reverse("two-factor-setup")).context["secret"] == page.context["secret"]

    wrong = client.post(reverse("two-factor-setup"), {"token": "000000"})
    assert wrong.status_code == 200
    assert wrong.context["form"].errors["token"]
    assert 'id="id_token_error"' in wrong.content.decode()
    device.refresh_from_db()
    assert not device.confirmed

    device.throttling_failure_count = 0
    device.save()
    done = client.post(reverse("two-factor-setup"), {"token": code_for(device)})
    assert done.status_code == 302
    device.refresh_from_db()
    assert device.confirmed
    assert b"Two-factor sign-in" in client.get(reverse("account-security")).content

    # Signing in now takes the password, then a code.
    browser = Client()
    response = browser.post(
        reverse("login") + "?next=/wallet/",
        {"username": seller.email, "password": STRONG_PASSWORD, "next": "/wallet/"},
    )
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("two-factor-verify"))
    assert browser.get(reverse("wallet")).status_code == 302  # not signed in yet
    bad = browser.post(response["Location"], {"token": "123456"})
    assert bad.status_code == 200
    assert "_auth_user_id" not in browser.session
    device.refresh_from_db()
    device.throttling_failure_count = 0
    device.save()
    good = browser.post(response["Location"], {"token": code_for(device, 1), "next": "/wallet/"})
    assert good.status_code == 302
    assert good["Location"] == "/wallet/"
    assert browser.session[DEVICE_ID_SESSION_KEY] == device.persistent_id
    assert browser.get(reverse("wallet")).status_code == 200


def test_code_step_without_a_password_step_starts_again(client):
    response = client.get(reverse("two-factor-verify"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_code_step_refuses_an_offsite_next(client, seller):
    device = TOTPDevice.objects.create(user=seller, name="phone", confirmed=True)
    client.post(reverse("login"), {"username": seller.email, "password": STRONG_PASSWORD})
    response = client.post(
        reverse("two-factor-verify"), {"token": code_for(device), "next": "https://evil.example/"}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard")


def test_user_can_turn_totp_off_with_the_password_and_a_code(client, seller):
    device = TOTPDevice.objects.create(user=seller, name="phone", confirmed=True)
    client.force_login(seller)
    wrong_code = {"password": STRONG_PASSWORD, "token": "000000"}
    assert client.post(reverse("two-factor-disable"), wrong_code).status_code == 400
    wrong_password = {"password": "not-my-password-1", "token": code_for(device)}
    refused = client.post(reverse("two-factor-disable"), wrong_password)
    assert refused.status_code == 400 and b"password is not right" in refused.content
    assert TOTPDevice.objects.filter(user=seller).exists()
    device.refresh_from_db()
    device.throttling_failure_count = 0
    device.save()
    response = client.post(reverse("two-factor-disable"),
                           {"password": STRONG_PASSWORD, "token": code_for(device)})
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=seller).exists()


# --- Staff must use two-factor for the admin ---------------------------------------------------


def test_admin_sends_anonymous_visitors_to_the_site_sign_in(client):
    response = client.get(ADMIN)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login") + "?next=")
    response = client.get(ADMIN + "login/?next=" + ADMIN + "accounts/")
    assert response["Location"].startswith(reverse("login"))


def test_staff_without_a_device_enrol_on_first_admin_visit(client, staff):
    client.post(reverse("login"), {"username": staff.email, "password": STRONG_PASSWORD})
    response = client.get(ADMIN)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("two-factor-setup"))
    page = client.get(response["Location"])
    assert b"Staff accounts need two-factor sign-in" in page.content
    device = TOTPDevice.objects.get(user=staff, confirmed=False)
    done = client.post(reverse("two-factor-setup"), {"token": code_for(device), "next": ADMIN})
    assert done["Location"] == ADMIN
    assert client.get(ADMIN).status_code == 200
    # Staff cannot turn it off.
    device.refresh_from_db()
    client.post(reverse("two-factor-disable"), {"token": code_for(device, 1)})
    assert TOTPDevice.objects.filter(user=staff, confirmed=True).exists()


def test_staff_with_a_device_but_unverified_session_must_give_a_code(client, staff):
    device = TOTPDevice.objects.create(user=staff, name="ops phone", confirmed=True)
    client.force_login(staff)  # e.g. a session from before the device existed
    response = client.get(ADMIN + "accounts/kycprofile/")
    assert response["Location"].startswith(reverse("two-factor-verify"))
    done = client.post(response["Location"], {"token": code_for(device)})
    assert done["Location"] == ADMIN + "accounts/kycprofile/"
    assert client.get(ADMIN + "accounts/kycprofile/").status_code == 200


def test_staff_password_then_code_reaches_the_admin(client, staff):
    device = TOTPDevice.objects.create(user=staff, name="ops phone", confirmed=True)
    response = client.post(
        reverse("login") + f"?next={ADMIN}",
        {"username": staff.email, "password": STRONG_PASSWORD, "next": ADMIN},
    )
    assert response["Location"].startswith(reverse("two-factor-verify"))
    done = client.post(response["Location"], {"token": code_for(device), "next": ADMIN})
    assert done["Location"] == ADMIN
    assert client.get(ADMIN).status_code == 200


def test_non_staff_are_not_let_into_the_admin(client, seller):
    client.force_login(seller)
    response = client.get(ADMIN)
    assert response.status_code == 302
    assert response["Location"].startswith(ADMIN + "login/")
    assert client.get(response["Location"]).status_code == 403  # no redirect loop

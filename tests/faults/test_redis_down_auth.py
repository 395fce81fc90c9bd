"""Every step of an API session while Redis - the default cache (denylist of logged-out access
tokens, e-mail resend marks), the rate-limit cache and the live-updates channel - is stopped:
sign-in with the password and with two-factor (``auth/token`` then ``auth/token/otp``), reads,
a token refresh and logout all answer as with Redis up. Redis holds nothing the sign-in needs
(the ``mfa_token`` is a :class:`accounts.models.SignInChallenge` row, axes counts in the
database), and the caches it does hold fail open and log.

Issue #18's soak saw 401s only in its Redis windows: they were its access tokens expiring
(15 minutes after the soak's first sign-in, which fell in the second Redis window), not Redis
(see the soak paragraph of benchmarks/README.md)."""

from __future__ import annotations

import pytest
from django.db import connection

from tests.faults.conftest import Server, load_schema, manage, server_env

pytestmark = [pytest.mark.faults, pytest.mark.slow]

PASSWORD = "Correct-Horse-Battery-9"
PLAIN = "faults-redis-plain@example.com"
#: Two users with two-factor: a TOTP code is single use, and both sessions run in one step.
TWO_FACTOR = ("faults-redis-2fa-up@example.com", "faults-redis-2fa-down@example.com")

SEED = f"""
from django_otp.plugins.otp_totp.models import TOTPDevice
from accounts.services import user_register
user_register(email='{PLAIN}', password='{PASSWORD}', role='INVESTOR')
for email in {TWO_FACTOR!r}:
    user = user_register(email=email, password='{PASSWORD}', role='INVESTOR')
    print(TOTPDevice.objects.create(user=user, name='phone', confirmed=True).key)
"""


def _code(key_hex: str) -> str:
    from django_otp.oath import totp

    return f"{totp(bytes.fromhex(key_hex)):06d}"


def _session(server: Server, email: str, totp_key: str | None) -> dict[str, tuple]:
    """Sign in (both steps when ``totp_key``), read, refresh, read, log out, read again:
    every answer, by step."""
    seen: dict[str, tuple] = {}
    status, body, head = server.request(
        "POST", "/api/v1/auth/token", {"email": email, "password": PASSWORD}
    )
    seen["sign_in"] = (status, body.get("code"), head.get("Retry-After"))
    if totp_key is not None:
        status, body, head = server.request(
            "POST",
            "/api/v1/auth/token/otp",
            {"mfa_token": body.get("mfa_token", ""), "code": _code(totp_key)},
        )
        seen["otp"] = (status, body.get("code"), head.get("Retry-After"))
    access, refresh = body.get("access", ""), body.get("refresh", "")
    for path in ("/api/v1/me", "/api/v1/wallet", "/api/v1/investments", "/api/v1/marketplace"):
        status, body, head = server.request(
            "GET", path, headers={"Authorization": f"Bearer {access}"}
        )
        seen[path] = (status, body.get("code") if isinstance(body, dict) else None)
    status, body, head = server.request("POST", "/api/v1/auth/token/refresh", {"refresh": refresh})
    seen["refresh"] = (status, body.get("code"), head.get("Retry-After"))
    access, refresh = body.get("access", ""), body.get("refresh", "")
    status, body, _ = server.request(
        "GET", "/api/v1/me", headers={"Authorization": f"Bearer {access}"}
    )
    seen["me_after_refresh"] = (status, body.get("code"))
    status, body, head = server.request(
        "POST",
        "/api/v1/auth/logout",
        {"refresh": refresh},
        headers={"Authorization": f"Bearer {access}"},
    )
    seen["logout"] = (status, body.get("code"), head.get("Retry-After"))
    status, body, head = server.request("POST", "/api/v1/auth/token/refresh", {"refresh": refresh})
    seen["refresh_after_logout"] = (status, body.get("code"))
    return seen


@pytest.mark.django_db
def test_an_api_session_works_from_sign_in_to_logout_while_redis_is_stopped(
    local_postgres, local_redis, tmp_path
):
    s = connection.settings_dict
    source = f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
    env = server_env(
        load_schema(source, local_postgres),
        REDIS_URL=f"{local_redis.url}/0",
        CACHE_URL=f"{local_redis.url}/1",
        THROTTLE_CACHE_URL=f"{local_redis.url}/2",
        LIVE_UPDATES_REDIS_URL=f"{local_redis.url}/3",
        MEDIA_ROOT=str(tmp_path),
    )
    keys = manage("shell", "-c", SEED, env=env).stdout.strip().splitlines()[-2:]
    server = Server(env)
    try:
        up = {
            "plain": _session(server, PLAIN, None),
            "2fa": _session(server, TWO_FACTOR[0], keys[0]),
        }
        local_redis.stop()
        down = {
            "plain": _session(server, PLAIN, None),
            "2fa": _session(server, TWO_FACTOR[1], keys[1]),
        }
        assert down == up  # every step answers as with Redis up: nothing depends on it
        for steps in down.values():
            assert steps["/api/v1/me"][0] == steps["me_after_refresh"][0] == 200
            assert steps["refresh"][0] == 200 and steps["logout"][0] == 204
            assert steps["refresh_after_logout"] == (401, "TOKEN_REVOKED")
        assert down["plain"]["sign_in"][0] == down["2fa"]["otp"][0] == 200
        server.log.seek(0)
        log = server.log.read().decode(errors="replace")
        assert "access-token denylist unavailable" in log  # failed open, and logged
        assert "throttle cache unavailable" in log
    finally:
        local_redis.stop()
        server.stop()

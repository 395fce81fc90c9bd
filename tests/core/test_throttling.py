"""Rate limits (paymint/core/throttling.py) against the real Redis: every scope answers 429 with
``Retry-After`` past its rate, per IP or per user, and counting is atomic under concurrency.

Each test counts under its own key prefix (so runs and tests never share counters) and sets
its own low rates with a one-day window (so no test straddles a window boundary)."""

from __future__ import annotations

import socket
import uuid

import pytest
import redis
from django.conf import settings as django_settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.core.exceptions import ImproperlyConfigured
from django.test import Client, RequestFactory
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import User
from marketplace.models import Investment
from paymint.core import clock
from paymint.core.throttling import LoginThrottle, client_ip, parse_rate
from tests.factories import mustang_listing
from tests.helpers import (
    LISTING_DAY,
    STRONG_PASSWORD,
    api_client_for,
    bank_event,
    deposit,
    run_in_threads,
    signed_webhook,
)

DAY = 24 * 3600


@pytest.fixture
def rates(settings):
    """``rates(login="3/d", ...)`` sets those scopes' rates; counters start empty."""
    prefix = f"throttle-test-{uuid.uuid4().hex}"
    location = settings.CACHES["throttle"]["LOCATION"]
    settings.CACHES = {
        **settings.CACHES,
        "throttle": {**settings.CACHES["throttle"], "KEY_PREFIX": prefix},
    }

    def _set(**scopes: str) -> str:
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {
                **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], **scopes
            },
        }
        return prefix

    yield _set
    client = redis.Redis.from_url(location)
    keys = client.keys(f"{prefix}:*")
    if keys:
        client.delete(*keys)


def assert_throttled(response) -> None:
    assert response.status_code == 429, response.content[:300]
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= DAY
    if response["Content-Type"].startswith("application/json"):
        body = response.json()
        assert set(body) == {"code", "message", "fields"}
        assert body["code"] == "RATE_LIMITED"


# --- Pieces ----------------------------------------------------------------------------------


def test_counters_live_in_redis(rates):
    assert isinstance(caches["throttle"], RedisCache)
    prefix = rates(login="2/d")
    request = RequestFactory().post("/", REMOTE_ADDR="192.0.2.10")
    assert LoginThrottle().allow_request(request)
    client = redis.Redis.from_url(django_settings.CACHES["throttle"]["LOCATION"])
    keys = [k.decode() for k in client.keys(f"{prefix}:*")]
    assert len(keys) == 1 and "login:ip:192.0.2.10" in keys[0]
    assert int(client.get(keys[0])) == 1


@pytest.mark.parametrize(("rate", "parsed"), [
    ("10/min", (10, 60)), ("5/s", (5, 1)), ("100/hour", (100, 3600)), ("3/d", (3, DAY)),
    ("5/15m", (5, 900)),
])
def test_parse_rate(rate, parsed):
    assert parse_rate(rate) == parsed


@pytest.mark.parametrize("rate", ["10", "x/min", "10/fortnight", "10/"])
def test_parse_rate_refuses_nonsense(rate):
    with pytest.raises(ImproperlyConfigured):
        parse_rate(rate)


def test_client_ip_trusts_forwarded_for_only_behind_configured_proxies(settings):
    factory = RequestFactory()
    request = factory.get("/", REMOTE_ADDR="10.9.0.1",
                          HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7")
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_ip(request) == "10.9.0.1"  # a client cannot pick its address
    settings.TRUSTED_PROXY_COUNT = 1
    assert client_ip(request) == "203.0.113.7"  # what our one proxy saw
    settings.TRUSTED_PROXY_COUNT = 3
    assert client_ip(request) == "10.9.0.1"  # fewer hops than proxies: not trusted


def test_only_post_counts(rates):
    rates(login="1/d")
    factory = RequestFactory()
    for _ in range(3):
        assert LoginThrottle().allow_request(factory.get("/", REMOTE_ADDR="192.0.2.20"))
    assert LoginThrottle().allow_request(factory.post("/", REMOTE_ADDR="192.0.2.20"))
    assert not LoginThrottle().allow_request(factory.post("/", REMOTE_ADDR="192.0.2.20"))


def test_concurrent_requests_never_pass_the_limit_together(rates):
    rates(login="5/d")
    factory = RequestFactory()

    def attempt(_):
        return LoginThrottle().allow_request(factory.post("/", REMOTE_ADDR="192.0.2.30"))

    results = run_in_threads(20, attempt)
    assert results.count(True) == 5, results


def test_unreachable_cache_lets_requests_through(rates, settings):
    rates(login="0/d")  # with a working cache every request would be refused
    request = RequestFactory().post("/", REMOTE_ADDR="192.0.2.40")
    assert not LoginThrottle().allow_request(request)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    settings.CACHES = {
        **settings.CACHES,
        "throttle": {**settings.CACHES["throttle"],
                     "LOCATION": f"redis://127.0.0.1:{closed_port}/0"},
    }
    assert LoginThrottle().allow_request(request)


def test_test_settings_never_throttle_the_suite():
    for rate in django_settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"].values():
        assert parse_rate(rate)[0] >= 100_000


# --- Each scope through its endpoints -------------------------------------------------------


@pytest.mark.django_db
def test_login_scope_per_ip_on_the_token_endpoint(rates, seller):
    rates(login="3/d")
    client = APIClient(REMOTE_ADDR="192.0.2.50")
    for password in ("wrong-password-1", "wrong-password-2", STRONG_PASSWORD):
        response = client.post("/api/v1/auth/token",
                               {"email": seller.email, "password": password}, format="json")
        assert response.status_code in (200, 401)
    response = client.post("/api/v1/auth/token",
                           {"email": seller.email, "password": STRONG_PASSWORD}, format="json")
    assert_throttled(response)
    other = APIClient(REMOTE_ADDR="192.0.2.51")
    response = other.post("/api/v1/auth/token",
                          {"email": seller.email, "password": STRONG_PASSWORD}, format="json")
    assert response.status_code == 200


@pytest.mark.django_db
def test_login_scope_on_the_wallet_sign_in(rates):
    """Signing in with a SEP-10 wallet is a sign-in: the login scope counts it per IP, whether
    the signature checks out or not."""
    rates(login="2/d")
    client = APIClient(REMOTE_ADDR="192.0.2.62")
    for _ in range(2):
        response = client.post("/api/v1/stellar/auth/login", {"transaction": "not-a-challenge"},
                               format="json")
        assert response.status_code in (400, 401, 403)
    response = client.post("/api/v1/stellar/auth/login", {"transaction": "not-a-challenge"},
                           format="json")
    assert_throttled(response)


@pytest.mark.django_db
def test_login_scope_on_the_sign_in_page(rates, seller):
    rates(login="2/d")
    client = Client(REMOTE_ADDR="192.0.2.60")
    for _ in range(2):
        assert client.post(reverse("login"), {"username": seller.email,
                                              "password": "wrong-password-1"}).status_code == 200
    response = client.post(reverse("login"), {"username": seller.email,
                                              "password": STRONG_PASSWORD})
    assert_throttled(response)
    assert b"Too many requests" in response.content
    assert "_auth_user_id" not in client.session
    assert client.get(reverse("login")).status_code == 200  # the page itself still shows


@pytest.mark.django_db
def test_registration_scope_per_ip(rates):
    rates(registration="2/d")
    client = APIClient(REMOTE_ADDR="192.0.2.70")

    def register(email, api=client):
        return api.post("/api/v1/auth/register",
                        {"email": email, "password": STRONG_PASSWORD, "role": "INVESTOR"},
                        format="json")

    assert register("a@example.com").status_code == 201
    assert register("b@example.com").status_code == 201
    assert_throttled(register("c@example.com"))
    assert not User.objects.filter(email="c@example.com").exists()
    # The sign-up page shares the per-IP count.
    page = Client(REMOTE_ADDR="192.0.2.70")
    response = page.post(reverse("signup"), {"email": "d@example.com",
                                             "password": STRONG_PASSWORD, "role": "INVESTOR"})
    assert_throttled(response)
    assert not User.objects.filter(email="d@example.com").exists()
    assert register("e@example.com", APIClient(REMOTE_ADDR="192.0.2.71")).status_code == 201


@pytest.mark.django_db
def test_funding_scope_per_investor(rates, seller, make_investor):
    rates(funding="2/d")
    listing = mustang_listing(seller)
    investor, other = make_investor(), make_investor()
    deposit(investor, "1000.00")
    deposit(other, "1000.00")

    def invest(user):
        with clock.frozen_at(LISTING_DAY):
            return api_client_for(user).post(
                f"/api/v1/marketplace/{listing.public_id}/investments", {"amount": "100.00"},
                format="json",
            )

    assert invest(investor).status_code == 201
    assert invest(investor).status_code == 201
    before = Investment.objects.count()
    assert_throttled(invest(investor))
    assert Investment.objects.count() == before
    assert invest(other).status_code == 201


@pytest.mark.django_db
def test_uploads_scope_per_user_for_invoices_and_kyc_documents(rates, seller, make_investor):
    rates(uploads="2/d")
    client = api_client_for(seller)
    for _ in range(2):  # empty uploads are refused by the view, but they count
        assert client.post("/api/v1/invoices", {}, format="multipart").status_code == 400
    assert_throttled(client.post("/api/v1/invoices", {}, format="multipart"))
    assert client.get("/api/v1/invoices").status_code == 200  # reads are never limited

    # The onboarding form (KYC/KYB document upload) shares the user's count.
    page = Client()
    page.force_login(seller)
    response = page.post(reverse("kyc"), {"legal_name": "Bei Spiel GmbH"})
    assert_throttled(response)
    # Another user has their own count.
    investor = make_investor(approved=False)
    other = Client()
    other.force_login(investor)
    assert other.post(reverse("kyc"), {"legal_name": "Someone"}).status_code != 429


@pytest.mark.django_db
def test_webhooks_scope_per_ip(rates):
    rates(webhooks="2/d")
    bank = APIClient(REMOTE_ADDR="192.0.2.80")
    for n in range(2):
        event = bank_event(f"evt_thr_{n}", "deposit.received", "PM-UNKNOWN1", "10.00")
        assert signed_webhook(bank, event).status_code != 429
    assert_throttled(signed_webhook(bank, bank_event("evt_thr_2", "deposit.received",
                                                     "PM-UNKNOWN1", "10.00")))
    other_bank = APIClient(REMOTE_ADDR="192.0.2.81")
    response = signed_webhook(other_bank, bank_event("evt_thr_3", "deposit.received",
                                                     "PM-UNKNOWN1", "10.00"))
    assert response.status_code != 429

"""A dependency down: the API answers 503 SERVICE_UNAVAILABLE with Retry-After in the standard
JSON error body, web pages a friendly 503 page; any other uncaught error is a 500 in the same
shapes (paymint/core/outage.py, paymint.core.api.server_error). The real outages (PostgreSQL,
Redis, S3 stopped) are in tests/faults/."""

from __future__ import annotations

import botocore.exceptions
import kombu.exceptions
import pytest
import redis.exceptions
from django.db import InterfaceError, OperationalError
from django.test import Client
from rest_framework.test import APIClient

from paymint.core import health
from paymint.core.outage import dependency_down

pytestmark = pytest.mark.django_db


@pytest.fixture
def investor(make_investor):
    return make_investor()


def failing(monkeypatch, exc: BaseException) -> None:
    """The marketplace's selector (the API's rows of it and the page's queryset) raises
    ``exc``."""

    def boom(**kwargs):
        raise exc

    monkeypatch.setattr("marketplace.api.listing_search_values", boom)
    monkeypatch.setattr("marketplace.views.listing_search", boom)


def api_get(user, path="/api/v1/marketplace"):
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(user)
    return client.get(path)


@pytest.mark.parametrize(
    ("exc", "dependency"),
    [
        (
            OperationalError("connection to server at 127.0.0.1 failed: Connection refused"),
            "database",
        ),
        (InterfaceError("connection already closed"), "database"),
        (redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6379"), "cache"),
        (kombu.exceptions.OperationalError("[Errno 111] Connection refused"), "broker"),
        (botocore.exceptions.EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), "storage"),
    ],
)
def test_an_api_call_with_a_dependency_down_answers_503_json_with_retry_after(
    monkeypatch, investor, exc, dependency
):
    failing(monkeypatch, exc)
    response = api_get(investor)
    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response["Retry-After"] == "5"
    assert response.json() == {
        "code": "SERVICE_UNAVAILABLE",
        "message": "PayMint is briefly unavailable. Please try again in a moment.",
        "fields": {},
        "dependency": dependency,
    }


def test_a_wrapped_outage_is_recognised_through_the_cause_chain():
    try:
        try:
            raise OperationalError("server closed the connection unexpectedly")
        except OperationalError as inner:
            raise RuntimeError("while reading the listing") from inner
    except RuntimeError as outer:
        assert dependency_down(outer) == "database"
    assert dependency_down(ValueError("no")) is None
    assert dependency_down(None) is None


def test_any_other_uncaught_api_error_is_a_500_json_body(monkeypatch, investor, settings):
    settings.SERVICE_UNAVAILABLE_RETRY_AFTER = 30
    failing(monkeypatch, ZeroDivisionError("bug"))
    response = api_get(investor)
    assert response.status_code == 500
    assert response.json() == {
        "code": "INTERNAL_ERROR",
        "message": "Something went wrong on our side.",
        "fields": {},
    }
    assert "Retry-After" not in response


def test_an_outage_outside_drf_under_api_is_json_too(monkeypatch, investor):
    """An error raised by middleware or a plain Django view under /api/ reaches handler500,
    not DRF's handler: still the JSON body, not Django's HTML page."""

    def boom(*args, **kwargs):
        raise OperationalError("terminating connection due to administrator command")

    monkeypatch.setattr("paymint.core.middleware.RequestIdMiddleware.__call__", boom)
    response = Client(raise_request_exception=False).get("/api/v1/marketplace")
    assert response.status_code == 503
    assert response.json()["code"] == "SERVICE_UNAVAILABLE"
    assert response["Retry-After"] == "5"


def test_web_pages_show_friendly_503_and_500_pages(monkeypatch, investor, settings):
    settings.SERVICE_UNAVAILABLE_RETRY_AFTER = 7
    client = Client(raise_request_exception=False)
    client.force_login(investor)
    failing(monkeypatch, OperationalError("could not connect to server"))
    response = client.get("/marketplace/")
    assert response.status_code == 503 and response["Retry-After"] == "7"
    assert "text/html" in response["Content-Type"]
    page = response.content.decode()
    assert "PayMint is briefly unavailable" in page and "try again in 7 seconds" in page
    assert "Traceback" not in page and "could not connect" not in page

    failing(monkeypatch, ZeroDivisionError("bug"))
    response = client.get("/marketplace/")
    assert response.status_code == 500 and "Retry-After" not in response
    assert "Something went wrong" in response.content.decode()


def test_healthz_stays_a_liveness_probe_while_readyz_names_what_is_down(client, monkeypatch):
    def down():
        raise OperationalError("connection refused")

    monkeypatch.setitem(health.READINESS_CHECKS, "database", down)
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"] == {
        "status": "fail",
        "duration_ms": ready.json()["checks"]["database"]["duration_ms"],
        "error": "OperationalError",
    }

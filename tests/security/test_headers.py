"""Browser security headers on every kind of page, and the CSP violation report endpoint.

Page types: public (sign-in), a signed-in dashboard, the invoice page with the document
viewer and its rendered page image, the admin (staff with two-factor), the JSON API, a private
file download and an error page. Every one sends the site's Content-Security-Policy (the
admin its own, the download a stricter one), Referrer-Policy, Permissions-Policy and
Cross-Origin-Opener-Policy. The templates and the admin's HTML helpers carry no inline script
or style that the policy would block.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from paymint.core.storage import private_file_token
from tests.helpers import api_client_for, uploaded

pytestmark = pytest.mark.django_db


def policy(response) -> dict[str, list[str]]:
    """The Content-Security-Policy header as ``{directive: [sources]}``."""
    header = response["Content-Security-Policy"]
    parts = (p.strip().split() for p in header.split(";") if p.strip())
    return {p[0]: p[1:] for p in parts}


def assert_site_policy(response, *, admin: bool = False) -> dict:
    csp = policy(response)
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"][0] == "'self'"
    assert all(s == "'self'" or s.startswith("'nonce-") for s in csp["script-src"]), csp
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'self'"]
    assert csp["form-action"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["report-uri"] == [settings.CSP_REPORT_PATH]
    assert csp["report-to"] == ["csp-endpoint"]
    assert response["Reporting-Endpoints"] == f'csp-endpoint="{settings.CSP_REPORT_PATH}"'
    # The admin's change lists have a <style> element: inline styles there, never scripts.
    assert csp["style-src"] == (["'self'", "'unsafe-inline'"] if admin else ["'self'"])
    return csp


def assert_other_headers(response, *, referrer: str = "same-origin") -> None:
    assert response["Referrer-Policy"] == referrer
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    permissions = response["Permissions-Policy"]
    for feature in ("camera=()", "microphone=()", "geolocation=()", "payment=()",
                    "usb=()", "fullscreen=(self)"):
        assert feature in permissions, permissions
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"


@pytest.fixture
def seller_invoice(seller):
    from invoices.services import invoice_run_extraction, invoice_upload
    from tests.helpers import mustang_bytes

    invoice = invoice_upload(seller=seller, uploaded_file=uploaded(mustang_bytes("headers")))
    return invoice_run_extraction(invoice_id=invoice.pk)


def test_public_page(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert_site_policy(response)
    assert_other_headers(response)


def test_signed_in_dashboard_and_document_viewer(seller, seller_invoice):
    client = Client()
    client.force_login(seller)
    for url in (reverse("seller-dashboard"),
                reverse("seller-invoice", args=[seller_invoice.public_id])):
        response = client.get(url)
        assert response.status_code == 200, url
        assert_site_policy(response)
        assert_other_headers(response)
    image = client.get(reverse("invoice-page-image", args=[seller_invoice.public_id, 1]))
    assert image.status_code == 200
    assert image["Content-Type"] == "image/png"
    assert_site_policy(image)
    assert_other_headers(image)


def test_admin(ops_client):
    response = ops_client.get("/" + settings.ADMIN_URL)
    assert response.status_code == 200
    assert_site_policy(response, admin=True)
    assert_other_headers(response)
    changelist = ops_client.get(reverse("admin:accounts_kycprofile_changelist"))
    assert changelist.status_code == 200
    assert_site_policy(changelist, admin=True)


def test_api(seller):
    response = api_client_for(seller).get("/api/v1/me")
    assert response.status_code == 200
    assert_site_policy(response)
    assert_other_headers(response)


def test_private_file_download_keeps_its_stricter_policy(seller, seller_invoice):
    client = Client()
    client.force_login(seller)
    token = private_file_token(kind="invoice", object_id=seller_invoice.public_id, user=seller)
    response = client.get(reverse("private-file", args=[token]))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert_other_headers(response, referrer="no-referrer")


def test_error_page(client, seller):
    client.force_login(seller)
    response = client.get("/seller/invoices/00000000-0000-0000-0000-000000000000/")
    assert response.status_code == 404
    assert_site_policy(response)


def test_nonce_is_sent_when_a_page_uses_it(rf):
    """A template that writes an inline script with ``request.csp_nonce`` gets that nonce in
    the header (django-csp adds it only when the page asked for it)."""
    from django.http import HttpResponse
    from django.template import engines

    from paymint.core.csp import PayMintCSPMiddleware

    template = engines["django"].from_string(
        '<script nonce="{{ request.csp_nonce }}">window.ok = 1;</script>')

    def view(request):
        return HttpResponse(template.render({}, request))

    request = rf.get("/")
    response = PayMintCSPMiddleware(view)(request)
    nonce = re.search(r'nonce="([^"]+)"', response.content.decode()).group(1)
    assert f"'nonce-{nonce}'" in policy(response)["script-src"]


# --- Nothing in the templates that the policy would block ----------------------------------

PROJECT_TEMPLATES = Path(settings.BASE_DIR) / "templates"
APP_PY = [p for app in ("accounts", "invoices", "marketplace", "settlements", "compliance",
                        "paymint") for p in (Path(settings.BASE_DIR) / app).rglob("*.py")]
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\b(src|nonce)=)(?![^>]*application/json)[^>]*>")
INLINE_STYLE = re.compile(r"""\sstyle=["']|<style[\s>]""")
INLINE_HANDLER = re.compile(r"""\son[a-z]+=["']""")


@pytest.mark.parametrize("path", sorted(PROJECT_TEMPLATES.rglob("*.html")),
                         ids=lambda p: str(p.relative_to(PROJECT_TEMPLATES)))
def test_templates_have_no_inline_script_style_or_handler(path):
    text = path.read_text()
    assert not INLINE_SCRIPT.search(text), "inline <script> without a nonce"
    # HTML emails are read in mail clients, never served under the site's CSP, and mail
    # clients drop <link>ed style sheets: their styles are inline by necessity.
    if "email" not in path.relative_to(PROJECT_TEMPLATES).parts:
        assert not INLINE_STYLE.search(text), "inline style (CSP style-src 'self')"
    assert not INLINE_HANDLER.search(text), "inline event handler attribute"


def test_python_html_helpers_have_no_inline_style():
    offenders = [str(p) for p in APP_PY
                 if "format_html" in (text := p.read_text()) and INLINE_STYLE.search(text)]
    assert not offenders


# --- The report endpoint ---------------------------------------------------------------------

REPORT = {"csp-report": {
    "document-uri": "https://paymint.example/seller/",
    "effective-directive": "script-src-elem", "blocked-uri": "inline",
    "source-file": "https://paymint.example/seller/", "line-number": 12,
    "original-policy": "default-src 'self'", "disposition": "enforce",
}}


def post_report(client, body, content_type="application/csp-report", **extra):
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.post(reverse("csp-report"), data, content_type=content_type, **extra)


def test_report_is_logged(client, caplog):
    with caplog.at_level(logging.WARNING, logger="paymint.security.csp"):
        response = post_report(client, REPORT)
    assert response.status_code == 204
    [record] = [r for r in caplog.records if r.name == "paymint.security.csp"]
    assert "script-src-elem" in record.getMessage()
    assert record.csp_report["blocked-uri"] == "inline"
    assert record.csp_report["line-number"] == "12"


def test_reporting_api_batch_is_logged(client, caplog):
    batch = [{"type": "csp-violation", "age": 1, "url": "https://paymint.example/",
              "body": {"documentURL": "https://paymint.example/", "blockedURL": "inline",
                       "effectiveDirective": "style-src-attr", "disposition": "enforce"}},
             {"type": "deprecation", "body": {"id": "x"}}]
    with caplog.at_level(logging.WARNING, logger="paymint.security.csp"):
        response = post_report(client, batch, content_type="application/reports+json")
    assert response.status_code == 204
    records = [r for r in caplog.records if r.name == "paymint.security.csp"]
    assert len(records) == 1
    assert records[0].csp_report["effectiveDirective"] == "style-src-attr"


def test_report_endpoint_refuses_what_is_not_a_report(client, caplog):
    with caplog.at_level(logging.WARNING, logger="paymint.security.csp"):
        assert client.get(reverse("csp-report")).status_code == 405
        assert post_report(client, REPORT, content_type="text/plain").status_code == 415
        assert post_report(client, b"{not json").status_code == 400
        assert post_report(client, {"hello": "world"}).status_code == 400
        big = {"csp-report": {**REPORT["csp-report"], "script-sample": "x" * 20_000}}
        assert post_report(client, big).status_code == 413
    assert not [r for r in caplog.records if r.name == "paymint.security.csp"]


def test_report_endpoint_is_rate_limited_per_ip(client, settings):
    settings.CACHES = {  # counters of this test only
        **settings.CACHES,
        "throttle": {**settings.CACHES["throttle"], "KEY_PREFIX": f"csp-{uuid.uuid4().hex}"},
    }
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
                                   "csp_reports": "3/day"},  # one window for the whole test
    }
    ip = "203.0.113.77"
    answers = [post_report(client, REPORT, REMOTE_ADDR=ip).status_code for _ in range(4)]
    assert answers == [204, 204, 204, 429]
    limited = post_report(client, REPORT, REMOTE_ADDR=ip)
    assert int(limited["Retry-After"]) >= 1
    assert post_report(client, REPORT, REMOTE_ADDR="203.0.113.78").status_code == 204

"""Content-Security-Policy: the site's policy per kind of page, and the violation report
endpoint.

The policy itself is ``CONTENT_SECURITY_POLICY`` in the settings (django-csp 4, see
``paymint/settings/base.py``): everything from this origin only, scripts from static files or
with the request's nonce, no plugins, no framing, forms posting only here. Two kinds of page
differ:

* the Django admin (``ADMIN_URL``): its templates put a ``<style>`` element in some change
  lists, so it may use inline styles (``style-src 'self' 'unsafe-inline'``); its scripts are
  static files, so ``script-src`` stays ``'self'`` (:class:`PayMintCSPMiddleware`);
* private file downloads set their own, stricter header (``default-src 'none'; sandbox``,
  :func:`paymint.core.storage.attachment_response`), which the middleware leaves alone.

Browsers send violations to :func:`csp_report` (``report-uri``, and ``report-to`` through
the ``Reporting-Endpoints`` header): each one is logged as a warning on the
``paymint.security.csp`` logger. The endpoint takes no cookies or CSRF token (browsers send
none), so it is capped: bodies above :data:`MAX_REPORT_BYTES` get 413 and more than the
``csp_reports`` rate per client IP (``THROTTLE_RATE_CSP_REPORTS``) 429.
"""

from __future__ import annotations

import json
import logging

from csp.constants import SELF, UNSAFE_INLINE
from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .throttling import IpThrottle

logger = logging.getLogger("paymint.security.csp")

#: Largest report body read (bytes); browsers send one violation in well under 4 KiB.
MAX_REPORT_BYTES = 16 * 1024
#: Content types browsers use: ``report-uri`` (one report) and the Reporting API (a list).
REPORT_CONTENT_TYPES = ("application/csp-report", "application/reports+json",
                        "application/json")
#: The fields of a report that are logged (anything else a client adds is dropped).
REPORT_FIELDS = ("document-uri", "documentURL", "referrer", "violated-directive",
                 "effective-directive", "effectiveDirective", "original-policy",
                 "blocked-uri", "blockedURL", "source-file", "sourceFile", "line-number",
                 "lineNumber", "column-number", "columnNumber", "status-code", "statusCode",
                 "script-sample", "sample", "disposition")


class PayMintCSPMiddleware(CSPMiddleware):
    """django-csp's middleware with the admin's policy (inline styles allowed, scripts not)
    and a ``Reporting-Endpoints`` header naming the report endpoint for ``report-to``."""

    def get_policy_parts(self, request: HttpRequest, response: HttpResponseBase,
                         report_only: bool = False) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        if request.path_info.startswith("/" + settings.ADMIN_URL):
            parts.replace = {**(parts.replace or {}), "style-src": [SELF, UNSAFE_INLINE]}
        return parts

    def process_response(self, request: HttpRequest,
                         response: HttpResponseBase) -> HttpResponseBase:
        response = super().process_response(request, response)
        if "Content-Security-Policy" in response and "Reporting-Endpoints" not in response:
            response["Reporting-Endpoints"] = f'csp-endpoint="{settings.CSP_REPORT_PATH}"'
        return response


class CspReportThrottle(IpThrottle):
    """CSP violation reports per client IP address."""

    scope = "csp_reports"


def _reports(body: dict | list) -> list[dict]:
    """The violation bodies in a ``report-uri`` document (``{"csp-report": {...}}``) or a
    Reporting API batch (``[{"type": "csp-violation", "body": {...}}, ...]``)."""
    if isinstance(body, dict) and isinstance(body.get("csp-report"), dict):
        return [body["csp-report"]]
    if isinstance(body, list):
        return [item["body"] for item in body[:20]
                if isinstance(item, dict) and item.get("type") == "csp-violation"
                and isinstance(item.get("body"), dict)]
    return []


@csrf_exempt  # browsers post reports without cookies or tokens; nothing is written
@require_POST
def csp_report(request: HttpRequest) -> HttpResponse:
    """Log the CSP violations a browser reports. 204 when read; 400 for a body that is not a
    report, 413 above :data:`MAX_REPORT_BYTES`, 415 for another content type, 429 over the
    ``csp_reports`` rate (with ``Retry-After``)."""
    throttle = CspReportThrottle()
    if not throttle.allow_request(request):
        response = HttpResponse(status=429)
        response["Retry-After"] = str(int(throttle.wait() or 1))
        return response
    content_type = request.content_type or ""
    if content_type not in REPORT_CONTENT_TYPES:
        return HttpResponse(status=415)
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_REPORT_BYTES:
        return HttpResponse(status=413)
    body = request.read(MAX_REPORT_BYTES + 1)
    if len(body) > MAX_REPORT_BYTES:
        return HttpResponse(status=413)
    try:
        reports = _reports(json.loads(body))
    except (ValueError, UnicodeDecodeError):
        reports = []
    if not reports:
        return HttpResponse(status=400)
    for report in reports:
        fields = {k: str(report[k])[:500] for k in REPORT_FIELDS if k in report}
        logger.warning("CSP violation: %s blocked %s on %s",
                       fields.get("effective-directive") or fields.get("effectiveDirective")
                       or fields.get("violated-directive"),
                       fields.get("blocked-uri") or fields.get("blockedURL"),
                       fields.get("document-uri") or fields.get("documentURL"),
                       extra={"csp_report": fields})
    return HttpResponse(status=204)

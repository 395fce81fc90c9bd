"""Suspicious activity report (SAR) export of a compliance alert.

:func:`sar_export` builds one self-contained file for the financial intelligence unit (or the
MLRO's case file): the reporting institution, the subject (user and KYC/KYB identity), the
alert with its evidence and working notes, and the subject's ledger movements over the
look-back period. JSON by default; ``fmt="xml"`` gives the same content as XML (a neutral
schema, to be mapped onto the FIU's own - e.g. goAML - by the filing tool).
"""

from __future__ import annotations

import datetime as dt
import json
import xml.etree.ElementTree as ET  # noqa: S405 - building XML, never parsing it
from decimal import Decimal

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from accounts.models import KycProfile

from .models import ComplianceAlert
from .monitoring import user_movements
from .services import require_escalation_allowed

SAR_SCHEMA = "paymint-sar/1"
ACTIVITY_DAYS = 90


def _subject(alert: ComplianceAlert) -> dict | None:
    user = alert.user
    if user is None:
        return None
    profile = KycProfile.objects.filter(user=user).first()
    subject = {
        "user_id": str(user.public_id),
        "email": user.email,
        "role": user.role,
        "name": user.get_full_name(),
        "registered_at": user.date_joined,
        "is_active": user.is_active,
    }
    if profile is not None:
        subject["kyc"] = {
            "kind": profile.kind,
            "legal_name": profile.legal_name,
            "country": profile.country,
            "tax_id": profile.tax_id,
            "address": profile.address,
            "status": profile.status,
        }
    return subject


def _activity(alert: ComplianceAlert) -> list[dict]:
    if alert.user is None:
        return []
    since = timezone.now() - dt.timedelta(days=ACTIVITY_DAYS)
    return [m.as_evidence() for m in user_movements(alert.user, since=since)]


def sar_report(alert: ComplianceAlert, *, actor) -> dict:
    """The report's content as a dict (see :func:`sar_export`).

    Raises:
        PermissionDenied: ``ESCALATION_NOT_ALLOWED`` - ``actor`` lacks
            ``compliance.escalate_alert`` (the ``compliance`` role).
    """
    require_escalation_allowed(actor)
    invoice = alert.invoice
    return {
        "schema": SAR_SCHEMA,
        "report_id": f"SAR-{alert.public_id}",
        "generated_at": timezone.now(),
        "reporting_entity": {
            "name": getattr(settings, "SAR_REPORTING_ENTITY", "PayMint"),
            "site": getattr(settings, "SITE_URL", ""),
        },
        "subject": _subject(alert),
        "alert": {
            "id": str(alert.public_id),
            "kind": alert.kind,
            "severity": alert.severity,
            "status": alert.status,
            "title": alert.title,
            "raised_at": alert.created_at,
            "finding": alert.dedupe_key,
            "evidence": alert.evidence,
            "resolution": alert.resolution,
            "resolved_at": alert.resolved_at,
            "resolved_by": alert.resolved_by.email if alert.resolved_by else None,
        },
        "invoice": None
        if invoice is None
        else {
            "id": str(invoice.public_id),
            "number": invoice.invoice_number,
            "debtor_name": invoice.debtor_name,
            "debtor_tax_id": invoice.debtor_tax_id,
            "face_value": invoice.face_value,
            "currency": invoice.currency,
            "status": invoice.status,
        },
        "narrative": [
            {"at": note.created_at, "author": note.author.email, "text": note.text}
            for note in alert.notes.select_related("author")
        ],
        "activity": {"days": ACTIVITY_DAYS, "movements": _activity(alert)},
    }


_SINGULAR = {"countries": "country", "aliases": "alias", "activity": "movement"}


def _xml(parent: ET.Element, key: str, value) -> None:
    element = ET.SubElement(parent, key)
    if isinstance(value, dict):
        for k, v in value.items():
            _xml(element, k, v)
    elif isinstance(value, list):
        singular = _SINGULAR.get(key) or (key[:-1] if key.endswith("s") else "item")
        for item in value:
            _xml(element, singular, item)
    elif value is None:
        element.set("nil", "true")
    elif isinstance(value, dt.datetime | dt.date):
        element.text = value.isoformat()
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    else:
        element.text = str(value) if not isinstance(value, Decimal) else format(value, "f")


def sar_export(alert: ComplianceAlert, *, actor, fmt: str = "json") -> bytes:
    """The suspicious activity report of ``alert`` as a file: UTF-8 JSON, or XML, for
    ``actor``, who must be the compliance officer (the MLRO's decision to file).

    Raises:
        PermissionDenied: ``ESCALATION_NOT_ALLOWED`` - ``actor`` lacks
            ``compliance.escalate_alert`` (the ``compliance`` role).
        ValueError: unknown ``fmt``.
    """
    report = sar_report(alert, actor=actor)
    if fmt == "json":
        return json.dumps(report, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False).encode()
    if fmt == "xml":
        # Round-trip through JSON so that evidence values are plain (str/number/list/dict).
        plain = json.loads(json.dumps(report, cls=DjangoJSONEncoder))
        root = ET.Element("SuspiciousActivityReport", schema=SAR_SCHEMA)
        for key, value in plain.items():
            if key != "schema":
                _xml(root, key, value)
        return ET.tostring(root, encoding="utf-8", xml_declaration=True)
    raise ValueError(f"Unknown SAR format {fmt!r}")

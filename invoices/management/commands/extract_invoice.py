"""``manage.py extract_invoice PATH [PATH ...] [--json] [--mode auto|text|ocr]``.

With ``--json`` prints one JSON object per document and line (JSON Lines): exactly the ten
ground-truth field names plus ``confidence`` ({field: 0-1}). Amounts are JSON numbers written
with their exact decimal digits (``571.04``), dates ISO strings, missing values ``null``.
A failed document prints ``{"document": PATH, "error": {"code": ..., "message": ...}}``;
the exit status is 1 when any document failed. Without ``--json`` a readable table per
document (with method and source).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from invoices.extraction import FIELD_NAMES, ExtractionError, extract_document
from invoices.services import extraction_limits

AMOUNT_FIELDS = ("total_amount", "amount_due")


def json_line(out: dict) -> str:
    """JSON with amounts as exact decimal numbers (``json`` would need floats for numbers)."""
    marked = {
        k: (f"@@{v}@@" if k in AMOUNT_FIELDS and v is not None else v) for k, v in out.items()
    }
    return re.sub(r'"@@(-?[0-9.]+)@@"', r"\1", json.dumps(marked, ensure_ascii=False))


class Command(BaseCommand):
    help = "Extract invoice fields from PDF/PNG/JPEG/XML files."
    requires_system_checks: list[str] = []  # offline tool: no URL/model checks needed

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", help="documents to read")
        parser.add_argument("--json", action="store_true", help="JSON Lines output")
        parser.add_argument("--mode", choices=("auto", "text", "ocr"), default="auto")

    def handle(self, *args, **options):
        limits = extraction_limits()  # the same limits as the Celery task
        failed = 0
        for raw in options["paths"]:
            path = Path(raw)
            try:
                data = path.read_bytes()
            except OSError as exc:
                failed += 1
                self._error(options, raw, "FILE_NOT_READABLE", str(exc))
                continue
            try:
                result = extract_document(data, mode=options["mode"], limits=limits)
            except ExtractionError as exc:
                failed += 1
                self._error(options, raw, exc.code, exc.message)
                continue
            payload = result.to_json_dict()
            if options["json"]:
                out = {name: payload[name] for name in FIELD_NAMES}
                out["confidence"] = payload["confidence"]
                self.stdout.write(json_line(out))
            else:
                self.stdout.write(
                    f"{raw}  method={result.method} pages={result.page_count} "
                    f"type={result.content_type}"
                )
                for name in FIELD_NAMES:
                    f = result.fields[name]
                    flag = "  (confirm)" if f.value is not None and f.confidence < 0.6 else ""
                    value = payload[name] if payload[name] is not None else "-"
                    self.stdout.write(
                        f"  {name:15} {value!s:45} {f.confidence:4.2f} {f.source}{flag}"
                    )
                if result.warnings:
                    self.stdout.write(f"  warnings: {', '.join(result.warnings)}")
        if failed:
            raise CommandError(f"{failed} document(s) failed", returncode=1)

    def _error(self, options, document: str, code: str, message: str) -> None:
        if options["json"]:
            self.stdout.write(
                json.dumps({"document": document, "error": {"code": code, "message": message}})
            )
        else:
            self.stderr.write(f"{document}  ERROR {code}: {message}")

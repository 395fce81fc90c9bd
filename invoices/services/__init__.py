"""Writes for invoices: upload, extraction, seller corrections, submission, scoring.

``invoice_transition`` is the only writer of ``Invoice.status``.

Modules: :mod:`.upload` (upload, extraction, the seller's corrections), :mod:`.submission`
(checks, duplicates, double-financing alerts), :mod:`.scoring` (risk grade and offer),
:mod:`.status` (the status writer and operations staff's actions).
"""

from .scoring import (
    invoice_rescore,
    invoice_score,
)
from .status import (
    invoice_mark_disputed,
    invoice_ops_reject,
    invoice_ops_verify,
    invoice_transition,
)
from .submission import (
    invoice_submit,
    raise_double_financing_alerts,
)
from .upload import (
    ALLOWED_CONTENT_TYPES,
    AMOUNT_FIELDS,
    EDITABLE_FIELDS,
    EXTRACTED_TO_MODEL,
    LOW_CONFIDENCE,
    NULLABLE_FIELDS,
    UploadRejected,
    extraction_limits,
    invoice_run_extraction,
    invoice_update_fields,
    invoice_upload,
    low_confidence_fields,
)

__all__ = [
    "ALLOWED_CONTENT_TYPES",
    "AMOUNT_FIELDS",
    "EDITABLE_FIELDS",
    "EXTRACTED_TO_MODEL",
    "LOW_CONFIDENCE",
    "NULLABLE_FIELDS",
    "UploadRejected",
    "extraction_limits",
    "invoice_mark_disputed",
    "invoice_ops_reject",
    "invoice_ops_verify",
    "invoice_rescore",
    "invoice_run_extraction",
    "invoice_score",
    "invoice_submit",
    "invoice_transition",
    "invoice_update_fields",
    "invoice_upload",
    "low_confidence_fields",
    "raise_double_financing_alerts",
]

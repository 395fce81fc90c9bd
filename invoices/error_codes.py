"""The error codes of invoices: upload, editing, submission (its verification checks), debtor
confirmation.

A submission that fails verification answers with its first failing blocking check's code:
409 for a duplicate, 422 otherwise - also for ``INVALID_TAX_ID`` and ``UNSUPPORTED_CURRENCY``,
which answer 400 where a KYC profile or an amount carries them (``ComplianceError``,
``CoreError``); the two statuses are pinned by the tests of each operation.
"""

from paymint.core.error_codes import ErrorCode


class InvoicesError(ErrorCode):
    # Upload and editing
    NOT_A_SELLER = "NOT_A_SELLER", 403
    NOT_INVOICE_OWNER = "NOT_INVOICE_OWNER", 403
    INVOICE_NOT_FOUND = "INVOICE_NOT_FOUND", 404
    EMPTY_FILE = "EMPTY_FILE", 400
    UPLOAD_REJECTED = "UPLOAD_REJECTED", 400
    FILE_TOO_LARGE = "FILE_TOO_LARGE", 413
    UNSUPPORTED_FILE_TYPE = "UNSUPPORTED_FILE_TYPE", 415
    INVOICE_NOT_EDITABLE = "INVOICE_NOT_EDITABLE", 409
    STAFF_ONLY = "STAFF_ONLY", 403
    # Verification checks that block a submission (invoices.verification)
    MISSING_FIELD = "MISSING_FIELD", 422
    UNSUPPORTED_CURRENCY = "UNSUPPORTED_CURRENCY", 422
    NON_POSITIVE_AMOUNT = "NON_POSITIVE_AMOUNT", 422
    AMOUNT_DUE_ABOVE_TOTAL = "AMOUNT_DUE_ABOVE_TOTAL", 422
    DUE_DATE_NOT_IN_FUTURE = "DUE_DATE_NOT_IN_FUTURE", 422
    TENOR_TOO_LONG = "TENOR_TOO_LONG", 422
    ISSUE_AFTER_DUE = "ISSUE_AFTER_DUE", 422
    ISSUE_DATE_IN_FUTURE = "ISSUE_DATE_IN_FUTURE", 422
    INVALID_TAX_ID = "INVALID_TAX_ID", 422
    ISSUER_TAX_ID_MISMATCH = "ISSUER_TAX_ID_MISMATCH", 422
    INVALID_DEBTOR_TAX_ID = "INVALID_DEBTOR_TAX_ID", 422
    DUPLICATE_DOCUMENT = "DUPLICATE_DOCUMENT", 409
    DUPLICATE_INVOICE = "DUPLICATE_INVOICE", 409
    DUPLICATE_DOCUMENT_IMAGE = "DUPLICATE_DOCUMENT_IMAGE", 409
    # Debtor confirmation
    CONFIRMATION_LINK_INVALID = "CONFIRMATION_LINK_INVALID", 404
    CONFIRMATION_LINK_EXPIRED = "CONFIRMATION_LINK_EXPIRED", 410
    CONFIRMATION_ALREADY_ANSWERED = "CONFIRMATION_ALREADY_ANSWERED", 409
    INVOICE_NOT_CONFIRMABLE = "INVOICE_NOT_CONFIRMABLE", 409

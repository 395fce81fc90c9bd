"""Invoice statuses and their allowed moves (the state machine is data, not code)."""

from django.db import models


class InvoiceStatus(models.TextChoices):
    UPLOADED = "UPLOADED", "Uploaded, reading document"
    EXTRACTION_FAILED = "EXTRACTION_FAILED", "Could not read document"
    EXTRACTED = "EXTRACTED", "Ready for review"
    SUBMITTED = "SUBMITTED", "Submitted, scoring"
    PRICED = "PRICED", "Offer ready"
    REJECTED = "REJECTED", "Rejected"
    LISTED = "LISTED", "Listed on the marketplace"
    FUNDED = "FUNDED", "Fully funded"
    CANCELLED = "CANCELLED", "Listing cancelled"
    DISBURSED = "DISBURSED", "Advance paid, awaiting repayment"
    OVERDUE = "OVERDUE", "Overdue"
    DEFAULTED = "DEFAULTED", "Defaulted"
    WRITTEN_OFF = "WRITTEN_OFF", "Written off"
    SETTLED = "SETTLED", "Settled"


S = InvoiceStatus

#: Allowed status moves. ``invoices.services.invoice_transition`` is the only writer.
INVOICE_TRANSITIONS: dict[str, frozenset[str]] = {
    S.UPLOADED: frozenset({S.EXTRACTED, S.EXTRACTION_FAILED}),
    S.EXTRACTION_FAILED: frozenset({S.SUBMITTED, S.EXTRACTED}),
    S.EXTRACTED: frozenset({S.SUBMITTED, S.REJECTED}),
    S.SUBMITTED: frozenset({S.PRICED, S.REJECTED}),
    S.PRICED: frozenset({S.LISTED, S.EXTRACTED, S.REJECTED, S.CANCELLED}),
    S.REJECTED: frozenset(),
    S.LISTED: frozenset({S.FUNDED, S.CANCELLED}),
    S.FUNDED: frozenset({S.DISBURSED}),
    S.CANCELLED: frozenset(),
    S.DISBURSED: frozenset({S.OVERDUE, S.SETTLED}),
    S.OVERDUE: frozenset({S.DEFAULTED, S.SETTLED}),
    S.DEFAULTED: frozenset({S.SETTLED, S.WRITTEN_OFF}),
    S.WRITTEN_OFF: frozenset({S.SETTLED}),
    S.SETTLED: frozenset(),
}

def statuses_after(status: str) -> frozenset[str]:
    """Every status an invoice in ``status`` can reach by one or more moves of
    :data:`INVOICE_TRANSITIONS`."""
    seen: set[str] = set()
    todo = [status]
    while todo:
        for following in INVOICE_TRANSITIONS[todo.pop()]:
            if following not in seen:
                seen.add(following)
                todo.append(following)
    return frozenset(seen)


#: Statuses in which the seller may still cancel the invoice (before disbursement): a priced
#: invoice not listed yet, or a listing, whose investors are refunded in full
#: (``marketplace.services.invoice_cancel``).
CANCELLABLE_STATUSES = frozenset({S.PRICED, S.LISTED})

#: Statuses in which the seller may still edit the extracted fields.
EDITABLE_STATUSES = frozenset({S.EXTRACTED, S.EXTRACTION_FAILED, S.PRICED})


class RiskGrade(models.TextChoices):
    A = "A", "A (lowest risk)"
    B = "B", "B"
    C = "C", "C"
    D = "D", "D"
    E = "E", "E (not financeable)"


#: Statuses in which the debtor still owes (or may still pay) the invoice.
REPAYABLE_STATUSES = frozenset({S.DISBURSED, S.OVERDUE, S.DEFAULTED, S.WRITTEN_OFF, S.SETTLED})
#: Statuses the daily aging job looks at.
AGING_STATUSES = frozenset({S.DISBURSED, S.OVERDUE})


class DebtorIndustry(models.TextChoices):
    """The debtor's industry, by NACE Rev. 2 section (the EU statistical classification),
    declared by the seller; investors filter the marketplace by it."""

    AGRICULTURE = "A", "Agriculture, forestry and fishing"
    MANUFACTURING = "C", "Manufacturing"
    ENERGY = "D", "Energy supply"
    CONSTRUCTION = "F", "Construction"
    TRADE = "G", "Wholesale and retail trade"
    TRANSPORT = "H", "Transportation and storage"
    HOSPITALITY = "I", "Accommodation and food services"
    ICT = "J", "Information and communication"
    FINANCE = "K", "Financial and insurance activities"
    REAL_ESTATE = "L", "Real estate"
    PROFESSIONAL = "M", "Professional, scientific and technical services"
    ADMINISTRATIVE = "N", "Administrative and support services"
    PUBLIC = "O", "Public administration"
    EDUCATION = "P", "Education"
    HEALTH = "Q", "Human health and social work"
    OTHER = "S", "Other services"


# --- The invoice's fields read from its document -------------------------------------------

#: Extraction field name -> Invoice model field.
EXTRACTED_TO_MODEL = {
    "invoice_number": "invoice_number",
    "issuer_name": "issuer_name",
    "buyer_name": "debtor_name",
    "total_amount": "face_value",
    "amount_due": "amount_due",
    "currency": "currency",
    "issue_date": "issue_date",
    "due_date": "due_date",
    "issuer_tax_id": "issuer_tax_id",
    "buyer_tax_id": "debtor_tax_id",
}
#: Invoice model field -> extraction field name (the inverse of :data:`EXTRACTED_TO_MODEL`).
MODEL_TO_EXTRACTED = {model: extracted for extracted, model in EXTRACTED_TO_MODEL.items()}

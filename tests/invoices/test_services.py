"""Invoice services: upload, extraction, corrections, submission, scoring, transitions."""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal

import pytest

from accounts.enums import KycStatus
from accounts.models import KycProfile
from invoices.enums import InvoiceStatus
from invoices.models import Invoice, InvoiceStatusEvent
from invoices.services import (
    invoice_run_extraction,
    invoice_score,
    invoice_submit,
    invoice_transition,
    invoice_update_fields,
    invoice_upload,
)
from paymint.core import clock
from paymint.core.errors import (
    ApplicationError,
    InvalidTransition,
    PermissionDenied,
    ValidationFailed,
)
from tests.helpers import (
    LISTING_DAY,
    MUSTANG_DUE,
    db_counts,
    make_user,
    mustang_bytes,
    priced_invoice,
    uploaded,
)

D = Decimal

pytestmark = pytest.mark.django_db


@pytest.fixture
def extracted(seller):
    """The Mustang invoice, uploaded and read (EXTRACTED)."""
    invoice = invoice_upload(seller=seller, uploaded_file=uploaded(mustang_bytes()))
    return invoice_run_extraction(invoice_id=invoice.pk)


@pytest.fixture
def other_seller(staff):
    return make_user(
        "SELLER",
        "other-seller@example.com",
        kyc={"legal_name": "Andere GmbH", "country": "DE", "tax_id": "DE129273398"},
        approve_by=staff,
    )


def media_files(settings) -> list:
    """Invoice documents stored (the sellers' KYB documents under ``kyc/`` are not counted)."""
    root = settings.MEDIA_ROOT
    return [p for p in root.rglob("*") if p.is_file() and "kyc" not in p.relative_to(root).parts
            ] if root.exists() else []


class TestUpload:
    def test_stores_the_document_and_queues_extraction(self, seller, committed, settings):
        data = mustang_bytes()
        with committed() as callbacks:
            invoice = invoice_upload(
                seller=seller, uploaded_file=uploaded(data, name="../../etc/RE-508.pdf")
            )
        # extraction, then (it committed) invoice.extracted's dispatch and its live update
        assert len(callbacks) == 3
        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.EXTRACTED  # the eager task ran on commit
        assert invoice.document_sha256 == hashlib.sha256(data).hexdigest()
        assert (invoice.document_content_type, invoice.document_size) == (
            "application/pdf",
            len(data),
        )
        # stored under a private name, never the client's
        assert invoice.document.name == (f"invoices/{seller.public_id}/{invoice.public_id}.pdf")
        assert invoice.document.read() == data
        assert [(e.from_status, e.to_status) for e in invoice.events.all()] == [
            ("", "UPLOADED"),
            ("UPLOADED", "EXTRACTED"),
        ]

    def test_no_extraction_task_before_commit(self, seller, django_capture_on_commit_callbacks):
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            invoice = invoice_upload(seller=seller, uploaded_file=uploaded(mustang_bytes()))
        assert len(callbacks) == 1
        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.UPLOADED

    @pytest.mark.parametrize(
        ("data", "code", "status"),
        [
            (b"", "EMPTY_FILE", 400),
            (b"plain text, not an invoice\n", "UNSUPPORTED_FILE_TYPE", 415),
            (b"\x7fELF\x02\x01\x01" + b"\0" * 200, "UNSUPPORTED_FILE_TYPE", 415),
            (b"<html><body>%PDF-1.4</body></html>", "UNSUPPORTED_FILE_TYPE", 415),
        ],
        ids=["empty", "text", "elf", "html-with-pdf-marker"],
    )
    def test_rejected_content_writes_nothing(self, seller, settings, data, code, status):
        before = db_counts()
        with pytest.raises(ApplicationError) as info:
            invoice_upload(seller=seller, uploaded_file=uploaded(data))
        assert (info.value.code, info.value.http_status) == (code, status)
        assert db_counts() == before
        assert media_files(settings) == []

    def test_too_large_is_rejected_before_reading(self, seller, settings):
        settings.INVOICE_UPLOAD_MAX_BYTES = 50_000
        before = db_counts()
        with pytest.raises(ApplicationError) as info:
            invoice_upload(seller=seller, uploaded_file=uploaded(mustang_bytes()))
        assert (info.value.code, info.value.http_status) == ("FILE_TOO_LARGE", 413)
        assert db_counts() == before
        assert media_files(settings) == []

    def test_too_large_without_a_size_attribute(self, seller, settings):
        """A stream that does not announce its size is cut at the limit."""
        import io

        settings.INVOICE_UPLOAD_MAX_BYTES = 50_000
        with pytest.raises(ApplicationError) as info:
            invoice_upload(seller=seller, uploaded_file=io.BytesIO(mustang_bytes()))
        assert info.value.code == "FILE_TOO_LARGE"
        assert Invoice.objects.count() == 0

    def test_investor_cannot_upload(self, make_investor):
        investor = make_investor()
        with pytest.raises(PermissionDenied) as info:
            invoice_upload(seller=investor, uploaded_file=uploaded(mustang_bytes()))
        assert info.value.code == "NOT_A_SELLER"
        assert Invoice.objects.count() == 0

    @pytest.mark.parametrize("approve", [False, None], ids=["pending", "no-profile"])
    def test_seller_without_approved_kyb(self, db, approve):
        kyc = (
            None
            if approve is None
            else {"legal_name": "Bei Spiel GmbH", "country": "DE", "tax_id": "DE136695976"}
        )
        seller = make_user("SELLER", "pending@example.com", kyc=kyc)
        before = db_counts()
        with pytest.raises(PermissionDenied) as info:
            invoice_upload(seller=seller, uploaded_file=uploaded(mustang_bytes()))
        assert (info.value.code, info.value.http_status) == ("KYB_NOT_APPROVED", 403)
        assert db_counts() == before


class TestExtraction:
    def test_fields_are_read_from_the_embedded_einvoice(self, extracted):
        assert extracted.status == InvoiceStatus.EXTRACTED
        assert extracted.extraction_method == "einvoice-cii"
        assert (extracted.invoice_number, extracted.issuer_tax_id, extracted.currency) == (
            "RE-20201121/508",
            "DE136695976",
            "EUR",
        )
        assert (extracted.face_value, extracted.due_date) == (D("571.04"), MUSTANG_DUE)

    def test_running_twice_is_a_no_op(self, extracted):
        before = db_counts()
        updated_at = Invoice.objects.get(pk=extracted.pk).updated_at
        again = invoice_run_extraction(invoice_id=extracted.pk)
        assert again.status == InvoiceStatus.EXTRACTED
        assert db_counts() == before
        assert Invoice.objects.get(pk=extracted.pk).updated_at == updated_at

    def test_unreadable_pdf_fails_with_a_code_for_the_seller(self, seller):
        invoice = invoice_upload(
            seller=seller, uploaded_file=uploaded(b"%PDF-1.4\n1 0 obj garbage\n%%EOF\n")
        )
        invoice = invoice_run_extraction(invoice_id=invoice.pk)
        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.EXTRACTION_FAILED
        assert invoice.extraction_error_code
        assert invoice.extraction_error_message
        assert invoice.events.last().reason.startswith(invoice.extraction_error_code)


class TestUpdateFields:
    def test_corrections_are_saved(self, extracted, seller):
        invoice = invoice_update_fields(
            invoice=extracted,
            actor=seller,
            changes={"debtor_name": "  Theodor Est KG ", "currency": "eur", "amount_due": "500.5"},
        )
        invoice.refresh_from_db()
        assert (invoice.debtor_name, invoice.currency, invoice.amount_due) == (
            "Theodor Est KG",
            "EUR",
            D("500.5"),
        )

    @pytest.mark.parametrize(
        ("changes", "field"),
        [
            ({"status": "SETTLED"}, "status"),
            ({"risk_grade": "A"}, "risk_grade"),
            ({"seller_id": 1}, "seller_id"),
            ({"face_value": "abc"}, "face_value"),
            ({"face_value": "NaN"}, "face_value"),
            ({"face_value": "1.001"}, "face_value"),
            ({"due_date": "31.12.2020"}, "due_date"),
            ({"currency": "EURO"}, "currency"),
            ({"currency": "E1R"}, "currency"),
            ({"invoice_number": "x" * 101}, "invoice_number"),
        ],
    )
    def test_invalid_changes_write_nothing(self, extracted, seller, changes, field):
        before = db_counts()
        snapshot = Invoice.objects.filter(pk=extracted.pk).values().get()
        with pytest.raises(ValidationFailed) as info:
            invoice_update_fields(invoice=extracted, actor=seller, changes=changes)
        assert field in info.value.fields
        assert db_counts() == before
        assert Invoice.objects.filter(pk=extracted.pk).values().get() == snapshot

    def test_submitted_invoice_is_not_editable(self, extracted, seller):
        with clock.frozen_at(LISTING_DAY):
            invoice_submit(invoice=extracted, actor=seller)
        before = db_counts()
        with pytest.raises(InvalidTransition) as info:
            invoice_update_fields(invoice=extracted, actor=seller, changes={"debtor_name": "X"})
        assert (info.value.code, info.value.http_status) == ("INVOICE_NOT_EDITABLE", 409)
        assert db_counts() == before
        assert Invoice.objects.get(pk=extracted.pk).debtor_name == "Theodor Est"

    def test_editing_a_priced_invoice_withdraws_the_offer(self, seller):
        invoice = priced_invoice(seller)
        assert invoice.status == InvoiceStatus.PRICED
        invoice = invoice_update_fields(invoice=invoice, actor=seller, changes={"debtor_name": "Y"})
        assert invoice.status == InvoiceStatus.EXTRACTED
        event = InvoiceStatusEvent.objects.filter(invoice=invoice).last()
        assert (event.from_status, event.to_status, event.actor) == ("PRICED", "EXTRACTED", seller)


class TestSubmit:
    def test_verified_invoice_is_submitted_then_scored_on_commit(
        self, extracted, seller, committed
    ):
        with clock.frozen_at(LISTING_DAY), committed() as callbacks:
            invoice = invoice_submit(invoice=extracted, actor=seller)
            assert invoice.status == InvoiceStatus.SUBMITTED
        # sanctions screening of the debtor, scoring, invoice.priced's dispatch, its live update
        assert len(callbacks) == 4
        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.PRICED
        assert {c["code"] for c in invoice.verification} >= {
            "DUE_DATE",
            "INVALID_TAX_ID",
            "ISSUER_TAX_ID_MISMATCH",
            "DUPLICATE_DOCUMENT",
        }
        assert invoice.risk_grade == "A"
        assert (invoice.advance_rate, invoice.discount_rate) == (D("0.9"), D("0.08"))
        submitted = invoice.events.get(to_status="SUBMITTED")
        assert (submitted.actor, submitted.reason) == (seller, "verified")

    def assert_refused(self, invoice, seller, code, status, when=LISTING_DAY):
        before = db_counts()
        with clock.frozen_at(when), pytest.raises(ApplicationError) as info:
            invoice_submit(invoice=invoice, actor=seller)
        assert (info.value.code, info.value.http_status) == (code, status)
        assert db_counts() == before
        invoice.refresh_from_db()
        assert invoice.verification == []
        return info.value

    def test_invalid_issuer_tax_id(self, extracted, seller):
        invoice_update_fields(
            invoice=extracted, actor=seller, changes={"issuer_tax_id": "DE123456789"}
        )
        error = self.assert_refused(extracted, seller, "INVALID_TAX_ID", 422)
        assert "issuer_tax_id" in error.fields
        assert extracted.status == InvoiceStatus.EXTRACTED

    def test_issuer_tax_id_not_the_sellers(self, extracted, seller):
        invoice_update_fields(
            invoice=extracted, actor=seller, changes={"issuer_tax_id": "DE129273398"}
        )
        self.assert_refused(extracted, seller, "ISSUER_TAX_ID_MISMATCH", 422)

    def test_due_date_in_the_past(self, extracted, seller):
        self.assert_refused(
            extracted, seller, "DUE_DATE_NOT_IN_FUTURE", 422, when=dt.date(2020, 12, 13)
        )

    def test_due_date_too_close(self, extracted, seller):
        self.assert_refused(
            extracted, seller, "DUE_DATE_NOT_IN_FUTURE", 422, when=dt.date(2020, 12, 6)
        )

    def test_missing_required_field(self, extracted, seller):
        invoice_update_fields(invoice=extracted, actor=seller, changes={"debtor_name": ""})
        error = self.assert_refused(extracted, seller, "MISSING_FIELD", 422)
        assert error.fields == {"debtor_name": ["debtor_name is required."]}

    def test_duplicate_document_by_another_account_of_the_same_company(
        self, extracted, seller, staff
    ):
        with clock.frozen_at(LISTING_DAY):
            invoice_submit(invoice=extracted, actor=seller)
        colleague = make_user(
            "SELLER",
            "colleague@example.com",
            kyc={"legal_name": "Bei Spiel GmbH", "country": "DE", "tax_id": "DE136695976"},
            approve_by=staff,
        )
        copy = invoice_upload(seller=colleague, uploaded_file=uploaded(mustang_bytes()))
        copy = invoice_run_extraction(invoice_id=copy.pk)
        self.assert_refused(copy, colleague, "DUPLICATE_DOCUMENT", 409)

    def test_duplicate_document_is_reported_before_the_issuer_mismatch(
        self, extracted, seller, other_seller
    ):
        """Another company re-submitting an already financed document is a duplicate (409):
        that is the decisive signal, whatever else is wrong with the copy."""
        with clock.frozen_at(LISTING_DAY):
            invoice_submit(invoice=extracted, actor=seller)
        copy = invoice_upload(seller=other_seller, uploaded_file=uploaded(mustang_bytes()))
        copy = invoice_run_extraction(invoice_id=copy.pk)
        error = self.assert_refused(copy, other_seller, "DUPLICATE_DOCUMENT", 409)
        assert "document" in error.fields

    def test_same_document_may_be_resubmitted_after_the_first_was_never_submitted(
        self, extracted, seller
    ):
        """Only invoices submitted for financing count as duplicates: an abandoned upload
        of the same file does not block a new one."""
        second = invoice_upload(seller=seller, uploaded_file=uploaded(mustang_bytes()))
        second = invoice_run_extraction(invoice_id=second.pk)
        with clock.frozen_at(LISTING_DAY):
            assert invoice_submit(invoice=second, actor=seller).status == "SUBMITTED"

    def test_duplicate_invoice_by_number_and_debtor(self, extracted, seller):
        with clock.frozen_at(LISTING_DAY):
            invoice_submit(invoice=extracted, actor=seller)
        # different bytes (no hash duplicate), same seller, number and debtor (any case)
        copy = invoice_upload(seller=seller, uploaded_file=uploaded(mustang_bytes("copy")))
        copy = invoice_run_extraction(invoice_id=copy.pk)
        assert copy.document_sha256 != extracted.document_sha256
        invoice_update_fields(invoice=copy, actor=seller, changes={"debtor_name": "THEODOR EST"})
        self.assert_refused(copy, seller, "DUPLICATE_INVOICE", 409)

    def test_kyb_no_longer_approved(self, extracted, seller):
        KycProfile.objects.filter(user=seller).update(status=KycStatus.REJECTED)
        error = self.assert_refused(extracted, seller, "KYB_NOT_APPROVED", 403)
        assert isinstance(error, PermissionDenied)

    def test_submitting_twice(self, extracted, seller):
        with clock.frozen_at(LISTING_DAY):
            invoice_submit(invoice=extracted, actor=seller)
        before = db_counts()
        with clock.frozen_at(LISTING_DAY), pytest.raises(InvalidTransition):
            invoice_submit(invoice=extracted, actor=seller)
        assert db_counts() == before


class TestScore:
    def test_scoring_twice_is_a_no_op(self, seller):
        invoice = priced_invoice(seller)
        before = db_counts()
        assert invoice_score(invoice_id=invoice.pk).status == InvoiceStatus.PRICED
        assert db_counts() == before

    def test_score_factors_are_stored(self, seller):
        invoice = priced_invoice(seller)
        codes = [f["code"] for f in invoice.risk_factors]
        assert codes == [
            "TENOR",
            "SELLER_HISTORY",
            "DEBTOR_HISTORY",
            "EINVOICE",
            "EXTRACTION",
            "ISSUER_TAX_ID",
        ]
        assert invoice.risk_score == 55 + sum(f["points"] for f in invoice.risk_factors)

    def test_untouched_einvoice_fields_keep_their_extraction_confidence(self, seller):
        """The seller changed nothing: the mean confidence of the key fields is the
        extractor's (0.98 each for the embedded Factur-X XML), not downgraded to 0.7 for the
        amount because the stored Decimal('571.0400000') prints differently from '571.04'."""
        invoice = priced_invoice(seller)
        extraction = next(f for f in invoice.risk_factors if f["code"] == "EXTRACTION")
        assert extraction["detail"] == "mean field confidence 0.98"

    def test_grade_e_is_rejected_without_an_offer(self, extracted, seller, settings):
        settings.PAYMINT = {
            **settings.PAYMINT,
            "GRADE_THRESHOLDS": {"A": 101, "B": 101, "C": 101, "D": 101, "E": 0},
        }
        with clock.frozen_at(LISTING_DAY):
            invoice_submit(invoice=extracted, actor=seller)
            invoice = invoice_score(invoice_id=extracted.pk)
        invoice.refresh_from_db()
        assert (invoice.status, invoice.risk_grade) == (InvoiceStatus.REJECTED, "E")
        assert invoice.advance_rate is None
        assert "not financeable" in invoice.events.last().reason


class TestTransition:
    def test_illegal_move_is_refused_without_an_event(self, extracted):
        before = db_counts()
        with pytest.raises(InvalidTransition) as info:
            invoice_transition(invoice=extracted, to_status=InvoiceStatus.SETTLED)
        assert (info.value.code, info.value.http_status) == ("INVALID_STATUS_TRANSITION", 409)
        assert db_counts() == before
        assert Invoice.objects.get(pk=extracted.pk).status == InvoiceStatus.EXTRACTED

    def test_legal_move_writes_an_event(self, extracted, seller):
        invoice_transition(
            invoice=extracted, to_status=InvoiceStatus.SUBMITTED, actor=seller, reason="x" * 3000
        )
        event = extracted.events.last()
        assert (event.from_status, event.to_status, event.actor) == (
            "EXTRACTED",
            "SUBMITTED",
            seller,
        )
        assert len(event.reason) == 2000

"""Invoices API for sellers. Every id in a URL is resolved through an ownership selector.

Where two operations share a path (``GET``/``POST invoices``, ``GET``/``PATCH invoices/{id}``)
they share one view class - URL routing needs one class per path - but each method validates
its own input and calls one service.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from paymint.core.api import paginated
from paymint.core.idempotency import IdempotentWriteMixin
from paymint.core.storage import private_file_url
from paymint.core.throttling import UploadThrottle

from .confirmation import debtor_confirmation_request
from .enums import DebtorIndustry
from .selectors import invoice_get_for_seller, invoice_list_for_seller, invoice_private_file
from .services import (
    invoice_submit,
    invoice_update_fields,
    invoice_upload,
    low_confidence_fields,
)


class CheckSerializer(serializers.Serializer):
    """One verification check: its stable code, whether it passed, whether a failure blocks
    financing, a message and the field it is about (null for the whole invoice)."""

    code = serializers.CharField()
    passed = serializers.BooleanField()
    blocking = serializers.BooleanField()
    message = serializers.CharField()
    field = serializers.CharField(allow_null=True)


class ListingSummarySerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    advance_amount = serializers.DecimalField(max_digits=20, decimal_places=2)
    funded_amount = serializers.DecimalField(max_digits=20, decimal_places=2)
    platform_fee = serializers.DecimalField(max_digits=20, decimal_places=2)
    advance_rate = serializers.DecimalField(max_digits=9, decimal_places=6)
    discount_rate = serializers.DecimalField(max_digits=9, decimal_places=6)
    investor_count = serializers.IntegerField()
    expires_at = serializers.DateTimeField()
    disbursed_on = serializers.DateField(allow_null=True)


class InvoiceOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    status = serializers.CharField()
    invoice_number = serializers.CharField()
    issuer_name = serializers.CharField()
    issuer_tax_id = serializers.CharField()
    debtor_name = serializers.CharField()
    debtor_tax_id = serializers.CharField()
    debtor_industry = serializers.CharField()
    currency = serializers.CharField()
    face_value = serializers.DecimalField(max_digits=20, decimal_places=2, allow_null=True)
    amount_due = serializers.DecimalField(max_digits=20, decimal_places=2, allow_null=True)
    issue_date = serializers.DateField(allow_null=True)
    due_date = serializers.DateField(allow_null=True)
    extraction_method = serializers.CharField()
    extraction_error_code = serializers.CharField()
    extraction_error_message = serializers.CharField()
    confidence = serializers.SerializerMethodField()
    low_confidence_fields = serializers.SerializerMethodField()
    verification = serializers.SerializerMethodField()
    risk_score = serializers.IntegerField(allow_null=True)
    risk_grade = serializers.CharField()
    risk_factors = serializers.JSONField()
    advance_rate = serializers.DecimalField(max_digits=9, decimal_places=6, allow_null=True)
    discount_rate = serializers.DecimalField(max_digits=9, decimal_places=6, allow_null=True)
    repayment_reference = serializers.CharField()
    debtor_confirmed = serializers.SerializerMethodField()
    listing = serializers.SerializerMethodField()
    document_url = serializers.SerializerMethodField(
        help_text="Short-lived signed download URL of the document (attachment), for the "
        "requesting seller; expires after PRIVATE_FILE_URL_MAX_AGE seconds."
    )
    created_at = serializers.DateTimeField()

    def get_document_url(self, invoice) -> str | None:
        request = self.context.get("request")
        if request is None or not request.user.is_authenticated:
            return None
        return private_file_url(kind="invoice", object_id=invoice.public_id, user=request.user,
                                private_file=invoice_private_file(invoice), request=request)

    @extend_schema_field({"type": "object", "additionalProperties": {"type": "number"},
                          "description": "Extraction confidence per field, 0 to 1."})
    def get_confidence(self, invoice) -> dict:
        return (invoice.extraction or {}).get("confidence") or {}

    def get_debtor_confirmed(self, invoice) -> bool:
        return invoice.debtor_confirmed_at is not None

    def get_low_confidence_fields(self, invoice) -> list[str]:
        return low_confidence_fields(invoice) if invoice.extraction else []

    @extend_schema_field(CheckSerializer(many=True))
    def get_verification(self, invoice) -> list[dict]:
        return invoice.verification or []

    @extend_schema_field(ListingSummarySerializer(allow_null=True))
    def get_listing(self, invoice) -> dict | None:
        listing = getattr(invoice, "listing", None)
        return ListingSummarySerializer(listing).data if listing else None


class InvoiceCollectionApi(IdempotentWriteMixin, APIView):
    """``GET /api/v1/invoices``: the seller's invoices (cursor-paginated).
    ``POST /api/v1/invoices``: upload a document (multipart field ``document``)."""

    parser_classes = [MultiPartParser, FormParser, JSONParser]
    throttle_classes = [UploadThrottle]  # uploads (POST) per seller, 429 RATE_LIMITED

    class UploadInputSerializer(serializers.Serializer):
        document = serializers.FileField()

    @extend_schema(responses=InvoiceOutputSerializer(many=True))
    def get(self, request):
        return paginated(self, invoice_list_for_seller(seller=request.user),
                         InvoiceOutputSerializer)

    @extend_schema(request={"multipart/form-data": UploadInputSerializer},
                   responses={201: InvoiceOutputSerializer})
    def post(self, request):
        data = self.UploadInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["document"]
        invoice = invoice_upload(seller=request.user, uploaded_file=upload, filename=upload.name)
        invoice.refresh_from_db()
        return Response(InvoiceOutputSerializer(invoice, context={"request": request}).data,
                        status=status.HTTP_201_CREATED)


class InvoiceDetailApi(IdempotentWriteMixin, APIView):
    """``GET /api/v1/invoices/{id}``; ``PATCH`` corrects extracted fields."""

    class UpdateInputSerializer(serializers.Serializer):
        invoice_number = serializers.CharField(max_length=100, required=False, allow_blank=True)
        issuer_name = serializers.CharField(max_length=200, required=False, allow_blank=True)
        issuer_tax_id = serializers.CharField(max_length=32, required=False, allow_blank=True)
        debtor_name = serializers.CharField(max_length=200, required=False, allow_blank=True)
        debtor_tax_id = serializers.CharField(max_length=32, required=False, allow_blank=True)
        debtor_industry = serializers.ChoiceField(choices=DebtorIndustry.choices,
                                                  required=False, allow_blank=True)
        currency = serializers.CharField(max_length=3, required=False)
        # Money columns are DecimalField(20, 7): at most 13 digits before the point.
        face_value = serializers.DecimalField(max_digits=15, decimal_places=2, required=False)
        amount_due = serializers.DecimalField(max_digits=15, decimal_places=2, required=False,
                                              allow_null=True)
        issue_date = serializers.DateField(required=False, allow_null=True)
        due_date = serializers.DateField(required=False)

    @extend_schema(responses=InvoiceOutputSerializer)
    def get(self, request, invoice_id):
        invoice = invoice_get_for_seller(seller=request.user, invoice_id=invoice_id)
        return Response(InvoiceOutputSerializer(invoice, context={"request": request}).data)

    @extend_schema(request=UpdateInputSerializer, responses=InvoiceOutputSerializer)
    def patch(self, request, invoice_id):
        invoice = invoice_get_for_seller(seller=request.user, invoice_id=invoice_id)
        data = self.UpdateInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        invoice = invoice_update_fields(invoice=invoice, actor=request.user,
                                        changes=dict(data.validated_data))
        return Response(InvoiceOutputSerializer(invoice, context={"request": request}).data)


class InvoiceSubmitApi(IdempotentWriteMixin, APIView):
    """``POST /api/v1/invoices/{id}/submit``: verify and send for scoring."""

    @extend_schema(request=None, responses=InvoiceOutputSerializer)
    def post(self, request, invoice_id):
        invoice = invoice_get_for_seller(seller=request.user, invoice_id=invoice_id)
        invoice = invoice_submit(invoice=invoice, actor=request.user)
        invoice.refresh_from_db()
        return Response(InvoiceOutputSerializer(invoice, context={"request": request}).data)


class DebtorConfirmationRequestApi(IdempotentWriteMixin, APIView):
    """``POST /api/v1/invoices/{id}/debtor-confirmation``: email the debtor a signed, expiring
    link to confirm (or dispute) that the invoice is genuine and unpaid."""

    class InputSerializer(serializers.Serializer):
        email = serializers.EmailField()

    class OutputSerializer(serializers.Serializer):
        id = serializers.UUIDField(source="public_id")
        email = serializers.EmailField()
        status = serializers.CharField()
        expires_at = serializers.DateTimeField()

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request, invoice_id):
        invoice = invoice_get_for_seller(seller=request.user, invoice_id=invoice_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        confirmation = debtor_confirmation_request(invoice=invoice, seller=request.user,
                                                   email=data.validated_data["email"])
        return Response(self.OutputSerializer(confirmation).data, status=status.HTTP_201_CREATED)

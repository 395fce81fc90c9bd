"""Marketplace API: listing invoices (sellers), browsing and funding (investors)."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers, status
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from invoices.api import CheckSerializer, InvoiceOutputSerializer
from invoices.selectors import invoice_get_for_seller
from paymint.core import clock
from paymint.core.api import date_text, datetime_text, decimal_text, paginated_rows, uuid_text
from paymint.core.error_codes import CoreError
from paymint.core.errors import ValidationFailed
from paymint.core.idempotency import IdempotentWriteMixin
from paymint.core.renderers import FAST_RENDERERS
from paymint.core.schema import ErrorSerializer
from paymint.core.throttling import FundingThrottle
from settlements.stellar.tokens import invoice_asset

from .selectors import (
    investment_get_for_investor,
    investment_list_for_investor,
    investment_list_values_for_investor,
    investment_statement_lines,
    investor_checks,
    listing_get_open,
    listing_get_visible,
    listing_investor_checks,
    listing_search_values,
    marketplace_access_check,
)
from .services import investment_create, invoice_cancel, listing_create
from .web_selectors import investor_portfolio, listing_quote, marketplace_stats

#: The 403 of every marketplace operation, documented with its codes.
MARKETPLACE_FORBIDDEN = OpenApiResponse(
    ErrorSerializer,
    description="The marketplace is open to investors whose KYC is approved (and staff): "
    "``NOT_AN_INVESTOR`` for sellers and other accounts, ``KYC_NOT_APPROVED`` for an investor "
    "whose KYC is not approved yet. Sellers follow their own listing on "
    "``GET /invoices/{id}`` (``listing``).",
)


class CanReadMarketplace(BasePermission):
    """DRF side of :func:`marketplace.selectors.marketplace_access_check`: refuses before any
    input is read, with the rule's own ``PermissionDenied`` (403 ``NOT_AN_INVESTOR`` /
    ``KYC_NOT_APPROVED``, rendered by the API's exception handler)."""

    def has_permission(self, request, view) -> bool:
        marketplace_access_check(user=request.user)
        return True


#: Anonymous callers get 401 ``NOT_AUTHENTICATED`` first, then the marketplace rule applies.
MARKETPLACE_PERMISSIONS = [IsAuthenticated, CanReadMarketplace]


class ListingOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    invoice_number = serializers.CharField(source="invoice.invoice_number")
    seller_name = serializers.CharField(source="invoice.issuer_name")
    debtor_name = serializers.CharField(source="invoice.debtor_name")
    debtor_industry = serializers.CharField(source="invoice.debtor_industry")
    status = serializers.CharField(source="invoice.status")
    risk_grade = serializers.CharField(source="invoice.risk_grade")
    risk_score = serializers.IntegerField(source="invoice.risk_score")
    risk_factors = serializers.JSONField(source="invoice.risk_factors")
    verification = serializers.SerializerMethodField(
        help_text="The invoice's verification checks: code, outcome (passed, blocking) and a "
        "neutral message."
    )
    debtor_confirmed = serializers.SerializerMethodField()
    currency = serializers.CharField()
    face_value = serializers.DecimalField(max_digits=20, decimal_places=2)
    advance_amount = serializers.DecimalField(max_digits=20, decimal_places=2)
    funded_amount = serializers.DecimalField(max_digits=20, decimal_places=2)
    remaining_amount = serializers.DecimalField(max_digits=20, decimal_places=2)
    min_ticket = serializers.DecimalField(max_digits=20, decimal_places=2)
    discount_rate = serializers.DecimalField(max_digits=9, decimal_places=6)
    due_date = serializers.DateField()
    tenor_days = serializers.SerializerMethodField()
    expires_at = serializers.DateTimeField()
    investor_count = serializers.IntegerField()
    token_asset = serializers.SerializerMethodField(
        help_text="The invoice's Stellar token, CODE:ISSUER (null when the chain is off): "
        "open an authorized trustline to it to receive your share in your own wallet."
    )

    def get_token_asset(self, listing) -> str | None:
        if not settings.STELLAR_ENABLED:
            return None
        asset = invoice_asset(listing.invoice_id)
        return f"{asset.code}:{asset.issuer}"

    def get_debtor_confirmed(self, listing) -> bool:
        return listing.invoice.debtor_confirmed_at is not None

    @extend_schema_field(CheckSerializer(many=True))
    def get_verification(self, listing) -> list[dict]:
        return listing_investor_checks(listing=listing)

    def get_tenor_days(self, listing) -> int:
        return max((listing.due_date - clock.today()).days, 0)


#: Columns of a marketplace list row (``.values()``; cursor: ``created_at``, ``id``).
LISTING_ROW_VALUES = (
    "id", "created_at", "public_id", "invoice_id", "invoice__invoice_number",
    "invoice__issuer_name", "invoice__debtor_name", "invoice__debtor_industry",
    "invoice__status", "invoice__risk_grade", "invoice__risk_score", "invoice__risk_factors",
    "invoice__verification", "invoice__debtor_confirmed_at", "currency", "face_value",
    "advance_amount", "funded_amount", "remaining", "min_ticket", "discount_rate", "due_date",
    "expires_at", "investor_count",
)


def listing_row(values: dict, *, today=None, tz=None) -> dict:
    """One marketplace list item from :data:`LISTING_ROW_VALUES`: the same output as
    :class:`ListingOutputSerializer` (tests/marketplace/test_api_rows.py), built without a model
    instance or a serializer per row. ``today`` (the business date) and ``tz`` (the current
    time zone) are read once per page."""
    today = today or clock.today()
    token_asset = None
    if settings.STELLAR_ENABLED:
        asset = invoice_asset(values["invoice_id"])
        token_asset = f"{asset.code}:{asset.issuer}"
    return {
        "id": uuid_text(values["public_id"]),
        "invoice_number": values["invoice__invoice_number"],
        "seller_name": values["invoice__issuer_name"],
        "debtor_name": values["invoice__debtor_name"],
        "debtor_industry": values["invoice__debtor_industry"],
        "status": values["invoice__status"],
        "risk_grade": values["invoice__risk_grade"],
        "risk_score": values["invoice__risk_score"],
        "risk_factors": values["invoice__risk_factors"],
        "verification": investor_checks(values["invoice__verification"]),
        "debtor_confirmed": values["invoice__debtor_confirmed_at"] is not None,
        "currency": values["currency"],
        "face_value": decimal_text(values["face_value"]),
        "advance_amount": decimal_text(values["advance_amount"]),
        "funded_amount": decimal_text(values["funded_amount"]),
        "remaining_amount": decimal_text(values["remaining"]),
        "min_ticket": decimal_text(values["min_ticket"]),
        "discount_rate": decimal_text(values["discount_rate"], 6, 9),
        "due_date": date_text(values["due_date"]),
        "tenor_days": max((values["due_date"] - today).days, 0),
        "expires_at": datetime_text(values["expires_at"], tz),
        "investor_count": values["investor_count"],
        "token_asset": token_asset,
    }


class InvestmentOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    listing_id = serializers.UUIDField(source="listing.public_id")
    invoice_number = serializers.CharField(source="listing.invoice.invoice_number")
    invoice_status = serializers.CharField(source="listing.invoice.status")
    amount = serializers.DecimalField(max_digits=20, decimal_places=2)
    currency = serializers.CharField()
    discount_rate = serializers.DecimalField(max_digits=9, decimal_places=6)
    expected_days = serializers.IntegerField()
    expected_discount_fee = serializers.DecimalField(max_digits=20, decimal_places=2)
    expected_return = serializers.DecimalField(max_digits=20, decimal_places=2)
    discount_fee = serializers.DecimalField(max_digits=20, decimal_places=2, allow_null=True)
    repaid_amount = serializers.DecimalField(max_digits=20, decimal_places=2)
    status = serializers.CharField()
    created_at = serializers.DateTimeField()


#: Columns of an investment list row (``.values()``; cursor: ``created_at``, ``id``).
INVESTMENT_ROW_VALUES = (
    "id", "created_at", "public_id", "listing__public_id", "listing__invoice__invoice_number",
    "listing__invoice__status", "amount", "currency", "discount_rate", "expected_days",
    "expected_discount_fee", "expected_return", "discount_fee", "repaid_amount", "status",
)


def investment_row(values: dict, tz=None) -> dict:
    """One investment list item from :data:`INVESTMENT_ROW_VALUES`: the same output as
    :class:`InvestmentOutputSerializer` (tests/marketplace/test_api_rows.py); ``tz``: the
    current time zone, read once per page."""
    return {
        "id": uuid_text(values["public_id"]),
        "listing_id": uuid_text(values["listing__public_id"]),
        "invoice_number": values["listing__invoice__invoice_number"],
        "invoice_status": values["listing__invoice__status"],
        "amount": decimal_text(values["amount"]),
        "currency": values["currency"],
        "discount_rate": decimal_text(values["discount_rate"], 6, 9),
        "expected_days": values["expected_days"],
        "expected_discount_fee": decimal_text(values["expected_discount_fee"]),
        "expected_return": decimal_text(values["expected_return"]),
        "discount_fee": decimal_text(values["discount_fee"]),
        "repaid_amount": decimal_text(values["repaid_amount"]),
        "status": values["status"],
        "created_at": datetime_text(values["created_at"], tz),
    }


class InvestmentReceiptSerializer(serializers.Serializer):
    """The create response: only fields fixed at funding time, so a replay is identical."""

    id = serializers.UUIDField(source="public_id")
    listing_id = serializers.UUIDField(source="listing.public_id")
    amount = serializers.DecimalField(max_digits=20, decimal_places=2)
    currency = serializers.CharField()
    discount_rate = serializers.DecimalField(max_digits=9, decimal_places=6)
    expected_days = serializers.IntegerField()
    expected_discount_fee = serializers.DecimalField(max_digits=20, decimal_places=2)
    expected_return = serializers.DecimalField(max_digits=20, decimal_places=2)
    created_at = serializers.DateTimeField()


class InvoiceListForFundingApi(IdempotentWriteMixin, APIView):
    """``POST /api/v1/invoices/{id}/list``: list a priced invoice on the marketplace."""

    class InputSerializer(serializers.Serializer):
        advance_rate = serializers.DecimalField(max_digits=9, decimal_places=6, required=False,
                                                min_value=Decimal("0.01"),
                                                max_value=Decimal("1"))
        min_fill_rate = serializers.DecimalField(max_digits=9, decimal_places=6, required=False,
                                                 min_value=Decimal("0.01"),
                                                 max_value=Decimal("1"))

    @extend_schema(request=InputSerializer, responses=InvoiceOutputSerializer)
    def post(self, request, invoice_id):
        invoice = invoice_get_for_seller(seller=request.user, invoice_id=invoice_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        listing_create(invoice=invoice, seller=request.user,
                       advance_rate=data.validated_data.get("advance_rate"),
                       min_fill_rate=data.validated_data.get("min_fill_rate"))
        invoice.refresh_from_db()
        return Response(InvoiceOutputSerializer(invoice).data)


class InvoiceCancelApi(IdempotentWriteMixin, APIView):
    """``POST /api/v1/invoices/{id}/cancel``: the seller withdraws a priced or listed invoice
    before disbursement (:func:`marketplace.services.invoice_cancel`, the invoice page's
    "Cancel" button too): the listing is withdrawn and every investor refunded in full, one
    journal entry per investment. Cancelling a cancelled invoice answers the same (200).
    ``Idempotency-Key`` makes a retry answer the first response."""

    @extend_schema(
        request=None,
        parameters=[OpenApiParameter("Idempotency-Key", OpenApiTypes.STR,
                                     OpenApiParameter.HEADER)],
        responses={200: InvoiceOutputSerializer},
    )
    def post(self, request, invoice_id):
        invoice = invoice_get_for_seller(seller=request.user, invoice_id=invoice_id)
        invoice = invoice_cancel(invoice=invoice, seller=request.user)
        return Response(InvoiceOutputSerializer(invoice).data)


class MarketplaceListApi(APIView):
    """``GET /api/v1/marketplace``: open, unexpired listings, filtered by
    :class:`~marketplace.filters.ListingFilter` (``grade`` (A-E, repeatable), ``currency``,
    ``min_tenor``/``max_tenor`` (days), ``min_amount``/``max_amount`` (remaining amount),
    ``min_yield`` (annual discount rate, fraction), ``industry`` (NACE section)) through
    :func:`~marketplace.selectors.listing_search`, as the marketplace page. For investors
    whose KYC is approved, and staff (403 otherwise)."""

    # listing_search(_values) checks marketplace access itself (the same rule, before it reads the
    # filters): CanReadMarketplace here would run that query a second time.
    permission_classes = [IsAuthenticated]
    renderer_classes = FAST_RENDERERS

    @extend_schema(
        parameters=[
            OpenApiParameter("grade", OpenApiTypes.STR, many=True),
            OpenApiParameter("currency", OpenApiTypes.STR),
            OpenApiParameter("min_tenor", OpenApiTypes.INT),
            OpenApiParameter("max_tenor", OpenApiTypes.INT),
            OpenApiParameter("min_amount", OpenApiTypes.DECIMAL),
            OpenApiParameter("max_amount", OpenApiTypes.DECIMAL),
            OpenApiParameter("min_yield", OpenApiTypes.DECIMAL,
                             description="minimum annual discount rate, as a fraction"),
            OpenApiParameter("industry", OpenApiTypes.STR,
                             description="debtor industry, NACE Rev. 2 section letter"),
        ],
        responses={200: ListingOutputSerializer(many=True), 403: MARKETPLACE_FORBIDDEN},
    )
    def get(self, request):
        listings = listing_search_values(user=request.user, filters=request.query_params,
                                         fields=LISTING_ROW_VALUES)
        today, tz = clock.today(), timezone.get_current_timezone()
        return paginated_rows(self, listings,
                              lambda values: listing_row(values, today=today, tz=tz))


class MarketplaceDetailApi(APIView):
    """``GET /api/v1/marketplace/{id}``: one listing with its risk factors and checks, for
    investors whose KYC is approved, and staff (403 otherwise)."""

    permission_classes = MARKETPLACE_PERMISSIONS

    @extend_schema(responses={200: ListingOutputSerializer, 403: MARKETPLACE_FORBIDDEN})
    def get(self, request, listing_id):
        listing = listing_get_visible(listing_id=listing_id, user=request.user)
        return Response(ListingOutputSerializer(listing).data)


class ListingQuoteApi(APIView):
    """``GET /api/v1/marketplace/{id}/quote?amount=``: the investment calculator, the same
    selector as the listing page's (:func:`marketplace.web_selectors.listing_quote`). The
    quote is exactly what funding ``amount`` today would store on the investment and, if the
    listing is disbursed today and the debtor pays in full on time, what the investor is paid:
    each investment's discount fee is rounded on its own (``investment_discount_fee``) and the
    invoice's fee is their sum. For investors whose KYC is approved, and staff (403
    otherwise)."""

    permission_classes = MARKETPLACE_PERMISSIONS

    class OutputSerializer(serializers.Serializer):
        listing_id = serializers.UUIDField()
        principal = serializers.DecimalField(max_digits=20, decimal_places=2)
        currency = serializers.CharField()
        discount_rate = serializers.DecimalField(
            max_digits=9, decimal_places=6, help_text="Annual discount rate, a fraction.")
        days = serializers.IntegerField(
            help_text="Days from today (disbursement) to the due date, ACT/365F.")
        expected_discount_fee = serializers.DecimalField(max_digits=20, decimal_places=2)
        expected_return = serializers.DecimalField(
            max_digits=20, decimal_places=2, help_text="principal + expected discount fee")
        expected_repayment_date = serializers.DateField()

    @extend_schema(
        parameters=[OpenApiParameter("amount", OpenApiTypes.DECIMAL, required=True,
                                     description="Amount to fund, in the listing's currency")],
        responses={200: OutputSerializer, 403: MARKETPLACE_FORBIDDEN},
    )
    def get(self, request, listing_id):
        listing = listing_get_visible(listing_id=listing_id, user=request.user)
        quote = listing_quote(listing=listing, amount=request.query_params.get("amount", ""))
        return Response(self.OutputSerializer({
            "listing_id": listing.public_id, "principal": quote.principal,
            "currency": quote.currency, "discount_rate": quote.discount_rate,
            "days": quote.days, "expected_discount_fee": quote.expected_discount_fee,
            "expected_return": quote.expected_return,
            "expected_repayment_date": quote.expected_repayment_date,
        }).data)


class MarketplaceStatsApi(APIView):
    """``GET /api/v1/marketplace/stats``: open listings, the amount still to fund by risk grade
    and currency, the average yield per currency (annual discount rate, fraction, weighted by
    the amount open) and what was funded in the last 30 days
    (:func:`marketplace.web_selectors.marketplace_stats`). For investors whose KYC is
    approved, and staff (403 otherwise)."""

    permission_classes = MARKETPLACE_PERMISSIONS

    class OutputSerializer(serializers.Serializer):
        class GradeSerializer(serializers.Serializer):
            grade = serializers.CharField()
            currency = serializers.CharField()
            count = serializers.IntegerField()
            amount = serializers.DecimalField(max_digits=20, decimal_places=2)

        class YieldSerializer(serializers.Serializer):
            currency = serializers.CharField()
            rate = serializers.DecimalField(max_digits=9, decimal_places=6, allow_null=True)

        class FundedSerializer(serializers.Serializer):
            currency = serializers.CharField()
            count = serializers.IntegerField()
            amount = serializers.DecimalField(max_digits=20, decimal_places=2)

        open_listings = serializers.IntegerField()
        open_by_grade = GradeSerializer(many=True)
        average_yield = YieldSerializer(many=True)
        funded_last_30_days = FundedSerializer(many=True)

    @extend_schema(responses={200: OutputSerializer, 403: MARKETPLACE_FORBIDDEN})
    def get(self, request):
        return Response(self.OutputSerializer(marketplace_stats(user=request.user)).data)


class PortfolioApi(APIView):
    """``GET /api/v1/portfolio``: the investor's portfolio per currency, the investor
    dashboard's one read (:func:`marketplace.web_selectors.investor_portfolio`): cash,
    invested (principal still out), expected back, repaid, realised loss, expected XIRR
    (annual, fraction, ACT/365; null when there is none), allocation by grade and by debtor
    (active amounts) and the next repayments. Investors only (403 ``NOT_AN_INVESTOR``)."""

    class OutputSerializer(serializers.Serializer):
        class CurrencySerializer(serializers.Serializer):
            class GradeSerializer(serializers.Serializer):
                grade = serializers.CharField()
                amount = serializers.DecimalField(max_digits=20, decimal_places=2)

            class DebtorSerializer(serializers.Serializer):
                debtor = serializers.CharField()
                amount = serializers.DecimalField(max_digits=20, decimal_places=2)

            class UpcomingSerializer(serializers.Serializer):
                investment_id = serializers.UUIDField()
                invoice_number = serializers.CharField()
                debtor = serializers.CharField()
                due_date = serializers.DateField()
                expected_amount = serializers.DecimalField(max_digits=20, decimal_places=2)

            currency = serializers.CharField()
            cash = serializers.DecimalField(max_digits=20, decimal_places=2)
            invested = serializers.DecimalField(max_digits=20, decimal_places=2)
            expected_back = serializers.DecimalField(max_digits=20, decimal_places=2)
            repaid = serializers.DecimalField(max_digits=20, decimal_places=2)
            realised_loss = serializers.DecimalField(max_digits=20, decimal_places=2)
            xirr = serializers.DecimalField(max_digits=12, decimal_places=6, allow_null=True)
            allocation_by_grade = GradeSerializer(many=True)
            allocation_by_debtor = DebtorSerializer(many=True)
            upcoming_repayments = UpcomingSerializer(many=True)

        as_of = serializers.DateField()
        currencies = CurrencySerializer(many=True)

    @extend_schema(responses=OutputSerializer)
    def get(self, request):
        today = clock.today()
        portfolio = investor_portfolio(investor=request.user, today=today)
        return Response(self.OutputSerializer(
            {"as_of": today, "currencies": portfolio.by_currency()}).data)


class InvestmentCreateApi(APIView):
    """``POST /api/v1/marketplace/{id}/investments``: fund part of a listing.

    Send an ``Idempotency-Key`` header to make retries safe: a replay returns the first
    response (same status and body, plus ``Idempotent-Replayed: true``); the same key with a
    different body answers 422 ``IDEMPOTENCY_KEY_REUSED``.
    """

    throttle_classes = [FundingThrottle]  # per investor, 429 RATE_LIMITED
    permission_classes = MARKETPLACE_PERMISSIONS  # staff pass, then the service refuses them

    class InputSerializer(serializers.Serializer):
        amount = serializers.DecimalField(max_digits=18, decimal_places=7)

    @extend_schema(
        request=InputSerializer,
        parameters=[OpenApiParameter("Idempotency-Key", OpenApiTypes.STR,
                                     OpenApiParameter.HEADER)],
        responses={
            201: InvestmentReceiptSerializer,
            403: OpenApiResponse(
                ErrorSerializer,
                description="``NOT_AN_INVESTOR`` (sellers, staff), ``KYC_NOT_APPROVED``, "
                "``ACCOUNT_ON_HOLD``.",
            ),
        },
    )
    def post(self, request, listing_id):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        key = request.headers.get("Idempotency-Key", "")
        if len(key) > 255:
            raise ValidationFailed("Idempotency-Key is too long.",
                                   code=CoreError.INVALID_IDEMPOTENCY_KEY)
        listing = listing_get_open(listing_id=listing_id) if not key else \
            listing_get_visible(listing_id=listing_id, user=request.user)
        investment, created = investment_create(
            investor=request.user, listing=listing, amount=data.validated_data["amount"],
            idempotency_key=key,
        )
        investment = investment_list_for_investor(investor=request.user).get(pk=investment.pk)
        response = Response(InvestmentReceiptSerializer(investment).data,
                            status=status.HTTP_201_CREATED)
        if not created:
            response["Idempotent-Replayed"] = "true"
        return response


class InvestmentStatementApi(APIView):
    """``GET /api/v1/investments/{id}``: an itemized statement of one investment: the accepted
    quote, what was paid back by component (principal, discount fee, late interest), any loss,
    and every cash movement on the investor's wallet for this invoice."""

    class OutputSerializer(InvestmentOutputSerializer):
        principal_repaid = serializers.DecimalField(max_digits=20, decimal_places=2)
        fee_repaid = serializers.DecimalField(max_digits=20, decimal_places=2)
        late_interest_repaid = serializers.DecimalField(max_digits=20, decimal_places=2)
        loss = serializers.DecimalField(max_digits=20, decimal_places=2)
        due_date = serializers.DateField(source="listing.due_date")
        disbursed_on = serializers.DateField(source="listing.disbursed_on", allow_null=True)
        lines = serializers.SerializerMethodField()

        class LineSerializer(serializers.Serializer):
            date = serializers.DateField()
            kind = serializers.CharField()
            description = serializers.CharField()
            amount = serializers.DecimalField(max_digits=20, decimal_places=2)
            currency = serializers.CharField()

        @extend_schema_field(LineSerializer(many=True))
        def get_lines(self, investment) -> list[dict]:
            return [
                {"date": p.entry.effective_date.isoformat(), "kind": p.entry.kind,
                 "description": p.memo or p.entry.description, "amount": f"{p.amount:.2f}",
                 "currency": p.currency}
                for p in investment_statement_lines(investment=investment)
            ]

    @extend_schema(responses=OutputSerializer)
    def get(self, request, investment_id):
        investment = investment_get_for_investor(investor=request.user,
                                                 investment_id=investment_id)
        return Response(self.OutputSerializer(investment).data)


class InvestmentListApi(APIView):
    """``GET /api/v1/investments``: the investor's investments (cursor-paginated)."""

    renderer_classes = FAST_RENDERERS

    @extend_schema(responses=InvestmentOutputSerializer(many=True))
    def get(self, request):
        investments = investment_list_values_for_investor(investor=request.user,
                                                          fields=INVESTMENT_ROW_VALUES)
        tz = timezone.get_current_timezone()
        return paginated_rows(self, investments, lambda values: investment_row(values, tz))

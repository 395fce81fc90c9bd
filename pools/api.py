"""API of passive investing: the investor's auto-invest rule and its log."""

from __future__ import annotations

from decimal import Decimal

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from marketplace.api import MARKETPLACE_FORBIDDEN, CanReadMarketplace
from paymint.core.api import paginated
from paymint.core.idempotency import IdempotentWriteMixin

from .selectors import auto_invest_log_for_investor, auto_invest_rule_get_for_investor
from .services import auto_invest_rule_set

IDEMPOTENCY_HEADER = OpenApiParameter("Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER)


class AutoInvestRuleSerializer(serializers.Serializer):
    """An auto-invest rule. Amounts in each of ``currencies`` (their units), the minimum
    discount rate an annual fraction (ACT/365), tenors in days."""

    currencies = serializers.ListField(
        child=serializers.CharField(max_length=3), allow_empty=False, max_length=10
    )
    grades = serializers.ListField(
        child=serializers.CharField(max_length=1), allow_empty=False, max_length=10
    )
    min_tenor_days = serializers.IntegerField(min_value=0, max_value=3650, default=0)
    max_tenor_days = serializers.IntegerField(min_value=0, max_value=3650, default=365)
    min_discount_rate = serializers.DecimalField(
        max_digits=9, decimal_places=6, min_value=Decimal(0), default=Decimal(0)
    )
    amount_per_invoice = serializers.DecimalField(max_digits=18, decimal_places=2)
    max_per_debtor = serializers.DecimalField(max_digits=18, decimal_places=2)
    cash_to_keep = serializers.DecimalField(
        max_digits=18, decimal_places=2, min_value=Decimal(0), default=Decimal(0)
    )
    paused = serializers.BooleanField(default=False)


class AutoInvestRuleApi(IdempotentWriteMixin, APIView):
    """``GET /api/v1/auto-invest``: the investor's auto-invest rule (404
    ``AUTO_INVEST_RULE_NOT_FOUND`` before one is set). ``PUT`` sets the whole rule (pause it
    with ``"paused": true``); send ``Idempotency-Key`` to make a retry return the first
    answer. For investors whose KYC is approved."""

    permission_classes = [IsAuthenticated, CanReadMarketplace]
    idempotent_methods = ("PUT",)

    class OutputSerializer(AutoInvestRuleSerializer):
        id = serializers.UUIDField(source="public_id")
        last_invested_at = serializers.DateTimeField(allow_null=True)
        updated_at = serializers.DateTimeField()

    @extend_schema(responses={200: OutputSerializer, 403: MARKETPLACE_FORBIDDEN})
    def get(self, request):
        rule = auto_invest_rule_get_for_investor(investor=request.user)
        return Response(self.OutputSerializer(rule).data)

    @extend_schema(
        request=AutoInvestRuleSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={200: OutputSerializer, 403: MARKETPLACE_FORBIDDEN},
    )
    def put(self, request):
        data = AutoInvestRuleSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        rule = auto_invest_rule_set(investor=request.user, **data.validated_data)
        return Response(self.OutputSerializer(rule).data)


class AutoInvestLogApi(APIView):
    """``GET /api/v1/auto-invest/log``: what the investor's rule did, listing by listing: the
    investment with its stored quote, or the reason it skipped (cursor-paginated, newest
    first)."""

    permission_classes = [IsAuthenticated, CanReadMarketplace]

    class OutputSerializer(serializers.Serializer):
        id = serializers.UUIDField(source="public_id")
        listing_id = serializers.UUIDField(source="listing.public_id")
        invoice_number = serializers.CharField(source="listing.invoice.invoice_number")
        outcome = serializers.CharField()
        reason = serializers.CharField()
        amount = serializers.DecimalField(max_digits=20, decimal_places=2, allow_null=True)
        currency = serializers.CharField()
        investment_id = serializers.UUIDField(
            source="investment.public_id", allow_null=True, default=None
        )
        discount_rate = serializers.DecimalField(
            source="investment.discount_rate",
            max_digits=9,
            decimal_places=6,
            allow_null=True,
            default=None,
        )
        expected_return = serializers.DecimalField(
            source="investment.expected_return",
            max_digits=20,
            decimal_places=2,
            allow_null=True,
            default=None,
        )
        rule = serializers.JSONField(source="rule_snapshot")
        created_at = serializers.DateTimeField()

    @extend_schema(responses={200: OutputSerializer(many=True), 403: MARKETPLACE_FORBIDDEN})
    def get(self, request):
        return paginated(
            self, auto_invest_log_for_investor(investor=request.user), self.OutputSerializer
        )

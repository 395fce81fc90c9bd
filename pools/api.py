"""API of passive investing: the investor's auto-invest rule and its log; the liquidity
pools (figures, NAV history, deposits, redemptions, position, the calculator)."""

from __future__ import annotations

from decimal import Decimal

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from marketplace.api import MARKETPLACE_FORBIDDEN, CanReadMarketplace
from paymint.core.api import paginated
from paymint.core.error_codes import CoreError
from paymint.core.errors import ValidationFailed
from paymint.core.idempotency import IdempotentWriteMixin

from .selectors import (
    auto_invest_log_for_investor,
    auto_invest_rule_get_for_investor,
    pool_get,
    pool_list,
    pool_nav_history,
    pool_position,
    pool_quote,
    pool_stats,
    redemption_get_for_investor,
)
from .services import (
    auto_invest_rule_set,
    pool_deposit,
    redemption_cancel,
    redemption_request,
)

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


# --- Liquidity pools ---------------------------------------------------------------------


class PoolOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    name = serializers.CharField()
    currency = serializers.CharField()
    inception_date = serializers.DateField()
    shares_outstanding = serializers.DecimalField(max_digits=30, decimal_places=10)
    deposits_paused = serializers.BooleanField()
    allocation_paused = serializers.BooleanField()


class QueueSerializer(serializers.Serializer):
    requests = serializers.IntegerField()
    shares = serializers.DecimalField(max_digits=30, decimal_places=10)
    estimated_value = serializers.DecimalField(max_digits=20, decimal_places=2)


class QueuedRedemptionSerializer(serializers.Serializer):
    """One of your queued redemptions: its place (1 = paid next), the shares queued before
    it, and what it would be paid at today's NAV (an estimate)."""

    id = serializers.UUIDField()
    place = serializers.IntegerField()
    shares = serializers.DecimalField(max_digits=30, decimal_places=10)
    shares_ahead = serializers.DecimalField(max_digits=30, decimal_places=10)
    payable_from = serializers.DateField()
    estimate = serializers.DecimalField(max_digits=20, decimal_places=2)


class PoolStatsSerializer(serializers.Serializer):
    """A pool's figures. Money in the pool's currency; rates as annual fractions."""

    net_assets = serializers.DecimalField(source="nav.net_assets", max_digits=20, decimal_places=2)
    nav_per_share = serializers.DecimalField(
        source="nav.nav_per_share", max_digits=30, decimal_places=10
    )
    cash = serializers.DecimalField(source="nav.cash", max_digits=20, decimal_places=2)
    principal = serializers.DecimalField(source="nav.principal", max_digits=20, decimal_places=2)
    accrued_fee = serializers.DecimalField(
        source="nav.accrued_fee", max_digits=20, decimal_places=2
    )
    provisions = serializers.DecimalField(source="nav.provisions", max_digits=20, decimal_places=2)
    redemptions_owed = serializers.DecimalField(
        source="nav.redemptions_owed", max_digits=20, decimal_places=2
    )
    apy_30d = serializers.DecimalField(max_digits=12, decimal_places=6, allow_null=True)
    apy_since_inception = serializers.DecimalField(max_digits=12, decimal_places=6, allow_null=True)
    apy_formula = serializers.CharField()
    forward_yield = serializers.DecimalField(max_digits=12, decimal_places=6)
    forward_yield_formula = serializers.CharField()
    day_count = serializers.CharField()
    utilisation = serializers.DecimalField(max_digits=9, decimal_places=6)
    outstanding_by_grade = serializers.DictField(child=serializers.CharField())
    outstanding_by_bucket = serializers.DictField(child=serializers.CharField())
    realised_default_rate = serializers.DecimalField(max_digits=9, decimal_places=6)
    redemption_queue = QueueSerializer()


class PoolListApi(APIView):
    """``GET /api/v1/pools``: the liquidity pools (one per currency), cursor-paginated."""

    permission_classes = [IsAuthenticated, CanReadMarketplace]

    @extend_schema(responses={200: PoolOutputSerializer(many=True), 403: MARKETPLACE_FORBIDDEN})
    def get(self, request):
        return paginated(self, pool_list(), PoolOutputSerializer)


class PoolDetailApi(APIView):
    """``GET /api/v1/pools/{id}``: a pool with its figures (NAV and its terms, APY trailing 30
    days and since inception with the formula and day count, forward yield, utilisation,
    outstanding by grade and aging bucket, realised default rate, redemption queue)."""

    permission_classes = [IsAuthenticated, CanReadMarketplace]

    class OutputSerializer(PoolOutputSerializer):
        stats = serializers.SerializerMethodField()

        def get_stats(self, pool) -> dict:
            return PoolStatsSerializer(pool_stats(pool=pool)).data

    @extend_schema(responses={200: OutputSerializer, 403: MARKETPLACE_FORBIDDEN})
    def get(self, request, pool_id):
        return Response(self.OutputSerializer(pool_get(pool_id=pool_id)).data)


class PoolNavHistoryApi(APIView):
    """``GET /api/v1/pools/{id}/nav-history``: the NAV stored each day (newest first,
    cursor-paginated), each with its terms."""

    permission_classes = [IsAuthenticated, CanReadMarketplace]

    class OutputSerializer(serializers.Serializer):
        date = serializers.DateField()
        net_assets = serializers.DecimalField(max_digits=20, decimal_places=2)
        nav_per_share = serializers.DecimalField(max_digits=30, decimal_places=10)
        shares_outstanding = serializers.DecimalField(max_digits=30, decimal_places=10)
        cash = serializers.DecimalField(max_digits=20, decimal_places=2)
        principal = serializers.DecimalField(max_digits=20, decimal_places=2)
        accrued_fee = serializers.DecimalField(max_digits=20, decimal_places=2)
        provisions = serializers.DecimalField(max_digits=20, decimal_places=2)

    @extend_schema(responses={200: OutputSerializer(many=True), 403: MARKETPLACE_FORBIDDEN})
    def get(self, request, pool_id):
        pool = pool_get(pool_id=pool_id)
        return paginated(self, pool_nav_history(pool=pool), self.OutputSerializer)


def _idempotency_key(request) -> str:
    key = request.headers.get("Idempotency-Key", "")
    if len(key) > 255:
        raise ValidationFailed(
            "Idempotency-Key is too long.", code=CoreError.INVALID_IDEMPOTENCY_KEY
        )
    return key


class PoolDepositApi(APIView):
    """``POST /api/v1/pools/{id}/deposits {"amount"}``: buy shares with cash from the wallet
    at the NAV computed now. Send ``Idempotency-Key``: a replay returns the first deposit
    (``Idempotent-Replayed: true``), the same key with another body 422
    ``IDEMPOTENCY_KEY_REUSED``."""

    permission_classes = [IsAuthenticated, CanReadMarketplace]

    class InputSerializer(serializers.Serializer):
        amount = serializers.DecimalField(max_digits=18, decimal_places=7)

    class OutputSerializer(serializers.Serializer):
        id = serializers.UUIDField(source="public_id")
        amount = serializers.DecimalField(max_digits=20, decimal_places=2)
        shares = serializers.DecimalField(max_digits=30, decimal_places=10)
        nav_per_share = serializers.DecimalField(max_digits=30, decimal_places=10)
        created_at = serializers.DateTimeField()

    @extend_schema(
        request=InputSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={201: OutputSerializer, 403: MARKETPLACE_FORBIDDEN},
    )
    def post(self, request, pool_id):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        key = _idempotency_key(request)
        made, created = pool_deposit(
            pool=pool_get(pool_id=pool_id),
            investor=request.user,
            amount=data.validated_data["amount"],
            idempotency_key=key,
        )
        response = Response(self.OutputSerializer(made).data, status=status.HTTP_201_CREATED)
        if not created:
            response["Idempotent-Replayed"] = "true"
        return response


class RedemptionOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    shares = serializers.DecimalField(max_digits=30, decimal_places=10)
    shares_paid = serializers.DecimalField(max_digits=30, decimal_places=10)
    amount_paid = serializers.DecimalField(max_digits=20, decimal_places=2)
    status = serializers.CharField()
    payable_from = serializers.DateField()
    created_at = serializers.DateTimeField()


class PoolRedemptionCollectionApi(APIView):
    """``POST /api/v1/pools/{id}/redemptions {"amount"}`` or ``{"shares"}``: queue a
    redemption, paid first-in first-out from the pool's cash at the NAV of the day it is
    paid (in parts when cash is short), after the notice period. Takes ``Idempotency-Key``
    like a deposit."""

    permission_classes = [IsAuthenticated, CanReadMarketplace]

    class InputSerializer(serializers.Serializer):
        amount = serializers.DecimalField(max_digits=18, decimal_places=7, required=False)
        shares = serializers.DecimalField(max_digits=30, decimal_places=10, required=False)

    @extend_schema(
        request=InputSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={201: RedemptionOutputSerializer, 403: MARKETPLACE_FORBIDDEN},
    )
    def post(self, request, pool_id):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        key = _idempotency_key(request)
        made, created = redemption_request(
            pool=pool_get(pool_id=pool_id),
            investor=request.user,
            amount=data.validated_data.get("amount"),
            shares=data.validated_data.get("shares"),
            idempotency_key=key,
        )
        response = Response(RedemptionOutputSerializer(made).data, status=status.HTTP_201_CREATED)
        if not created:
            response["Idempotent-Replayed"] = "true"
        return response


class PoolRedemptionApi(IdempotentWriteMixin, APIView):
    """``DELETE /api/v1/pools/{id}/redemptions/{rid}``: cancel your queued redemption (what
    was already paid of it stays paid). Cancelling twice answers the cancelled request."""

    permission_classes = [IsAuthenticated, CanReadMarketplace]
    idempotent_methods = ("DELETE",)

    @extend_schema(
        parameters=[IDEMPOTENCY_HEADER],
        responses={200: RedemptionOutputSerializer, 403: MARKETPLACE_FORBIDDEN},
    )
    def delete(self, request, pool_id, redemption_id):
        pool = pool_get(pool_id=pool_id)
        found = redemption_get_for_investor(
            investor=request.user, pool=pool, redemption_id=redemption_id
        )
        return Response(
            RedemptionOutputSerializer(redemption_cancel(request=found, investor=request.user)).data
        )


class PoolPositionApi(APIView):
    """``GET /api/v1/pools/{id}/position``: your shares, their value (your part of the net
    assets), what they cost, the gain, and your queued redemptions with their place in the
    queue, the shares ahead and an estimate at today's NAV."""

    permission_classes = [IsAuthenticated, CanReadMarketplace]

    class OutputSerializer(serializers.Serializer):
        currency = serializers.CharField()
        shares = serializers.DecimalField(max_digits=30, decimal_places=10)
        value = serializers.DecimalField(max_digits=20, decimal_places=2)
        invested = serializers.DecimalField(max_digits=20, decimal_places=2)
        gain = serializers.DecimalField(max_digits=20, decimal_places=2)
        nav_per_share = serializers.DecimalField(max_digits=30, decimal_places=10)
        redemptions = QueuedRedemptionSerializer(many=True)

    @extend_schema(responses={200: OutputSerializer, 403: MARKETPLACE_FORBIDDEN})
    def get(self, request, pool_id):
        position = pool_position(pool=pool_get(pool_id=pool_id), investor=request.user)
        return Response(self.OutputSerializer(position).data)


class PoolQuoteApi(APIView):
    """``GET /api/v1/pools/{id}/quote?amount=&days=``: the calculator - what ``amount``
    deposited today might be worth after ``days`` at the pool's forward yield. An estimate,
    not a promise (the answer says so)."""

    permission_classes = [IsAuthenticated, CanReadMarketplace]

    class InputSerializer(serializers.Serializer):
        amount = serializers.DecimalField(
            max_digits=18, decimal_places=2, min_value=Decimal("0.01")
        )
        days = serializers.IntegerField(min_value=1, max_value=3650)

    class OutputSerializer(serializers.Serializer):
        amount = serializers.DecimalField(max_digits=20, decimal_places=2)
        days = serializers.IntegerField()
        currency = serializers.CharField()
        annual_yield = serializers.DecimalField(max_digits=12, decimal_places=6)
        projected_value = serializers.DecimalField(max_digits=20, decimal_places=2)
        estimate = serializers.BooleanField()
        label = serializers.CharField()
        formula = serializers.CharField()

    @extend_schema(
        parameters=[
            OpenApiParameter("amount", OpenApiTypes.DECIMAL, required=True),
            OpenApiParameter("days", OpenApiTypes.INT, required=True),
        ],
        responses={200: OutputSerializer, 403: MARKETPLACE_FORBIDDEN},
    )
    def get(self, request, pool_id):
        data = self.InputSerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        quote = pool_quote(pool=pool_get(pool_id=pool_id), **data.validated_data)
        return Response(self.OutputSerializer(quote).data)

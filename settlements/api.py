"""Wallet API and the bank webhook endpoint."""

from __future__ import annotations

import json

from django.conf import settings
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from paymint.core.api import (
    NewestFirstCursorPagination,
    date_text,
    datetime_text,
    decimal_text,
    paginated,
    uuid_text,
)
from paymint.core.errors import ValidationFailed
from paymint.core.renderers import FAST_RENDERERS
from paymint.core.throttling import WebhookThrottle

from .enums import EntryKind
from .error_codes import SettlementsError
from .ledger import wallet_balances, wallet_entries_values, withdrawal_list_for_user
from .selectors import (
    settlement_get_for_user,
    settlement_list_for_user,
    settlement_views,
    wallet_entry_search,
)
from .services import bank_event_apply, withdrawal_request
from .views import statement_csv_response
from .webhooks import verify_signature


class WalletEntrySerializer(serializers.Serializer):
    entry_id = serializers.UUIDField(source="entry.public_id")
    kind = serializers.CharField(source="entry.kind")
    description = serializers.CharField(source="entry.description")
    amount = serializers.DecimalField(max_digits=20, decimal_places=2)
    currency = serializers.CharField()
    effective_date = serializers.DateField(source="entry.effective_date")
    created_at = serializers.DateTimeField(source="entry.created_at")


#: Columns of a wallet entry (``.values()`` of :func:`wallet_entries`).
WALLET_ENTRY_VALUES = ("entry__public_id", "entry__kind", "entry__description", "amount",
                       "currency", "entry__effective_date", "entry__created_at")


def wallet_entry_row(values: dict, tz=None) -> dict:
    """One wallet entry from :data:`WALLET_ENTRY_VALUES`: the same output as
    :class:`WalletEntrySerializer` (tests/settlements/test_api_rows.py), without a model
    instance or a serializer per row; ``tz``: the current time zone, read once per answer."""
    return {
        "entry_id": uuid_text(values["entry__public_id"]),
        "kind": values["entry__kind"],
        "description": values["entry__description"],
        "amount": decimal_text(values["amount"]),
        "currency": values["currency"],
        "effective_date": date_text(values["entry__effective_date"]),
        "created_at": datetime_text(values["entry__created_at"], tz),
    }


class WalletApi(APIView):
    """``GET /api/v1/wallet``: balances per currency, the deposit reference and the latest
    entries (up to 100; older ones in the dashboard statement)."""

    renderer_classes = FAST_RENDERERS

    class OutputSerializer(serializers.Serializer):
        class BalanceSerializer(serializers.Serializer):
            currency = serializers.CharField()
            balance = serializers.DecimalField(max_digits=20, decimal_places=2)

        deposit_reference = serializers.CharField()
        balances = BalanceSerializer(many=True)
        entries = WalletEntrySerializer(many=True)

    @extend_schema(responses=OutputSerializer)
    def get(self, request):
        balances = [
            {"currency": b["currency"], "balance": f"{b['balance']:.2f}"}
            for b in wallet_balances(user=request.user)
        ]
        entries = wallet_entries_values(user=request.user, fields=WALLET_ENTRY_VALUES, limit=100)
        tz = timezone.get_current_timezone()
        return Response({
            "deposit_reference": request.user.deposit_reference,
            "balances": balances,
            "entries": [wallet_entry_row(values, tz) for values in entries],
        })


class WalletEntryListApi(APIView):
    """``GET /api/v1/wallet/entries``: every movement on the user's cash accounts, newest
    first, cursor-paginated (``cursor``, ``page_size`` up to 100), filtered by
    :class:`~settlements.filters.WalletEntryFilter` through
    :func:`~settlements.selectors.wallet_entry_search`: ``kind`` (repeatable), ``date_from``,
    ``date_to`` (effective date, inclusive, YYYY-MM-DD), ``currency``."""

    @extend_schema(
        parameters=[
            OpenApiParameter("kind", OpenApiTypes.STR, many=True,
                             enum=[k.value for k in EntryKind]),
            OpenApiParameter("date_from", OpenApiTypes.DATE),
            OpenApiParameter("date_to", OpenApiTypes.DATE),
            OpenApiParameter("currency", OpenApiTypes.STR),
        ],
        responses=WalletEntrySerializer(many=True),
    )
    def get(self, request):
        return paginated(self, wallet_entry_search(user=request.user,
                                                   filters=request.query_params),
                         WalletEntrySerializer)


class WalletStatementCsvApi(APIView):
    """``GET /api/v1/wallet/statement.csv``: the full statement as CSV (the wallet page's
    download): date, booked_at, entry_id, kind, description, memo, currency, amount and the
    running balance per currency, oldest first."""

    @extend_schema(operation_id="wallet_statement_csv_retrieve",
                   responses={(200, "text/csv"): OpenApiResponse(
        OpenApiTypes.STR, description="CSV, header row first.")})
    def get(self, request):
        return statement_csv_response(request.user)


class InvestorShareSerializer(serializers.Serializer):
    investment_id = serializers.UUIDField()
    amount = serializers.DecimalField(max_digits=20, decimal_places=2)


class SettlementOutputSerializer(serializers.Serializer):
    """A payment on an invoice as the user sees it: the seller the whole payment with the
    reserve released to them; an investor their own share only."""

    id = serializers.UUIDField(source="settlement.public_id")
    invoice_id = serializers.UUIDField(allow_null=True,
                                       help_text="The seller's invoice (null for investors)")
    invoice_number = serializers.CharField(source="settlement.invoice.invoice_number")
    source = serializers.CharField(source="settlement.source",
                                   help_text="DEBTOR (the debtor paid) or RECOURSE (the seller)")
    status = serializers.CharField(source="settlement.status",
                                   help_text="PENDING until distributed, then COMPLETED")
    paid_amount = serializers.DecimalField(source="settlement.repaid_amount", max_digits=20,
                                           decimal_places=2)
    currency = serializers.CharField(source="settlement.currency")
    role = serializers.ChoiceField(choices=["SELLER", "INVESTOR"])
    investor_share = serializers.DecimalField(max_digits=20, decimal_places=2,
                                              allow_null=True)
    investor_shares = InvestorShareSerializer(many=True)
    seller_reserve = serializers.DecimalField(max_digits=20, decimal_places=2,
                                              allow_null=True)
    seller_receivable = serializers.DecimalField(max_digits=20, decimal_places=2,
                                                 allow_null=True)
    platform_late_fee = serializers.DecimalField(max_digits=20, decimal_places=2,
                                                 allow_null=True)
    chain_tx_hashes = serializers.ListField(child=serializers.CharField())
    created_at = serializers.DateTimeField(source="settlement.created_at")
    completed_at = serializers.DateTimeField(source="settlement.completed_at", allow_null=True)


class SettlementListApi(APIView):
    """``GET /api/v1/settlements``: payments on the seller's invoices, or on the invoices the
    investor funded (their share only), newest first, cursor-paginated."""

    @extend_schema(responses=SettlementOutputSerializer(many=True))
    def get(self, request):
        paginator = NewestFirstCursorPagination()
        page = paginator.paginate_queryset(settlement_list_for_user(user=request.user),
                                           request, view=self)
        rows = settlement_views(user=request.user, settlements=list(page))
        return paginator.get_paginated_response(
            SettlementOutputSerializer(rows, many=True).data)


class SettlementDetailApi(APIView):
    """``GET /api/v1/settlements/{id}``: one of the user's settlements (404
    ``SETTLEMENT_NOT_FOUND`` for anyone else's)."""

    @extend_schema(responses=SettlementOutputSerializer)
    def get(self, request, settlement_id):
        settlement = settlement_get_for_user(user=request.user, settlement_id=settlement_id)
        row = settlement_views(user=request.user, settlements=[settlement])[0]
        return Response(SettlementOutputSerializer(row).data)


class WithdrawalOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    reference = serializers.CharField()
    amount = serializers.DecimalField(max_digits=20, decimal_places=2)
    currency = serializers.CharField()
    status = serializers.CharField()
    failure_reason = serializers.CharField()
    created_at = serializers.DateTimeField()


class WithdrawalCollectionApi(APIView):
    """``GET /api/v1/wallet/withdrawals``: the user's withdrawals.
    ``POST``: request one; the amount is held at once (honours ``Idempotency-Key``).
    At or above ``PAYMINT["WITHDRAWAL_2FA_THRESHOLD"]`` it needs ``otp_code`` from the user's
    authenticator app: 400 ``OTP_REQUIRED`` / ``INVALID_OTP``, 403
    ``TWO_FACTOR_SETUP_REQUIRED``; nothing is held then."""

    class InputSerializer(serializers.Serializer):
        amount = serializers.DecimalField(max_digits=18, decimal_places=7)
        currency = serializers.CharField(max_length=3)
        otp_code = serializers.CharField(max_length=16, required=False, allow_blank=True,
                                         help_text="Code from the authenticator app; needed "
                                         "for large withdrawals.")

    @extend_schema(responses=WithdrawalOutputSerializer(many=True))
    def get(self, request):
        return paginated(self, withdrawal_list_for_user(user=request.user),
                         WithdrawalOutputSerializer)

    @extend_schema(request=InputSerializer, responses={201: WithdrawalOutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        withdrawal, created = withdrawal_request(
            user=request.user, amount=data.validated_data["amount"],
            currency=data.validated_data["currency"].upper(),
            idempotency_key=request.headers.get("Idempotency-Key", ""),
            otp_code=data.validated_data.get("otp_code", ""),
        )
        body = WithdrawalOutputSerializer(withdrawal).data
        body["status"] = "REQUESTED"  # the create response never changes on replay
        response = Response(body, status=status.HTTP_201_CREATED)
        if not created:
            response["Idempotent-Replayed"] = "true"
        return response


class BankWebhookApi(APIView):
    """``POST /api/v1/webhooks/bank``: signed events from the bank.

    Signature: ``X-PayMint-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`` with
    ``BANK_WEBHOOK_SECRET``. Events: ``deposit.received``, ``repayment.received``,
    ``withdrawal.paid``, ``withdrawal.failed``, ``withdrawal.returned`` (a paid payout sent
    back). Bad or stale
    signatures answer 401; a replayed event id 409 ``DUPLICATE_EVENT``.
    """

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [WebhookThrottle]  # per sending IP, 429 RATE_LIMITED

    class EventSerializer(serializers.Serializer):
        class DataSerializer(serializers.Serializer):
            reference = serializers.CharField(
                help_text="The user's deposit reference, the invoice's repayment reference or "
                "the withdrawal's reference.")
            amount = serializers.DecimalField(max_digits=20, decimal_places=7)
            currency = serializers.CharField()

        id = serializers.CharField(help_text="The bank's event id (applied once).")
        type = serializers.ChoiceField(choices=["deposit.received", "repayment.received",
                                                "withdrawal.paid", "withdrawal.failed",
                                                "withdrawal.returned"])
        created = serializers.IntegerField(help_text="Unix time.")
        data = DataSerializer()

    class OutputSerializer(serializers.Serializer):
        id = serializers.CharField()
        status = serializers.CharField()
        entry_id = serializers.UUIDField(allow_null=True)

    @extend_schema(request=EventSerializer, responses={200: OutputSerializer})
    def post(self, request):
        body = request.body
        verify_signature(
            body=body,
            header=request.headers.get("X-PayMint-Signature"),
            secret=settings.BANK_WEBHOOK_SECRET,
            tolerance_seconds=settings.BANK_WEBHOOK_TOLERANCE_SECONDS,
        )
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise ValidationFailed("The body is not valid JSON.",
                                   code=SettlementsError.INVALID_EVENT) from None
        event = bank_event_apply(payload=payload)
        return Response(
            {"id": event.event_id, "status": event.status,
             "entry_id": str(event.entry.public_id) if event.entry else None},
            status=status.HTTP_200_OK,
        )

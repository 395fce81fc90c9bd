"""Accounts API: registration, tokens, the current user, KYC/KYB submission."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from paymint.core.idempotency import IdempotentWriteMixin

from .enums import Role
from .selectors import kyc_profile_for_user
from .services import kyc_submit, user_register


class KycOutputSerializer(serializers.Serializer):
    kind = serializers.CharField()
    legal_name = serializers.CharField()
    country = serializers.CharField()
    tax_id = serializers.CharField()
    status = serializers.CharField()
    decision_reason = serializers.CharField()
    decided_at = serializers.DateTimeField(allow_null=True)


class UserOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    email = serializers.EmailField()
    role = serializers.CharField()
    deposit_reference = serializers.CharField()


class UserRegisterApi(APIView):
    """``POST /api/v1/auth/register``: create a seller or investor account."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    class InputSerializer(serializers.Serializer):
        email = serializers.EmailField()
        password = serializers.CharField(write_only=True, max_length=128)
        role = serializers.ChoiceField(choices=[Role.SELLER, Role.INVESTOR])

    @extend_schema(request=InputSerializer, responses={201: UserOutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = user_register(**data.validated_data)
        return Response(UserOutputSerializer(user).data, status=status.HTTP_201_CREATED)


class MeApi(APIView):
    """``GET /api/v1/me``: the signed-in user and their KYC/KYB status."""

    class OutputSerializer(UserOutputSerializer):
        kyc = KycOutputSerializer(allow_null=True)

    @extend_schema(responses=OutputSerializer)
    def get(self, request):
        user = request.user
        profile = kyc_profile_for_user(user=user)
        payload = UserOutputSerializer(user).data
        payload["kyc"] = KycOutputSerializer(profile).data if profile else None
        return Response(payload)


class KycSubmitApi(IdempotentWriteMixin, APIView):
    """``POST /api/v1/me/kyc``: submit KYC (investor) or KYB (seller) details for review."""

    class InputSerializer(serializers.Serializer):
        legal_name = serializers.CharField(max_length=200)
        country = serializers.CharField(min_length=2, max_length=2)
        tax_id = serializers.CharField(max_length=32)
        address = serializers.CharField(max_length=300, required=False, allow_blank=True)

    @extend_schema(request=InputSerializer, responses={201: KycOutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        profile = kyc_submit(user=request.user, **data.validated_data)
        return Response(KycOutputSerializer(profile).data, status=status.HTTP_201_CREATED)

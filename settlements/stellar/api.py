"""SEP-10 API: connect a wallet (``/api/v1/stellar/auth/challenge`` and ``/verify``, signed in)
and sign in with a connected wallet (``/api/v1/stellar/auth/login/challenge`` and ``/login``)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api import SignInErrorSerializer
from accounts.models import SignInChallenge
from accounts.sign_in import sign_in_complete
from paymint.core.throttling import LoginThrottle

from .sep10 import sep10_challenge, sep10_login, sep10_login_challenge, stellar_account_link


class Sep10ChallengeApi(APIView):
    """``GET /api/v1/stellar/auth/challenge?account=G...``: a SEP-10 challenge for the user."""

    class InputSerializer(serializers.Serializer):
        account = serializers.CharField(min_length=56, max_length=56)

    class OutputSerializer(serializers.Serializer):
        transaction = serializers.CharField()
        network_passphrase = serializers.CharField()

    @extend_schema(parameters=[InputSerializer], responses=OutputSerializer)
    def get(self, request):
        data = self.InputSerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        challenge = sep10_challenge(user=request.user, account_id=data.validated_data["account"])
        return Response(self.OutputSerializer(challenge).data)


class Sep10VerifyApi(APIView):
    """``POST /api/v1/stellar/auth/verify``: the signed challenge; links the account to the user."""

    class InputSerializer(serializers.Serializer):
        transaction = serializers.CharField(max_length=10_000)

    class OutputSerializer(serializers.Serializer):
        id = serializers.UUIDField(source="public_id")
        account_id = serializers.CharField()
        verified_at = serializers.DateTimeField()

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        account = stellar_account_link(
            user=request.user, challenge_xdr=data.validated_data["transaction"]
        )
        return Response(self.OutputSerializer(account).data, status=status.HTTP_200_OK)


class Sep10LoginChallengeApi(APIView):
    """``GET /api/v1/stellar/auth/login/challenge?account=G...``: a SEP-10 challenge to sign
    in with a Stellar account already linked to a PayMint user (no authentication needed)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        account = serializers.CharField(min_length=56, max_length=56)

    @extend_schema(parameters=[InputSerializer], responses=Sep10ChallengeApi.OutputSerializer)
    def get(self, request):
        data = self.InputSerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        challenge = sep10_login_challenge(account_id=data.validated_data["account"])
        return Response(Sep10ChallengeApi.OutputSerializer(challenge).data)


class Sep10TokenApi(APIView):
    """``POST /api/v1/stellar/auth/login``: the signed login challenge; answers the same JWT
    pair as ``/auth/token`` (15-minute access token, rotating refresh token). As there, a user
    with two-factor on gets 401 ``OTP_REQUIRED`` with an ``mfa_token`` for ``auth/token/otp``
    instead: the wallet's signature is one factor, not two."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [LoginThrottle]  # a sign-in: the login scope, per IP, 429 RATE_LIMITED

    class InputSerializer(serializers.Serializer):
        transaction = serializers.CharField(max_length=10_000)

    class OutputSerializer(serializers.Serializer):
        access = serializers.CharField()
        refresh = serializers.CharField()

    @extend_schema(
        request=InputSerializer,
        responses={200: OutputSerializer, 401: SignInErrorSerializer},
        description="Errors: 401 `OTP_REQUIRED` with `mfa_token` (two-factor on: continue at "
        "`auth/token/otp`), 403 `STELLAR_ACCOUNT_NOT_LINKED`, 429 `RATE_LIMITED`.",
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = sep10_login(challenge_xdr=data.validated_data["transaction"])
        tokens = sign_in_complete(request=request._request, user=user,
                                  method=SignInChallenge.Method.STELLAR)
        return Response(self.OutputSerializer(tokens).data)

"""SEP-10 wallet connection API (``/api/v1/stellar/auth/challenge`` and ``/verify``)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from .sep10 import sep10_challenge, stellar_account_link


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

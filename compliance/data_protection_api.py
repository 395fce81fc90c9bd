"""Data-subject rights API: ``GET /api/v1/me/export`` and ``POST /api/v1/me/erasure-request``.

(Kept beside ``accounts/api.py`` rather than in it; the services are in
:mod:`compliance.data_protection`.)
"""

from __future__ import annotations

import json

from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from .data_protection import erasure_request_create, user_data_export


def data_export_response(request, user) -> HttpResponse:
    """The user's data as a JSON file attachment (decimals as strings, never floats)."""
    export = user_data_export(user=user, request=request)
    body = json.dumps(export, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False)
    response = HttpResponse(body.encode(), content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="paymint-data-{user.public_id}.json"')
    response["Cache-Control"] = "no-store"
    return response


class MeDataExportApi(APIView):
    """``GET /api/v1/me/export``: a copy of everything PayMint holds about the signed-in user,
    as a JSON file (``paymint-data-<user id>.json``, schema ``paymint-data-export/1``)."""

    @extend_schema(responses={(200, "application/json"): OpenApiResponse(
        OpenApiTypes.OBJECT, description="JSON file attachment")})
    def get(self, request):
        return data_export_response(request, request.user)


class MeErasureRequestApi(APIView):
    """``POST /api/v1/me/erasure-request``: ask for the account's personal data to be erased.

    201 with the new request, 200 with the open one when already asked; 409
    ``ERASURE_BLOCKED`` while positions or a balance are open (``fields`` list them).
    Operations staff execute the request; the account is then closed.
    """

    class InputSerializer(serializers.Serializer):
        note = serializers.CharField(max_length=2000, required=False, allow_blank=True)

    class OutputSerializer(serializers.Serializer):
        id = serializers.UUIDField(source="public_id")
        status = serializers.CharField()
        requested_at = serializers.DateTimeField(source="created_at")

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer,
                                                       200: OutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        existed = request.user.erasure_requests.filter(status="REQUESTED").exists()
        erasure = erasure_request_create(user=request.user, request=request,
                                         note=data.validated_data.get("note", ""))
        return Response(self.OutputSerializer(erasure).data,
                        status=status.HTTP_200_OK if existed else status.HTTP_201_CREATED)

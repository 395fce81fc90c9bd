"""Notifications API: the user's in-app notifications (list, read, read all)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from paymint.core.api import paginated
from paymint.core.idempotency import IdempotentWriteMixin

from .selectors import notification_list, notification_unread_count
from .services import notification_mark_read, notifications_mark_all_read


class NotificationOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    event = serializers.CharField(source="name")
    category = serializers.CharField()
    title = serializers.CharField()
    body = serializers.CharField()
    link = serializers.CharField()
    read_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class NotificationListApi(APIView):
    """``GET /api/v1/notifications``: the user's notifications, newest first
    (cursor-paginated); ``?unread=true`` for the unread ones only. The header
    ``X-Unread-Count`` carries the unread count (the bell's number)."""

    class FilterSerializer(serializers.Serializer):
        unread = serializers.BooleanField(required=False, default=False)

    @extend_schema(
        parameters=[OpenApiParameter("unread", OpenApiTypes.BOOL, description="Unread only.")],
        responses=NotificationOutputSerializer(many=True),
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        response = paginated(
            self,
            notification_list(user=request.user, unread=filters.validated_data["unread"]),
            NotificationOutputSerializer,
        )
        response["X-Unread-Count"] = str(notification_unread_count(user=request.user))
        return response


class NotificationReadApi(IdempotentWriteMixin, APIView):
    """``POST /api/v1/notifications/{id}/read``: mark one of the user's notifications read
    (again: unchanged). 404 ``NOTIFICATION_NOT_FOUND`` for an unknown id or another user's."""

    @extend_schema(request=None, responses=NotificationOutputSerializer)
    def post(self, request, notification_id):
        notification = notification_mark_read(user=request.user, notification_id=notification_id)
        return Response(NotificationOutputSerializer(notification).data)


class NotificationReadAllApi(IdempotentWriteMixin, APIView):
    """``POST /api/v1/notifications/read-all``: mark all the user's notifications read."""

    class OutputSerializer(serializers.Serializer):
        marked = serializers.IntegerField(help_text="How many were unread.")

    @extend_schema(request=None, responses=OutputSerializer)
    def post(self, request):
        return Response({"marked": notifications_mark_all_read(user=request.user)})

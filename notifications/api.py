"""Notifications API: the user's in-app notifications (list, read, read all)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from paymint.core.api import paginated
from paymint.core.idempotency import IdempotentWriteMixin

from .enums import Category, Channel, DevicePlatform
from .selectors import (
    notification_list,
    notification_preferences_of,
    notification_unread_count,
    push_device_list,
)
from .services import (
    notification_mark_read,
    notification_preferences_set,
    notifications_mark_all_read,
    push_device_register,
    push_device_remove,
)


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


class PreferenceSerializer(serializers.Serializer):
    category = serializers.ChoiceField(choices=Category.choices)
    channel = serializers.ChoiceField(choices=Channel.choices)
    enabled = serializers.BooleanField()
    locked = serializers.BooleanField(read_only=True, help_text="Cannot be turned off.")


class NotificationPreferencesApi(IdempotentWriteMixin, APIView):
    """``GET /api/v1/me/notification-preferences``: per category (ACCOUNT, INVOICES, MONEY,
    SECURITY) and channel (EMAIL, PUSH), whether the user gets them (default: on; in-app
    notifications always). ``PUT`` with ``{"preferences": [{"category", "channel",
    "enabled"}]}`` changes the listed ones, all or nothing; security emails cannot be turned
    off (400 ``PREFERENCE_LOCKED``)."""

    class InputSerializer(serializers.Serializer):
        preferences = PreferenceSerializer(many=True, allow_empty=False)

    class OutputSerializer(serializers.Serializer):
        preferences = PreferenceSerializer(many=True)

    @extend_schema(responses=OutputSerializer)
    def get(self, request):
        return Response({"preferences": notification_preferences_of(user=request.user)})

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def put(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        notification_preferences_set(
            user=request.user,
            changes=[
                (p["category"], p["channel"], p["enabled"])
                for p in data.validated_data["preferences"]
            ],
        )
        return Response({"preferences": notification_preferences_of(user=request.user)})


class PushDeviceOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    platform = serializers.CharField()
    active = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_active(self, device) -> bool:
        return device.disabled_at is None


class PushDeviceCollectionApi(IdempotentWriteMixin, APIView):
    """``GET /api/v1/me/devices``: the user's phones registered for push (cursor-paginated).
    ``POST {"platform": "ANDROID"|"IOS", "token"}``: register the app's FCM registration
    token (201; 200 when the token was known: it moves to this account)."""

    class InputSerializer(serializers.Serializer):
        platform = serializers.ChoiceField(choices=DevicePlatform.choices)
        token = serializers.CharField(min_length=16, max_length=512)

    @extend_schema(responses=PushDeviceOutputSerializer(many=True))
    def get(self, request):
        return paginated(self, push_device_list(user=request.user), PushDeviceOutputSerializer)

    @extend_schema(
        request=InputSerializer,
        responses={201: PushDeviceOutputSerializer, 200: PushDeviceOutputSerializer},
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        device, created = push_device_register(
            user=request.user,
            platform=data.validated_data["platform"],
            token=data.validated_data["token"].strip(),
        )
        return Response(
            PushDeviceOutputSerializer(device).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class PushDeviceDetailApi(APIView):
    """``DELETE /api/v1/me/devices/{id}``: stop pushing to that phone (204; again: 204,
    nothing changes). 404 ``DEVICE_NOT_FOUND`` for an unknown id or another user's."""

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, device_id):
        push_device_remove(user=request.user, device_id=device_id)
        return Response(status=status.HTTP_204_NO_CONTENT)

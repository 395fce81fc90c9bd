"""Channels: email through the outbox in the recipient's language, push against the local FCM
stand-in (a real HTTP server on 127.0.0.1: sent, token no longer registered, transient errors
retried then failed), preferences per category and channel (security emails locked on), the
device registry - each delivery once, whatever the replays."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core import mail
from django.test import Client
from django.urls import reverse

from devtools.fcm_local import FakeFcmServer
from notifications.enums import Channel, DeliveryStatus
from notifications.models import (
    Notification,
    NotificationDelivery,
    NotificationPreference,
    PushDevice,
)
from notifications.services import DeliveryRetry, notification_deliver, push_device_register
from notifications.tasks import notification_deliver_task
from paymint.core.events import EventName, event_dispatch
from paymint.core.models import DomainEvent, OutboundMessage
from tests.factories import UserFactory
from tests.helpers import api_client_for

pytestmark = pytest.mark.django_db

TOKEN_A = "fcm-token-alice-0123456789abcdef"
TOKEN_GONE = "fcm-token-uninstalled-0123456789"


@pytest.fixture
def alice():
    return UserFactory(email="alice@example.com", investor=True)


@pytest.fixture
def bruno():
    return UserFactory(email="bruno@example.com", investor=True, language="de")


@pytest.fixture
def fcm(settings):
    with FakeFcmServer(access_token="test-access-token") as server:
        settings.PUSH_BACKEND = "notifications.push.FcmHttpV1Backend"
        settings.PUSH_FCM_ENDPOINT = server.url
        settings.PUSH_FCM_PROJECT_ID = "paymint-test"
        settings.PUSH_FCM_ACCESS_TOKEN = "test-access-token"
        yield server


def deposit_event(emit, user, key, amount="1234.50"):
    return emit(EventName.DEPOSIT_RECEIVED, key, {user: {"amount": amount, "currency": "EUR"}})


class TestEmail:
    def test_one_mail_per_recipient_in_their_language_once(self, emit, alice, bruno):
        event = emit(
            EventName.REPAYMENT_RECEIVED,
            "repayment.received:mail",
            {
                alice: {"amount": "1234.50", "currency": "EUR"},
                bruno: {"amount": "4321.00", "currency": "EUR"},
            },
            {"invoice_number": "RE-7"},
        )
        by_address = {m.to[0]: m for m in mail.outbox}
        assert set(by_address) == {"alice@example.com", "bruno@example.com"}
        assert by_address["alice@example.com"].subject == "PayMint: Repayment received RE-7"
        assert "1,234.50 EUR" in by_address["alice@example.com"].body
        assert by_address["bruno@example.com"].subject == "PayMint: Rückzahlung erhalten RE-7"
        assert "4.321,00 EUR" in by_address["bruno@example.com"].body
        assert "1.234" not in by_address["bruno@example.com"].body
        delivery = NotificationDelivery.objects.get(notification__recipient=alice)
        assert (delivery.channel, delivery.status, delivery.attempts) == ("EMAIL", "SENT", 1)
        assert delivery.message.status == OutboundMessage.Status.SENT

        DomainEvent.objects.filter(pk=event.pk).update(dispatched_at=None)
        event_dispatch(event_id=event.pk)  # a replayed dispatch
        for delivery in NotificationDelivery.objects.all():  # and replayed delivery tasks
            notification_deliver(delivery_id=delivery.pk)
        assert len(mail.outbox) == 2 and NotificationDelivery.objects.count() == 2

    def test_preferences_turn_a_category_off_but_never_security_mail(self, emit, alice):
        client = api_client_for(alice)
        response = client.put(
            "/api/v1/me/notification-preferences",
            {"preferences": [{"category": "MONEY", "channel": "EMAIL", "enabled": False}]},
            format="json",
        )
        assert response.status_code == 200, response.content
        assert {"category": "MONEY", "channel": "EMAIL", "enabled": False, "locked": False} in (
            response.json()["preferences"]
        )
        deposit_event(emit, alice, "deposit.received:pref")
        emit(EventName.SECURITY_PASSWORD_CHANGED, "pw:pref", {alice: {}})
        assert Notification.objects.filter(recipient=alice).count() == 2  # in-app: both
        assert [m.subject for m in mail.outbox] == ["PayMint: Your password was changed"]

        refused = client.put(
            "/api/v1/me/notification-preferences",
            {
                "preferences": [
                    {"category": "INVOICES", "channel": "EMAIL", "enabled": False},
                    {"category": "SECURITY", "channel": "EMAIL", "enabled": False},
                ]
            },
            format="json",
        )
        assert refused.status_code == 400 and refused.json()["code"] == "PREFERENCE_LOCKED"
        # All or nothing: the INVOICES change was not written either.
        assert not NotificationPreference.objects.filter(category="INVOICES").exists()
        prefs = client.get("/api/v1/me/notification-preferences").json()["preferences"]
        security = [p for p in prefs if p["category"] == "SECURITY" and p["channel"] == "EMAIL"]
        assert security == [
            {"category": "SECURITY", "channel": "EMAIL", "enabled": True, "locked": True}
        ]

    def test_the_preferences_page_saves_with_csrf(self, alice):
        client = Client(enforce_csrf_checks=True)
        client.force_login(alice)
        page = client.get(reverse("notification-preferences"))
        assert page.status_code == 200
        html = page.content.decode()
        assert 'name="security_email"' in html and "disabled" in html
        form = page.context["form"]
        data = {name: "on" for name in form.fields if name != "money_email"}
        data["security_email"] = ""  # a forged "off" for a locked box is ignored
        assert client.post(reverse("notification-preferences"), data).status_code == 403
        data["csrfmiddlewaretoken"] = client.cookies["csrftoken"].value
        saved = client.post(reverse("notification-preferences"), data)
        assert saved.status_code == 302
        assert set(
            NotificationPreference.objects.filter(user=alice, enabled=False).values_list(
                "category", "channel"
            )
        ) == {("MONEY", "EMAIL")}

    def test_quiet_events_stay_in_the_app(self, emit, alice):
        emit(EventName.INVOICE_EXTRACTED, "invoice.extracted:q", {alice: {}})
        assert Notification.objects.filter(recipient=alice).count() == 1
        assert not NotificationDelivery.objects.exists() and mail.outbox == []


class TestPush:
    def test_pushed_to_each_active_device_once(self, emit, alice, fcm):
        client = api_client_for(alice)
        created = client.post(
            "/api/v1/me/devices", {"platform": "ANDROID", "token": TOKEN_A}, format="json"
        )
        assert created.status_code == 201, created.content
        deposit_event(emit, alice, "deposit.received:push")
        assert len(fcm.messages) == 1
        message = fcm.messages[0]
        assert message["token"] == TOKEN_A
        assert message["notification"]["title"] == "Deposit received"
        assert message["data"]["event"] == "deposit.received"
        push = NotificationDelivery.objects.get(channel=Channel.PUSH)
        assert push.status == DeliveryStatus.SENT and push.target.startswith("device:")
        event = DomainEvent.objects.get(key="deposit.received:push")
        DomainEvent.objects.filter(pk=event.pk).update(dispatched_at=None)
        event_dispatch(event_id=event.pk)
        assert len(fcm.messages) == 1  # never twice

    def test_a_token_no_longer_registered_drops_the_device(self, emit, alice, fcm):
        gone, _ = push_device_register(user=alice, platform="IOS", token=TOKEN_GONE)
        push_device_register(user=alice, platform="ANDROID", token=TOKEN_A)
        fcm.unregistered.add(TOKEN_GONE)
        deposit_event(emit, alice, "deposit.received:gone")
        gone.refresh_from_db()
        assert gone.disabled_at is not None and "UNREGISTERED" in gone.disabled_reason
        failed = NotificationDelivery.objects.get(device=gone)
        assert failed.status == DeliveryStatus.FAILED and "UNREGISTERED" in failed.last_error
        assert [m["token"] for m in fcm.messages] == [TOKEN_A]
        deposit_event(emit, alice, "deposit.received:after")
        assert NotificationDelivery.objects.filter(device=gone).count() == 1  # not tried again
        assert [m["token"] for m in fcm.messages] == [TOKEN_A, TOKEN_A]

    def test_transient_errors_are_retried_then_failed_with_the_reason(
        self, emit, alice, fcm, settings
    ):
        """The task retries (autoretry with backoff; Celery's eager mode runs the retries at
        once when errors do not propagate, as a worker would after the backoff)."""
        assert DeliveryRetry in notification_deliver_task.autoretry_for
        assert notification_deliver_task.retry_backoff
        settings.CELERY_TASK_EAGER_PROPAGATES = False
        push_device_register(user=alice, platform="ANDROID", token=TOKEN_A)
        fcm.fail_next = 1  # one 503, then the provider is back
        deposit_event(emit, alice, "deposit.received:retry")
        delivery = NotificationDelivery.objects.get(channel=Channel.PUSH)
        assert (delivery.status, delivery.attempts) == (DeliveryStatus.SENT, 2)
        assert len(fcm.messages) == 1
        notification_deliver(delivery_id=delivery.pk)  # a duplicate task: nothing more
        assert len(fcm.messages) == 1

        settings.NOTIFICATION_DELIVERY_MAX_ATTEMPTS = 3
        fcm.fail_next = 100  # the provider stays down
        deposit_event(emit, alice, "deposit.received:down")
        delivery = NotificationDelivery.objects.filter(channel=Channel.PUSH).latest("pk")
        assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILED, 3)
        assert "503 UNAVAILABLE" in delivery.last_error
        assert fcm.fail_next == 100 - 3 and len(fcm.messages) == 1
        assert notification_deliver(delivery_id=delivery.pk).attempts == 3  # final: left alone

    def test_push_is_off_unless_configured(self, emit, alice):
        push_device_register(user=alice, platform="ANDROID", token=TOKEN_A)
        deposit_event(emit, alice, "deposit.received:off")
        assert not NotificationDelivery.objects.filter(channel=Channel.PUSH).exists()


class TestDevices:
    def test_register_move_list_and_remove_only_ones_own(self, alice, bruno):
        mine = api_client_for(alice)
        theirs = api_client_for(bruno)
        first = mine.post(
            "/api/v1/me/devices", {"platform": "ANDROID", "token": TOKEN_A}, format="json"
        )
        assert first.status_code == 201
        device_id = first.json()["id"]
        # The same phone signs in to another account: the token moves.
        moved = theirs.post(
            "/api/v1/me/devices", {"platform": "ANDROID", "token": TOKEN_A}, format="json"
        )
        assert moved.status_code == 200 and moved.json()["id"] == device_id
        assert mine.get("/api/v1/me/devices").json()["results"] == []
        refused = mine.delete(f"/api/v1/me/devices/{device_id}")
        assert refused.status_code == 404 and refused.json()["code"] == "DEVICE_NOT_FOUND"
        assert PushDevice.objects.filter(public_id=device_id, user=bruno).exists()
        assert theirs.delete(f"/api/v1/me/devices/{device_id}").status_code == 204
        assert theirs.delete(f"/api/v1/me/devices/{device_id}").status_code == 204  # again
        device = PushDevice.objects.get(public_id=device_id)
        assert device.disabled_at is not None and device.disabled_reason == "removed by the user"
        assert theirs.get("/api/v1/me/devices").json()["results"][0]["active"] is False
        bad = mine.post("/api/v1/me/devices", {"platform": "WINDOWS", "token": "x"}, format="json")
        assert bad.status_code == 400 and set(bad.json()["fields"]) == {"platform", "token"}


class TestServiceAccountTokens:
    """Production's bearer tokens: minted from the service account's key with the JWT bearer
    grant at the stand-in's token endpoint, reused until they near expiry."""

    @pytest.fixture
    def key_pair(self):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()
        return private, public

    def key_file(self, tmp_path, server, private_key, name="key.json"):
        path = tmp_path / name
        path.write_text(
            json.dumps(
                {
                    "type": "service_account",
                    "client_email": "push@paymint-test.iam.gserviceaccount.com",
                    "private_key_id": "k1",
                    "private_key": private_key,
                    "token_uri": f"{server.url}/token",
                }
            )
        )
        return str(path)

    def test_tokens_are_minted_once_and_used_for_every_send(
        self, emit, alice, settings, tmp_path, key_pair
    ):
        private, public = key_pair
        with FakeFcmServer(
            access_token="static-token-not-used",
            service_account_public_key=public,
            service_account_email="push@paymint-test.iam.gserviceaccount.com",
        ) as server:
            settings.PUSH_BACKEND = "notifications.push.FcmHttpV1Backend"
            settings.PUSH_FCM_ENDPOINT = server.url
            settings.PUSH_FCM_PROJECT_ID = "paymint-test"
            settings.PUSH_FCM_ACCESS_TOKEN = "wrong-static-token"
            settings.PUSH_FCM_SERVICE_ACCOUNT_FILE = self.key_file(tmp_path, server, private)
            push_device_register(user=alice, platform="ANDROID", token=TOKEN_A)
            deposit_event(emit, alice, "deposit.received:sa1")
            deposit_event(emit, alice, "deposit.received:sa2")
            assert len(server.messages) == 2 and len(server.minted) == 1
            assert server.minted[0].startswith("ya29.local-")

    def test_a_key_the_endpoint_refuses_fails_the_push_as_transient(
        self, emit, alice, settings, tmp_path, key_pair
    ):
        _, public = key_pair
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        forged = other.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        with FakeFcmServer(
            service_account_public_key=public,
            service_account_email="push@paymint-test.iam.gserviceaccount.com",
        ) as server:
            settings.PUSH_BACKEND = "notifications.push.FcmHttpV1Backend"
            settings.PUSH_FCM_ENDPOINT = server.url
            settings.PUSH_FCM_SERVICE_ACCOUNT_FILE = self.key_file(
                tmp_path, server, forged, name="forged.json"
            )
            settings.NOTIFICATION_DELIVERY_MAX_ATTEMPTS = 1
            push_device_register(user=alice, platform="ANDROID", token=TOKEN_A)
            deposit_event(emit, alice, "deposit.received:forged")
            delivery = NotificationDelivery.objects.get(channel=Channel.PUSH)
            assert delivery.status == DeliveryStatus.FAILED
            assert "token endpoint: 400 invalid_grant" in delivery.last_error
            assert server.messages == [] and server.minted == []

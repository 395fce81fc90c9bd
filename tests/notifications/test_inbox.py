"""The in-app channel: one notification per event and recipient, in the recipient's language,
with only what that recipient may see; the list, read and read-all over the API and the page,
each user seeing and changing only their own."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.template.loader import get_template
from django.test import Client
from django.urls import reverse

from notifications.enums import EVENT_CATEGORY
from notifications.models import Notification
from paymint.core.events import EventName, event_dispatch, event_emit
from paymint.core.models import DomainEvent
from tests.factories import UserFactory
from tests.helpers import api_client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice():
    return UserFactory(email="alice@example.com", investor=True)


@pytest.fixture
def bruno():
    return UserFactory(email="bruno@example.com", investor=True, language="de")


def repayment(emit, alice, bruno, key="repayment.received:inv-1"):
    return emit(
        EventName.REPAYMENT_RECEIVED,
        key,
        {
            alice: {"amount": "1234.50", "currency": "EUR"},
            bruno: {"amount": "4321.00", "currency": "EUR"},
        },
        {"invoice_number": "RE-42", "invoice_id": "not-a-uuid"},
    )


def test_one_notification_per_recipient_with_only_their_own_share(emit, alice, bruno):
    event = repayment(emit, alice, bruno)
    mine = Notification.objects.get(recipient=alice)
    theirs = Notification.objects.get(recipient=bruno)
    assert mine.event_id == theirs.event_id == event.pk
    assert mine.title == "Repayment received RE-42"
    assert "1,234.50 EUR" in mine.body and "4,321" not in mine.body
    # Bruno reads German, with German grouping; he never sees Alice's amount.
    assert theirs.title == "Rückzahlung erhalten RE-42"
    assert "4.321,00 EUR" in theirs.body and "1.234" not in theirs.body
    assert mine.link == reverse("wallet") and mine.category == "MONEY"

    # Emitted again (a replayed webhook) and dispatched again: nothing more.
    repayment(emit, alice, bruno)
    event_dispatch(event_id=event.pk)
    DomainEvent.objects.filter(pk=event.pk).update(dispatched_at=None)
    event_dispatch(event_id=event.pk)  # even a forced second dispatch writes no second row
    assert Notification.objects.count() == 2


def test_a_rolled_back_change_notifies_nobody(alice, django_capture_on_commit_callbacks):
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        event_emit(name=EventName.KYC_APPROVED, key="kyc.approved:x", recipients={alice: {}})
        raise RuntimeError("the approval failed after the event was written")
    assert not Notification.objects.exists() and not DomainEvent.objects.exists()


def test_every_event_has_a_category_and_an_english_template():
    assert set(EVENT_CATEGORY) == set(EventName)
    for name in EventName:
        get_template(f"notifications/events/en/{name}.txt")
        get_template(f"notifications/events/de/{name}.txt")


class TestApi:
    def test_list_is_own_newest_first_paginated_and_filters_unread(self, emit, alice, bruno):
        for n in range(3):
            emit(
                EventName.DEPOSIT_RECEIVED,
                f"deposit.received:{n}",
                {alice: {"amount": f"{n + 1}0.00", "currency": "EUR"}},
            )
        emit(
            EventName.DEPOSIT_RECEIVED,
            "deposit.received:b",
            {bruno: {"amount": "9.00", "currency": "EUR"}},
        )
        client = api_client_for(alice)
        first = client.get("/api/v1/notifications?page_size=2")
        assert first.status_code == 200, first.content
        assert first["X-Unread-Count"] == "3"
        body = first.json()
        assert [r["body"] for r in body["results"]] == [
            "30.00 EUR was credited to your wallet.",
            "20.00 EUR was credited to your wallet.",
        ]
        second = client.get(body["next"]).json()
        assert [r["body"] for r in second["results"]] == ["10.00 EUR was credited to your wallet."]
        assert second["next"] is None

        oldest = second["results"][0]["id"]
        read = client.post(f"/api/v1/notifications/{oldest}/read")
        assert read.status_code == 200 and read.json()["read_at"]
        unread = client.get("/api/v1/notifications?unread=true").json()["results"]
        assert len(unread) == 2 and oldest not in {r["id"] for r in unread}

    def test_nobody_reads_or_marks_another_users_notification(self, emit, alice, bruno):
        emit(EventName.KYC_APPROVED, "kyc.approved:b", {bruno: {}})
        theirs = Notification.objects.get(recipient=bruno)
        client = api_client_for(alice)
        assert client.get("/api/v1/notifications").json()["results"] == []
        for notification_id in (theirs.public_id, "not-a-uuid"):
            response = client.post(f"/api/v1/notifications/{notification_id}/read")
            assert response.status_code == 404
            assert response.json()["code"] == "NOTIFICATION_NOT_FOUND"
        assert client.post("/api/v1/notifications/read-all").json() == {"marked": 0}
        theirs.refresh_from_db()
        assert theirs.read_at is None  # nothing was written
        assert Client().get("/api/v1/notifications").status_code == 401

    def test_read_all_marks_only_mine_and_reading_twice_keeps_the_first_time(
        self, emit, alice, bruno
    ):
        emit(EventName.KYC_APPROVED, "kyc.approved:a", {alice: {}, bruno: {}})
        emit(EventName.SECURITY_PASSWORD_CHANGED, "pw:a", {alice: {}})
        client = api_client_for(alice)
        assert client.post("/api/v1/notifications/read-all").json() == {"marked": 2}
        assert client.post("/api/v1/notifications/read-all").json() == {"marked": 0}
        mine = Notification.objects.filter(recipient=alice).first()
        again = client.post(f"/api/v1/notifications/{mine.public_id}/read").json()
        assert again["read_at"].startswith(mine.read_at.isoformat()[:19])
        assert Notification.objects.get(recipient=bruno).read_at is None


class TestPages:
    def test_bell_counts_unread_and_the_page_reads_with_csrf(self, emit, alice, bruno):
        emit(EventName.KYC_APPROVED, "kyc.approved:p", {alice: {}, bruno: {}})
        emit(EventName.SECURITY_PASSWORD_CHANGED, "pw:p", {alice: {}})
        client = Client(enforce_csrf_checks=True)
        client.force_login(alice)
        page = client.get(reverse("notifications"))
        html = page.content.decode()
        assert 'id="notification-bell"' in html and 'data-unread="2"' in html
        assert "Your password was changed" in html and "Your identity check was approved" in html
        mine = Notification.objects.get(recipient=alice, name="kyc.approved")
        url = reverse("notification-read", args=[mine.public_id])
        assert client.post(url).status_code == 403  # no CSRF token: refused
        mine.refresh_from_db()
        assert mine.read_at is None
        token = client.cookies["csrftoken"].value
        opened = client.post(url, {"csrfmiddlewaretoken": token, "open": "1"})
        assert opened.status_code == 302 and opened["Location"] == reverse("kyc")
        mine.refresh_from_db()
        assert mine.read_at is not None
        assert 'data-unread="1"' in client.get(reverse("notification-bell")).content.decode()

        theirs = Notification.objects.get(recipient=bruno)
        other = client.post(
            reverse("notification-read", args=[theirs.public_id]), {"csrfmiddlewaretoken": token}
        )
        assert other.status_code == 404
        done = client.post(
            reverse("notifications-read-all"),
            {"csrfmiddlewaretoken": token, "next": "https://evil.example/"},
        )
        assert done.status_code == 302 and done["Location"] == reverse("notifications")
        assert not Notification.objects.filter(recipient=alice, read_at__isnull=True).exists()
        theirs.refresh_from_db()
        assert theirs.read_at is None

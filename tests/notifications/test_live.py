"""Live updates: the event stream answers only its user (session or JWT), replays what was
missed after Last-Event-ID, and - served by uvicorn in another process, fed through a real
Redis - delivers each user's own events within 2 seconds of the commit and nobody else's."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis
import requests
from django.conf import settings
from django.db import connection, transaction
from django.test import Client
from rest_framework_simplejwt.tokens import RefreshToken

from notifications.live import (
    LISTINGS,
    channel_name,
    stream_client_name,
    user_channel,
    users_online,
)
from notifications.models import Notification
from paymint.core.events import EventName, event_emit
from tests.factories import UserFactory, mustang_listing
from tests.helpers import api_client_for

ROOT = Path(settings.BASE_DIR)


def sse_frames(body: str) -> list[dict]:
    """Parse ``text/event-stream`` into ``[{"event", "data", "id"}]`` (comments skipped)."""
    frames = []
    for block in body.split("\n\n"):
        frame = {}
        for line in block.splitlines():
            if line.startswith(":") or ":" not in line:
                continue
            field, _, value = line.partition(":")
            frame[field] = value.strip()
        if "event" in frame:
            frame["data"] = json.loads(frame["data"])
            frames.append(frame)
    return frames


@pytest.mark.django_db
class TestPolling:
    """Under WSGI (the test client, gunicorn's sync workers) the endpoint answers what is
    pending and closes; EventSource reconnects after ``retry``."""

    def test_only_the_signed_in_users_own_updates(self, emit):
        alice = UserFactory(email="alice@example.com")
        bruno = UserFactory(email="bruno@example.com")
        emit(EventName.KYC_APPROVED, "kyc.approved:l1", {alice: {}})
        emit(EventName.SECURITY_PASSWORD_CHANGED, "pw:l1", {alice: {}, bruno: {}})
        assert Client().get("/api/v1/events").status_code == 401
        client = Client()
        client.force_login(alice)
        response = client.get("/api/v1/events")
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/event-stream")
        body = response.content.decode()
        assert body.startswith(f"retry: {settings.LIVE_UPDATES_POLL_RETRY_MS}")
        assert sse_frames(body) == [{"event": "unread", "data": {"count": 2}}]

        first = Notification.objects.filter(recipient=alice).order_by("pk").first()
        replay = sse_frames(
            client.get("/api/v1/events", HTTP_LAST_EVENT_ID=str(first.pk)).content.decode()
        )
        assert [f["event"] for f in replay] == ["unread", "notification"]
        assert replay[1]["data"]["title"] == "Your password was changed"
        assert int(replay[1]["id"]) > first.pk
        mine = Notification.objects.get(recipient=bruno)
        assert replay[1]["data"]["id"] != str(mine.public_id)

        token = RefreshToken.for_user(bruno).access_token
        by_jwt = Client().get("/api/v1/events", HTTP_AUTHORIZATION=f"Bearer {token}")
        assert sse_frames(by_jwt.content.decode())[0]["data"] == {"count": 1}
        forged = Client().get("/api/v1/events", HTTP_AUTHORIZATION="Bearer not.a.token")
        assert forged.status_code == 401 and forged.json()["code"] == "NOT_AUTHENTICATED"

    def test_reading_publishes_the_new_count(self, emit, django_capture_on_commit_callbacks):
        alice = UserFactory(email="alice@example.com")
        emit(EventName.KYC_APPROVED, "kyc.approved:l2", {alice: {}})
        pubsub = redis.Redis.from_url(settings.LIVE_UPDATES_REDIS_URL).pubsub()
        pubsub.subscribe(user_channel(alice.pk))
        pubsub.get_message(timeout=1)  # the subscription confirmation
        with django_capture_on_commit_callbacks(execute=True):
            api_client_for(alice).post("/api/v1/notifications/read-all")
        message = pubsub.get_message(ignore_subscribe_messages=True, timeout=2)
        assert json.loads(message["data"]) == {"event": "unread", "data": {"count": 0}}
        pubsub.close()


@pytest.mark.django_db
def test_a_page_gets_the_state_of_what_it_shows_and_nothing_it_may_not_see(
    seller, make_investor, staff
):
    from tests.helpers import deposit, make_user

    listing = mustang_listing(seller)
    investor = make_investor()
    deposit(investor, "75.00")
    stranger = make_user("SELLER", "stranger@example.com")
    url = f"/api/v1/events?listing={listing.public_id}&listing=not-a-uuid&wallet=1"

    def frames_of(user):
        client = Client()
        client.force_login(user)
        return {f["event"]: f["data"] for f in sse_frames(client.get(url).content.decode())}

    seen = frames_of(investor)
    assert seen["listing.progress"]["listing_id"] == str(listing.public_id)
    assert seen["listing.progress"]["percent"] == 0 and "seller_id" not in seen["listing.progress"]
    assert seen["wallet.balance"] == {"balances": [{"currency": "EUR", "balance": "75.0000000"}]}
    assert "listing.progress" in frames_of(seller)  # their own listing
    assert "listing.progress" not in frames_of(stranger)  # another seller's


@pytest.mark.django_db
def test_publishing_reaches_each_users_channel_and_the_marketplace(
    emit, seller, make_investor, django_capture_on_commit_callbacks
):
    """After commit: each recipient's notification on their own channel; an investment's
    progress on the marketplace channel and the seller's."""
    from marketplace.services import investment_create
    from paymint.core import clock
    from tests.helpers import LISTING_DAY, deposit

    a, b, investor_offline = make_investor(), make_investor(), make_investor()
    listing = mustang_listing(seller)
    deposit(a, "100.00")
    client = redis.Redis.from_url(settings.LIVE_UPDATES_REDIS_URL)
    pubsub = client.pubsub()
    pubsub.subscribe(
        user_channel(a.pk), user_channel(b.pk), user_channel(seller.pk), channel_name(LISTINGS)
    )
    for _ in range(4):
        pubsub.get_message(timeout=1)
    # Subscribed to their channel, as their open stream is: a is watching, and so gets the
    # new wallet balance; an investor with no stream open is not.
    assert users_online([a.pk, b.pk, investor_offline.pk]) == {a.pk, b.pk}
    with django_capture_on_commit_callbacks(execute=True), clock.frozen_at(LISTING_DAY):
        investment_create(investor=a, listing=listing, amount="60.00")
    got = []
    while (message := pubsub.get_message(ignore_subscribe_messages=True, timeout=1)) is not None:
        got.append((message["channel"].decode(), json.loads(message["data"])))
    pubsub.close()
    assert users_online([a.pk]) == set()  # the subscription is gone
    by_channel = {}
    for channel, payload in got:
        by_channel.setdefault(channel, []).append(payload["event"])
    assert by_channel[user_channel(a.pk)] == ["notification", "wallet.balance"]
    assert user_channel(b.pk) not in by_channel
    assert by_channel[channel_name(LISTINGS)] == ["listing.progress"]
    assert by_channel[user_channel(seller.pk)] == ["listing.progress"]
    progress = next(p for c, p in got if p["event"] == "listing.progress")["data"]
    assert progress["listing_id"] == str(listing.public_id)
    assert progress["funded_amount"] == "60.00" and progress["investor_count"] == 1
    balance = next(p for c, p in got if p["event"] == "wallet.balance")["data"]
    assert balance == {"balances": [{"currency": "EUR", "balance": "40.0000000"}]}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def uvicorn_server(transactional_db):
    """uvicorn serving paymint.asgi in a second process, on this test's database and Redis
    channels."""
    port = _free_port()
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "paymint.settings.test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "LIVE_UPDATES_CHANNEL_PREFIX": settings.LIVE_UPDATES_CHANNEL_PREFIX,
        "LIVE_UPDATES_REDIS_URL": settings.LIVE_UPDATES_REDIS_URL,
        "LIVE_UPDATES_HEARTBEAT_SECONDS": "1",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "paymint.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            requests.get(f"{base}/healthz", timeout=5)
            break
        except (requests.ConnectionError, requests.Timeout):  # not up yet, or a busy machine
            if process.poll() is not None:
                raise RuntimeError(process.stdout.read().decode()[-3000:]) from None
            time.sleep(0.3)
    try:
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


class Listener(threading.Thread):
    """Reads one SSE stream and records each frame with the time it arrived."""

    def __init__(self, url: str, token: str) -> None:
        super().__init__(daemon=True)
        self.url, self.token = url, token
        self.frames: list[tuple[float, dict]] = []
        self.connected = threading.Event()
        self.response = None

    def run(self) -> None:
        self.response = requests.get(
            self.url, stream=True, timeout=30, headers={"Authorization": f"Bearer {self.token}"}
        )
        try:
            self._read()
        except (AttributeError, requests.RequestException):  # closed by the test
            return

    def _read(self) -> None:
        block = []
        for raw in self.response.iter_lines(decode_unicode=True):
            if raw is None:
                continue
            if raw:
                block.append(raw)
                continue
            frames = sse_frames("\n".join(block) + "\n\n")
            block = []
            for frame in frames:
                if frame["event"] == "unread" and not self.connected.is_set():
                    self.connected.set()
                self.frames.append((time.monotonic(), frame))

    def close(self) -> None:
        if self.response is not None:
            self.response.close()


@pytest.mark.django_db(transaction=True)
def test_two_streams_each_get_only_their_own_events_within_two_seconds(uvicorn_server):
    alice = UserFactory(email="alice@example.com")
    bruno = UserFactory(email="bruno@example.com")
    listeners = {
        user.pk: Listener(
            f"{uvicorn_server}/api/v1/events", str(RefreshToken.for_user(user).access_token)
        )
        for user in (alice, bruno)
    }
    for listener in listeners.values():
        listener.start()
    for listener in listeners.values():
        assert listener.connected.wait(20), "the stream did not open"
    time.sleep(0.3)  # the subscription is made before the first frame is sent
    time.sleep(1.5)  # a heartbeat has passed too
    # One Redis connection per open stream (its subscription), named for CLIENT LIST.
    names = [
        c.get("name") for c in redis.Redis.from_url(settings.LIVE_UPDATES_REDIS_URL).client_list()
    ]
    assert names.count(stream_client_name()) == 2

    with transaction.atomic():
        event_emit(
            name=EventName.DEPOSIT_RECEIVED,
            key="deposit.received:sse",
            recipients={alice: {"amount": "25.00", "currency": "EUR"}},
        )
    committed = time.monotonic()
    deadline = committed + 5
    while time.monotonic() < deadline and not any(
        f["event"] == "notification" for _, f in listeners[alice.pk].frames
    ):
        time.sleep(0.05)
    for listener in listeners.values():
        listener.close()
    arrived = [(t, f) for t, f in listeners[alice.pk].frames if f["event"] == "notification"]
    assert arrived, listeners[alice.pk].frames
    at, frame = arrived[0]
    assert at - committed < 2.0, f"{at - committed:.2f} s after the commit"
    assert frame["data"]["title"] == "Deposit received" and frame["data"]["unread"] == 1
    assert int(frame["id"]) == Notification.objects.get(recipient=alice).pk
    assert [f["event"] for _, f in listeners[bruno.pk].frames] == ["unread"]

"""Live updates, the publishing side: what happened is pushed to the open event streams
(:mod:`notifications.stream`) through Redis pub/sub, so that a process that commits (a web
worker, a Celery worker) reaches the streams served by any other process.

Channels (prefixed with ``LIVE_UPDATES_CHANNEL_PREFIX``): ``user:<user id>`` - that user's
notifications, wallet balances and their own listings' progress; ``listings`` - funding
progress of open listings, for investors allowed to read the marketplace.

Messages are JSON ``{"event": name, "id": optional id, "data": {...}}``; streams write them as
SSE frames. Publishing is best effort and happens after commit (a rolled-back change publishes
nothing): when Redis is down the pages still show everything on reload.

Who is watching is what Redis says: a user with an open stream is subscribed to their
channel (``PUBSUB NUMSUB``), so wallet balances are computed only for users watching, and a
stream needs no other Redis connection than its subscription's (one per open stream, named
``<prefix>:stream`` in ``CLIENT LIST``; see docs/operations.md for the limits that follow).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

LISTINGS = "listings"


def channel_name(name: str) -> str:
    return f"{settings.LIVE_UPDATES_CHANNEL_PREFIX}:{name}"


def user_channel(user_id: int) -> str:
    return channel_name(f"user:{user_id}")


#: The Redis client name of a stream's connection (``CLIENT LIST``: one per open stream).
def stream_client_name() -> str:
    return channel_name("stream")


def live_enabled() -> bool:
    return bool(settings.LIVE_UPDATES_REDIS_URL)


@cache
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def redis_client() -> redis.Redis:
    return _client(settings.LIVE_UPDATES_REDIS_URL)


def frame(event: str, data: dict, event_id=None) -> str:
    """One SSE frame."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, default=str)}\n\n"


def notification_data(notification, unread: int) -> dict:
    return {
        "id": str(notification.public_id),
        "event": notification.name,
        "title": notification.title,
        "body": notification.body,
        "link": notification.link,
        "created_at": notification.created_at.isoformat(),
        "unread": unread,
    }


def live_publish(
    messages: Iterable[tuple[str, str, Mapping[str, Any], Any]],
) -> int:
    """Publish ``(channel, event, data, id)`` messages (``channel`` from :func:`user_channel`
    or ``channel_name(LISTINGS)``), in one round trip. Returns how many were sent; errors are
    logged, never raised (live updates are best effort)."""
    messages = list(messages)
    if not messages or not live_enabled():
        return 0
    try:
        pipe = redis_client().pipeline(transaction=False)
        for channel, event, data, event_id in messages:
            payload = {"event": event, "data": dict(data)}
            if event_id is not None:
                payload["id"] = str(event_id)
            pipe.publish(channel, json.dumps(payload, default=str))
        pipe.execute()
    except redis.RedisError as exc:
        logger.warning("live updates: publish failed: %s", exc)
        return 0
    return len(messages)


def users_online(user_ids: Iterable[int]) -> set[int]:
    """Which of ``user_ids`` have an event stream open: those whose channel has a subscriber
    (``PUBSUB NUMSUB``, one round trip; every open stream of a user subscribes to it)."""
    ids = list(dict.fromkeys(user_ids))
    if not ids or not live_enabled():
        return set()
    try:
        counts = redis_client().pubsub_numsub(*[user_channel(i) for i in ids])
    except redis.RedisError as exc:
        logger.warning("live updates: presence read failed: %s", exc)
        return set()
    return {i for i, (_, subscribers) in zip(ids, counts, strict=True) if subscribers}

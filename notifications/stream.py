"""Live updates, the serving side: ``GET /api/v1/events``, a per-user stream of server-sent
events (``text/event-stream``).

Events: ``unread`` (``{"count"}``, first, so that the bell is right at once), ``notification``
(``id:`` the notification's sequence number, ``data``: the notification and the new unread
count), ``listing.progress`` (``{"listing_id", "funded_amount", "advance_amount", "currency",
"percent", "investor_count", "status"}``: open listings for investors allowed to read the
marketplace, a seller's own listings), ``wallet.balance`` (``{"balances": [{"currency",
"balance"}]}``). Authentication: the session cookie or ``Authorization: Bearer <JWT>``.
Reconnecting with ``Last-Event-ID`` first replays the notifications written since; a page
names what it shows (``?listing=<id>`` repeated, ``?wallet=1``) to get its current state first.

Two ways of serving it, chosen by the server that runs the view:

* **ASGI** (uvicorn: ``make serve``, the compose file): the response stays open; the view
  subscribes to the user's Redis channels (:mod:`notifications.live`) and forwards what other
  processes publish after their commits; a comment line every
  ``LIVE_UPDATES_HEARTBEAT_SECONDS`` keeps proxies from closing it (and keeps the user marked
  online); after ``LIVE_UPDATES_MAX_SECONDS`` it closes and the browser reconnects at once with
  ``Last-Event-ID``. One open stream costs a coroutine and a Redis subscription, not a thread
  and not a database connection (the view's reads run in the shared thread pool).
* **WSGI** (gunicorn's sync workers, the test client): holding the response open would pin a
  worker thread per open page, so the view answers what is pending (the unread count, the
  notifications since ``Last-Event-ID``) and closes with ``retry: LIVE_UPDATES_POLL_RETRY_MS``:
  EventSource then polls the same URL. Same events, same client code.
"""

from __future__ import annotations

import asyncio
import json
import time

import redis.asyncio as aioredis
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.http import require_GET
from rest_framework import exceptions
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError

from accounts.authentication import RevocableJWTAuthentication
from marketplace.selectors import listing_progress_for_reader, marketplace_access_check
from paymint.core.error_codes import CoreError
from paymint.core.errors import PermissionDenied
from settlements.ledger import wallet_balances

from .live import (
    LISTINGS,
    channel_name,
    frame,
    live_enabled,
    notification_data,
    stream_client_name,
    user_channel,
)
from .selectors import notification_list, notification_unread_count

BACKLOG_LIMIT = 50


def _db(func, request: HttpRequest):
    """``func`` run, under ASGI, in the shared thread pool rather than the request's own
    thread: a request's thread keeps its database connection until the response ends, which
    for a stream would be one connection per open stream; the pool's few threads keep one
    each, whatever the number of streams. Under WSGI the request's thread (its connection and
    transaction, e.g. a test's) as usual."""
    return sync_to_async(func, thread_sensitive=not isinstance(request, ASGIRequest))


def _authenticate(request: HttpRequest):
    """The session's user, or the bearer token's (revoked tokens refused); None if neither."""
    auth = RevocableJWTAuthentication()
    header = auth.get_header(request)
    if header is not None:
        raw = auth.get_raw_token(header)
        if raw is None:
            return None
        try:
            return auth.get_user(auth.get_validated_token(raw))
        except (InvalidToken, TokenError, exceptions.AuthenticationFailed):
            return None
    user = request.user
    return user if user.is_authenticated and user.is_active else None


def _last_event_id(request: HttpRequest) -> int | None:
    raw = request.headers.get("Last-Event-ID") or request.GET.get("last_event_id") or ""
    return int(raw) if raw.strip().isdigit() else None


def _pending_frames(user, last_id: int | None, listing_ids: list[str], wallet: bool) -> list[str]:
    """The unread count, the notifications after ``last_id`` (oldest first), the progress of
    the listings the page shows (``?listing=<id>``, those the user may see) and, when the page
    shows it (``?wallet=1``), the wallet balance: what a page needs to be current at once,
    and all that a poll (WSGI) gets."""
    unread = notification_unread_count(user=user)
    frames = [frame("unread", {"count": unread})]
    if last_id is not None:
        since = list(notification_list(user=user).filter(pk__gt=last_id)[:BACKLOG_LIMIT])
        frames += [
            frame("notification", notification_data(n, unread), n.pk) for n in reversed(since)
        ]
    for progress in listing_progress_for_reader(user=user, listing_ids=listing_ids):
        progress.pop("seller_id")
        frames.append(frame("listing.progress", progress))
    if wallet:
        balances = [
            {"currency": b["currency"], "balance": str(b["balance"])}
            for b in wallet_balances(user=user)
        ]
        frames.append(frame("wallet.balance", {"balances": balances}))
    return frames


def _channels(user) -> list[str]:
    channels = [user_channel(user.pk)]
    try:
        marketplace_access_check(user=user)
    except PermissionDenied:
        return channels
    return [*channels, channel_name(LISTINGS)]


async def _stream(channels: list[str], pending):
    heartbeat = settings.LIVE_UPDATES_HEARTBEAT_SECONDS
    # One Redis connection per open stream: its subscription's. Nothing else is sent on the
    # client, so its pool opens no second one (who is watching is PUBSUB NUMSUB: live.py).
    client = aioredis.Redis.from_url(
        settings.LIVE_UPDATES_REDIS_URL, client_name=stream_client_name()
    )
    pubsub = client.pubsub()
    try:
        # Subscribed before the pending notifications are read: nothing committed in between is
        # missed (it may come twice; the client ignores a notification id it has shown).
        await pubsub.subscribe(*channels)
        yield "retry: 3000\n\n"
        for chunk in await pending():
            yield chunk
        deadline = time.monotonic() + settings.LIVE_UPDATES_MAX_SECONDS
        while time.monotonic() < deadline:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=heartbeat)
            if message is None:
                yield ": ping\n\n"
                continue
            payload = json.loads(message["data"])
            yield frame(payload["event"], payload["data"], payload.get("id"))
    except asyncio.CancelledError:  # the client went away
        raise
    finally:
        await pubsub.aclose()
        await client.aclose()


@require_GET
async def event_stream(request: HttpRequest) -> HttpResponse:
    """``GET /api/v1/events`` (see the module docstring)."""
    user = await _db(_authenticate, request)(request)
    if user is None:
        return JsonResponse(
            {
                "code": CoreError.NOT_AUTHENTICATED,
                "message": "Sign in to follow your updates.",
                "fields": {},
            },
            status=401,
        )
    last_id = _last_event_id(request)
    listing_ids = request.GET.getlist("listing")[:50]
    wallet = request.GET.get("wallet") == "1"
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    if not isinstance(request, ASGIRequest) or not live_enabled():
        frames = await _db(_pending_frames, request)(user, last_id, listing_ids, wallet)
        body = f"retry: {settings.LIVE_UPDATES_POLL_RETRY_MS}\n\n" + "".join(frames)
        return HttpResponse(body, content_type="text/event-stream", headers=headers)
    channels = await _db(_channels, request)(user)

    async def pending():
        return await _db(_pending_frames, request)(user, last_id, listing_ids, wallet)

    return StreamingHttpResponse(
        _stream(channels, pending), content_type="text/event-stream", headers=headers
    )

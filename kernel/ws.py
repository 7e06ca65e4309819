"""Websocket security shared by every consumer: origin validation and authentication.

A browser always sends `Origin`; a socket whose Origin is not one of ours (or of a site allowed to
embed the widget) is refused at the handshake. Clients that are not browsers send no Origin and
cannot be used for cross-site hijacking, so they pass the origin check and still need a token.
"""

from __future__ import annotations

import json
import logging
from urllib.parse import parse_qs, urlparse

from channels.auth import AuthMiddlewareStack
from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http.request import validate_host
from redis.exceptions import RedisError

from kernel.api import number_out_of_range
from kernel.audit.context import AuditAddressAsgiMiddleware
from kernel.errors import ErrorCode

logger = logging.getLogger(__name__)

# RFC 6455 "Try Again Later": the server cannot serve the socket now (the channel layer is down).
CLOSE_TRY_AGAIN_LATER = 1013


def origin_allowed(origin: str | None) -> bool:
    """Whether a websocket's Origin is ours (by host, as ALLOWED_HOSTS lists them, any port) or a
    site that may embed the widget. No Origin at all means no browser: allowed, token still needed."""
    if origin is None:
        return True
    parsed = urlparse(origin)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return False
    if origin in settings.CSRF_TRUSTED_ORIGINS or origin in settings.WIDGET_ALLOWED_ORIGINS:
        return True
    allowed_hosts = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG:
        allowed_hosts += ["localhost", "127.0.0.1", "[::1]"]
    return validate_host(parsed.hostname, allowed_hosts)


class OriginValidator:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket":
            origin = None
            for name, value in scope.get("headers", []):
                if name == b"origin":
                    origin = value.decode("latin1")
            if not origin_allowed(origin):
                await send({"type": "websocket.close", "code": 4403})
                return
        return await self.app(scope, receive, send)


def _user_for_token_sync(key: str):
    """The token's user, or None; a staff token without a second factor counts as no token while
    STAFF_2FA_REQUIRED is on (it may reach only the two-factor endpoints and logout)."""
    from kernel.accounts.policy import enrolment_required
    from kernel.drf import token_lookup

    found = token_lookup(key)
    if found is None or enrolment_required(found[0], verified=found[1].otp_verified):
        return None
    return found[0]


# On the thread pool, not Channels' single per-process sync thread: a thousand consoles
# reconnecting at once should not queue behind one thread.
_user_for_token = database_sync_to_async(_user_for_token_sync, thread_sensitive=False)


def query_param(scope, name: str) -> str | None:
    values = parse_qs(scope.get("query_string", b"").decode("latin1")).get(name)
    return values[0] if values else None


def _session_may_act_sync(user, session) -> bool:
    """Whether a session's staff user passed a second factor, as django-otp's middleware decides
    for HTTP (its device id in the session, of a device of this user)."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.models import Device

    from kernel.accounts.policy import enrolment_required

    device_id = session.get(DEVICE_ID_SESSION_KEY) if session is not None else None
    device = Device.from_persistent_id(device_id) if device_id else None
    return not enrolment_required(user, verified=device is not None and device.user_id == user.pk)


_session_may_act = database_sync_to_async(_session_may_act_sync, thread_sensitive=False)


class SessionTwoFactorGate:
    """Inside Channels' session authentication: a staff session that has not passed a second factor
    while STAFF_2FA_REQUIRED is on counts as no user (as its HTTP requests are sent to enrol)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        from kernel.accounts.policy import enrolment_required

        user = scope.get("user")
        if (user is not None and user.is_authenticated and enrolment_required(user, verified=False)
                and not await _session_may_act(user, scope.get("session"))):
            scope = dict(scope, user=AnonymousUser())
        return await self.app(scope, receive, send)


class SessionAuthWhenCookie:
    """Channels' session authentication, only for sockets that carry a cookie and no user yet.

    Its session lookup runs on the process's single sync thread; customer sockets and token
    clients carry no session, so they skip it (anonymous until the token says otherwise).
    """

    def __init__(self, app):
        self.app = app
        self.with_session = AuthMiddlewareStack(SessionTwoFactorGate(app))

    async def __call__(self, scope, receive, send):
        if scope.get("user") is None and any(name == b"cookie" for name, _ in scope.get("headers", [])):
            return await self.with_session(scope, receive, send)
        if scope.get("user") is None:
            scope = dict(scope, user=AnonymousUser())
        return await self.app(scope, receive, send)


class TokenAuthMiddleware:
    """`?token=<API token>` sets `scope["user"]`; otherwise the session cookie does.

    Customer sockets also carry `?token=`, but a ticket token never matches an API token, so the
    user stays as the session made it; customer consumers read `query_param(scope, "token")`.
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        key = query_param(scope, "token")
        # Customer sockets carry a ticket token, never an API token: no lookup for them.
        if key and not scope.get("path", "").startswith("/ws/tickets/"):
            user = await _user_for_token(key)
            if user is not None:
                scope = dict(scope, user=user)
        return await self.app(scope, receive, send)


class ChannelLayerOutageGuard:
    """A socket that cannot join the channel layer (Redis down) is accepted and closed at once with
    1013 "Try Again Later", rather than failing the handshake with a 500: a browser sees only 1006
    for a refused handshake, while 1013 tells the widget and the consoles to reconnect later (and
    replay what they missed with `after=SEQ`). docs/decisions.md ("Trust and safety") says why."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket":
            return await self.app(scope, receive, send)
        state = {"accepted": False, "closed": False}

        async def tracking_send(message):
            if message["type"] == "websocket.accept":
                state["accepted"] = True
            elif message["type"] == "websocket.close":
                state["closed"] = True
            await send(message)

        try:
            return await self.app(scope, receive, tracking_send)
        except (RedisError, OSError) as exc:
            if state["closed"]:
                return None
            logger.warning("websocket %s closed with 1013: channel layer unavailable (%s)", scope.get("path"), exc)
            if not state["accepted"]:
                await send({"type": "websocket.accept"})
            await send({"type": "websocket.close", "code": CLOSE_TRY_AGAIN_LATER})
            return None


def websocket_stack(app):
    return ChannelLayerOutageGuard(
        OriginValidator(AuditAddressAsgiMiddleware(TokenAuthMiddleware(SessionAuthWhenCookie(app)))))


class SocketConsumer(AsyncWebsocketConsumer):
    """The base of Shiftline's websocket consumers.

    Channels (4.2+) closes stale database connections before every event it dispatches, by a hop
    to the process's single sync thread, so every frame and group message of a process queues
    behind that one thread. Our consumers never query on the event loop: every query runs through
    `database_sync_to_async`, which closes stale connections itself in its own thread. So their
    `dispatch` (an overridable method of Channels' consumer) calls the handler without that hop.
    docs/decisions.md records the measurement.

    No exception leaves `dispatch` (Channels would end the consumer there: the client sees 1006 and
    `disconnect()` never runs, so a worker's presence outlived their socket). A frame that fails
    answers an `error` event and the socket stays usable; any other failure closes the socket and
    runs `disconnect()`, as a client's own close does.
    """

    async def dispatch(self, message):
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        try:
            await handler(message)
        except StopConsumer:
            raise
        except Exception as exc:
            await self.handler_failed(message, exc)

    async def handler_failed(self, message, exc: Exception) -> None:
        kind = message["type"]
        if kind == "websocket.receive":
            if number_out_of_range(exc):
                code, detail = ErrorCode.INVALID, "A number in the frame is out of range."
            else:
                logger.exception("websocket frame failed on %s", self.scope.get("path"))
                code, detail = ErrorCode.SERVER_ERROR, "Something went wrong on our side; the frame was not handled."
            try:
                await self.send(text_data=json.dumps({"type": "error", "code": code, "detail": detail}))
            except Exception:  # the client has gone: its disconnect message follows
                logger.info("could not report a frame error: the socket is closed")
            return
        if kind == "websocket.disconnect":
            logger.exception("websocket disconnect handler failed on %s", self.scope.get("path"))
            raise StopConsumer()
        close_code = 1011
        if isinstance(exc, RedisError | OSError):
            # The channel layer is down: "try again later" (the clients reconnect and replay), not a
            # refused handshake, which a browser sees only as 1006.
            logger.warning("websocket %s closed with 1013: channel layer unavailable (%s)", self.scope.get("path"), exc)
            close_code = CLOSE_TRY_AGAIN_LATER
            if kind == "websocket.connect":
                try:
                    await self.accept()
                except Exception:  # already accepted before the failure
                    logger.debug("socket was already accepted")
        else:
            logger.exception("websocket %s handler failed on %s", kind, self.scope.get("path"))
        try:
            await self.close(code=close_code)
        finally:
            await self.websocket_disconnect({"type": "websocket.disconnect", "code": close_code})

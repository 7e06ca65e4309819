"""The classes DRF's settings name (token authentication, pagination, throttles).

Kept apart from marketplace/api.py on purpose: DRF imports these while `rest_framework.views` is
still initialising, so this module must not import `rest_framework.views` itself.
"""

import collections
import functools
import itertools
import logging
import os
import threading
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Model
from redis.exceptions import RedisError
from rest_framework import authentication, exceptions, parsers
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle, ScopedRateThrottle, SimpleRateThrottle, UserRateThrottle

from kernel.json_input import MalformedJSON, refuse_unencodable

logger = logging.getLogger(__name__)

# The user's one-to-one profiles read together with the token, so that a view needs no query for
# them (`request.user.worker`). A profile the user lacks is simply not cached.
TOKEN_USER_PROFILES = ("worker",)


@functools.cache
def _token_user_query() -> tuple[str, list[str], list[tuple[str, type[Model], list[str]]]]:
    """The token → user (+ profiles) SQL, the user's attribute names and each profile's (built once)."""
    from django.db import connection
    from rest_framework.authtoken.models import Token

    user_model = get_user_model()
    quote = connection.ops.quote_name
    columns = [f"u.{quote(field.column)}" for field in user_model._meta.concrete_fields if field.column]
    joins: list[str] = []
    profiles: list[tuple[str, type[Model], list[str]]] = []
    for index, name in enumerate(TOKEN_USER_PROFILES):
        model = user_model._meta.get_field(name).related_model
        # A profile is a concrete model, one-to-one with the user.
        assert isinstance(model, type) and model._meta.pk is not None and model._meta.pk.column is not None
        fields = model._meta.concrete_fields
        columns += [f"p{index}.{quote(field.column)}" for field in fields if field.column]
        joins.append(f"LEFT JOIN {model._meta.db_table} p{index} ON p{index}.{quote(model._meta.pk.column)} = u.id")
        profiles.append((name, model, [field.attname for field in fields]))
    sql = (f"SELECT {', '.join(columns)} FROM {Token._meta.db_table} t "  # nosec B608 # table and column names from the models' metadata; the key is a parameter
           f"JOIN {user_model._meta.db_table} u ON u.id = t.user_id {' '.join(joins)} WHERE t.key = %s")
    return sql, [field.attname for field in user_model._meta.concrete_fields], profiles


def user_for_token(key: str):
    """The active user holding API token `key`, with their profiles (`user.worker`), or None: one
    fixed SQL statement. Every API request and every token socket runs it, so the row goes straight
    from a cursor into `from_db` (building the join with the ORM cost about 0.7 ms of CPU more)."""
    from django.db import connection

    sql, attnames, profiles = _token_user_query()
    with connection.cursor() as cursor:
        cursor.execute(sql, [key])
        row = cursor.fetchone()
    if row is None:
        return None
    user = get_user_model().from_db(connection.alias, attnames, row[:len(attnames)])
    if not user.is_active:
        return None
    offset = len(attnames)
    for name, model, names in profiles:
        values = row[offset:offset + len(names)]
        offset += len(names)
        if values[0] is not None:
            setattr(user, name, model.from_db(connection.alias, names, values))
    return user


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's `Authorization: Token <key>`, looked up with `user_for_token`."""

    def authenticate_credentials(self, key):
        from rest_framework.authtoken.models import Token

        user = user_for_token(key)
        if user is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        return user, Token(key=key, user=user)


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, also refusing as malformed (400 `malformed_request`) what its decoder lets
    through but nothing after it can hold: a body nested too deep for the decoder (`RecursionError`,
    `[[[[…` five thousand deep) and strings with a lone surrogate (`kernel.json_input`)."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - nested too deeply.") from None
        try:
            return refuse_unencodable(data)
        except MalformedJSON as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from None


class Pagination(PageNumberPagination):
    """`{"results": [...], "next": url|null, "previous": url|null, "count": N}`."""

    page_size_query_param = "page_size"
    max_page_size = 500

    def get_paginated_response(self, data):
        return Response(
            {
                "results": data,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                "count": self.page.paginator.count,
            }
        )

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["results", "next", "count"],
            "properties": {
                "results": schema,
                "next": {"type": "string", "nullable": True, "format": "uri"},
                "previous": {"type": "string", "nullable": True, "format": "uri"},
                "count": {"type": "integer"},
            },
        }


# An exact sliding window per key, in one Redis round trip: drop the entries older than the
# window, admit the request if fewer than the limit remain, else answer the microseconds until the
# oldest leaves the window. Redis's own clock, so every server process counts on one time line.
_WINDOW_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
    redis.call('ZADD', KEYS[1], now, ARGV[3])
    redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
    return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(math.ceil(tonumber(oldest[2]) + window - now), 1)
"""


class _LocalWindows:
    """The same exact sliding window in this process, for `make run` without Redis."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.hits: dict[str, collections.deque[float]] = {}

    def __call__(self, keys: list[str], args: list) -> int:
        limit, window = args[0], args[1] / 1_000_000
        now = time.monotonic()
        with self.lock:
            hits = self.hits.setdefault(keys[0], collections.deque())
            while hits and hits[0] <= now - window:
                hits.popleft()
            if len(hits) < limit:
                hits.append(now)
                return 0
            return max(int((hits[0] + window - now) * 1_000_000), 1)


@functools.cache
def _window_script():
    """The sliding-window script on REDIS_URL (EVALSHA, loaded on first use), or its local twin."""
    if not settings.REDIS_URL:
        return _LocalWindows()
    import redis

    return redis.Redis.from_url(settings.REDIS_URL).register_script(_WINDOW_LUA)


_hit_ids = itertools.count()


def window_hit(key: str, limit: int, duration: float) -> int:
    """Count one hit on `key` in its sliding window of `duration` seconds: 0 when it is within
    `limit` (and counted), else the microseconds until it would be. Shared by every server process."""
    member = f"{os.getpid()}:{next(_hit_ids)}"
    prefix = settings.CACHES["default"].get("KEY_PREFIX", "")
    try:
        return int(_window_script()(keys=[f"{prefix}:{key}"], args=[limit, int(duration * 1_000_000), member]))
    except RedisError as exc:
        # Open while Redis is down: a write must not fail on its rate counter (docs/decisions.md).
        logger.warning("rate limit %s not counted, Redis unavailable: %s", key, exc)
        return 0


class WindowRateThrottle(SimpleRateThrottle):
    """DRF's rate throttles (same scopes, rates and 429 with Retry-After) counted in an exact sliding
    window: at most `num_requests` in any `duration` seconds, whatever the burst. `RATELIMIT_ENABLE=false`
    lifts every limit (load tests, acceptance runs)."""

    def allow_request(self, request, view):
        if not settings.RATELIMIT_ENABLE or self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        self.wait_us = window_hit(key, self.num_requests, self.duration)
        return self.wait_us == 0

    def wait(self):
        return self.wait_us / 1_000_000


class ScopeLimit(WindowRateThrottle):
    """The same limiter for callers that are not DRF views (websocket frames), or that must be keyed
    after authorisation: `ScopeLimit("ticket_message").wait_for(ident)` counts one hit for `ident`
    under that scope's rate (`DEFAULT_THROTTLE_RATES`) and answers 0.0 when it is allowed, else the
    seconds to wait. `RATELIMIT_ENABLE=false` lifts it like every other limit."""

    def __init__(self, scope: str) -> None:
        self.scope = scope
        super().__init__()
        self.limit, self.window = self.parse_rate(self.rate)

    def wait_for(self, ident: str) -> float:
        if not settings.RATELIMIT_ENABLE or self.limit is None or self.window is None:
            return 0.0
        return window_hit(self.cache_format % {"scope": self.scope, "ident": ident},
                          self.limit, self.window) / 1_000_000


class AnonBurstThrottle(AnonRateThrottle, WindowRateThrottle):
    pass


class UserBurstThrottle(UserRateThrottle, WindowRateThrottle):
    pass


class ScopedThrottle(ScopedRateThrottle, WindowRateThrottle):
    """Per-endpoint limit: set `throttle_scope` on the view (rates in REST_FRAMEWORK settings)."""

    def get_cache_key(self, request, view):
        # Public endpoints are limited per client IP whoever is signed in.
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

"""The classes DRF's settings name (token authentication, pagination, throttles).

Kept apart from marketplace/api.py on purpose: DRF imports these while `rest_framework.views` is
still initialising, so this module must not import `rest_framework.views` itself.
"""

import functools

from django.conf import settings
from django.contrib.auth import get_user_model
from rest_framework import authentication, exceptions
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle, ScopedRateThrottle, UserRateThrottle


@functools.cache
def _token_user_query() -> tuple[str, list[str]]:
    """The token → user SQL and the user's attribute names, in column order (built once)."""
    from django.db import connection
    from rest_framework.authtoken.models import Token

    concrete = get_user_model()._meta.concrete_fields
    columns = ", ".join(f"u.{connection.ops.quote_name(field.column)}" for field in concrete)
    sql = (f"SELECT {columns} FROM {get_user_model()._meta.db_table} u "
           f"JOIN {Token._meta.db_table} t ON t.user_id = u.id WHERE t.key = %s")
    return sql, [field.attname for field in concrete]


def user_for_token(key: str):
    """The active user holding API token `key`, or None, in one fixed SQL statement.

    Every API request and every token socket runs this: building the join with the ORM cost about
    0.7 ms more CPU per request, and a raw queryset another 0.3 ms resolving its columns (measured
    in-process and in bench/claims.py), so the row goes straight from a cursor into `from_db`.
    """
    from django.db import connection

    user_model = get_user_model()
    sql, attnames = _token_user_query()
    if connection.vendor != "postgresql":  # SQLite needs Django's value converters (booleans)
        user = next(iter(user_model.objects.raw(sql, [key])), None)
    else:
        with connection.cursor() as cursor:
            cursor.execute(sql, [key])
            row = cursor.fetchone()
        user = None if row is None else user_model.from_db(connection.alias, attnames, row)
    return user if user is not None and user.is_active else None


async def user_for_token_on_loop(key: str):
    """`user_for_token` on the event loop's async pool (PostgreSQL only)."""
    from django.db import connection

    from marketplace.async_db import async_fetchone

    sql, attnames = _token_user_query()
    row = await async_fetchone("http", sql, [key])
    user = None if row is None else get_user_model().from_db(connection.alias, attnames, row)
    return user if user is not None and user.is_active else None


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's `Authorization: Token <key>`, looked up with `user_for_token`."""

    def authenticate_credentials(self, key):
        from rest_framework.authtoken.models import Token

        user = user_for_token(key)
        if user is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        return user, Token(key=key, user=user)


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


class _RateLimitSwitch:
    """`RATELIMIT_ENABLE=false` lifts every limit (load tests, acceptance runs)."""

    def allow_request(self, request, view):
        if not settings.RATELIMIT_ENABLE:
            return True
        if request.META.get("asgi.scope", {}).get("shiftline.throttles_counted"):
            return True  # counted on the event loop already (marketplace.http_on_loop.THROTTLES_COUNTED)
        return super().allow_request(request, view)


class AnonBurstThrottle(_RateLimitSwitch, AnonRateThrottle):
    pass


class UserBurstThrottle(_RateLimitSwitch, UserRateThrottle):
    pass


class ScopedThrottle(_RateLimitSwitch, ScopedRateThrottle):
    """Per-endpoint limit: set `throttle_scope` on the view (rates in REST_FRAMEWORK settings)."""

    def get_cache_key(self, request, view):
        # Public endpoints are limited per client IP whoever is signed in.
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

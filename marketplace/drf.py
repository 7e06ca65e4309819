"""The classes DRF's settings name (pagination, throttles).

Kept apart from marketplace/api.py on purpose: DRF imports these while `rest_framework.views` is
still initialising, so this module must not import `rest_framework.views` itself.
"""

from django.conf import settings
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle, ScopedRateThrottle, UserRateThrottle


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

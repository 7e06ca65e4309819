"""What every API endpoint shares: the error shape, pagination, throttles and query validation."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from kombu.exceptions import OperationalError as BrokerUnavailable
from psycopg import errors as pg_errors
from redis.exceptions import RedisError
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from kernel.drf import AnonBurstThrottle, Pagination, ScopedThrottle, UserBurstThrottle
from kernel.errors import DomainError, ErrorCode, RateLimited

__all__ = ["AnonBurstThrottle", "Pagination", "ScopedThrottle", "UserBurstThrottle", "exception_handler"]

logger = logging.getLogger(__name__)

_DRF_CODES = {
    exceptions.ParseError: ErrorCode.MALFORMED_REQUEST,
    exceptions.NotAuthenticated: ErrorCode.NOT_AUTHENTICATED,
    exceptions.AuthenticationFailed: ErrorCode.AUTHENTICATION_FAILED,
    exceptions.PermissionDenied: ErrorCode.PERMISSION_DENIED,
    exceptions.NotFound: ErrorCode.NOT_FOUND,
    exceptions.MethodNotAllowed: ErrorCode.METHOD_NOT_ALLOWED,
    exceptions.NotAcceptable: ErrorCode.NOT_ACCEPTABLE,
    exceptions.UnsupportedMediaType: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    exceptions.Throttled: ErrorCode.RATE_LIMITED,
}


def flatten_field_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """Turn DRF's nested error detail into `{"field": ["message", ...]}` with dotted names."""
    fields: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if key == api_settings.NON_FIELD_ERRORS_KEY and not prefix:
                name = "non_field_errors"
            fields.update(flatten_field_errors(value, name))
    elif isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            fields[prefix or "non_field_errors"] = [str(item) for item in detail]
        else:
            for index, item in enumerate(detail):
                fields.update(flatten_field_errors(item, f"{prefix}.{index}" if prefix else str(index)))
    else:
        fields[prefix or "non_field_errors"] = [str(detail)]
    return fields


def number_out_of_range(exc: BaseException) -> bool:
    """Whether PostgreSQL refused a number for its column (`numeric value out of range`, 22003):
    the one place that knows what each column holds, so every integer input is bounded by it."""
    if isinstance(exc, DataError):  # Django's wrapper of the driver's error
        exc = exc.__cause__ or exc
    return isinstance(exc, pg_errors.NumericValueOutOfRange)


def error_body(code: str, detail: str, fields: dict | None = None) -> dict:
    body: dict[str, Any] = {"code": code, "detail": detail}
    if fields:
        body["fields"] = fields
    return body


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """Render every error in the API's shape: `{"code", "detail"[, "fields"]}`."""
    if isinstance(exc, DomainError):
        rendered = Response(exc.as_dict(), status=exc.status)
        if isinstance(exc, RateLimited) and exc.wait:
            rendered["Retry-After"] = str(int(exc.wait) + 1)
        return rendered
    if isinstance(exc, (RedisError, BrokerUnavailable)):
        # Work that needs Redis right now (a task with no committed write behind it, state kept in
        # the cache) cannot start: the dependency is down, not the request wrong. Committed writes
        # never get here (their task sends after commit are left to the sweeps).
        logger.warning("%s %s: Redis unavailable (%s)", context["request"].method, context["request"].path, exc)
        set_rollback()
        unavailable = Response(error_body(ErrorCode.SERVICE_UNAVAILABLE,
                                          "A service Shiftline needs is unavailable; try again shortly."), status=503)
        unavailable["Retry-After"] = "5"
        return unavailable
    if number_out_of_range(exc):
        # The column's own bound, whichever input reached it (body, query or path): bad input, so a
        # 400 that changed nothing (the statement failed; the request's transaction rolls back).
        set_rollback()
        return Response(error_body(ErrorCode.INVALID, "A number is outside the range this field holds."),
                        status=400)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        fields = flatten_field_errors(exc.detail)
        names = ", ".join(sorted(fields))
        response.data = error_body(ErrorCode.INVALID, f"Some fields are not valid: {names}.", fields)
        response.status_code = 400
        return response
    assert isinstance(exc, exceptions.APIException)  # DRF renders nothing else
    code: str | None = next((c for klass, c in _DRF_CODES.items() if isinstance(exc, klass)), None)
    if code is None:
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else "error"
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if isinstance(exc, exceptions.Throttled):
        detail = "Too many requests; slow down and try again shortly."
        wait = getattr(exc, "wait", None)  # set by DRF's Throttled; its stubs omit it
        if wait:
            detail = f"Too many requests; try again in {int(wait) + 1} s."
    response.data = error_body(code, str(detail))
    return response


@csrf_exempt  # a 404 for every method changes nothing; a POST to a mistyped path is still a 404
def json_not_found(request, exception=None):
    """Django's 404 for any path no URL matches: JSON under /api/, HTML elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse(error_body(ErrorCode.NOT_FOUND, "No such endpoint."), status=404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def json_csrf_failure(request, reason=""):
    """`CSRF_FAILURE_VIEW`: a session-authenticated write without a valid CSRF token. JSON under
    /api/ (API clients read the error shape), Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse(error_body(ErrorCode.PERMISSION_DENIED, f"CSRF check failed: {reason}"), status=403)
    from django.views.csrf import csrf_failure

    return csrf_failure(request, reason)


def json_server_error(request):
    if request.path.startswith("/api/"):
        return JsonResponse(error_body(ErrorCode.SERVER_ERROR, "Something went wrong on our side."), status=500)
    from django.views.defaults import server_error

    return server_error(request)


def json_bad_request(request, exception=None):
    if request.path.startswith("/api/"):
        return JsonResponse(error_body(ErrorCode.BAD_REQUEST, "The request could not be understood."), status=400)
    from django.views.defaults import bad_request

    return bad_request(request, exception)


def json_permission_denied(request, exception=None):
    if request.path.startswith("/api/"):
        return JsonResponse(error_body(ErrorCode.PERMISSION_DENIED, "You are not allowed to do this."), status=403)
    from django.views.defaults import permission_denied

    return permission_denied(request, exception)


# --- Query parameter validation -------------------------------------------------------------


class DateRangeQuery(serializers.Serializer):
    """`?from=YYYY-MM-DD&to=YYYY-MM-DD`, inclusive UTC days; reversed ranges are invalid."""

    max_days: int | None = None

    def validate(self, attrs):
        start, end = attrs.get("from"), attrs.get("to")
        if start and end and start > end:
            raise serializers.ValidationError({"to": ["Must be on or after `from`."]})
        if self.max_days and start and end and (end - start).days + 1 > self.max_days:
            raise serializers.ValidationError({"to": [f"The range may span at most {self.max_days} days."]})
        return attrs


DateRangeQuery._declared_fields["from"] = serializers.DateField(required=False)
DateRangeQuery._declared_fields["to"] = serializers.DateField(required=False)


def paginated_list(request, view, items: list) -> Response:
    """A list built in Python, answered like every other list: `Pagination`'s page of it."""
    paginator = Pagination()
    page = paginator.paginate_queryset(items, request, view=view)
    return paginator.get_paginated_response(list(page or []))


def parse_query(serializer_class: type[serializers.Serializer], request, **kwargs) -> dict:
    """Validate query parameters like a body: a malformed value is a 400 `invalid`."""
    serializer = serializer_class(data=request.query_params, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def utc_day_bounds(day_from: dt.date, day_to: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[start of `day_from`, start of the day after `day_to`) in UTC."""
    start = dt.datetime.combine(day_from, dt.time.min, tzinfo=dt.UTC)
    end = dt.datetime.combine(day_to + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)
    return start, end

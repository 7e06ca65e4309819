"""Report endpoints under /api/v1/reports/: parse the range, check the role, call one selector, render.

`?format=csv` is read here (DRF's URL format override is off in settings): CSV responses stream
rows as the database cursor yields them, so memory stays flat whatever the size.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterator

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse
from rest_framework import serializers
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from marketplace.api import DateRangeQuery, parse_query
from payouts import reports

# A year of inclusive days, leap years included; anything longer is refused.
MAX_RANGE_DAYS = 366


class IsFinance(BasePermission):
    message = "Only finance may read this report."

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_finance)


class IsOpsOrFinance(BasePermission):
    message = "Only ops and finance may read this report."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and (user.is_ops or user.is_finance))


class ReportRangeQuery(DateRangeQuery):
    """`?from=YYYY-MM-DD&to=YYYY-MM-DD` (both required, at most a year) `[&format=json|csv]`."""

    max_days = MAX_RANGE_DAYS
    format = serializers.ChoiceField(choices=["json", "csv"], required=False, default="json")

    def validate(self, attrs):
        attrs = super().validate(attrs)
        # "At most a year" on the calendar: 2025-01-01..2025-12-31 is fine, ..2026-01-01 is not.
        if attrs["to"] >= _one_year_after(attrs["from"]):
            raise serializers.ValidationError({"to": ["The range may span at most one year."]})
        return attrs


def _one_year_after(day: dt.date) -> dt.date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February
        return dt.date(day.year + 1, 3, 1)


ReportRangeQuery._declared_fields = {
    **ReportRangeQuery._declared_fields,
    "from": serializers.DateField(input_formats=["%Y-%m-%d"]),
    "to": serializers.DateField(input_formats=["%Y-%m-%d"]),
}


class MoneyRangeQuery(ReportRangeQuery):
    """The range plus an optional `currency` (default: the current rate card's)."""

    currency = serializers.RegexField(r"^[a-z]{3}$", required=False)


async def _async_chunks(chunks: Iterator[str]) -> AsyncIterator[str]:
    """Pull a synchronous generator (a database cursor) chunk by chunk from the request's thread.

    Django's ASGI handler would otherwise `list()` a synchronous iterator before sending it, which
    holds the whole export in memory; `thread_sensitive` keeps the cursor on its connection's thread.
    """
    pull = sync_to_async(lambda: next(chunks, None), thread_sensitive=True)
    while (chunk := await pull()) is not None:
        yield chunk


def csv_response(request, chunks: Iterator[str], filename: str) -> StreamingHttpResponse:
    """Stream CSV text (an iterator of `str` chunks) as a download, with flat memory."""
    content = _async_chunks(iter(chunks)) if isinstance(request._request, ASGIRequest) else chunks
    response = StreamingHttpResponse(content, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


def _range_name(query: dict) -> str:
    return f"{query['from']:%Y%m%d}-{query['to']:%Y%m%d}"


class OperationsReportView(APIView):
    """Tickets created/resolved/abandoned, response and resolution times, CSAT, cost per case."""

    permission_classes = [IsOpsOrFinance]

    def get(self, request):
        query = parse_query(ReportRangeQuery, request)
        report = reports.operations_report(day_from=query["from"], day_to=query["to"])
        if query["format"] == "csv":
            return csv_response(
                request, reports.operations_csv_lines(report), f"shiftline-operations-{_range_name(query)}.csv"
            )
        return Response(report)


class PayoutReportView(APIView):
    """Per worker: cases resolved, gross, bonuses, voided, paid, outstanding; `?format=csv` streams it."""

    permission_classes = [IsFinance]

    def get(self, request):
        query = parse_query(MoneyRangeQuery, request)
        args = {"day_from": query["from"], "day_to": query["to"], "currency": query.get("currency")}
        if query["format"] == "csv":
            filename = f"shiftline-payouts-{_range_name(query)}.csv"
            return csv_response(request, reports.payout_report_csv(**args), filename)
        return Response(reports.payout_report(**args))


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()

"""Report endpoints under /api/v1/reports/: parse the range, check the role, call one selector, render.

`?format=csv` is read here (DRF's URL format override is off in settings): CSV responses stream
rows as the database cursor yields them, so memory stays flat whatever the size.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import stripe
from django.http import FileResponse, StreamingHttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from kernel.api import DateRangeQuery, parse_query
from kernel.errors import NotFound
from payouts.errors import StripeUnavailable
from reports import tasks
from reports.errors import ExportNotReady
from reports.formatting import csv_lines
from reports.selectors import exports, operations, payouts, reconciliation
from workers.models import Worker

JSON_OR_CSV = {(200, "application/json"): OpenApiTypes.OBJECT,
               (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="with `format=csv`")}
CSV = {(200, "text/csv"): OpenApiTypes.STR}
# A year of inclusive days, leap years included; anything longer is refused.
MAX_RANGE_DAYS = 366
# Days a report may cover (the annual export's years too): far dates are typos, and their day
# bounds or a day of listing margin would leave Python's and Stripe's range of dates.
EARLIEST_DAY, LATEST_DAY = dt.date(2000, 1, 1), dt.date(2100, 12, 31)


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
        outside = {
            name: [f"Must be between {EARLIEST_DAY} and {LATEST_DAY}."]
            for name in ("from", "to") if not EARLIEST_DAY <= attrs[name] <= LATEST_DAY
        }
        if outside:
            raise serializers.ValidationError(outside)
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


def csv_response(chunks: Iterator[str], filename: str) -> StreamingHttpResponse:
    """Stream CSV text (an iterator of `str` chunks) as a download, with flat memory."""
    response = StreamingHttpResponse(chunks, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


def _range_name(query: dict) -> str:
    return f"{query['from']:%Y%m%d}-{query['to']:%Y%m%d}"


class OperationsReportView(APIView):
    """Tickets created/resolved/abandoned, response and resolution times, CSAT, cost per case."""

    permission_classes = [IsOpsOrFinance]

    @extend_schema(parameters=[ReportRangeQuery], responses=JSON_OR_CSV)
    def get(self, request):
        query = parse_query(ReportRangeQuery, request)
        report = operations.operations_report(day_from=query["from"], day_to=query["to"])
        if query["format"] == "csv":
            return csv_response(
                operations.operations_csv_lines(report), f"shiftline-operations-{_range_name(query)}.csv"
            )
        return Response(report)


class PayoutReportView(APIView):
    """Per worker: cases resolved, gross, bonuses, voided, paid, outstanding; `?format=csv` streams it."""

    permission_classes = [IsFinance]

    @extend_schema(parameters=[MoneyRangeQuery], responses=JSON_OR_CSV)
    def get(self, request):
        query = parse_query(MoneyRangeQuery, request)
        args = {"day_from": query["from"], "day_to": query["to"], "currency": query.get("currency")}
        if query["format"] == "csv":
            filename = f"shiftline-payouts-{_range_name(query)}.csv"
            return csv_response(payouts.payout_report_csv(**args), filename)
        return Response(payouts.payout_report(**args))


class ReconciliationQuery(ReportRangeQuery):
    format = serializers.ChoiceField(choices=["json"], required=False, default="json")


class ReconciliationView(APIView):
    """Payouts in the ledger against the transfers Stripe lists, with every mismatch; kept as the latest."""

    permission_classes = [IsFinance]

    @extend_schema(parameters=[ReconciliationQuery], responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        query = parse_query(ReconciliationQuery, request)
        try:
            result = reconciliation.reconciliation_report(day_from=query["from"], day_to=query["to"])
        except stripe.StripeError as exc:
            raise StripeUnavailable(f"Stripe could not be reached ({type(exc).__name__}); try again shortly.")
        reconciliation.reconciliation_store(result)
        return Response(result)


class BreakdownQuery(MoneyRangeQuery):
    by = serializers.ChoiceField(choices=list(payouts.BREAKDOWNS))


class PayoutBreakdownView(APIView):
    """The payout report grouped by day, ISO week or shift (`?by=`); `?format=csv` too."""

    permission_classes = [IsFinance]

    @extend_schema(parameters=[BreakdownQuery], responses=JSON_OR_CSV)
    def get(self, request):
        query = parse_query(BreakdownQuery, request)
        rows = payouts.payout_breakdown(
            day_from=query["from"], day_to=query["to"], by=query["by"], currency=query.get("currency")
        )
        if query["format"] == "csv":
            header = list(rows[0]) if rows else [query["by"]]
            lines = csv_lines(header, ([row[k] for k in header] for row in rows))
            return csv_response(lines, f"shiftline-payouts-by-{query['by']}-{_range_name(query)}.csv")
        return Response({"from": query["from"], "to": query["to"], "by": query["by"], "results": rows})


class WorkerStatementView(APIView):
    """Drill-down from a payout report row: one worker's earnings (each with its ticket) and payouts."""

    permission_classes = [IsFinance]

    @extend_schema(parameters=[ReconciliationQuery], responses={200: OpenApiTypes.OBJECT})
    def get(self, request, worker_id: int):
        query = parse_query(ReconciliationQuery, request)
        worker = Worker.objects.filter(pk=worker_id).values("user_id", "full_name", "country").first()
        if worker is None:
            raise NotFound("No such worker.")
        statement = payouts.worker_statement(worker_id=worker_id, day_from=query["from"], day_to=query["to"])
        return Response({"worker": worker_id, "worker_name": worker["full_name"], "from": query["from"],
                         "to": query["to"], **statement})


class EarningsExportView(APIView):
    """Every earning of the range, one CSV line each, streamed (flat memory whatever the size)."""

    permission_classes = [IsFinance]

    @extend_schema(parameters=[ReportRangeQuery], responses=CSV)
    def get(self, request):
        query = parse_query(ReportRangeQuery, request)
        return csv_response(
            exports.earnings_csv(day_from=query["from"], day_to=query["to"]),
            f"shiftline-earnings-{_range_name(query)}.csv",
        )


class YearQuery(serializers.Serializer):
    year = serializers.IntegerField(min_value=EARLIEST_DAY.year, max_value=LATEST_DAY.year)
    format = serializers.ChoiceField(choices=["json", "csv"], required=False, default="csv")


class AnnualEarningsView(APIView):
    """Per worker and currency, money paid in a calendar year: 1099-NEC and DAC7 columns (CSV)."""

    permission_classes = [IsFinance]

    @extend_schema(parameters=[YearQuery], responses=JSON_OR_CSV)
    def get(self, request):
        query = parse_query(YearQuery, request)
        if query["format"] == "csv":
            return csv_response(exports.annual_earnings_csv(year=query["year"]),
                                f"shiftline-annual-earnings-{query['year']}.csv")
        return Response({"year": query["year"], "results": list(exports.annual_earnings_rows(year=query["year"]))})


class ExportRequest(ReportRangeQuery):
    kind = serializers.ChoiceField(choices=list(tasks.EXPORT_KINDS))
    format = serializers.ChoiceField(choices=["csv"], required=False, default="csv")


def _export_body(request, export_id: str, state: dict) -> dict:
    done = state.get("status") == "done"
    return {
        "id": export_id, "kind": state["kind"], "from": state["from"], "to": state["to"],
        "status": state["status"], "progress": state.get("progress", 0), "rows_done": state.get("rows_done", 0),
        "rows_total": state.get("rows_total"), "error": state.get("error", ""),
        "status_url": request.build_absolute_uri(reverse("report-export", args=[export_id])),
        "download_url": request.build_absolute_uri(reverse("report-export-download", args=[export_id]))
        if done else None,
    }


class ExportListView(APIView):
    """Start a large CSV export as a Celery task → 202 with its status URL; poll it for progress."""

    permission_classes = [IsFinance]

    @extend_schema(request=ExportRequest, responses={202: OpenApiTypes.OBJECT})
    def post(self, request):
        serializer = ExportRequest(data=request.data)
        serializer.is_valid(raise_exception=True)
        query = serializer.validated_data
        export_id = uuid.uuid4().hex
        state = tasks.export_state_set(
            export_id, kind=query["kind"], status="queued", progress=0, rows_done=0,
            **{"from": query["from"].isoformat(), "to": query["to"].isoformat()}, owner=request.user.pk,
        )
        tasks.export_csv.delay(export_id)
        state = tasks.export_state(export_id) or state
        return Response(_export_body(request, export_id, state), status=202)


def _own_export(request, export_id: str) -> dict:
    state = tasks.export_state(export_id)
    if state is None or state.get("owner") != request.user.pk:
        raise NotFound("No such export (exports are kept for a day).")
    return state


class ExportView(APIView):
    permission_classes = [IsFinance]

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request, export_id: str):
        return Response(_export_body(request, export_id, _own_export(request, export_id)))


class ExportDownloadView(APIView):
    permission_classes = [IsFinance]

    @extend_schema(responses=CSV)
    def get(self, request, export_id: str):
        state = _own_export(request, export_id)
        if state["status"] != "done":
            raise ExportNotReady
        path = tasks.export_dir() / f"{export_id}.csv"
        if not path.exists():
            raise NotFound("The export file is gone; start it again.")
        name = f"shiftline-{state['kind']}-{state['from'].replace('-', '')}-{state['to'].replace('-', '')}.csv"
        return FileResponse(open(path, "rb"), as_attachment=True, filename=name,  # noqa: SIM115 - closed by Django
                            content_type="text/csv; charset=utf-8")

"""The finance and ops dashboards: server-rendered pages over the same selectors as the report API.

Charts are drawn in the browser by plotly.js, which the pinned `plotly` package on PyPI ships
(`plotly/package_data/plotly.min.js`): `plotly_js` serves that file, so nothing is pasted in the
repository and no CDN is needed.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from kernel.api import flatten_field_errors
from payouts.models import Earning
from reports.api import ReportRangeQuery
from reports.formatting import format_amount
from reports.selectors import exports, payouts, reconciliation
from reports.selectors.operations import operations_report
from tickets.models import Ticket
from workers.models import Worker

DEFAULT_RANGE_DAYS = 30
# Up to this many earnings the line-item CSV streams straight away; above it the dashboard offers
# a background export (Celery) with a progress bar and a download link.
STREAM_EXPORT_MAX_ROWS = 50_000


def _range(request) -> tuple[dt.date, dt.date, dict]:
    """`?from=&to=` as the API validates them; the last 30 days when absent, with errors to show."""
    today = dt.datetime.now(dt.UTC).date()
    default = (today - dt.timedelta(days=DEFAULT_RANGE_DAYS - 1), today)
    if not request.GET.get("from") and not request.GET.get("to"):
        return default[0], default[1], {}
    serializer = ReportRangeQuery(data={"from": request.GET.get("from", ""), "to": request.GET.get("to", "")})
    if serializer.is_valid():
        return serializer.validated_data["from"], serializer.validated_data["to"], {}
    return default[0], default[1], flatten_field_errors(serializer.errors)


def _require(request, allowed) -> None:
    if not allowed(request.user):
        raise PermissionDenied


@lru_cache(maxsize=1)
def _plotly_bundle() -> tuple[bytes, bytes, str]:
    import plotly

    raw = (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_bytes()
    return raw, gzip.compress(raw, compresslevel=6), hashlib.sha256(raw).hexdigest()[:16]


def plotly_version() -> str:
    from importlib.metadata import version

    return version("plotly")


@require_GET
def plotly_js(request, version: str):
    """plotly.min.js from the installed package: gzipped when the browser accepts it, cached a year."""
    if version != plotly_version():
        raise Http404
    raw, compressed, digest = _plotly_bundle()
    if request.headers.get("If-None-Match") == f'"{digest}"':
        return HttpResponse(status=304)
    use_gzip = "gzip" in request.headers.get("Accept-Encoding", "")
    response = HttpResponse(compressed if use_gzip else raw, content_type="text/javascript; charset=utf-8")
    if use_gzip:
        response["Content-Encoding"] = "gzip"
    response["Vary"] = "Accept-Encoding"
    response["ETag"] = f'"{digest}"'
    response["Cache-Control"] = "public, max-age=31536000, immutable"
    return response


def _formatted(row: Mapping[str, Any], currency: str) -> dict:
    """The row with `<money>_formatted` beside each money figure, for the tables."""
    money = [*payouts.PAYOUT_MONEY_FIELDS, "case_cost", "cost_per_resolved_case", "amount", "reversed_amount"]
    return {**row, **{f"{k}_formatted": format_amount(row[k], currency) for k in money if k in row}}


def _duration(seconds: float | None) -> str:
    """`304.0` → `"5 min 4 s"`, `6543` → `"1 h 49 min"`: for the headline figures."""
    if seconds is None:
        return "–"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60} min"


def _chart_context(day_from: dt.date, day_to: dt.date) -> dict:
    return {
        "day_from": day_from,
        "day_to": day_to,
        "plotly_url": reverse("reports-plotly-js", args=[plotly_version()]),
    }


@login_required
def finance_dashboard(request):
    """Headline money figures, payouts per week, cost per case, CSAT, response times, reconciliation flag."""
    _require(request, lambda user: user.is_finance)
    day_from, day_to, errors = _range(request)
    payout = payouts.payout_report(day_from=day_from, day_to=day_to)
    operations = operations_report(day_from=day_from, day_to=day_to)
    currency = payout["currency"]
    weekly = payouts.payouts_by_week(day_from=day_from, day_to=day_to, currency=currency)
    payout["results"] = [_formatted(row, currency) for row in payout["results"]]
    payout["totals"] = _formatted(payout["totals"], currency)
    operations["totals"] = _formatted(operations["totals"], currency)
    query = f"from={day_from.isoformat()}&to={day_to.isoformat()}"
    context = {
        **_chart_context(day_from, day_to),
        "errors": errors,
        "payout": payout,
        "operations": operations,
        "reconciliation": reconciliation.reconciliation_latest(),
        "csv_url": f"{reverse('report-payouts')}?{query}&format=csv",
        "earnings_csv_url": f"{reverse('report-earnings')}?{query}",
        "earnings_count": (earnings_count := exports.earnings_export_count(day_from=day_from, day_to=day_to)),
        "earnings_export_in_background": earnings_count > STREAM_EXPORT_MAX_ROWS,
        "exports_url": reverse("report-exports"),
        "query": query,
        "chart_data": {
            "currency": payout["currency"],
            "payouts_per_week": weekly,
            "by_day": operations["by_day"],
            "first_response_distribution": operations["first_response_distribution"],
            "by_hour": operations["by_hour"],
        },
    }
    return render(request, "reports/finance_dashboard.html", context)


@login_required
def ops_dashboard(request):
    """Volumes, first-response and resolution times, CSAT and cost per case; by day, language and topic."""
    _require(request, lambda user: user.is_ops or user.is_finance)
    day_from, day_to, errors = _range(request)
    operations = operations_report(day_from=day_from, day_to=day_to)
    currency = operations["totals"]["currency"]
    operations["totals"] = _formatted(operations["totals"], currency)
    for name in ("first_response_median", "first_response_p90", "resolution_median", "resolution_p90"):
        operations["totals"][f"{name}_human"] = _duration(operations["totals"][f"{name}_seconds"])
    for breakdown in ("by_language", "by_topic"):
        operations[breakdown] = [_formatted(row, currency) for row in operations[breakdown]]
    query = f"from={day_from.isoformat()}&to={day_to.isoformat()}"
    context = {
        **_chart_context(day_from, day_to),
        "errors": errors,
        "operations": operations,
        "csv_url": f"{reverse('report-operations')}?{query}&format=csv",
        "chart_data": {
            "currency": operations["totals"]["currency"],
            "by_day": operations["by_day"],
            "first_response_distribution": operations["first_response_distribution"],
            "by_hour": operations["by_hour"],
        },
    }
    return render(request, "reports/ops_dashboard.html", context)


@login_required
def worker_statement(request, worker_id: int):
    """Drill-down from the payout table: one worker's earnings (each with its ticket) and payouts."""
    _require(request, lambda user: user.is_finance)
    worker = Worker.objects.filter(pk=worker_id).values("user_id", "full_name", "country").first()
    if worker is None:
        raise Http404
    day_from, day_to, errors = _range(request)
    statement = payouts.worker_statement(worker_id=worker_id, day_from=day_from, day_to=day_to)
    for key in ("earnings", "payouts"):
        statement[key] = [_formatted(row, row["currency"]) for row in statement[key]]
    return render(request, "reports/worker_statement.html", {
        "worker": worker, "day_from": day_from, "day_to": day_to, "errors": errors, **statement,
    })


@login_required
def earning_ticket(request, ticket_id: int):
    """Drill-down from an earning to its ticket: what finance needs to judge the case pay (no chat)."""
    _require(request, lambda user: user.is_finance)
    ticket = (
        Ticket.objects.filter(pk=ticket_id)
        .values("id", "status", "language", "topic_id", "created_at", "first_response_at", "resolved_at",
                "abandoned_at", "rating", "rated_at", "resolution_count", "resolved_by_id",
                "resolved_by__full_name")
        .first()
    )
    if ticket is None:
        raise Http404
    earnings = [
        _formatted(row, row["currency"]) for row in Earning.objects.filter(ticket_id=ticket_id)
        .order_by("earned_at", "id")
        .values("id", "worker_id", "worker__full_name", "kind", "status", "amount", "currency", "multiplier",
                "resolution_n", "earned_at", "voided_at", "payout_id")
    ]
    return render(request, "reports/ticket.html", {"ticket": ticket, "earnings": earnings})

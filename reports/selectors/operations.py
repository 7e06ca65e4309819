"""The operations report: ticket volumes, first-response and resolution times, CSAT, cost per case."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from django.db import models
from django.db.models import Avg, Count, F, Q, Sum
from django.db.models.expressions import Combinable
from django.db.models.functions import ExtractHour, TruncDate

from kernel.api import utc_day_bounds
from payouts.models import Earning, EarningStatus
from reports.formatting import csv_lines, format_amount
from reports.selectors.sql import PercentileCont, SecondsBetween, each_day, grouped, report_currency
from tickets.models import Ticket, TicketStatus

# First-response time distribution buckets: (label, lower bound inclusive, upper bound exclusive).
FIRST_RESPONSE_BUCKETS: list[tuple[str, float, float | None]] = [
    ("<30s", 0, 30),
    ("30s-1m", 30, 60),
    ("1-2m", 60, 120),
    ("2-5m", 120, 300),
    ("5-15m", 300, 900),
    ("15-60m", 900, 3600),
    (">=1h", 3600, None),
]

OPERATIONS_ROW_FIELDS = [
    "tickets_created",
    "tickets_resolved",
    "tickets_abandoned",
    "first_response_median_seconds",
    "first_response_p90_seconds",
    "resolution_median_seconds",
    "resolution_p90_seconds",
    "csat_average",
    "csat_count",
    "case_cost",
    "cost_per_resolved_case",
    "currency",
]


def _operations_rows(day_from: dt.date, day_to: dt.date, group: str | None) -> dict[Any, dict]:
    """Every operations figure for the range, grouped by `day`, `language`, `topic` or not at all."""
    start, end = utc_day_bounds(day_from, day_to)

    def key_for(date_field: str) -> Combinable | None:
        if group == "day":
            return TruncDate(date_field, tzinfo=dt.UTC)
        if group == "language":
            return F("language")
        if group == "topic":
            return F("topic_id")
        return None

    created = Ticket.objects.filter(created_at__gte=start, created_at__lt=end)
    first_response = SecondsBetween("first_response_at", "created_at")
    created_rows = grouped(
        created, key_for("created_at"),
        tickets_created=Count("id"),
        first_response_median_seconds=PercentileCont(first_response, 0.5),
        first_response_p90_seconds=PercentileCont(first_response, 0.9),
    )
    resolved = Ticket.objects.filter(status=TicketStatus.RESOLVED, resolved_at__gte=start, resolved_at__lt=end)
    resolution = SecondsBetween("resolved_at", "created_at")
    resolved_rows = grouped(
        resolved, key_for("resolved_at"),
        tickets_resolved=Count("id"),
        resolution_median_seconds=PercentileCont(resolution, 0.5),
        resolution_p90_seconds=PercentileCont(resolution, 0.9),
    )
    abandoned = Ticket.objects.filter(status=TicketStatus.ABANDONED, abandoned_at__gte=start, abandoned_at__lt=end)
    abandoned_rows = grouped(abandoned, key_for("abandoned_at"), tickets_abandoned=Count("id"))
    rated = Ticket.objects.filter(rating__isnull=False, rated_at__gte=start, rated_at__lt=end)
    csat_rows = grouped(rated, key_for("rated_at"), csat_average=Avg("rating"), csat_count=Count("id"))
    cost_rows, currency = _case_cost_rows(start, end, group)

    keys: list[Any]
    if group is None:
        keys = [None]
    elif group == "day":
        keys = each_day(day_from, day_to)
    else:
        found = set(created_rows) | set(resolved_rows) | set(abandoned_rows) | set(csat_rows) | set(cost_rows)
        keys = sorted(k for k in found if k is not None)

    result: dict[Any, dict] = {}
    for key in keys:
        c, r = created_rows.get(key, {}), resolved_rows.get(key, {})
        a, s = abandoned_rows.get(key, {}), csat_rows.get(key, {})
        cost = (cost_rows.get(key) or {}).get("case_cost") or 0
        n_resolved = r.get("tickets_resolved") or 0
        csat_average = s.get("csat_average")
        result[key] = {
            "tickets_created": c.get("tickets_created") or 0,
            "tickets_resolved": n_resolved,
            "tickets_abandoned": a.get("tickets_abandoned") or 0,
            "first_response_median_seconds": _seconds(c.get("first_response_median_seconds")),
            "first_response_p90_seconds": _seconds(c.get("first_response_p90_seconds")),
            "resolution_median_seconds": _seconds(r.get("resolution_median_seconds")),
            "resolution_p90_seconds": _seconds(r.get("resolution_p90_seconds")),
            "csat_average": None if csat_average is None else round(float(csat_average), 3),
            "csat_count": s.get("csat_count") or 0,
            "case_cost": int(cost),
            # Rounded half up to a whole minor unit; null when nothing was resolved.
            "cost_per_resolved_case": (int(cost) * 2 + n_resolved) // (2 * n_resolved) if n_resolved else None,
            "currency": currency,
        }
    return result


def _case_cost_rows(start: dt.datetime, end: dt.datetime, group: str | None) -> tuple[dict[Any, dict], str]:
    """Case pay plus bonuses earned in [start, end), voided ones excluded, grouped like the tickets."""
    currency = report_currency()
    earned = Earning.objects.filter(earned_at__gte=start, earned_at__lt=end, currency=currency).exclude(
        status=EarningStatus.VOIDED
    )
    key: Combinable | None = {
        "day": TruncDate("earned_at", tzinfo=dt.UTC),
        "language": F("ticket__language"),
        "topic": F("ticket__topic_id"),
        None: None,
    }[group]
    return grouped(earned, key, case_cost=Sum("amount")), currency


def operations_report(*, day_from: dt.date, day_to: dt.date) -> dict:
    """The operations report: totals, by day, by language and by topic, hourly volume, FRT spread."""
    start, end = utc_day_bounds(day_from, day_to)
    totals = _operations_rows(day_from, day_to, None)[None]
    created = Ticket.objects.filter(created_at__gte=start, created_at__lt=end)
    rated = Ticket.objects.filter(rating__isnull=False, rated_at__gte=start, rated_at__lt=end)
    distribution = rated.order_by().aggregate(**{str(n): Count("id", filter=Q(rating=n)) for n in range(1, 6)})
    totals["csat_distribution"] = distribution

    # One CASE per row picks the bucket (the duration is computed until a bucket matches), then GROUP BY.
    bucket = models.Case(
        *[models.When(_frt__lt=high, then=models.Value(i)) for i, (_, _, high) in enumerate(FIRST_RESPONSE_BUCKETS)
          if high is not None],
        default=models.Value(len(FIRST_RESPONSE_BUCKETS) - 1),
        output_field=models.IntegerField(),
    )
    frt = created.filter(first_response_at__isnull=False).annotate(
        _frt=SecondsBetween("first_response_at", "created_at")
    )
    bucket_counts = {f"b{k}": row["n"] for k, row in grouped(frt, bucket, n=Count("id")).items()}
    hours = grouped(created, ExtractHour("created_at", tzinfo=dt.UTC), tickets_created=Count("id"))
    return {
        "from": day_from.isoformat(),
        "to": day_to.isoformat(),
        "totals": totals,
        "by_day": [{"date": day.isoformat(), **row} for day, row in _operations_rows(day_from, day_to, "day").items()],
        "by_language": [
            {"language": key, **row} for key, row in _operations_rows(day_from, day_to, "language").items()
        ],
        "by_topic": [{"topic": key, **row} for key, row in _operations_rows(day_from, day_to, "topic").items()],
        "by_hour": [
            {"hour": hour, "tickets_created": (hours.get(hour) or {}).get("tickets_created", 0)} for hour in range(24)
        ],
        "first_response_distribution": [
            {"bucket": label, "lower_seconds": low, "upper_seconds": high, "count": bucket_counts.get(f"b{i}", 0)}
            for i, (label, low, high) in enumerate(FIRST_RESPONSE_BUCKETS)
        ],
    }


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(float(value), 3)


OPERATIONS_CSV_COLUMNS = ["date", *OPERATIONS_ROW_FIELDS, "cost_per_resolved_case_formatted"]


def operations_csv_lines(report: dict) -> Iterator[str]:
    """The operations report's by-day rows as CSV (at most 366 rows, already aggregated)."""
    return csv_lines(
        OPERATIONS_CSV_COLUMNS,
        (
            [row["date"], *[row[name] if row[name] is not None else "" for name in OPERATIONS_ROW_FIELDS],
             format_amount(row["cost_per_resolved_case"], row["currency"])]
            for row in report["by_day"]
        ),
    )

"""Report selectors: every figure of the finance and operations reports, aggregated in SQL.

The API (`payouts/report_api.py`), the dashboards (`payouts/report_pages.py`), the CSV exports and
the Celery tasks (`payouts/report_tasks.py`) all call these functions, so a figure is defined once.

Conventions: ranges are inclusive UTC days (`day_from` .. `day_to`); money is integer minor units
with a lowercase ISO currency; durations are seconds (floats, PostgreSQL `PERCENTILE_CONT`
semantics: linear interpolation between the closest ranks).
"""

from __future__ import annotations

import csv
import datetime as dt
import math
from collections.abc import Iterable, Iterator
from typing import Any

from django.db import models
from django.db.models import Avg, Count, F, Q, Sum
from django.db.models.functions import Coalesce, ExtractHour, TruncDate

from marketplace.api import utc_day_bounds
from payouts.models import Earning, EarningKind, EarningStatus, Payout, PayoutStatus, RateCard
from tickets.models import Ticket, TicketStatus

# --- SQL building blocks --------------------------------------------------------------------


class SecondsBetween(models.Func):
    """`later - earlier` in seconds, as a double (NULL when either side is NULL)."""

    output_field = models.FloatField()
    arity = 2

    def as_sql(self, compiler, connection, **extra_context):
        # PostgreSQL: EXTRACT returns numeric; PERCENTILE_CONT wants double precision.
        return super().as_sql(
            compiler, connection, template="(EXTRACT(EPOCH FROM (%(expressions)s)))::double precision",
            arg_joiner=" - ", **extra_context,
        )

    def as_sqlite(self, compiler, connection, **extra_context):
        return super().as_sql(
            compiler, connection, template="((JULIANDAY(%(expressions)s)) * 86400.0)",
            arg_joiner=") - JULIANDAY(", **extra_context,
        )


class _SqlitePercentileCont:
    """PERCENTILE_CONT for SQLite (used by `make run`): the same linear interpolation."""

    def __init__(self) -> None:
        self.values: list[float] = []
        self.fraction = 0.5

    def step(self, value, fraction) -> None:
        if value is not None:
            self.values.append(float(value))
            self.fraction = float(fraction)

    def finalize(self):
        return percentile_cont(self.values, self.fraction)


def percentile_cont(values: Iterable[float], fraction: float) -> float | None:
    """PostgreSQL's PERCENTILE_CONT on a list: the fallback for SQLite, and the tests' oracle."""
    ordered = sorted(values)
    if not ordered:
        return None
    position = fraction * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class PercentileCont(models.Aggregate):
    """`PERCENTILE_CONT(fraction) WITHIN GROUP (ORDER BY expression)`; a registered aggregate on SQLite."""

    function = "PERCENTILE_CONT"
    name = "PercentileCont"
    output_field = models.FloatField()
    allow_distinct = False

    def __init__(self, expression, fraction: float, **extra):
        self.fraction = float(fraction)
        if not 0 <= self.fraction <= 1:
            raise ValueError("fraction must be within [0, 1]")
        super().__init__(expression, **extra)

    def as_sql(self, compiler, connection, **extra_context):
        # The fraction is a float we control, never user input: safe to inline.
        return super().as_sql(
            compiler, connection,
            template=f"%(function)s({self.fraction!r}) WITHIN GROUP (ORDER BY %(expressions)s)",
            **extra_context,
        )

    def as_sqlite(self, compiler, connection, **extra_context):
        connection.ensure_connection()
        connection.connection.create_aggregate("SHIFTLINE_PERCENTILE_CONT", 2, _SqlitePercentileCont)
        return super().as_sql(
            compiler, connection, function="SHIFTLINE_PERCENTILE_CONT",
            template=f"%(function)s(%(expressions)s, {self.fraction!r})", **extra_context,
        )


def _grouped(queryset: models.QuerySet, key: models.Expression | None, **aggregates) -> dict[Any, dict]:
    """One aggregate query: `{group key: {name: value}}`, or `{None: {...}}` for the whole range."""
    if key is None:
        return {None: queryset.order_by().aggregate(**aggregates)}
    rows = queryset.annotate(_group=key).order_by().values("_group").annotate(**aggregates)
    return {row.pop("_group"): row for row in rows}


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(float(value), 3)


def _days(day_from: dt.date, day_to: dt.date) -> list[dt.date]:
    return [day_from + dt.timedelta(days=n) for n in range((day_to - day_from).days + 1)]


# --- Operations report ----------------------------------------------------------------------

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

    def key_for(date_field: str) -> models.Expression | None:
        if group == "day":
            return TruncDate(date_field, tzinfo=dt.UTC)
        if group == "language":
            return F("language")
        if group == "topic":
            return F("topic_id")
        return None

    created = Ticket.objects.filter(created_at__gte=start, created_at__lt=end)
    first_response = SecondsBetween("first_response_at", "created_at")
    created_rows = _grouped(
        created, key_for("created_at"),
        tickets_created=Count("id"),
        first_response_median_seconds=PercentileCont(first_response, 0.5),
        first_response_p90_seconds=PercentileCont(first_response, 0.9),
    )
    resolved = Ticket.objects.filter(status=TicketStatus.RESOLVED, resolved_at__gte=start, resolved_at__lt=end)
    resolution = SecondsBetween("resolved_at", "created_at")
    resolved_rows = _grouped(
        resolved, key_for("resolved_at"),
        tickets_resolved=Count("id"),
        resolution_median_seconds=PercentileCont(resolution, 0.5),
        resolution_p90_seconds=PercentileCont(resolution, 0.9),
    )
    abandoned = Ticket.objects.filter(status=TicketStatus.ABANDONED, abandoned_at__gte=start, abandoned_at__lt=end)
    abandoned_rows = _grouped(abandoned, key_for("abandoned_at"), tickets_abandoned=Count("id"))
    rated = Ticket.objects.filter(rating__isnull=False, rated_at__gte=start, rated_at__lt=end)
    csat_rows = _grouped(rated, key_for("rated_at"), csat_average=Avg("rating"), csat_count=Count("id"))
    cost_rows, currency = _case_cost_rows(start, end, group)

    keys: list[Any]
    if group is None:
        keys = [None]
    elif group == "day":
        keys = _days(day_from, day_to)
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
    key: models.Expression | None = {
        "day": TruncDate("earned_at", tzinfo=dt.UTC),
        "language": F("ticket__language"),
        "topic": F("ticket__topic_id"),
        None: None,
    }[group]
    return _grouped(earned, key, case_cost=Sum("amount")), currency


def report_currency() -> str:
    """The currency reports are in: the current rate card's (one currency at a time)."""
    card = RateCard.objects.order_by("-version").values_list("currency", flat=True).first()
    return card or "eur"


def operations_report(*, day_from: dt.date, day_to: dt.date) -> dict:
    """The operations report: totals, by day, by language and by topic, hourly volume, FRT spread."""
    start, end = utc_day_bounds(day_from, day_to)
    totals = _operations_rows(day_from, day_to, None)[None]
    created = Ticket.objects.filter(created_at__gte=start, created_at__lt=end)
    rated = Ticket.objects.filter(rating__isnull=False, rated_at__gte=start, rated_at__lt=end)
    distribution = rated.order_by().aggregate(**{str(n): Count("id", filter=Q(rating=n)) for n in range(1, 6)})
    totals["csat_distribution"] = distribution

    frt = created.filter(first_response_at__isnull=False).annotate(
        _frt=SecondsBetween("first_response_at", "created_at")
    )
    bucket_counts = frt.order_by().aggregate(
        **{
            f"b{i}": Count("id", filter=Q(_frt__gte=low) & (Q(_frt__lt=high) if high is not None else Q()))
            for i, (_, low, high) in enumerate(FIRST_RESPONSE_BUCKETS)
        }
    )
    hours = _grouped(created, ExtractHour("created_at", tzinfo=dt.UTC), tickets_created=Count("id"))
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
            {"bucket": label, "lower_seconds": low, "upper_seconds": high, "count": bucket_counts[f"b{i}"]}
            for i, (label, low, high) in enumerate(FIRST_RESPONSE_BUCKETS)
        ],
    }


def _sum(field: str, **filter_kwargs) -> Coalesce:
    return Coalesce(Sum(field, filter=Q(**filter_kwargs) if filter_kwargs else None), 0)


# --- Money formatting -----------------------------------------------------------------------

# Stripe's zero-decimal currencies: their minor unit is the whole unit.
ZERO_DECIMAL_CURRENCIES = frozenset(
    "bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split()
)


def format_amount(amount: int | None, currency: str) -> str:
    """`1250, "eur"` → `"12.50"`; `1250, "jpy"` → `"1250"`. Exact (integer arithmetic)."""
    if amount is None:
        return ""
    if currency.lower() in ZERO_DECIMAL_CURRENCIES:
        return str(amount)
    sign = "-" if amount < 0 else ""
    whole, cents = divmod(abs(int(amount)), 100)
    return f"{sign}{whole}.{cents:02d}"


def iso_utc(value: dt.datetime | None) -> str:
    """ISO 8601 in UTC with a `Z`, whole seconds: `2026-11-25T09:30:00Z`."""
    if value is None:
        return ""
    return value.astimezone(dt.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- Payout report --------------------------------------------------------------------------

PAYOUT_MONEY_FIELDS = ["gross", "bonuses", "voided", "paid", "reversed", "outstanding"]


def _sum_subquery(queryset: models.QuerySet, field: str = "amount") -> Coalesce:
    """A correlated `SUM(field)` over `queryset` (already filtered on `OuterRef`), 0 when empty."""
    total = queryset.order_by().values("worker_id").annotate(_total=Sum(field)).values("_total")
    return Coalesce(models.Subquery(total, output_field=models.BigIntegerField()), 0)


def _count_subquery(queryset: models.QuerySet) -> Coalesce:
    count = queryset.order_by().values("worker_id").annotate(_n=Count("id")).values("_n")
    return Coalesce(models.Subquery(count, output_field=models.BigIntegerField()), 0)


def payout_report_rows(*, day_from: dt.date, day_to: dt.date, currency: str | None = None) -> models.QuerySet:
    """One row per worker with earnings or payouts dated in the range, ordered by worker id.

    - `cases_resolved`: case-pay earnings earned in the range and not voided;
    - `gross`: every earning earned in the range (case pay and bonuses, voided ones included);
    - `bonuses`: the CSAT-bonus part of `gross`; `voided`: the part of `gross` voided since;
    - `outstanding`: the part of `gross` not yet paid nor voided (pending, available, in payout);
    - `paid`: payouts paid (accepted by Stripe) in the range, `payouts_count` how many;
    - `reversed`: amounts reversed at Stripe in the range.

    So `gross = voided + outstanding + (earned in the range and paid since)`; `paid` counts money
    sent in the range, whichever days it was earned on. A values() queryset: `.iterator()` streams.
    """
    from workers.models import Worker

    currency = currency or report_currency()
    start, end = utc_day_bounds(day_from, day_to)
    earnings = Earning.objects.filter(
        worker_id=models.OuterRef("pk"), currency=currency, earned_at__gte=start, earned_at__lt=end
    )
    paid = Payout.objects.filter(
        worker_id=models.OuterRef("pk"), currency=currency, status=PayoutStatus.PAID,
        paid_at__gte=start, paid_at__lt=end,
    )
    reversed_ = Payout.objects.filter(
        worker_id=models.OuterRef("pk"), currency=currency, reversed_at__gte=start, reversed_at__lt=end
    )
    active_workers = Q(
        pk__in=Earning.objects.filter(currency=currency, earned_at__gte=start, earned_at__lt=end).values("worker_id")
    ) | Q(
        pk__in=Payout.objects.filter(currency=currency, status=PayoutStatus.PAID, paid_at__gte=start, paid_at__lt=end)
        .values("worker_id")
    ) | Q(
        pk__in=Payout.objects.filter(currency=currency, reversed_at__gte=start, reversed_at__lt=end).values("worker_id")
    )
    return (
        Worker.objects.filter(active_workers)
        .annotate(
            worker=F("pk"),
            worker_name=F("full_name"),
            currency=models.Value(currency, output_field=models.CharField()),
            cases_resolved=_count_subquery(
                earnings.filter(kind=EarningKind.CASE_PAY).exclude(status=EarningStatus.VOIDED)
            ),
            gross=_sum_subquery(earnings),
            bonuses=_sum_subquery(earnings.filter(kind=EarningKind.CSAT_BONUS)),
            voided=_sum_subquery(earnings.filter(status=EarningStatus.VOIDED)),
            paid=_sum_subquery(paid),
            reversed=_sum_subquery(reversed_, "reversed_amount"),
            outstanding=_sum_subquery(
                earnings.filter(
                    status__in=[EarningStatus.PENDING, EarningStatus.AVAILABLE, EarningStatus.IN_PAYOUT]
                )
            ),
            payouts_count=_count_subquery(paid),
        )
        .order_by("pk")
        .values(
            "worker", "worker_name", "currency", "cases_resolved", "gross", "bonuses", "voided", "paid",
            "reversed", "outstanding", "payouts_count", "stripe_account_id", "country",
        )
    )


def payout_report_totals(*, day_from: dt.date, day_to: dt.date, currency: str | None = None) -> dict:
    """The totals of `payout_report_rows`, computed on the tables directly (two aggregate queries)."""
    currency = currency or report_currency()
    start, end = utc_day_bounds(day_from, day_to)
    earned = Earning.objects.filter(currency=currency, earned_at__gte=start, earned_at__lt=end).aggregate(
        cases_resolved=Count("id", filter=Q(kind=EarningKind.CASE_PAY) & ~Q(status=EarningStatus.VOIDED)),
        gross=_sum("amount"),
        bonuses=_sum("amount", kind=EarningKind.CSAT_BONUS),
        voided=_sum("amount", status=EarningStatus.VOIDED),
        outstanding=_sum(
            "amount", status__in=[EarningStatus.PENDING, EarningStatus.AVAILABLE, EarningStatus.IN_PAYOUT]
        ),
        workers_earning=Count("worker_id", distinct=True),
    )
    payouts = Payout.objects.filter(currency=currency).aggregate(
        paid=_sum("amount", status=PayoutStatus.PAID, paid_at__gte=start, paid_at__lt=end),
        payouts_count=Count("id", filter=Q(status=PayoutStatus.PAID, paid_at__gte=start, paid_at__lt=end)),
        reversed=_sum("reversed_amount", reversed_at__gte=start, reversed_at__lt=end),
    )
    return {
        "currency": currency,
        "cases_resolved": earned["cases_resolved"],
        "gross": earned["gross"],
        "bonuses": earned["bonuses"],
        "voided": earned["voided"],
        "paid": payouts["paid"],
        "reversed": payouts["reversed"],
        "outstanding": earned["outstanding"],
        "payouts_count": payouts["payouts_count"],
    }


def payout_report(*, day_from: dt.date, day_to: dt.date, currency: str | None = None) -> dict:
    """`{"from", "to", "currency", "results": [row per worker], "totals": {...}}`."""
    currency = currency or report_currency()
    rows = payout_report_rows(day_from=day_from, day_to=day_to, currency=currency)
    totals = payout_report_totals(day_from=day_from, day_to=day_to, currency=currency)
    results = list(rows)
    totals["workers"] = len(results)
    return {
        "from": day_from.isoformat(),
        "to": day_to.isoformat(),
        "currency": currency,
        "results": results,
        "totals": totals,
    }


# --- CSV ------------------------------------------------------------------------------------


class _Echo:
    """A file-like object whose `write` returns the line, so csv.writer can feed a generator."""

    def write(self, value: str) -> str:
        return value


def csv_lines(header: list[str], rows: Iterable[Iterable[Any]], batch: int = 500) -> Iterator[str]:
    """CSV text in chunks of `batch` lines: the header, then one line per row (RFC 4180 quoting)."""
    writer = csv.writer(_Echo(), lineterminator="\r\n")
    yield writer.writerow(header)
    chunk: list[str] = []
    for row in rows:
        chunk.append(writer.writerow(row))
        if len(chunk) >= batch:
            yield "".join(chunk)
            chunk = []
    if chunk:
        yield "".join(chunk)


def _money_columns(names: list[str]) -> list[str]:
    return [column for name in names for column in (name, f"{name}_formatted")]


# Documented in docs/ARCHITECTURE.md ("Reports"); the order never changes, columns are only added.
PAYOUT_CSV_COLUMNS = [
    "period_start", "period_end", "worker", "worker_name", "country", "stripe_account_id", "currency",
    "cases_resolved", *_money_columns(PAYOUT_MONEY_FIELDS), "payouts_count",
]


def payout_report_csv(*, day_from: dt.date, day_to: dt.date, currency: str | None = None) -> Iterator[str]:
    """The payout report's rows as CSV, streamed from a server-side cursor."""
    start, end = utc_day_bounds(day_from, day_to)
    period = [iso_utc(start), iso_utc(end)]
    rows = payout_report_rows(day_from=day_from, day_to=day_to, currency=currency).iterator(chunk_size=2000)
    return csv_lines(
        PAYOUT_CSV_COLUMNS,
        (
            [
                *period, row["worker"], row["worker_name"], row["country"], row["stripe_account_id"],
                row["currency"], row["cases_resolved"],
                *[v for name in PAYOUT_MONEY_FIELDS for v in (row[name], format_amount(row[name], row["currency"]))],
                row["payouts_count"],
            ]
            for row in rows
        ),
    )


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

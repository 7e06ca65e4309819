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

from payouts.models import Earning, EarningKind, EarningStatus, Payout, PayoutStatus, RateCard
from tickets.models import Ticket, TicketStatus


def utc_day_bounds(day_from: dt.date, day_to: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[start of `day_from`, start of the day after `day_to`) in UTC, as `marketplace.api`'s.

    Not imported from there: importing marketplace.api before DRF's views is circular (APIView
    loads its throttles from marketplace.api), and scripts such as bench/reports.py do just that.
    """
    start = dt.datetime.combine(day_from, dt.time.min, tzinfo=dt.UTC)
    return start, dt.datetime.combine(day_to + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)


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
            # JULIANDAY is a float of days: round to the millisecond so 60 s stays 60.0, not 59.9999.
            compiler, connection, template="ROUND((JULIANDAY(%(expressions)s)) * 86400.0, 3)",
            arg_joiner=") - JULIANDAY(", **extra_context,
        )


class IsoUtc(models.Func):
    """A timestamp as ISO 8601 UTC text (`2026-11-25T09:30:00Z`) formatted by the database.

    For big exports: formatting in SQL spares Python parsing and re-formatting every timestamp.
    """

    output_field = models.CharField()
    arity = 1

    def as_sql(self, compiler, connection, **extra_context):
        return super().as_sql(
            compiler, connection,
            template="to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
            **extra_context,
        )

    def as_sqlite(self, compiler, connection, **extra_context):
        # `%` doubled twice: once for this template, once for the driver's parameter style.
        template = "strftime('%%%%Y-%%%%m-%%%%dT%%%%H:%%%%M:%%%%SZ', %(expressions)s)"
        return super().as_sql(compiler, connection, template=template, **extra_context)


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
    bucket_counts = {f"b{k}": row["n"] for k, row in _grouped(frt, bucket, n=Count("id")).items()}
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
            {"bucket": label, "lower_seconds": low, "upper_seconds": high, "count": bucket_counts.get(f"b{i}", 0)}
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


PAYOUT_ROW_FIELDS = [
    "worker", "worker_name", "currency", "cases_resolved", "gross", "bonuses", "voided", "paid", "reversed",
    "outstanding", "payouts_count", "stripe_account_id", "country",
]


def _earning_figures() -> dict[str, Any]:
    return {
        "cases_resolved": Count("id", filter=Q(kind=EarningKind.CASE_PAY) & ~Q(status=EarningStatus.VOIDED)),
        "gross": _sum("amount"),
        "bonuses": _sum("amount", kind=EarningKind.CSAT_BONUS),
        "voided": _sum("amount", status=EarningStatus.VOIDED),
        "outstanding": _sum(
            "amount", status__in=[EarningStatus.PENDING, EarningStatus.AVAILABLE, EarningStatus.IN_PAYOUT]
        ),
    }


def _payout_figures(start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    paid_in_range = Q(status=PayoutStatus.PAID, paid_at__gte=start, paid_at__lt=end)
    return {
        "paid": _sum("amount", status=PayoutStatus.PAID, paid_at__gte=start, paid_at__lt=end),
        "payouts_count": Count("id", filter=paid_in_range),
        "reversed": _sum("reversed_amount", reversed_at__gte=start, reversed_at__lt=end),
    }


def _payouts_in_range(currency: str, start: dt.datetime, end: dt.datetime) -> models.QuerySet:
    return Payout.objects.filter(currency=currency).filter(
        Q(status=PayoutStatus.PAID, paid_at__gte=start, paid_at__lt=end)
        | Q(reversed_at__gte=start, reversed_at__lt=end)
    )


def payout_report_rows(*, day_from: dt.date, day_to: dt.date, currency: str | None = None) -> list[dict]:
    """One row per worker with earnings or payouts dated in the range, ordered by worker id.

    - `cases_resolved`: case-pay earnings earned in the range and not voided;
    - `gross`: every earning earned in the range (case pay and bonuses, voided ones included);
    - `bonuses`: the CSAT-bonus part of `gross`; `voided`: the part of `gross` voided since;
    - `outstanding`: the part of `gross` not yet paid nor voided (pending, available, in payout);
    - `paid`: payouts paid (accepted by Stripe) in the range, `payouts_count` how many;
    - `reversed`: amounts reversed at Stripe in the range.

    So `gross = voided + outstanding + (earned in the range and paid since)`; `paid` counts money
    sent in the range, whichever days it was earned on.

    Three aggregate queries (earnings grouped by worker over the `earned_at` index, payouts grouped
    by worker, the workers' names), merged per worker: the result has one entry per worker, so its
    size does not grow with the number of earnings.
    """
    from workers.models import Worker

    currency = currency or report_currency()
    start, end = utc_day_bounds(day_from, day_to)
    earned = _grouped(
        Earning.objects.filter(currency=currency, earned_at__gte=start, earned_at__lt=end), F("worker_id"),
        **_earning_figures(),
    )
    paid = _grouped(_payouts_in_range(currency, start, end), F("worker_id"), **_payout_figures(start, end))
    workers = {
        w["user_id"]: w for w in Worker.objects.filter(pk__in=set(earned) | set(paid))
        .values("user_id", "full_name", "stripe_account_id", "country")
    }
    zero_earned = dict.fromkeys(_earning_figures(), 0)
    zero_paid = dict.fromkeys(_payout_figures(start, end), 0)
    rows = []
    for worker_id in sorted(workers):
        worker = workers[worker_id]
        figures = {**zero_earned, **earned.get(worker_id, {}), **zero_paid, **paid.get(worker_id, {})}
        rows.append({
            "worker": worker_id, "worker_name": worker["full_name"], "currency": currency,
            **{name: figures[name] for name in PAYOUT_ROW_FIELDS[3:11]},
            "stripe_account_id": worker["stripe_account_id"], "country": worker["country"],
        })
    return rows


def payout_report_totals(*, day_from: dt.date, day_to: dt.date, currency: str | None = None) -> dict:
    """The totals of `payout_report_rows`, computed on the tables directly (two aggregate queries)."""
    currency = currency or report_currency()
    start, end = utc_day_bounds(day_from, day_to)
    earned = Earning.objects.filter(currency=currency, earned_at__gte=start, earned_at__lt=end).aggregate(
        **_earning_figures()
    )
    payouts = _payouts_in_range(currency, start, end).aggregate(**_payout_figures(start, end))
    return {"currency": currency, **{name: {**earned, **payouts}[name] for name in PAYOUT_ROW_FIELDS[3:11]}}


def payout_report(*, day_from: dt.date, day_to: dt.date, currency: str | None = None) -> dict:
    """`{"from", "to", "currency", "results": [row per worker], "totals": {...}}`."""
    currency = currency or report_currency()
    results = payout_report_rows(day_from=day_from, day_to=day_to, currency=currency)
    totals = payout_report_totals(day_from=day_from, day_to=day_to, currency=currency)
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
    rows = payout_report_rows(day_from=day_from, day_to=day_to, currency=currency)
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


# --- Reconciliation with Stripe -------------------------------------------------------------

RECONCILIATION_CACHE_KEY = "reports:reconciliation:latest"
# Transfers are created moments after their payout row; listing a day either side of the range
# keeps a payout made at 23:59:59 from looking "missing at Stripe".
_LISTING_MARGIN = dt.timedelta(days=1)


class MismatchKind:
    MISSING_AT_STRIPE = "missing_at_stripe"
    UNKNOWN_TO_US = "unknown_to_us"
    AMOUNT_DIFFERS = "amount_differs"
    CURRENCY_DIFFERS = "currency_differs"
    DESTINATION_DIFFERS = "destination_differs"
    REVERSED_NOT_IN_LEDGER = "reversed_not_in_ledger"
    FAILED_IN_LEDGER_BUT_AT_STRIPE = "failed_in_ledger_but_at_stripe"
    LEDGER_POSTING_MISSING = "ledger_posting_missing"
    CLEARING_NOT_ZERO = "clearing_not_zero"


def _transfer_payout_id(transfer) -> str:
    metadata = transfer.get("metadata") or {}
    return str(metadata.get("payout_id") or metadata.get("payout") or "")


def _epoch(value: dt.datetime) -> int:
    return int(value.timestamp())


def stripe_transfers(*, start: dt.datetime, end: dt.datetime, page_size: int = 100) -> Iterator[dict]:
    """Every transfer Stripe lists as created in [start, end), through the SDK, auto-paginated (as dicts)."""
    from payouts.stripe_gateway import stripe_client

    listing = stripe_client().v1.transfers.list(
        params={"limit": page_size, "created": {"gte": _epoch(start), "lt": _epoch(end)}}
    )
    for obj in listing.auto_paging_iter():
        transfer = obj.to_dict()
        # Filter here too: a Stripe-compatible server may ignore `created`.
        if _epoch(start) <= int(transfer.get("created") or 0) < _epoch(end):
            yield transfer


def _stripe_transfer(transfer_id: str):
    """One transfer by id, or None when Stripe does not know it."""
    import stripe

    from payouts.stripe_gateway import stripe_client

    try:
        return stripe_client().v1.transfers.retrieve(transfer_id).to_dict()
    except stripe.InvalidRequestError as exc:
        if exc.http_status == 404:
            return None
        raise


def clearing_balances() -> list[dict]:
    """The Stripe clearing account per currency: the sum of its lines and its cached balance."""
    from payouts.models import AccountKind, JournalLine, LedgerAccount

    lines = {
        row["currency"]: row["total"]
        for row in JournalLine.objects.filter(account__kind=AccountKind.STRIPE_CLEARING)
        .order_by().values("currency").annotate(total=Sum("amount"))
    }
    balances = {
        row["currency"]: row["balance"]
        for row in LedgerAccount.objects.filter(kind=AccountKind.STRIPE_CLEARING)
        .order_by().values("currency").annotate(balance=Sum("balance"))
    }
    return [
        {"currency": currency, "lines_total": int(lines.get(currency) or 0),
         "balance": int(balances.get(currency) or 0),
         "ok": not lines.get(currency) and not balances.get(currency)}
        for currency in sorted(set(lines) | set(balances))
    ]


def reconciliation_report(*, day_from: dt.date, day_to: dt.date, page_size: int = 100) -> dict:
    """Every payout of the range in our ledger against the transfers Stripe lists, every mismatch listed.

    Our side: payouts created in the range that reached Stripe or claim to have (a transfer id, or
    status in transit/paid/failed). Stripe's side: transfers created in the range (a day of margin
    either side for matching). Matched by transfer id, else by `metadata.payout_id`. Also checks
    that the Stripe clearing account nets to zero. Read-only: it changes nothing anywhere.
    """
    start, end = utc_day_bounds(day_from, day_to)
    from payouts.models import JournalKind, JournalTransaction

    paid_posting = JournalTransaction.objects.filter(payout_id=models.OuterRef("pk"), kind=JournalKind.PAYOUT_PAID)
    ours = list(
        Payout.objects.filter(created_at__gte=start, created_at__lt=end)
        .filter(~Q(stripe_transfer_id="") | Q(status__in=[PayoutStatus.PAID, PayoutStatus.IN_TRANSIT]))
        .annotate(posted=models.Exists(paid_posting))
        .order_by("id")
        .values("id", "worker_id", "amount", "currency", "status", "destination", "stripe_transfer_id",
                "reversed_amount", "run__transfer_group", "posted")
    )
    transfers = {
        t["id"]: t
        for t in stripe_transfers(start=start - _LISTING_MARGIN, end=end + _LISTING_MARGIN, page_size=page_size)
    }
    by_payout_id = {_transfer_payout_id(t): t for t in transfers.values() if _transfer_payout_id(t)}
    known_transfer_ids = set(
        Payout.objects.filter(stripe_transfer_id__in=list(transfers)).values_list("stripe_transfer_id", flat=True)
    )
    known_payout_ids = {
        str(pk) for pk in Payout.objects.filter(
            pk__in=[int(p) for p in by_payout_id if p.isdigit()]
        ).values_list("pk", flat=True)
    }

    mismatches: list[dict] = []

    def flag(kind: str, payout: dict | None, transfer, detail: str) -> None:
        mismatches.append({
            "kind": kind,
            "payout": payout["id"] if payout else None,
            "worker": payout["worker_id"] if payout else None,
            "stripe_transfer_id": (transfer or {}).get("id") or (payout or {}).get("stripe_transfer_id") or "",
            "ledger_amount": payout["amount"] if payout else None,
            "ledger_currency": payout["currency"] if payout else None,
            "stripe_amount": transfer.get("amount") if transfer else None,
            "stripe_currency": transfer.get("currency") if transfer else None,
            "detail": detail,
        })

    for payout in ours:
        if payout["status"] == PayoutStatus.PAID and not payout["posted"]:
            flag(MismatchKind.LEDGER_POSTING_MISSING, payout, None,
                 f"Payout {payout['id']} is marked paid but the ledger has no payout posting for it.")
        transfer = transfers.get(payout["stripe_transfer_id"]) if payout["stripe_transfer_id"] else None
        transfer = transfer or by_payout_id.get(str(payout["id"]))
        if transfer is None and payout["stripe_transfer_id"]:
            transfer = _stripe_transfer(payout["stripe_transfer_id"])
        if transfer is None:
            if payout["status"] == PayoutStatus.PAID:
                flag(MismatchKind.MISSING_AT_STRIPE, payout, None,
                     f"Payout {payout['id']} is paid in the ledger but Stripe has no such transfer.")
            continue
        if payout["status"] == PayoutStatus.FAILED:
            flag(MismatchKind.FAILED_IN_LEDGER_BUT_AT_STRIPE, payout, transfer,
                 f"Payout {payout['id']} failed in the ledger but Stripe made transfer {transfer['id']}.")
        if transfer.get("amount") != payout["amount"]:
            flag(MismatchKind.AMOUNT_DIFFERS, payout, transfer,
                 f"Payout {payout['id']} is {payout['amount']} in the ledger, {transfer.get('amount')} at Stripe.")
        if (transfer.get("currency") or "").lower() != payout["currency"]:
            flag(MismatchKind.CURRENCY_DIFFERS, payout, transfer,
                 f"Payout {payout['id']} is in {payout['currency']}, the transfer in {transfer.get('currency')}.")
        if payout["destination"] and transfer.get("destination") and transfer["destination"] != payout["destination"]:
            flag(MismatchKind.DESTINATION_DIFFERS, payout, transfer,
                 f"Payout {payout['id']} went to {transfer['destination']}, not {payout['destination']}.")
        reversed_at_stripe = int(transfer.get("amount_reversed") or 0)
        if reversed_at_stripe > payout["reversed_amount"]:
            flag(MismatchKind.REVERSED_NOT_IN_LEDGER, payout, transfer,
                 f"Stripe reversed {reversed_at_stripe} of transfer {transfer['id']}; "
                 f"the ledger shows {payout['reversed_amount']}.")

    for transfer in transfers.values():
        created = int(transfer.get("created") or 0)
        if not _epoch(start) <= created < _epoch(end):
            continue
        if transfer["id"] in known_transfer_ids or _transfer_payout_id(transfer) in known_payout_ids:
            continue
        flag(MismatchKind.UNKNOWN_TO_US, None, transfer,
             f"Stripe transfer {transfer['id']} ({transfer.get('amount')} {transfer.get('currency')} to "
             f"{transfer.get('destination')}) matches no payout of ours.")

    clearing = clearing_balances()
    for account in clearing:
        if not account["ok"]:
            mismatches.append({
                "kind": MismatchKind.CLEARING_NOT_ZERO, "payout": None, "worker": None, "stripe_transfer_id": "",
                "ledger_amount": account["lines_total"], "ledger_currency": account["currency"],
                "stripe_amount": None, "stripe_currency": None,
                "detail": f"The Stripe clearing account holds {account['lines_total']} {account['currency']}; "
                          "it must net to zero.",
            })
    counts: dict[str, int] = {}
    for mismatch in mismatches:
        counts[mismatch["kind"]] = counts.get(mismatch["kind"], 0) + 1
    return {
        "from": day_from.isoformat(),
        "to": day_to.isoformat(),
        "checked_at": iso_utc(dt.datetime.now(dt.UTC)),
        "ok": not mismatches,
        "payouts_checked": len(ours),
        "transfers_checked": sum(1 for t in transfers.values() if _epoch(start) <= int(t.get("created") or 0)
                                 < _epoch(end)),
        "mismatch_counts": counts,
        "mismatches": mismatches,
        "clearing": clearing,
    }


def _reconciliation_file():
    from django.conf import settings

    return settings.VAR_DIR / "reports" / "reconciliation-latest.json"


def reconciliation_store(result: dict) -> None:
    """Keep the latest reconciliation for the finance dashboard's flag.

    In the cache (shared by every process when it is Redis) and in a JSON file under `VAR_DIR`
    (shared by the processes of one host: `make run` has a per-process memory cache).
    """
    import json

    from django.core.cache import cache

    cache.set(RECONCILIATION_CACHE_KEY, result, timeout=None)
    path = _reconciliation_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(result), encoding="utf-8")
    partial.replace(path)


def reconciliation_latest() -> dict | None:
    import json

    from django.core.cache import cache

    result = cache.get(RECONCILIATION_CACHE_KEY)
    if result is None:
        try:
            result = json.loads(_reconciliation_file().read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
    return result


# --- Payout breakdowns and drill-downs --------------------------------------------------------

BREAKDOWNS = ("day", "week", "shift")


def payout_breakdown(*, day_from: dt.date, day_to: dt.date, by: str, currency: str | None = None) -> list[dict]:
    """Earnings (and, by day or week, payouts paid) of the range grouped by `day`, `week` or `shift`.

    Same definitions as `payout_report_rows`. Weeks start on Monday (ISO); a shift row is the
    shift the earning's claim was on (`shift: null` for earnings without a claim).
    """
    from django.db.models.functions import TruncWeek

    from workers.models import Shift, ShiftClaim

    currency = currency or report_currency()
    start, end = utc_day_bounds(day_from, day_to)
    earned = Earning.objects.filter(currency=currency, earned_at__gte=start, earned_at__lt=end)
    paid = Payout.objects.filter(currency=currency, status=PayoutStatus.PAID, paid_at__gte=start, paid_at__lt=end)
    earning_figures = {
        "cases_resolved": Count("id", filter=Q(kind=EarningKind.CASE_PAY) & ~Q(status=EarningStatus.VOIDED)),
        "gross": _sum("amount"),
        "bonuses": _sum("amount", kind=EarningKind.CSAT_BONUS),
        "voided": _sum("amount", status=EarningStatus.VOIDED),
        "outstanding": _sum(
            "amount", status__in=[EarningStatus.PENDING, EarningStatus.AVAILABLE, EarningStatus.IN_PAYOUT]
        ),
    }
    empty = {name: 0 for name in [*earning_figures, "paid", "payouts_count"]}
    if by in ("day", "week"):
        def trunc(field: str) -> models.Expression:
            if by == "day":
                return TruncDate(field, tzinfo=dt.UTC)
            return TruncWeek(field, tzinfo=dt.UTC, output_field=models.DateField())

        earnings = _grouped(earned, trunc("earned_at"), **earning_figures)
        payouts = _grouped(paid, trunc("paid_at"), paid=_sum("amount"), payouts_count=Count("id"))
        if by == "day":
            keys = _days(day_from, day_to)
        else:
            first = day_from - dt.timedelta(days=day_from.weekday())
            keys = [first + dt.timedelta(weeks=n) for n in range((day_to - first).days // 7 + 1)]
        label = "date" if by == "day" else "week"
        return [
            {label: key.isoformat(), **empty, **earnings.get(key, {}), **payouts.get(key, {}), "currency": currency}
            for key in keys
        ]
    if by == "shift":
        shift_of_claim = ShiftClaim.objects.filter(pk=models.OuterRef("claim_id")).values("shift_id")[:1]
        rows = _grouped(earned, models.Subquery(shift_of_claim), **earning_figures)
        shifts = {
            s["id"]: s for s in Shift.objects.filter(pk__in=[k for k in rows if k is not None])
            .values("id", "starts_at", "ends_at", "language")
        }
        return [
            {"shift": key, "starts_at": (shifts.get(key) or {}).get("starts_at"),
             "ends_at": (shifts.get(key) or {}).get("ends_at"), "language": (shifts.get(key) or {}).get("language"),
             **empty, **rows[key], "currency": currency}
            for key in sorted(rows, key=lambda k: (k is None, k or 0))
        ]
    raise ValueError(f"unknown breakdown {by!r}")


def worker_statement(*, worker_id: int, day_from: dt.date, day_to: dt.date) -> dict:
    """The drill-down from a payout report row: the worker's earnings and payouts of the range."""
    start, end = utc_day_bounds(day_from, day_to)
    earnings = (
        Earning.objects.filter(worker_id=worker_id, earned_at__gte=start, earned_at__lt=end)
        .order_by("earned_at", "id")
        .values("id", "ticket_id", "ticket__language", "ticket__topic_id", "kind", "status", "amount", "currency",
                "multiplier", "earned_at", "payout_id")
    )
    payouts = (
        Payout.objects.filter(worker_id=worker_id)
        .filter(Q(created_at__gte=start, created_at__lt=end) | Q(paid_at__gte=start, paid_at__lt=end)
                | Q(reversed_at__gte=start, reversed_at__lt=end))
        .order_by("created_at", "id")
        .values("id", "amount", "currency", "status", "stripe_transfer_id", "created_at", "paid_at",
                "reversed_amount", "reversed_at", "run_id")
    )
    return {"earnings": list(earnings), "payouts": list(payouts)}


# --- Line-item earnings export (the big CSV) -------------------------------------------------

EARNINGS_CSV_COLUMNS = [
    "earning", "earned_at", "worker", "worker_name", "country", "ticket", "ticket_language", "ticket_topic", "kind",
    "status", "amount", "amount_formatted", "currency", "multiplier", "available_at", "voided_at", "payout",
    "payout_status", "stripe_transfer_id", "paid_at",
]


def earnings_export_rows(*, day_from: dt.date, day_to: dt.date) -> models.QuerySet:
    start, end = utc_day_bounds(day_from, day_to)
    return (
        Earning.objects.filter(earned_at__gte=start, earned_at__lt=end)
        .order_by("earned_at", "id")
        .values_list(
            "id", IsoUtc("earned_at"), "worker_id", "worker__full_name", "worker__country", "ticket_id",
            "ticket__language", "ticket__topic_id", "kind", "status", "amount", "currency", "multiplier",
            IsoUtc("available_at"), IsoUtc("voided_at"), "payout_id", "payout__status", "payout__stripe_transfer_id",
            IsoUtc("payout__paid_at"),
        )
    )


def earnings_export_count(*, day_from: dt.date, day_to: dt.date) -> int:
    return earnings_export_rows(day_from=day_from, day_to=day_to).count()


def earnings_csv(*, day_from: dt.date, day_to: dt.date) -> Iterator[str]:
    """One line per earning earned in the range, from a server-side cursor: memory stays flat."""
    rows = earnings_export_rows(day_from=day_from, day_to=day_to).iterator(chunk_size=5000)
    return csv_lines(
        EARNINGS_CSV_COLUMNS,
        (
            [e_id, earned_at, worker, name, country, ticket, language, topic, kind, status, amount,
             format_amount(amount, currency), currency, multiplier, available_at, voided_at or "",
             payout or "", payout_status or "", transfer or "", paid_at or ""]
            for (e_id, earned_at, worker, name, country, ticket, language, topic, kind, status, amount, currency,
                 multiplier, available_at, voided_at, payout, payout_status, transfer, paid_at) in rows
        ),
        batch=1000,
    )


# --- Annual earnings export (tax reporting) ----------------------------------------------------

# One row per worker and currency of the money actually paid out in the calendar year (transfers
# accepted by Stripe, less reversals made in that year): the figures of a US 1099-NEC (box 1,
# nonemployee compensation) and of an EU DAC7 report (consideration and activities per quarter).
# Identity fields Shiftline does not hold (TIN, address, date of birth) are left blank for finance.
ANNUAL_CSV_COLUMNS = [
    "tax_year", "worker", "worker_name", "legal_name", "email", "country", "tin", "address", "date_of_birth",
    "stripe_account_id", "currency",
    "gross_paid", "gross_paid_formatted", "reversed", "reversed_formatted", "net_paid", "net_paid_formatted",
    "payouts_count", "nec_box1_nonemployee_compensation",
    *[f"dac7_q{q}_{name}" for q in range(1, 5) for name in ("consideration", "activities")],
    "dac7_fees_withheld",
]


def annual_earnings_rows(*, year: int, currency: str | None = None) -> list[dict]:
    """Per worker paid in `year` (in one currency): payouts paid and reversed, per-quarter DAC7 figures.

    Two aggregate queries grouped by worker (the year's payouts with a conditional sum per
    quarter; the year's case pay with a conditional count per quarter) plus the workers' details,
    merged per worker. `activities` per quarter are resolved cases (case-pay earnings not voided)
    earned in that quarter; `consideration` is what was paid out in that quarter.
    """
    from workers.models import Worker

    currency = currency or report_currency()
    start = dt.datetime(year, 1, 1, tzinfo=dt.UTC)
    end = dt.datetime(year + 1, 1, 1, tzinfo=dt.UTC)
    quarters = [(dt.datetime(year, 3 * q - 2, 1, tzinfo=dt.UTC),
                 dt.datetime(year + (q == 4), 1 if q == 4 else 3 * q + 1, 1, tzinfo=dt.UTC)) for q in range(1, 5)]
    paid = Payout.objects.filter(currency=currency, status=PayoutStatus.PAID).filter(
        Q(paid_at__gte=start, paid_at__lt=end) | Q(reversed_at__gte=start, reversed_at__lt=end)
    )
    payouts = _grouped(
        paid, F("worker_id"),
        gross_paid=_sum("amount", paid_at__gte=start, paid_at__lt=end),
        reversed=_sum("reversed_amount", reversed_at__gte=start, reversed_at__lt=end),
        payouts_count=Count("id", filter=Q(paid_at__gte=start, paid_at__lt=end)),
        **{f"q{q}_paid": _sum("amount", paid_at__gte=q_start, paid_at__lt=q_end)
           for q, (q_start, q_end) in enumerate(quarters, start=1)},
    )
    cases = Earning.objects.filter(
        currency=currency, kind=EarningKind.CASE_PAY, earned_at__gte=start, earned_at__lt=end,
        worker_id__in=list(payouts),
    ).exclude(status=EarningStatus.VOIDED)
    activities = _grouped(
        cases, F("worker_id"),
        **{f"q{q}_activities": Count("id", filter=Q(earned_at__gte=q_start, earned_at__lt=q_end))
           for q, (q_start, q_end) in enumerate(quarters, start=1)},
    )
    workers = Worker.objects.filter(pk__in=list(payouts)).order_by("pk").values(
        "user_id", "full_name", "user__email", "country", "stripe_account_id"
    )
    zero_activities = {f"q{q}_activities": 0 for q in range(1, 5)}
    return [
        {"worker_id": w["user_id"], "worker_name": w["full_name"], "email": w["user__email"],
         "country": w["country"], "stripe_account_id": w["stripe_account_id"], "currency": currency,
         **payouts[w["user_id"]], **zero_activities, **activities.get(w["user_id"], {})}
        for w in workers
    ]


def annual_earnings_csv(*, year: int) -> Iterator[str]:
    rows = annual_earnings_rows(year=year)

    def line(row: dict) -> list:
        currency = row["currency"]
        net = row["gross_paid"] - row["reversed"]
        return [
            year, row["worker_id"], row["worker_name"], row["worker_name"], row["email"], row["country"], "", "", "",
            row["stripe_account_id"], currency,
            row["gross_paid"], format_amount(row["gross_paid"], currency),
            row["reversed"], format_amount(row["reversed"], currency),
            net, format_amount(net, currency), row["payouts_count"], format_amount(net, currency),
            *[v for q in range(1, 5) for v in (row[f"q{q}_paid"], row[f"q{q}_activities"])],
            0,
        ]

    return csv_lines(ANNUAL_CSV_COLUMNS, (line(row) for row in rows))


def payouts_by_week(*, day_from: dt.date, day_to: dt.date, currency: str | None = None) -> list[dict]:
    """Payouts paid per ISO week of the range: `{"week": monday, "paid", "payouts_count"}`."""
    return [
        {"week": row["week"], "paid": row["paid"], "payouts_count": row["payouts_count"], "currency": row["currency"]}
        for row in payout_breakdown(day_from=day_from, day_to=day_to, by="week", currency=currency)
    ]

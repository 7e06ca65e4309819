"""The payout report (per worker and totals), its breakdowns by day, week or shift, a worker's statement."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any

from django.db import models
from django.db.models import Count, F, Q
from django.db.models.functions import TruncDate, TruncWeek

from kernel.api import utc_day_bounds
from payouts.models import Earning, EarningKind, EarningStatus, Payout, PayoutStatus
from reports.formatting import csv_lines, format_amount, iso_utc, money_columns
from reports.selectors.sql import each_day, grouped, money_sum, report_currency
from workers.models import Shift, ShiftClaim, Worker

PAYOUT_MONEY_FIELDS = ["gross", "bonuses", "voided", "paid", "reversed", "outstanding"]


PAYOUT_ROW_FIELDS = [
    "worker", "worker_name", "currency", "cases_resolved", "gross", "bonuses", "voided", "paid", "reversed",
    "outstanding", "payouts_count", "stripe_account_id", "country",
]


def _earning_figures() -> dict[str, Any]:
    return {
        "cases_resolved": Count("id", filter=Q(kind=EarningKind.CASE_PAY) & ~Q(status=EarningStatus.VOIDED)),
        "gross": money_sum("amount"),
        "bonuses": money_sum("amount", kind=EarningKind.CSAT_BONUS),
        "voided": money_sum("amount", status=EarningStatus.VOIDED),
        "outstanding": money_sum(
            "amount", status__in=[EarningStatus.PENDING, EarningStatus.AVAILABLE, EarningStatus.IN_PAYOUT]
        ),
    }


def _payout_figures(start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    paid_in_range = Q(status=PayoutStatus.PAID, paid_at__gte=start, paid_at__lt=end)
    return {
        "paid": money_sum("amount", status=PayoutStatus.PAID, paid_at__gte=start, paid_at__lt=end),
        "payouts_count": Count("id", filter=paid_in_range),
        "reversed": money_sum("reversed_amount", reversed_at__gte=start, reversed_at__lt=end),
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
    currency = currency or report_currency()
    start, end = utc_day_bounds(day_from, day_to)
    earned = grouped(
        Earning.objects.filter(currency=currency, earned_at__gte=start, earned_at__lt=end), F("worker_id"),
        **_earning_figures(),
    )
    paid = grouped(_payouts_in_range(currency, start, end), F("worker_id"), **_payout_figures(start, end))
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


# Documented in docs/ARCHITECTURE.md ("Reports"); the order never changes, columns are only added.
PAYOUT_CSV_COLUMNS = [
    "period_start", "period_end", "worker", "worker_name", "country", "stripe_account_id", "currency",
    "cases_resolved", *money_columns(PAYOUT_MONEY_FIELDS), "payouts_count",
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


BREAKDOWNS = ("day", "week", "shift")


def payout_breakdown(*, day_from: dt.date, day_to: dt.date, by: str, currency: str | None = None) -> list[dict]:
    """Earnings (and, by day or week, payouts paid) of the range grouped by `day`, `week` or `shift`.

    Same definitions as `payout_report_rows`. Weeks start on Monday (ISO); a shift row is the
    shift the earning's claim was on (`shift: null` for earnings without a claim).
    """
    currency = currency or report_currency()
    start, end = utc_day_bounds(day_from, day_to)
    earned = Earning.objects.filter(currency=currency, earned_at__gte=start, earned_at__lt=end)
    paid = Payout.objects.filter(currency=currency, status=PayoutStatus.PAID, paid_at__gte=start, paid_at__lt=end)
    earning_figures = _earning_figures()
    empty = {name: 0 for name in [*earning_figures, "paid", "payouts_count"]}
    if by in ("day", "week"):
        def trunc(field: str) -> models.Expression:
            if by == "day":
                return TruncDate(field, tzinfo=dt.UTC)
            return TruncWeek(field, tzinfo=dt.UTC, output_field=models.DateField())

        earnings = grouped(earned, trunc("earned_at"), **earning_figures)
        payouts = grouped(paid, trunc("paid_at"), paid=money_sum("amount"), payouts_count=Count("id"))
        if by == "day":
            keys = each_day(day_from, day_to)
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
        rows = grouped(earned, models.Subquery(shift_of_claim), **earning_figures)
        shifts: dict[int, Mapping[str, Any]] = {
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


def payouts_by_week(*, day_from: dt.date, day_to: dt.date, currency: str | None = None) -> list[dict]:
    """Payouts paid per ISO week of the range: `{"week": monday, "paid", "payouts_count"}`."""
    return [
        {"week": row["week"], "paid": row["paid"], "payouts_count": row["payouts_count"], "currency": row["currency"]}
        for row in payout_breakdown(day_from=day_from, day_to=day_to, by="week", currency=currency)
    ]

"""The big exports: every earning of a range (line items), and money paid per worker in a tax year."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from django.db import models
from django.db.models import Count, F, Q

from kernel.api import utc_day_bounds
from payouts.models import Earning, EarningKind, EarningStatus, Payout, PayoutStatus
from reports.formatting import csv_lines, format_amount
from reports.selectors.sql import IsoUtc, grouped, money_sum, report_currency
from workers.models import Worker

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
    currency = currency or report_currency()
    start = dt.datetime(year, 1, 1, tzinfo=dt.UTC)
    end = dt.datetime(year + 1, 1, 1, tzinfo=dt.UTC)
    quarters = [(dt.datetime(year, 3 * q - 2, 1, tzinfo=dt.UTC),
                 dt.datetime(year + (q == 4), 1 if q == 4 else 3 * q + 1, 1, tzinfo=dt.UTC)) for q in range(1, 5)]
    paid = Payout.objects.filter(currency=currency, status=PayoutStatus.PAID).filter(
        Q(paid_at__gte=start, paid_at__lt=end) | Q(reversed_at__gte=start, reversed_at__lt=end)
    )
    payouts = grouped(
        paid, F("worker_id"),
        gross_paid=money_sum("amount", paid_at__gte=start, paid_at__lt=end),
        reversed=money_sum("reversed_amount", reversed_at__gte=start, reversed_at__lt=end),
        payouts_count=Count("id", filter=Q(paid_at__gte=start, paid_at__lt=end)),
        **{f"q{q}_paid": money_sum("amount", paid_at__gte=q_start, paid_at__lt=q_end)
           for q, (q_start, q_end) in enumerate(quarters, start=1)},
    )
    cases = Earning.objects.filter(
        currency=currency, kind=EarningKind.CASE_PAY, earned_at__gte=start, earned_at__lt=end,
        worker_id__in=list(payouts),
    ).exclude(status=EarningStatus.VOIDED)
    activities = grouped(
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

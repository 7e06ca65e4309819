"""Benchmark of the finance and operations reports on PostgreSQL.

Builds a year of activity in a database of its own (`BENCH_DATABASE_NAME`, default
`shiftline_bench_reports`, on the server of `DATABASE_URL`): 2,000 workers, 200,000 tickets,
~220,000 earnings, ~85,000 payouts in weekly runs and the double-entry ledger behind them
(over 1,000,000 journal lines), with `INSERT ... SELECT generate_series` (one statement per
table, triggers off for the load: the rows are balanced by construction). Then times each
report for one month and for one year, printing the targets beside the figures.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/shiftline .venv/bin/python bench/reports.py

`BENCH_REBUILD=1` rebuilds the data set even when it is already there.
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import sys
import time
from pathlib import Path
from typing import TypedDict
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

YEAR_FROM, YEAR_TO = dt.date(2025, 12, 1), dt.date(2026, 11, 30)
MONTH_FROM, MONTH_TO = dt.date(2026, 11, 1), dt.date(2026, 11, 30)
WORKERS, TICKETS = 2_000, 200_000


class Span(TypedDict):
    """The keyword arguments of a report for one range of days."""

    day_from: dt.date
    day_to: dt.date


def _configure() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit("bench/reports.py needs PostgreSQL: set DATABASE_URL=postgres://...")
    name = os.environ.get("BENCH_DATABASE_NAME", "shiftline_bench_reports")
    parsed = urlparse(url)
    import psycopg

    admin = urlunparse(parsed._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    os.environ["DATABASE_URL"] = urlunparse(parsed._replace(path=f"/{name}"))
    os.environ["DATABASE_POOL"] = "false"
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings")
    return name


def _fill_defaults(cursor, table: str, given: dict[str, str]) -> dict[str, str]:
    """Columns other apps add later (NOT NULL, no default) get a neutral value, so the load keeps working."""
    cursor.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = %s "
        "AND is_nullable = 'NO' AND column_default IS NULL", [table],
    )
    neutral = {"boolean": "false", "jsonb": "'{}'::jsonb", "timestamp with time zone": "now()", "text": "''",
               "character varying": "''", "date": "current_date"}
    columns = dict(given)
    for name, data_type in cursor.fetchall():
        if name not in columns and name != "id":
            columns[name] = neutral.get(data_type, "0")
    return columns


def _insert(cursor, table: str, columns: dict[str, str], source: str) -> int:
    columns = _fill_defaults(cursor, table, columns)
    cursor.execute(f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(columns.values())} {source}")
    return cursor.rowcount


def build() -> dict[str, int]:
    from django.db import connection

    from payouts.models import RateCard

    card_id = RateCard.objects.order_by("-version").values_list("id", flat=True).first()
    if card_id is None:
        card_id = RateCard.objects.create(version=1, currency="eur", base_per_case=500, csat_bonus=100,
                                          hold_hours=72, minimum_payout=2000).pk
    year_start = dt.datetime.combine(YEAR_FROM, dt.time.min, tzinfo=dt.UTC).isoformat()
    with connection.cursor() as c:
        c.execute("TRUNCATE workers_user, payouts_journaltransaction, payouts_journalline, payouts_ledgeraccount, "
                  "payouts_payoutrun RESTART IDENTITY CASCADE")
        # Bulk load: no per-row triggers (the ledger's balance check, FK checks); balanced by construction.
        c.execute("SET session_replication_role = replica")
        c.execute("SELECT setseed(0.42)")
        _insert(c, "workers_user", {
            "id": "g", "password": "'!'", "is_superuser": "false", "username": "'bench' || g",
            "first_name": "''", "last_name": "''", "email": "'bench' || g || '@example.com'", "is_staff": "false",
            "is_active": "true", "date_joined": "now()", "role": "'worker'",
        }, f"FROM generate_series(1, {WORKERS}) g")
        _insert(c, "workers_worker", {
            "user_id": "g", "full_name": "'Bench Worker ' || g",
            "country": "(ARRAY['PT','DE','FR','ES','US'])[1 + g % 5]", "timezone": "'UTC'", "status": "'approved'",
            "quality_score": "0", "reliability_score": "100", "concurrency_cap": "3",
            "payout_account_status": "'ready'", "stripe_account_id": "'acct_bench_' || g", "applied_at": "now()",
        }, f"FROM generate_series(1, {WORKERS}) g")
        # 200,000 tickets spread evenly over the year; 90 % resolved, 5 % abandoned, 5 % open.
        _insert(c, "tickets_ticket", {
            "id": "g", "token_hash": "md5(g::text) || md5((g + 1)::text)", "customer_name": "'Bench'",
            "customer_email": "'c' || g || '@example.com'", "language": "(ARRAY['en','de','fr','pt','es'])[1 + g % 5]",
            "topic_id": "(ARRAY['general','payments','refunds','orders','account','disputes'])[1 + g % 6]",
            "status": "CASE WHEN g % 20 = 0 THEN 'abandoned' WHEN g % 20 = 1 THEN 'assigned' ELSE 'resolved' END",
            "queue_priority": "0", "created_at": "t", "resolution": "''", "resolution_category": "''",
            "resolution_count": "CASE WHEN g % 20 > 1 THEN 1 ELSE 0 END", "rating_comment": "''", "last_seq": "0",
            "assigned_worker_id": f"CASE WHEN g % 20 = 0 THEN NULL ELSE 1 + (g * 7919) % {WORKERS} END",
            "resolved_by_id": f"CASE WHEN g % 20 > 1 THEN 1 + (g * 7919) % {WORKERS} END",
            "first_response_at": "CASE WHEN g % 20 <> 0 THEN t + (5 + (g * 37) % 600) * interval '1 second' END",
            "resolved_at": "CASE WHEN g % 20 > 1 THEN t + (60 + (g * 131) % 7200) * interval '1 second' END",
            "abandoned_at": "CASE WHEN g % 20 = 0 THEN t + interval '2 minutes' END",
            # 60 % of resolved tickets rated; 5 stars for a third of those and on a spread otherwise.
            "rating": "CASE WHEN g % 20 > 1 AND g % 5 < 3 THEN "
                      "CASE WHEN (g / 7) % 3 = 0 THEN 5 ELSE 1 + (g / 7) % 5 END END",
            "rated_at": "CASE WHEN g % 20 > 1 AND g % 5 < 3 "
                        "THEN t + (660 + (g * 131) % 7200) * interval '1 second' END",
        }, f"FROM (SELECT g, '{year_start}'::timestamptz + (g - 1) * (interval '365 days' / {TICKETS}) "
           f"+ random() * interval '2 minutes' AS t FROM generate_series(1, {TICKETS}) g) s")
        earning_status = (
            "CASE WHEN t.id % 50 = 7 THEN 'voided' WHEN e_at >= '2026-11-27' THEN 'pending' "
            "WHEN e_at >= '2026-11-23' THEN 'available' ELSE 'paid' END"
        )
        for kind, cents, when, condition in (
            ("case_pay", 500, "t.resolved_at", "t.status = 'resolved'"),
            ("csat_bonus", 100, "t.rated_at", "t.rating = 5"),
        ):
            _insert(c, "payouts_earning", {
                "kind": f"'{kind}'", "amount": str(cents), "currency": "'eur'", "status": earning_status,
                "multiplier": "1", "resolution_n": "1", "earned_at": "e_at",
                "available_at": "e_at + interval '72 hours'", "created_at": "e_at",
                "settled_at": "CASE WHEN e_at < '2026-11-27' THEN e_at + interval '72 hours' END",
                "voided_at": "CASE WHEN t.id % 50 = 7 THEN e_at + interval '1 hour' END", "ticket_id": "t.id",
                "worker_id": "t.resolved_by_id", "rate_card_id": str(card_id),
            }, f"FROM (SELECT t.*, {when} AS e_at FROM tickets_ticket t) t WHERE {condition} ORDER BY e_at")
        # Weekly payout runs: each worker is paid on Monday for what they earned the week before.
        _insert(c, "payouts_payoutrun", {
            "status": "'completed'", "trigger": "'schedule'", "transfer_group": "'bench-run-' || to_char(w, 'IYYY-IW')",
            "created_at": "w + interval '7 days'", "started_at": "w + interval '7 days'",
            "finished_at": "w + interval '7 days 1 hour'", "payouts_count": "0", "paid_count": "0",
            "failed_count": "0", "total": "0", "currency": "'eur'", "error": "''",
        }, "FROM (SELECT DISTINCT date_trunc('week', earned_at) AS w FROM payouts_earning "
           "WHERE status = 'paid') weeks ORDER BY w")
        _insert(c, "payouts_payout", {
            "run_id": "r.id", "worker_id": "e.worker_id", "amount": "e.total", "currency": "'eur'",
            "status": "'paid'", "destination": "'acct_bench_' || e.worker_id",
            "stripe_transfer_id": "'tr_bench_' || r.id || '_' || e.worker_id",
            "idempotency_key": "'bench-' || r.id || '-' || e.worker_id", "attempts": "1", "failure_code": "''",
            "failure_message": "''", "created_at": "r.created_at", "last_attempt_at": "r.created_at",
            "paid_at": "r.created_at + interval '2 seconds'", "reversed_amount": "0",
        }, "FROM (SELECT worker_id, date_trunc('week', earned_at) AS w, SUM(amount) AS total FROM payouts_earning "
           "WHERE status = 'paid' GROUP BY 1, 2) e JOIN payouts_payoutrun r "
           "ON r.transfer_group = 'bench-run-' || to_char(e.w, 'IYYY-IW') ORDER BY r.id, e.worker_id")
        c.execute("UPDATE payouts_earning e SET payout_id = p.id FROM payouts_payout p JOIN payouts_payoutrun r "
                  "ON r.id = p.run_id WHERE e.status = 'paid' AND p.worker_id = e.worker_id "
                  "AND r.transfer_group = 'bench-run-' || to_char(date_trunc('week', e.earned_at), 'IYYY-IW')")
        # The ledger: four accounts a worker plus the platform's case expense.
        _insert(c, "payouts_ledgeraccount", {
            "kind": "k", "worker_id": "w.user_id", "currency": "'eur'", "balance": "0", "created_at": "now()",
        }, "FROM workers_worker w CROSS JOIN unnest(ARRAY['worker_pending','worker_available',"
           "'worker_in_transit','worker_paid']) k")
        _insert(c, "payouts_ledgeraccount", {
            "kind": "'case_expense'", "currency": "'eur'", "balance": "0", "created_at": "now()",
        }, "FROM generate_series(1, 1)")
        postings: list[tuple[int, str, str, str, str, str, str, str | None]] = [
            # (id offset, kind, source rows, worker, amount, when, debit account kind, credit account kind)
            (0, "e.kind", "payouts_earning e", "e.worker_id", "e.amount", "e.earned_at", "worker_pending", None),
            (10_000_000, "'void'", "payouts_earning e WHERE e.status = 'voided'", "e.worker_id", "-e.amount",
             "e.voided_at", "worker_pending", None),
            (20_000_000, "'settle'", "payouts_earning e WHERE e.settled_at IS NOT NULL AND e.status <> 'voided'",
             "e.worker_id", "e.amount", "e.settled_at", "worker_available", "worker_pending"),
            (30_000_000, "'payout_start'", "payouts_payout e", "e.worker_id", "e.amount", "e.created_at",
             "worker_in_transit", "worker_available"),
            (40_000_000, "'payout_paid'", "payouts_payout e", "e.worker_id", "e.amount", "e.paid_at",
             "worker_paid", "worker_in_transit"),
        ]
        for offset, kind, source, worker, amount, when, debit, credit in postings:
            _insert(c, "payouts_journaltransaction", {
                "id": f"{offset} + e.id", "idempotency_key": f"'bench:{offset}:' || e.id", "kind": kind,
                "memo": "''", "refs": "'{}'::jsonb", "created_at": when, "worker_id": worker,
                "ticket_id": "e.ticket_id" if "earning" in source else "NULL",
                "payout_id": "e.id" if "payout" in source else "NULL",
            }, f"FROM {source}")
            credit_account = (
                f"(SELECT id FROM payouts_ledgeraccount WHERE kind = '{credit}' AND worker_id = {worker})"
                if credit else "(SELECT id FROM payouts_ledgeraccount WHERE kind = 'case_expense')"
            )
            for account, sign in ((f"(SELECT id FROM payouts_ledgeraccount WHERE kind = '{debit}' "
                                   f"AND worker_id = {worker})", ""), (credit_account, "-")):
                _insert(c, "payouts_journalline", {
                    "transaction_id": f"{offset} + e.id", "account_id": account, "amount": f"{sign}({amount})",
                    "currency": "'eur'",
                }, f"FROM {source}")
        c.execute("UPDATE payouts_ledgeraccount a SET balance = s.total FROM (SELECT account_id, SUM(amount) AS "
                  "total FROM payouts_journalline GROUP BY account_id) s WHERE s.account_id = a.id")
        c.execute("SET session_replication_role = origin")
        for table in ("workers_user", "tickets_ticket", "payouts_earning", "payouts_payout", "payouts_payoutrun",
                      "payouts_journaltransaction", "payouts_journalline", "payouts_ledgeraccount"):
            c.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")
        c.execute("ANALYZE")
    return counts()


def counts() -> dict[str, int]:
    from django.db import connection

    result = {}
    with connection.cursor() as c:
        for label, table in (("tickets", "tickets_ticket"), ("earnings", "payouts_earning"),
                             ("payouts", "payouts_payout"), ("ledger lines", "payouts_journalline")):
            c.execute(f"SELECT COUNT(*) FROM {table}")
            result[label] = c.fetchone()[0]
    return result


def timed(fn, repeat: int = 3) -> float:
    fn()  # warm the caches once
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def csv_stream(span: str) -> dict:
    """Consume the earnings CSV as the streaming response does, in this (fresh) process."""
    import resource

    from reports.selectors.exports import earnings_csv

    day_from, day_to = (MONTH_FROM, MONTH_TO) if span == "month" else (YEAR_FROM, YEAR_TO)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    rows = size = 0
    for chunk in earnings_csv(day_from=day_from, day_to=day_to):
        rows += chunk.count("\n")
        size += len(chunk)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"seconds": elapsed, "rows": rows - 1, "mib": size / 2**20, "rss_before_mib": before / 1024,
            "rss_peak_mib": after / 1024}


def csv_stream_in_subprocess(span: str) -> dict:
    import json
    import subprocess

    out = subprocess.run([sys.executable, __file__, "--csv", span], check=True, capture_output=True, text=True,
                         env=dict(os.environ, BENCH_CHILD="1")).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    if os.environ.get("BENCH_CHILD"):
        import json

        import django

        django.setup()
        print(json.dumps(csv_stream(sys.argv[2])))
        return
    name = _configure()
    import django

    django.setup()
    from django.core.management import call_command

    from reports.selectors import exports, operations, payouts

    call_command("migrate", verbosity=0)
    existing = counts()
    if os.environ.get("BENCH_REBUILD") or existing["ledger lines"] < 1_000_000 or existing["tickets"] < TICKETS:
        start = time.perf_counter()
        existing = build()
        print(f"built data set in {time.perf_counter() - start:.1f} s")
    print(f"database {name}: " + ", ".join(f"{v:,} {k}" for k, v in existing.items()))
    print(f"{'report':<44} {'range':<6} {'time':>9}   target")
    month: Span = {"day_from": MONTH_FROM, "day_to": MONTH_TO}
    year: Span = {"day_from": YEAR_FROM, "day_to": YEAR_TO}

    def line(label: str, span: str, seconds: float, target: float | None = None, extra: str = "") -> None:
        verdict = "" if target is None else f"< {target * 1000:.0f} ms  {'OK' if seconds < target else 'MISSED'}"
        print(f"{label:<44} {span:<6} {seconds * 1000:>7.0f} ms   {verdict}{extra}")

    line("payout report (JSON, per worker + totals)", "month", timed(lambda: payouts.payout_report(**month)), 0.5)
    line("payout report (JSON, per worker + totals)", "year", timed(lambda: payouts.payout_report(**year)), 3.0)
    line("payout report CSV", "year", timed(lambda: "".join(payouts.payout_report_csv(**year))), 3.0)
    for by in ("day", "week", "shift"):
        line(f"payout breakdown by {by}", "year",
             timed(lambda by=by: payouts.payout_breakdown(**year, by=by)))
    line("operations report", "month", timed(lambda: operations.operations_report(**month)))
    line("operations report", "year", timed(lambda: operations.operations_report(**year)))
    line("annual earnings export (1099-NEC / DAC7)", "year",
         timed(lambda: "".join(exports.annual_earnings_csv(year=2026)), repeat=1))
    line("worker statement (drill-down)", "year",
         timed(lambda: payouts.worker_statement(worker_id=1, **year)))
    for span in ("month", "year"):
        result = csv_stream_in_subprocess(span)
        line("earnings CSV, streamed (fresh process)", span, result["seconds"], None,
             f"{result['rows']:,} rows, {result['mib']:.1f} MiB of CSV; process RSS "
             f"{result['rss_before_mib']:.0f} MiB before, peak {result['rss_peak_mib']:.0f} MiB")
    print("flat memory: the peak RSS is the same for a month and for a year (rows stream from a server-side "
          "cursor in chunks of 5,000)")


if __name__ == "__main__":
    main()

"""Settlement benchmark: case pay posting, settlement and one payout run against stripe_sandbox.

    python bench/settlement.py                         # 100,000 cases, 5,000 workers
    python bench/settlement.py --cases 20000 --workers 1000

On a dedicated PostgreSQL database (`<DATABASE_URL name>_bench_settlement`, migrated and emptied
at start) it generates resolved tickets spread over the workers, each with its `ticket.resolved`
outbox event (as tickets.services.ticket_resolve records it, resolved 100 h ago so the hold has
passed), and every worker with an onboarded account in a `manage.py stripe_sandbox` subprocess.
Then it times:

1. posting: the outbox's batch consumption (`outbox_drain`: `ticket.resolved` to the batch handler
   `payouts.earnings.earnings_on_tickets_resolved`, 1,000 events a transaction, as the
   `outbox.drain` task does) until the backlog is empty: earnings, journal transactions, lines;
   in `--posters` processes at once (default 2, a Celery worker's concurrency on two cores);
2. settling: `earnings_settle` (per-worker batches), pending → available, in `--settlers`
   processes at once (default 2; it is safe to run twice at once);
3. one payout run (`payout_run_execute`) with the sandbox's live-mode rate limit switched on
   (100 writes/s, 429 beyond), sending from PAYOUT_SEND_CONCURRENCY threads with backoff.

Prints cases/s, the run's duration, retries (attempts beyond the first), 429s, duplicate
transfers (transfers at the sandbox beyond one per payout: must be 0), `verify_ledger`, and the
peak memory (max RSS) after each phase — generation and posting stream in batches, so it stays
flat as the case count grows. Targets from the issue are printed beside the figures.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _common import bench_database_url, ensure_database, free_port  # noqa: E402


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def start_sandbox(env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    import httpx

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "manage.py", "stripe_sandbox", "--port", str(port)], cwd=ROOT,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/_sandbox/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("stripe_sandbox did not start")


def empty_tables() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE workers_user, outbox_outboxevent, outbox_consumedevent, payouts_journalline, "
            "payouts_journaltransaction, payouts_ledgeraccount, payouts_ratecard RESTART IDENTITY CASCADE")


def generate(cases: int, workers: int, sandbox: str, chunk: int = 5000) -> list[int]:
    """Workers with onboarded sandbox accounts, then resolved tickets and their outbox events,
    streamed in chunks (nothing holds all cases in memory)."""
    import datetime as dt
    import hashlib

    import httpx
    from django.utils import timezone

    from kernel.outbox.models import OutboxEvent
    from payouts.rate_card import rate_card_current
    from tickets.models import Ticket, TicketStatus
    from workers.models import Skill, User, Worker

    rate_card_current()
    Skill.objects.get_or_create(code="general", defaults={"name": "General"})
    accounts = httpx.post(f"{sandbox}/_sandbox/accounts/bulk", json={"count": workers}, timeout=120).json()["ids"]
    users = User.objects.bulk_create([User(username=f"bench{i}", password="!", role="worker")
                                      for i in range(workers)], batch_size=2000)
    Worker.objects.bulk_create([
        Worker(user_id=u.pk, full_name=f"Bench Worker {i}", country="PT", timezone="Europe/Lisbon",
               status="approved", payout_account_status="ready", stripe_account_id=accounts[i])
        for i, u in enumerate(users)], batch_size=2000)
    worker_ids = [u.pk for u in users]
    resolved_at = timezone.now() - dt.timedelta(hours=100)
    rng = random.Random(7)
    for start in range(0, cases, chunk):
        n = min(chunk, cases - start)
        rows = []
        for i in range(start, start + n):
            worker = worker_ids[i % workers]
            rows.append(Ticket(
                token_hash=hashlib.sha256(f"bench-{i}".encode()).hexdigest(), customer_name="Bench",
                customer_email="bench@example.com", language="en", topic_id="general",
                status=TicketStatus.RESOLVED, assigned_worker_id=worker, resolved_by_id=worker,
                resolution_count=1, resolved_at=resolved_at))
        tickets = Ticket.objects.bulk_create(rows)
        OutboxEvent.objects.bulk_create([
            OutboxEvent(topic="ticket.resolved", payload={
                "ticket_id": t.pk, "worker_id": t.assigned_worker_id, "claim_id": None,
                "rate_multiplier": rng.choice(["1.00", "1.00", "1.25", "1.50"]), "resolution_n": 1,
                "resolved_at": resolved_at.isoformat()})
            for t in tickets])
    return worker_ids


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=5_000)
    parser.add_argument("--batch", type=int, default=1000, help="outbox events per posting call (one task)")
    parser.add_argument("--settle-workers", type=int, default=500, help="workers per settlement transaction")
    parser.add_argument("--rate-limit", type=float, default=100, help="sandbox writes/s (0 = off)")
    parser.add_argument("--send-concurrency", type=int, default=8)
    parser.add_argument("--posters", type=int, default=2,
                        help="consumer processes posting case pay, as a Celery worker of that concurrency "
                             "(1: in this process)")
    parser.add_argument("--settlers", type=int, default=2,
                        help="processes running earnings_settle at once (1: in this process)")
    parser.add_argument("--poster", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--settler", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.settler:  # a settle_earnings run: print count and peak RSS
        import django

        django.setup()
        from payouts.earnings import earnings_settle

        print(earnings_settle(workers_per_batch=args.settle_workers), f"{peak_mb():.1f}")
        return 0
    if args.poster:  # a consumer process: drain the ticket.resolved backlog, print count and peak RSS
        import django

        django.setup()
        from kernel.outbox.services import outbox_drain

        print(outbox_drain(batch=args.batch, max_seconds=3600), f"{peak_mb():.1f}")
        return 0

    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/shiftline")
    database_url = bench_database_url(base, "settlement")
    ensure_database(database_url)
    env = dict(os.environ)
    env.update({
        "DJANGO_SETTINGS_MODULE": "marketplace.settings", "DATABASE_URL": database_url, "DATABASE_POOL": "false",
        "SECRET_KEY": "bench-secret-key-not-for-production-0123456789abcdef", "DEBUG": "false",
        "SECURE_SSL_REDIRECT": "false", "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1",
        "PAYOUT_SEND_CONCURRENCY": str(args.send_concurrency), "REDIS_URL": "",
    })
    sandbox_proc, sandbox = start_sandbox(env)
    env["STRIPE_API_BASE"] = sandbox
    os.environ.update(env)

    import django

    django.setup()
    import httpx
    from django.core.management import call_command
    from django.db.models import Sum

    from kernel.outbox.services import outbox_drain
    from payouts import earnings, ledger, runs
    from payouts.models import Earning, Payout

    try:
        call_command("migrate", verbosity=0)
        empty_tables()
        print(f"bench/settlement.py: {args.cases:,} cases, {args.workers:,} workers, PostgreSQL, "
              f"stripe_sandbox rate limit {args.rate_limit:g} writes/s, {args.send_concurrency} send threads",
              flush=True)
        t0 = time.perf_counter()
        generate(args.cases, args.workers, sandbox)
        print(f"generate  {time.perf_counter() - t0:7.1f} s   (tickets + outbox events, streamed)   "
              f"peak RSS {peak_mb():.0f} MB", flush=True)

        t0 = time.perf_counter()
        if args.posters <= 1:
            outbox_drain(batch=args.batch, max_seconds=3600)
            poster_out = [["0", f"{peak_mb():.1f}"]]
        poster_cmd = [sys.executable, __file__, "--poster", "--batch", str(args.batch)]
        posters = [] if args.posters <= 1 else [
            subprocess.Popen(poster_cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
            for _ in range(args.posters)]
        if posters:
            poster_out = [p.communicate()[0].split() for p in posters]
        post_s = time.perf_counter() - t0
        earned = Earning.objects.count()
        poster_rss = max(float(out[-1]) for out in poster_out)
        print(f"post      {post_s:7.1f} s   {earned / post_s:9,.0f} cases/s   ({earned:,} earnings; {args.posters} "
              f"consumer process(es), {args.batch} events per task)   "
              f"peak RSS {poster_rss:.0f} MB per consumer", flush=True)

        t0 = time.perf_counter()
        if args.settlers <= 1:
            settled, settler_rss = earnings.earnings_settle(workers_per_batch=args.settle_workers), peak_mb()
        else:
            settler_cmd = [sys.executable, __file__, "--settler", "--settle-workers", str(args.settle_workers)]
            settlers = [subprocess.Popen(settler_cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
                        for _ in range(args.settlers)]
            settler_out = [p.communicate()[0].split() for p in settlers]
            settled = sum(int(out[0]) for out in settler_out)
            settler_rss = max(float(out[-1]) for out in settler_out)
        settle_s = time.perf_counter() - t0
        print(f"settle    {settle_s:7.1f} s   {settled / settle_s:9,.0f} cases/s   ({settled:,} earnings; "
              f"{args.settlers} settler process(es), {args.settle_workers} workers per transaction)   "
              f"peak RSS {settler_rss:.0f} MB", flush=True)
        both = earned / (post_s + settle_s)
        print(f"posted+settled         {both:9,.0f} cases/s   target >= 5,000 cases/s   "
              f"{'OK' if both >= 5000 else 'MISSED'}", flush=True)

        httpx.post(f"{sandbox}/_sandbox/rate_limit", json={"writes_per_second": args.rate_limit}, timeout=10)
        before = httpx.get(f"{sandbox}/_sandbox/stats", timeout=10).json()
        t0 = time.perf_counter()
        run = runs.payout_run_create(trigger="command")
        runs.payouts_create_for_run(run=run)
        create_s = time.perf_counter() - t0
        run = runs.payout_run_execute(run_id=run.pk)
        run_s = time.perf_counter() - t0
        after = httpx.get(f"{sandbox}/_sandbox/stats", timeout=10).json()
        transfers = httpx.get(f"{sandbox}/_sandbox/transfers", params={"transfer_group": run.transfer_group},
                              timeout=60).json()["data"]
        payouts = Payout.objects.filter(run=run)
        count = payouts.count()
        attempts = payouts.aggregate(total=Sum("attempts"))["total"] or 0
        paid = payouts.filter(status="paid").count()
        ids = [t["metadata"].get("payout_id") for t in transfers]
        duplicates = len(ids) - len(set(ids))
        mismatch = len(transfers) - paid
        target_s = 75 * args.workers / 5000
        floor_s = args.workers / max(args.rate_limit, 1)
        limited = after.get("rate_limited", 0) - before.get("rate_limited", 0)
        print(f"run       {run_s:7.1f} s   {count:,} payouts, {paid:,} paid, status {run.status}   "
              f"target <= {target_s:.0f} s (floor {floor_s:.0f} s from the rate limit)   "
              f"{'OK' if run_s <= target_s and paid == count else 'MISSED'}", flush=True)
        print(f"          payouts created in {create_s:.1f} s, transfers sent in {run_s - create_s:.1f} s", flush=True)
        print(f"          retries {attempts - count:,}   429s {limited:,}   transfers at sandbox {len(transfers):,}   "
              f"duplicates {duplicates + max(mismatch, 0)} (target 0)   peak RSS {peak_mb():.0f} MB", flush=True)

        t0 = time.perf_counter()
        report = ledger.ledger_verify()
        print(f"verify    {time.perf_counter() - t0:7.1f} s   ledger {'OK' if report.ok else 'MISMATCH'} "
              f"({report.accounts_checked:,} accounts, {report.lines_checked:,} lines)", flush=True)
        return 0 if report.ok and duplicates == 0 and mismatch == 0 else 1
    finally:
        sandbox_proc.terminate()
        sandbox_proc.wait(10)


if __name__ == "__main__":
    sys.exit(main())

"""Shift claim benchmark: concurrent clients claiming and releasing seats over HTTP.

    python bench/claims.py                          # defaults, about a minute
    python bench/claims.py --clients 16 --duration 15 --servers 2

Starts uvicorn (`marketplace.asgi:application`, `--servers` processes behind one port is not
possible with plain uvicorn, so `--workers N` is used) on a dedicated PostgreSQL database
(`<DATABASE_URL name>_bench_claims`, migrated and emptied at start) with the Redis layer, makes
approved workers with API tokens and shifts, then runs three phases with keep-alive HTTP/1.1
clients (a minimal asyncio client, so the load generator takes as little of the 2 cores as
possible):

0. read: C clients reading `GET /api/v1/workers/me/`, for scale: an authenticated request through
   Django and DRF (other load on the machine moves every figure);
1. spread: C clients, each looping claim → release on shifts spread over many shifts;
2. hot: C clients looping claim → release on one shift with fewer seats than clients (409
   `shift_full` answers are normal answers here);
3. race: 64 clients looping claim → release on one 10-seat shift, while a monitor samples the
   database; overbookings = samples where active claims or taken seats exceeded the capacity,
   plus any final mismatch between the taken seats and the active claims.

Prints requests/s, p50/p95/p99 latency and overbookings beside the targets of the issue, and hot
claims against spread claims (target: hot ≥ 0.9× spread). Rate limits are lifted
(RATELIMIT_ENABLE=false), as for load tests; `--rate-limits` keeps them on with a per-user rate no
client reaches, so the throttle is in the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _common import Connection, Server, bench_database_url, ensure_database, server_env  # noqa: E402

TARGETS = {"rps": 400, "p95_ms": 60, "overbookings": 0}


def prepare_data(workers: int, spread_shifts: int) -> dict:
    """Empty the bench database's people and shifts; make approved workers with tokens and shifts."""
    import binascii

    import django

    django.setup()
    from django.db import connection
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from workers.models import Shift, User, Worker, WorkerLanguage

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE workers_user, workers_shift, outbox_outboxevent RESTART IDENTITY CASCADE")
    start = timezone.now().replace(microsecond=0) + dt.timedelta(hours=6)
    users = User.objects.bulk_create([User(username=f"bench-c{i}", role="worker", password="!")
                                      for i in range(workers)])
    people = Worker.objects.bulk_create([Worker(user=u, full_name=f"Bench {u.pk}", country="PT", timezone="UTC",
                                                status="approved") for u in users])
    WorkerLanguage.objects.bulk_create([WorkerLanguage(worker=w, language="en") for w in people])
    tokens = Token.objects.bulk_create([Token(key=binascii.hexlify(os.urandom(20)).decode(), user=u) for u in users])

    def shifts(n: int, capacity: int) -> list[int]:
        made = Shift.objects.bulk_create([
            Shift(starts_at=start + dt.timedelta(hours=3 * i), ends_at=start + dt.timedelta(hours=3 * i + 2),
                  capacity=capacity, language="en") for i in range(n)])
        return [s.pk for s in made]

    return {
        "tokens": [t.key for t in tokens],
        "spread": shifts(spread_shifts, 1000),
        "hot": shifts(1, 8)[0],
        "race": shifts(1, 10)[0],
    }


async def claim_release_loop(port: int, token: str, pick_shift, deadline: float, latencies: list[float],
                             statuses: dict[int, int]) -> None:
    connection = Connection(port, token)
    try:
        while time.monotonic() < deadline:
            shift_id = pick_shift()
            for action in ("claim", "release"):
                began = time.perf_counter()
                status = await connection.post(f"/api/v1/shifts/{shift_id}/{action}/")
                latencies.append(time.perf_counter() - began)
                statuses[status] = statuses.get(status, 0) + 1
                if action == "claim" and status != 201:
                    break
    finally:
        connection.close()


async def read_loop(port: int, token: str, pick_shift, deadline: float, latencies: list[float],
                    statuses: dict[int, int]) -> None:
    """The baseline: a plain authenticated DRF read (`GET /api/v1/workers/me/`)."""
    connection = Connection(port, token)
    try:
        while time.monotonic() < deadline:
            began = time.perf_counter()
            status = await connection.post("/api/v1/workers/me/", method="GET")
            latencies.append(time.perf_counter() - began)
            statuses[status] = statuses.get(status, 0) + 1
    finally:
        connection.close()


def run_phase(server: Server, tokens: list[str], pick_shift, duration: float, monitor=None,
              loop=None) -> dict:
    """One phase against `server`, with the server's CPU time per request."""
    cpu_before = server.cpu_seconds()
    result = asyncio.run(_run_phase(server.port, tokens, pick_shift, duration, monitor, loop or claim_release_loop))
    result["cpu_ms"] = (server.cpu_seconds() - cpu_before) / max(result["requests"], 1) * 1000
    return result


async def _run_phase(port: int, tokens: list[str], pick_shift, duration: float, monitor, loop) -> dict:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    deadline = time.monotonic() + duration
    began = time.monotonic()
    tasks = [loop(port, token, pick_shift, deadline, latencies, statuses) for token in tokens]
    if monitor is not None:
        tasks.append(monitor(deadline))
    await asyncio.gather(*tasks)
    elapsed = time.monotonic() - began
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000 if ordered else float("nan")

    return {"requests": len(latencies), "rps": len(latencies) / elapsed, "p50": pct(0.50), "p95": pct(0.95),
            "p99": pct(0.99), "mean": statistics.fmean(ordered) * 1000 if ordered else float("nan"),
            "statuses": dict(sorted(statuses.items()))}


def race_monitor(database_url: str, shift_id: int, capacity: int, samples: list[int]):
    import psycopg

    async def monitor(deadline: float) -> None:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            while time.monotonic() < deadline:
                row = await (await conn.execute(
                    "SELECT (SELECT count(*) FROM workers_shiftseat seat WHERE seat.shift_id = s.id "
                    "AND seat.claim_id IS NOT NULL), (SELECT count(*) FROM workers_shiftclaim c "
                    "WHERE c.shift_id = s.id AND c.status = 'active') FROM workers_shift s WHERE s.id = %s",
                    [shift_id])).fetchone()
                assert row is not None  # the shift exists
                samples.append(max(row[0] - capacity, row[1] - capacity, 0))
                await asyncio.sleep(0.02)

    return monitor


def final_mismatch(database_url: str, shift_id: int) -> tuple[int, int, int]:
    import psycopg

    with psycopg.connect(database_url) as conn:
        shift = conn.execute("SELECT (SELECT count(*) FROM workers_shiftseat seat WHERE seat.shift_id = s.id"
                             " AND seat.claim_id IS NOT NULL), capacity FROM workers_shift s WHERE id = %s",
                             [shift_id]).fetchone()
        counted = conn.execute("SELECT count(*) FROM workers_shiftclaim WHERE shift_id = %s AND status = 'active'",
                               [shift_id]).fetchone()
        assert shift is not None and counted is not None  # the shift exists; a count is always one row
        (seats, capacity), active = shift, counted[0]
    return seats, active, capacity


def line(name: str, result: dict, clients: int, target: bool) -> str:
    text = (f"{name:<7} {clients:>3} clients  {result['rps']:7.0f} req/s  p50 {result['p50']:6.1f} ms  "
            f"p95 {result['p95']:6.1f} ms  p99 {result['p99']:6.1f} ms  server CPU {result['cpu_ms']:4.1f} ms/req  "
            f"answers {result['statuses']}")
    if target:
        ok = result["rps"] >= TARGETS["rps"] and result["p95"] < TARGETS["p95_ms"]
        text += (f"   target ≥ {TARGETS['rps']} req/s, p95 < {TARGETS['p95_ms']} ms: "
                 f"{'met' if ok else 'NOT met'}")
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--race-clients", type=int, default=64)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--spread-shifts", type=int, default=200)
    parser.add_argument("--rate-limits", action="store_true",
                        help="keep rate limits on (RATE_USER=1000000/min): measure the throttles' cost")
    args = parser.parse_args()

    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/shiftline")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    database_url = bench_database_url(base, "claims")
    ensure_database(database_url)
    env = server_env(database_url, redis_url, "benchclaims")
    if args.rate_limits:
        env.update({"RATELIMIT_ENABLE": "true", "RATE_USER": "1000000/min"})
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    os.environ.update({k: env[k] for k in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL", "SECRET_KEY",
                                           "DEBUG", "ALLOWED_HOSTS", "SECURE_SSL_REDIRECT")})
    os.environ["DATABASE_POOL"] = "false"
    data = prepare_data(max(args.clients, args.race_clients), args.spread_shifts)
    server = Server(["marketplace.asgi:application"], env, workers=args.workers)
    try:
        tokens = data["tokens"]
        # Warm up every worker process (URL conf, first connections) before anything is timed.
        run_phase(server, tokens[:args.clients], lambda: random.choice(data["spread"]), 2.0)
        print(f"bench/claims.py: uvicorn --workers {args.workers} on PostgreSQL, {args.duration:.0f} s per phase, "
              f"rate limits {'on' if args.rate_limits else 'off'}", flush=True)
        baseline = run_phase(server, tokens[:args.clients], None, args.duration, loop=read_loop)
        print(line("read", baseline, args.clients, False) + "   (for scale: GET /workers/me/ through Django and DRF)",
              flush=True)
        spread = run_phase(server, tokens[:args.clients], lambda: random.choice(data["spread"]), args.duration)
        print(line("spread", spread, args.clients, True), flush=True)
        hot = run_phase(server, tokens[:args.clients], lambda: data["hot"], args.duration)
        print(line("hot", hot, args.clients, True), flush=True)
        ratio = hot["rps"] / spread["rps"]
        print(f"hot/spread {ratio:.2f}   target ≥ 0.90: {'met' if ratio >= 0.9 else 'NOT met'}", flush=True)
        samples: list[int] = []
        race = run_phase(server, tokens[:args.race_clients], lambda: data["race"], args.duration,
                         monitor=race_monitor(database_url, data["race"], 10, samples))
        print(line("race", race, args.race_clients, False), flush=True)
        seats, active, capacity = final_mismatch(database_url, data["race"])
        overbookings = sum(1 for s in samples if s > 0) + (seats > capacity) + (active != seats)
        print(f"race    overbookings {overbookings} ({len(samples)} samples of seats taken and active claims, "
              f"end: {seats} seats taken, {active} active claims, capacity {capacity})   "
              f"target {TARGETS['overbookings']}: {'met' if overbookings == 0 else 'NOT met'}", flush=True)
        errors = sum(n for result in (spread, hot, race) for code, n in result["statuses"].items() if code >= 500)
        return 1 if overbookings or errors else 0
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
